"""What the docs screenshot scripts share: an offscreen window at a size, and waiting on it.

Imported by ``docs/make_*.py`` (run as ``python docs/NAME.py``, so this folder is on the path).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPTISCOPE_SETTINGS", str(Path(tempfile.mkdtemp()) / "shots.ini"))


def open_window(width: int = 1280, height: int = 720, *, record: bool = True) -> tuple[Any, Any]:
    """The application and a started main window of ``width`` x ``height`` (``record=False``
    keeps its runs out of the user's run store)."""
    from optiscope.gui.app import create_app
    from optiscope.gui.main_window import MainWindow

    app = create_app()
    win = MainWindow(restore_last=False)
    if not record:
        win.runs.record = False
    win.resize(width, height)
    win.show()
    win.start()
    return app, win


def wait(app: Any, pred: Callable[[], bool], timeout: float = 600.0) -> None:
    """Process events until ``pred()`` holds (TimeoutError after ``timeout`` seconds)."""
    from PySide6 import QtCore

    end = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > end:
            raise TimeoutError("timed out")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)
