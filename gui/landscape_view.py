"""Loss landscapes: the tab with optimizers racing on 2D test functions and network loss surfaces.

:class:`LandscapeView` has two tabs, each its own module:

* **Test functions** (:class:`~.race_view.RaceView`, ``gui/race_view.py``);
* **Network surface** (:class:`~.surface_view.SurfaceView`, ``gui/surface_view.py``).

:func:`install` adds the tab to the window and feeds it the run's events. Neither view
imports torch until it computes (the window shows before the engine has loaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optiscope.engine import events as ev
from PySide6 import QtCore, QtWidgets

from .landscape_common import gl_available
from .race_view import OPTIMIZER_ROWS, RaceView
from .surface_view import SurfaceView

__all__ = ["LandscapeView", "RaceView", "SurfaceView", "install", "OPTIMIZER_ROWS", "gl_available"]


class LandscapeView(QtWidgets.QWidget):
    """The landscape tab: test-function races and the network's loss surface."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs = QtWidgets.QTabWidget()
        self.race_view = RaceView()
        self.surface_view = SurfaceView()
        self.tabs.addTab(self.race_view, "Test functions")
        self.tabs.addTab(self.surface_view, "Network surface")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tabs)

    def set_mode(self, mode: str) -> None:
        """``"functions"`` or ``"network"``."""
        if mode not in ("functions", "network"):
            raise ValueError(f"mode must be 'functions' or 'network', got {mode!r}")
        self.tabs.setCurrentIndex(0 if mode == "functions" else 1)

    def add_events(self, events: Sequence[ev.Event]) -> None:
        self.surface_view.add_events(events)

    def clear(self) -> None:
        self.surface_view.clear()

    def shutdown(self) -> None:
        self.race_view.shutdown()
        self.surface_view.shutdown()


class _CloseWatcher(QtCore.QObject):
    """Shuts the landscape view down when its window closes (no job or timer outlives it)."""

    def __init__(self, view: LandscapeView, parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self.view = view

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QtCore.QEvent.Type.Close:
            self.view.shutdown()
        return False


def install(window: Any, title: str = "Landscape") -> LandscapeView:
    """Add the landscape tab to a ``MainWindow`` (``add_view``) and feed it the run's events.

    Needs ``window.add_view(title, widget)`` and the ``events_received(list)`` signal; the
    view is shut down (background job cancelled, timers stopped) when the window closes.
    The network surface needs ``Weights`` events: the window's runs must be trained with
    ``weights_every`` > 0.
    """
    view = LandscapeView()
    window.add_view(title, view)
    window.events_received.connect(view.add_events)
    view._close_watcher = _CloseWatcher(view, window)
    window.installEventFilter(view._close_watcher)
    return view
