"""Cyclical learning rates (Smith 2017, ``torch.optim.lr_scheduler.CyclicLR``), per update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..formats import format_setting as num
from ..schema import MAX_RATE, MAX_STEPS
from .base import SchedulePart, ScheduleSettings

__all__ = ["Cyclic", "CyclicPart"]


class Cyclic(ScheduleSettings):
    """``CyclicLR`` (Smith 2017): between ``base_lr`` and ``max_lr``, changing every update.

    ``step_size`` is the half-cycle in updates; 2-10x the updates per epoch is the
    paper's advice. ``gamma`` is used by ``exp_range`` only. Momentum cycling is off.
    """

    kind: Literal["cyclic"] = "cyclic"
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    base_lr: float = Field(1e-3, gt=0.0, le=MAX_RATE)
    max_lr: float = Field(1e-1, gt=0.0, le=MAX_RATE)
    step_size: int = Field(2000, ge=1, le=MAX_STEPS)
    gamma: float = Field(0.99994, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _bounds(self) -> Cyclic:
        if self.max_lr < self.base_lr:
            raise ValueError(f"schedule.max_lr ({self.max_lr}) must be >= schedule.base_lr ({self.base_lr})")
        return self


class CyclicPart(SchedulePart):
    config = Cyclic
    title = "Cyclical (CLR)"
    labels = {
        "base_lr": "Base LR",
        "max_lr": "Max LR",
        "step_size": "Half cycle (updates)",
        "gamma": "γ (factor)",
    }
    sets_rate = True

    @classmethod
    def words(cls, cfg: Any) -> str:
        text = f"CLR {cfg.mode} {num(cfg.base_lr)}-{num(cfg.max_lr)} step={cfg.step_size}"
        return text + (f" gamma={num(cfg.gamma)}" if cfg.mode == "exp_range" else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.CyclicLR(
            optimizer,
            base_lr=cfg.base_lr,
            max_lr=cfg.max_lr,
            step_size_up=cfg.step_size,
            mode=cfg.mode,
            gamma=cfg.gamma,
            cycle_momentum=False,
        )

    @classmethod
    def rule(cls, cfg: Any, steps_per_epoch: int) -> str:
        ratio = cfg.step_size / steps_per_epoch
        return (
            f"Half a cycle is {cfg.step_size} updates = {ratio:.1f} epochs at {steps_per_epoch} updates per epoch "
            "(Smith advises 2–10 epochs)."
        )
