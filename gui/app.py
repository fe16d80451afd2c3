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


def main(argv: list[str] | None = None) -> int:
    """Open the Optiscope window and run the event loop; returns the exit code."""
    timing = bool(os.environ.get("OPTISCOPE_LAUNCH_TIMING"))
    exit_after_show = bool(os.environ.get("OPTISCOPE_EXIT_AFTER_SHOW"))
    app = create_app(argv)
    from PySide6 import QtCore

    from .main_window import MainWindow, _ExposeWatcher

    window = MainWindow()

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
