"""Hover readouts: a throttled crosshair with the values under the mouse.

:class:`Hover` shows, for the plots of one view, a dotted vertical line and a text box
filled by a lookup function; the ``readout_*`` functions are those lookups (HTML from
the runs' data, numbers in the engine's display format).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.engine.formats import format_percent, format_short
from optiscope.gui import pg_adapter
from optiscope.gui.colors import class_color, run_color
from optiscope.gui.plots.buffers import RunData, nearest
from optiscope.gui.plots.style import TEXT_PT, Theme, font
from PySide6 import QtCore
from PySide6.QtCore import Qt

__all__ = ["Hover", "keep_inside", "readout_lr", "readout_loss", "readout_accuracy", "readout_boundary"]

Lookup = Callable[[float, float, float], str | None]  # (x, y, tolerance) -> HTML or None


class Hover(QtCore.QObject):
    """Throttled crosshair readout for the plot items shown in one GraphicsView."""

    def __init__(self, view: pg.GraphicsView, theme: Theme) -> None:
        super().__init__(view)
        self._targets: dict[pg.PlotItem, tuple[Lookup, pg.TextItem, pg.InfiniteLine]] = {}
        self._theme = theme
        self._proxy = pg.SignalProxy(view.scene().sigMouseMoved, rateLimit=30, slot=self._moved)
        view.viewport().installEventFilter(self)

    def add(self, plot: pg.PlotItem, lookup: Lookup) -> None:
        """``lookup(x, y, tol)`` returns HTML for the readout at data point ``x, y``, or None."""
        text = pg.TextItem(anchor=(0, 0), border=pg.mkPen(self._theme["muted"]), fill=self._theme["fill"])
        text.setFont(font(TEXT_PT))
        text.setZValue(1000)
        line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(self._theme["muted"], style=Qt.PenStyle.DotLine)
        )
        line.setZValue(999)
        for item in (text, line):
            item.hide()
            plot.addItem(item, ignoreBounds=True)
        self._targets[plot] = (lookup, text, line)

    def remove(self, plot: pg.PlotItem) -> None:
        """Stop reading out ``plot`` (it is going away)."""
        self._targets.pop(plot, None)

    def text(self, plot: pg.PlotItem) -> str | None:
        """The plain text of the readout shown on ``plot``, or None while it is hidden."""
        target = self._targets.get(plot)
        if target is None or not target[1].isVisible():
            return None
        return pg_adapter.text_item_text(target[1])

    def scene_rect(self, plot: pg.PlotItem) -> QtCore.QRectF | None:
        """Where the readout shown on ``plot`` lies in the scene, or None while it is hidden."""
        target = self._targets.get(plot)
        if target is None or not target[1].isVisible():
            return None
        return target[1].sceneBoundingRect()

    def set_theme(self, theme: Theme) -> None:
        """Recolour the readouts' frames, backgrounds and lines."""
        self._theme = theme
        for _, text, line in self._targets.values():
            pg_adapter.set_text_box_style(text, pg.mkPen(theme["muted"]), pg.mkBrush(theme["fill"]))
            line.setPen(pg.mkPen(theme["muted"], style=Qt.PenStyle.DotLine))

    def hide_all(self) -> None:
        """Hide every readout (the mouse left the view)."""
        for _, text, line in self._targets.values():
            text.hide()
            line.hide()

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QtCore.QEvent.Type.Leave:
            self.hide_all()
        return False

    def _moved(self, args: tuple) -> None:
        pos = args[0]
        for plot, (lookup, text, line) in self._targets.items():
            vb = plot.vb
            html = None
            if plot.scene() is not None and plot.isVisible() and vb.sceneBoundingRect().contains(pos):
                p = vb.mapSceneToView(pos)
                (x0, x1), (y0, y1) = vb.viewRange()
                html = lookup(p.x(), p.y(), 0.02 * (x1 - x0))
            if not html:
                text.hide()
                line.hide()
                continue
            text.setHtml(f'<div style="color:{self._theme["fg"]}">{html}</div>')
            text.setAnchor((1.0 if p.x() > (x0 + x1) / 2 else 0.0, 0.0 if p.y() > (y0 + y1) / 2 else 1.0))
            text.setPos(p.x(), p.y())
            line.setPos(p.x())
            text.show()
            line.show()
            keep_inside(text, vb)


def keep_inside(text: pg.TextItem, vb: pg.ViewBox) -> None:
    """Move ``text`` (placed at its anchor) the least so that it lies inside ``vb``'s
    rectangle; one larger than the box keeps its top-left corner in view. ``text`` must be
    shown (its size on screen is worked out only then)."""
    text.updateTransform()  # pixel-sized in the scene now, not only at its next paint
    box, rect = vb.sceneBoundingRect(), text.sceneBoundingRect()
    dx = max(box.left() - rect.left(), min(0.0, box.right() - rect.right()))
    dy = max(box.top() - rect.top(), min(0.0, box.bottom() - rect.bottom()))
    if dx or dy:
        anchor = vb.mapViewToScene(text.pos()) + QtCore.QPointF(dx, dy)
        text.setPos(vb.mapSceneToView(anchor))


def _swatch(run: RunData) -> str:
    colour = run_color(run.group).name()
    return f'<span style="color:{colour}">■</span> {html.escape(run.label, quote=False)}'


def readout_lr(runs: Iterable[RunData], x: float, tol: float) -> str | None:
    """Each run's learning rate at the step nearest ``x`` (within ``tol``)."""
    lines = []
    for run in runs:
        i = nearest(run.steps.view(), x, tol)
        if i is not None:
            lines.append(f"{_swatch(run)}: lr {format_short(run.lr.view()[i])}")
    return f"<b>step {round(x)}</b><br>" + "<br>".join(lines) if lines else None


def readout_loss(runs: Iterable[RunData], x: float, tol: float, muted: str) -> str | None:
    """Each run's smoothed and raw loss at the step nearest ``x``, and the validation loss
    of an epoch ending there."""
    lines = []
    for run in runs:
        i = nearest(run.steps.view(), x, tol)
        if i is not None:
            lines.append(
                f"{_swatch(run)}: {format_short(run.smooth.view()[i])} "
                f'<span style="color:{muted}">(raw {format_short(run.loss.view()[i])})</span>'
            )
        j = nearest(run.epoch_step.view(), x, tol)
        if j is not None and math.isfinite(run.val_loss.view()[j]):
            lines.append(
                f"&nbsp;&nbsp;validation, epoch {int(run.epoch.view()[j])}: "
                f"{format_short(run.val_loss.view()[j])}"
            )
    return f"<b>step {round(x)}</b><br>" + "<br>".join(lines) if lines else None


def readout_accuracy(runs: Iterable[RunData], x: float) -> str | None:
    """Each run's train and validation accuracy at the epoch nearest ``x``."""
    lines = []
    epoch = round(x)
    for run in runs:
        j = run.epoch_index(epoch)
        if j is not None:
            tr, va = run.train_acc.view()[j], run.val_acc.view()[j]
            lines.append(f"{_swatch(run)}: train {format_percent(tr)} · validation {format_percent(va)}")
    return f"<b>epoch {epoch}</b><br>" + "<br>".join(lines) if lines else None


def readout_boundary(e: ev.Boundary | None, x: float, y: float) -> str | None:
    """Each class's probability at data point ``x, y`` of boundary ``e``."""
    if e is None:
        return None
    xs, ys = np.asarray(e.xs), np.asarray(e.ys)
    if not (xs[0] <= x <= xs[-1] and ys[0] <= y <= ys[-1]):
        return None
    p = np.asarray(e.probs)[int(np.abs(ys - y).argmin()), int(np.abs(xs - x).argmin())]
    parts = [
        f'<span style="color:{class_color(c).name()}">■</span> class {c}: {format_percent(float(v))}'
        for c, v in enumerate(p)
    ]
    return f"<b>x₁ {x:.3g}, x₂ {y:.3g}</b> (epoch {e.epoch})<br>" + "<br>".join(parts)
