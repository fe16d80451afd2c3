"""``optiscope`` without a command (and ``optiscope-app``): open the window.

Start-up is kept short: only Qt, pydantic and the torch-free config modules are imported
before the window is shown; plots (pyqtgraph) and the engine (torch, scikit-learn) load
behind it. ``OPTISCOPE_LAUNCH_TIMING=1`` prints ``OPTISCOPE_SHOWN <unix time>`` when the
window is first on screen (for bench/bench_gui.py); ``OPTISCOPE_EXIT_AFTER_SHOW=1`` then quits.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["main", "create_app"]


def create_app(argv: list[str] | None = None):  # -> QtWidgets.QApplication
    """The QApplication, with Optiscope's name, icon and a readable default font size."""
    from importlib import resources

    from PySide6 import QtGui, QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Optiscope")
    app.setOrganizationName("Optiscope")
    app.setApplicationDisplayName("Optiscope")
    app.setStyle("Fusion")
    try:
        icon_data = resources.files("optiscope.resources").joinpath("icons/optiscope.svg").read_bytes()
        pix = QtGui.QPixmap()
        if pix.loadFromData(icon_data):
            app.setWindowIcon(QtGui.QIcon(pix))
    except OSError:
        pass
    font = app.font()
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
        app.setFont(font)
    return app


def no_display_reason(environ: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why a window cannot open here (Linux/BSD without X11 or Wayland), or None.

    Without this check Qt aborts the process with a plugin message that does not say the
    real problem; a headless server should get one clear line and a way forward.
    """
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if plat.startswith(("win", "darwin", "cygwin")) or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set). "
        "Start it from a desktop session, or train headless with the command line, e.g. "
        "'optiscope run --preset blobs-sgd --out out' (see 'optiscope --help')."
    )


def parse_options(args: list[str]):  # -> argparse.Namespace
    """``optiscope-app`` options: ``--lesson FILE|NAME`` starts straight into a lesson (it runs
    once the engine is loaded), ``--presentation`` opens in presentation mode."""
    import argparse

    parser = argparse.ArgumentParser(prog="optiscope-app", description="Open the Optiscope window.")
    parser.add_argument("--lesson", metavar="FILE|NAME", help="a lesson file or a bundled lesson's name")
    parser.add_argument("--presentation", action="store_true", help="full screen, large text, high contrast")
    return parser.parse_known_args(args)[0]  # Qt's own options (-style, ...) pass through


def main(argv: list[str] | None = None) -> int:
    """Open the Optiscope window and run the event loop; returns the exit code."""
    options = parse_options(sys.argv[1:] if argv is None else argv[1:])
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
    timing = bool(os.environ.get("OPTISCOPE_LAUNCH_TIMING"))
    exit_after_show = bool(os.environ.get("OPTISCOPE_EXIT_AFTER_SHOW"))
    app = create_app(argv)
    from PySide6 import QtCore

    from .main_window import MainWindow, _ExposeWatcher

    window = MainWindow(restore_last=lesson is None)
    if lesson is not None:
        window.set_experiment(*lesson)
        window.engine_ready.connect(window.run)  # starts straight into the lesson
    if options.presentation:
        window.classroom.set_presentation(True)

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

    watcher = _ExposeWatcher(on_shown)
    if not options.presentation:
        window.show()
    handle = window.windowHandle()
    if handle is not None:
        handle.installEventFilter(watcher)
        if handle.isExposed():  # already on screen: the filters came too late
            on_shown()
            QtCore.QMetaObject.invokeMethod(window, "start", QtCore.Qt.ConnectionType.QueuedConnection)
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
