"""The live plots' Qt-free parts alone: growing buffers, one run's data, the axis-range policy."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from optiscope.engine import events as ev
from optiscope.gui.plots.buffers import NO_EXTENT, GrowingArray, RunData, extent, merge_extents, nearest
from optiscope.gui.plots.ranges import LOSS_AXIS_CAP, nice_ceil, wanted_ranges


def test_the_data_modules_import_without_qt():
    code = (
        "import sys, optiscope.gui.plots.buffers, optiscope.gui.plots.ranges; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_growing_array_keeps_every_value_across_growth():
    buf = GrowingArray(capacity=4)
    rng = np.random.default_rng(0)
    chunks = [rng.normal(size=n) for n in (3, 1, 0, 9, 40, 2)]
    for chunk in chunks:
        buf.extend(chunk)
    np.testing.assert_array_equal(buf.view(), np.concatenate(chunks))
    assert len(buf) == 55 and len(buf.data) >= 55


def test_extent_merge_and_nearest():
    assert extent(np.array([np.nan, -2.0, 0.5, np.inf, 3.0, 0.0])) == (-2.0, 3.0, 0.5)
    assert extent(np.array([np.nan, np.inf])) == NO_EXTENT
    assert extent(np.array([-1.0, 0.0])) == (-1.0, 0.0, math.inf)  # no positive value
    assert merge_extents((0.0, 1.0, 0.5), (-1.0, 0.5, 0.1)) == (-1.0, 1.0, 0.1)
    assert merge_extents(NO_EXTENT, (2.0, 3.0, 2.0)) == (2.0, 3.0, 2.0)
    xs = np.array([1.0, 2.0, 4.0, 8.0])
    assert nearest(xs, 3.1, 1.0) == 2 and nearest(xs, 2.9, 1.0) == 1
    assert nearest(xs, 20.0, 1.0) is None and nearest(np.array([]), 1.0, 1.0) is None
    assert nearest(xs, -0.5, 2.0) == 0


def _steps(losses, lr=0.01, start=1):
    return [(start + i, lr, v) for i, v in enumerate(losses)]


def test_run_data_steps_keep_only_finite_values_and_smooth_them(reference_ema):
    run = RunData(0, beta=0.6)
    losses = [2.0, 1.5, math.inf, 1.2, math.nan, 0.9]
    rows = _steps(losses)
    rows[2] = (3, -1.0, math.inf)  # a non-positive rate cannot go on a log axis
    run.append_steps(rows[:3])
    run.append_steps(rows[3:])  # two batches: the EMA continues across them
    np.testing.assert_array_equal(run.steps.view(), [1, 2, 3, 4, 5, 6])
    assert np.isnan(run.lr.view()[2]) and np.isfinite(np.delete(run.lr.view(), 2)).all()
    assert np.isnan(run.loss.view()[[2, 4]]).all()
    np.testing.assert_allclose(run.smooth.view(), reference_ema(losses, 0.6), rtol=1e-12)
    assert run.loss_first == 2.0
    assert run.lr_ext == (0.01, 0.01, 0.01)
    run.resmooth(0.9)
    np.testing.assert_allclose(run.smooth.view(), reference_ema(losses, 0.9), rtol=1e-12)
    assert run.smooth_at(4) == pytest.approx(reference_ema(losses, 0.9)[3])
    assert run.smooth_at(99) == pytest.approx(reference_ema(losses, 0.9)[-1])  # past the end: the last


def test_run_data_markers_and_guide_lines():
    run = RunData(3, beta=0.0)
    run.start(ev.RunStarted(3, "adam", "cpu", 100, 10, 40, 4, 3, {"schedule": {"kind": "constant"}}))
    assert (run.label, run.total_steps, run.epochs_planned) == ("adam", 40, 4)
    run.append_steps(_steps([1.0 - 0.01 * i for i in range(30)], lr=0.1))
    run.append_epochs(
        [ev.EpochEnd(3, e, 10 * e, 0.1, 0.9, 0.5 + 0.1 * e, 1.0 / e, 0.4 + 0.1 * e, 0.0) for e in (1, 2, 3)]
    )
    run.drops.append(ev.LRReduced(3, 2, 20, 0.1, 0.01))
    run.early = ev.EarlyStopped(3, 3, 2, 0.5, "val_loss", True)
    assert run.best_epoch == 2
    spots = run.spots()
    assert spots["lr"] == [(20, 0.01, "t")]
    assert spots["loss"] == [(20, pytest.approx(0.81), "t"), (20.0, 0.5, "star")]  # raw = smooth at beta 0
    assert spots["accuracy"] == [(2.0, pytest.approx(0.6), "star")]  # the monitored val accuracy
    assert run.guide_lines() == {
        "loss_best": (20.0, "best: epoch 2"),
        "acc_best": (2.0, "best: epoch 2"),
        "loss_div": None,
    }
    run.append_steps([(31, math.nan, math.nan)])
    run.diverged = ev.Diverged(3, 31, 4, math.nan)
    assert (30.0, pytest.approx(0.71), "x") in run.spots()["loss"]  # the last finite point
    assert (30.0, 0.1, "x") in run.spots()["lr"]
    assert run.guide_lines()["loss_div"] == (31.0, "diverged at step 31")
    run.status = "early_stopped"
    assert run.title == "adam — early stopped"


def test_nice_ceil():
    assert [nice_ceil(v) for v in (3.3, 0.0123, 7.0, 10.0, 1e-7)] == pytest.approx([4, 0.015, 8, 10, 1e-7])
    assert nice_ceil(0.0) == 1.0 and nice_ceil(-2.0) == 1.0


def test_wanted_ranges_follow_the_plan_and_round_values():
    assert wanted_ranges([], 100, 10, log_loss=False) == {}
    run = RunData(0, beta=0.0)
    run.append_steps(_steps([1.1, 0.9, 0.7], lr=0.01))
    run.append_epochs([ev.EpochEnd(0, 1, 3, 0.01, 0.8, 0.42, 0.75, 0.83, 0.0)])
    want = wanted_ranges([run], planned_steps=100, planned_epochs=10, log_loss=False)
    assert want["x:steps"] == (0.0, 100.0)  # the planned length, not the 3 steps seen
    assert want["x:epochs"] == (1.0, 10.0)
    # lr 0.01: decades 10^-3..10^-1 around it, widened to three
    assert want["y:lr"] == (-4, -1)
    assert want["y:loss"] == (0.0, 1.2)  # 0 to the round value above 1.1
    assert want["y:accuracy"] == (0.4, 0.85)
    log = wanted_ranges([run], 100, 10, log_loss=True)["y:loss"]
    assert log == (math.floor(2 * math.log10(0.7)) / 2, math.ceil(2 * math.log10(1.1)) / 2)


def test_a_diverging_loss_is_capped_on_the_linear_axis():
    calm, wild = RunData(0, beta=0.0), RunData(1, beta=0.0)
    calm.append_steps(_steps([1.1, 1.0]))
    wild.append_steps(_steps([0.9, 10.0, 1e6]))
    want = wanted_ranges([calm, wild], 0, 0, log_loss=False)
    assert want["y:loss"] == (0.0, nice_ceil(LOSS_AXIS_CAP * 1.1))  # 3.3 -> 4, not 1e6
    assert "x:epochs" not in want and want["x:steps"] == (0.0, 3.0)  # nothing planned: what was seen
