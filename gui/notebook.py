"""The window for the notebook API: ``optiscope.show(result)`` and ``optiscope.run(..., show=True)``.

:class:`Viewer` opens a :class:`~.main_window.MainWindow` (making the QApplication if there is
none) and draws runs trained by the API in it, through the run controller as a run trained in
the window is drawn: all at once for a finished result, or event by event while
``optiscope.run`` trains (the window's event loop is given a turn about 25 times a second, so
it stays responsive in a script or a notebook cell). The shown runs' results become the
window's, so File → Save weights and Save run bundle work on them.

The API checks for a display before it comes here (:func:`.app.no_display_reason`: Qt aborts
the process without one).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from PySide6 import QtCore, QtWidgets

__all__ = ["Viewer"]

FEED_INTERVAL = 1.0 / 25.0  # live runs: the event loop gets a turn at most this often


class Viewer:
    """A window showing runs trained by the notebook API.

    Parameters
    ----------
    experiment
        The experiment the runs come from (``ExperimentConfig``): the panels show it, and Run
        trains it again.
    runs
        Its runs (``RunConfig``), as trained.
    """

    def __init__(self, experiment: Any, runs: Sequence[Any]) -> None:
        from .app import new_window

        self.window = new_window()  # the plots now, the engine in the background
        self.app = QtWidgets.QApplication.instance()
        self.window.set_experiment(experiment)
        self.window.runs.begin_external(runs, experiment.name)
        self._pending: list[Any] = []
        self._last_feed = 0.0

    def __call__(self, event: Any) -> None:
        """An engine event of the live runs (an ``EventBus`` handler)."""
        self._pending.append(event)
        now = time.perf_counter()
        if now - self._last_feed >= FEED_INTERVAL:
            self._feed()
            self._last_feed = now

    def _feed(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self.window.runs.add_external(batch)
        self.app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def finish(self, results: Sequence[Any], events: Sequence[Any] = ()) -> QtWidgets.QMainWindow:
        """Draw ``events`` and what is still pending, then hand the window the runs' results."""
        self._pending.extend(events)
        batch, self._pending = self._pending, []
        if batch:
            self.window.runs.add_external(batch)
        reasons = {r.reason for r in results}
        self.window.runs.end_external(results, reasons.pop() if len(reasons) == 1 else "completed")
        self.window.show_plots()
        self.app.processEvents()
        return self.window


def run_until_closed() -> None:
    """Run Qt's event loop until the last window closes (``optiscope.show`` in a plain script):
    the API's one use of Qt itself lives here, so the engine imports no Qt."""
    app = QtWidgets.QApplication.instance()
    if app is not None:
        app.exec()
