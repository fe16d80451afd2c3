"""A seeded runner's lesson captions: the seeds' mean ± scipy's t interval, placed on the mean
curve (numpy's mean over the seeds, epoch by epoch), never one seed's numbers at its own point."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from optiscope.engine import events as ev
from optiscope.engine.config import ExperimentConfig
from optiscope.engine.lessons import BestEpoch, Gap, ObservationDetector, Threshold
from optiscope.engine.seed_captions import runner_moments, seeded_moments
from optiscope.engine.seeds import SeedPlan

SPE = 10  # updates per epoch
# val_acc per epoch of runner 0's four seeds (runner 1: a constant 0.3, never reaches 0.6)
ACC = np.array(
    [
        [0.40, 0.55, 0.62, 0.70, 0.68],
        [0.35, 0.50, 0.58, 0.64, 0.71],
        [0.45, 0.61, 0.66, 0.69, 0.66],
        [0.30, 0.45, 0.52, 0.57, 0.61],
    ]
)
TRAIN = ACC + np.array([0.01, 0.03, -0.02, 0.05])[:, None]


def _half(x):
    x = np.asarray(x, dtype=float)
    low, high = scipy.stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    return (high - low) / 2


def _events(plan: SeedPlan) -> list[ev.Event]:
    out: list[ev.Event] = []
    for r in range(len(plan.runner_of)):
        k, runner = plan.seed_index_of[r], plan.runner_of[r]
        for j in range(ACC.shape[1]):
            acc = ACC[k, j] if runner == 0 else 0.3
            train = TRAIN[k, j] if runner == 0 else 0.3
            out.append(ev.EpochEnd(r, j + 1, (j + 1) * SPE, 0.01, 1 - train, train, 1 - acc, acc, 0.1))
        out.append(ev.Finished(r, "completed", ACC.shape[1], ACC.shape[1] * SPE, 0.5))
    return out


@pytest.fixture
def seeded():
    runners = [ExperimentConfig().base.model_copy(update={"label": n}) for n in ("A", "B")]
    plan = SeedPlan.expand(runners, 4)
    obs = [Threshold(metric="val_acc", value=0.6), BestEpoch(metric="val_acc"), Gap(metric="acc")]
    det = ObservationDetector(obs)
    det.feed(_events(plan))
    return plan, det


def test_captions_state_the_mean_and_interval_and_sit_on_the_mean_curve(seeded):
    plan, det = seeded
    moments = runner_moments(plan, det, 0)
    assert [m.kind for m in moments] == ["threshold", "best_epoch", "gap"]
    assert {m.run for m in moments} == {0}  # the runner's colour: its first seed's id
    epochs = np.arange(1, ACC.shape[1] + 1)
    mean_curve = ACC.mean(axis=0)
    # threshold: the first epoch at or over 60 % per seed, by the textbook
    reached = [int(epochs[np.argmax(row >= 0.6)]) for row in ACC]
    m = moments[0]
    assert m.caption == f"≥ 60 % at epoch {np.mean(reached):.1f} ± {_half(reached):.1f}"
    assert m.x == pytest.approx(np.mean(reached))
    assert m.y == pytest.approx(np.interp(np.mean(reached), epochs, mean_curve))  # on the mean curve
    # best epoch: each seed's best validation accuracy and its epoch
    best = ACC.max(axis=1)
    at = [int(epochs[np.argmax(row)]) for row in ACC]
    m = moments[1]
    assert m.caption == (
        f"best {100 * best.mean():.1f} ± {100 * _half(best):.1f} % (epoch {np.mean(at):.1f} ± {_half(at):.1f})"
    )
    assert m.y == pytest.approx(np.interp(np.mean(at), epochs, mean_curve))
    assert m.y != pytest.approx(ACC[0].max())  # not seed 0's point
    # gap: train − val at the last epoch, at the mean curve's end
    gap = TRAIN[:, -1] - ACC[:, -1]
    m = moments[2]
    assert m.caption == f"gap {100 * gap.mean():+.1f} ± {100 * _half(gap):.1f} points"
    assert (m.x, m.y) == pytest.approx((epochs[-1], mean_curve[-1]))


def test_a_threshold_few_seeds_reach_says_how_many_and_none_is_no_caption(seeded):
    plan, det = seeded
    assert [m.kind for m in runner_moments(plan, det, 1)] == ["best_epoch", "gap"]  # B never reached it
    # only seeds 0 and 2 reach 68 %
    det2 = ObservationDetector([Threshold(metric="val_acc", value=0.68)])
    det2.feed(_events(plan))
    (m,) = runner_moments(plan, det2, 0)
    reached = [5, 4, 4]  # seeds 0, 1, 2 (seed 3 peaks at 61 %)
    assert m.caption == f"≥ 68 % at epoch {np.mean(reached):.1f} ± {_half(reached):.1f} (3/4 seeds)"


def test_captions_wait_for_every_seed_of_the_runner(seeded):
    plan, _ = seeded
    det = ObservationDetector([Threshold(metric="val_acc", value=0.6)])
    events = _events(plan)
    first_three = [e for e in events if e.run < 3]
    det.feed(first_three)
    done: set[int] = set()
    assert seeded_moments(plan, det, done, [0, 1, 2]) == []  # seed 3 of runner A still training
    det.feed([e for e in events if e.run == 3])
    (m,) = seeded_moments(plan, det, done, [3])
    assert m.run == 0 and "±" in m.caption and done == {0}
    assert seeded_moments(plan, det, done, [3]) == []  # once per runner
    assert not math.isnan(m.y)


def test_lr_drops_and_divergences_are_stated_over_the_seeds():
    """First LR drop: the seeds' mean epoch ± t interval, on the mean LR curve; divergence: how
    many seeds diverged and their mean update."""
    from optiscope.engine.lessons import Divergence, LRDrop

    plan = SeedPlan.expand([ExperimentConfig().base.model_copy(update={"label": "A"})], 3)
    det = ObservationDetector([LRDrop(), Divergence()])
    drops = {0: 2, 1: 3, 2: 3}  # epoch of each seed's first drop
    events: list[ev.Event] = []
    for r in range(3):
        lr = 0.1
        for j in range(1, 5):
            events.append(ev.EpochEnd(r, j, j * SPE, lr, 0.5, 0.8, 0.6, 0.7, 0.1))
            if j == drops[r]:
                events.append(ev.LRReduced(r, j, j * SPE, lr, lr / 10))
                lr /= 10
        if r == 2:
            events.append(ev.Diverged(r, 4 * SPE + 3, 5, math.inf))
        events.append(ev.Finished(r, "diverged" if r == 2 else "completed", 4, 4 * SPE, 0.4))
    det.feed(events)
    drop, div = runner_moments(plan, det, 0)
    first = list(drops.values())
    assert drop.caption == f"first LR drop at epoch {np.mean(first):.1f} ± {_half(first):.1f}"
    assert drop.plot == "lr" and drop.x == pytest.approx(np.mean([d * SPE for d in first]))
    lr_mean = np.mean([[0.1 if j <= d else 0.01 for j in range(1, 5)] for d in first], axis=0)  # EpochEnd lr
    assert drop.y == pytest.approx(np.interp(drop.x, np.arange(1, 5) * SPE, lr_mean))
    assert div.caption == f"diverged in 1 of 3 seeds (update {4 * SPE + 3})"
