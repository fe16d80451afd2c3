"""Seeds in the window: the Seeds box is the experiment's (saved in its TOML), Run trains
every runner with each seed, the plots group the runs by runner, and the results table
gives one row per runner: mean ± 95 % interval (checked against scipy.stats on the run's own
epoch events) and a verdict against the leader."""

from __future__ import annotations

import csv
import io
import math
import tomllib

import numpy as np
import pytest
import scipy.stats
from optiscope.engine import stats
from optiscope.engine.config import (
    SGD,
    Adam,
    DatasetConfig,
    RunConfig,
    TrainingConfig,
    load_toml,
    race_experiment,
)
from optiscope.gui.results_table import COMPARISON

SEEDS = 3


def quick_race(seeds: int = SEEDS):
    data = DatasetConfig(name="blobs", n_samples=200)
    training = TrainingConfig(epochs=3, batch_size=32, device="cpu")
    runners = [
        RunConfig(label="Adam", dataset=data, optimizer=Adam(lr=0.01), training=training),
        RunConfig(label="SGD", dataset=data, optimizer=SGD(lr=0.01), training=training),
    ]
    return race_experiment(runners, name="seeds race").model_copy(update={"seeds": seeds})


def test_the_seeds_box_is_the_experiments_and_survives_its_toml(qtbot, make_window, tmp_path):
    w = make_window()
    box = w.training_panel.seeds_box
    assert box.value() == 1 and w.experiment_config().seeds == 1
    box.setValue(4)  # the user's choice
    assert w.document.seeds == 4
    assert w.acts["run"].text() == "Run current settings × 4 seeds"
    assert w.experiment_config().seeds == 4
    w.document.add_runner(RunConfig(optimizer=SGD(lr=0.1)))
    w.document.add_runner(RunConfig(optimizer=SGD(lr=0.01)))
    assert w.experiment_config().seeds == 4  # a race keeps them too
    path = tmp_path / "seeds.toml"
    assert w.files.save_to(path)
    assert tomllib.loads(path.read_text(encoding="utf-8"))["seeds"] == 4
    w.reset_settings()
    assert box.value() == 1
    assert w.files.open_experiment(path)
    assert box.value() == 4 and w.experiment_config().seeds == 4
    assert load_toml(path).seeds == 4


def test_too_many_runs_is_a_clear_error_not_a_run(qtbot, make_window):
    w = make_window()
    for lr in (0.1, 0.01, 0.001, 0.0001, 0.05, 0.02, 0.03, 0.04, 0.06, 0.07, 0.08):
        w.document.add_runner(RunConfig(optimizer=SGD(lr=lr)))
    w.training_panel.seeds_box.setValue(100)  # 11 runners x 100 seeds: more than are trained at once
    assert not w.run()
    assert "Cannot run" in w.messages[-1] and "seeds" in w.messages[-1]
    assert not w.running


def test_run_trains_every_runner_with_each_seed_and_the_table_has_a_row_per_runner(
    qtbot, make_window, tmp_path
):
    w = make_window()
    w.set_experiment(quick_race())
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    w.flush_plots()
    assert any(m == f"Training the race: 2 runners × {SEEDS} seeds ({2 * SEEDS} runs)." for m in w.messages)
    plan = w.runs.plan
    assert plan.n_seeds == SEEDS and len(w.runs.results) == 2 * SEEDS
    started = w.runs.run_info
    for r in range(2 * SEEDS):  # run id = plan index: runner r // N, seed first + r % N
        assert started[r].config["training"]["seed"] == plan.runners[r // SEEDS].training.seed + r % SEEDS
        assert started[r].config["optimizer"]["kind"] == ("adam" if r < SEEDS else "sgd")
    frame = w.plots.frame
    assert {frame.runs[r].group for r in range(SEEDS)} == {0}
    assert {frame.runs[r].group for r in range(SEEDS, 2 * SEEDS)} == {1}
    assert w.plots.shown.legend_text.count("seeds)") == 2
    _check_table(w, tmp_path)


def _t_text(values, fmt, scale, unit):
    """mean ± half of scipy's 95 % t interval, worded as the engine words it."""
    v = np.asarray(values, dtype=float)
    half = scipy.stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return f"{fmt.format(v.mean() * scale)} ± {fmt.format(half * scale)} {unit}".rstrip()


def _check_table(w, tmp_path):
    """One row per runner: intervals (scipy.stats on the window's own epoch events), a verdict."""
    table = w.classroom.table
    assert table.seeded
    headers = table.headers()
    assert headers[:2] == ["Runner", COMPARISON]
    rows = {r[0]: r for r in table.rows()}
    assert set(rows) == {"Adam", "SGD"}
    last = {}
    for e in w.runs.epoch_events:  # the window's own events, independent of the table
        last[e.run] = e
    col = headers.index("Final val acc")
    for runner, label in enumerate(("Adam", "SGD")):
        finals = [last[r].val_acc for r in range(runner * SEEDS, (runner + 1) * SEEDS)]
        assert rows[label][col] == _t_text(finals, "{:.1f}", 100.0, "pts")
    assert sorted(r[1] == "leader" for r in rows.values()) == [False, True]
    other = next(r for r in rows.values() if r[1] != "leader")
    assert "no clear difference" in other[1] or " than " in other[1]
    item = table.table.item(0, col)
    assert stats.METHOD in item.toolTip()
    # the CSV: mean, low, high and n per measure, per runner
    exported = tmp_path / "results.csv"
    assert w.classroom.export_results(exported)
    lines = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert [line["label"] for line in lines] == ["Adam", "SGD"]
    for runner, line in enumerate(lines):
        finals = np.array([last[r].val_acc for r in range(runner * SEEDS, (runner + 1) * SEEDS)])
        half = scipy.stats.t.ppf(0.975, SEEDS - 1) * finals.std(ddof=1) / math.sqrt(SEEDS)
        assert float(line["final_val_acc_mean"]) == pytest.approx(finals.mean(), abs=1e-9)
        assert float(line["final_val_acc_low"]) == pytest.approx(finals.mean() - half, abs=1e-9)
        assert float(line["final_val_acc_high"]) == pytest.approx(finals.mean() + half, abs=1e-9)
        assert line["final_val_acc_n"] == str(SEEDS)
        assert line["comparison"] == rows[line["label"]][1]


def test_a_threshold_not_reached_by_every_seed_says_how_many(qtbot):
    """The tooltip counts the seeds that reached a threshold (engine's RunOutcome by hand)."""
    from optiscope.engine.lessons import RunOutcome, Threshold
    from optiscope.engine.seeds import SeedPlan
    from optiscope.gui.results_table import ResultsTable

    table = ResultsTable()
    qtbot.addWidget(table)
    obs = Threshold(metric="val_acc", value=0.8)
    table.set_lesson([obs], "")
    plan = SeedPlan.of(quick_race(seeds=4))
    table.set_plan(plan)
    epochs = {0: 5, 1: 6, 2: 7, 3: 6, 4: 15, 5: None, 6: 16, 7: 17}  # SGD's seed 2 never got there
    outcomes = [
        RunOutcome(run=r, label=plan.labels[r // 4], epochs=20, reason="completed", thresholds={0: e})
        for r, e in epochs.items()
    ]
    table.show_outcomes(outcomes)
    rows = {r[0]: r for r in table.rows()}
    col = table.headers().index("Epochs to val_acc ≥ 80 %")
    assert rows["SGD"][col] == _t_text([15, 16, 17], "{:.1f}", 1.0, "epochs")
    sgd_row = next(r for r in range(2) if table.table.item(r, 0).text() == "SGD")
    assert "reached in 3 of 4 seeds" in table.table.item(sgd_row, col).toolTip()
    assert rows["Adam"][1] == "leader"  # fewer epochs is better
    assert "at least" in rows["SGD"][1]
    comparison = table.table.item(sgd_row, 1)
    assert "SGD reached it in 3 of 4 seeds" in comparison.toolTip()
    assert comparison.toolTip().startswith(comparison.text())  # the engine's verdict, its note in the tip


def test_a_seeded_table_keeps_its_height_as_its_verdicts_fill_in(qtbot):
    """In a window, the runners' rows are there from the start and the sideways scroll bar's
    room is kept, so the verdict sentences arriving mid-run (wider than the table) do not
    change the table's height (a re-layout and repaint of every plot); presenting, columns
    fit instead and the bar shows only when needed."""
    from optiscope.engine.lessons import RunOutcome, Threshold
    from optiscope.engine.seeds import SeedPlan
    from optiscope.gui.results_table import ResultsTable
    from PySide6.QtCore import Qt

    table = ResultsTable()
    qtbot.addWidget(table)
    table.set_lesson([Threshold(metric="val_acc", value=0.8)], "")
    plan = SeedPlan.of(quick_race(seeds=4))
    table.set_plan(plan)
    table.show_outcomes([])
    assert table.table.rowCount() == 2  # a row per runner before any seed has finished
    # as wide as the empty cells need, not the verdicts: the case that changed height
    table.resize(table._columns_width() + 20 + table.width() - table._room(), 300)
    assert table._columns_width() <= table._room()
    before = table.wanted_height()
    epochs = {0: 5, 1: 6, 2: 7, 3: 6, 4: 15, 5: None, 6: 16, 7: 17}
    table.show_outcomes(
        [
            RunOutcome(run=r, label=plan.labels[r // 4], epochs=20, reason="completed", thresholds={0: e})
            for r, e in epochs.items()
        ]
    )
    assert table._columns_width() > table._room()  # the verdicts overflow: the bar is needed
    assert table.wanted_height() == before
    assert table.table.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOn
    table.set_presentation(True)
    assert table.table.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAsNeeded
    table.set_presentation(False)
    table.set_plan(SeedPlan.of(quick_race(seeds=1)))  # a row per run: as needed again
    assert table.table.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAsNeeded


def test_one_seed_keeps_a_row_per_run(qtbot):
    from optiscope.engine.lessons import RunOutcome
    from optiscope.engine.seeds import SeedPlan
    from optiscope.gui.results_table import ResultsTable

    table = ResultsTable()
    qtbot.addWidget(table)
    table.set_plan(SeedPlan.of(quick_race(seeds=1)))
    assert not table.seeded and table.headers()[0] == "Run"
    table.show_outcomes([RunOutcome(run=0, label="Adam"), RunOutcome(run=1, label="SGD")])
    assert [r[0] for r in table.rows()] == ["Adam", "SGD"]


def test_a_recording_of_a_seeded_race_draws_every_runners_band(qapp, tmp_path, monkeypatch):
    import pyqtgraph as pg
    from optiscope.gui import recorder

    seen: list[tuple[int, int]] = []
    grab = recorder.frame_from_widget

    def frame(widget, size):  # what each frame shows: runs plotted, bands with a drawn path
        fills = [
            item
            for run in widget.frame.runs.values()
            for part in widget.frame.parts.values()
            for item in part.items(run).values()
            if isinstance(item, pg.FillBetweenItem) and not item.path().isEmpty()
        ]
        seen.append((len(widget.frame.runs), len(fills)))
        return grab(widget, size)

    monkeypatch.setattr(recorder, "frame_from_widget", frame)
    exp = quick_race(seeds=3).with_overrides(epochs=2)
    path, frames = recorder.record_experiment(exp, tmp_path / "seeds.gif", size=(640, 360), fps=2, seconds=1)
    assert path.exists() and frames == len(seen) >= 2
    runs, fills = seen[-1]
    assert runs == 2 * 3  # every seed trained
    assert fills == 2 * 5  # 2 runners x (LR, smoothed and validation loss, train and validation accuracy)


def test_lesson_captions_of_a_seeded_race_state_the_runners_mean_on_its_mean_curve(qtbot, make_window):
    """With several seeds a caption is the runner's (mean ± scipy's t interval over its seeds, on
    the mean curve), one per runner and observation, never seed 0's numbers at seed 0's point."""
    from optiscope.engine.lessons import BestEpoch, Classroom, Threshold

    w = make_window()
    lesson = Classroom(observe=(Threshold(metric="val_acc", value=0.4), BestEpoch(metric="val_acc")))
    w.set_experiment(quick_race().model_copy(update={"classroom": lesson}))
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    w.flush_plots()
    acc: dict[int, dict[int, float]] = {}
    for e in w.runs.epoch_events:  # the window's own events
        acc.setdefault(e.run, {})[e.epoch] = e.val_acc
    shown = [a for a in w.plots.shown.annotations() if a[0] == "accuracy"]
    best = [a for a in shown if a[3].startswith("best ")]
    assert len(best) == 2  # one per runner, not one per seed
    for runner in range(2):
        curves = np.array(
            [[acc[r][ep] for ep in sorted(acc[r])] for r in range(runner * SEEDS, (runner + 1) * SEEDS)]
        )
        epochs = np.arange(1, curves.shape[1] + 1)
        peaks, at = curves.max(axis=1), epochs[curves.argmax(axis=1)]
        want = f"best {_t_text(peaks, '{:.1f}', 100.0, '')} % (epoch {_t_text(at, '{:.1f}', 1.0, '')})"
        mine = [a for a in best if a[3] == want]
        assert len(mine) == 1, (want, [a[3] for a in best])
        _, x, y, _ = mine[0]
        assert x == pytest.approx(at.mean()) and y == pytest.approx(
            np.interp(at.mean(), epochs, curves.mean(0))
        )
        reached = [int(epochs[np.argmax(c >= 0.4)]) for c in curves if (c >= 0.4).any()]
        if len(reached) == SEEDS:
            text = f"≥ 40 % at epoch {_t_text(reached, '{:.1f}', 1.0, '')}"
            assert any(
                a[3] == text and a[2] == pytest.approx(np.interp(np.mean(reached), epochs, curves.mean(0)))
                for a in shown
            )


def test_a_seeded_race_gets_boundaries_only_for_each_runners_first_seed(qtbot, make_window):
    """The window shows one boundary per runner (its first seed's): only those are computed
    and sent, the "Boundary of:" choice offers just them, named by seed, and the plot draws.
    Weight snapshots (the loss surface's paths) likewise come from the leads only, and the
    surface view does not call the other seeds' silence an error."""
    w = make_window()
    exp = quick_race()
    w.set_experiment(exp)
    got, weights = [], []
    w.runs.events_ready.connect(
        lambda events: got.extend(e for e in events if type(e).__name__ == "Boundary")
    )
    w.runs.events_ready.connect(
        lambda events: weights.extend(e for e in events if type(e).__name__ == "Weights")
    )
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    w.flush_plots()
    started = w.runs.run_info
    firsts = {r.training.seed for r in exp.runs()}  # each runner's own seed: its first
    leads = {r for r in range(2 * SEEDS) if started[r].config["training"]["seed"] in firsts}
    assert len(leads) == 2
    assert got and {e.run for e in got} == leads
    assert weights and {e.run for e in weights} == leads
    surface = w.landscape.surface_view
    assert {r for r, snaps in surface.snapshots.items() if snaps} == leads
    assert "no weight snapshots" not in surface.status.text()
    frame = w.plots.frame
    assert all((frame.runs[r].boundary is not None) == (r in leads) for r in range(2 * SEEDS))
    box = w.plots.controls.boundary_box
    offered = [box.itemData(i) for i in range(1, box.count())]
    assert sorted(offered) == sorted(leads)
    for i in range(1, box.count()):
        seed = started[box.itemData(i)].config["training"]["seed"]
        assert box.itemText(i) in {f"Adam (seed {seed})", f"SGD (seed {seed})"}, box.itemText(i)
    box.setCurrentIndex(box.count() - 1)  # the overlay draws the chosen runner's lead
    w.plots.resize(1280, 720)
    image = w.plots.grab().toImage()
    assert not image.isNull()
    overlay = w.plots.frame.parts["boundary"].overlay
    assert overlay.chosen == overlay.shown == box.itemData(box.count() - 1)
    assert overlay.image.image is not None and overlay.image.image.size > 0 and not overlay.hint.isVisible()
