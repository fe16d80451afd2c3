"""Seeds as an axis: the plan, the intervals (against scipy.stats) and the verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from optiscope.engine import events as ev
from optiscope.engine import runner, seeds, stats
from optiscope.engine.config import ExperimentConfig
from optiscope.engine.lessons import ObservationDetector, RunOutcome, Threshold
from optiscope.engine.trainer import train
from pydantic import ValidationError

SAMPLES = [
    [0.71, 0.74, 0.69, 0.80, 0.77],
    [12.0, 9.0, 15.0, 11.0, 10.0, 13.0, 14.0, 8.0, 9.5, 12.5],
    [1e-3, 2e-3],
    list(np.random.default_rng(7).normal(3.0, 2.0, size=40)),
]


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_interval_is_scipy_t_interval(sample, level):
    x = np.asarray(sample)
    got = stats.mean_interval(x, level)
    lo, hi = scipy.stats.t.interval(level, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    assert got.n == len(x)
    assert got.mean == pytest.approx(x.mean(), rel=0, abs=1e-12)
    assert abs(got.low - lo) <= 1e-9 * max(1.0, abs(lo))
    assert abs(got.high - hi) <= 1e-9 * max(1.0, abs(hi))


def test_interval_edges():
    one = stats.mean_interval([4.0])
    assert one.n == 1 and one.mean == 4.0 and math.isnan(one.low) and one.text() == "4 (1 seed)"
    none = stats.mean_interval([math.nan, math.inf])
    assert none.n == 0 and none.text() == "—"
    # non-finite values (a seed with no value) are left out, not averaged
    assert stats.mean_interval([1.0, math.nan, 3.0]).mean == 2.0
    with pytest.raises(ValueError, match="fraction"):
        stats.mean_interval([1.0, 2.0], level=95)


def test_band_matches_per_column_scipy():
    rng = np.random.default_rng(3)
    curves = rng.normal(size=(6, 9))
    curves[4, 6:] = np.nan  # a seed that stopped at point 6
    curves[5, 3:] = np.nan
    mean, low, high, n = stats.band(curves)
    for j in range(9):
        col = curves[:, j][np.isfinite(curves[:, j])]
        lo, hi = scipy.stats.t.interval(0.95, len(col) - 1, loc=col.mean(), scale=scipy.stats.sem(col))
        assert n[j] == len(col)
        assert mean[j] == pytest.approx(col.mean(), abs=1e-12)
        assert low[j] == pytest.approx(lo, abs=1e-9) and high[j] == pytest.approx(hi, abs=1e-9)


def test_paired_verdict_against_scipy_paired_t():
    a = np.array([7.0, 8.0, 6.0, 9.0, 7.0, 8.0, 7.0, 6.0, 8.0, 7.0])
    b = a + np.array([14.0, 12.0, 17.0, 13.0, 15.0, 16.0, 12.0, 14.0, 15.0, 13.0])
    v = stats.paired_verdict(
        a, b, better="min", names=("Adam", "SGD"), words=("faster", "slower"), unit="epochs"
    )
    d = a - b
    lo, hi = scipy.stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy.stats.sem(d))
    assert v.diff.low == pytest.approx(lo, abs=1e-9) and v.diff.high == pytest.approx(hi, abs=1e-9)
    # scipy's paired t-test agrees that the difference is significant at 5 %
    assert scipy.stats.ttest_rel(a, b).pvalue < 0.05
    assert v.winner == 0
    assert v.text.startswith("Adam faster than SGD by 14.1 ± ") and v.text.endswith("epochs")


def test_no_clear_difference_when_interval_straddles_zero():
    a = [0.80, 0.70, 0.90, 0.75, 0.85]
    b = [0.78, 0.74, 0.86, 0.79, 0.83]
    v = stats.paired_verdict(a, b, better="max", names=("A", "B"))
    assert scipy.stats.ttest_rel(a, b).pvalue > 0.05  # the independent check: not significant
    assert v.winner is None and v.text == "no clear difference with 5 seeds — try more"


def test_plan_runs_seed_by_seed():
    exp = ExperimentConfig.model_validate(
        {
            "base": {"training": {"seed": 5, "epochs": 2}},
            "variations": [{"label": "a"}, {"label": "b", "optimizer": {"kind": "adam", "lr": 0.01}}],
            "seeds": 3,
        }
    )
    plan = seeds.SeedPlan.of(exp)
    assert [c.training.seed for c in plan.runs] == [5, 6, 7, 5, 6, 7]
    assert plan.runner_of == (0, 0, 0, 1, 1, 1)
    assert plan.members(1) == [3, 4, 5]
    assert [c.label for c in plan.runs] == ["a"] * 3 + ["b"] * 3
    assert exp.seeded_runs() == plan.runs
    # the data split stays unless asked
    assert {c.dataset.seed for c in plan.runs} == {exp.base.dataset.seed}
    vary = seeds.SeedPlan.of(exp.model_copy(update={"seeds_vary_data": True}))
    assert [c.dataset.seed - exp.base.dataset.seed for c in vary.runs] == [0, 1, 2, 0, 1, 2]
    ind = seeds.SeedPlan.of(exp.model_copy(update={"independent_seeds": True}))
    assert [c.training.seed for c in ind.runs] == [5, 6, 7, 8, 9, 10]


def test_seed_count_limits_are_clear_errors():
    with pytest.raises(ValidationError, match="seeds"):
        ExperimentConfig.model_validate({"seeds": 0})
    big = {"variations": [{"label": str(i)} for i in range(20)], "seeds": 100}
    with pytest.raises(ValidationError, match="use fewer seeds"):
        ExperimentConfig.model_validate(big)


def _outcomes(events: list[ev.Event], observations=()) -> dict[int, RunOutcome]:
    det = ObservationDetector(observations)
    det.feed(events)
    return {o.run: o for o in det.outcomes()}


def test_aggregate_equals_mean_of_seeds_trained_alone():
    """The issue's bar: a 10-seed run's aggregate equals the mean of the same 10 seeds trained one
    by one (``--seed s``) to 1e-6, on the batched path the multi-seed run takes."""
    exp = ExperimentConfig.model_validate(
        {
            "base": {
                "training": {"seed": 11, "epochs": 3, "batch_size": 64},
                "model": {"layers": [{"type": "dense", "units": 8}]},
            },
            "variations": [{"label": "sgd"}, {"label": "adam", "optimizer": {"kind": "adam", "lr": 0.01}}],
            "seeds": 10,
        }
    )
    plan = seeds.SeedPlan.of(exp)
    bus = ev.EventBus()
    got: list[ev.Event] = []
    bus.subscribe(got.append)
    results = runner.execute(plan.runs, bus=bus)
    assert len(results) == 20
    obs = [Threshold(metric="val_acc", value=0.5)]
    summary = seeds.summarize_runners(plan, _outcomes(got, obs), seeds.measures_for(obs))
    for i, cfg in enumerate(exp.runs()[1:], start=1):  # adam: batched with sgd, its rows in the middle
        alone = []
        for s in range(11, 21):
            one = train(cfg.model_copy(update={"training": cfg.training.model_copy(update={"seed": s})}))
            alone.append(one.final)
        for name, attr in (("final_val_acc", "val_acc"), ("final_val_loss", "val_loss")):
            want = np.mean([getattr(e, attr) for e in alone])
            assert summary[i].intervals[name].mean == pytest.approx(want, abs=1e-6)
            assert summary[i].intervals[name].n == 10


def test_censored_threshold_verdict_says_at_least():
    plan = seeds.SeedPlan.expand(
        [ExperimentConfig().base.model_copy(update={"label": name}) for name in "AB"], 4
    )
    obs = [Threshold(metric="val_acc", value=0.9)]
    m = seeds.measures_for(obs)[0]
    outcomes = {}
    for r, ep in enumerate([3, 4, 3, 4, None, None, None, 30]):
        o = RunOutcome(r, "x", epochs=40 if ep is None else ep)
        o.thresholds = {0: ep}
        outcomes[r] = o
    s = seeds.summarize_runners(plan, outcomes, [m])
    assert s[0].intervals[m.name].mean == 3.5 and s[1].intervals[m.name].n == 1  # B reached it once
    (v,) = seeds.verdicts(plan, outcomes, [m])
    assert v.winner == 0
    assert "A faster than B by at least" in v.text and "B reached it in 1 of 4 seeds" in v.text


def test_gap_has_no_leader_and_no_verdict():
    """A negative train − val gap (validation above training) must not "lead": the gap is reported
    as mean ± interval (scipy's t interval) but no direction is better, so neither the leader
    column, the pairwise verdicts, the printed table nor summary.json names a winner on it."""
    from optiscope.engine.seed_report import SeedReport

    plan = seeds.SeedPlan.expand(
        [ExperimentConfig().base.model_copy(update={"label": name}) for name in ("neg", "pos", "zero")], 4
    )
    gaps = {"neg": [-0.10, -0.12, -0.09, -0.11], "pos": [0.02, 0.03, 0.01, 0.02], "zero": [0.0] * 4}
    outcomes = {}
    for i, name in enumerate(gaps):
        for k, g in enumerate(gaps[name]):
            r = i * 4 + k
            outcomes[r] = RunOutcome(r, name, epochs=5, reason="completed", final_val_acc=0.8, gap_acc=g)
    gap = next(m for m in seeds.MEASURES if m.name == "gap_acc")
    assert seeds.leader_verdicts(plan, outcomes, gap) == (None, {})
    assert [v for v in seeds.verdicts(plan, outcomes, seeds.MEASURES) if v.measure == "gap_acc"] == []
    summary = seeds.summarize_runners(plan, outcomes, [gap])
    want = scipy.stats.t.interval(0.95, 3, loc=np.mean(gaps["neg"]), scale=scipy.stats.sem(gaps["neg"]))
    assert (summary[0].intervals["gap_acc"].low, summary[0].intervals["gap_acc"].high) == pytest.approx(
        want, abs=1e-9
    )
    measures = list(seeds.MEASURES)
    report = SeedReport(
        plan,
        measures,
        outcomes,
        seeds.summarize_runners(plan, outcomes, measures),
        seeds.verdicts(plan, outcomes, measures),
    )
    d = report.as_dict()
    assert d["better"]["gap_acc"] is None and d["better"]["final_val_acc"] == "max"
    assert not any(v["measure"] == "gap_acc" for v in d["verdicts"])
    table = report.table()
    gap_lines = table.split("Gap (train − val):", 1)[1].splitlines()
    assert gap_lines[0].strip().startswith("no verdict")
    assert "smaller than" not in table and "neg" not in gap_lines[0]
