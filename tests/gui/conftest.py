"""GUI test fixtures: an isolated settings file, a window, and a guard that fails any test
leaving a QThread running or a QTimer active (CONVENTIONS rule 11, after napari's
``_dangling_qthreads`` / ``_dangling_qtimers``)."""

from __future__ import annotations

import weakref

import pytest
from PySide6 import QtCore


@pytest.fixture(scope="session", autouse=True)
def _garbage_collected_on_the_gui_thread(qapp):
    """As in the app: cyclic garbage (Qt objects of closed windows) is collected on the GUI
    thread only, never by a worker thread; set up once, before any test's timer check."""
    from optiscope.gui.worker import collect_garbage_on_gui_thread

    collector = collect_garbage_on_gui_thread()
    yield
    collector.stop()


@pytest.fixture(autouse=True)
def _questions_answered_go_on(monkeypatch):
    """A modal question never blocks a test: it is answered Discard (or Yes), as a user
    going on would. Tests about a question patch it themselves."""
    from PySide6 import QtWidgets

    std = QtWidgets.QMessageBox.StandardButton

    def answer(*args, **kwargs):
        buttons = args[3] if len(args) > 3 else kwargs.get("buttons", std.Yes)
        return std.Discard if buttons & std.Discard else std.Yes

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", answer)


@pytest.fixture(autouse=True)
def _no_dangling_qthreads_or_qtimers(monkeypatch, qapp):
    """Record every QThread/QTimer started during the test; fail if one is still live after it."""
    threads: list[weakref.ref] = []
    timers: list[weakref.ref] = []
    orig_thread_start = QtCore.QThread.start
    orig_timer_start = QtCore.QTimer.start

    def thread_start(self, *args):
        threads.append(weakref.ref(self))
        return orig_thread_start(self, *args)

    def timer_start(self, *args):
        timers.append(weakref.ref(self))
        return orig_timer_start(self, *args)

    monkeypatch.setattr(QtCore.QThread, "start", thread_start)
    monkeypatch.setattr(QtCore.QTimer, "start", timer_start)
    yield
    monkeypatch.undo()
    qapp.processEvents()
    running = []
    for ref in threads:
        t = ref()
        try:
            if t is not None and t.isRunning():
                running.append(t.objectName() or repr(t))
        except RuntimeError:  # the C++ object is gone: it cannot be running
            pass
    active = []
    for ref in timers:
        t = ref()
        try:
            if t is not None and t.isActive():
                active.append(
                    f"{t.objectName() or 'QTimer'} (interval {t.interval()} ms, parent {t.parent()!r})"
                )
        except RuntimeError:
            pass
    problems = []
    if running:
        problems.append(f"QThreads still running after the test: {running}")
    if active:
        problems.append(f"QTimers still active after the test: {active}")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """Every test gets its own settings file (never the user's)."""
    monkeypatch.setenv("OPTISCOPE_SETTINGS", str(tmp_path / "settings.ini"))


@pytest.fixture
def make_window(qtbot):
    """Build a shown MainWindow (real LivePlots) whose engine has loaded; closed after the test."""
    from optiscope.gui.main_window import MainWindow

    windows = []  # weak: a test may check that a closed window is garbage-collected
    # ...but an open one is held until it closes: collected while its engine still loads
    # (a test that ends early, run alone), its job's running QThread would abort the process
    open_windows: dict[int, MainWindow] = {}

    class _ForgetOnClose(QtCore.QObject):
        def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
            if event.type() == QtCore.QEvent.Type.Close:
                open_windows.pop(id(obj), None)
            return False

    forget = _ForgetOnClose()

    def make(*, wait_engine: bool = True, **kwargs):
        w = MainWindow(restore_last=kwargs.pop("restore_last", False), **kwargs)
        windows.append(weakref.ref(w))
        open_windows[id(w)] = w
        w.installEventFilter(forget)
        w.resize(1280, 720)
        w.show()
        w.start()
        if wait_engine:
            qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
        return w

    yield make
    for ref in windows:
        w = ref()
        if w is not None:
            w.close()
            w.removeEventFilter(forget)
            w.deleteLater()
    open_windows.clear()


@pytest.fixture
def quick_blobs():
    """The studies' blobs set-up, cut to a few short epochs (fast on 2 shared cores)."""
    from optiscope.engine.config import Adam, DatasetConfig, ExperimentConfig, RunConfig, TrainingConfig

    run = RunConfig(
        dataset=DatasetConfig(name="blobs", n_samples=200),
        optimizer=Adam(lr=0.01),
        training=TrainingConfig(epochs=3, batch_size=32, device="cpu"),
    )
    return ExperimentConfig(name="quick", base=run)
