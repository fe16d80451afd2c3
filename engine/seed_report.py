"""What a headless run's seeds say together: summary.json's seed entries and the verdict table.

:func:`seed_report` takes an experiment's trained runs (``exp.seeded_runs()`` and their
results), feeds each run's epoch events to the lessons' :class:`~engine.lessons.ObservationDetector`
(so a lesson's thresholds become "epochs to ..." measures, :func:`engine.seeds.measures_for`) and
gives every runner its measures over its seeds (:func:`engine.seeds.summarize_runners`) and every
pair of runners its paired verdict (:func:`engine.seeds.verdicts`). :meth:`SeedReport.as_dict` is
what ``summary.json`` adds; :meth:`SeedReport.table` is what ``optiscope run --seeds N`` prints.

The intervals and verdicts are :mod:`engine.stats`'s (Student t, 95 %); nothing here computes one.
Light: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import stats
from .formats import terminal_safe
from .lessons import ObservationDetector, RunOutcome
from .seeds import (
    Measure,
    RunnerSummary,
    SeedPlan,
    leader_verdicts,
    measures_for,
    summarize_runners,
    verdicts,
)

if TYPE_CHECKING:
    from .config import ExperimentConfig, RunConfig
    from .loop import RunResult

__all__ = ["SeedReport", "plan_for", "run_outcomes", "seed_report", "ALL_PAIRS_UP_TO"]

#: the printed table lists every pair of runners up to this many runners; with more, each
#: runner against the measure's leader (summary.json always holds every pair)
ALL_PAIRS_UP_TO = 4


def plan_for(experiment: ExperimentConfig, runs: Sequence[RunConfig]) -> SeedPlan:
    """Which runner and seed each of ``runs`` is: the experiment's own plan when ``runs`` are its
    seeded runs, else every run its own runner with one seed (its config's)."""
    plan = SeedPlan.of(experiment)
    if len(plan.runs) == len(runs) and all(a == b for a, b in zip(plan.runs, runs, strict=True)):
        return plan
    return SeedPlan.expand(list(runs), 1)


def run_outcomes(results: Sequence[RunResult], observations: Sequence = ()) -> dict[int, RunOutcome]:
    """Each run's outcome by run id (its index in the runs: :func:`engine.runner.execute` numbers
    them from 0): the detector fed the run's epoch events (a run that never finished an epoch has
    none, and counts as having no value)."""
    detector = ObservationDetector(observations)
    by_id = {r.run: r for r in results}
    for r in results:
        detector.feed(r.epochs)
    out: dict[int, RunOutcome] = {}
    for o in detector.outcomes():
        o.reason, o.label = by_id[o.run].reason, by_id[o.run].label
        out[o.run] = o
    return out


@dataclass
class SeedReport:
    """Every runner's measures over its seeds and every pair's paired verdicts."""

    plan: SeedPlan
    measures: list[Measure]
    outcomes: dict[int, RunOutcome]
    runners: list[RunnerSummary]
    verdicts: list[stats.Verdict]

    @property
    def n_seeds(self) -> int:
        return self.plan.n_seeds

    def as_dict(self) -> dict:
        """summary.json's ``seeds``, ``interval``, ``better``, ``runners`` and ``verdicts``."""
        return {
            "seeds": self.n_seeds,
            "interval": stats.METHOD,
            # which way each measure is better ("min"/"max"); null: none (the gap), no verdicts
            "better": {m.name: m.better for m in self.measures},
            "runners": [s.as_dict(self.measures) for s in self.runners],
            "verdicts": [v.as_dict() for v in self.verdicts],
        }

    def _cell(self, s: RunnerSummary, m: Measure) -> str:
        interval = s.intervals[m.name]
        text = m.text(interval)
        if m.censored and interval.n < len(s.runs):  # some seeds never got there
            text += f" ({interval.n}/{len(s.runs)} reached)"
        return text

    def table(self) -> str:
        """The verdict table ``optiscope run --seeds N`` prints: each runner's measures as mean ±
        half the 95 % interval, then the paired verdicts (every pair with up to
        :data:`ALL_PAIRS_UP_TO` runners, else each runner against the measure's leader)."""
        plan = self.plan
        seeds = sorted(set(plan.seed_of))
        span = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
        lines = [
            f"{self.n_seeds} seed{'s' if self.n_seeds != 1 else ''} per runner ({span}); "
            f"each cell: mean ± half-width of its interval ({stats.METHOD})"
        ]
        labels = [terminal_safe(s.label) for s in self.runners]
        header = ["runner", *(m.header for m in self.measures)]
        body = [
            [label, *(self._cell(s, m) for m in self.measures)]
            for label, s in zip(labels, self.runners, strict=True)
        ]
        widths = [max(len(row[j]) for row in [header, *body]) for j in range(len(header))]
        for row in [header, *body]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        n = len(self.runners)
        if n < 2:
            return "\n".join(lines)
        pairs = n <= ALL_PAIRS_UP_TO
        lines.append(
            "verdicts (paired, seed for seed; a winner only where the difference's interval excludes 0)"
            + (
                ""
                if pairs
                else f"; each runner against the leader, all {n * (n - 1) // 2} pairs in summary.json"
            )
            + ":"
        )
        for m in self.measures:
            if m.better is None:
                lines.append(
                    f"  {m.header}: no verdict (neither way is better: near 0 may mean nothing was learned)"
                )
                continue
            if pairs:
                found = [v for v in self.verdicts if v.measure == m.name]
            else:
                _, against = leader_verdicts(plan, self.outcomes, m)
                found = [against[i] for i in sorted(against)]
            if not found:
                continue
            lines.append(f"  {m.header}:")
            for v in found:
                lines.append(f"    {self._verdict_text(v)}")
        return "\n".join(lines)

    def _verdict_text(self, v: stats.Verdict) -> str:
        a, b = self.plan.labels[v.a], self.plan.labels[v.b]
        text = v.text if v.winner is not None or v.text.startswith(f"{a} vs {b}") else f"{a} vs {b}: {v.text}"
        return terminal_safe(text)


def seed_report(
    experiment: ExperimentConfig,
    runs: Sequence[RunConfig],
    results: Sequence[RunResult],
    *,
    plan: SeedPlan | None = None,
    outcomes: Mapping[int, RunOutcome] | None = None,
) -> SeedReport:
    """The seeds of ``runs`` (trained as ``results``, in run order) summed up: the experiment's
    lesson thresholds and :data:`engine.seeds.MEASURES` for every runner, and all pairwise verdicts."""
    plan = plan if plan is not None else plan_for(experiment, runs)
    observations = experiment.classroom.observe if experiment.classroom is not None else ()
    measures = measures_for(observations)
    found = dict(outcomes) if outcomes is not None else run_outcomes(results, observations)
    return SeedReport(
        plan,
        measures,
        found,
        summarize_runners(plan, found, measures),
        verdicts(plan, found, measures),
    )
