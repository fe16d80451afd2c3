"""What the landscape's two views share: the heatmap with log-spaced contours, the themed plot
widget and whether a 3D (OpenGL) view may be offered."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

__all__ = ["N_LEVELS", "Heatmap", "gl_available", "log_image", "themed_plot_widget"]

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
