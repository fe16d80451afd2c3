"""Experiment panels: each builds one section of the run config.

Every panel exposes ``config()`` (a new frozen config, or :class:`PanelError` naming
the problem), ``set_config(cfg)`` (shows it without emitting) and one ``changed`` signal.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets
from PySide6.QtCore import Signal

from ..widgets import ErrorLabel

__all__ = ["Panel", "PanelError"]


class PanelError(ValueError):
    """The panel's fields do not make a valid config; the message says what to change."""


class Panel(QtWidgets.QWidget):
    """Base for the experiment panels."""

    changed = Signal()
    title = ""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._setting = False
        self.error_label = ErrorLabel()

    def config(self) -> Any:  # pragma: no cover - every panel overrides
        raise NotImplementedError

    def set_config(self, cfg: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def problem(self) -> str | None:
        """The current problem in words, or None when the fields make a valid config."""
        try:
            self.config()
        except PanelError as exc:
            return str(exc)
        return None

    def _emit_changed(self, *_: Any) -> None:
        if self._setting:
            return
        self.error_label.show_message(self.problem())
        self.changed.emit()

    def _validated(self, cls: type, data: dict[str, Any], prefix: str) -> Any:
        from optiscope.engine.config import format_validation_error
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PanelError(format_validation_error(exc, prefix=prefix)) from None
