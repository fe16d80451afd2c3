"""Cosine annealing with warm restarts (``CosineAnnealingWarmRestarts``), per update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from ..schema import MAX_RATE, MAX_STEPS
from .base import SchedulePart, ScheduleSettings

__all__ = ["CosineRestarts", "CosineRestartsPart"]


class CosineRestarts(ScheduleSettings):
    """``CosineAnnealingWarmRestarts`` per update: first period ``t0_steps``, then × ``t_mult``."""

    kind: Literal["cosine_restarts"] = "cosine_restarts"
    t0_steps: int = Field(500, ge=1, le=MAX_STEPS)
    t_mult: int = Field(1, ge=1, le=10)
    eta_min: float = Field(0.0, ge=0.0, le=MAX_RATE)


class CosineRestartsPart(SchedulePart):
    config = CosineRestarts
    title = "Cosine with warm restarts"
    labels = {"t0_steps": "First period (updates)", "t_mult": "Period multiplier", "eta_min": "Minimum LR"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        text = f"cosine restarts T0={cfg.t0_steps}" + (f" x{cfg.t_mult}" if cfg.t_mult != 1 else "")
        return text + (f" min={num(cfg.eta_min)}" if cfg.eta_min else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.CosineAnnealingWarmRestarts(
            optimizer, T_0=cfg.t0_steps, T_mult=cfg.t_mult, eta_min=cfg.eta_min
        )
