"""Exponential decay (``torch.optim.lr_scheduler.ExponentialLR``), per epoch."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from .base import SchedulePart, ScheduleSettings

__all__ = ["Exponential", "ExponentialPart"]


class Exponential(ScheduleSettings):
    """``ExponentialLR``: multiply by ``gamma`` after every epoch."""

    kind: Literal["exponential"] = "exponential"
    gamma: float = Field(0.95, gt=0.0, le=1.0)


class ExponentialPart(SchedulePart):
    config = Exponential
    title = "Exponential decay"
    per_epoch = True
    labels = {"gamma": "γ (factor)"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        return f"exp decay x{num(cfg.gamma)}/ep"

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.ExponentialLR(optimizer, gamma=cfg.gamma)
