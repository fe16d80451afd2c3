"""The window's looks: the light and dark style sheets and the dark palette."""

from __future__ import annotations

from importlib import resources

from PySide6 import QtGui

__all__ = ["dark_palette", "style_sheet"]


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
