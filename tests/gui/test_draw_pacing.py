"""What keeps the window responsive while many seeded runs draw: the imports' objects are left
out of garbage collection, the results table follows a burst of batches once, a runner's bands
are redrawn only for the curves that changed, and a band's fill is pyqtgraph's FillBetweenItem
region built in one step."""

from __future__ import annotations

import gc

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui import pg_adapter
from optiscope.gui.plots import LivePlots
from test_seed_bands import race_plan, seed_events


def test_engine_objects_are_frozen_while_the_window_lives(qtbot, make_window):
    import torch

    w = make_window()
    module_function = torch.nn.functional.relu  # never garbage: no collection should walk it
    assert not any(o is module_function for o in gc.get_objects())
    w.close()  # the window's own objects must be collectable once it is gone
    assert any(o is module_function for o in gc.get_objects())


def _lesson_events(run: int, label: str, epochs: int) -> list:
    out: list = [ev.RunStarted(run, label, "cpu", 100, 4, 4 * epochs, epochs, 3, {})]
    for e in range(1, epochs + 1):
        out.append(ev.EpochEnd(run, e, 4 * e, 0.01, 1.0 / e, 0.5 + 0.05 * e, 1.1 / e, 0.45 + 0.05 * e, 0.01))
    return out


def test_results_table_follows_a_burst_of_batches_once(qtbot, make_window):
    from test_classroom import short_lesson

    w = make_window()
    w.set_experiment(short_lesson())
    table = w.classroom.table
    shown = []
    original = table.show_outcomes
    table.show_outcomes = lambda outcomes: (shown.append(len(outcomes)), original(outcomes))
    for run, label in enumerate(("a", "b", "c")):
        events = _lesson_events(run, label, 5)
        for k in range(0, len(events), 2):  # a burst of small batches, as many runs send them
            w.events_received.emit(events[k : k + 2])
    assert shown == []  # not once per batch
    qtbot.waitUntil(lambda: bool(shown), timeout=5_000)
    assert shown == [3]
    assert [r[0] for r in table.rows()] == ["a", "b", "c"]
    # the run's end shows the last outcomes at once
    w.events_received.emit([ev.Finished(0, "completed", 5, 20, 1.0)])
    w.run_finished.emit("completed")
    assert shown == [3, 3]
    assert "completed" in " ".join(table.rows()[0]).lower() or table.rows()[0][-1]


def test_a_runners_bands_are_redrawn_only_for_the_curves_that_changed(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 720)
    plan = race_plan(runners=2, seeds=3)
    plots.set_seed_plan(plan)
    per_run = [
        seed_events(
            r, runner=plan.runner_of[r], k=plan.seed_index_of[r], label=plan.labels[plan.runner_of[r]]
        )
        for r in range(len(plan.runs))
    ]
    # every run's start and first epoch, all bands drawn
    first = [
        e
        for evs in per_run
        for e in evs
        if type(e) is ev.RunStarted or (type(e) is not ev.Finished and e.epoch == 1)
    ]
    plots.add_events(first)
    plots.flush_bands()
    frame = plots.frame
    drawn: list[tuple[str, str]] = []
    for part in frame.parts.values():
        for key in part.banded:
            for lead in (frame.runs[plan.members(g)[0]] for g in range(2)):
                item = part.items(lead)[f"mean:{key}"]
                original = item.setData
                item.setData = lambda *a, _o=original, _k=(part.name, key), **kw: (
                    drawn.append(_k),
                    _o(*a, **kw),
                )
    steps = [e for evs in per_run for e in evs if type(e) is ev.Steps and set(e.epoch.tolist()) == {2}]
    plots.add_events(steps)  # updates only: the per-epoch bands have nothing new
    plots.flush_bands()
    assert drawn and {name for name, _ in drawn} <= {"lr", "loss"}
    assert ("loss", "val_loss") not in drawn
    drawn.clear()
    plots.add_events([e for evs in per_run for e in evs if type(e) is ev.EpochEnd and e.epoch == 2])
    plots.flush_bands()
    assert set(drawn) == {("accuracy", "acc_train"), ("accuracy", "acc_val"), ("loss", "val_loss")}


def _fill_polygons(fill) -> list[list[tuple[float, float]]]:
    """The filled polygons' corners (a corner repeated in a row is one corner)."""
    out = []
    for poly in fill.path().toFillPolygons():
        corners: list[tuple[float, float]] = []
        for p in poly:
            if not corners or corners[-1] != (p.x(), p.y()):
                corners.append((p.x(), p.y()))
        out.append(corners)
    return out


def test_band_fill_is_pyqtgraphs_fill_between(qtbot):
    """The band's region is what pyqtgraph's own FillBetweenItem fills, gaps and log axes included."""
    view = pg.PlotWidget()
    qtbot.addWidget(view)
    x = np.arange(1.0, 41.0)
    low = 0.5 + 0.01 * x
    high = low + 0.2 + 0.1 * np.sin(x)
    low[10:13] = high[10:13] = np.nan  # a stretch with fewer than two seeds: no band there
    for log in (False, True):
        plot = view.getPlotItem()
        plot.clear()
        plot.setLogMode(y=log)
        lo = pg.PlotDataItem(x, low, pen=pg.mkPen(0, 0, 0, 0), connect="finite")
        hi = pg.PlotDataItem(x, high, pen=pg.mkPen(0, 0, 0, 0), connect="finite")
        plot.addItem(lo)
        plot.addItem(hi)
        ours, theirs = pg_adapter.BandFill(lo, hi), pg.FillBetweenItem(lo, hi)
        assert len(_fill_polygons(theirs)) == 2
        assert _fill_polygons(ours) == _fill_polygons(theirs)
        hi.setData(x, high * 1.5)  # a new high end: both follow
        assert _fill_polygons(ours) == _fill_polygons(theirs)


def test_a_race_of_many_seeds_starts_over_several_turns_and_draws_what_it_did(qtbot, monkeypatch):
    """128 runs (8 runners x 16 seeds) starting in one batch: the legend is laid out once, not
    per runner; the runners' plot items are made over several turns of the event loop (here
    one runner's plot or one of its bands per turn), not all in the batch's turn; hidden seeds get none; and once
    made, each runner draws the mean over its 16 seeds of what they sent."""
    from optiscope.gui.plots import live

    monkeypatch.setattr(
        live, "ITEM_BUDGET_S", 0.0, raising=False
    )  # the least a turn makes: one runner's plot
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 720)
    plots.show()
    plan = race_plan(runners=8, seeds=16)
    plots.set_seed_plan(plan)
    starts, rest = [], []
    for r in range(len(plan.runs)):
        runner = plan.runner_of[r]
        events = seed_events(r, runner=runner, k=plan.seed_index_of[r], label=plan.labels[runner])
        starts.append(events[0])
        rest += [e for e in events[1:] if type(e) is not ev.Finished]  # still training
    frame = plots.frame
    fitted = []
    show_runs = frame.legend.show_runs
    monkeypatch.setattr(frame.legend, "show_runs", lambda runs: (fitted.append(1), show_runs(runs)))
    plots.add_events(starts + rest)
    assert len(frame.runs) == 128
    assert len(fitted) == 1  # not once per runner started or retitled
    assert [r.id for r in frame.legend._runs] == [plan.members(k)[0] for k in range(8)]

    def made() -> int:
        return sum(key.startswith("overlay:") for run in frame.runs.values() for key in run.items)

    assert made() == 1  # 8 runners x 4 plots wait for the next turns
    assert frame.items_due
    qtbot.waitUntil(lambda: not frame.items_due and not frame.band_dirty, timeout=20_000)
    assert made() == 8 * len(frame.parts)
    for run in frame.runs.values():  # a hidden seed has no items of its own
        want = {f"overlay:{name}" for name in frame.parts} if run.lead else set()
        assert set(run.items) == want
    sent_lr = {}  # run -> the learning rates its Steps events carried
    for row in ev.step_rows(rest):
        sent_lr.setdefault(row.run, []).append(row.lr)
    lr_part = frame.parts["lr"]
    for runner in range(8):
        members = plan.members(runner)
        lead = frame.runs[members[0]]
        x, y = lr_part.items(lead)["mean:lr"].getOriginalDataset()
        np.testing.assert_allclose(y, np.mean([sent_lr[m] for m in members], axis=0), rtol=1e-12)
        for part in frame.parts.values():
            for key in part.banded:
                _, ys = part.series[key]
                seeds_y = np.array([getattr(frame.runs[m], ys).view() for m in members])
                _, y = part.items(lead)[f"mean:{key}"].getOriginalDataset()
                np.testing.assert_allclose(y, seeds_y.mean(axis=0), rtol=1e-12)


def test_a_batch_of_events_reaches_the_windows_rooms_as_the_same_list(qtbot, make_window):
    """A batch of a race of many runs holds tens of thousands of events: each signal on its way
    from the run to the window's rooms passes the list itself, not a copy made item by item
    (a list signal converts every item, a few milliseconds per room and batch)."""
    w = make_window()
    got: list = []
    w.events_received.connect(got.append)
    batch = [ev.Steps.of(0, k, 1, 0.1, 1.0 / k) for k in range(1, 1001)]
    w.runs.events_ready.emit(batch)  # the run controller's batches reach the window's rooms
    assert len(got) == 1
    assert got[0] is batch


def test_a_new_runs_first_draw_is_not_held_back_by_the_last_runs_costly_frames(qtbot, make_window):
    """Drawing is paced by what a frame cost (at most DRAW_BUSY_FRACTION of the GUI thread); a
    new run measures afresh, so its first batch is drawn within MIN_DRAW_INTERVAL rather than
    after four times the last run's costliest frames (and then all at once, a long stall)."""
    import time

    from optiscope.gui.run_controller import MIN_DRAW_INTERVAL

    w = make_window()
    runs = w.runs
    runs._frame_cost = 0.5  # the last run's frames were costly (its first made every plot's items)
    runs._last_draw = runs._draw_started = time.perf_counter()  # it drew its last events just now
    runs.clear()  # what starting a run does
    runs._measure_frame()  # that last frame's measure comes late, after the new run started
    runs._on_events([ev.Steps.of(0, 1, 1, 0.1, 1.0)])
    assert runs._draw_timer.isActive()
    assert runs._draw_timer.interval() <= MIN_DRAW_INTERVAL * 1000  # asked for (the time left may round up)


def test_drawing_work_done_after_a_frame_counts_in_the_drawing_pace(qtbot, make_window):
    """Plots that draw a batch over several turns (paced) report that work: it counts in the
    frame's cost, so the next batch waits until drawing took at most DRAW_BUSY_FRACTION of
    the GUI thread, however the work was split."""
    from optiscope.gui.run_controller import DRAW_BUSY_FRACTION

    w = make_window()
    runs = w.runs
    runs.clear()
    runs._on_events([ev.Steps.of(0, 1, 1, 0.1, 1.0)])
    qtbot.waitUntil(lambda: runs._frame_cost > 0, timeout=10_000)  # drawn and measured
    runs._draw_timer.stop()
    runs.add_draw_work(0.2)  # the turns after that frame drew for 200 ms
    runs._draw()  # the next frame, measured with that work
    qtbot.waitUntil(lambda: runs._frame_cost >= 0.3 * 0.2, timeout=10_000)
    import time

    runs._on_events([ev.Steps.of(0, 2, 1, 0.1, 1.0)])
    since = time.perf_counter() - runs._last_draw  # at least what passed before the timer was set
    assert runs._draw_timer.isActive()
    assert runs._frame_cost / DRAW_BUSY_FRACTION > 0.2  # 200 ms of work: the next frame waits > 0.2 s
    assert runs._draw_timer.interval() >= (runs._frame_cost / DRAW_BUSY_FRACTION - since) * 1000 - 1
