"""Waiting for a window's first exposure (really on screen), for the app and the self-test."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui

__all__ = ["ExposeWatcher"]


class ExposeWatcher(QtCore.QObject):
    """An event filter for a QWindow that calls ``callback`` once, when it is first exposed."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._callback: Callable[[], None] | None = callback

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt API)
        if self._callback is not None and event.type() == QtCore.QEvent.Type.Expose:
            if not isinstance(obj, QtGui.QWindow) or obj.isExposed():
                cb, self._callback = self._callback, None
                cb()
        return False
