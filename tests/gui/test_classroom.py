"""Lessons in the window: results table, annotations, pace, title, presentation mode."""

from __future__ import annotations

import csv
import io

import pytest
from optiscope.engine.config import ConfigError
from optiscope.engine.presets import get_preset
from PySide6 import QtGui
from PySide6.QtCore import Qt


def short_lesson(name: str = "momentum-sweep", epochs: int = 6, threshold: float = 0.6):
    """A bundled lesson cut to a few epochs, its threshold lowered so it is crossed."""
    exp = get_preset(name).with_overrides(epochs=epochs)
    data = exp.model_dump(mode="python")
    for obs in data["classroom"]["observe"]:
        if obs["kind"] == "threshold":
            obs["value"] = threshold
    return type(exp).model_validate(data)


def run_to_end(qtbot, w) -> None:
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    w.flush_plots()


def test_lesson_run_fills_results_table_and_annotates_plots(qtbot, make_window, tmp_path):
    w = make_window()
    exp = short_lesson()
    w.settings.set_lesson_pace(exp.name, 0)  # full speed for the test
    w.set_experiment(exp)
    assert w.classroom.table.isVisibleTo(w)
    assert "80 %" in w.classroom.table.question.text()
    run_to_end(qtbot, w)
    assert w.runs.delay == 0.0
    table = w.classroom.table
    headers = table.headers()
    assert headers[:2] == ["Run", "Epochs to val_acc ≥ 60 %"]
    rows = table.rows()
    assert [r[0] for r in rows] == ["momentum=0", "momentum=0.5", "momentum=0.9", "momentum=0.99"]
    # independent check: the window's own epoch events (what metrics.csv holds)
    last = {}
    for e in w.runs.epoch_events:
        last[e.run] = e
    exported = tmp_path / "results.csv"
    assert w.classroom.export_results(exported)
    lines = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert len(lines) == 4
    for line in lines:
        e = last[int(line["run"])]
        assert float(line["final_val_acc"]) == pytest.approx(e.val_acc)
        assert float(line["gap_acc"]) == pytest.approx(e.train_acc - e.val_acc)
        assert line["reason"] == "completed"
        crossed = [x.epoch for x in w.runs.epoch_events if x.run == e.run and x.val_acc >= 0.6]
        assert line["epochs_to_val_acc_0.6"] == (str(crossed[0]) if crossed else "")
    shown = w.plots.shown.annotations()
    captions = [a[3] for a in shown]
    assert sum(c.startswith("best ") for c in captions) == 4  # one per run, at the end
    # sortable: by final validation accuracy, numbers sort as numbers
    col = headers.index("Final val acc")
    table.table.sortItems(col, Qt.SortOrder.DescendingOrder)
    values = [float(r[col].rstrip(" %")) for r in table.rows()]
    assert values == sorted(values, reverse=True)


def test_lesson_pace_sets_slow_motion_and_a_chosen_speed_is_remembered(qtbot, make_window):
    from optiscope.gui.classroom import pace_delay

    exp = get_preset("momentum-sweep")
    # 500 training points / batch 32 -> 16 updates per epoch, 200 epochs, the 4 runs batched
    assert pace_delay(exp.runs(), 40.0) == pytest.approx(40.0 / (16 * 200))
    race = get_preset("optimizer-race")
    # digits: 1797 rows, 70 % train -> 1257 / 32 -> 40 updates per epoch, 40 epochs, batched
    assert pace_delay(race.runs(), 45.0) == pytest.approx(45.0 / (40 * 40))

    w = make_window()
    w.set_experiment(short_lesson(epochs=2))
    assert w.run()
    delay = w.runs.delay
    assert delay == pytest.approx(40.0 / (16 * 2))
    assert w.transport.speed_label.text() == "lesson: 0.8/s"  # 32 updates in 40 s
    w.transport.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    w.transport.set_speed_index(1)  # the teacher picks "fast": remembered for this lesson
    assert w.settings.lesson_pace("momentum-sweep") == 1
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.acts["replay"].trigger()
    assert w.runs.delay == 0.002


@pytest.fixture
def app_font(qapp):
    """The font the app sets (create_app: at least 10 pt) for one test, then the test default."""
    before = qapp.font()
    font = QtGui.QFont(before)
    font.setPointSizeF(max(before.pointSizeF(), 10))
    qapp.setFont(font)
    yield font
    qapp.setFont(before)


@pytest.mark.parametrize("presenting", [False, True])
def test_lesson_pace_label_fits_the_toolbar_at_1280(qtbot, make_window, app_font, presenting):
    w = make_window()
    w.files.load_preset("momentum-sweep")  # its pace: 3200 updates in 40 s
    if presenting:
        w.classroom.set_presentation(True)
        w.showNormal()  # offscreen has no real full screen: the window is sized instead
    w.resize(1280, 720)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == (1280, 720))
    assert w.run()
    label = w.transport.speed_label
    assert label.text() == "lesson: 80/s"
    w.transport.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    qtbot.wait(50)  # the toolbar lays out its new text
    # on the toolbar, not in its overflow menu, and wide enough for its whole text
    assert label.isVisible() and w.toolbar.rect().contains(label.geometry())
    assert label.width() >= label.sizeHint().width(), (label.width(), label.sizeHint().width())


def test_a_lesson_without_a_pace_does_not_keep_the_previous_lessons_pace(qtbot, make_window):
    from optiscope.gui.run_controller import SPEEDS

    w = make_window()
    w.set_experiment(short_lesson(epochs=2))
    assert w.run() and w.transport.speed_label.text().startswith("lesson:")
    w.transport.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    w.files.load_preset("blobs-sgd")  # no [classroom] pace
    assert w.run()
    w.transport.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    delay, text = SPEEDS[w.transport.speed_slider.value()]
    assert w.transport.speed_label.text() == text and w.runs.delay == delay  # the speed control's own


def test_window_title_names_the_lesson_or_file_once(make_window, tmp_path):
    from optiscope.engine.config import dump_toml

    w = make_window(wait_engine=False)
    assert w.windowTitle() == "Optiscope"
    w.files.load_preset("momentum-sweep")
    assert w.windowTitle() == "momentum-sweep"  # Qt adds " — Optiscope" on screen
    path = tmp_path / "my-lesson.toml"
    dump_toml(get_preset("plateau-patience"), path)
    assert w.files.open_experiment(path, quiet=True)
    assert w.windowTitle() == "my-lesson"


def test_open_lesson_file_round_trip_and_invalid_lesson_errors(make_window, tmp_path):
    w = make_window(wait_engine=False)
    good = tmp_path / "lesson.toml"
    good.write_text(
        'name = "mine"\nlesson = "Watch."\n[classroom]\nquestion = "Who wins?"\npace_seconds = 30\n'
        'observe = [{ kind = "threshold", metric = "val_acc", value = 0.7 }]\n'
    )
    assert w.files.open_experiment(good, quiet=True)
    assert w.classroom.lesson is not None and w.classroom.table.question.text() == "Who wins?"
    assert w.classroom.table.headers()[1] == "Epochs to val_acc ≥ 70 %"
    bad = tmp_path / "bad.toml"
    bad.write_text('[classroom]\nobserve = [{ kind = "threshold", metric = "val_accuracy", value = 0.7 }]\n')
    assert not w.files.open_experiment(bad, quiet=True)
    assert "classroom.observe.0.threshold.metric" in w.messages[-1]
    assert w.classroom.table.question.text() == "Who wins?"  # a bad file changes nothing


def test_resolve_lesson_by_name_or_file_and_a_clear_error(tmp_path):
    from optiscope.gui.classroom import resolve_lesson

    exp, path = resolve_lesson("momentum-sweep")
    assert exp.name == "momentum-sweep" and path is None
    with pytest.raises(
        ConfigError, match="no lesson file or bundled lesson named 'momentum'.*momentum-sweep"
    ):
        resolve_lesson("momentum")
    with pytest.raises(ConfigError, match="no such file"):
        resolve_lesson(str(tmp_path / "missing.toml"))


def test_app_refuses_a_bad_lesson_with_one_line(capsys):
    from optiscope.gui.app import main, parse_options

    assert main(["--lesson", "no-such-lesson"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optiscope-app: error: no lesson file or bundled lesson named 'no-such-lesson'")
    opts = parse_options(["--lesson", "momentum-sweep", "--presentation"])
    assert opts.lesson == "momentum-sweep" and opts.presentation


def test_optiscope_takes_the_window_options_as_optiscope_app_does(capsys, monkeypatch):
    import optiscope.gui.app as app
    from optiscope.engine.cli import main as cli_main

    # a bad lesson name reaches the window's own check (before any window opens), not argparse
    assert cli_main(["--lesson", "no-such-lesson"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice" not in err
    assert "no lesson file or bundled lesson named 'no-such-lesson'" in err
    seen: list[list[str]] = []
    monkeypatch.setattr(app, "main", lambda argv=None: seen.append(list(argv or [])) or 0)
    assert cli_main(["--lesson", "momentum-sweep", "--presentation"]) == 0
    assert seen == [["--lesson", "momentum-sweep", "--presentation"]]
    assert cli_main(["--lesson", "momentum-sweep", "presets"]) == 2  # a window option and a command
    assert capsys.readouterr().err.count("\n") == 1


def test_presentation_mode_is_readable_from_the_back_of_the_room(qtbot, make_window):
    from optiscope.gui.colors import OKABE_ITO_RUNS, RUN_PALETTE

    w = make_window()
    exp = short_lesson(epochs=2)
    w.settings.set_lesson_pace(exp.name, 0)
    w.set_experiment(exp)
    run_to_end(qtbot, w)
    assert w.experiment_dock.isVisible()
    w.acts["presentation"].trigger()
    try:
        assert w.classroom.presenting and w.isFullScreen()
        assert not w.experiment_dock.isVisible() and not w.lesson_dock.isVisible()
        plots = w.plots
        assert plots.presenting and plots.theme == "contrast"
        for name in ("lr", "loss", "accuracy"):
            axis = plots.shown.plot(name).getAxis("bottom")
            assert QtGui.QFontInfo(axis.style["tickFont"]).pixelSize() >= 18
        for rid in range(4):
            assert plots.shown.color_for(rid).name() == OKABE_ITO_RUNS[rid]
            for key in ("lr", "smooth", "acc_train", "acc_val"):
                assert plots.shown.curve(rid, key).opts["pen"].widthF() >= 3
        # a second cue besides colour: each run its own line style on the LR and loss curves
        styles = {plots.shown.curve(rid, "smooth").opts["pen"].style() for rid in range(4)}
        assert len(styles) == 4
        # the four equal LR curves lie on one another: each draws its own share of the dashes
        assert plots.shown.overlapping("lr") == [[0, 1, 2, 3]]
        assert len({plots.shown.curve(rid, "lr").opts["pen"].dashOffset() for rid in range(4)}) == 4
        # spotlight: clicking a legend entry fades the others; clicking it again shows all
        plots.frame.legend.linkActivated.emit("run:2")
        assert plots.shown.spotlit == 2
        assert (
            plots.shown.curve(2, "smooth").opacity() == 1.0 and plots.shown.curve(0, "smooth").opacity() < 0.3
        )
        plots.frame.legend.linkActivated.emit("run:2")
        assert plots.shown.spotlit is None and plots.shown.curve(0, "smooth").opacity() == 1.0
    finally:
        w.acts["presentation"].trigger()
    assert not w.classroom.presenting and not w.isFullScreen()
    assert w.experiment_dock.isVisible()
    assert w.plots.shown.color_for(0).name() == RUN_PALETTE[0] and w.plots.theme == "light"
    assert w.plots.shown.curve(0, "smooth").opts["pen"].widthF() == 2


def test_leaving_presentation_started_before_the_window_shows_brings_the_panels_back(qtbot):
    """As ``optiscope-app --lesson … --presentation`` does: presentation is switched on before the
    window is first shown; leaving it must bring back the experiment and lesson panels."""
    from optiscope.gui.main_window import MainWindow

    w = MainWindow(restore_last=False)
    try:
        w.set_experiment(get_preset("momentum-sweep"))
        w.classroom.set_presentation(True)
        qtbot.waitExposed(w)
        assert w.isFullScreen()
        assert not w.experiment_dock.isVisible() and not w.lesson_dock.isVisible()
        w.classroom.set_presentation(False)
        qtbot.waitUntil(lambda: w.experiment_dock.isVisible(), timeout=5_000)
        assert w.lesson_dock.isVisible() or w.lesson_dock in w.tabifiedDockWidgets(w.experiment_dock)
        assert w.experiment_dock.toggleViewAction().isChecked()
        assert not w.isFullScreen()
    finally:  # as make_window does: the engine loaded, closed, deleted on Qt's side
        w.start()
        qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
        w.close()
        w.deleteLater()


def test_opening_a_lesson_stops_the_old_run_clears_its_curves_and_is_ready_to_run(
    qtbot, make_window, monkeypatch
):
    from PySide6 import QtWidgets

    std = QtWidgets.QMessageBox.StandardButton
    asked: list[str] = []
    reply = {"button": std.No}
    monkeypatch.setattr(
        QtWidgets.QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or reply["button"]
    )
    w = make_window()
    w.settings.set_lesson_pace("momentum-sweep", 0)
    w.set_experiment(short_lesson(epochs=200))
    w.transport.step_epoch()  # by hand: a paused run, still live when the lesson opens
    qtbot.waitUntil(lambda: any(w.plots.shown.point_counts().get("loss", {}).values()), timeout=60_000)
    assert w.running and w.transport.by_hand

    # the user keeps the run they started: nothing opens
    w.files.load_preset("optimizer-race")
    assert asked and "still training" in asked[-1]
    assert w.running and w.classroom.lesson_name == "momentum-sweep"

    # the user stops it: the old curves go, the new lesson is in place, Run (F5) starts it
    reply["button"] = std.Yes
    w.files.load_preset("optimizer-race")
    assert not w.running
    assert w.classroom.lesson_name == "optimizer-race"
    assert not any(n for counts in w.plots.shown.point_counts().values() for n in counts.values())
    assert w.classroom.table.rows() == []
    assert w.acts["run"].isEnabled()
    w.set_experiment(get_preset("optimizer-race").with_overrides(epochs=1))
    with qtbot.waitSignal(w.run_started, timeout=60_000):
        w.acts["run"].trigger()
    w.runs.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)


def test_a_lesson_that_started_by_itself_gives_way_to_the_next_without_a_question(
    qtbot, make_window, monkeypatch
):
    from PySide6 import QtWidgets

    asked: list[str] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: asked.append(a[2]))
    w = make_window()
    w.settings.set_lesson_pace("momentum-sweep", 0)
    w.set_experiment(short_lesson(epochs=200))
    assert w.transport.run(by_hand=False)  # as optiscope-app --lesson starts it
    w.runs.toggle_pause()
    assert w.running
    w.files.load_preset("optimizer-race")
    assert not asked and not w.running and w.classroom.lesson_name == "optimizer-race"


def test_presentation_fills_the_screen_where_no_window_manager_honours_full_screen(
    qtbot, make_window, monkeypatch
):
    """Xvfb alone, a kiosk: showFullScreen changes nothing, so the window sizes itself."""
    from optiscope.gui.main_window import MainWindow

    # not honoured: the window's state says full screen, its geometry stays
    monkeypatch.setattr(MainWindow, "showFullScreen", lambda self: self.show())
    monkeypatch.setattr(MainWindow, "isFullScreen", lambda self: self.classroom.presenting)
    w = make_window(wait_engine=False)
    w.showNormal()
    w.setGeometry(10, 20, 640, 400)
    before = w.geometry()
    screen = w.screen().geometry()
    assert before != screen
    w.acts["presentation"].trigger()  # F11
    qtbot.waitUntil(lambda: w.geometry() == screen, timeout=5_000)
    w.acts["presentation"].trigger()
    assert w.geometry() == before  # and gives the room back on leaving
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


def test_presentation_before_the_window_shows_fills_the_screen_without_a_window_manager(qtbot, monkeypatch):
    """As ``optiscope-app --lesson … --presentation`` starts, with no window manager."""
    from optiscope.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "showFullScreen", lambda self: self.show())
    monkeypatch.setattr(MainWindow, "isFullScreen", lambda self: self.classroom.presenting)
    w = MainWindow(restore_last=False)
    try:
        w.setGeometry(50, 60, 640, 400)
        assert w.geometry() != w.screen().geometry()
        w.classroom.set_presentation(True)
        qtbot.waitExposed(w)
        qtbot.waitUntil(lambda: w.geometry() == w.screen().geometry(), timeout=5_000)
    finally:  # as make_window does: the engine loaded, closed, deleted on Qt's side
        w.start()
        qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
        w.close()
        w.deleteLater()
