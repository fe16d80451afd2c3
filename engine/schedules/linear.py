"""Linear decay (``torch.optim.lr_scheduler.LinearLR``), per update, over the run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from ..schema import MAX_STEPS
from .base import SchedulePart, ScheduleSettings

__all__ = ["Linear", "LinearPart"]


class Linear(ScheduleSettings):
    """``LinearLR`` per update: from the optimizer's rate in a straight line to ``end_factor``
    × the rate over ``decay_steps`` updates (None: the rest of the run), then held."""

    kind: Literal["linear"] = "linear"
    end_factor: float = Field(0.0, ge=0.0, le=1.0)
    decay_steps: int | None = Field(None, ge=1, le=MAX_STEPS)


class LinearPart(SchedulePart):
    config = Linear
    title = "Linear decay"
    labels = {"end_factor": "End factor", "decay_steps": "Over (updates)"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        text = f"linear to x{num(cfg.end_factor)}"
        return text + (f" over {cfg.decay_steps}" if cfg.decay_steps else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.LinearLR(
            optimizer, start_factor=1.0, end_factor=cfg.end_factor, total_iters=cfg.decay_steps or remaining
        )
