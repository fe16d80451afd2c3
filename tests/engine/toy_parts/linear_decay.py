"""A toy schedule part, written as docs/extending.md says: linear decay per update
(``torch.optim.lr_scheduler.LinearLR`` from 1 to ``end_factor`` over the rest of the run).
Registered by tests/engine/test_extending.py (one row in ``engine.schedules.REGISTRY``)."""

from __future__ import annotations

from typing import Any, Literal

from optiscope.engine.schedules.base import SchedulePart, ScheduleSettings
from pydantic import Field


class LinearDecay(ScheduleSettings):
    """``LinearLR`` per update: from the optimizer's rate down to ``end_factor`` times it."""

    kind: Literal["linear_decay"] = "linear_decay"
    end_factor: float = Field(0.1, gt=0.0, le=1.0)


class LinearDecayPart(SchedulePart):
    config = LinearDecay
    title = "Linear decay"
    labels = {"end_factor": "End factor"}

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> Any:
        from torch.optim import lr_scheduler as sched

        return sched.LinearLR(optimizer, start_factor=1.0, end_factor=cfg.end_factor, total_iters=remaining)

    @classmethod
    def rule(cls, cfg: Any, steps_per_epoch: int) -> str:
        return f"Falls in a straight line to {cfg.end_factor:g} times the rate by the last update."
