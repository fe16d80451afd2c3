"""Warm-up–stable–decay (WSD): the warm-up, a long constant phase, then a short decay to a floor.

The decay covers the last ``decay_fraction`` of the run's updates (Hägele et al. 2024,
"Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"; MiniCPM's
WSD). With ``R`` updates after the warm-up and ``D = round(decay_fraction * total)``
of them decaying, update ``i`` of the main phase (0-based) runs at ``lr * f(t)`` with
``t = clamp((i - (R - D)) / D, 0, 1)`` and

- linear: ``f = 1 - (1 - floor) * t``
- cosine: ``f = floor + (1 - floor) * (1 + cos(pi * t)) / 2``
- 1-sqrt: ``f = floor + (1 - floor) * (1 - sqrt(t))``

so the floor is reached after the last update, as ``CosineAnnealingLR`` and ``LinearLR``
reach theirs.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from ..formats import format_setting as num
from .base import SchedulePart, ScheduleSettings

__all__ = ["WSD", "WSDPart", "wsd_factor"]

DecayShape = Literal["linear", "cosine", "1-sqrt"]


class WSD(ScheduleSettings):
    """Warm-up–stable–decay: constant at the optimizer's rate, then a decay to
    ``floor`` × the rate over the last ``decay_fraction`` of the run (shape linear,
    cosine or 1-sqrt). Put the warm-up in front with ``warmup_steps``."""

    kind: Literal["wsd"] = "wsd"
    decay_fraction: float = Field(0.1, gt=0.0, le=1.0, description="the last part of the run that decays")
    decay_shape: DecayShape = "1-sqrt"
    floor: float = Field(0.0, ge=0.0, le=1.0, description="the final rate as a fraction of the peak")


def wsd_factor(i: int, remaining: int, decay_steps: int, shape: str, floor: float) -> float:
    """The factor on the peak rate at main-phase update ``i`` (see the module)."""
    t = min(max((i - (remaining - decay_steps)) / decay_steps, 0.0), 1.0)
    if shape == "linear":
        return 1.0 - (1.0 - floor) * t
    if shape == "cosine":
        return floor + (1.0 - floor) * (1.0 + math.cos(math.pi * t)) / 2.0
    return floor + (1.0 - floor) * (1.0 - math.sqrt(t))


def decay_steps(cfg: Any, remaining: int) -> int:
    """Updates in the decay phase: ``decay_fraction`` of the whole run, within the main phase."""
    total = remaining + cfg.warmup_steps
    return min(max(round(cfg.decay_fraction * total), 1), remaining)


class WSDPart(SchedulePart):
    config = WSD
    title = "Warm-up–stable–decay (WSD)"
    labels = {"decay_fraction": "Decay part of run", "decay_shape": "Decay shape", "floor": "Floor (× LR)"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        text = f"WSD decay {num(cfg.decay_fraction)} {cfg.decay_shape}"
        return text + (f" floor={num(cfg.floor)}" if cfg.floor else "")

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        d, shape, floor = decay_steps(cfg, remaining), cfg.decay_shape, cfg.floor
        return sched.LambdaLR(optimizer, lambda i: wsd_factor(i, remaining, d, shape, floor))

    @classmethod
    def rule(cls, cfg: Any, steps_per_epoch: int) -> str:
        return (
            f"Constant, then a {cfg.decay_shape} decay to {num(cfg.floor)} × the rate over the last "
            f"{num(cfg.decay_fraction * 100)}% of the run's updates."
        )
