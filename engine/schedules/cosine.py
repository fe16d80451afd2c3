"""Cosine annealing (``torch.optim.lr_scheduler.CosineAnnealingLR``), per update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from ..schema import MAX_RATE, MAX_STEPS
from .base import SchedulePart, ScheduleSettings

__all__ = ["Cosine", "CosinePart"]


class Cosine(ScheduleSettings):
    """``CosineAnnealingLR`` per update over ``t_max_steps`` (None: the whole run)."""

    kind: Literal["cosine"] = "cosine"
    t_max_steps: int | None = Field(None, ge=1, le=MAX_STEPS)
    eta_min: float = Field(0.0, ge=0.0, le=MAX_RATE)


class CosinePart(SchedulePart):
    config = Cosine
    title = "Cosine annealing"
    labels = {"t_max_steps": "Period (updates)", "eta_min": "Minimum LR"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        text = "cosine" + (f" T={cfg.t_max_steps}" if cfg.t_max_steps else "")
        return text + (f" min={num(cfg.eta_min)}" if cfg.eta_min else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.CosineAnnealingLR(optimizer, T_max=cfg.t_max_steps or remaining, eta_min=cfg.eta_min)
