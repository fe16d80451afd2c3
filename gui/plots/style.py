"""Look of the live plots: themes, font sizes and styling helpers (each plot's own wording
is in its part, :mod:`.part`)."""

from __future__ import annotations

import pyqtgraph as pg
from optiscope.gui import pg_adapter
from PySide6 import QtGui

__all__ = [
    "THEMES",
    "Theme",
    "label_style",
    "font",
    "raw_pen",
    "style_axes",
    "set_text_scale",
    "pt",
]

Theme = dict  # "bg", "fg", "muted" colour names and "fill" (an RGBA tuple)
THEMES: dict[str, Theme] = {
    "light": {"bg": "#ffffff", "fg": "#202020", "muted": "#6b6b6b", "fill": (255, 255, 255, 225)},
    "dark": {"bg": "#1e1e1e", "fg": "#e8e8e8", "muted": "#a0a0a0", "fill": (30, 30, 30, 225)},
    # presentation mode: black on white, muted text still >= 7:1 contrast (WCAG AAA)
    "contrast": {"bg": "#ffffff", "fg": "#000000", "muted": "#404040", "fill": (255, 255, 255, 240)},
}
TITLE_PT, CELL_TITLE_PT, LABEL_PT, TICK_PT, TEXT_PT = 15, 11, 12, 11, 11

_text_scale = 1.0


def set_text_scale(scale: float) -> None:
    """Scale every plot text size by ``scale`` (presentation mode); restyle to see it."""
    global _text_scale
    _text_scale = float(scale)


def pt(points: float) -> float:
    """``points`` scaled by the current text scale."""
    return points * _text_scale


def font(points: float, bold: bool = False) -> QtGui.QFont:
    """The application font at ``points`` pt (times the text scale)."""
    f = QtGui.QFont()
    f.setPointSizeF(pt(points))
    f.setBold(bold)
    return f


def raw_pen(color: QtGui.QColor, background: str) -> QtGui.QPen:
    """Faint raw-loss pen: the run colour blended into the background, opaque (fast to draw)."""
    bg = QtGui.QColor(background)
    a = 0.3
    faint = QtGui.QColor(
        round(bg.red() + a * (color.red() - bg.red())),
        round(bg.green() + a * (color.green() - bg.green())),
        round(bg.blue() + a * (color.blue() - bg.blue())),
    )
    return pg.mkPen(faint, width=1)


def style_axes(
    plot: pg.PlotItem, xlabel: str | None, ylabel: str | None, theme: Theme, *, cell: bool = False
) -> None:
    """Margins, axis pens, tick fonts and axis labels of ``plot`` (titles: :mod:`.titles`)."""
    fg, muted = theme["fg"], theme["muted"]
    plot.layout.setContentsMargins(2, 2 if cell else 6, 6 if cell else 10, 2)
    small = 1 if cell else 0
    tick_font = font(TICK_PT - small)
    for side in ("top", "right", "bottom", "left"):
        pg_adapter.plain_tick_values(plot.getAxis(side))
    pg_adapter.count_log_tick_labels(plot.getAxis("bottom"))  # "Log x": steps as 1, 2, 5, 10, ...
    for side, label in (("bottom", xlabel), ("left", ylabel)):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen(muted))
        axis.setTextPen(pg.mkPen(fg))
        axis.setTickFont(tick_font)
        if label is None:
            axis.showLabel(False)
        else:
            axis.setLabel(label, **label_style(theme, cell))


def label_style(theme: Theme, cell: bool = False) -> dict[str, str]:
    """The CSS of an axis label (``AxisItem.setLabel`` keyword arguments)."""
    return {"font-size": f"{pt(LABEL_PT - (1 if cell else 0)):g}pt", "color": theme["fg"]}
