"""Reproducibility bundles on the command line: ``runs export --bundle`` and ``run --bundle --check``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..store import StoreError, UnknownRun
from .common import UsageError

if TYPE_CHECKING:
    from ..loop import RunResult
    from ..store import RunStore


def export_bundle(store: RunStore, ids: Sequence[int], path: Path) -> int:
    """``optiscope runs export ID... --bundle ZIP``."""
    from ..bundle import bundle_stored_runs
    from ..config import ConfigError

    if path.is_dir():
        raise UsageError(f"--bundle {path} is a folder; give the zip file's name, e.g. {path / 'bundle.zip'}")
    try:
        stored = [store.load_run(i) for i in ids]
    except (UnknownRun, StoreError) as exc:
        raise UsageError(str(exc)) from None
    try:
        bundle_stored_runs(path, stored)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(
            f"--bundle {path}: cannot write it ({exc.strerror or exc}); give another path"
        ) from None
    print(
        f"wrote {path} ({len(ids)} run{'s' if len(ids) > 1 else ''}); check it with: optiscope run --bundle {path} --check --out FOLDER"
    )
    return 0


def check_bundle(path: Path, results: Sequence[RunResult]) -> int:
    """``optiscope run --bundle ZIP --check``: compare the re-run with the bundle's metrics (exit 1 when they differ)."""
    from ..bundle import LOSS_RTOL, compare, read_bundle

    bundle = read_bundle(path)
    again = [
        {
            "run": r.run,
            "label": r.label,
            "epoch": e.epoch,
            **{k: float(getattr(e, k)) for k in ("train_loss", "train_acc", "val_loss", "val_acc")},
        }
        for r in results
        for e in r.epochs
    ]
    lines = compare(bundle.metrics, again, len(results))
    for line in lines:
        print(line)
    recorded = bundle.versions
    if recorded:
        print(
            "recorded with "
            + ", ".join(f"{k} {recorded.get(k)}" for k in ("optiscope", "torch", "python") if recorded.get(k))
            + f"; tolerance: losses {LOSS_RTOL:g} relative, accuracies equal",
            file=sys.stderr,
        )
    bad = [line for line in lines if "DIFFERS" in line]
    print(f"check: {'reproduced' if not bad else f'{len(bad)} of {len(lines)} runs differ'}")
    return 1 if bad else 0


def save_run_bundle(path: Path, exp, results: Sequence[RunResult], out: Path) -> Path:
    """``optiscope run ... --save-bundle ZIP``: the run's experiment, metrics, steps, layers and
    weights (from the result files just written to ``out``), script, versions and README."""
    from ..bundle import make_bundle
    from ..weights import state_dict_bytes

    extra: dict[str, str | bytes] = {
        name: (out / name).read_text(encoding="utf-8") for name in ("steps.csv", "layers.csv")
    }
    for r in results:
        if r.model is not None and r.reason not in ("failed", "diverged"):
            extra[f"weights/run-{r.run}.pt"] = state_dict_bytes(r.model)
    metrics = [
        [
            {
                "epoch": e.epoch,
                **{
                    k: getattr(e, k)
                    for k in ("lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
                },
            }
            for e in r.epochs
        ]
        for r in results
    ]
    return make_bundle(path, exp, metrics, extra=extra)
