"""Multi-step decay (``torch.optim.lr_scheduler.MultiStepLR``), per update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..formats import format_setting as num
from ..schema import MAX_STEPS
from .base import SchedulePart, ScheduleSettings

__all__ = ["MultiStep", "MultiStepPart", "milestones_for"]


class MultiStep(ScheduleSettings):
    """``MultiStepLR``: multiply the rate by ``gamma`` at each milestone, counted in updates
    after the warm-up (None: at half and three quarters of the rest of the run)."""

    kind: Literal["multistep"] = "multistep"
    milestones: tuple[int, ...] | None = Field(None, min_length=1, max_length=100, strict=False)
    gamma: float = Field(0.1, gt=0.0, le=1.0)

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None:
            if any(m < 1 or m > MAX_STEPS for m in v):
                raise ValueError(f"milestones must be update counts from 1 to {MAX_STEPS}")
            if any(b <= a for a, b in zip(v, v[1:], strict=False)):
                raise ValueError("milestones must increase, e.g. 400, 600")
        return v


def milestones_for(cfg: Any, remaining: int) -> list[int]:
    """The milestones in main-phase updates: the configured ones, or 50% and 75% of ``remaining``."""
    if cfg.milestones is not None:
        return list(cfg.milestones)
    return sorted({max(remaining // 2, 1), max(remaining * 3 // 4, 1)})


class MultiStepPart(SchedulePart):
    config = MultiStep
    title = "Multi-step decay"
    labels = {"milestones": "Milestones (updates)", "gamma": "γ (factor)"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        at = ",".join(str(m) for m in cfg.milestones) if cfg.milestones else "50%,75%"
        return f"multistep x{num(cfg.gamma)} at {at}"

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.MultiStepLR(optimizer, milestones=milestones_for(cfg, remaining), gamma=cfg.gamma)
