"""Inverse square root decay after the warm-up (Vaswani et al. 2017; fairseq, Hugging Face).

Update ``i`` after the warm-up (0-based) runs at ``lr * sqrt(T / (i + T))``: with the
timescale ``T`` equal to the warm-up length ``w`` this is ``lr * sqrt(w / max(step, w))``
for the run's update ``step``, the Transformer's rule, and it hands over at the peak.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from ..schema import MAX_STEPS
from .base import SchedulePart, ScheduleSettings

__all__ = ["InverseSqrt", "InverseSqrtPart", "timescale_for"]


class InverseSqrt(ScheduleSettings):
    """Inverse square root after the warm-up: ``lr * sqrt(T / (i + T))`` at update ``i`` after it;
    ``timescale`` ``T`` None: the warm-up length (10% of the run without a warm-up)."""

    kind: Literal["inverse_sqrt"] = "inverse_sqrt"
    timescale: int | None = Field(None, ge=1, le=MAX_STEPS)


def timescale_for(cfg: Any, remaining: int) -> int:
    """``T``: the configured timescale, else the warm-up length, else 10% of the run (>= 1)."""
    return cfg.timescale or cfg.warmup_steps or max(round(0.1 * (remaining + cfg.warmup_steps)), 1)


class InverseSqrtPart(SchedulePart):
    config = InverseSqrt
    title = "Inverse square root"
    labels = {"timescale": "Timescale (updates)"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        return "inverse sqrt" + (f" T={cfg.timescale}" if cfg.timescale else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        t = float(timescale_for(cfg, remaining))
        return sched.LambdaLR(optimizer, lambda i: math.sqrt(t / (i + t)))

    @classmethod
    def rule(cls, cfg: Any, steps_per_epoch: int) -> str:
        t = "the warm-up length" if not cfg.timescale else f"{cfg.timescale} updates"
        return f"After the warm-up the rate falls as 1/√update: lr·√(T/(i+T)), T = {t}."
