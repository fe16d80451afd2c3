"""Stored runs regrouped into runners and seeds: what ``optiscope runs export`` writes.

The run store keeps each run on its own (its config, its epochs); which runs were one runner's
seeds is not stored, but it is in the configs: the seeds of a runner (``run --seeds N``, the
window's seeds box) differ only in their training seed (and, with ``seeds_vary_data``, their
dataset's seed). :func:`group_stored` puts runs of one experiment whose configs are equal but
for those seeds into one runner, numbered as ``metrics.csv`` numbers its runners (the store keeps
each run's index in its launch), each run keeping its seed.

:func:`stored_report` then says what the seeds say together, exactly as ``summary.json`` of
``optiscope run --seeds`` does (:class:`engine.seed_report.SeedReport`: every measure of
:data:`engine.seeds.MEASURES` as mean and Student t interval per runner, paired verdicts seed
for seed). Runners are paired on the seeds they share: a seed one runner lacks is left out of
that pair's comparison. A lesson's thresholds are not stored with its runs, so the epochs to a
threshold are not among the measures here.

Light: no torch (``optiscope runs`` starts fast).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import events as ev
from . import stats
from .formats import csv_table
from .lessons import ObservationDetector, RunOutcome

if TYPE_CHECKING:
    from .seed_report import SeedReport
    from .store import StoredRun

__all__ = [
    "RUNNER_CSV_COLUMNS",
    "StoredRunners",
    "StoredSeedsError",
    "group_stored",
    "listed_runners",
    "runner_key",
    "stored_report",
    "runners_csv",
    "export_summary",
]

#: Columns of the per-runner aggregates ``runs export`` writes beside its rows: one row per
#: runner and measure; ``ci_half_width`` is half the interval's width (the "± h" of "m ± h").
RUNNER_CSV_COLUMNS = ("runner", "label", "measure", "mean", "ci_half_width", "low", "high", "n", "of", "text")


class StoredSeedsError(ValueError):
    """Stored runs that cannot be regrouped (one runner's seed stored twice)."""


@dataclass(frozen=True)
class StoredRunners:
    """Which runner and seed each stored run is (``runs`` in the order given)."""

    runs: list[StoredRun]
    runner_of: list[int]
    seed_of: list[int | None]
    labels: list[str]  # runner by runner: its first run's label

    @property
    def n_runners(self) -> int:
        return len(self.labels)

    def members(self, runner: int) -> list[StoredRun]:
        return [r for r, i in zip(self.runs, self.runner_of, strict=True) if i == runner]

    @property
    def seeded(self) -> bool:
        """Some runner has more than one seed (there is something to aggregate)."""
        return any(len(self.members(i)) > 1 for i in range(self.n_runners))


def runner_key(run: StoredRun) -> str:
    """What a runner's seeds share: the experiment and the config without its seeds."""
    config = json.loads(json.dumps(run.config)) if isinstance(run.config, dict) else {}
    for section in ("training", "dataset"):
        part = config.get(section)
        if isinstance(part, dict):
            part.pop("seed", None)
    return json.dumps([run.summary.experiment, config], sort_keys=True)


def group_stored(runs: Sequence[StoredRun]) -> StoredRunners:
    """The runners of ``runs``: runs of one experiment whose configs differ only in their seeds
    are one runner's seeds (a run without a readable config is a runner of its own). Runners are
    numbered as their launch numbered them (``metrics.csv``: runner ``r // N`` of run ``r``), by
    their runs' stored ``run_index`` (the order given where a run has none)."""
    keys: dict[str, int] = {}
    first: list[tuple[float, int]] = []  # per group: its least run index, its first position
    group_of: list[int] = []
    for pos, r in enumerate(runs):
        key = runner_key(r) if r.seed is not None else f"run {r.id}"
        order = float(r.run_index) if r.run_index is not None else math.inf
        if key not in keys:
            keys[key] = len(first)
            first.append((order, pos))
        g = keys[key]
        first[g] = (min(first[g][0], order), first[g][1])
        group_of.append(g)
    number = {g: i for i, g in enumerate(sorted(range(len(first)), key=first.__getitem__))}
    runner_of = [number[g] for g in group_of]
    labels = [""] * len(first)
    for r, i in zip(runs, runner_of, strict=True):
        labels[i] = labels[i] or r.summary.label or f"run {r.id}"
    return StoredRunners(list(runs), runner_of, [r.seed for r in runs], labels)


def listed_runners(runs: Sequence[StoredRun]) -> list[list[StoredRun]]:
    """``runs`` (oldest first) as ``optiscope runs list`` shows them: one entry per runner of a
    launch (its seeds, in store order), one per run elsewhere. A launch is a stretch of
    consecutive runs of one experiment whose launch indices (``run_index``) do not repeat;
    within it, the runs that :func:`group_stored` would call one runner's seeds share an entry
    when their seeds differ. Runs without an experiment, a launch index or a seed stand alone."""
    entries: list[list[StoredRun]] = []
    launch: list[StoredRun] = []

    def close() -> None:
        groups: dict[str, list[StoredRun]] = {}
        for r in launch:
            key = runner_key(r) if r.seed is not None else f"run {r.id}"
            groups.setdefault(key, []).append(r)
        for members in groups.values():
            seeds = [r.seed for r in members]
            if len(set(seeds)) == len(seeds):
                entries.append(members)
            else:  # one seed twice: not one runner's seeds
                entries.extend([r] for r in members)
        launch.clear()

    for r in runs:
        alone = not r.summary.experiment or r.run_index is None or r.seed is None
        if launch and (
            alone
            or r.summary.experiment != launch[0].summary.experiment
            or r.run_index in {x.run_index for x in launch}
        ):
            close()
        if alone:
            entries.append([r])
        else:
            launch.append(r)
    if launch:
        close()
    return sorted(entries, key=lambda e: e[0].id)


def _outcome(run: StoredRun, index: int) -> RunOutcome:
    """The run's outcome from its stored epochs (what the lessons' detector makes of them)."""
    detector = ObservationDetector()
    detector.feed(
        ev.EpochEnd(
            index,
            int(m["epoch"]),
            int(m["step"]) if math.isfinite(m["step"]) else 0,
            m["lr"],
            m["train_loss"],
            m["train_acc"],
            m["val_loss"],
            m["val_acc"],
            m["seconds"],
        )
        for m in run.metrics
    )
    found = {o.run: o for o in detector.outcomes()}
    out = found.get(index, RunOutcome(index, run.summary.label))
    out.label, out.reason = run.summary.label, run.summary.status
    return out


def stored_report(groups: StoredRunners) -> SeedReport:
    """Every runner's measures over its stored seeds and every pair's paired verdicts.

    Raises
    ------
    StoredSeedsError
        When a runner has one seed stored twice (two ``run --seeds`` of one experiment): which
        of the two counts is not for the export to choose.
    """
    from .seed_report import SeedReport
    from .seeds import MEASURES, SeedPlan, summarize_runners, verdicts

    where: dict[tuple[int, int | None], StoredRun] = {}
    for r, i, s in zip(groups.runs, groups.runner_of, groups.seed_of, strict=True):
        if (i, s) in where:
            raise StoredSeedsError(
                f"runs {where[(i, s)].id} and {r.id} are both seed {s} of runner {groups.labels[i]!r}; "
                "export one of them (or add --no-aggregates for the rows alone)"
            )
        where[(i, s)] = r
    seeds = sorted({s for s in groups.seed_of if s is not None})
    slots: list[int | None] = list(seeds) if seeds else [None]
    n = len(slots)
    outcomes: dict[int, RunOutcome] = {}
    for i in range(groups.n_runners):
        for k, s in enumerate(slots):
            found = where.get((i, s))
            if found is None and k == 0:
                found = where.get((i, None))  # a run without a seed: its runner's only one
            if found is not None:
                outcomes[i * n + k] = _outcome(found, i * n + k)
    plan = SeedPlan(
        runners=tuple(groups.runs[groups.runner_of.index(i)] for i in range(groups.n_runners)),  # type: ignore[misc]
        n_seeds=n,
        runs=[],
        runner_of=tuple(i for i in range(groups.n_runners) for _ in slots),
        seed_index_of=tuple(k for _ in range(groups.n_runners) for k in range(n)),
        seed_of=tuple(-1 if s is None else s for _ in range(groups.n_runners) for s in slots),
        names=tuple(groups.labels),
    )
    measures = list(MEASURES)
    return SeedReport(
        plan,
        measures,
        outcomes,
        summarize_runners(plan, outcomes, measures),
        verdicts(plan, outcomes, measures),
    )


def runners_csv(report: SeedReport) -> str:
    """The per-runner aggregates (:data:`RUNNER_CSV_COLUMNS`), one row per runner and measure;
    ``of`` counts the runner's stored seeds."""
    rows = []
    for s in report.runners:
        present = sum(1 for r in s.runs if r in report.outcomes)
        for m in report.measures:
            iv = s.intervals[m.name]
            rows.append(
                [
                    s.runner,
                    s.label,
                    m.name,
                    *(v if math.isfinite(v) else None for v in (iv.mean, iv.half, iv.low, iv.high)),
                    iv.n,
                    present,
                    m.text(iv),
                ]
            )
    return csv_table(RUNNER_CSV_COLUMNS, rows)


def export_summary(groups: StoredRunners, report: SeedReport) -> dict[str, Any]:
    """The export's summary JSON: each stored run's ``runner`` and ``seed``, then ``seeds``,
    ``interval``, ``better``, ``runners`` and ``verdicts`` as ``summary.json`` has them, each
    runner's ``runs`` being store ids and its ``seeds`` those stored."""
    body = report.as_dict()
    for entry in body["runners"]:
        members = groups.members(entry["runner"])
        entry["runs"] = [r.id for r in members]
        entry["seeds"] = [r.seed for r in members]
        for m in entry["measures"].values():
            m["of"] = len(members)
    body["seeds"] = max(len(groups.members(i)) for i in range(groups.n_runners)) if groups.runs else 0
    return {
        "runs": [
            {"run": r.id, "label": r.summary.label, "runner": i, "seed": s}
            for r, i, s in zip(groups.runs, groups.runner_of, groups.seed_of, strict=True)
        ],
        **body,
        "interval": stats.METHOD,
    }
