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

from .formats import shown

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


SEED_MAX = 2**32 - 1  # samplers seed numpy's generators: 0 ... 2**32 - 1
MAX_TRIALS = 100_000  # one search's budget
MAX_ROUND = 256  # trials asked (and left RUNNING) before the first of them trains


class SearchSpace(_Frozen):
    """The search section of an experiment: parameters, objective and defaults for the run."""

    params: dict[str, Param]
    objective: Objective = "best_val_loss"
    sampler: SamplerName = "random"
    trials: int = Field(16, ge=1, le=MAX_TRIALS)
    pruning: bool = Field(False, description="stop unpromising trials at epoch ends (median rule)")
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
    where = f"search parameter {shown(name)}"
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
    from .config import ConfigError, _check_values, too_many_digits
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
    except ValueError as exc:
        raise SearchSpaceError(f"{path}: {too_many_digits(exc)}") from None
    try:
        _check_values(data, str(path))  # depth, finite numbers, integer sizes
    except ConfigError as exc:
        raise SearchSpaceError(str(exc)) from None
    section = data.get("search", data)
    if not isinstance(section, dict):
        raise SearchSpaceError(f"{path}: [search] must be a table of settings")
    return parse_space(section, str(path))


# --------------------------------------------------------------------------- against a config
def _walk(tree: Any, path: str, add_last: bool = False) -> tuple[Any, str | int]:
    """The container holding ``path``'s last part, and that part; SearchSpaceError if absent
    (with ``add_last``, a last part missing from its table is allowed: validation judges it)."""
    parts = path.split(".")
    node = tree
    for depth, part in enumerate(parts):
        key: str | int = int(part) if part.isdigit() and isinstance(node, list) else part
        last = depth == len(parts) - 1
        if last and add_last and isinstance(node, dict):
            return node, key
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
                f"search parameter {shown(path)}: unknown field ({shown(part)} is not in {here}; "
                f"fields there: {', '.join(options)}){hint}"
            )
    raise SearchSpaceError(f"search parameter {shown(path)}: empty field path")  # pragma: no cover


def apply_params(base: RunConfig, params: dict[str, Any], label: str | None = None) -> RunConfig:
    """``base`` with each dotted field set to its value (a new, validated run config).

    A ``kind`` change (``optimizer.kind``, ``schedule.kind``) replaces that section, keeping
    the fields the new kind also has (the learning rate, say).
    """
    from .config import RunConfig

    tree = base.model_dump(mode="json")
    ordered = sorted(params.items(), key=lambda kv: not kv[0].endswith(".kind"))
    kinds_searched = {path.rsplit(".", 1)[0] for path in params if path.endswith(".kind")}
    for path, value in ordered:
        # a field of another kind (momentum while the trial drew Adam) is added and refused
        # by validation: that trial fails as an invalid combination, the search goes on
        holder, key = _walk(tree, path, add_last=path.rsplit(".", 1)[0] in kinds_searched)
        if key == "kind" and isinstance(holder, dict) and holder.get("kind") != value:
            classes = _kind_classes(path.split(".")[0])
            if classes is not None and value in classes:
                fields = classes[value].model_fields
                kept = {k: v for k, v in holder.items() if k in fields and k != "kind"}
                holder.clear()
                holder.update(kept)
        holder[key] = value  # type: ignore[index]
    if label is not None:
        tree["label"] = label
    return RunConfig.model_validate(tree)


def _kind_classes(section: str) -> dict[str, Any] | None:
    """The config class of each kind of ``section`` (optimizer, schedule), or None."""
    from .config import OPTIMIZER_CLASSES, SCHEDULE_CLASSES

    return {"optimizer": OPTIMIZER_CLASSES, "schedule": SCHEDULE_CLASSES}.get(section)


def _other_kind_field(space: SearchSpace, name: str, base_tree: dict[str, Any]) -> str | None:
    """A kind searched in ``name``'s section whose config has the field ``name`` names
    (``optimizer.momentum`` with ``optimizer.kind`` choices of SGD and Adam), or None."""
    section, _, field = name.rpartition(".")
    kind_param = space.params.get(f"{section}.kind")
    classes = _kind_classes(section)
    if not isinstance(kind_param, Choice) or classes is None:
        return None
    for kind in kind_param.choices:
        cls = classes.get(kind) if isinstance(kind, str) else None
        if isinstance(kind, str) and cls is not None and field in cls.model_fields:
            return kind
    return None


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
        with_kind: dict[str, Any] = {}
        try:
            holder, key = _walk(tree, name)
            current = holder[key]  # type: ignore[index]
        except SearchSpaceError:
            kind = _other_kind_field(space, name, tree)
            if kind is None:
                raise
            section, _, field = name.rpartition(".")
            with_kind = {f"{section}.kind": kind}  # judged on a kind that has the field
            holder, key = _walk(apply_params(base, with_kind).model_dump(mode="json"), name)
            current = holder[key]  # type: ignore[index]
        numeric = isinstance(current, int | float) and not isinstance(current, bool)
        if not isinstance(p, Choice) and not (numeric or current is None):
            raise SearchSpaceError(
                f"search parameter {shown(name)}: not a numeric field (it holds {current!r}); "
                "search it with choices = [...] instead of a range"
            )
        if isinstance(p, IntRange) and not isinstance(current, int):
            p = FloatRange(low=p.low, high=p.high, log=p.log, points=p.points)
        elif isinstance(p, FloatRange) and isinstance(current, int) and not isinstance(current, bool):
            if not all(float(v).is_integer() for v in (p.low, p.high, *(p.points or ()))):
                raise SearchSpaceError(
                    f"search parameter {shown(name)}: an integer field takes whole-number bounds "
                    f"(got low = {p.low:g}, high = {p.high:g})"
                )
            points = tuple(int(v) for v in p.points) if p.points else None
            p = IntRange(low=int(p.low), high=int(p.high), log=p.log, points=points)
        fitted[name] = p
        values: list[Any] = list(p.choices) if isinstance(p, Choice) else [p.low, p.high]
        for value in values:
            try:
                apply_params(base, {**with_kind, name: value})
            except ValidationError as exc:
                problem = format_validation_error(exc).splitlines()[0]
                which = "choice" if isinstance(p, Choice) else ("low" if value == p.low else "high")
                raise SearchSpaceError(
                    f"search parameter {shown(name)}: {which} = {shown(value)} is not allowed there ({problem})"
                ) from None
    if (sampler or space.sampler) == "grid":
        for name, p in fitted.items():
            if isinstance(p, FloatRange) and not p.points:
                raise SearchSpaceError(
                    f"search parameter {shown(name)}: a grid search needs the values to try on a continuous "
                    "range; add points = [...] (or search it with another sampler)"
                )
            if isinstance(p, IntRange) and not p.points and len(grid_points(p)) > MAX_GRID_VALUES:
                raise SearchSpaceError(
                    f"search parameter {shown(name)}: a grid over [{p.low}, {p.high}] has more than "
                    f"{MAX_GRID_VALUES} values; add points = [...] or a larger step"
                )
    return space.model_copy(update={"params": fitted})


def grid_points(p: FloatRange | IntRange | Choice) -> list[Any]:
    """The values a grid search tries for one parameter."""
    if isinstance(p, Choice):
        return list(p.choices)
    if p.points:
        return sorted(set(p.points))
    if isinstance(p, IntRange):
        return list(range(p.low, p.high + 1, p.step))
    raise SearchSpaceError("a continuous range has no grid points")  # check_space says which
