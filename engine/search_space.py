"""A hyperparameter search space: which settings to search, over what, for which objective.

An experiment file (and so a preset) may carry its space in a ``[search]`` section; a
``--space`` file holds the same section (or its keys at the top level)::

    [search]
    objective = "best_val_acc"      # final_val_loss | best_val_loss | final_val_acc | best_val_acc
    sampler = "random"              # random | grid | tpe | qmc (the CLI's --sampler overrides)
    trials = 16

    [search.params]
    "optimizer.lr" = { low = 1e-4, high = 1.0, log = true, points = [1e-3, 1e-2, 1e-1, 1] }
    "optimizer.momentum" = { low = 0.0, high = 0.99 }
    "training.batch_size" = { choices = [16, 32, 64] }

Each key is the dotted path of a field of the run config (``model.layers.0.units``,
``regularization.l2`` ...). A range is ``int`` when both bounds are integers, else
``float``; ``points`` are the values a grid search tries (a continuous range needs them
for the grid sampler); ``choices`` make a categorical parameter.

This module is light: it imports pydantic, never torch or Optuna (the window builds
spaces before the engine has loaded). :func:`check_space` checks a space against a run
config; its errors are one line naming the parameter and the fix.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:  # the config imports this module; this one reaches the config lazily
    from .config import RunConfig

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
    "check_space",
    "unused_params",
    "apply_params",
    "grid_points",
    "objective_direction",
]

Objective = Literal["final_val_loss", "best_val_loss", "final_val_acc", "best_val_acc"]
SamplerName = Literal["random", "grid", "tpe", "qmc"]
OBJECTIVES: tuple[str, ...] = ("final_val_loss", "best_val_loss", "final_val_acc", "best_val_acc")
SAMPLERS: tuple[str, ...] = ("random", "grid", "tpe", "qmc")
#: a grid over an integer range lists every value; more than this many is a mistake
MAX_GRID_VALUES = 1000


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
    trials: int = Field(16, ge=1, le=100_000)
    pruning: bool = Field(False, description="stop unpromising trials at epoch ends (median rule)")
    seed: int | None = Field(0, ge=0, description="the sampler's seed; None: a fresh one each search")

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
    """Losses are minimised, accuracies maximised."""
    return "maximize" if objective.endswith("acc") else "minimize"


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
            where = f"search parameter {loc[1]!r}" + (f", key {'.'.join(loc[2:])!r}" if loc[2:] else "")
        else:
            where = ".".join(loc)
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
            + ("" if isinstance(got, dict) or err["type"] == "missing" else f" (got {got!r})")
        )
    return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def load_space(path: str | Path) -> SearchSpace:
    """Read a space file: a ``[search]`` section, or the section's keys at the top level."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SearchSpaceError(f"{path}: no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SearchSpaceError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SearchSpaceError(f"{path} is not valid TOML: {exc}") from None
    return parse_space(data.get("search", data), str(path))


# --------------------------------------------------------------------------- against a config
def _walk(tree: Any, path: str) -> tuple[Any, str | int]:
    """The container holding ``path``'s last part, and that part; SearchSpaceError if absent."""
    parts = path.split(".")
    node = tree
    for depth, part in enumerate(parts):
        key: str | int = int(part) if part.isdigit() and isinstance(node, list) else part
        last = depth == len(parts) - 1
        if isinstance(node, dict) and key in node:
            if last:
                return node, key
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            if last:
                return node, key
            node = node[key]
        else:
            here = ".".join(parts[:depth]) or "the run config"
            options = [str(k) for k in node] if isinstance(node, dict) else [str(i) for i in range(len(node))]
            close = difflib.get_close_matches(str(part), options, n=1, cutoff=0.6)
            hint = f"; did you mean {'.'.join([*parts[:depth], close[0]])!r}?" if close else ""
            raise SearchSpaceError(
                f"search parameter {path!r}: unknown field ({part!r} is not in {here}; "
                f"fields there: {', '.join(options)}){hint}"
            )
    raise SearchSpaceError(f"search parameter {path!r}: empty field path")  # pragma: no cover


def apply_params(base: RunConfig, params: dict[str, Any], label: str | None = None) -> RunConfig:
    """``base`` with each dotted field set to its value (a new, validated run config).

    A ``kind`` change (``optimizer.kind``, ``schedule.kind``) replaces that section, keeping
    the fields the new kind also has (the learning rate, say).
    """
    from .config import OPTIMIZER_CLASSES, SCHEDULE_CLASSES, RunConfig

    tree = base.model_dump(mode="json")
    ordered = sorted(params.items(), key=lambda kv: not kv[0].endswith(".kind"))
    for path, value in ordered:
        holder, key = _walk(tree, path)
        if key == "kind" and isinstance(holder, dict) and holder.get("kind") != value:
            classes = {"optimizer": OPTIMIZER_CLASSES, "schedule": SCHEDULE_CLASSES}.get(path.split(".")[0])
            if classes is not None and value in classes:
                fields = classes[value].model_fields
                kept = {k: v for k, v in holder.items() if k in fields and k != "kind"}
                holder.clear()
                holder.update(kept)
        holder[key] = value  # type: ignore[index]
    if label is not None:
        tree["label"] = label
    return RunConfig.model_validate(tree)


def check_space(space: SearchSpace, base: RunConfig, sampler: str | None = None) -> SearchSpace:
    """``space`` fitted to ``base``, or :class:`SearchSpaceError` (one line) if it cannot be searched.

    Every parameter must name a field of the run config, a range must be a numeric field
    whose bounds the field accepts, every choice must be accepted, and a grid search
    needs grid points for each continuous range. A range written with whole-number bounds
    on a real-valued field (``momentum = {low = 0, high = 1}``) becomes a real range, and
    one on an integer field an integer range.
    """
    from .config import format_validation_error

    tree = base.model_dump(mode="json")
    fitted: dict[str, FloatRange | IntRange | Choice] = {}
    for name, p in space.params.items():
        holder, key = _walk(tree, name)
        current = holder[key]  # type: ignore[index]
        numeric = isinstance(current, int | float) and not isinstance(current, bool)
        if not isinstance(p, Choice) and not (numeric or current is None):
            raise SearchSpaceError(
                f"search parameter {name!r}: not a numeric field (it holds {current!r}); "
                "search it with choices = [...] instead of a range"
            )
        if isinstance(p, IntRange) and not isinstance(current, int):
            p = FloatRange(low=p.low, high=p.high, log=p.log, points=p.points)
        elif isinstance(p, FloatRange) and isinstance(current, int) and not isinstance(current, bool):
            if not all(float(v).is_integer() for v in (p.low, p.high, *(p.points or ()))):
                raise SearchSpaceError(
                    f"search parameter {name!r}: an integer field takes whole-number bounds "
                    f"(got low = {p.low:g}, high = {p.high:g})"
                )
            points = tuple(int(v) for v in p.points) if p.points else None
            p = IntRange(low=int(p.low), high=int(p.high), log=p.log, points=points)
        fitted[name] = p
        values: list[Any] = list(p.choices) if isinstance(p, Choice) else [p.low, p.high]
        for value in values:
            try:
                apply_params(base, {name: value})
            except ValidationError as exc:
                problem = format_validation_error(exc).splitlines()[0]
                which = "choice" if isinstance(p, Choice) else ("low" if value == p.low else "high")
                raise SearchSpaceError(
                    f"search parameter {name!r}: {which} = {value!r} is not allowed there ({problem})"
                ) from None
    if (sampler or space.sampler) == "grid":
        for name, p in fitted.items():
            if isinstance(p, FloatRange) and not p.points:
                raise SearchSpaceError(
                    f"search parameter {name!r}: a grid search needs the values to try on a continuous "
                    "range; add points = [...] (or search it with another sampler)"
                )
            if isinstance(p, IntRange) and not p.points and len(grid_points(p)) > MAX_GRID_VALUES:
                raise SearchSpaceError(
                    f"search parameter {name!r}: a grid over [{p.low}, {p.high}] has more than "
                    f"{MAX_GRID_VALUES} values; add points = [...] or a larger step"
                )
    return space.model_copy(update={"params": fitted})


#: settings that decide whether another setting is used at all (a search that varies them
#: may make the other one matter in some trials: then nothing is called unused)
_DECIDERS = ("schedule.kind", "schedule.mode", "schedule.warmup_steps")


def unused_params(names: Any, base: RunConfig) -> dict[str, str]:
    """Which of the parameter paths ``names`` the runs of ``base`` do not use, each with why.

    A search over such a setting trains the same run whatever value it draws (identical
    results, importance 0), so the window does not offer it and the CLI warns:

    - ``optimizer.lr`` under a cyclic or one-cycle schedule without warm-up: the schedule
      sets every rate from its own bounds (``torch.optim.lr_scheduler.CyclicLR`` starts at
      ``base_lr``, ``OneCycleLR`` at ``max_lr / div_factor``), whatever the optimizer's rate;
    - ``schedule.gamma`` of a cyclic schedule in triangular or triangular2 mode (only
      ``exp_range`` uses it).
    """
    from .labels import RATE_SETTING_SCHEDULES

    names = list(names)
    if any(n in _DECIDERS for n in names):
        return {}
    sched = base.schedule
    out: dict[str, str] = {}
    for name in names:
        if name == "optimizer.lr" and sched.kind in RATE_SETTING_SCHEDULES and not sched.warmup_steps:
            bounds = "schedule.base_lr and schedule.max_lr" if sched.kind == "cyclic" else "schedule.max_lr"
            out[name] = (
                f"the {sched.kind.replace('_', '-')} schedule sets every rate from {bounds}, whatever "
                f"the optimizer's rate; search {bounds} instead"
            )
        elif (
            name == "schedule.gamma" and sched.kind == "cyclic" and getattr(sched, "mode", "") != "exp_range"
        ):
            out[name] = (
                f"the cyclic schedule's {getattr(sched, 'mode', '')} mode does not use gamma (only exp_range does)"
            )
    return out


def grid_points(p: FloatRange | IntRange | Choice) -> list[Any]:
    """The values a grid search tries for one parameter."""
    if isinstance(p, Choice):
        return list(p.choices)
    if p.points:
        return sorted(set(p.points))
    if isinstance(p, IntRange):
        return list(range(p.low, p.high + 1, p.step))
    raise SearchSpaceError("a continuous range has no grid points")  # check_space says which
