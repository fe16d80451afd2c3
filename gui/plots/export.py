"""Export of one plot as PNG (QImage at a chosen scale) or SVG (QSvgGenerator), written atomically.

Both render the widget as shown on screen (pyqtgraph's own SVG exporter fails with
PySide6) with antialiased vector curves, and draw the run legend underneath when given.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyqtgraph as pg
from optiscope.gui import pg_adapter
from PySide6 import QtCore, QtGui, QtSvg, QtWidgets

__all__ = ["prepare_target", "export_png", "export_svg", "steps_fitted"]

STEPS_PADDING = 0.02  # of the steps' span, each side, as the live plots pad it


def prepare_target(widget: QtWidgets.QWidget, name: str, path: str | Path) -> Path:
    """Check the folder of ``path`` exists and give a hidden ``widget`` a size to render at.

    Raises FileNotFoundError naming the missing folder.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save the {name} plot: folder {path.parent} does not exist")
    if not widget.isVisible() or widget.width() < 50 or widget.height() < 50:
        widget.resize(max(widget.width(), 800), max(widget.height(), 500))
        QtCore.QCoreApplication.processEvents()
    return path


def export_png(
    widget: QtWidgets.QWidget,
    path: Path,
    *,
    background: str,
    legend: QtGui.QTextDocument | None,
    curves: Iterable[pg.PlotDataItem],
    scale: float = 2.0,
) -> None:
    """Save ``widget`` (and ``legend`` under it) as a PNG at ``scale`` times its size."""
    size = _size(widget, legend)
    image = QtGui.QImage(
        max(1, round(size.width() * scale)),
        max(1, round(size.height() * scale)),
        QtGui.QImage.Format.Format_ARGB32,
    )
    image.setDevicePixelRatio(scale)  # render() then draws at ``scale`` x resolution
    image.fill(QtGui.QColor(background))
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
    _paint(painter, widget, legend, curves)
    painter.end()
    _atomic(path, lambda tmp: image.save(str(tmp), "PNG"), "PNG")


def export_svg(
    widget: QtWidgets.QWidget,
    path: Path,
    *,
    title: str,
    background: str,
    legend: QtGui.QTextDocument | None,
    curves: Iterable[pg.PlotDataItem],
) -> None:
    """Save ``widget`` (and ``legend`` under it) as an SVG of vector paths."""
    size = _size(widget, legend)
    curves = list(curves)

    def write(tmp: Path) -> bool:
        gen = QtSvg.QSvgGenerator()
        gen.setFileName(str(tmp))
        gen.setSize(size)
        gen.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), size))
        gen.setTitle(title)
        gen.setDescription("Exported from Optiscope's live training plots")
        painter = QtGui.QPainter()
        if not painter.begin(gen):
            return False
        painter.fillRect(QtCore.QRect(QtCore.QPoint(0, 0), size), QtGui.QColor(background))
        _paint(painter, widget, legend, curves)
        return painter.end()

    _atomic(path, write, "SVG")


@contextmanager
def steps_fitted(plots: dict[pg.PlotItem, pg.PlotItem | None], *, last_step: float) -> Iterator[None]:
    """While exporting, the steps axis of ``plots`` (plot -> the plot its x axis is linked
    to, or None) fitted to the data: from step 0 to ``last_step`` (the last seen), padded as
    on screen, within the range shown (a zoom is kept); afterwards the ranges on screen
    come back.

    On screen a linked plot (the loss plot follows the LR plot) is lined up with its leader
    in pixels: a view wider than its leader's shows steps before 0. And the planned range
    runs past the end of runs that stopped early.
    """
    shown = {plot: plot.vb.viewRange()[0] for plot in plots}
    pad = STEPS_PADDING * last_step
    linked = {plot: leader for plot, leader in plots.items() if leader is not None}
    for plot in linked:
        plot.setXLink(None)
    try:
        for plot, leader in plots.items():
            lo, hi = shown[leader if leader is not None else plot]  # linked: the leader's range is the steps'
            lo, hi = max(lo, -pad), min(hi, last_step + pad)
            if hi > lo:
                plot.setXRange(lo, hi, padding=0)
        yield
    finally:
        for plot, leader in plots.items():
            if leader is None:
                plot.setXRange(*shown[plot], padding=0)
        for plot, leader in linked.items():
            plot.setXLink(leader)  # follows its leader again


def _size(widget: QtWidgets.QWidget, legend: QtGui.QTextDocument | None) -> QtCore.QSize:
    extra = math.ceil(legend.size().height()) + 8 if legend is not None else 0
    return QtCore.QSize(widget.width(), widget.height() + extra)


def _paint(
    painter: QtGui.QPainter,
    widget: QtWidgets.QWidget,
    legend: QtGui.QTextDocument | None,
    curves: Iterable[pg.PlotDataItem],
) -> None:
    with pg_adapter.export_mode(widget.scene(), curves):
        pg_adapter.render_widget(widget, painter)
    if legend is not None:
        painter.save()
        painter.translate(8, widget.height() + 4)
        legend.drawContents(painter)
        painter.restore()


def _atomic(path: Path, write: Callable[[Path], bool], what: str) -> None:
    """Run ``write(tmp)`` on a temporary file next to ``path``, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if not write(tmp) or tmp.stat().st_size == 0:
            raise OSError(
                f"could not write the {what} file {path}; is the folder writable and the disk not full?"
            )
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
