"""Seeds as an axis: every runner trained with N seeds, and what the seeds say together.

**Which runs.** An experiment's runners are :meth:`ExperimentConfig.runs` (the base, or one per
variation). With ``seeds = N`` runner ``i`` whose seed is ``s`` is trained N times, with
``training.seed = s, s + 1, …, s + N − 1`` (and, with ``seeds_vary_data``, the dataset's seed
moved by the same ``k``). Seed ``s + k`` of a multi-seed run is therefore exactly the run
``--seed s+k`` trains alone, and runners share seeds seed for seed: runner A's k-th run and
runner B's k-th run start from the same initial weights and see the same minibatch order (the
fair race). With ``independent_seeds`` runner ``i`` takes the block ``s + i·N … s + i·N + N − 1``
instead (a variation that sets its own seed keeps it as its first). Runs are listed runner by runner; run ``i·N + k`` is runner ``i``, seed ``k``.

**What they say together.** :data:`MEASURES` is the one list of what a runner is judged by
(epochs to a lesson threshold, final and best validation accuracy and loss, the train/val gap),
each with its direction. The gap has none: a gap near zero can be a runner that learned nothing
(train and validation accuracy both at chance) and a negative one (validation above training,
as dropout gives) is no better than a positive one, so it is reported (mean ± interval) but never
leads, and no verdict names a winner on it. :func:`summarize_runners` gives each runner every
measure as a mean and Student t interval over its seeds (:mod:`engine.stats`); :func:`verdicts`
compares runners pairwise, seed for seed, and names a winner only when the paired difference's
interval excludes zero. A seed that never reached a threshold has no epoch for the runner's mean (the count says
how many did); in a comparison it counts as the epochs it ran + 1 and the verdict says "at
least" (a lower bound on how much slower it was).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import stats
from .lessons import Observation, RunOutcome, Threshold, threshold_label

if TYPE_CHECKING:
    from .config import ExperimentConfig, RunConfig

__all__ = [
    "SeedPlan",
    "Measure",
    "MEASURES",
    "measures_for",
    "RunnerSummary",
    "summarize_runners",
    "verdicts",
    "leader_verdicts",
    "seed_band",
    "lesson_answer",
]


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class SeedPlan:
    """The runs an experiment trains: runner ``runner_of[r]``, seed ``seed_of[r]`` for run ``r``."""

    runners: tuple[RunConfig, ...]
    n_seeds: int
    runs: list[RunConfig]
    runner_of: tuple[int, ...]
    seed_index_of: tuple[int, ...]  # k: the runner's k-th seed
    seed_of: tuple[int, ...]  # the training seed itself
    names: tuple[str, ...] | None = None  # the runners' labels, where not their configs' (stored runs)

    @classmethod
    def of(cls, exp: ExperimentConfig) -> SeedPlan:
        runners = tuple(exp.runs())
        firsts = [cfg.training.seed for cfg in runners]
        if exp.independent_seeds and exp.seeds > 1:  # runner i: its own block of seeds
            for i, var in enumerate(exp.variations):
                training = var.get("training")
                if not (isinstance(training, dict) and "seed" in training):  # a variation's own seed stays
                    firsts[i] = exp.base.training.seed + i * exp.seeds
        return cls.expand(runners, exp.seeds, vary_data=exp.seeds_vary_data, firsts=firsts)

    @classmethod
    def expand(
        cls,
        runners: Sequence[RunConfig],
        n_seeds: int,
        *,
        vary_data: bool = False,
        firsts: Sequence[int] | None = None,
    ) -> SeedPlan:
        """Every runner ``n_seeds`` times, from its own seed (or ``firsts[i]``) up."""
        if n_seeds < 1:
            raise ValueError(f"seeds must be at least 1 (got {n_seeds})")
        runs: list[RunConfig] = []
        runner_of, k_of, seed_of = [], [], []
        for i, cfg in enumerate(runners):
            first = cfg.training.seed if firsts is None else firsts[i]
            for k in range(n_seeds):
                seed = first + k
                runs.append(
                    cfg
                    if seed == cfg.training.seed and not (vary_data and k)
                    else _with_seed(cfg, seed, k if vary_data else 0)
                )
                runner_of.append(i)
                k_of.append(k)
                seed_of.append(seed)
        return cls(tuple(runners), n_seeds, runs, tuple(runner_of), tuple(k_of), tuple(seed_of))

    def members(self, runner: int) -> list[int]:
        """The run indices of ``runner``, seed by seed."""
        return list(range(runner * self.n_seeds, (runner + 1) * self.n_seeds))

    @property
    def leads(self) -> list[int]:
        """The run index of each runner's first seed (every run when there is one seed)."""
        return [r for r, k in enumerate(self.seed_index_of) if k == 0]

    @property
    def labels(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        return [cfg.describe() for cfg in self.runners]


def _with_seed(cfg: RunConfig, seed: int, data_shift: int) -> RunConfig:
    training = cfg.training.model_copy(update={"seed": seed})
    update: dict[str, Any] = {"training": training}
    if data_shift:
        update["dataset"] = cfg.dataset.model_copy(update={"seed": cfg.dataset.seed + data_shift})
    return cfg.model_copy(update=update)


# --------------------------------------------------------------------------- measures
@dataclass(frozen=True)
class Measure:
    """One thing a runner is judged by (one column of the results, one entry of summary.json)."""

    name: str  # the key in summary.json and the CSV column stem
    header: str
    get: Callable[[RunOutcome], float]  # NaN: no value for this seed
    better: stats.Better | None  # None: a diagnostic, reported without a leader or verdicts
    words: tuple[str, str]  # how a verdict says "A beat B" in the better direction
    unit: str = ""
    fmt: str = "{:.3g}"
    scale: float = 1.0
    censored: bool = False  # epochs to a threshold: a seed may never get there

    def text(self, interval: stats.Interval) -> str:
        t = interval.text(self.fmt, self.scale)
        return f"{t} {self.unit}".rstrip() if t != "—" else t


def _threshold_measure(index: int, obs: Threshold) -> Measure:
    name = threshold_label(obs)
    return Measure(
        f"epochs_to_{obs.metric}_{obs.value:g}",
        f"Epochs to {name}",
        lambda o, i=index: math.nan if o.thresholds.get(i) is None else float(o.thresholds[i]),  # type: ignore[misc]
        "min",
        ("faster", "slower"),
        "epochs",
        "{:.1f}",
        censored=True,
    )


def _f(v: float | None) -> float:
    return math.nan if v is None else float(v)


MEASURES: tuple[Measure, ...] = (
    Measure(
        "final_val_acc",
        "Final val acc",
        lambda o: _f(o.final_val_acc),
        "max",
        ("higher", "lower"),
        "pts",
        "{:.1f}",
        100.0,
    ),
    Measure(
        "best_val_acc",
        "Best val acc",
        lambda o: _f(o.best_val_acc),
        "max",
        ("higher", "lower"),
        "pts",
        "{:.1f}",
        100.0,
    ),
    Measure(
        "final_val_loss",
        "Final val loss",
        lambda o: _f(o.final_val_loss),
        "min",
        ("lower", "higher"),
        "",
        "{:.3g}",
    ),
    Measure(
        "best_val_loss",
        "Best val loss",
        lambda o: _f(o.best_val_loss),
        "min",
        ("lower", "higher"),
        "",
        "{:.3g}",
    ),
    Measure(
        "gap_acc",
        "Gap (train − val)",
        lambda o: _f(o.gap_acc),
        None,  # no direction: see the module docstring
        ("", ""),
        "pts",
        "{:.1f}",
        100.0,
    ),
)


def measures_for(observations: Sequence[Observation] = ()) -> list[Measure]:
    """A lesson's measures: epochs to each of its thresholds first, then :data:`MEASURES`."""
    out = [_threshold_measure(i, o) for i, o in enumerate(observations) if isinstance(o, Threshold)]
    return out + list(MEASURES)


# --------------------------------------------------------------------------- aggregates
@dataclass
class RunnerSummary:
    """One runner over its seeds: every measure's mean and interval, and how many had a value."""

    runner: int
    label: str
    runs: list[int]
    seeds: list[int]
    intervals: dict[str, stats.Interval] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)  # seed by seed (NaN: none)

    def as_dict(self, measures: Sequence[Measure]) -> dict:
        return {
            "runner": self.runner,
            "label": self.label,
            "runs": self.runs,
            "seeds": self.seeds,
            "measures": {
                m.name: {
                    **self.intervals[m.name].as_dict(),
                    "of": len(self.runs),
                    "text": m.text(self.intervals[m.name]),
                }
                for m in measures
            },
        }


def summarize_runners(
    plan: SeedPlan, outcomes: Mapping[int, RunOutcome], measures: Sequence[Measure]
) -> list[RunnerSummary]:
    """Every runner's measures over its seeds (``outcomes`` by run index; a run with no outcome
    -- stopped before it started -- counts as having no value)."""
    out = []
    for i, label in enumerate(plan.labels):
        members = plan.members(i)
        s = RunnerSummary(i, label, members, [plan.seed_of[r] for r in members])
        for m in measures:
            vals = [m.get(outcomes[r]) if r in outcomes else math.nan for r in members]
            s.values[m.name] = vals
            s.intervals[m.name] = stats.mean_interval(vals)
        out.append(s)
    return out


def _paired_values(
    plan: SeedPlan, outcomes: Mapping[int, RunOutcome], m: Measure, runner: int
) -> list[float]:
    """The runner's values seed by seed, for a comparison: a threshold never reached counts as the
    epochs that seed ran + 1 (a lower bound)."""
    vals = []
    for r in plan.members(runner):
        o = outcomes.get(r)
        v = m.get(o) if o is not None else math.nan
        if m.censored and o is not None and not math.isfinite(v) and o.epochs > 0:
            v = float(o.epochs + 1)
        vals.append(v)
    return vals


def _compare(plan: SeedPlan, outcomes: Mapping[int, RunOutcome], m: Measure, a: int, b: int) -> stats.Verdict:
    assert m.better is not None, f"{m.name} has no direction: nothing to compare"
    av, bv = _paired_values(plan, outcomes, m, a), _paired_values(plan, outcomes, m, b)
    names = (plan.labels[a], plan.labels[b])
    v = stats.paired_verdict(
        av,
        bv,
        better=m.better,
        names=names,
        runners=(a, b),
        measure=m.name,
        words=m.words,
        unit=m.unit,
        fmt=m.fmt,
        scale=m.scale,
    )
    if m.censored and v.winner is not None:
        reached = [
            sum(1 for r in plan.members(x) if r in outcomes and math.isfinite(m.get(outcomes[r])))
            for x in (a, b)
        ]
        if min(reached) < plan.n_seeds:  # some seed never got there: its count is a lower bound
            text = v.text.replace(" by ", " by at least ", 1)
            missed = [
                f"{names[j]} reached it in {reached[j]} of {plan.n_seeds} seeds"
                for j in (0, 1)
                if reached[j] < plan.n_seeds
            ]
            v = stats.Verdict(v.a, v.b, v.measure, v.diff, v.winner, f"{text} ({'; '.join(missed)})")
    return v


def verdicts(
    plan: SeedPlan, outcomes: Mapping[int, RunOutcome], measures: Sequence[Measure]
) -> list[stats.Verdict]:
    """Every pair of runners on every measure with a direction, seed for seed (runner order:
    a < b); a measure without one (the gap) has no verdicts."""
    n = len(plan.runners)
    return [
        _compare(plan, outcomes, m, a, b)
        for m in measures
        if m.better is not None
        for a in range(n)
        for b in range(a + 1, n)
    ]


def leader_verdicts(
    plan: SeedPlan, outcomes: Mapping[int, RunOutcome], measure: Measure
) -> tuple[int | None, dict[int, stats.Verdict]]:
    """The results table's comparison column: the runner with the best mean on ``measure`` (the
    leader) and every other runner's paired verdict against it; a measure without a direction
    (the gap) has no leader."""
    if measure.better is None:
        return None, {}
    summary = summarize_runners(plan, outcomes, [measure])
    means = [
        (s.intervals[measure.name].mean, s.runner)
        for s in summary
        if math.isfinite(s.intervals[measure.name].mean)
    ]
    if not means:
        return None, {}
    pick = min if measure.better == "min" else max
    leader = pick(means)[1]
    return leader, {
        i: _compare(plan, outcomes, measure, leader, i) for i in range(len(plan.runners)) if i != leader
    }


def seed_band(
    curves: Sequence[Sequence[float] | np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, low, high and count per point of seed curves of any lengths (a seed that stopped
    early has no value past its end): :func:`engine.stats.band` over the curves padded with NaN."""
    if not curves:
        empty = np.zeros(0)
        return empty, empty, empty, np.zeros(0, dtype=int)
    width = max(len(c) for c in curves)
    grid = np.full((len(curves), width), np.nan)
    for k, c in enumerate(curves):
        grid[k, : len(c)] = np.asarray(c, dtype=np.float64)
    return stats.band(grid)


def lesson_answer(
    plan: SeedPlan, outcomes: Mapping[int, RunOutcome], observations: Sequence[Observation] = ()
) -> list[str]:
    """A lesson's question answered in words, on its first measure (epochs to its first
    threshold, else final validation accuracy): one line per runner, then, with more than one
    seed, every pair's paired verdict ("Adam faster than SGD by 14 ± 5 epochs" / "no clear
    difference with 20 seeds — try more"). With one seed there is no verdict to give: the last
    line says so.
    """
    measure = measures_for(observations)[0]
    n = plan.n_seeds
    lines = [f"{measure.header}" + (f", mean ± 95 % interval over {n} seeds:" if n > 1 else ":")]
    for s in summarize_runners(plan, outcomes, [measure]):
        interval = s.intervals[measure.name]
        missed = measure.censored and interval.n < n
        reached = f" ({interval.n} of {n} seed{'s' if n > 1 else ''} got there)" if missed else ""
        value = measure.text(interval)
        if n == 1 and interval.n == 1:  # one seed: the value itself (an epoch as a whole number)
            x = interval.mean * measure.scale
            shown = str(int(x)) if measure.censored and float(x).is_integer() else measure.fmt.format(x)
            value = f"{shown} {measure.unit}".rstrip()
        lines.append(f"{s.label}: {value}{reached}")
    if plan.n_seeds < 2:
        lines.append("one seed: any difference may be the draw; set seeds = N (e.g. 10) for verdicts")
        return lines
    for v in verdicts(plan, outcomes, [measure]):
        verdict = v.text if v.winner is not None else f"{plan.labels[v.a]} vs {plan.labels[v.b]}: {v.text}"
        lines.append(verdict)
    return lines
