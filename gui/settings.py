"""Window state that survives restarts (QSettings, INI format), tolerant of bad files.

A settings file Qt cannot parse is moved aside to ``<name>.bad`` and reported; a value
of the wrong type is ignored and reported; neither ever stops the app from starting.
Set ``OPTISCOPE_SETTINGS`` to a file path to use another settings file (tests do).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore

__all__ = ["AppSettings", "THEMES"]

THEMES = ("light", "dark")


class AppSettings:
    """Typed access to the few things Optiscope remembers."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.problems: list[str] = []
        path = path or os.environ.get("OPTISCOPE_SETTINGS")
        if path:
            self._qs = QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)
        else:
            self._qs = QtCore.QSettings(
                QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, "Optiscope", "Optiscope"
            )
        if self._qs.status() != QtCore.QSettings.Status.NoError:
            self._back_up_bad_file()

    @property
    def file_name(self) -> str:
        return self._qs.fileName()

    def _back_up_bad_file(self) -> None:
        src = Path(self._qs.fileName())
        bad = src.with_name(src.name + ".bad")
        try:
            src.replace(bad)
            where = f"moved to {bad}"
        except OSError as exc:
            where = f"could not be moved aside ({exc})"
        self.problems.append(f"The settings file {src} could not be read and was {where}; defaults are used.")
        self._qs = QtCore.QSettings(str(src), QtCore.QSettings.Format.IniFormat)

    # -- typed getters that never raise
    def _get(self, key: str, kind: type, default: object) -> object:
        try:
            value = self._qs.value(key, None)
        except Exception:  # a value Qt cannot decode
            value = "?"
        if value is None:
            return default
        try:
            if kind is bytes:
                if isinstance(value, QtCore.QByteArray):
                    return bytes(value.data())
                if isinstance(value, bytes):
                    return value
                raise TypeError
            if kind is str:
                if not isinstance(value, str):
                    raise TypeError
                return value
            if kind is bool:
                if isinstance(value, bool):
                    return value
                if str(value).lower() in ("true", "1", "false", "0"):
                    return str(value).lower() in ("true", "1")
                raise TypeError
            if kind is int:
                return int(value)
        except (TypeError, ValueError):
            pass
        self.problems.append(f"Setting '{key}' has an unusable value ({value!r}); the default is used.")
        self._qs.remove(key)
        return default

    def geometry(self) -> bytes | None:
        return self._get("window/geometry", bytes, None)  # type: ignore[return-value]

    def window_state(self) -> bytes | None:
        return self._get("window/state", bytes, None)  # type: ignore[return-value]

    def set_window(self, geometry: QtCore.QByteArray, state: QtCore.QByteArray) -> None:
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)

    def theme(self) -> str:
        theme = self._get("view/theme", str, "light")
        if theme not in THEMES:
            self.problems.append(f"Setting 'view/theme' is {theme!r}; known themes: {', '.join(THEMES)}.")
            return "light"
        return theme  # type: ignore[return-value]

    def set_theme(self, theme: str) -> None:
        self._qs.setValue("view/theme", theme)

    def last_experiment(self) -> str | None:
        value = self._get("files/last_experiment", str, "")
        return value or None  # type: ignore[return-value]

    def set_last_experiment(self, path: str | None) -> None:
        self._qs.setValue("files/last_experiment", path or "")

    def lesson_pace(self, lesson: str) -> int | None:
        """The speed-control position last chosen for ``lesson``, or None."""
        value = self._get(f"pace/{lesson}", int, -1)
        return value if isinstance(value, int) and value >= 0 else None

    def set_lesson_pace(self, lesson: str, index: int) -> None:
        self._qs.setValue(f"pace/{lesson}", index)

    def sync(self) -> None:
        self._qs.sync()
