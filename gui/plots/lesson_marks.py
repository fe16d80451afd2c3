"""Lesson annotations on the overlay plots: a ring in the run's colour and a short caption
at the moment an observation happened (engine/lessons.py finds them).

Captions are placed, not just drawn: each goes to the first free spot beside its ring
(above or below, right or left, then a row further out) that lies inside the plot's data
area and keeps ``APART`` pixels from every caption placed before it and from the guide
lines' labels ("best: epoch N"); a caption with no free spot is hidden and
its text becomes the ring's tooltip (the results table holds the same answer). Placement
is redone whenever the plot's range or size changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
from optiscope.gui.plots.style import TEXT_PT, font
from PySide6 import QtCore, QtGui

__all__ = ["Annotations", "guide_label_rects"]

GAP = 6  # pixels between a ring and its caption
APART = 4  # pixels kept free between two captions (touching, they read as one)
ROWS = 3  # a caption may step this many rows away from its ring


@dataclass
class _Mark:
    plot_name: str
    plot: pg.PlotItem
    x: float  # view coordinates (log10 of the value on a log axis)
    y: float
    ring: pg.ScatterPlotItem
    text: pg.TextItem | None
    caption: str
    data: tuple[float, float] = (math.nan, math.nan)  # (x, y) in data units
    run: int = -1


def _view(value: float, log: bool) -> float:
    """A data value in view units: log10 of it on a log axis (NaN if it has none there)."""
    if not log:
        return value
    return math.log10(value) if value > 0 else math.nan


class Annotations:
    """The annotations on a set of overlay plots (name -> ``pg.PlotItem``)."""

    def __init__(self) -> None:
        self._marks: list[_Mark] = []
        self._watched: set[int] = set()
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
        fill: tuple[int, int, int, int] = (255, 255, 255, 225),
        log_x: bool = False,
        run: int = -1,
    ) -> None:
        """Mark (x, y) (data units; ``log_y``/``log_x``: that axis is logarithmic) with
        ``caption`` on a ``fill`` (RGBA: the theme's background, nearly opaque, so curves do
        not cross the text) for ``run`` (its colour follows the run's: :meth:`recolor`)."""
        data = (x, y)
        x, y = _view(x, log_x), _view(y, log_y)
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        ring = pg.ScatterPlotItem(
            [x], [y], symbol="o", size=14, pen=pg.mkPen(color, width=2.5), brush=pg.mkBrush(None)
        )
        text = None
        if caption:  # repeated moments (every later LR drop) get the ring alone
            text = pg.TextItem(caption, color=color, anchor=(0, 0), fill=pg.mkBrush(*fill))
            text.setFont(font(TEXT_PT, bold=True))
        mark = _Mark(plot_name, plot, x, y, ring, text, caption, data, run)
        for item in (ring, text):
            if item is not None:
                item.setZValue(60)  # above every curve and the plots' markers (z 50)
                plot.addItem(item, ignoreBounds=True)
        self._marks.append(mark)
        self.shown.append((plot_name, x, y, caption, run))
        if id(plot) not in self._watched:
            self._watched.add(id(plot))
            plot.vb.sigTransformChanged.connect(lambda _vb, p=plot: self.place(p))
            plot.vb.sigResized.connect(lambda _vb, p=plot: self.place(p))
            # moved without a resize (the axes fitted their labels after a window resize): the
            # captions were placed in the old rectangle, partly outside the new one
            plot.vb.geometryChanged.connect(lambda p=plot: self.place(p))
        self.place(plot)

    def set_axes(self, plot_name: str, log_x: bool, log_y: bool) -> None:
        """Plot ``plot_name``'s axes became logarithmic or linear: its marks move with them."""
        plots = []
        for i, mark in enumerate(self._marks):
            if mark.plot_name != plot_name:
                continue
            mark.x, mark.y = _view(mark.data[0], log_x), _view(mark.data[1], log_y)
            ok = math.isfinite(mark.x) and math.isfinite(mark.y)
            mark.ring.setVisible(ok)
            if ok:
                mark.ring.setData([mark.x], [mark.y])
            elif mark.text is not None:
                mark.text.setVisible(False)
            if mark.plot not in plots:
                plots.append(mark.plot)
            shown = self.shown[i]  # the same mark (added together), in view units
            self.shown[i] = (shown[0], mark.x, mark.y, *shown[3:])
        for plot in plots:
            self.place(plot)

    def place(self, plot: pg.PlotItem) -> None:
        """Put every caption on ``plot`` in its first free spot (see the module docstring)."""
        vb = plot.vb
        area = vb.sceneBoundingRect()
        taken = guide_label_rects(plot)  # "best: epoch N" and the like stay readable
        for mark in self._marks:
            if mark.plot is not plot or mark.text is None:
                continue
            at = vb.mapViewToScene(QtCore.QPointF(mark.x, mark.y))
            # a hidden TextItem keeps the view transform it was hidden with (pyqtgraph updates
            # it only while visible): measured so, a caption shown again after a resize was
            # placed by a stale size and drawn partly outside the plot
            mark.text.setVisible(True)
            mark.text.updateTransform(force=True)
            size = mark.text.sceneBoundingRect().size()  # as drawn: text, margin and fill
            spot = _free_spot(at, size.width(), size.height(), area, taken)
            mark.text.setVisible(spot is not None)
            mark.ring.setToolTip("" if spot is not None else mark.caption)
            if spot is not None:
                taken.append(spot)
                mark.text.setPos(vb.mapSceneToView(spot.topLeft()))

    def recolor(
        self, color_of: Callable[[int], QtGui.QColor], fill: tuple[int, int, int, int] = (255, 255, 255, 225)
    ) -> None:
        """Give every mark its run's colour now (``color_of(run)``) on ``fill``: the palette
        or the background changed (presentation mode, a theme)."""
        for mark in self._marks:
            color = color_of(mark.run)
            mark.ring.setPen(pg.mkPen(color, width=2.5))
            if mark.text is not None:
                mark.text.setColor(color)
                mark.text.fill = pg.mkBrush(*fill)
                mark.text.update()

    def colors(self, plot_name: str) -> list[str]:
        """The caption colours on ``plot_name`` (``#rrggbb``, in the order added; for checks)."""
        return [m.text.color.name() for m in self._marks if m.plot_name == plot_name and m.text is not None]

    def caption_rects(self, plot_name: str) -> list[QtCore.QRectF]:
        """Scene rectangles of the captions shown on ``plot_name`` (for checks)."""
        return [
            m.text.sceneBoundingRect()
            for m in self._marks
            if m.plot_name == plot_name and m.text is not None and m.text.isVisible()
        ]

    def hidden_captions(self, plot_name: str) -> list[str]:
        """Captions on ``plot_name`` with no free spot (their ring carries the tooltip)."""
        return [
            m.caption
            for m in self._marks
            if m.plot_name == plot_name and m.text is not None and not m.text.isVisible()
        ]

    def clear(self) -> None:
        for mark in self._marks:
            for item in (mark.ring, mark.text):
                if item is not None:
                    mark.plot.removeItem(item)
        self._marks.clear()
        self.shown.clear()


def guide_label_rects(plot: pg.PlotItem) -> list[QtCore.QRectF]:
    """Scene rectangles of the labels of ``plot``'s guide lines (shown, with text)."""
    rects = []
    for item in plot.vb.childGroup.childItems():  # addedItems leaves out ignoreBounds items
        label = getattr(item, "label", None)
        if isinstance(item, pg.InfiniteLine) and item.isVisible() and label is not None:
            if label.isVisible() and label.toPlainText():
                rects.append(label.sceneBoundingRect())
    return rects


def _free_spot(
    at: QtCore.QPointF, width: float, height: float, area: QtCore.QRectF, taken: list[QtCore.QRectF]
) -> QtCore.QRectF | None:
    """The first caption rectangle beside ``at`` inside ``area`` that overlaps none of ``taken``."""
    for row in range(ROWS):
        for above in (True, False):
            step = row * (height + APART)  # rows further out keep APART between them
            top = at.y() - GAP - height - step if above else at.y() + GAP + step
            for right in (True, False):
                left = at.x() + GAP if right else at.x() - GAP - width
                left = min(max(left, area.left()), area.right() - width)  # slide inside
                rect = QtCore.QRectF(left, top, width, height)
                room = rect.adjusted(-APART, -APART, APART, APART)
                if area.contains(rect) and not any(room.intersects(t) for t in taken):
                    return rect
    return None
