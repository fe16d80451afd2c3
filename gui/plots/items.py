"""The pyqtgraph items the live plots draw with: fast curves, markers, guide lines, views.

Per-step curves follow pyqtgraph's fast-plotting advice (CONVENTIONS rule 6): clip to
the view, 'peak' downsampling (about two points per pixel column), no antialiasing, and
finished runs cached as pixmaps so a sweep repaints only the runs still training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pyqtgraph as pg
from optiscope.gui import pg_adapter
from optiscope.gui.plots.style import TEXT_PT, font
from PySide6 import QtGui
from PySide6.QtCore import Qt

__all__ = [
    "MARKER_SIZES",
    "curve",
    "add_curve",
    "loss_items",
    "accuracy_items",
    "set_cached",
    "dot",
    "scatter",
    "vline",
    "finite_count",
    "CompactAxis",
    "FitView",
]

MARKER_SIZES = {"t": 15, "star": 20, "x": 18}
GUIDE_Z = 40  # guide lines and their labels: above the curves (0), under the markers (50)
MarkerSpot = tuple[float, float, str, QtGui.QColor]  # x, y (data units), symbol, run colour


def curve(
    pen: QtGui.QPen, *, antialias: bool, clip: bool = True, method: str = "peak", per_pixel: float = 0.5
) -> pg.PlotDataItem:
    """A curve that never connects across NaN; per-step curves (``clip``) clip to the view and
    downsample to one bucket per ``1 / per_pixel`` pixel columns ('peak' keeps each bucket's
    min and max, so the raw loss keeps its spikes; smooth curves need less)."""
    item = pg.PlotDataItem(pen=pen, antialias=antialias, connect="finite")
    item.setProperty("optiscope_reduce", (method, per_pixel) if clip else None)
    return item


def add_curve(plot: pg.PlotItem, item: pg.PlotDataItem, ignore_bounds: bool = False) -> None:
    """Add a curve made by :func:`curve` to ``plot``, with its clipping and downsampling."""
    reduce = item.property("optiscope_reduce")
    if reduce is None:
        plot.addItem(item, ignoreBounds=ignore_bounds)
    else:
        pg_adapter.add_reduced_curve(plot, item, reduce[0], reduce[1], ignore_bounds=ignore_bounds)


def loss_items(plot: pg.PlotItem, color: QtGui.QColor, raw: QtGui.QPen) -> dict[str, pg.PlotDataItem]:
    """One run's loss curves on ``plot``: "raw" (drawn with pen ``raw``), "smooth", "val_loss"."""
    loss = {
        "raw": curve(raw, antialias=False),
        "smooth": curve(pg.mkPen(color, width=2), antialias=False, method="mean"),
        "val_loss": curve(pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine), antialias=False, clip=False),
    }
    loss["raw"].setZValue(-1)  # every run's raw curve under every smoothed one
    for key, item in loss.items():
        add_curve(plot, item, ignore_bounds=key == "raw")  # raw spikes do not stretch the axis
    return loss


def accuracy_items(plot: pg.PlotItem, color: QtGui.QColor) -> dict[str, pg.PlotDataItem]:
    """One run's accuracy curves on ``plot``: "acc_train" and "acc_val"."""
    acc = {
        "acc_train": curve(pg.mkPen(color, width=2.5), antialias=False, clip=False),
        "acc_val": curve(pg.mkPen(color, width=2.5, style=Qt.PenStyle.DashLine), antialias=False, clip=False),
    }
    for item in acc.values():
        add_curve(plot, item)
    return acc


def set_cached(items: Iterable[object], cached: bool) -> None:
    """Keep a finished run's curves as pixmaps: repainting the plot for the runs still
    training then blits them instead of redrawing thousands of points. (A live curve
    changes every batch, where a cache would only add work.)"""
    for item in items:
        if isinstance(item, pg.PlotDataItem):
            pg_adapter.set_curve_cached(item, cached)


def dot(item: pg.PlotDataItem, color: QtGui.QColor) -> None:
    """A dot on every point of ``item`` (per-epoch curves of short runs)."""
    item.setSymbol("o")
    item.setSymbolSize(6)
    item.setSymbolBrush(color)
    item.setSymbolPen(None)


def scatter(
    item: pg.ScatterPlotItem,
    spots: list[MarkerSpot],
    log: bool,
    edge: str,
    top: float = math.inf,
    log_x: bool = False,
) -> None:
    """Put marker ``spots`` (data units) on ``item``: log10 units on a log axis (y with
    ``log``, x with ``log_x``), clamped to ``top`` (the axis' upper end) so a marker above
    it stays in view; non-finite ones skipped."""
    keep = []
    for x, y, symbol, color in spots:
        y = min(y, top)
        if log:
            y = math.log10(y) if y > 0 else math.nan
        if log_x:
            x = math.log10(x) if x > 0 else math.nan
        if math.isfinite(x) and math.isfinite(y):
            keep.append((x, y, symbol, color))
    if not keep:
        item.clear()
        return
    item.setData(
        x=[k[0] for k in keep],
        y=[k[1] for k in keep],
        symbol=[k[2] for k in keep],
        size=[MARKER_SIZES.get(k[2], 14) for k in keep],
        brush=[pg.mkBrush(k[3]) for k in keep],
        pen=[pg.mkPen(k[3] if k[2] == "x" else edge, width=1.5) for k in keep],
    )


def vline(color: QtGui.QColor) -> pg.InfiniteLine:
    """A dashed vertical guide line in ``color`` with a label near its top."""
    line = pg.InfiniteLine(
        angle=90,
        movable=False,
        pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
        label="",
        labelOpts={"position": 0.9, "color": color, "anchors": [(0, 0), (0, 0)]},
    )
    line.label.setFont(font(TEXT_PT))
    line.setZValue(GUIDE_Z)  # its "best: epoch N" label above every run's curves
    return line


def finite_count(item: pg.PlotDataItem | None) -> int:
    """How many finite y values a curve was given (0 without data)."""
    if item is None:
        return 0
    _, y = item.getOriginalDataset()
    return 0 if y is None else int(np.isfinite(y).sum())


class CompactAxis(pg.AxisItem):
    """Tick values of a small-multiples cell: thousands as "2k" so they fit side by side."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802 (pyqtgraph API)
        if not self.logMode and spacing is not None and spacing >= 500 and all(v % 100 == 0 for v in values):
            return [f"{v / 1000:g}k" for v in values]
        return super().tickStrings(values, scale, spacing)


class FitView(pg.PlotWidget):
    """An overlay plot that calls ``on_resize()`` when resized (to re-fit its title)."""

    on_resize: Callable[[], None] | None = None

    def resizeEvent(self, event: QtGui.QResizeEvent | None) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self.on_resize is not None:
            self.on_resize()
