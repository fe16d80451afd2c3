"""The window's looks: the light and dark style sheets, the dark palette and the Theme menu."""

from __future__ import annotations

from importlib import resources
from typing import Any

from PySide6 import QtGui, QtWidgets

from .settings import THEMES

__all__ = ["dark_palette", "style_sheet", "WindowThemes"]


class WindowThemes:
    """The View ▸ Theme menu and what a theme changes in the window: the application's
    palette, the window's style sheet, the toolbar's icons and the plots' colours.

    ``window`` is the host: a ``QMainWindow`` with ``report``, ``acts`` (its icons),
    ``plots`` (or None), ``set_theme`` (apply and save) and a ``theme`` attribute this sets."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.actions: dict[str, QtGui.QAction] = {}

    def add_menu(self, menu: QtWidgets.QMenu) -> None:
        """The Theme submenu of ``menu``: one checkable entry per theme."""
        theme_menu = menu.addMenu("Theme")
        group = QtGui.QActionGroup(self.window)
        for theme in THEMES:
            act = theme_menu.addAction(theme.capitalize())
            act.setCheckable(True)
            act.setData(theme)
            group.addAction(act)
            self.actions[theme] = act
        theme_menu.triggered.connect(self._chosen)

    def _chosen(self, act: QtGui.QAction) -> None:
        self.window.set_theme(act.data())

    def apply(self, theme: str) -> None:
        """Show ``theme`` (the window's :meth:`~.main_window.MainWindow.set_theme` also saves it)."""
        app = QtWidgets.QApplication.instance()
        if not isinstance(app, QtWidgets.QApplication):
            return
        w = self.window
        try:
            qss = style_sheet(theme)
        except OSError as exc:
            w.report(f"Theme '{theme}' could not be loaded ({exc}).", error=True)
            qss = ""
        palette = dark_palette() if theme == "dark" else app.style().standardPalette()
        app.setPalette(palette)
        w.setStyleSheet(qss)
        w.acts.tint_icons(palette if theme == "dark" else None)  # dark pictograms vanish on dark
        if w.plots is not None:
            w.plots.set_theme(theme)
        if theme in self.actions:
            self.actions[theme].setChecked(True)
        w.theme = theme


def style_sheet(theme: str) -> str:
    """The bundled ``style-<theme>.qss`` (OSError if it cannot be read)."""
    try:
        return (
            resources.files("optiscope.resources").joinpath(f"style-{theme}.qss").read_text(encoding="utf-8")
        )
    except FileNotFoundError as exc:
        raise OSError(str(exc)) from None


def dark_palette() -> QtGui.QPalette:
    """A dark palette for the Fusion style (readable on a dim projector)."""
    P = QtGui.QPalette.ColorRole
    pal = QtGui.QPalette()
    colours = {
        P.Window: "#1e2227",
        P.WindowText: "#e6e6e6",
        P.Base: "#2a2f36",
        P.AlternateBase: "#323840",
        P.ToolTipBase: "#2a2f36",
        P.ToolTipText: "#f0f0f0",
        P.Text: "#f0f0f0",
        P.Button: "#2c333b",
        P.ButtonText: "#e6e6e6",
        P.BrightText: "#ff6b6b",
        P.Highlight: "#0b5c8c",
        P.HighlightedText: "#ffffff",
        P.Link: "#56B4E9",
        P.PlaceholderText: "#8a929a",
        P.Mid: "#444b55",
        P.Dark: "#15181c",
        P.Light: "#3a414a",
    }
    for role, colour in colours.items():
        pal.setColor(role, QtGui.QColor(colour))
    for role in (P.WindowText, P.Text, P.ButtonText):
        pal.setColor(QtGui.QPalette.ColorGroup.Disabled, role, QtGui.QColor("#6b737b"))
    return pal
