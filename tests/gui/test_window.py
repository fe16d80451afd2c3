"""The window end to end: launch state, runs, controls, races, lessons, late events."""

from __future__ import annotations

import subprocess
import sys

from optiscope.engine import events as ev
from optiscope.engine.config import Adam, DatasetConfig, ExperimentConfig, RunConfig, TrainingConfig


def _long(epochs: int = 3000) -> ExperimentConfig:
    return ExperimentConfig(
        base=RunConfig(
            dataset=DatasetConfig(n_samples=200),
            optimizer=Adam(lr=0.01),
            training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu"),
        )
    )


def test_window_import_and_build_load_no_heavy_modules():
    """Before the window is shown nothing imports torch, scikit-learn or the trainer."""
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen';"
        "from optiscope.gui.app import create_app; app = create_app();"
        "from optiscope.gui.main_window import MainWindow; w = MainWindow(restore_last=False); w.show();"
        "heavy = [m for m in ('torch', 'sklearn', 'optiscope.engine.trainer', 'optiscope.engine.runner', 'pyqtgraph')"
        " if m in sys.modules]; print('HEAVY', heavy); w._started = True; w.close()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout


def test_run_is_disabled_until_the_engine_has_loaded(qtbot, make_window):
    w = make_window(wait_engine=False)
    if not w.engine_loaded:  # usually still loading here; in a warm process it may be quick
        assert not w.acts["run"].isEnabled()
        assert "Loading engine" in w.engine_label.text()
        assert w.run() is False
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
    assert w.acts["run"].isEnabled()
    assert "Engine ready" in w.engine_label.text()
    assert w.training_panel.devices[0] == "cpu"


def test_blobs_adam_run_fills_every_plot(qtbot, make_window, quick_blobs):
    w = make_window()
    w.set_experiment(quick_blobs)
    with qtbot.waitSignal(w.run_finished, timeout=60_000) as blocker:
        assert w.run()
    assert blocker.args == ["completed"]
    counts = w.plots.shown.point_counts()
    steps = 3 * 4  # 100 training rows, batch 32: 4 updates per epoch
    assert counts["lr"] == {0: steps}
    assert counts["loss"] == {0: steps}
    assert counts["accuracy"] == {0: 3}
    assert counts["boundary"][0] > 0
    assert len(w.runs.epoch_events) == 3
    assert w.status_labels["epoch"].text() == "Epoch 3/3"
    assert "cpu" in w.status_labels["device"].text()
    assert not w.running
    image = w.grab()  # paints every plot (the PySide6 6.12 crash class shows up here)
    assert image.width() > 0


def test_stop_during_a_run_finishes_it(qtbot, make_window):
    w = make_window()
    w.set_experiment(_long())
    w.run()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen > 0, timeout=60_000)
    with qtbot.waitSignal(w.run_finished, timeout=30_000) as blocker:
        w.transport.stop()
    assert blocker.args == ["stopped"]
    assert not w.acts["stop"].isEnabled()


def test_closing_during_a_run_stops_and_joins_every_thread(qtbot, make_window):
    w = make_window()
    w.set_experiment(_long())
    w.run()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen > 0, timeout=60_000)
    job = w.runs.job
    w.close()
    assert not job.thread.isRunning() and not w.running
    assert not w.jobs.busy()


def test_a_new_run_after_reset_replaces_the_live_one_and_late_events_are_dropped(qtbot, make_window):
    w = make_window()
    w.set_experiment(_long())
    w.run()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen > 0, timeout=60_000)
    old = w.runs.job
    w.transport.reset()  # Run alone never restarts a live run (test_window_trust); Reset ends it at once
    w.run()
    assert not old.thread.isRunning()
    assert w.runs.job is not old and w.running
    before = w.runs.total_steps_seen
    late = [ev.Steps.of(0, 999_999, 1, 0.01, 0.5)]
    old.worker.events_ready.emit(late)  # a batch of the old experiment arriving late
    w.flush_plots()
    assert w.runs.total_steps_seen == before
    assert all(c < 999_999 for c in w.plots.shown.point_counts()["loss"].values())
    with qtbot.waitSignal(w.run_finished, timeout=30_000):
        w.transport.stop()


def test_step_runs_exactly_one_update_and_epoch_runs_to_the_epoch_end(qtbot, make_window):
    w = make_window()
    w.set_experiment(_long(epochs=20))
    w.transport.step_once()  # nothing live: starts a paused run and grants one update
    qtbot.waitUntil(lambda: w.runs.total_steps_seen == 1, timeout=60_000)
    assert w.runs.paused
    assert w.acts["pause"].text() == "Resume"
    w.transport.step_once()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen == 2, timeout=30_000)
    w.transport.step_epoch()  # 4 updates per epoch: two more
    qtbot.waitUntil(lambda: len(w.runs.epoch_events) == 1, timeout=30_000)
    assert w.runs.total_steps_seen == 4
    qtbot.waitUntil(
        lambda: w.plots.shown.point_counts()["loss"] == {0: 4}, timeout=30_000
    )  # drawn soon after
    w.transport.toggle_pause()  # resume
    assert not w.runs.paused
    with qtbot.waitSignal(w.run_finished, timeout=30_000):
        w.transport.stop()


def test_changing_the_lr_while_paused_is_used_by_the_next_update(qtbot, make_window):
    w = make_window()
    w.set_experiment(_long(epochs=20))
    w.transport.step_once()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen == 1, timeout=60_000)
    w.optimizer_panel.lr_box().setValue(0.05)
    w.transport.step_once()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen == 2, timeout=30_000)
    assert w.runs.last_step[0].lr == 0.05
    w.transport.scale_lr(2.0)  # Ctrl+Up
    w.transport.step_once()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen == 3, timeout=30_000)
    assert abs(w.runs.last_step[0].lr - 0.1) < 1e-12
    with qtbot.waitSignal(w.run_finished, timeout=30_000):
        w.transport.stop()


def test_compare_races_runs_on_shared_axes(qtbot, make_window, quick_blobs):
    w = make_window()
    w.set_experiment(quick_blobs)
    w.race.compare()
    w.optimizer_panel.lr_box().setValue(0.001)
    w.race.compare()
    assert len(w.document.race) == 2 and w.toolbox.itemText(w.race.race_index) == "Race: 2 runners"
    exp = w.experiment_config()
    assert [r.optimizer.lr for r in exp.runs()] == [0.01, 0.001]
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.run()
    counts = w.plots.shown.point_counts()
    assert counts["loss"] == {0: 12, 1: 12}
    assert counts["accuracy"] == {0: 3, 1: 3}
    w.race.edit_race_entry(0)  # double-click: the panels show that runner
    assert w.optimizer_panel.config().lr == 0.01
    w.race.clear_race()
    assert not w.document.race


def test_lessons_menu_lists_presets_and_loading_one_shows_its_lesson(qtbot, make_window):
    from optiscope.engine.presets import all_presets

    w = make_window(wait_engine=False)
    w.lessons_menu.aboutToShow.emit()  # the menu fills itself when opened
    names = [a.text() for a in w.lessons_menu.actions()]
    assert names == list(all_presets())
    preset = all_presets()["blobs-sgd"]
    next(a for a in w.lessons_menu.actions() if a.text() == "blobs-sgd").trigger()
    assert w.lesson_dock.isVisibleTo(w)
    assert "SGD" in w.lesson_box.toPlainText()
    assert w.current_run_config() == preset.runs()[0].model_copy(update={"label": ""})
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


def test_speed_control_slows_the_engine(qtbot, make_window):
    w = make_window(wait_engine=False)
    w.transport.set_speed_index(4)
    assert w.runs.delay == 0.1 and "10 steps/s" in w.transport.speed_label.text()
    w.acts["faster"].trigger()
    assert w.runs.delay == 0.05
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


def test_every_control_has_a_shortcut(make_window):
    w = make_window(wait_engine=False)
    controls = ("run", "pause", "step", "step_epoch", "stop", "reset", "compare", "faster", "slower")
    for name in (*controls, "lr_up", "lr_down", "open", "save", "save_as"):
        assert w.acts[name].shortcuts(), name
    keys = [s.toString() for a in w.actions() for s in a.shortcuts()]
    assert len(keys) == len(set(keys)), "a shortcut is used twice"


def test_menus_toolbar_and_shortcut_list_come_from_the_action_table(make_window, monkeypatch):
    from optiscope.gui.actions import ACTIONS
    from PySide6 import QtWidgets

    w = make_window(wait_engine=False)

    def menu_actions(menu):
        for a in menu.actions():
            yield a
            if a.menu() is not None:
                yield from menu_actions(a.menu())

    in_menus = {a for m in w.menus.values() for a in menu_actions(m)}
    assert all(w.acts[s.name] in in_menus for s in ACTIONS), "an action of the table is in no menu"
    assert [m.replace("&", "") for m in (a.text() for a in w.menuBar().actions())] == list(w.menus)
    toolbar = [a for a in w.toolbar.actions() if not a.isSeparator() and a in w.acts.actions.values()]
    names = ["run", "pause", "step", "step_epoch", "stop", "reset", "compare", "clear_race"]
    assert [a.objectName() for a in toolbar] == [f"act_{n}" for n in names]
    # F1: every action with a shortcut, its keys as Qt writes them for this platform
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "information", lambda *a, **k: shown.append(a[2]))
    w.acts["shortcuts"].trigger()
    listed = shown[0]
    for spec in ACTIONS:
        act = w.acts[spec.name]
        if act.shortcuts():
            assert act.text().replace("&", "") in listed
            assert act.shortcuts()[0].toString(act.shortcuts()[0].SequenceFormat.NativeText) in listed
    assert "Reset settings to defaults" not in listed  # it has no shortcut
    # triggering an action calls its window method with the table's arguments
    w.optimizer_panel.lr_box().setValue(0.01)
    w.acts["lr_up"].trigger()
    assert w.optimizer_panel.config().lr == 0.02


def test_the_race_is_a_document_the_window_observes(qtbot, make_window, quick_blobs):
    w = make_window(wait_engine=False)
    changes = []
    w.document.race_changed.connect(changes.append)
    w.set_experiment(quick_blobs)  # no race: the race list does not change
    assert changes == []
    w.race.compare()
    w.race.compare()
    assert len(changes) == 2 and len(changes[-1]) == 2
    assert w.race.race_list.count() == 2 and w.toolbox.itemText(w.race.race_index) == "Race: 2 runners"
    w.race.race_list.setCurrentRow(0)
    w.race.race_remove.click()
    assert len(w.document.race) == 1 and w.race.race_list.count() == 1
    assert w.toolbox.itemText(w.race.race_index) == "Race: 1 runner"
    w.race.race_clear.click()
    assert w.document.race == () and w.toolbox.itemText(w.race.race_index) == "Race"
    assert not w.race.race_clear.isEnabled()
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


def test_previews_fill_in_once_the_engine_has_loaded(qtbot, make_window, tmp_path, monkeypatch):
    from optiscope.engine.config import Augmentation, Cyclic, Plateau, RegularizationConfig

    w = make_window()
    qtbot.waitUntil(lambda: w.data_panel.preview.mode == "scatter", timeout=60_000)
    shown_lrs = []
    show = w.schedule_panel.show_lr_preview
    monkeypatch.setattr(
        w.schedule_panel, "show_lr_preview", lambda lrs, note="": (shown_lrs.append(lrs), show(lrs, note))
    )
    w.set_experiment(
        ExperimentConfig(
            base=RunConfig(
                dataset=DatasetConfig(n_samples=200),
                schedule=Cyclic(base_lr=1e-3, max_lr=0.1, step_size=8),
                training=TrainingConfig(epochs=5, batch_size=32),
                regularization=RegularizationConfig(augmentation=Augmentation(jitter=0.3)),
            )
        )
    )
    # the LR preview is the real scheduler's rate for every planned update: 5 epochs x 4
    qtbot.waitUntil(lambda: len(shown_lrs) == 1 and len(shown_lrs[-1]) == 20, timeout=60_000)
    lrs = shown_lrs[-1]
    assert lrs[0] == 1e-3 and max(lrs) > 0.05
    assert w.schedule_panel.preview.mode == "line"
    qtbot.waitUntil(lambda: w.regularization_panel.aug_preview.mode == "scatter", timeout=60_000)
    # image sets: originals next to their augmented versions
    w.data_panel.set_config(DatasetConfig(name="digits"))
    w.regularization_panel.set_config(RegularizationConfig(augmentation=Augmentation(rotate=20.0, shift=1)))
    w.regularization_panel.changed.emit()  # as when the user edits it
    qtbot.waitUntil(lambda: w.regularization_panel.aug_preview.mode == "images", timeout=60_000)
    w.schedule_panel.set_config(Plateau(patience=4))
    assert "4 epochs" in w.schedule_panel.rule.text()
    assert w.schedule_panel.preview.mode == "message"
    # the engine's CSV errors reach the Data panel in words
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n", encoding="utf-8")
    w.data_panel.set_config(DatasetConfig(name="csv", path=str(bad), target="label"))
    w.data_panel.changed.emit()
    qtbot.waitUntil(lambda: "bad.csv" in w.data_panel.csv_error.text(), timeout=60_000)
    assert "Traceback" not in w.data_panel.csv_error.text()


def test_reset_clears_the_plots_and_keeps_the_settings(qtbot, make_window, quick_blobs):
    w = make_window()
    w.set_experiment(quick_blobs)
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.run()
    cfg = w.current_run_config()
    w.transport.reset()
    assert w.plots.shown.point_counts()["loss"] == {}
    assert w.runs.epoch_events == [] and w.current_run_config() == cfg


def test_windows_that_ran_are_garbage_collected(qtbot, make_window, quick_blobs):
    """Nothing (a job, a signal connection, a menu) keeps a closed window alive."""
    import gc
    import weakref

    refs = []
    for _ in range(2):
        w = make_window()
        w.set_experiment(quick_blobs)
        w.race.compare()
        w.race.compare()
        w.lessons_menu.aboutToShow.emit()
        with qtbot.waitSignal(w.run_finished, timeout=60_000):
            w.run()
        w.views.setCurrentWidget(w.landscape)  # the surface job runs too
        w.landscape.set_mode("network")
        qtbot.waitUntil(lambda w=w: w.landscape.surface_view.surface is not None, timeout=60_000)
        w.landscape.set_mode("functions")
        rv = w.landscape.race_view
        rv.step_once()
        qtbot.waitUntil(lambda rv=rv: rv.race.steps == 1 and not rv.busy, timeout=30_000)
        w.close()
        refs.append(weakref.ref(w))
        del w, rv
    from PySide6 import QtWidgets

    for _ in range(3):
        gc.collect()
        QtWidgets.QApplication.processEvents()
    alive = [r for r in refs if r() is not None]
    assert not alive, [gc.get_referrers(r()) for r in alive][:1]


def test_a_long_status_message_is_not_cut_at_1280_px(qtbot, make_window):
    """At 1280x720 the run's numbers fill most of the status bar; a long message (a lesson
    loaded, an export written) gets the whole bar while it shows, and the numbers come back."""
    w = make_window()
    w.showNormal()
    w.resize(1280, 720)
    qtbot.waitUntil(lambda: w.width() == 1280)
    sb = w.statusBar()
    text = (
        "Lesson 'optimizer-race' loaded: press Run (F5). The table under the plots answers its question "
        "as the runs train."
    )
    labels = [*w.status_labels.values(), w.engine_label]
    before = min(lab.geometry().left() for lab in labels if lab.isVisible())
    assert sb.fontMetrics().horizontalAdvance(text) > before  # it would be cut beside the numbers
    w.report(text)
    qtbot.wait(20)
    room = min((lab.geometry().left() for lab in labels if lab.isVisible()), default=sb.width())
    assert sb.currentMessage() == text
    assert sb.fontMetrics().horizontalAdvance(text) <= room - 8, (room, sb.width())
    sb.clearMessage()
    assert all(lab.isVisible() for lab in labels)
    # a short message after a long one: the numbers come back with it, not when it goes
    w.report(text)
    sb.showMessage("Run complete")
    qtbot.wait(20)
    assert all(lab.isVisible() for lab in labels)
