"""Step decay (``torch.optim.lr_scheduler.StepLR``), per epoch."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from .base import SchedulePart, ScheduleSettings

__all__ = ["Step", "StepPart"]


class Step(ScheduleSettings):
    """``torch.optim.lr_scheduler.StepLR``: multiply by ``gamma`` every ``step_epochs``."""

    kind: Literal["step"] = "step"
    step_epochs: int = Field(10, ge=1, le=100_000)
    gamma: float = Field(0.5, gt=0.0, le=1.0)


class StepPart(SchedulePart):
    config = Step
    title = "Step decay"
    per_epoch = True
    labels = {"step_epochs": "Every (epochs)", "gamma": "γ (factor)"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        return f"step x{num(cfg.gamma)} every {cfg.step_epochs} ep"

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.StepLR(optimizer, step_size=cfg.step_epochs, gamma=cfg.gamma)
