"""Tools > Hyperparameter search: an Optuna search in the window, its views, and its trials used."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState


@pytest.fixture
def window(make_window, quick_blobs):
    w = make_window()
    w.set_experiment(quick_blobs)
    return w


def _stored(dialog):
    from optiscope.engine.search import default_storage_url

    return optuna.load_study(study_name=dialog.study_name, storage=dialog.storage or default_storage_url())


def test_search_runs_live_and_its_trials_load_into_the_panels_and_the_race(window, qtbot):
    from optiscope.engine.search import objective_value
    from optiscope.engine.trainer import train
    from optiscope.gui.search_view import JOB_KEY

    window.acts["search"].trigger()
    dialog = window.tools.get("search")
    assert "optimizer.lr" in [c.path for c in dialog.candidates]
    dialog.set_param("optimizer.lr", 1e-3, 0.3, log=True)
    dialog.set_param("optimizer.beta1", 0.5, 0.95, log=False)
    dialog.trials_box.setValue(10)
    assert dialog.start()
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=120_000)
    assert dialog.summary.text().startswith("Done: 10 trials"), dialog.summary.text()

    # the window's trials are the study's, as Optuna stored them
    study = _stored(dialog)
    stored = sorted(study.get_trials(), key=lambda t: t.number)
    assert [t.number for t in dialog.trials] == [t.number for t in stored]
    assert not [t for t in stored if t.state == TrialState.RUNNING]
    for rec, t in zip(dialog.trials, stored, strict=True):
        assert rec.params == t.params
        assert 1e-3 <= rec.params["optimizer.lr"] <= 0.3 and 0.5 <= rec.params["optimizer.beta1"] <= 0.95
        if t.state == TrialState.COMPLETE:
            assert rec.value == pytest.approx(t.value)
    assert dialog.trial_table.rowCount() == 10

    # every finished trial is a point; best so far is the running minimum; importance per parameter
    done = dialog.finished_trials()
    xs, ys = dialog.trial_points.getData()
    assert len(xs) == len(done)
    np.testing.assert_allclose(sorted(ys), sorted(t.value for t in done))
    np.testing.assert_allclose(
        sorted(xs), sorted(math.log10(t.params["optimizer.lr"]) for t in done)
    )  # a log-scale parameter is drawn on a log axis
    bx, by = dialog.best_curves[-1].getData()
    values = [t.value if t.outcome == "complete" else np.inf for t in dialog.trials]
    running_min = np.minimum.accumulate(values)
    ok = np.isfinite(running_min)
    np.testing.assert_allclose(by, running_min[ok])
    # the plot's x is the trial number the table shows (Optuna's trial.number, from 0)
    np.testing.assert_array_equal(bx, np.array([t.number for t in stored], dtype=float)[ok])
    shown = {int(dialog.trial_table.item(r, 0).text()) for r in range(dialog.trial_table.rowCount())}
    assert set(bx.astype(int)) <= shown and min(shown) == 0
    assert by[-1] == pytest.approx(study.best_value)
    assert set(dialog.importance["importances"]) == {"optimizer.lr", "optimizer.beta1"}
    assert len(dialog.scatter_points.getData()[0]) == len(done)
    names, rows, objective = dialog.parallel_rows()
    assert names == ["optimizer.lr", "optimizer.beta1", "objective"] and len(dialog.parallel_lines) == len(
        done
    )
    lrs = np.log10([t.params["optimizer.lr"] for t in done])  # each axis spans the values seen, 0..1
    np.testing.assert_allclose(rows[:, 0], (lrs - lrs.min()) / (lrs.max() - lrs.min()))
    np.testing.assert_allclose(objective, [t.value for t in done])

    # clicking a trial loads its settings; its objective is what a plain run of them gives
    best = dialog.best_trial()
    row = [t.number for t in dialog.trials].index(best.number)
    dialog.trial_table.cellClicked.emit(row, 0)
    cfg = window.current_run_config()
    assert cfg.optimizer.lr == pytest.approx(best.params["optimizer.lr"], rel=1e-6)
    assert cfg.optimizer.beta1 == pytest.approx(best.params["optimizer.beta1"], rel=1e-6)
    alone = objective_value(train(dialog.trial_config(best)), dialog.space.objective)
    assert alone == pytest.approx(best.value, rel=1e-3)

    # "Race the top 5": the five best trials, best first, in the race list
    assert dialog.race_button.isEnabled()
    dialog.race_top()
    race = window.document.race
    top = sorted(done, key=lambda t: t.value)[:5]
    assert [r.optimizer.lr for r in race] == pytest.approx([t.params["optimizer.lr"] for t in top])
    dialog.close()


def test_two_searches_race_on_the_best_so_far_plot_and_grid_tries_few_values(window, qtbot):
    from optiscope.gui.search_view import JOB_KEY

    dialog = window.tools.open("search")
    dialog.set_param("optimizer.lr", 1e-3, 0.3, log=True)
    dialog.set_param("training.batch_size", on=False)
    dialog.trials_box.setValue(4)
    for sampler in ("random", "grid"):
        dialog.sampler_box.setCurrentIndex(dialog.sampler_box.findData(sampler))
        dialog.grid_points_box.setValue(2)
        assert dialog.start()
        qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=120_000)
    assert [label.split(" ")[0] for label, _ in dialog.curves] == ["random", "grid"]
    assert len(dialog.best_curves) == 2
    # the grid over one parameter with 2 points has 2 trials, at exactly those points
    assert sorted(t.params["optimizer.lr"] for t in dialog.trials) == pytest.approx([1e-3, 0.3])
    assert "2 trials" in dialog.summary.text()
    dialog.close()


def test_a_bad_space_or_storage_is_a_clear_message_in_the_window(window, qtbot):
    from optiscope.gui.search_view import JOB_KEY

    dialog = window.tools.open("search")
    dialog.set_param("optimizer.lr", 0.5, 0.1)
    assert not dialog.start()
    assert "empty range" in dialog.summary.text() and "optimizer.lr" in dialog.summary.text()
    dialog.set_param("optimizer.lr", 0.0, 0.1, log=True)
    assert not dialog.start()
    assert "log scale needs bounds above 0" in dialog.summary.text()
    dialog.set_param("optimizer.lr", 1e-3, 0.1, log=True)
    dialog.storage_edit.setText("nosuchdb://nowhere/x")
    assert dialog.start()
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=60_000)
    assert "cannot open the study storage" in dialog.summary.text(), dialog.summary.text()
    assert dialog.start_button.isEnabled()
    dialog.close()


def test_closing_the_window_mid_search_keeps_finished_trials_and_fails_running_ones(
    make_window, quick_blobs, qtbot, monkeypatch
):
    from optiscope.engine import search as engine_search
    from optiscope.engine.config import TrainingConfig
    from optiscope.gui import search_view

    monkeypatch.setattr(search_view, "ROUND", 2)  # two trials a round: the second round is cut short
    # The first round trains 30 epochs; later rounds 100,000, so the window always closes while
    # round 2 runs (with equal rounds a slow GUI thread could see round 1's trials only after
    # rounds 2-3 had finished too)
    real_run_search, rounds = engine_search.run_search, []

    def run_search(base, *args, **kwargs):
        rounds.append(base)
        epochs = 30 if len(rounds) == 1 else 100_000
        training = base.training.model_copy(update={"epochs": epochs})
        return real_run_search(base.model_copy(update={"training": training}), *args, **kwargs)

    monkeypatch.setattr(engine_search, "run_search", run_search)
    w = make_window()
    run = quick_blobs.base.model_copy(
        update={"training": TrainingConfig(epochs=30, batch_size=32, device="cpu")}
    )
    w.set_experiment(quick_blobs.model_copy(update={"base": run}))
    dialog = w.tools.open("search")
    dialog.set_param("optimizer.lr", 1e-3, 0.1, log=True)
    dialog.trials_box.setValue(8)
    assert dialog.start()
    qtbot.waitUntil(lambda: len(dialog.trials) >= 2 and len(rounds) == 2, timeout=120_000)
    w.close()  # joins the search: the running trials end at their next epoch
    study = _stored(dialog)
    states = [t.state for t in study.get_trials()]
    assert TrialState.RUNNING not in states
    assert states.count(TrialState.COMPLETE) >= 2
    assert TrialState.FAIL in states, states  # the round in progress, marked failed
    assert len(states) < 8
    failed = [t for t in study.get_trials() if t.state == TrialState.FAIL]
    assert all(t.user_attrs["optiscope"]["outcome"] == "stopped" for t in failed)


def test_diverged_trials_are_named_in_the_window(make_window, quick_blobs, qtbot):
    from optiscope.engine.config import SGD
    from optiscope.gui.search_view import JOB_KEY

    w = make_window()
    w.set_experiment(
        quick_blobs.model_copy(update={"base": quick_blobs.base.model_copy(update={"optimizer": SGD()})})
    )
    dialog = w.tools.open("search")
    dialog.set_param("optimizer.lr", 1e-3, 90.0, log=True)
    dialog.set_param("optimizer.momentum", on=False)
    dialog.trials_box.setValue(8)
    assert dialog.start()
    qtbot.waitUntil(lambda: not w.jobs.busy(JOB_KEY), timeout=120_000)
    diverged = [t for t in dialog.trials if t.outcome == "diverged"]
    assert diverged and any(t.outcome == "complete" for t in dialog.trials)
    states = {t.number: t.state for t in _stored(dialog).get_trials()}
    for t in diverged:  # told to Optuna as pruned, named diverged in the table and summary
        assert (
            states[t.number] == TrialState.PRUNED and t.params["optimizer.lr"] > 0.3
        )  # blew up or ended at chance
        row = [r.number for r in dialog.trials].index(t.number)
        assert dialog.trial_table.item(row, 1).text() == "diverged"
    assert f"{len(diverged)} diverged" in dialog.summary.text()
    assert "told to Optuna as pruned" in dialog.summary.text()
    assert len(dialog.trial_points.getData()[0]) == len(dialog.finished_trials())
    dialog.close()


def test_two_searches_started_in_one_second_keep_separate_studies(make_window, quick_blobs, monkeypatch):
    """The study name was window-SAMPLER-TIME-N: two windows starting a search within one second
    (in a test run: one test after another) added trials to one study and counted each other's."""
    from optiscope.gui import search_view

    monkeypatch.setattr(search_view.time, "strftime", lambda *_args: "20261127-120000")
    names = []
    for _ in range(2):
        w = make_window()
        w.set_experiment(quick_blobs)
        dialog = w.tools.open("search")
        dialog.set_param("optimizer.lr", 1e-3, 0.1, log=True)
        dialog.trials_box.setValue(1)
        monkeypatch.setattr(dialog, "_setup_views", lambda *_a: None)
        monkeypatch.setattr(w.jobs, "submit", lambda *a, **k: None)  # name only: train nothing
        dialog.start()
        names.append(dialog.study_name)
    assert names[0] != names[1] and all(n.startswith("window-") for n in names)


def test_the_window_offers_only_settings_that_change_the_run(window, qtbot):
    """Issue 18.8: under a cyclic schedule the optimizer's rate is unused (torch's CyclicLR
    sets every rate from base_lr/max_lr): not offered, the schedule's bounds are; a rate
    ticked before the schedule changed is refused with a message before anything trains."""
    from optiscope.engine.config import Cyclic
    from optiscope.gui.search_view import JOB_KEY

    dialog = window.tools.open("search")
    dialog.set_param("optimizer.lr", 1e-4, 1.0, log=True)  # offered under the constant rate
    cfg = window.current_run_config()
    window.experiment.show_run(cfg.model_copy(update={"schedule": Cyclic(step_size=7)}))
    assert not dialog.start()  # the table still holds the stale, ticked optimizer.lr
    assert "optimizer.lr does not change these runs" in dialog.summary.text()
    assert not window.jobs.busy(JOB_KEY)
    dialog.reload_candidates()
    offered = [dialog.params_table.item(r, 0).text() for r in range(dialog.params_table.rowCount())]
    assert "optimizer.lr" not in offered
    assert {"schedule.base_lr", "schedule.max_lr"} <= set(offered)
    assert "schedule.gamma" not in offered  # triangular mode: only exp_range uses it
    # the bounds' default ranges meet between today's bounds (the clr-vs-fixed lesson's here), so
    # no trial draws base_lr above max_lr, and the space passes the checks Start makes
    from optiscope.engine.search_space import check_space, parse_space

    clr = cfg.model_copy(update={"schedule": Cyclic(base_lr=0.0495, max_lr=0.198, step_size=60)})
    window.experiment.show_run(clr)
    dialog.reload_candidates()
    data = dialog.space_dict()
    space = check_space(parse_space(data, "the search"), window.current_run_config(), data["sampler"])
    lo, hi = space.params["schedule.base_lr"], space.params["schedule.max_lr"]
    assert lo.low < 0.0495 and hi.high > 0.198 and lo.high == pytest.approx(hi.low) and lo.high <= hi.low
    dialog.close()


def test_seeds_per_trial_tell_optuna_the_mean_and_the_table_shows_each_seed(window, qtbot):
    from optiscope.engine.search import objective_value, study_seeds
    from optiscope.engine.search_space import apply_params
    from optiscope.engine.trainer import train
    from optiscope.gui.search_view import JOB_KEY

    window.acts["search"].trigger()
    dialog = window.tools.get("search")
    dialog.set_param("optimizer.lr", 1e-3, 0.3, log=True)
    dialog.trials_box.setValue(2)
    dialog.seeds_box.setValue(3)
    assert dialog.start()
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=120_000)
    study = _stored(dialog)
    assert study_seeds(study) == 3
    objective = dialog.space.objective
    header = dialog.trial_table.horizontalHeaderItem(dialog.trial_table.columnCount() - 1).text()
    assert header == "objective, mean of 3 seeds"
    (first,) = [t for t in study.trials if t.number == dialog.trials[0].number]
    cfg = apply_params(dialog.base, first.params)
    seed = dialog.base.training.seed
    each = [
        objective_value(
            train(cfg.model_copy(update={"training": cfg.training.model_copy(update={"seed": seed + k})})),
            objective,
        )
        for k in range(3)
    ]
    assert first.value == pytest.approx(np.mean(each), abs=1e-6)
    tip = dialog.trial_table.item(0, dialog.trial_table.columnCount() - 1).toolTip()
    assert tip.startswith("the mean over 3 seeds: ") and tip.count(",") == 2


def test_the_search_lesson_opens_its_search_and_run_races_random_against_the_grid(
    make_window, qtbot, tmp_path
):
    """random-vs-grid: opening the lesson sets the search panel to the lesson's space; Run
    (F5) searches with the random sampler, then the grid, both best-so-far curves on one plot.
    The grid's learning rates are the lesson's own points."""
    from optiscope.engine.presets import get_preset
    from optiscope.gui.search_view import JOB_KEY

    lesson = get_preset("random-vs-grid")
    small = lesson.model_copy(update={"search": lesson.search.model_copy(update={"trials": 6})})
    w = make_window()
    w.set_experiment(small.with_overrides(epochs=1))
    dialog = w.tools.get("search")
    assert dialog is not None and dialog.isVisible()  # opened with the lesson
    dialog.storage_edit.setText(f"sqlite:///{tmp_path / 'studies.sqlite3'}")
    assert dialog.space_dict()["params"].keys() == lesson.search.params.keys()
    assert dialog.trials_box.value() == 6 and dialog.objective_box.currentData() == "best_val_loss"
    assert w.acts["run"].isEnabled()
    w.acts["run"].trigger()  # F5
    qtbot.waitUntil(lambda: len(dialog.curves) == 2 and not w.jobs.busy(JOB_KEY), timeout=240_000)
    assert [label.split(" (")[0] for label, _ in dialog.curves] == ["random", "grid"]
    assert all(len(ys) == 6 for _, ys in dialog.curves)
    legend = dialog.best_key
    assert [label.text.split(" (")[0] for _sample, label in legend.items] == ["random", "grid"]
    # the key lies under the plot, off the curves (it once sat on their start)
    dialog.tabs.setCurrentWidget(dialog.best_plot)
    qtbot.waitUntil(lambda: dialog.best_plot.isVisible() and legend.sceneBoundingRect().height() > 0)
    view = dialog.best_plot.getPlotItem().vb.sceneBoundingRect()
    assert not legend.sceneBoundingRect().intersects(view), (legend.sceneBoundingRect(), view)
    assert dialog.best_plot.getPlotItem().legend is None
    grid_lrs = {t.params["optimizer.lr"] for t in dialog.trials}  # the last search: the grid's
    assert grid_lrs <= set(lesson.search.params["optimizer.lr"].points), grid_lrs
    assert "random" in dialog.race_summary() and "grid" in dialog.race_summary()
    assert dialog.summary.text().startswith("Best best_val_loss by search: random"), dialog.summary.text()
    dialog.close()


def test_the_search_panel_takes_presentation_modes_text_size(make_window, qtbot):
    """Presenting, the panel's text, its plots' ticks, axis titles and legend are as large as
    the results table's and the plots' ticks (the projector size); off, they return."""
    from optiscope.gui.plots.presentation import PROJECTOR_PT
    from PySide6 import QtGui

    w = make_window()
    normal = w.tools.open("search").font().pointSizeF()
    w.tools.get("search").close()
    assert normal < PROJECTOR_PT - 1  # the check below can fail

    def drawn_height(text_item) -> float:
        m = text_item.document().documentMargin()
        return text_item.boundingRect().height() - 2 * m

    def sizes(dialog) -> dict[str, float]:
        out = {"dialog": dialog.font().pointSizeF()}
        for name in ("params_table", "trial_table", "sampler_box", "summary", "start_button", "tabs"):
            out[name] = getattr(dialog, name).font().pointSizeF()
        for i, plot in enumerate(dialog.plots):
            for side in ("bottom", "left"):
                axis = plot.getAxis(side)
                out[f"plot{i}.{side}.ticks"] = (
                    axis.style["tickFont"].pointSizeF() if axis.style["tickFont"] else 0
                )
        return out

    projector = QtGui.QFont(w.font())
    projector.setPointSizeF(PROJECTOR_PT)
    line = QtGui.QFontMetricsF(projector).height()
    w.classroom.set_presentation(True)
    try:
        dialog = w.tools.open("search")  # opened while presenting
        dialog.best_key.addItem(dialog.best_plot.plot([0, 1], [1, 0]), "random (1)")
        for key, points in sizes(dialog).items():
            assert points == pytest.approx(PROJECTOR_PT), key
        axis = dialog.best_plot.getAxis("left")
        assert drawn_height(axis.label) >= 0.95 * line  # the axis title drawn at that size
        label = dialog.best_key.items[0][1]
        assert drawn_height(label.item) >= 0.95 * line, drawn_height(label.item)
        w.classroom.set_presentation(False)
        assert sizes(dialog)["dialog"] == pytest.approx(normal)
        assert drawn_height(label.item) < 0.9 * line
        w.classroom.set_presentation(True)  # an open panel follows too
        assert all(p == pytest.approx(PROJECTOR_PT) for p in sizes(dialog).values())
        assert drawn_height(label.item) >= 0.95 * line
    finally:
        w.classroom.set_presentation(False)
