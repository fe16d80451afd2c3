"""Lesson annotations on the overlay plots: a ring in the run's colour and a short caption
at the moment an observation happened (engine/lessons.py finds them)."""

from __future__ import annotations

import math

import pyqtgraph as pg
from optiscope.gui.plots.style import TEXT_PT, font
from PySide6 import QtGui

__all__ = ["Annotations"]

STAGGER = 4  # captions on one plot step down in this many rows, so neighbours do not overlap


class Annotations:
    """The annotations on a set of overlay plots (name -> ``pg.PlotItem``)."""

    def __init__(self) -> None:
        self._items: list[tuple[pg.PlotItem, pg.GraphicsObject]] = []
        self.shown: list[tuple[str, float, float, str, int]] = []  # plot, x, y, caption, run

    def add(
        self,
        plot_name: str,
        plot: pg.PlotItem,
        x: float,
        y: float,
        caption: str,
        color: QtGui.QColor,
        log_y: bool,
    ) -> None:
        """Mark (x, y) (data units; ``log_y``: the axis is logarithmic) with ``caption``."""
        if log_y:
            if not y > 0:
                return
            y = math.log10(y)
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        row = sum(1 for s in self.shown if s[0] == plot_name) % STAGGER
        ring = pg.ScatterPlotItem(
            [x], [y], symbol="o", size=14, pen=pg.mkPen(color, width=2.5), brush=pg.mkBrush(None)
        )
        shown: list[pg.GraphicsObject] = [ring]
        if caption:  # repeated moments (every later LR drop) get the ring alone
            text = pg.TextItem(caption, color=color, anchor=(0, 1.0 + 1.1 * row))
            text.setFont(font(TEXT_PT, bold=True))
            text.setPos(x, y)
            shown.append(text)
        for item in shown:
            item.setZValue(20)  # above every curve
            plot.addItem(item, ignoreBounds=True)
            self._items.append((plot, item))
        self.shown.append((plot_name, x, y, caption, -1))

    def clear(self) -> None:
        for plot, item in self._items:
            plot.removeItem(item)
        self._items.clear()
        self.shown.clear()
