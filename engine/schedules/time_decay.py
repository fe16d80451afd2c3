"""Time-based decay, Keras's ``decay``: ``lr = lr0 / (1 + decay * iteration)`` per update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from .base import SchedulePart, ScheduleSettings

__all__ = ["TimeDecay", "TimeDecayPart"]


class TimeDecay(ScheduleSettings):
    """``lr = lr0 / (1 + decay * iteration)``, applied per update (Keras ``decay``)."""

    kind: Literal["time_decay"] = "time_decay"
    decay: float = Field(1e-3, ge=0.0, le=100.0)


class TimeDecayPart(SchedulePart):
    config = TimeDecay
    title = "Time-based decay"

    @classmethod
    def words(cls, cfg: Any) -> str:
        return f"time decay {num(cfg.decay)}"

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        decay = cfg.decay
        return sched.LambdaLR(optimizer, lambda i: 1.0 / (1.0 + decay * i))
