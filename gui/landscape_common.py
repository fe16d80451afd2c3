"""What the landscape's two views share: the heatmap with log-spaced contours, the themed plot
widget and whether a 3D (OpenGL) view may be offered."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt

__all__ = [
    "N_LEVELS",
    "FitToWidth",
    "Heatmap",
    "fit_key",
    "gl_available",
    "key_under",
    "log_image",
    "themed_plot_widget",
]

N_LEVELS = 10


def gl_available() -> bool:
    """True where a 3D (OpenGL) view may be offered: a real display and PyOpenGL installed."""
    app = QtGui.QGuiApplication.instance()
    if app is None or QtGui.QGuiApplication.platformName() in ("offscreen", "minimal", "vnc"):
        return False
    return importlib.util.find_spec("OpenGL") is not None


def log_image(z: np.ndarray, floor: float | None) -> tuple[np.ndarray, np.ndarray]:
    """log10 of (z - floor + tiny) and log-spaced contour levels in that same scale."""
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return np.zeros_like(z), np.zeros(0)
    off = float(finite.min()) if floor is None else floor
    span = max(float(finite.max()) - off, 1e-12)
    tiny = span * 1e-5
    lz = np.log10(np.maximum(np.nan_to_num(z - off, nan=span, posinf=span), 0) + tiny)
    lo, hi = math.log10(tiny + span * 1e-4), math.log10(span + tiny)
    return lz, np.linspace(lo, hi, N_LEVELS + 2)[1:-1]


class Heatmap:
    """A heatmap (ImageItem, viridis) with isocurves, placed over a data rectangle."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.image.setZValue(-10)
        plot.addItem(self.image)
        self.isos: list[pg.IsocurveItem] = []

    def set(self, z: np.ndarray, levels: np.ndarray, rect: tuple[float, float, float, float]) -> None:
        x0, x1, y0, y1 = rect
        finite = z[np.isfinite(z)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.image.setImage(z, levels=(lo, hi if hi > lo else lo + 1))
        self.image.setRect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
        while len(self.isos) < len(levels):
            iso = pg.IsocurveItem(
                level=0.0, pen=pg.mkPen((255, 255, 255, 110), width=1), axisOrder="row-major"
            )
            iso.setParentItem(self.image)
            self.isos.append(iso)
        for i, iso in enumerate(self.isos):
            if i < len(levels):
                iso.setLevel(float(levels[i]))
                iso.setData(z)
                iso.show()
            else:
                iso.hide()


def themed_plot_widget() -> pg.PlotWidget:
    """A plot widget in the application's light or dark look (pyqtgraph's default is black)."""
    from optiscope.gui.plots.style import THEMES

    app = QtWidgets.QApplication.instance()
    window = app.palette().color(QtGui.QPalette.ColorRole.Window) if app is not None else None
    theme = THEMES["dark" if window is not None and window.lightness() < 128 else "light"]
    widget = pg.PlotWidget(background=theme["bg"])
    plot = widget.getPlotItem()
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen(theme["fg"]))
        axis.setTextPen(pg.mkPen(theme["fg"]))
    plot.titleLabel.setAttr("color", theme["fg"])
    return widget


KEY_ROW = 4  # a key's row in a PlotItem's layout: under the x axis and its label
KEY_AIR = 12  # pixels kept free beside a key


def key_under(plot: pg.PlotItem, **options: Any) -> pg.LegendItem:
    """A key (legend) under ``plot``'s x axis: it never covers a curve, a path or a mark.
    Keep it to the plot's width with :class:`FitToWidth`."""
    key = pg.LegendItem(offset=None, **options)
    plot.layout.addItem(key, KEY_ROW, 1)
    return key


def _needed_width(key: pg.LegendItem) -> float:
    key.layout.invalidate()
    return float(key.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize).width())


def fit_key(key: pg.LegendItem, width: float, max_columns: int = 2) -> None:
    """Lay ``key``'s entries out in as many columns (up to ``max_columns``) as fit ``width``
    pixels; in one column, elide each text ("…") that is still too wide. The full text of
    each entry is its tooltip."""
    full: dict[int, str] = vars(key).setdefault("full_texts", {})
    for _sample, label in key.items:
        text = full.setdefault(id(label), label.text)
        if label.text != text:
            label.setText(text)
        label.setToolTip(text)
    for columns in range(max(1, min(max_columns, len(key.items))), 0, -1):
        key.setColumnCount(columns)
        if _needed_width(key) <= width:
            return
    for sample, label in key.items:  # one column, still too wide: elide the texts
        room = width - sample.boundingRect().width() - KEY_AIR
        text = full[id(label)]
        keep = len(text)
        while keep > 6 and label.item.boundingRect().width() > room:
            keep -= max(1, (keep // 8))
            label.setText(text[:keep].rstrip() + "…")
    key.updateSize()


class FitToWidth(QtCore.QObject):
    """Keeps a plot's title and key within its widget's width on every resize: the title
    takes the longest of its wordings that fits (never making the plot wider than its
    widget), the key as many columns as fit, then elided texts."""

    def __init__(
        self,
        widget: pg.PlotWidget,
        key: pg.LegendItem | None = None,
        titles: Sequence[str] = (),
        max_columns: int = 2,
    ) -> None:
        super().__init__(widget)
        self.widget, self.key, self.titles, self.max_columns = widget, key, list(titles), max_columns
        plot = widget.getPlotItem()
        if self.titles:
            from optiscope.gui import pg_adapter

            plot.setTitle(self.titles[0])
            pg_adapter.allow_narrow_title(plot.titleLabel)
            plot.titleLabel.setToolTip(self.titles[0])
        widget.installEventFilter(self)

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QtCore.QEvent.Type.Resize:
            self.fit()
        return False

    def room(self) -> float:
        """The width a title or key has: the widget's, less the left axis and margins."""
        plot = self.widget.getPlotItem()
        axis = plot.getAxis("left")
        left = axis.width() if axis.isVisible() else 0
        m_left, _top, m_right, _bottom = plot.layout.getContentsMargins()
        return self.widget.width() - left - m_left - m_right - KEY_AIR

    def fit(self) -> None:
        """Fit the title and key to the widget's width now (after the key's entries changed)."""
        plot = self.widget.getPlotItem()
        room = self.room()
        label = plot.titleLabel
        for text in self.titles:  # the longest wording whose drawn text fits
            if label.text != text:
                plot.setTitle(text)
            m = label.item.document().documentMargin()
            if label.item.boundingRect().width() - 2 * m <= room:
                break
        if self.key is not None and self.key.items:
            fit_key(self.key, room, self.max_columns)
