"""The ground floor of the config schema: the frozen base model and the shared bounds.

Every config model (:mod:`engine.config`, and the optimizer and schedule parts under
:mod:`engine.optimizers` and :mod:`engine.schedules`) derives from :class:`Frozen`. This
module imports pydantic only, so a part's config class can live beside its torch code
without the schema importing torch, data loading or model code.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Frozen",
    "MAX_STEPS",
    "MAX_RATE",
    "MAX_LAYERS",
    "MAX_PARAMS",
    "MAX_VARIATIONS",
    "MAX_TEXT",
    "MAX_NESTING",
    "LR",
    "WD",
    "Beta",
    "Eps",
]


class Frozen(BaseModel):
    """Base for every config model: immutable, unknown keys rejected, types strict
    (``epochs = true`` or ``independent_seeds = "yes"`` is an error, not a coercion;
    an integer is accepted where a number is expected)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, strict=True)


#: Upper bounds that are not a field's own nature, with the reason (validation messages say it).
MAX_STEPS = 10_000_000  # a step count (warm-up, schedule period) beyond any run's length
MAX_RATE = 100.0  # a learning rate (base, peak, floor): the bound of optimizer.lr
MAX_LAYERS = 64  # hidden layers: more only slows the window and the batched kernel down
MAX_PARAMS = 20_000_000  # weights + gradients + two optimizer moments: ~320 MB of float32
MAX_VARIATIONS = 200  # runs in one experiment (each is trained and drawn)
MAX_SEEDS = 100  # seeds per runner (engine/seeds.py)
MAX_TRAINED = 1024  # runners x seeds: every one is trained and kept in memory
MAX_TEXT = 20_000  # characters of a name, label, description or lesson
MAX_NESTING = 32  # levels of tables and arrays in an experiment file

#: the field types optimizer parts share
LR = Annotated[float, Field(gt=0.0, le=100.0, description="learning rate")]
WD = Annotated[float, Field(ge=0.0, le=10.0, description="L2 weight decay (optimizer-side)")]
Beta = Annotated[float, Field(ge=0.0, lt=1.0)]
Eps = Annotated[float, Field(gt=0.0, le=1.0)]
