"""Polynomial decay (``torch.optim.lr_scheduler.PolynomialLR``), per update, over the run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from ..schema import MAX_STEPS
from .base import SchedulePart, ScheduleSettings

__all__ = ["Polynomial", "PolynomialPart"]


class Polynomial(ScheduleSettings):
    """``PolynomialLR`` per update: ``lr * (1 - i / decay_steps) ** power`` over ``decay_steps``
    updates (None: the rest of the run); power 1 is a straight line to zero."""

    kind: Literal["polynomial"] = "polynomial"
    power: float = Field(1.0, gt=0.0, le=100.0)
    decay_steps: int | None = Field(None, ge=1, le=MAX_STEPS)


class PolynomialPart(SchedulePart):
    config = Polynomial
    title = "Polynomial decay"
    labels = {"power": "Power", "decay_steps": "Over (updates)"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        text = f"poly power={num(cfg.power)}"
        return text + (f" over {cfg.decay_steps}" if cfg.decay_steps else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.PolynomialLR(optimizer, total_iters=cfg.decay_steps or remaining, power=cfg.power)
