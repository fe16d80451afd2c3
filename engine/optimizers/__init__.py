"""The optimizer registry: one table of parts, one module per optimizer family.

Adding an optimizer is one new module beside these (its config class, ``torch.optim``
builder, batched twin or ``trains_alone`` reason, and Inside reading: see
:mod:`engine.optimizers.base` and ``docs/extending.md``) and one row in
:data:`REGISTRY`. Everything that depends on the optimizer kind -- the config
schema's union, the ``torch.optim`` build, batching, the Inside tab, the search space and
the window's panel and landscape race -- reads this table.

Light: imports pydantic, never torch.
"""

from __future__ import annotations

from typing import Any

from ..registry import PartRegistry
from .adadelta import Adadelta, AdadeltaPart
from .adafactor import Adafactor, AdafactorPart
from .adagrad import Adagrad, AdagradPart
from .adam import Adam, Adamax, AdamaxPart, AdamPart, AdamW, AdamWPart, NAdam, NAdamPart
from .base import OptimizerPart, OptimizerSettings, RaceRow
from .lion import Lion, LionPart
from .muon import Muon, MuonPart
from .prodigy import Prodigy, ProdigyPart
from .radam import RAdam, RAdamPart
from .rmsprop import RMSprop, RMSpropPart
from .schedulefree import ScheduleFreeAdamW, ScheduleFreeAdamWPart, ScheduleFreeSGD, ScheduleFreeSGDPart
from .sgd import SGD, SGDPart

__all__ = [
    "REGISTRY",
    "OptimizerPart",
    "OptimizerSettings",
    "optimizer_union",
    "part_for",
    "panel_titles",
    "panel_labels",
    "race_rows",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "NAdam",
    "Adamax",
    "Adadelta",
    "RAdam",
    "Adafactor",
    "Muon",
    "Lion",
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "Prodigy",
]

#: THE registry: every optimizer part by its ``kind``, in the order the window lists them.
#: One row per part; everything else reads this table.
REGISTRY: PartRegistry[type[OptimizerPart]] = PartRegistry(
    "optimizer",
    (
        SGDPart,
        AdagradPart,
        RMSpropPart,
        AdamPart,
        AdamWPart,
        NAdamPart,
        AdamaxPart,
        AdadeltaPart,
        RAdamPart,
        AdafactorPart,
        MuonPart,
        LionPart,
        ScheduleFreeAdamWPart,
        ScheduleFreeSGDPart,
        ProdigyPart,
    ),
)

#: the labels the Optimizer panel gives fields several kinds share
COMMON_LABELS = {"lr": "Learning rate", "eps": "ε"}


def optimizer_union() -> Any:
    """The config schema's optimizer entry: the parts' config classes, tagged by ``kind``."""
    return REGISTRY.union()


def part_for(kind: str) -> type[OptimizerPart]:
    """The part registered for ``kind`` (KeyError names the known kinds)."""
    return REGISTRY.part_for(kind)


def panel_titles() -> dict[str, str]:
    """The Optimizer panel's chooser entries: each part's title by kind."""
    return REGISTRY.titles()


def panel_labels(kind: str | None = None) -> dict[str, str]:
    """Field labels for the Optimizer panel: the shared ones and ``kind``'s own (every part's,
    later parts winning, without ``kind``). A field name can mean different things in two
    parts (Lion's ``beta2`` is its momentum, Adam's the squared gradients' average)."""
    out = dict(COMMON_LABELS)
    for part in REGISTRY.values() if kind is None else (part_for(kind),):
        out.update(part.labels)
    return out


def race_rows() -> tuple[RaceRow, ...]:
    """The Landscape tab's optimizer race rows, part by part."""
    return tuple(row for part in REGISTRY.values() for row in part.race)
