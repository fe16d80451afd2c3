"""A live run's batches are drawn a few runs per event-loop turn (``add_events(paced=True)``):
a big batch spreads over several turns and every update of it reaches the curves, in order;
the batch where the last run ended, ``flush()`` and the window's ``flush_plots`` draw
everything at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optiscope.engine import events as ev
from optiscope.gui.plots import LivePlots, live, slices
from PySide6 import QtCore

RUNS, EPOCHS, SPE = 24, 4, 50


def _race(runs: int = RUNS) -> tuple[list[ev.Event], dict[int, np.ndarray]]:
    """Every run's start and its updates in one block per epoch (as the engine sends them),
    epoch ends, no finish; and each run's losses."""
    rng = np.random.default_rng(7)
    events: list[ev.Event] = []
    losses = {}
    for run in range(runs):
        events.append(ev.RunStarted(run, f"run {run}", "cpu", 100, SPE, SPE * EPOCHS, EPOCHS, 3, {}))
        losses[run] = 2.0 * np.exp(-np.arange(SPE * EPOCHS) / (40.0 + run)) + 0.05 * rng.random(SPE * EPOCHS)
    for e in range(1, EPOCHS + 1):
        steps = np.arange((e - 1) * SPE + 1, e * SPE + 1)
        for run in range(runs):
            events.append(ev.Steps.of(run, steps, e, 0.01 * (run + 1), losses[run][steps - 1]))
            events.append(ev.EpochEnd(run, e, e * SPE, 0.01, 0.5, 0.6, 0.7 / e, 0.55, 0.01))
    return events, losses


@pytest.fixture
def plots(qtbot):
    w = LivePlots()
    qtbot.addWidget(w)
    w.resize(1280, 720)
    w.show()
    qtbot.waitExposed(w)
    return w


def _assert_all_drawn(plots: LivePlots, losses: dict[int, np.ndarray]) -> None:
    beta = plots.smoothing
    for run, loss in losses.items():
        series = plots.shown.series(run)
        x, raw = series["raw"]
        np.testing.assert_array_equal(x, np.arange(1, len(loss) + 1))  # every update, in order
        np.testing.assert_array_equal(raw, loss)
        _, lr = series["lr"]
        np.testing.assert_allclose(lr, 0.01 * (run + 1), rtol=0)
        # the smoothed curve: the debiased EMA, as pandas' adjusted ewm computes it
        reference = pd.Series(loss).ewm(alpha=1 - beta, adjust=True).mean().to_numpy()
        np.testing.assert_allclose(series["smooth"][1], reference, rtol=1e-10)
        _, val = series["val_loss"]
        np.testing.assert_allclose(val, [0.7 / e for e in range(1, EPOCHS + 1)])


def test_a_big_paced_batch_is_drawn_over_several_turns_and_all_of_it_arrives(plots, qtbot, monkeypatch):
    monkeypatch.setattr(slices, "TURN_BUDGET_S", 0.0)  # one run per turn
    events, losses = _race()
    half = len(events) // 2
    plots.add_events(events[:half], paced=True)
    assert plots.pending_runs == RUNS  # nothing drawn in this turn: the next turns draw it
    QtCore.QCoreApplication.processEvents()
    assert plots.pending_runs == RUNS - 1  # a turn with no time to spare draws one run
    turns = [plots.pending_runs]
    plots.add_events(events[half:], paced=True)  # a later batch queues behind, per run
    assert plots.pending_runs == RUNS  # the backlog holds one entry per run, however many batches
    while plots.pending_runs:
        QtCore.QCoreApplication.processEvents()
        turns.append(plots.pending_runs)
    assert len(set(turns)) > 5  # drawn over many turns, not in one
    _assert_all_drawn(plots, losses)


def test_a_small_paced_batch_is_drawn_at_once(plots):
    events, losses = _race(live.PACED_MIN_RUNS)
    plots.add_events(events, paced=True)
    assert plots.pending_runs == 0
    _assert_all_drawn(plots, losses)


def test_the_last_runs_finish_and_flush_draw_everything_at_once(plots, monkeypatch):
    monkeypatch.setattr(slices, "TURN_BUDGET_S", 0.0)
    events, losses = _race()
    plots.add_events(events, paced=True)
    assert plots.pending_runs > 0
    plots.flush()  # exports, tests, the window's flush_plots
    assert plots.pending_runs == 0
    _assert_all_drawn(plots, losses)

    plots.clear()
    events, losses = _race()
    plots.add_events(events, paced=True)
    assert plots.pending_runs > 0
    plots.add_events(
        [ev.Finished(run, "completed", EPOCHS, EPOCHS * SPE, 1.0) for run in range(RUNS)], paced=True
    )
    assert plots.pending_runs == 0  # the batch where the last run ended: all of it, now
    _assert_all_drawn(plots, losses)


def test_clear_drops_the_backlog_of_the_last_experiment(plots, monkeypatch):
    monkeypatch.setattr(slices, "TURN_BUDGET_S", 0.0)
    events, _ = _race(8)
    plots.add_events(events, paced=True)
    assert plots.pending_runs == 8
    plots.clear()
    assert plots.pending_runs == 0
    QtCore.QCoreApplication.processEvents()
    assert not plots.frame.runs


def test_the_windows_flush_plots_draws_what_paced_drawing_left(qtbot, make_window, monkeypatch):
    monkeypatch.setattr(slices, "TURN_BUDGET_S", 0.0)
    w = make_window()
    events, losses = _race(6)
    w.plots.add_events(events, paced=True)
    assert w.plots.pending_runs == 6
    w.flush_plots()
    assert w.plots.pending_runs == 0
    _assert_all_drawn(w.plots, losses)


def test_runners_curves_are_made_while_batches_keep_coming(qtbot, monkeypatch):
    """A race of many seeds whose batches never stop coming: the runners' plot items and
    bands take their turns with the data (none waits for the run's end)."""
    from test_seed_bands import race_plan

    monkeypatch.setattr(slices, "TURN_BUDGET_S", 0.0)  # the least a turn does: one unit
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 720)
    plots.show()
    plan = race_plan(runners=4, seeds=4)
    plots.set_seed_plan(plan)
    runs = range(len(plan.runs))
    plots.add_events(
        [ev.RunStarted(r, plan.labels[plan.runner_of[r]], "cpu", 100, 10, 10_000, 1000, 3, {}) for r in runs],
        paced=True,
    )
    frame, step = plots.frame, 0
    leads = [plan.members(runner)[0] for runner in range(4)]

    def drawn() -> bool:  # every runner's mean loss curve has data
        return all(
            "overlay:loss" in frame.runs[r].items
            and plots.shown.part("loss").items(frame.runs[r])["mean:smooth"].getOriginalDataset()[0]
            is not None
            for r in leads
        )

    for _ in range(300):  # a batch every turn: the runs' data always waits
        step += 10
        batch = [ev.Steps.of(r, np.arange(step - 9, step + 1), 1, 0.1, 1.0 / step) for r in runs]
        plots.add_events(batch, paced=True)
        assert plots.pending_runs == len(runs)
        QtCore.QCoreApplication.processEvents()
        if not frame.items_due and drawn():
            break
    # every runner's items made and its mean curve drawn while the data kept coming
    assert not frame.items_due and drawn()
    plots.clear()
