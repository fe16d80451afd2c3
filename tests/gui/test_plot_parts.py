"""A live plot is a part: one class, one row (docs/extending.md, "Adding a live plot").

A toy plot written here (the generalisation gap, train minus validation accuracy per
epoch) is registered beside the bundled plots and gets, with no code of its own for them,
what every plot gets: a place in the overlay view and a canvas of cells in the grid view,
the event stream, the presentation look, titles and axis labels, hover readouts, PNG/SVG
exports with the run legend and lesson marks. A second test walks the registry, so a
bundled plot cannot skip one of these either.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pyqtgraph as pg
import pytest
from optiscope.engine import events as ev
from optiscope.gui.plots import PLOT_NAMES, PLOT_PARTS, THEMES, LivePlots, items, presentation
from optiscope.gui.plots.part import Pen, PlotPart, PlotRun
from PySide6 import QtCore, QtGui
from PySide6.QtTest import QTest


def run_events(run, *, epochs=4, spe=10, boundary=False, label=None):
    """A plausible run: RunStarted, Steps, EpochEnds (and Boundary grids), Finished."""
    rng = np.random.default_rng(run)
    out = [ev.RunStarted(run, label or f"run {run}", "cpu", 100, spe, spe * epochs, epochs, 3, {})]
    step = 0
    xs, ys = np.linspace(-2, 2, 7, dtype=np.float32), np.linspace(-1, 1, 5, dtype=np.float32)
    for e in range(1, epochs + 1):
        for _ in range(spe):
            step += 1
            out.append(ev.Steps.of(run, step, e, 0.01, float(1.1 * np.exp(-step / 30) + 0.1 * rng.random())))
        acc = 1 - 0.6 * np.exp(-e / 2)
        out.append(ev.EpochEnd(run, e, step, 0.01, 0.5, acc, 0.6 / e, acc - 0.03 * e * (run + 1), 0.01))
        if boundary:
            probs = rng.dirichlet(np.ones(3), size=(len(ys), len(xs))).astype(np.float32)
            out.append(ev.Boundary(run, e, xs, ys, probs))
    out.append(ev.Finished(run, "completed", epochs, step, 1.0))
    return out


def feed(plots, events, batch=37):
    for i in range(0, len(events), batch):
        plots.add_events(events[i : i + batch])


def colours(image: QtGui.QImage) -> int:
    """How many distinct colours the image holds (a blank export has one)."""
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), np.uint32).reshape(image.height(), image.bytesPerLine() // 4)
    return len(np.unique(arr[:, : image.width()] & 0xFFFFFF))


class GapPlot(PlotPart):
    """The toy part: train minus validation accuracy per epoch."""

    name = "gap"
    title = "Generalisation gap"
    subtitles = ("train − validation accuracy",)
    axis_labels = ("epoch", "accuracy gap (train − validation)")
    short_axis_labels = ((), ("gap",))
    cell_labels = ("epoch", "gap")
    x_range = "epochs"
    pens = {"gap": Pen(2.0, per_run=True)}
    counted = "gap"

    def create(self, plot: pg.PlotItem, run: PlotRun) -> dict[str, Any]:
        gap = items.curve(pg.mkPen(run.color, width=2), antialias=False, clip=False)
        items.add_curve(plot, gap)
        return {"gap": gap}

    def draw(self, run: PlotRun, its: dict[str, Any], flags: set[str]) -> None:
        if flags & {"all", "epochs"}:
            its["gap"].setData(run.epoch.view(), run.train_acc.view() - run.val_acc.view())

    def readout(self, run_id: int | None, x: float, y: float, tol: float) -> str | None:
        lines = []
        for run in self.frame.runs_for(run_id):
            j = run.epoch_index(round(x))
            if j is not None:
                lines.append(f"{run.label}: gap {run.train_acc.view()[j] - run.val_acc.view()[j]:.3f}")
        return f"<b>epoch {round(x)}</b><br>" + "<br>".join(lines) if lines else None


@pytest.fixture
def plots(qtbot):
    w = LivePlots(parts=(*PLOT_PARTS, GapPlot))
    qtbot.addWidget(w)
    w.resize(1200, 1000)
    w.show()
    qtbot.waitExposed(w)
    return w


def expected_gap(events, run):
    """(epochs, train - validation accuracy) straight from the EpochEnd events."""
    ends = [e for e in events if isinstance(e, ev.EpochEnd) and e.run == run]
    return np.array([e.epoch for e in ends], float), np.array([e.train_acc - e.val_acc for e in ends])


def hover_over(plots, name, x, y, run_id=None):
    view = plots.plot_items()[name]
    scene_pos = plots.shown.plot(name, run_id).vb.mapViewToScene(QtCore.QPointF(x, y))
    QTest.mouseMove(view.viewport(), view.mapFromScene(scene_pos))


def test_a_registered_toy_plot_gets_every_view_and_capability(plots, qtbot, tmp_path):
    events = run_events(0, epochs=6, label="adam lr=0.01") + run_events(1, epochs=6, label="sgd lr=0.1")
    feed(plots, events)
    qtbot.wait(20)
    shown = plots.shown

    # overlay view: its own plot on screen, below the bundled four, fed by the event stream
    view = plots.plot_items()["gap"]
    assert view.isVisible() and view.width() > 150 and view.height() > 100
    acc = plots.plot_items()["accuracy"]
    assert (
        view.mapTo(plots, QtCore.QPoint(0, 0)).y() > acc.mapTo(plots, QtCore.QPoint(0, 0)).y() + acc.height()
    )
    for rid in (0, 1):
        x, y = shown.series(rid)["gap"]
        np.testing.assert_allclose(x, expected_gap(events, rid)[0])
        np.testing.assert_allclose(y, expected_gap(events, rid)[1])
    assert shown.point_counts()["gap"] == {0: 6, 1: 6}
    assert shown.title("gap") == ["Generalisation gap", "train − validation accuracy"]
    axis = shown.plot("gap").getAxis("left")  # the longest wording that fits, the full one as tooltip
    assert axis.labelText in ("accuracy gap (train − validation)", "gap")
    assert axis.label.toolTip() == "accuracy gap (train − validation)"
    # the shared epochs range, as on the accuracy plot
    assert shown.plot("gap").vb.viewRange()[0] == pytest.approx(shown.plot("accuracy").vb.viewRange()[0])

    # hover readout from its own lookup
    hover_over(plots, "gap", 4, 0.05)
    qtbot.waitUntil(lambda: shown.hover_text("gap") is not None, timeout=2000)
    assert "epoch 4" in shown.hover_text("gap") and "sgd lr=0.1" in shown.hover_text("gap")

    # lesson marks: a ring and its caption inside the plot's data area
    plots.annotate("gap", 1, 3.0, 0.05, "the gap opens")
    assert ("gap", 3.0, 0.05, "the gap opens") in shown.annotations()
    area, rects, hidden = shown.caption_layout("gap")
    assert hidden == [] and len(rects) == 1 and area.contains(rects[0])

    # exports: PNG and SVG, the overlay with the run legend underneath
    png, svg = tmp_path / "gap.png", tmp_path / "gap.svg"
    plots.export_png("gap", png, scale=1.0)
    plots.export_svg("gap", svg)
    image = QtGui.QImage(str(png))
    assert not image.isNull() and colours(image) > 10
    assert image.height() > view.height() + 10  # the legend below the plot
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and "sgd lr=0.1" in ET.tostring(root, encoding="unicode")

    # presentation: thicker curves, one line style per run, the contrast theme
    plots.set_presentation(True)
    pens = [shown.curve(rid, "gap").opts["pen"] for rid in (0, 1)]
    assert all(p.widthF() >= presentation.MIN_WIDTH for p in pens)
    assert pens[0].style() != pens[1].style()
    assert shown.plot("gap").getAxis("left").textPen().color().name() == THEMES["contrast"]["fg"]
    assert view.backgroundBrush().color().name() == THEMES["contrast"]["bg"]
    plots.set_presentation(False)
    assert shown.curve(0, "gap").opts["pen"].widthF() == 2.0

    # grid view: one cell per run on its own canvas, its run's curve only, titled by run
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building, timeout=10_000)
    canvas = plots.plot_items()["gap"]
    assert canvas is not view and canvas.isVisible()
    cells = [shown.plot("gap", rid) for rid in (0, 1)]
    assert cells[0] is not cells[1] and all(c.scene() is canvas.scene() for c in cells)
    for rid, cell in zip((0, 1), cells, strict=True):
        x, y = shown.series(rid)["gap"]
        np.testing.assert_allclose(y, expected_gap(events, rid)[1])
        assert shown.curve(rid, "gap") in cell.listDataItems()
    assert shown.title("gap", 1)[0].endswith("0.1")
    assert shown.point_counts()["gap"] == {0: 6, 1: 6}
    plots.export_png("gap", tmp_path / "gap-grid.png", scale=1.0)
    assert colours(QtGui.QImage(str(tmp_path / "gap-grid.png"))) > 10

    # removed with the runs
    plots.clear()
    assert shown.point_counts()["gap"] == {}
    assert shown.annotations() == []
    qtbot.wait(400)  # let the hover's SignalProxy timer finish (the fixture fails on live timers)


def test_every_registered_plot_has_the_capabilities_the_frame_relies_on(qtbot, tmp_path):
    """Walk the registry: each plot is titled, labelled, fed, drawn in both modes,
    read out under the mouse and exported; the names are unique and the layout shows all."""
    assert PLOT_NAMES == tuple(p.name for p in PLOT_PARTS)
    assert len(set(PLOT_NAMES)) == len(PLOT_NAMES)
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1200, 800)
    plots.show()
    qtbot.waitExposed(plots)
    feed(plots, run_events(0, epochs=4, boundary=True) + run_events(1, epochs=4, boundary=True))
    qtbot.wait(20)
    for part in PLOT_PARTS:
        name = part.name
        assert part.title and all(part.axis_labels), name
        assert plots.plot_items()[name].isVisible(), name
        assert plots.shown.title(name)[0], name
        assert max(plots.shown.point_counts()[name].values()) > 0, name  # the boundary: one run shown
        plot = plots.shown.plot(name)
        x0, x1 = plot.vb.viewRange()[0]
        y0, y1 = plot.vb.viewRange()[1]
        assert plots.frame.parts[name].readout(None, 0.5 * (x0 + x1), 0.5 * (y0 + y1), x1 - x0) is not None, (
            name
        )
        plots.export_png(name, tmp_path / f"{name}.png", scale=1.0)
        assert colours(QtGui.QImage(str(tmp_path / f"{name}.png"))) > 10, name
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building, timeout=10_000)
    for part in PLOT_PARTS:
        assert plots.plot_items()[part.name].isVisible(), part.name
        assert min(plots.shown.point_counts()[part.name].values()) > 0, part.name  # every run's cell
        if part.cell_labels is not None:
            assert plots.shown.plot(part.name, 1) is not plots.shown.plot(part.name), part.name


def test_a_plot_part_needs_a_distinct_name(qtbot):
    class Unnamed(GapPlot):
        name = ""

    class Twin(GapPlot):
        pass

    with pytest.raises(ValueError, match="distinct, non-empty names"):
        LivePlots(parts=(*PLOT_PARTS, Unnamed))
    with pytest.raises(ValueError, match="distinct, non-empty names"):
        LivePlots(parts=(*PLOT_PARTS, GapPlot, Twin))
