"""``optiscope`` without a command (and ``optiscope-app``): open the window.

Start-up is kept short: only Qt, pydantic and the torch-free config modules are imported
before the window is shown; plots (pyqtgraph) and the engine (torch, scikit-learn) load
behind it. ``OPTISCOPE_LAUNCH_TIMING=1`` prints ``OPTISCOPE_SHOWN <unix time>`` when the
window is first on screen (for bench/bench_gui.py); ``OPTISCOPE_EXIT_AFTER_SHOW=1`` then quits.

``optiscope-app --self-test`` (``optiscope --self-test`` in the frozen bundle) checks an install:
it reports missing Qt plugins or bundled resources, prints :func:`~optiscope.gui.about.about_text`,
shows the window, trains one short run in it and exits (0 when everything worked). The
frozen-app smoke test (packaging/smoke_test.py) runs it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .qt_app import create_app

__all__ = ["main", "create_app", "new_window", "no_display_reason", "self_test", "qt_problems"]


#: Qt platforms that draw without a display server (Qt never aborts for want of one)
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")
_CLI_ADVICE = (
    "Start it from a desktop session, or train headless with the command line, e.g. "
    "'optiscope run --preset blobs-sgd --out out' (see 'optiscope --help')."
)


def no_display_reason(
    environ: dict[str, str] | None = None, platform: str | None = None, advice: str = _CLI_ADVICE
) -> str | None:
    """Why a window cannot open here (Linux/BSD without X11 or Wayland), or None.

    Without this check Qt aborts the process with a plugin message that does not say the
    real problem; a headless server should get one clear line and a way forward (``advice``).
    ``QT_QPA_PLATFORM`` naming a platform of :data:`HEADLESS_PLATFORMS` needs no display.
    """
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if plat.startswith(("win", "darwin", "cygwin")) or qpa in HEADLESS_PLATFORMS:
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    if qpa and qpa not in ("xcb", "wayland", "wayland-egl"):
        return None  # a platform of its own: Qt knows whether it can draw
    return f"no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set). {advice}"


def new_window(*, restore_last: bool = False) -> Any:  # -> MainWindow
    """A new, shown main window (the QApplication made if there is none) whose plots are
    built and whose engine loads in the background; for the notebook API (:mod:`.notebook`)."""
    create_app()
    from .main_window import MainWindow

    window = MainWindow(restore_last=restore_last)
    window.resize(1280, 720)
    window.show()
    window.start()
    return window


def parse_options(args: list[str]):  # -> argparse.Namespace
    """``optiscope-app`` options: ``--lesson FILE|NAME`` starts straight into a lesson (it runs
    once the engine is loaded), ``--presentation`` opens in presentation mode."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str):  # one line, not argparse's usage block
            unknown = message.split(": ", 1)[-1] if "unrecognized arguments" in message else ""
            if unknown:
                message = f"unknown argument {unknown.split()[0]!r} (allowed: --lesson, --presentation, --self-test)"
            print(f"optiscope-app: error: {message}", file=sys.stderr)
            raise SystemExit(2)

    parser = Parser(prog="optiscope-app", description="Open the Optiscope window.")
    parser.add_argument("--lesson", metavar="FILE|NAME", help="a lesson file or a bundled lesson's name")
    parser.add_argument("--presentation", action="store_true", help="full screen, large text, high contrast")
    parser.add_argument(
        "--self-test", action="store_true", help="check the installation, train a short run, exit"
    )
    return parser.parse_args(args)


def main(argv: list[str] | None = None) -> int:
    """Open the Optiscope window and run the event loop; returns the exit code.

    ``argv``: the arguments after the program name (default ``sys.argv[1:]``): ``--lesson``,
    ``--presentation`` or ``--self-test``; anything else exits 2 with one line.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse_options(args)
    except SystemExit as exc:  # argparse has printed its one-line error
        return int(exc.code or 0)
    lesson = None
    if options.lesson:
        from optiscope.engine.config import ConfigError

        from .classroom import resolve_lesson

        try:
            lesson = resolve_lesson(options.lesson)
        except ConfigError as exc:
            print(f"optiscope-app: error: {exc}", file=sys.stderr)
            return 2
    reason = no_display_reason()
    if reason is not None:
        print(f"optiscope: error: {reason}", file=sys.stderr)
        return 2
    if options.self_test:
        return self_test()
    timing = bool(os.environ.get("OPTISCOPE_LAUNCH_TIMING"))
    exit_after_show = bool(os.environ.get("OPTISCOPE_EXIT_AFTER_SHOW"))
    app = create_app()
    from PySide6 import QtCore

    from .expose import ExposeWatcher
    from .main_window import MainWindow

    window = MainWindow(restore_last=lesson is None)
    if lesson is not None:
        window.set_experiment(*lesson)
        # starts straight into the lesson (by itself: opening another lesson stops it unasked)
        window.engine_ready.connect(lambda: window.transport.run(by_hand=False))
    if options.presentation:
        window.classroom.set_presentation(True)
    if timing and lesson is not None:
        _report_lesson_running(window)

    def report_shown() -> None:
        print(f"OPTISCOPE_SHOWN {time.time():.6f}", flush=True)
        if exit_after_show:
            window.close()

    def on_shown() -> None:
        # called when the window is first exposed, before Qt paints it: report after the paint
        if exit_after_show:
            window._started = True  # skip plots and engine: this run only measures start-up
        if timing or exit_after_show:
            QtCore.QTimer.singleShot(0, report_shown)

    watcher = ExposeWatcher(on_shown)
    _show_watched(window, watcher, on_shown, show=not options.presentation)
    return int(app.exec())


def _report_lesson_running(window: Any) -> None:
    """Print ``OPTISCOPE_LESSON_RUNNING <unix time>`` when the lesson's first steps reach the
    window (for bench/bench_gui.py and bench/bench_lesson_seeds.py), then
    ``OPTISCOPE_LESSON_RUNS <n>``, the runs started by then (runners x seeds);
    ``OPTISCOPE_EXIT_AFTER_RUNNING=1`` then closes it."""
    from optiscope.engine import events as ev
    from PySide6 import QtCore

    started: set[int] = set()

    def on_events(events: list) -> None:
        started.update(e.run for e in events if type(e) is ev.RunStarted)
        if any(type(e) is ev.Steps for e in events):
            window.events_received.disconnect(on_events)
            print(f"OPTISCOPE_LESSON_RUNNING {time.time():.6f}", flush=True)
            print(f"OPTISCOPE_LESSON_RUNS {len(started)}", flush=True)
            if os.environ.get("OPTISCOPE_EXIT_AFTER_RUNNING"):
                QtCore.QTimer.singleShot(0, window.close)

    window.events_received.connect(on_events)


# Qt plugins the window needs, per platform: (plugin folder, file-name fragment, what breaks)
_REQUIRED_PLUGINS = {
    "linux": [("platforms", "qxcb", "the window on X11"), ("platforms", "qoffscreen", "offscreen rendering")],
    "win32": [("platforms", "qwindows", "the window")],
    "darwin": [("platforms", "qcocoa", "the window")],
}
_COMMON_PLUGINS = [("imageformats", "qsvg", "the SVG icon"), ("iconengines", "qsvgicon", "SVG icons")]
_RESOURCES = ("icons/optiscope.svg", "style-light.qss", "style-dark.qss")


def qt_problems() -> list[str]:
    """What is missing for the window: Qt plugins, image formats, styles, bundled resources.

    Needs the QApplication (see :func:`create_app`).
    """
    from importlib import resources

    from PySide6 import QtCore, QtGui, QtWidgets

    problems = []
    plugins = Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath))
    key = "linux" if sys.platform.startswith("linux") else sys.platform
    for folder, fragment, purpose in _REQUIRED_PLUGINS.get(key, []) + _COMMON_PLUGINS:
        if not any(fragment in p.name for p in (plugins / folder).glob("*")):
            problems.append(f"Qt plugin {folder}/{fragment} is missing from {plugins} (needed for {purpose})")
    formats = {bytes(f).decode() for f in QtGui.QImageReader.supportedImageFormats()}
    for fmt in ("png", "svg"):
        if fmt not in formats:
            problems.append(f"Qt cannot read {fmt.upper()} images (image formats: {sorted(formats)})")
    if "Fusion" not in QtWidgets.QStyleFactory.keys():
        problems.append("the Fusion style is missing")
    try:
        from PySide6 import QtSvg  # noqa: F401  (SVG export uses QSvgGenerator)
    except ImportError as exc:
        problems.append(f"QtSvg cannot be imported: {exc}")
    root = resources.files("optiscope.resources")
    for name in _RESOURCES:
        if not root.joinpath(name).is_file():
            problems.append(f"bundled resource {name} is missing")
    if not any(p.name.endswith(".toml") for p in root.joinpath("presets").iterdir()):
        problems.append("no bundled presets")
    if QtWidgets.QApplication.windowIcon().isNull():
        problems.append("the window icon did not load")
    return problems


def _show_watched(window: Any, watcher: Any, already_shown: Callable[[], None], *, show: bool = True) -> None:
    """Show ``window`` (unless presentation mode shows it) with ``watcher`` on its first exposure;
    if it is already on screen the filter came too late: call ``already_shown`` and start it now."""
    from PySide6 import QtCore

    if show:
        window.show()
    handle = window.windowHandle()
    if handle is not None:
        handle.installEventFilter(watcher)
        if handle.isExposed():
            already_shown()
            QtCore.QMetaObject.invokeMethod(window, "start", QtCore.Qt.ConnectionType.QueuedConnection)


def self_test(epochs: int = 2, timeout_s: float = 240.0) -> int:
    """Check this install: plugins and resources, then the window trains one short run.

    Prints ``OPTISCOPE_SHOWN <unix time>`` and ``OPTISCOPE_ENGINE_READY <unix time>`` as they
    happen (with ``OPTISCOPE_SELF_TEST_SHOT=PATH`` the finished window is saved there as a PNG),
    the About text, and finally ``OPTISCOPE_SELF_TEST ok`` or
    ``OPTISCOPE_SELF_TEST failed: <reasons>``. Settings go to a temporary file (yours are not
    touched). Returns the exit code.
    """
    import tempfile

    from PySide6 import QtCore, QtGui

    from .about import about_text
    from .fonts import text_problems

    app = create_app()
    failures = qt_problems() + text_problems()
    print("About:")
    for line in about_text().splitlines():
        print(f"  {line}")
    print(f"  Font: {QtGui.QFontInfo(app.font()).family()}")
    sys.stdout.flush()

    from optiscope.engine.presets import get_preset

    from .expose import ExposeWatcher
    from .main_window import MainWindow
    from .settings import AppSettings

    settings_dir = tempfile.TemporaryDirectory(prefix="optiscope-self-test-")
    window = MainWindow(settings=AppSettings(Path(settings_dir.name) / "settings.ini"), restore_last=False)
    state = {"shown": False, "started": False, "trained": False}

    def fail(reason: str) -> None:
        if reason not in failures:
            failures.append(reason)
        app.quit()

    def on_shown() -> None:
        if not state["shown"]:
            state["shown"] = True
            print(f"OPTISCOPE_SHOWN {time.time():.6f}", flush=True)

    def on_engine_ready() -> None:
        print(f"OPTISCOPE_ENGINE_READY {time.time():.6f}", flush=True)
        try:
            experiment = get_preset("blobs-sgd").with_overrides(epochs=epochs)
            window.set_experiment(experiment)
            check_messages()
            state["started"] = True
            if not window.run():
                fail(f"Run did not start: {window.messages[-1] if window.messages else 'no reason given'}")
        except Exception as exc:  # a broken install shows up here: report it, do not hang
            fail(f"starting the run failed: {type(exc).__name__}: {exc}")

    def on_finished(reason: str) -> None:
        if reason != "completed":
            fail(f"the run ended '{reason}' instead of completing: {window.messages[-1:]}")
            return
        metrics_csv = getattr(getattr(window, "files", None), "metrics_csv", None)
        rows = [line for line in metrics_csv().splitlines()[1:] if line.strip()] if metrics_csv else None
        if rows is None:
            print("note: the window has no metrics_csv(); the run's rows were not counted", flush=True)
        elif len(rows) != epochs:
            fail(f"the run completed but its metrics have {len(rows)} rows, not {epochs}")
            return
        state["trained"] = True
        shot = os.environ.get("OPTISCOPE_SELF_TEST_SHOT")
        if shot:  # what the window looked like (an install test looks at its text)
            window.grab().save(shot)
            print(f"OPTISCOPE_SELF_TEST_SHOT {shot}", flush=True)
        app.quit()

    def check_messages() -> None:
        # before the run starts the window reports only problems (engine, plots, landscape)
        messages = list(getattr(window, "messages", []))
        if messages and not state["started"]:
            fail("the window reported: " + " | ".join(messages))

    poll = QtCore.QTimer()
    poll.setInterval(250)
    poll.timeout.connect(check_messages)
    poll.start()
    window.engine_ready.connect(on_engine_ready)
    window.run_finished.connect(on_finished)
    watcher = ExposeWatcher(lambda: QtCore.QTimer.singleShot(0, on_shown))  # after the first paint
    deadline = QtCore.QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(lambda: fail(f"no finished run after {timeout_s:.0f} s"))
    deadline.start(int(timeout_s * 1000))
    _show_watched(window, watcher, on_shown)
    try:
        app.exec()
    finally:
        deadline.stop()
        poll.stop()
        window.engine_ready.disconnect(on_engine_ready)
        window.run_finished.disconnect(on_finished)
        handle = window.windowHandle()
        if handle is not None:
            handle.removeEventFilter(watcher)
        window.close()
        window.deleteLater()
        app.processEvents()
        settings_dir.cleanup()
    if not state["shown"]:
        failures.append("the window was never shown")
    if not state["trained"] and not failures:
        failures.append("the run did not finish")
    if failures:
        print("OPTISCOPE_SELF_TEST failed: " + "; ".join(failures), flush=True)
        return 1
    print("OPTISCOPE_SELF_TEST ok", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
