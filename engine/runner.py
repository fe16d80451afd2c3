"""Running whole experiments (one or many runs) and writing their result files.

:func:`execute` is what the CLI and the GUI's worker call: it runs every run of an
experiment on one event bus, each tagged with its run id. :func:`write_outputs` writes
``metrics.csv``, ``steps.csv``, ``layers.csv`` (per-layer statistics), ``summary.json`` and
``config.toml`` atomically.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import events as ev
from . import outcome
from .config import ExperimentConfig, RunConfig, dumps_toml
from .control import RunControl
from .files import atomic_write_text
from .formats import LAYER_COLUMNS, METRIC_COLUMNS, METRIC_VALUES, STEP_COLUMNS, csv_table, format_csv
from .loop import RunResult
from .rules import Rule
from .trainer import train

if TYPE_CHECKING:
    from .seed_report import SeedReport
    from .seeds import SeedPlan

__all__ = [
    "execute",
    "plan_batches",
    "write_outputs",
    "summarize",
    "summary_of",
    "seed_cells",
    "metric_rows",
    "step_rows",
    "METRIC_COLUMNS",
    "STEP_COLUMNS",
]


_log = logging.getLogger(__name__)


def plan_batches(runs: Sequence[RunConfig]) -> tuple[list[list[int]], dict[int, str]]:
    """Split run indices into batched groups and runs that go alone (with the reason).

    Runs share a batch when :func:`engine.sweep.batch_key` agrees (same data, layer
    structure, batch size, device); a group needs at least two runs. Groups are listed
    in the order of their first run. The float32 twin of a mixed-precision run (a run that
    differs from it only there) trains alone too, as the mixed-precision run must: their
    seconds per epoch are then compared like with like (a batched run's epochs take the
    whole batch's wall time).
    """
    from .sweep import batch_key, unbatchable_reason

    by_key: dict[str, list[int]] = {}
    alone: dict[int, str] = {}
    twins = _float32_twins(runs)
    for i, cfg in enumerate(runs):
        key = batch_key(cfg)
        if i in twins:
            alone[i] = (
                f"the float32 twin of run {twins[i]}'s mixed precision: trained alone like it, "
                "so their times compare"
            )
        elif key is None:
            alone[i] = unbatchable_reason(cfg) or "not batchable"
        else:
            by_key.setdefault(key, []).append(i)
    groups = []
    for members in by_key.values():
        if len(members) > 1:
            groups.append(members)
        else:
            alone[members[0]] = "no other run shares its dataset, layer structure, batch size and device"
    return groups, alone


def execute(
    runs: Sequence[RunConfig],
    *,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    boundary_every: int = 0,
    boundary_runs: Iterable[int] | None = None,
    weights_every: int = 0,
    weights_runs: Iterable[int] | None = None,
    keep_models: bool = False,
    first_run_id: int = 0,
    batched: bool = True,
    log: Callable[[str], None] | None = None,
    stats_every: int | None = None,
    extra_rules: Callable[[int, RunConfig], list[Rule]] | None = None,
) -> list[RunResult]:
    """Train ``runs``; run ids are ``first_run_id + index``; results come back in run order.

    With ``batched`` (the default) runs that can share one computation are trained
    together by :func:`engine.sweep.train_batched` (same events, same results, a
    fraction of the time); the others run one after another with
    :func:`engine.trainer.train`, and ``log`` (default: the ``logging`` module) says why
    each was not batched. A stop request ends the work in progress and skips the rest.
    ``extra_rules(run_id, cfg)`` adds rules to each run (after its default ones).
    ``boundary_every`` (epochs) emits decision boundaries of 2D runs: of every run, or only
    of the run ids in ``boundary_runs`` (a seeded race: each runner's first seed); likewise
    ``weights_every`` (updates) weight snapshots, of every run or of the ids in ``weights_runs``.
    """
    bus = bus if bus is not None else ev.EventBus()
    control = control if control is not None else RunControl()
    say = log if log is not None else _log.info
    if batched and len(runs) > 1:
        groups, alone = plan_batches(runs)
    else:
        groups, alone = [], {i: "batching is off" for i in range(len(runs))}
    if batched and len(runs) > 1:
        for i, why in sorted(alone.items()):
            say(f"run {first_run_id + i} not batched: {why}")
    # work items in the order of their first run
    items: list[list[int]] = sorted(groups + [[i] for i in alone], key=lambda m: m[0])
    results: dict[int, RunResult] = {}
    # what every run gets, batched or alone
    shared: dict[str, Any] = dict(
        bus=bus,
        control=control,
        boundary_every=boundary_every,
        boundary_runs=None if boundary_runs is None else frozenset(boundary_runs),
        weights_every=weights_every,
        weights_runs=None if weights_runs is None else frozenset(weights_runs),
        stats_every=stats_every,
        extra_rules=extra_rules,
    )
    for members in items:
        if control.stopped and results:
            break
        for i in members:  # which parameters get which update (Muon + AdamW), batched or alone
            roles = param_roles(runs[i])
            if roles:
                say(f"run {first_run_id + i}: {roles}")
        if len(members) > 1:
            from .sweep import train_batched

            say(f"runs {', '.join(str(first_run_id + i) for i in members)} batched together")
            ids = [first_run_id + i for i in members]
            out = train_batched([runs[i] for i in members], ids, keep_models=keep_models, **shared)
            results.update(zip(members, out, strict=True))
        else:
            i = members[0]
            results[i] = train(runs[i], run_id=first_run_id + i, keep_model=keep_models, **shared)
    return [results[i] for i in sorted(results)]


def param_roles(cfg: RunConfig) -> str:
    """What the run's optimizer part says about which parameters get which update ("" when all
    are stepped alike), from the model's parameter names and shapes (built on the meta device)."""
    from .optimizers import OptimizerPart, part_for

    part = part_for(cfg.optimizer.kind)
    if part.param_roles.__func__ is OptimizerPart.param_roles.__func__:  # type: ignore[attr-defined]
        return ""  # the part steps every parameter alike
    import torch

    from .models import build_model
    from .shapes import dataset_shape

    try:
        shape = dataset_shape(cfg.dataset)
        with torch.device("meta"):
            model = build_model(cfg.model, shape["n_features"], shape["n_classes"], shape["image_shape"])
    except (ValueError, RuntimeError):  # the layers do not fit: training reports it in words
        return ""
    return part.param_roles([(n, tuple(p.shape)) for n, p in model.named_parameters()])


def _json_num(v: float | None) -> float | str | None:
    if v is None:
        return None
    return v if math.isfinite(v) else str(v)


def summarize(result: RunResult, cfg: RunConfig) -> dict:
    """The summary.json entry of one run."""
    final = result.final
    best = next((e for e in result.epochs if e.epoch == result.best_epoch), None)

    def metrics(e: ev.EpochEnd | None) -> dict | None:
        if e is None:
            return None
        return {
            k: _json_num(getattr(e, k))
            for k in ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")
        }

    def gap(e: ev.EpochEnd | None) -> dict | None:
        """How much better the training set does than the validation set (overfitting)."""
        if e is None:
            return None
        return {"acc": _json_num(e.train_acc - e.val_acc), "loss": _json_num(e.val_loss - e.train_loss)}

    return {
        "run": result.run,
        "label": result.label,
        "reason": result.reason,
        "reason_detail": result.reason_detail or None,
        "epochs": len(result.epochs),
        "steps": len(result.step_loss),
        "final": metrics(final),
        "best": metrics(best),
        "train_val_gap": {"final": gap(final), "best": gap(best)},
        "best_epoch": result.best_epoch,
        "diverged_step": result.diverged_step,
        "error": result.error,
        "seconds": round(result.seconds, 4),
        "seconds_per_epoch": _json_num(seconds_per_epoch(result)),
        "mixed_precision": _mixed_precision(cfg),
        "layers": inside_summary(result),
        "config": cfg.model_dump(mode="json"),
    }


Cells = dict[int, tuple[int, int | str]]


def seed_cells(plan: SeedPlan, results: Sequence[RunResult]) -> Cells:
    """The ``runner`` and ``seed`` cells of each result's rows, by run id (run ``r`` of the plan;
    a run id outside it, never made by :func:`execute` from 0: itself and no seed)."""
    n = len(plan.runs)
    return {
        r.run: (plan.runner_of[r.run], plan.seed_of[r.run]) if 0 <= r.run < n else (r.run, "")
        for r in results
    }


def metric_rows(results: Sequence[RunResult], cells: Cells) -> list[tuple]:
    """``metrics.csv``'s rows (:data:`METRIC_COLUMNS`), one per run and epoch, values unformatted."""
    return [
        (r.run, r.label, e.epoch, *(float(getattr(e, k)) for k in METRIC_VALUES), *cells[r.run])
        for r in results
        for e in r.epochs
    ]


def step_rows(results: Sequence[RunResult], cells: Cells) -> list[tuple]:
    """``steps.csv``'s rows (:data:`STEP_COLUMNS`), one per run and update, values unformatted."""
    rows = []
    for r in results:
        spe = max(r.steps_per_epoch, 1)
        runner_seed = cells[r.run]
        for i, (lr, loss) in enumerate(zip(r.step_lr.tolist(), r.step_loss.tolist(), strict=True)):
            rows.append((r.run, i + 1, i // spe + 1, float(lr), float(loss), *runner_seed))
    return rows


def layers_csv(results: Sequence[RunResult], cells: Cells | None = None) -> str:
    """``layers.csv``: every run's :class:`~engine.events.LayerStats`, one row per layer
    (``cells``: :func:`seed_cells`; without them each run is its own runner, seed unknown)."""
    cells = cells if cells is not None else {r.run: (r.run, "") for r in results}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LAYER_COLUMNS)
    for r in results:
        runner, seed = cells[r.run]
        for e in r.layers:
            for j, name in enumerate(e.layers):
                values = (
                    e.lr,
                    e.step_multiplier,
                    *e.effective_lr[j],
                    e.weight_norm[j],
                    e.grad_norm[j],
                    e.update_ratio[j],
                    e.dead_fraction[j],
                    e.zero_fraction[j],
                )
                w.writerow(
                    [
                        r.run,
                        e.step,
                        e.epoch,
                        format_csv(name),
                        *(format_csv(float(v)) for v in values),
                        runner,
                        seed,
                    ]
                )
    return buf.getvalue()


def inside_summary(result: RunResult) -> dict | None:
    """The run's last per-layer statistics for summary.json (None without any)."""
    if not result.layers:
        return None
    e = result.layers[-1]
    return {
        "step": e.step,
        "zero_fraction": {n: _json_num(float(v)) for n, v in zip(e.layers, e.zero_fraction, strict=True)},
        "dead_fraction": {n: _json_num(float(v)) for n, v in zip(e.layers, e.dead_fraction, strict=True)},
        "effective_lr_median": {
            n: _json_num(float(v)) for n, v in zip(e.layers, e.effective_lr[:, 1], strict=True)
        },
    }


def seconds_per_epoch(result: RunResult) -> float | None:
    """Mean wall time of the run's epochs (training and evaluation), None without any."""
    return outcome.seconds_per_epoch(result.epochs)


def _mixed_precision(cfg: RunConfig) -> dict:
    from .sweep import unbatchable_reason

    on = cfg.training.mixed_precision
    return {
        "enabled": on,
        "autocast": "bfloat16 on the CPU, float16 with a gradient scaler on CUDA" if on else None,
        "batched": False if on else None,
        "why_not_batched": unbatchable_reason(cfg) if on else None,
    }


def _twin_key(cfg: RunConfig) -> str:
    """A run's config without its label and mixed-precision switch."""
    training = cfg.training.model_copy(update={"mixed_precision": False})
    return cfg.model_copy(update={"label": "", "training": training}).model_dump_json()


def _float32_twins(runs: Sequence[RunConfig]) -> dict[int, int]:
    """``{twin index: mixed-precision run index}`` for each run without mixed precision that
    differs from a mixed-precision run only there (the first such run, as
    :func:`mixed_precision_effect` pairs them)."""
    plain: dict[str, int] = {}
    for i, c in enumerate(runs):
        if not c.training.mixed_precision:
            plain.setdefault(_twin_key(c), i)
    out: dict[int, int] = {}
    for i, c in enumerate(runs):
        twin = plain.get(_twin_key(c)) if c.training.mixed_precision else None
        if twin is not None:
            out.setdefault(twin, i)
    return out


TWIN_TIMING = "both trained alone"


def mixed_precision_effect(runs: Sequence[RunConfig], results: Sequence[RunResult]) -> list[dict]:
    """For every run with mixed precision and a run that differs from it only there (and in its
    label): both runs' seconds per epoch and final accuracy, side by side.

    Both trained alone (:func:`execute` never batches the float32 twin, see
    :func:`plan_batches`), so the ratio compares like with like: ``timing`` says so.
    """
    key = _twin_key
    plain: dict[str, RunResult] = {}
    for c, r in zip(runs, results, strict=False):
        if not c.training.mixed_precision:
            plain.setdefault(key(c), r)
    out = []
    for c, r in zip(runs, results, strict=False):
        other = plain.get(key(c)) if c.training.mixed_precision else None
        if other is None:
            continue
        on, off = seconds_per_epoch(r), seconds_per_epoch(other)
        out.append(
            {
                "with": r.run,
                "without": other.run,
                "seconds_per_epoch": {
                    "with": _json_num(on),
                    "without": _json_num(off),
                    "ratio": _json_num(on / off) if on and off else None,
                },
                "timing": TWIN_TIMING,
                "final_val_acc": {
                    "with": _json_num(r.final.val_acc) if r.final else None,
                    "without": _json_num(other.final.val_acc) if other.final else None,
                },
            }
        )
    return out


def summary_of(
    experiment: ExperimentConfig,
    runs: Sequence[RunConfig],
    results: Sequence[RunResult],
    report: SeedReport,
) -> dict:
    """``summary.json``: every run's entry (with its runner and seed), the mixed-precision pairs,
    and what the seeds say together (:meth:`engine.seed_report.SeedReport.as_dict`: ``seeds``,
    ``interval``, ``runners``, ``verdicts``)."""
    cells = seed_cells(report.plan, results)
    entries = []
    for r, cfg in zip(results, runs, strict=False):
        entry = summarize(r, cfg)
        runner, seed = cells[r.run]
        entries.append({"run": entry["run"], "runner": runner, "seed": seed, **entry})
    return {
        "experiment": experiment.name,
        "description": experiment.description,
        "runs": entries,
        "mixed_precision_effect": mixed_precision_effect(runs, results),
        **report.as_dict(),
    }


def write_outputs(
    out_dir: str | Path,
    experiment: ExperimentConfig,
    runs: Sequence[RunConfig],
    results: Sequence[RunResult],
    extra: dict | None = None,
    *,
    report: SeedReport | None = None,
) -> Path:
    """Write the five result files into ``out_dir`` (created if needed).

    ``runs`` are what was trained (``experiment.seeded_runs()``; other runs count as one runner
    each) and ``report`` their :func:`engine.seed_report.seed_report` (made here when not given).
    """
    from .seed_report import seed_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = report if report is not None else seed_report(experiment, runs, results)
    cells = seed_cells(report.plan, results)
    atomic_write_text(out / "metrics.csv", csv_table(METRIC_COLUMNS, metric_rows(results, cells)))
    atomic_write_text(out / "steps.csv", csv_table(STEP_COLUMNS, step_rows(results, cells)))
    atomic_write_text(out / "layers.csv", layers_csv(results, cells))
    summary = {**summary_of(experiment, runs, results, report), **(extra or {})}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    atomic_write_text(out / "config.toml", dumps_toml(experiment))
    return out
