"""Really paint every plot, axes included, with events from real (tiny) training runs.

This is the guard for the PySide6 6.12 + pyqtgraph crash class: a fatal ``none_dealloc``
in ``AxisItem.drawPicture`` on the first paint. Building widgets is not enough to see it;
pyqtgraph has to draw its axes, so every plot is grabbed (a real paint event) and also
rendered into a QImage, and the pixels are checked.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import (
    Adam,
    DatasetConfig,
    EarlyStopping,
    ModelConfig,
    Plateau,
    RegularizationConfig,
    RunConfig,
    TrainingConfig,
)
from optiscope.engine.runner import execute
from optiscope.gui.plots import PLOT_NAMES, THEMES, LivePlots
from PySide6 import QtCore, QtGui, QtWidgets


@pytest.fixture(scope="module")
def real_events() -> list[ev.Event]:
    """Two short runs on the studies' blobs: a plateau schedule and early stopping."""
    torch.set_num_threads(1)
    data = DatasetConfig(name="blobs", n_samples=160)
    training = TrainingConfig(epochs=6, batch_size=16, device="cpu")
    runs = [
        RunConfig(
            label="adam + plateau",
            dataset=data,
            optimizer=Adam(lr=0.05),
            training=training,
            schedule=Plateau(patience=0, factor=0.5, min_delta=10.0),
        ),
        RunConfig(
            label="adam + early stop",
            dataset=data,
            optimizer=Adam(lr=0.01),
            training=training,
            model=ModelConfig(),
            regularization=RegularizationConfig(
                early_stopping=EarlyStopping(enabled=True, patience=1, min_delta=10.0)
            ),
        ),
    ]
    events: list[ev.Event] = []
    bus = ev.EventBus()
    bus.subscribe(events.append)
    execute(runs, bus=bus, boundary_every=2)
    return events


def _foreground_pixels(image: QtGui.QImage, background: str) -> np.ndarray:
    """A boolean mask of the pixels that differ from the background colour."""
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), np.uint32).reshape(image.height(), image.bytesPerLine() // 4)
    arr = arr[:, : image.width()] & 0xFFFFFF
    return arr != (QtGui.QColor(background).rgb() & 0xFFFFFF)


def _axis_rects(widget: QtWidgets.QWidget) -> list[QtCore.QRect]:
    """Where the visible axes of the plots in ``widget`` are, in widget pixels."""
    rects = []
    for view in [widget, *widget.findChildren(pg.GraphicsView)]:
        if not isinstance(view, pg.GraphicsView) or not view.isVisible():
            continue
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and item.isVisible() and item.orientation in ("left", "bottom"):
                rect = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
                # the tick side only (tick lines and values): the axis title is a separate item
                if item.orientation == "left":
                    rect.setLeft(rect.right() - int(rect.width() * 0.4))
                else:
                    rect.setBottom(rect.top() + int(rect.height() * 0.45))
                rects.append(rect.translated(view.mapTo(widget, QtCore.QPoint(0, 0))))
    return rects


def _check_painted(widget: QtWidgets.QWidget, background: str, what: str) -> None:
    grabbed = widget.grab().toImage()  # a real paint event through the widget's paintEvent
    rendered = QtGui.QImage(widget.size(), QtGui.QImage.Format.Format_ARGB32)
    rendered.fill(QtGui.QColor(background))
    painter = QtGui.QPainter(rendered)
    QtWidgets.QWidget.render(widget, painter, QtCore.QPoint(0, 0))
    painter.end()
    for image in (grabbed, rendered):
        assert image.width() > 100 and image.height() > 100, what
        fg = _foreground_pixels(image, background)
        assert fg.mean() > 0.01, f"{what}: almost nothing drawn"
        # the axes themselves: tick lines and labels inside every axis' own rectangle
        rects = _axis_rects(widget)
        assert len(rects) >= 2, f"{what}: no axes found"
        for rect in rects:
            r = rect.intersected(QtCore.QRect(0, 0, image.width(), image.height()))
            inside = fg[r.top() : r.bottom() + 1, r.left() : r.right() + 1]
            assert inside.size and inside.mean() > 0.02, f"{what}: an axis at {rect} was not drawn"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_plot_paints_with_real_data(qtbot, real_events, theme):
    kinds = {type(e) for e in real_events}
    assert {ev.RunStarted, ev.Steps, ev.EpochEnd, ev.Boundary, ev.LRReduced, ev.EarlyStopped} <= kinds
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.set_theme(theme)
    plots.resize(1280, 720)
    plots.show()
    qtbot.waitExposed(plots)
    for i in range(0, len(real_events), 50):
        plots.add_events(real_events[i : i + 50])
        QtWidgets.QApplication.processEvents()  # paint as the batches arrive, as in the app
    bg = THEMES[theme]["bg"]
    counts = plots.shown.point_counts()
    steps = {e.run: e.steps for e in real_events if isinstance(e, ev.Finished)}
    assert counts["loss"] == steps and counts["lr"] == steps
    for mode in ("overlay", "grid"):
        plots.set_mode(mode)
        qtbot.waitUntil(lambda: not plots.building)
        QtWidgets.QApplication.processEvents()
        items = plots.plot_items()
        assert set(items) == set(PLOT_NAMES)
        for name in PLOT_NAMES:
            _check_painted(items[name], bg, f"{mode}/{name}")
    _check_painted(plots, bg, "whole LivePlots")
