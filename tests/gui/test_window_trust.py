"""The window does what the user set, visibly (issue 11, section 1)."""

from __future__ import annotations

from optiscope.engine.config import (
    SGD,
    Adam,
    Cyclic,
    DatasetConfig,
    ExperimentConfig,
    RunConfig,
    TrainingConfig,
)
from PySide6 import QtCore, QtGui, QtWidgets


def _wheel(widget: QtWidgets.QWidget, notches: int = -1) -> QtGui.QWheelEvent:
    """Send a mouse-wheel event to ``widget`` (negative: scroll down); returns it."""
    pos = QtCore.QPointF(widget.rect().center())
    event = QtGui.QWheelEvent(
        pos,
        QtCore.QPointF(widget.mapToGlobal(pos.toPoint())),
        QtCore.QPoint(),
        QtCore.QPoint(0, 120 * notches),
        QtCore.Qt.MouseButton.NoButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
        QtCore.Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(widget, event)
    return event


def _value(widget: QtWidgets.QWidget):
    if isinstance(widget, QtWidgets.QComboBox):
        return widget.currentIndex()
    return widget.value()


def test_panel_spin_and_combo_boxes_take_the_wheel_only_when_focused(qtbot, make_window):
    w = make_window(wait_engine=False)
    w.model_panel.add_layer("dropout")  # widgets made later (layer forms) are guarded too
    w.schedule_panel.kind_box.setCurrentIndex(w.schedule_panel.kind_box.findData("cyclic"))
    boxes = [
        box
        for panel in w.panels.values()
        for cls in (QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox)
        for box in panel.findChildren(cls)
        if box.isEnabled()
    ]
    assert len(boxes) > 15
    w.data_panel.setFocus()
    for box in boxes:
        before = _value(box)
        for notches in (-1, 1):  # either way: whichever has room to move
            _wheel(box, notches)
            assert _value(box) == before, f"{box.objectName() or box} changed under an unfocused wheel"
    # a focused box takes the wheel as before
    w.activateWindow()
    box = w.optimizer_panel.lr_box()
    w.toolbox.setCurrentIndex(2)
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=5000)
    before = box.value()
    _wheel(box, 1)
    assert box.value() != before
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


# ------------------------------------------------------------------ helpers for runs
def _quick(**kw) -> ExperimentConfig:
    fields = {
        "dataset": DatasetConfig(n_samples=200, standardize=True),  # runs that learn in 2-3 epochs
        "optimizer": Adam(lr=0.01),
        "training": TrainingConfig(epochs=3, batch_size=32, device="cpu"),
        **kw,
    }
    return ExperimentConfig(name="trust", base=RunConfig(**fields))


def _edit(panel, cfg) -> None:
    """Set a panel as the user would: the value, then its ``changed`` signal."""
    panel.set_config(cfg)
    panel.changed.emit()


# ------------------------------------------------------------------ 1.1 what Run trains
def test_run_names_what_it_trains_and_edits_change_the_shown_runner(qtbot, make_window):
    w = make_window()
    w.files.load_preset("momentum-sweep")  # a lesson: a race of four runners
    run = w.acts["run"]
    assert run.text() == "Run race (4 runs)"
    assert "momentum=0.9" in run.toolTip() and "Clear race" in run.toolTip()
    assert w.document.selected == 0 and w.current_run_config().optimizer.momentum == 0.0
    # the dataset is shared by every runner: an edit changes it for all
    _edit(w.data_panel, DatasetConfig(name="moons", n_samples=200))
    assert [r.dataset.name for r in w.document.race] == ["moons"] * 4
    assert "all 4 runners" in w.statusBar().currentMessage()
    # momentum differs between runners: an edit changes the runner the panels show, only
    _edit(w.optimizer_panel, SGD(lr=0.01, momentum=0.3))
    assert [r.optimizer.momentum for r in w.document.race] == [0.3, 0.5, 0.9, 0.99]
    assert w.race.race_list.item(0).text() == "sgd momentum=0.3"  # the lesson's name no longer fits
    assert "Runner 1" in w.statusBar().currentMessage()
    # one click leaves the race: Run then trains the panels' settings
    assert w.acts["clear_race"].isEnabled()
    w.acts["clear_race"].trigger()
    assert run.text() == "Run current settings" and "current settings" in run.toolTip()
    assert not w.acts["clear_race"].isEnabled()
    _edit(w.training_panel, TrainingConfig(epochs=2, batch_size=64, device="cpu"))
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    assert len(w.runs.live_runs) == 1
    trained = w.runs.live_runs[0]
    assert trained.dataset.name == "moons" and trained.optimizer.momentum == 0.3
    assert "Training the current settings" in " ".join(w.messages)
    assert w.classroom.pace_note == ""  # the lesson's teaching pace left with its race


def test_an_edit_shared_by_a_lesson_race_relabels_the_runners_it_changes(qtbot, make_window):
    """Issue 18.6: in clr-vs-fixed both runners share the optimizer section, so setting its
    rate to 1e-12 changes both; "fixed lr=0.01" then trained at 1e-12 under that name. Every
    runner's label must describe what it trains: the rate in a label is the rate of its run."""
    import re

    from optiscope.engine.store import RunStore

    w = make_window()
    w.files.load_preset("clr-vs-fixed")
    assert w.document.labels() == ["fixed lr=0.01", "CLR triangular"]
    _edit(w.optimizer_panel, SGD(lr=1e-12))
    assert [r.optimizer.lr for r in w.document.race] == [1e-12, 1e-12]
    labels = w.document.labels()
    assert "fixed lr=0.01" not in labels and "lr=1e-12" in labels[0]
    assert [w.race.race_list.item(i).text() for i in range(2)] == labels
    assert (
        "renamed" in w.statusBar().currentMessage()
        and "'fixed lr=0.01' is now" in w.statusBar().currentMessage()
    )
    _edit(w.training_panel, TrainingConfig(epochs=1, batch_size=32, device="cpu", seed=1))
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    stored = {r.id: r for r in RunStore().list_runs()}
    for run_id in w.runs.recording.stored_ids:
        rec = stored[run_id]
        trained = [e.lr for e in w.runs.epoch_events if w.runs.label(e.run) == rec.label]
        assert trained, rec.label
        for claimed in re.findall(r"lr=([0-9.e+-]+)", rec.label):  # each rate a label names
            assert trained[0] == float(claimed), (rec.label, trained)


def test_panels_are_a_draft_after_compare_and_the_race_is_left_alone(qtbot, make_window):
    w = make_window(wait_engine=False)
    w.set_experiment(_quick())
    w.race.compare()
    _edit(w.optimizer_panel, Adam(lr=0.002))
    assert [r.optimizer.lr for r in w.document.race] == [0.01]  # the race is unchanged
    assert "Compare" in w.statusBar().currentMessage() and "unchanged" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
    assert w.acts["run"].text() == "Run race (1 run)"


# ------------------------------------------------------------------ 1.2 labels
def test_race_labels_say_what_differs_can_be_renamed_and_reach_legend_export_and_store(qtbot, make_window):
    from optiscope.engine.store import RunStore

    w = make_window()
    w.set_experiment(_quick(optimizer=SGD(lr=0.01)))
    w.race.compare()
    _edit(w.optimizer_panel, SGD(lr=0.01, momentum=0.9))
    w.race.compare()
    assert [w.race.race_list.item(i).text() for i in range(2)] == ["sgd momentum=0", "sgd momentum=0.9"]
    item = w.race.race_list.item(0)
    item.setText("plain SGD")  # what F2 / Rename does in the list
    assert w.document.race[0].label == "plain SGD"
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.run()
    legend = w.plots.shown.legend_text
    assert "plain SGD" in legend and "sgd momentum=0.9" in legend
    csv_text = w.files.metrics_csv()
    assert "plain SGD" in csv_text and "sgd momentum=0.9" in csv_text
    ids = w.runs.recording.stored_ids
    assert len(ids) == 2
    stored = {r.id: r for r in RunStore().list_runs()}
    assert [stored[i].label for i in ids] == ["plain SGD", "sgd momentum=0.9"]
    assert [stored[i].status for i in ids] == ["completed", "completed"]
    assert [stored[i].epochs_done for i in ids] == [3, 3]


# ------------------------------------------------------------------ 1.3 live LR under a schedule
def test_ctrl_up_under_cyclic_lr_scales_the_schedule_and_leaves_the_panel(qtbot, make_window, torch_cyclic):
    w = make_window()
    w.set_experiment(_quick(optimizer=SGD(lr=0.05), schedule=Cyclic(base_lr=1e-3, max_lr=0.01, step_size=5)))
    ref = torch_cyclic(1e-3, 0.01, 5, 6)
    for n in (1, 2, 3):
        w.transport.step_once()
        qtbot.waitUntil(lambda n=n: w.runs.total_steps_seen == n, timeout=60_000)
    assert abs(w.runs.last_step[0].lr - ref[2]) < 1e-12
    w.acts["lr_up"].trigger()  # Ctrl+Up
    message = w.statusBar().currentMessage()
    assert "×2" in message and "cyclic schedule" in message and "Optimizer panel is unchanged" in message
    assert w.optimizer_panel.config().lr == 0.05  # the panel is not rewritten
    for n in (4, 5):
        w.transport.step_once()
        qtbot.waitUntil(lambda n=n: w.runs.total_steps_seen == n, timeout=30_000)
        assert abs(w.runs.last_step[0].lr - 2 * ref[n - 1]) < 1e-12  # still cycling, x2
    with qtbot.waitSignal(w.run_finished, timeout=30_000):
        w.transport.stop()


# ------------------------------------------------------------------ 1.5 Run during a run
def test_run_while_a_run_is_live_does_not_restart_it(qtbot, make_window):
    w = make_window()
    w.set_experiment(_quick(training=TrainingConfig(epochs=3000, batch_size=32, device="cpu")))
    w.run()
    qtbot.waitUntil(lambda: w.runs.total_steps_seen > 0, timeout=60_000)
    job = w.runs.job
    w.acts["run"].trigger()  # F5
    assert w.runs.job is job and job.thread.isRunning()
    assert "does not restart" in w.statusBar().currentMessage()
    w.transport.toggle_pause()
    w.acts["run"].trigger()  # F5 on a paused run resumes it
    assert w.runs.job is job and not w.runs.paused
    with qtbot.waitSignal(w.run_finished, timeout=30_000):
        w.transport.stop()


# ------------------------------------------------------------------ 1.6 the run store and the Runs tab
def test_window_runs_are_stored_and_the_runs_tab_lists_overlays_and_loads_them(qtbot, make_window):
    w = make_window()
    w.set_experiment(
        _quick(optimizer=SGD(lr=0.05, momentum=0.5), training=TrainingConfig(epochs=2, device="cpu"))
    )
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.run()
    (stored_id,) = w.runs.recording.stored_ids
    view = w.runs_view
    w.views.setCurrentWidget(view)  # showing the tab reads the store
    qtbot.waitUntil(lambda: any(r.id == stored_id for r in view.runs), timeout=30_000)
    row = next(
        view.table.topLevelItem(i)
        for i in range(view.table.topLevelItemCount())
        if view.table.topLevelItem(i).data(0, QtCore.Qt.ItemDataRole.UserRole) == stored_id
    )
    texts = [row.text(c) for c in range(view.table.columnCount())]
    assert texts[0] == "sgd lr=0.05 momentum=0.5" and texts[1] == "blobs n_samples=200 standardize=yes"
    assert texts[2].startswith("sgd lr=0.05 momentum=0.5") and texts[3] == "constant"
    assert texts[6] == "2/2" and texts[7] == "completed"
    assert float(texts[4]) == round(w.runs.epoch_events[-1].val_acc, 3)
    # overlay: the past run's per-epoch curves join the plots and stay across a new run
    view.select_ids([stored_id])
    view.overlay_button.click()
    from optiscope.gui.past_runs import PAST_RUN_ID_BASE

    past = PAST_RUN_ID_BASE + stored_id
    assert w.plots.shown.point_counts()["accuracy"][past] == 2
    assert "past: sgd lr=0.05 momentum=0.5" in w.plots.shown.legend_text
    # load settings: the panels show the stored run
    _edit(w.optimizer_panel, Adam(lr=0.003))
    view.load_button.click()
    assert w.current_run_config().optimizer == SGD(lr=0.05, momentum=0.5)
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.run()
    counts = w.plots.shown.point_counts()["accuracy"]
    assert counts[past] == 2 and counts[0] == 2
    view.clear_overlay_button.click()
    assert past not in w.plots.shown.point_counts()["accuracy"]


# ------------------------------------------------------------------ 2.5 File > Open on bad files
BAD_FILES = {
    "overflow.toml": "[base.schedule]\nkind = 'cyclic'\nstep_size = 4294967296\n",
    "deep.toml": "x = " + "[" * 600 + "]" * 600 + "\n",
    "seeds.toml": "independent_seeds = true\n[[variations]]\ntraining = 5\n",
    "binary.toml": "\x00\x01\x02 not toml",
    "unknown.toml": "[base.optimizer]\nkind = 'sgd'\nlr = 0.1\nspeed = 3\n",
    "cosine.toml": "[base.schedule]\nkind = 'cosine'\nt_max_steps = 99999999999\n",
}


def test_opening_a_bad_file_says_why_and_leaves_the_window_unchanged(
    qtbot, make_window, tmp_path, monkeypatch
):
    w = make_window(wait_engine=False)
    w.set_experiment(_quick(optimizer=SGD(lr=0.02, momentum=0.8)))
    w.race.compare()
    before = (w.current_run_config(), w.document.race, w.document.path, w.windowTitle())
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    for name, text in BAD_FILES.items():
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8"))
        assert w.files.open_experiment(path) is False, name
        assert len(shown) == 1 and "Traceback" not in shown[0], (name, shown)
        assert w.statusBar().currentMessage().startswith(f"Could not open {path}"), name
        assert (w.current_run_config(), w.document.race, w.document.path, w.windowTitle()) == before, name
        shown.clear()
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


# ------------------------------------------------------------------ 4 memory: start/stop cycles
def test_start_stop_cycles_leave_nothing_behind(qtbot, make_window):
    """Each run's job, control, thread and store recorder are freed once it has ended."""
    import gc
    import weakref

    w = make_window()
    w.set_experiment(_quick(training=TrainingConfig(epochs=3000, batch_size=32, device="cpu")))
    refs = []
    for _ in range(4):
        w.run()
        qtbot.waitUntil(lambda: w.runs.total_steps_seen > 0, timeout=60_000)
        job = w.runs.job
        refs += [weakref.ref(o) for o in (job, job.worker, w.runs.control, w.runs.recording)]
        with qtbot.waitSignal(w.run_finished, timeout=30_000):
            w.transport.stop()
        del job
    w.transport.reset()  # forgets the last run too
    for _ in range(3):
        gc.collect()
        QtWidgets.QApplication.processEvents()
    alive = [type(r()).__name__ for r in refs if r() is not None]
    assert alive == [], alive
