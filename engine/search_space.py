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
from .formats import shown
from .labels import RATE_SETTING_SCHEDULES
from .search_schema import (
    MAX_GRID_VALUES,
    MAX_ROUND,
    MAX_TRIALS,
    OBJECTIVES,
    SAMPLERS,
    SEED_MAX,
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
    "MAX_ROUND",
    "MAX_TRIALS",
    "SEED_MAX",
    "parse_space",
    "load_space",
    "check_space",
    "unused_params",
    "apply_params",
    "grid_points",
    "objective_direction",
]


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


# --------------------------------------------------------------------------- settings a run ignores
#: settings that decide whether another setting is used at all (a search that varies them
#: may make the other one matter in some trials: then nothing is called unused)
_DECIDERS = ("schedule.kind", "schedule.mode", "schedule.warmup_steps")


def unused_params(names: Any, base: RunConfig) -> dict[str, str]:
    """Which of the parameter paths ``names`` the runs of ``base`` do not use, each with why.

    A search over such a setting trains the same run whatever value it draws (identical
    results, importance 0), so the window does not offer it and the CLI warns:

    - ``optimizer.lr`` under a schedule that sets the rates itself (a schedule part with
      ``sets_rate``: cyclic, one-cycle) without warm-up: ``torch.optim.lr_scheduler.CyclicLR``
      starts at ``base_lr`` and ``OneCycleLR`` at ``max_lr / div_factor``, whatever the
      optimizer's rate;
    - ``schedule.gamma`` of a cyclic schedule in triangular or triangular2 mode (only
      ``exp_range`` uses it).
    """
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
            mode = getattr(sched, "mode", "")
            out[name] = f"the cyclic schedule's {mode} mode does not use gamma (only exp_range does)"
    return out
