"""A constant learning rate (after the optional warm-up)."""

from __future__ import annotations

from typing import Any, Literal

from .base import SchedulePart, ScheduleSettings

__all__ = ["Constant", "ConstantPart"]


class Constant(ScheduleSettings):
    kind: Literal["constant"] = "constant"


class ConstantPart(SchedulePart):
    config = Constant
    title = "Constant"

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> None:
        return None
