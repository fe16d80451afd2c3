"""Curves that hide each other (lr-sweep's 1e-6 and 1e-7, l1-vs-l2's penalties, the optimizer
race's adaptive methods): the legend says "overlaps ..." and points to the small multiples."""

from __future__ import annotations

import numpy as np
import pytest
from optiscope.engine.presets import get_preset
from optiscope.gui.plots import overlap


def test_close_pairs_finds_curves_that_hide_each_other():
    x = np.arange(100.0)
    base = np.exp(-x / 30)
    rng = np.random.default_rng(0)
    curves = {
        0: (x, base),
        1: (x, base + 0.004),  # under the tolerance: on top of run 0
        2: (x, base + 0.2),  # far above
        3: (x[10:], base[10:] + 0.2 + 0.001),  # on top of run 2 where they share x
    }
    assert overlap.close_pairs(curves, tol=0.01) == {1: 0, 3: 2}
    assert overlap.close_pairs(curves, tol=0.001) == {}
    # two noisy curves around one level tangle (each point apart by more than the tolerance)
    noisy = {0: (x, 0.9 + 0.02 * rng.standard_normal(100)), 1: (x, 0.9 + 0.02 * rng.standard_normal(100))}
    assert overlap.close_pairs(noisy, tol=0.001) == {1: 0}
    # a smooth curve beside a noisy one is seen: not paired
    smooth = {0: (x, np.full(100, 0.8)), 1: (x, 0.9 + 0.02 * rng.standard_normal(100))}
    assert overlap.close_pairs(smooth, tol=0.001) == {}
    # the closest earlier run is named
    near = {0: (x, base + 0.006), 1: (x, base + 0.003), 2: (x, base)}
    assert overlap.close_pairs(near, tol=0.01)[2] == 1


def _gap_px(plots, name, a, b, key):
    """The median distance on screen (pixels) between runs a and b's ``key`` curves."""
    part = plots.shown.part(name)
    (xa, ya), (xb, yb) = plots.shown.series(a)[key], plots.shown.series(b)[key]
    low, high = part.plot.viewRange()[1]
    grid = np.linspace(max(xa[0], xb[0]), min(xa[-1], xb[-1]), 200)
    gap = np.abs(np.interp(grid, xa, ya) - np.interp(grid, xb, yb))
    return float(np.median(gap) / (high - low) * part.plot.vb.height())


@pytest.mark.parametrize(
    ("lesson", "epochs", "hidden"),
    [
        ("lr-sweep", 20, [("lr=1e-7", "lr=1e-6")]),
        ("l1-vs-l2", 30, [("L2 1e-3", "no penalty")]),
        ("optimizer-race", 10, [("Nesterov 0.9", "Momentum 0.9")]),
    ],
)
def test_hidden_curves_are_named_and_the_legend_points_to_small_multiples(
    qtbot, make_window, lesson, epochs, hidden
):
    w = make_window()
    w.classroom.set_presentation(True)
    try:
        w.showNormal()
        w.resize(1280, 720)
        qtbot.waitUntil(lambda: (w.width(), w.height()) == (1280, 720))
        exp = get_preset(lesson).with_overrides(epochs=epochs)
        w.settings.set_lesson_pace(exp.name, 0)
        w.set_experiment(exp)
        with qtbot.waitSignal(w.run_finished, timeout=180_000):
            assert w.run()
        w.flush_plots()
        plots = w.plots
        qtbot.wait(50)
        ids = {r.label: r.id for r in plots.frame.runs.values()}
        for run, under in hidden:
            # on screen the two curves lie within a line's width of each other (the premise)
            gaps = [
                _gap_px(plots, n, ids[run], ids[under], k)
                for n, k in (("loss", "smooth"), ("accuracy", "acc_val"))
            ]
            assert min(gaps) < 4.5, gaps
            # the legend names the run it hides under (its hover text has every note whole)
            assert f"overlaps {under}" in plots.frame.legend.toolTip().split(run, 1)[1].split("\n")[0], run
        lines = plots.shown.legend_lines()
        assert any("Ctrl+2" in line for line in lines), lines  # the hint is on screen
        from optiscope.gui.plots.legend import PRESENTING_LINES

        assert len(lines) <= PRESENTING_LINES, lines
        plots.frame.legend.hint_clicked.emit()  # what a click on the hint does
        assert plots.mode == "grid" and w.acts["grid"].isChecked()
        assert not any("Ctrl+2" in line for line in plots.shown.legend_lines())
    finally:
        w.classroom.set_presentation(False)
