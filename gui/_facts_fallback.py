"""TEMPORARY (issue 13): engine facts the window asks for, until the branches that move them
into the engine are merged. Delete this module then, and import the names directly:

* ``optiscope.engine.formats``: ``METRIC_COLUMNS``, ``format_csv``
* ``optiscope.engine.config``: ``race_experiment``, ``steps_per_epoch``
* ``optiscope.engine.landscape``: ``snapshot_every`` (imports torch: call it lazily)
* ``optiscope.engine.control``: ``RunControl``

Each name is taken from the engine when it is there; the local copies below are the
window's old code, kept only so this branch works on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

try:
    from optiscope.engine.formats import METRIC_COLUMNS, format_csv
except ImportError:
    METRIC_COLUMNS = (
        "run",
        "label",
        "epoch",
        "lr",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "seconds",
    )

    def format_csv(v: object) -> str:
        if isinstance(v, float):
            return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        return str(v)


try:
    from optiscope.engine.config import race_experiment, steps_per_epoch
except ImportError:
    from optiscope.engine.config import ExperimentConfig, RunConfig

    def steps_per_epoch(n_train: int, batch_size: int) -> int:
        return max(1, -(-int(n_train) // int(batch_size)))

    def _variation_diff(base: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in run.items():
            b = base.get(key)
            if isinstance(value, dict) and isinstance(b, dict):
                if "kind" in value and value.get("kind") != b.get("kind"):
                    out[key] = {k: v for k, v in value.items() if v is not None}
                else:
                    inner = _variation_diff(b, value)
                    if inner:
                        out[key] = inner
            elif value != b and value is not None:
                out[key] = value
        return out

    def race_experiment(
        runs: Sequence[RunConfig], *, name: str = "race", description: str = "", lesson: str = ""
    ) -> ExperimentConfig:
        base = runs[0].model_copy(update={"label": ""})
        base_d = base.model_dump(mode="python")
        variations = []
        seen: dict[str, int] = {}
        for run in runs:
            label = run.describe()
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label = f"{label} #{seen[label]}"
            var = _variation_diff(base_d, run.model_dump(mode="python", exclude={"label"}))
            var["label"] = label
            variations.append(var)
        return ExperimentConfig(
            name=name, description=description, lesson=lesson, base=base, variations=tuple(variations)
        )


def snapshot_every(runs: Sequence[Any], snapshots: int = 200) -> int:
    """``optiscope.engine.landscape.snapshot_every`` (the engine must be loaded: torch)."""
    from optiscope.engine import landscape

    if hasattr(landscape, "snapshot_every"):
        return landscape.snapshot_every(runs, snapshots)
    rows_of = {"digits": 1797, "breast_cancer": 569, "wine": 178, "iris": 150}
    most = 1
    for r in runs:
        d = r.dataset
        rows = d.n_samples if d.is_2d else rows_of.get(d.name, 1000)
        n_train = max(1, round(rows * d.train_fraction))
        if d.subsample is not None:
            n_train = min(n_train, d.subsample)
        most = max(most, r.training.epochs * steps_per_epoch(n_train, r.training.batch_size))
    return max(1, most // snapshots)


def run_control_class() -> type:
    """``optiscope.engine.control.RunControl`` (the trainer's until that module exists)."""
    try:
        from optiscope.engine.control import RunControl
    except ImportError:
        from optiscope.engine.trainer import RunControl
    return RunControl
