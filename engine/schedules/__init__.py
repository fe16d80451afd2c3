"""The schedule registry: one table of parts, one module per schedule kind.

Adding a schedule is one new module beside these (its config class, how it builds its
scheduler, whether it steps per epoch, its rule in words: see
:mod:`engine.schedules.base` and ``docs/extending.md``) and one row in :data:`REGISTRY`.
The config schema's union, :class:`engine.optim.LRSchedule` (warm-up, hand-over, plateau
stepping), the preview, batching and the Schedule panel read this table.

Light: imports pydantic, never torch.
"""

from __future__ import annotations

from typing import Any

from ..registry import PartRegistry
from .base import SchedulePart, ScheduleSettings
from .constant import Constant, ConstantPart
from .cosine import Cosine, CosinePart
from .cosine_restarts import CosineRestarts, CosineRestartsPart
from .cyclic import Cyclic, CyclicPart
from .exponential import Exponential, ExponentialPart
from .inverse_sqrt import InverseSqrt, InverseSqrtPart
from .linear import Linear, LinearPart
from .multistep import MultiStep, MultiStepPart
from .one_cycle import OneCycle, OneCyclePart
from .plateau import Plateau, PlateauPart
from .polynomial import Polynomial, PolynomialPart
from .step import Step, StepPart
from .time_decay import TimeDecay, TimeDecayPart
from .wsd import WSD, WSDPart

__all__ = [
    "REGISTRY",
    "SchedulePart",
    "ScheduleSettings",
    "schedule_union",
    "part_for",
    "panel_titles",
    "panel_labels",
    "per_epoch_kinds",
    "Constant",
    "TimeDecay",
    "Step",
    "Exponential",
    "Cosine",
    "CosineRestarts",
    "Cyclic",
    "OneCycle",
    "Plateau",
    "WSD",
    "Linear",
    "Polynomial",
    "MultiStep",
    "InverseSqrt",
]

#: THE registry: every schedule part by its ``kind``, in the order the window lists them.
#: One row per part; everything else reads this table.
REGISTRY: PartRegistry[type[SchedulePart]] = PartRegistry(
    "schedule",
    (
        ConstantPart,
        TimeDecayPart,
        StepPart,
        ExponentialPart,
        CosinePart,
        CosineRestartsPart,
        CyclicPart,
        OneCyclePart,
        PlateauPart,
        WSDPart,
        LinearPart,
        PolynomialPart,
        MultiStepPart,
        InverseSqrtPart,
    ),
)

#: the labels the Schedule panel gives the fields every kind has
COMMON_LABELS = {"warmup_steps": "Warm-up (updates)", "warmup_start_factor": "Warm-up start factor"}


def schedule_union() -> Any:
    """The config schema's schedule entry: the parts' config classes, tagged by ``kind``."""
    return REGISTRY.union()


def part_for(kind: str) -> type[SchedulePart]:
    """The part registered for ``kind`` (KeyError names the known kinds)."""
    return REGISTRY.part_for(kind)


def panel_titles() -> dict[str, str]:
    """The Schedule panel's chooser entries: each part's title by kind."""
    return REGISTRY.titles()


def panel_labels() -> dict[str, str]:
    """Field labels for the Schedule panel: the shared ones and every part's own."""
    out = dict(COMMON_LABELS)
    for part in REGISTRY.values():
        out.update(part.labels)
    return out


def per_epoch_kinds() -> frozenset[str]:
    """The kinds stepped after every epoch (the others step after every update)."""
    return frozenset(kind for kind, part in REGISTRY.items() if part.per_epoch)
