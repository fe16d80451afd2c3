"""A hyperparameter search space against a run config: fitting, checking and applying it.

The space itself (its sections, ranges, objectives and samplers) is
:mod:`engine.search_schema`, re-exported here under the names callers import. This
module sits above the run config (:func:`check_space` and :func:`apply_params` validate
run configs), so the schema never imports it back.

Light: pydantic and the config schema, never torch or Optuna.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from .config import OPTIMIZER_CLASSES, SCHEDULE_CLASSES, RunConfig, format_validation_error
from .search_schema import (
    MAX_GRID_VALUES,
    OBJECTIVES,
    SAMPLERS,
    Choice,
    FloatRange,
    IntRange,
    SearchSpace,
    SearchSpaceError,
    grid_points,
    load_space,
    objective_direction,
    parse_space,
)

__all__ = [
    "SearchSpaceError",
    "FloatRange",
    "IntRange",
    "Choice",
    "SearchSpace",
    "OBJECTIVES",
    "SAMPLERS",
    "MAX_GRID_VALUES",
    "parse_space",
    "load_space",
    "check_space",
    "apply_params",
    "grid_points",
    "objective_direction",
]


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
