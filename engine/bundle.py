"""Reproducibility bundles: stored runs in one zip that ``optiscope run --bundle --check`` re-runs.

A bundle (``optiscope runs export ID... --bundle out.zip``) holds

- ``config.toml``: the runs as one experiment (:func:`engine.config.race_experiment`), run ``i``
  of it being the ``i``-th exported id;
- ``metrics.csv``: the stored per-epoch metrics, ``run`` numbered as in ``config.toml`` (with
  ``seeds = N`` there, runner by runner and seed by seed: ``config.seeded_runs()``); a bundle made
  before the ``runner``/``seed`` columns reads as runner = run, seed = its config's seed;
- ``train.py``: the standalone PyTorch script of the experiment (``optiscope export-script``);
- ``versions.json``: Optiscope, torch, numpy, scikit-learn, Python and the OS that made it;
- ``README.txt``: what is inside and how to re-run it.

``optiscope run ... --save-bundle ZIP`` writes the same from a fresh run, plus ``steps.csv``,
``layers.csv`` and ``weights/run-N.pt``; the run store keeps per-epoch metrics only, so a
bundle of stored runs has no steps, layer statistics or weights.

:func:`read_bundle` opens a bundle defensively (a damaged, foreign or oversized zip is a
one-line :class:`~engine.config.ConfigError`); :func:`compare` checks re-run metrics against
the bundle's: losses within :data:`LOSS_RTOL` relative, accuracies equal.
"""

from __future__ import annotations

import csv
import io
import json
import math
import platform
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, ExperimentConfig, RunConfig, dumps_toml, loads_toml, race_experiment
from .formats import METRIC_COLUMNS, METRIC_VALUES, SEED_COLUMNS, format_csv

__all__ = [
    "LOSS_RTOL",
    "Bundle",
    "bundle_stored_runs",
    "make_bundle",
    "stored_experiment",
    "read_bundle",
    "compare",
    "versions",
]

#: the check's tolerance on train/val loss (relative); accuracies must be equal
LOSS_RTOL = 1e-5
#: the largest member a bundle may have, uncompressed (bytes)
MAX_MEMBER = 200_000_000
_REQUIRED = ("config.toml", "metrics.csv")


@dataclass
class Bundle:
    """What a bundle holds: the experiment and its recorded metrics rows (METRIC_COLUMNS, floats)."""

    experiment: ExperimentConfig
    metrics: list[dict[str, Any]]
    versions: dict[str, Any]


def versions() -> dict[str, Any]:
    """The versions a bundle records (package metadata: nothing heavy is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {}
    for name in ("optiscope", "torch", "numpy", "scikit-learn", "pydantic"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["python"] = sys.version.split()[0]
    out["os"] = platform.platform()
    out["machine"] = platform.machine()
    return out


_README = """Optiscope reproducibility bundle: {name}

{runs}

config.toml   the runs as one experiment (run i = the i-th run above)
metrics.csv   the recorded per-epoch metrics (Optiscope's metrics.csv columns)
train.py      a standalone PyTorch script training the same runs (torch, numpy, scikit-learn only)
versions.json the versions that recorded it

Re-run and compare (losses within {rtol:g} relative, accuracies equal):

    optiscope run --bundle THIS.zip --check --out recheck/

or without Optiscope:

    python train.py --csv metrics-again.csv

{contents}
"""

_NO_EXTRAS = (
    "The run store keeps per-epoch metrics only: this bundle has no per-update steps, layer\n"
    "statistics or weights ('optiscope run --save-bundle ZIP' makes a bundle with them)."
)


def make_bundle(
    path: str | Path,
    exp: ExperimentConfig,
    metrics: Sequence[Sequence[dict]],
    *,
    extra: dict[str, str | bytes] | None = None,
) -> Path:
    """Write a bundle of ``exp`` with each run's per-epoch ``metrics`` (one list of rows per run of
    ``exp.seeded_runs()``: epoch, lr, train_loss, train_acc, val_loss, val_acc, seconds); ``extra``
    adds members (``steps.csv``, ``layers.csv``, ``weights/run-N.pt`` from ``optiscope run --save-bundle``)."""
    from .export_script import NotExportable, export_script
    from .files import atomic_write_with
    from .seeds import SeedPlan

    plan = SeedPlan.of(exp)
    labels = [r.describe() for r in plan.runs]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METRIC_COLUMNS)
    for i, rows in enumerate(metrics):
        for m in rows:
            w.writerow(
                [
                    i,
                    format_csv(labels[i]),
                    m["epoch"],
                    *(format_csv(float(m[k])) for k in METRIC_VALUES),
                    plan.runner_of[i],
                    plan.seed_of[i],
                ]
            )
    try:
        script = export_script(exp, list(range(len(plan.runners))), source="a reproducibility bundle")
    except NotExportable as exc:
        script = f"# This experiment cannot be exported as a script: {exc}\n"
    if plan.n_seeds > 1:
        script = (
            f"# The experiment trains every runner with {plan.n_seeds} seeds; this script trains each runner\n"
            "# once, with its first seed ('optiscope export-script --seed S' writes seed S's script).\n"
            + script
        )
        listing = "\n".join(
            f"  run {i}: {label} (runner {plan.runner_of[i]}, seed {plan.seed_of[i]})"
            for i, label in enumerate(labels)
        )
    else:
        listing = "\n".join(f"  run {i}: {label}" for i, label in enumerate(labels))
    extra = dict(extra or {})
    has: list[str] = [m for m in ("steps.csv", "layers.csv") if m in extra]
    if any(m.startswith("weights/") for m in extra):
        has.append("weights/run-N.pt")
    contents = (
        "Also inside: " + ", ".join(has) + " (as 'optiscope run' writes them; the weights load into\n"
        "train.py's model classes: NetA().load_state_dict(torch.load('weights/run-0.pt')))."
        if has
        else _NO_EXTRAS
    )
    files: dict[str, str | bytes] = {
        "config.toml": dumps_toml(exp),
        "metrics.csv": buf.getvalue(),
        "train.py": script,
        "versions.json": json.dumps(versions(), indent=2),
        "README.txt": _README.format(name=exp.name, runs=listing, rtol=LOSS_RTOL, contents=contents),
        **extra,
    }

    def write(fh: Any) -> None:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for member, data in files.items():
                z.writestr(member, data)

    out = Path(path)
    atomic_write_with(out, write)
    return out


def stored_experiment(runs: Sequence[RunConfig], name: str) -> ExperimentConfig:
    """Stored runs as one experiment (run ``i`` = the ``i``-th run)."""
    return race_experiment(list(runs), name=name, description=f"{len(runs)} stored run(s) of {name}")


def bundle_stored_runs(path: str | Path, stored: Sequence[Any]) -> Path:
    """Write the bundle of stored runs (``RunStore.load_run`` rows), run ``i`` the ``i``-th:
    ``optiscope runs export ID... --bundle`` and the window's Runs tab. ConfigError when a
    stored run's config is no longer valid; OSError when the file cannot be written."""
    from pydantic import ValidationError

    try:
        runs = [s.run_config() for s in stored]
    except ValidationError:
        raise ConfigError("a stored run's config is no longer valid; it cannot be bundled") from None
    names = sorted({s.summary.experiment for s in stored if s.summary.experiment})
    name = names[0] if len(names) == 1 else "stored runs"
    return make_bundle(path, stored_experiment(runs, name), [s.metrics for s in stored])


def read_bundle(path: str | Path) -> Bundle:
    """Open a bundle; ConfigError (one line) when it is missing, damaged or not a bundle."""
    path = Path(path)
    where = f"bundle {path}"
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file; check the path") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ConfigError(
            f"{where}: not a readable zip file ({exc}); give a bundle from 'optiscope runs export --bundle'"
        ) from None
    with z:
        names = set(z.namelist())
        missing = [m for m in _REQUIRED if m not in names]
        if missing:
            raise ConfigError(f"{where}: not an Optiscope bundle (no {', '.join(missing)} inside)")

        def text(member: str) -> str:
            info = z.getinfo(member)
            if info.file_size > MAX_MEMBER:
                raise ConfigError(f"{where}: {member} is {info.file_size:,} bytes, more than a bundle holds")
            try:
                with z.open(info) as fh:
                    data = fh.read(MAX_MEMBER + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                raise ConfigError(f"{where}: {member} is damaged ({exc})") from None
            if len(data) > MAX_MEMBER:
                raise ConfigError(f"{where}: {member} expands beyond {MAX_MEMBER:,} bytes")
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError(f"{where}: {member} is not UTF-8 text") from None

        exp = loads_toml(text("config.toml"), f"{where}: config.toml")
        metrics = _metrics(text("metrics.csv"), where)
        try:
            info = json.loads(text("versions.json")) if "versions.json" in names else {}
        except ValueError:
            info = {}
    runs = exp.seeded_runs()
    n = len(runs)
    bad = sorted({m["run"] for m in metrics if not 0 <= m["run"] < n})
    if bad:
        raise ConfigError(f"{where}: metrics.csv names run {bad[0]}, but config.toml has runs 0-{n - 1}")
    for m in metrics:  # a bundle from before the runner/seed columns: each run its own runner
        if m["runner"] is None:
            m["runner"], m["seed"] = m["run"], runs[m["run"]].training.seed
    return Bundle(exp, metrics, info if isinstance(info, dict) else {})


#: metrics.csv's columns before the runner and seed columns were added (still read)
_OLD_METRIC_COLUMNS = METRIC_COLUMNS[: -len(SEED_COLUMNS)]


def _metrics(text: str, where: str) -> list[dict[str, Any]]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) not in (METRIC_COLUMNS, _OLD_METRIC_COLUMNS):
        raise ConfigError(
            f"{where}: metrics.csv does not have Optiscope's columns ({', '.join(METRIC_COLUMNS)})"
        )
    width = len(rows[0])
    values = slice(3, 3 + len(METRIC_VALUES))
    out = []
    for line, row in enumerate(rows[1:], start=2):
        try:
            if len(row) != width:
                raise ValueError(f"{len(row)} cells")
            seeded = width == len(METRIC_COLUMNS)
            out.append(
                {
                    "run": int(row[0]),
                    "label": row[1],
                    "epoch": int(row[2]),
                    **{k: float(v) for k, v in zip(METRIC_VALUES, row[values], strict=True)},
                    "runner": int(row[-2]) if seeded else None,
                    "seed": int(row[-1]) if seeded else None,
                }
            )
        except (ValueError, IndexError):
            raise ConfigError(f"{where}: metrics.csv line {line} is not a metrics row") from None
    return out


def compare(recorded: Sequence[dict[str, Any]], again: Sequence[dict[str, Any]], n_runs: int) -> list[str]:
    """One verdict line per run (``ok`` or what differs) comparing re-run metrics with the recorded ones."""
    lines = []
    for run in range(n_runs):
        a = [m for m in recorded if m["run"] == run]
        b = [m for m in again if m["run"] == run]
        label = a[0]["label"] if a else (b[0]["label"] if b else "")
        problems = []
        if len(a) != len(b):
            problems.append(f"{len(b)} epochs instead of {len(a)}")
        worst = 0.0
        for x, y in zip(a, b, strict=False):
            for key in ("train_loss", "val_loss"):
                u, v = x[key], y[key]
                if math.isnan(u) and math.isnan(v):
                    continue
                rel = abs(u - v) / max(abs(u), 1e-30)
                if not rel <= LOSS_RTOL:
                    problems.append(f"epoch {x['epoch']} {key} {v!r} vs recorded {u!r}")
                worst = max(worst, rel if math.isfinite(rel) else math.inf)
            for key in ("train_acc", "val_acc"):
                if x[key] != y[key] and not (math.isnan(x[key]) and math.isnan(y[key])):
                    problems.append(f"epoch {x['epoch']} {key} {y[key]!r} vs recorded {x[key]!r}")
        if problems:
            lines.append(
                f"run {run} ({label}): DIFFERS: {problems[0]}"
                + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
            )
        else:
            lines.append(
                f"run {run} ({label}): ok, {len(a)} epochs, losses within {worst:.1e} relative, accuracies equal"
            )
    return lines
