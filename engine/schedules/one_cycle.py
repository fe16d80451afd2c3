"""One-cycle (``torch.optim.lr_scheduler.OneCycleLR``) over the whole run, per update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from ..schema import MAX_RATE
from .base import SchedulePart, ScheduleSettings

__all__ = ["OneCycle", "OneCyclePart"]


class OneCycle(ScheduleSettings):
    """``OneCycleLR`` over the whole run (its own warm-up: ``pct_start``)."""

    kind: Literal["one_cycle"] = "one_cycle"
    max_lr: float = Field(0.1, gt=0.0, le=MAX_RATE)
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = Field(25.0, gt=0.0, le=1e6)
    final_div_factor: float = Field(1e4, gt=0.0, le=1e9)
    three_phase: bool = False


class OneCyclePart(SchedulePart):
    config = OneCycle
    title = "One-cycle"
    labels = {"max_lr": "Max LR", "pct_start": "Rising part"}
    sets_rate = True

    @classmethod
    def words(cls, cfg: Any) -> str:
        text = f"one-cycle max={num(cfg.max_lr)}"
        return text + (f" up={num(cfg.pct_start)}" if cfg.pct_start != 0.3 else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.OneCycleLR(
            optimizer,
            max_lr=cfg.max_lr,
            total_steps=remaining,
            pct_start=cfg.pct_start,
            anneal_strategy=cfg.anneal_strategy,
            div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor,
            three_phase=cfg.three_phase,
            cycle_momentum=False,
        )
