"""A hyperparameter search space: which settings to search, over what, for which objective.

An experiment file (and so a preset) may carry its space in a ``[search]`` section; a
``--space`` file holds the same section (or its keys at the top level)::

    [search]
    objective = "best_val_acc"      # final_val_loss | best_val_loss | final_val_acc | best_val_acc
    sampler = "random"              # random | grid | tpe | qmc (the CLI's --sampler overrides)
    trials = 16
    seeds = 3                       # each trial trained with 3 seeds; Optuna sees their mean

    [search.params]
    "optimizer.lr" = { low = 1e-4, high = 1.0, log = true, points = [1e-3, 1e-2, 1e-1, 1] }
    "optimizer.momentum" = { low = 0.0, high = 0.99 }
    "training.batch_size" = { choices = [16, 32, 64] }

Each key is the dotted path of a field of the run config (``model.layers.0.units``,
``regularization.l2`` ...). A range is ``int`` when both bounds are integers, else
``float``; ``points`` are the values a grid search tries (a continuous range needs them
for the grid sampler); ``choices`` make a categorical parameter.

``seeds = k`` trains every trial with ``k`` seeds (``training.seed``, ``+ 1`` … ``+ k − 1``,
batched together with the round's other trials): Optuna is told the mean of the ``k``
objectives, pruning sees the mean curve, and ``trials.csv`` keeps each seed's value. Every
trial of a study uses the same seeds, so two trials are compared on the same initialisations.

This module is the schema of a space: light (pydantic, never torch or Optuna; the window
builds spaces before the engine has loaded) and below the run config, which holds an
optional space. :mod:`engine.search_space` checks a space against a run config
(:func:`~engine.search_space.check_space`); its errors are one line naming the parameter
and the fix.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import outcome
from .formats import shown
from .schema import MAX_SEEDS

__all__ = [
    "SearchSpaceError",
    "FloatRange",
    "IntRange",
    "Choice",
    "SearchSpace",
    "OBJECTIVES",
    "SAMPLERS",
    "parse_space",
    "load_space",
    "grid_points",
    "objective_direction",
]

Objective = Literal["final_val_loss", "best_val_loss", "final_val_acc", "best_val_acc"]
SamplerName = Literal["random", "grid", "tpe", "qmc"]
OBJECTIVES: tuple[str, ...] = ("final_val_loss", "best_val_loss", "final_val_acc", "best_val_acc")
SAMPLERS: tuple[str, ...] = ("random", "grid", "tpe", "qmc")
#: a grid over an integer range lists every value; more than this many is a mistake
MAX_GRID_VALUES = 1000
SEED_MAX = 2**32 - 1  # samplers seed numpy's generators: 0 ... 2**32 - 1
MAX_TRIALS = 100_000  # one search's budget
MAX_ROUND = 256  # trials asked (and left RUNNING) before the first of them trains


class SearchSpaceError(ValueError):
    """A search space that cannot be sampled; the message is one line naming what and why."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FloatRange(_Frozen):
    """A real number in ``[low, high]``, uniform or log-uniform; ``points`` for a grid."""

    kind: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    points: tuple[float, ...] | None = None


class IntRange(_Frozen):
    """An integer in ``[low, high]`` in steps of ``step`` (log-uniform with ``log``)."""

    kind: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)
    points: tuple[int, ...] | None = None


class Choice(_Frozen):
    """One of a list of values (numbers, names or switches)."""

    kind: Literal["choice"] = "choice"
    choices: tuple[bool | int | float | str, ...]


Param = Annotated[FloatRange | IntRange | Choice, Field(discriminator="kind")]


def _infer_kind(spec: Any) -> Any:
    """``choices`` make a choice; integer bounds an int range; anything else a float range."""
    if not isinstance(spec, dict) or "kind" in spec:
        return spec
    if "choices" in spec:
        kind = "choice"
    else:
        numbers = [spec.get("low"), spec.get("high"), *(spec.get("points") or ())]
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in numbers)
        kind = "int" if ints else "float"
    return {"kind": kind, **spec}


class SearchSpace(_Frozen):
    """The search section of an experiment: parameters, objective and defaults for the run."""

    params: dict[str, Param]
    objective: Objective = "best_val_loss"
    sampler: SamplerName = "random"
    trials: int = Field(16, ge=1, le=MAX_TRIALS)
    pruning: bool = Field(False, description="stop unpromising trials at epoch ends (median rule)")
    seeds: int | None = Field(
        None,
        ge=1,
        le=MAX_SEEDS,
        description="seeds per trial (Optuna sees their mean); None: the experiment's seeds (1 unless set)",
    )
    seed: int | None = Field(
        0,
        ge=0,
        le=SEED_MAX,
        description="the sampler's seed (0 ... 2**32 - 1); None: a fresh one each search",
    )

    @model_validator(mode="before")
    @classmethod
    def _kinds(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("params"), dict):
            data = {**data, "params": {k: _infer_kind(v) for k, v in data["params"].items()}}
        return data

    @model_validator(mode="after")
    def _ranges(self) -> SearchSpace:
        if not self.params:
            raise ValueError('no parameters to search; add [search.params] entries such as "optimizer.lr"')
        for name, p in self.params.items():
            _check_param(name, p)
        return self


def _check_param(name: str, p: FloatRange | IntRange | Choice) -> None:
    where = f"search parameter {name!r}"
    if isinstance(p, Choice):
        if not p.choices:
            raise SearchSpaceError(f"{where}: empty list of choices; give at least one value")
        if len(set(map(repr, p.choices))) != len(p.choices):
            raise SearchSpaceError(f"{where}: choices {list(p.choices)} repeat a value; list each once")
        return
    if not (math.isfinite(p.low) and math.isfinite(p.high)):
        raise SearchSpaceError(f"{where}: bounds must be finite numbers (got low={p.low}, high={p.high})")
    if p.low >= p.high:
        raise SearchSpaceError(
            f"{where}: empty range (low = {p.low:g} is not below high = {p.high:g}); make low < high"
        )
    if p.log and p.low <= 0:
        raise SearchSpaceError(
            f"{where}: a log scale needs bounds above 0 (got low = {p.low:g}); raise low or set log = false"
        )
    if isinstance(p, IntRange) and p.log and p.step != 1:
        raise SearchSpaceError(f"{where}: a log-scale integer range takes step = 1 (got step = {p.step})")
    for v in p.points or ():
        if not p.low <= v <= p.high:
            raise SearchSpaceError(
                f"{where}: grid point {v:g} lies outside [{p.low:g}, {p.high:g}]; keep points inside the range"
            )


def objective_direction(objective: str) -> Literal["minimize", "maximize"]:
    """Losses are minimised, accuracies maximised (:func:`engine.outcome.direction`)."""
    return outcome.direction(objective)


def parse_space(data: Any, source: str = "search space") -> SearchSpace:
    """Validate a plain dict into a :class:`SearchSpace`; errors are one line."""
    if isinstance(data, SearchSpace):
        return data
    try:
        return SearchSpace.model_validate(data)
    except SearchSpaceError as exc:
        raise SearchSpaceError(f"{source}: {exc}") from None
    except ValidationError as exc:
        raise SearchSpaceError(f"{source}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    """The first problem of a validation error, as ``where: what (got value)`` (one line)."""
    problems = []
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # a misspelt key first
    for err in errors:
        loc = [str(p) for p in err["loc"] if p not in ("float", "int", "choice")]
        if loc[:1] == ["params"] and len(loc) > 1:
            where = f"search parameter {shown(loc[1])}" + (
                f", key {shown('.'.join(loc[2:]))}" if loc[2:] else ""
            )
        else:
            where = ".".join(loc)
            where = where if len(where) <= 120 else where[:120] + "..."
        msg = err["msg"].removeprefix("Value error, ")
        if not where:  # a whole-space check: its message names the parameter
            problems.append(msg)
            continue
        if err["type"] == "extra_forbidden" and loc[:1] == ["params"]:
            msg = "unknown key (a range takes low, high, log, points, step; a list takes choices)"
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key; a search section takes {', '.join(SearchSpace.model_fields)}"
        elif err["type"] == "literal_error" and loc and loc[-1] in ("objective", "sampler"):
            allowed = OBJECTIVES if loc[-1] == "objective" else SAMPLERS
            msg = f"must be one of {', '.join(allowed)}"
        got = err.get("input")
        problems.append(
            f"{where}: {msg}"
            + ("" if isinstance(got, dict) or err["type"] == "missing" else f" (got {shown(got)})")
        )
    return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def load_space(path: str | Path) -> SearchSpace:
    """Read a space file: a ``[search]`` section, or the section's keys at the top level."""
    from .files import MAX_SETTINGS_BYTES, FileRefused, read_limited

    path = Path(path)
    try:
        data = tomllib.loads(read_limited(path, MAX_SETTINGS_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise SearchSpaceError(f"{path}: no such file; check the path") from None
    except FileRefused as exc:
        raise SearchSpaceError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SearchSpaceError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SearchSpaceError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SearchSpaceError(f"{path}: arrays or tables are nested too deeply") from None
    except ValueError:  # Python's limit on digits in an integer (4,300)
        raise SearchSpaceError(
            f"{path}: a number has more than 4,300 digits; give a number of ordinary size"
        ) from None
    section = data.get("search", data)
    if not isinstance(section, dict):
        raise SearchSpaceError(f"{path}: [search] must be a table of settings")
    return parse_space(section, str(path))


def grid_points(p: FloatRange | IntRange | Choice) -> list[Any]:
    """The values a grid search tries for one parameter."""
    if isinstance(p, Choice):
        return list(p.choices)
    if p.points:
        return sorted(set(p.points))
    if isinstance(p, IntRange):
        return list(range(p.low, p.high + 1, p.step))
    raise SearchSpaceError("a continuous range has no grid points")  # check_space says which
