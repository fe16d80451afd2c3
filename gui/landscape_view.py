"""Loss landscapes: optimizers racing on 2D test functions, and network loss surfaces.

:class:`LandscapeView` has two tabs:

* **Test functions** (:class:`RaceView`): a log-scaled heatmap of a 2D function with
  log-spaced contour lines and its minima marked; click to set the start point; several
  ``torch.optim`` optimizers race from it (each trail a thick line in its colour, cased
  white and black to stand out on the colour map), stepped in a background job and drawn
  about 30 times a second; *Step* advances one update and shows, at each optimizer's point,
  the steepest-descent direction (−gradient, black) and the update the optimizer will take
  next (its colour): the two differ once momentum or Adam's moments build up. A key under
  the map names the arrows, the start and the minima.
* **Network surface** (:class:`SurfaceView`): fed the engine's events (``add_events``, as
  ``LivePlots``), it computes the loss surface around the weight trajectory in a
  background thread (coarse, then refined; never on the GUI thread), draws the projected
  paths live (all runs of a race share one plane) and, beside it, the true loss along
  each path against the slice's value at the projected points.

A 3D surface (OpenGL) is an explicit opt-in, offered only where a real display and
PyOpenGL exist; it is never created offscreen. torch is imported lazily (the window
shows before the engine has loaded).
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.engine import optimizers as optimizer_parts
from optiscope.engine.config import (
    Constant,
    Cosine,
    Cyclic,
    OneCycle,
    TimeDecay,
)
from optiscope.gui.colors import run_color
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

from .worker import JobContext, JobRunner

__all__ = ["LandscapeView", "RaceView", "SurfaceView", "install", "OPTIMIZER_ROWS", "gl_available"]

# name, config factory taking (sgd_lr, adaptive_lr), checked by default
OPTIMIZER_ROWS: tuple[tuple[str, Callable[[float, float], Any], bool], ...] = optimizer_parts.race_rows()
# per function: a stable plain-SGD rate and a rate for Adam-like methods
DEFAULT_RATES = {
    "rosenbrock": (1e-3, 0.03),
    "beale": (1e-3, 0.05),
    "himmelblau": (0.01, 0.05),
    "rastrigin": (1e-3, 0.05),
    "saddle": (0.05, 0.05),
    "ill_conditioned": (0.03, 0.05),
    "quadratic": (0.1, 0.05),
}
# learning-rate schedules for the race (the engine's ScheduleConfig models, per update)
SCHEDULE_CHOICES: tuple[tuple[str, Callable[[float, int], Any]], ...] = (
    ("constant", lambda lr, n: Constant()),
    ("time decay 0.01", lambda lr, n: TimeDecay(decay=0.01)),
    ("cosine to 0", lambda lr, n: Cosine()),
    ("cyclic (lr/10 .. lr, half-cycle 50)", lambda lr, n: Cyclic(base_lr=lr / 10, max_lr=lr, step_size=50)),
    ("one-cycle (peak lr)", lambda lr, n: OneCycle(max_lr=lr)),
    ("warm-up 50 steps", lambda lr, n: Constant(warmup_steps=50)),
)
TICK_MS = 33  # animation: about 30 frames a second
N_LEVELS = 10
# the race's trails on the colour map: a coloured core inside a white and a black casing, so
# a path stands out on viridis' dark purple and on its yellow alike (widths in pixels)
TRAIL_WIDTH = 4.0
TRAIL_CASING = (("#000000", TRAIL_WIDTH + 5.0), ("#ffffff", TRAIL_WIDTH + 2.5))
HEAD_SIZE = 17  # the optimizer's current point: its colour, ringed white then black
GRADIENT_COLOR = "#000000"
START_BRUSH, START_PEN = pg.mkBrush(255, 255, 255, 170), pg.mkPen("#000000", width=2.5)


def gl_available() -> bool:
    """True where a 3D (OpenGL) view may be offered: a real display and PyOpenGL installed."""
    app = QtGui.QGuiApplication.instance()
    if app is None or QtGui.QGuiApplication.platformName() in ("offscreen", "minimal", "vnc"):
        return False
    return importlib.util.find_spec("OpenGL") is not None


def _log_image(z: np.ndarray, floor: float | None) -> tuple[np.ndarray, np.ndarray]:
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


class _Heatmap:
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


def _arrow_symbol() -> QtGui.QPainterPath:
    """A right-pointing arrow in the unit square, the legend's picture of the step arrows."""
    path = QtGui.QPainterPath()
    path.addPolygon(
        QtGui.QPolygonF(
            [
                QtCore.QPointF(x, y)
                for x, y in (
                    (-0.5, -0.09),
                    (0.12, -0.09),
                    (0.12, -0.32),
                    (0.5, 0.0),
                    (0.12, 0.32),
                    (0.12, 0.09),
                    (-0.5, 0.09),
                )
            ]
        )
    )
    path.closeSubpath()
    return path


def _race_key(plot: pg.PlotItem) -> pg.LegendItem:
    """The key of the race's marks: the two step arrows, the start and the minimum (the
    optimizers' colours are keyed in the table beside the plot)."""
    key = pg.LegendItem(
        offset=None,
        brush=pg.mkBrush(255, 255, 255, 225),
        pen=pg.mkPen("#555555"),
        labelTextColor="#111111",
    )
    arrow = _arrow_symbol()
    samples = (
        (
            pg.ScatterPlotItem(
                symbol=arrow, size=22, brush=pg.mkBrush(GRADIENT_COLOR), pen=pg.mkPen("#ffffff", width=1)
            ),
            "−gradient: steepest way down (after Step)",
        ),
        (
            pg.ScatterPlotItem(
                symbol=arrow, size=22, brush=pg.mkBrush("#8c8c8c"), pen=pg.mkPen("#ffffff", width=1)
            ),
            "the optimizer's next update, in its colour",
        ),
        (
            pg.ScatterPlotItem(symbol="o", size=14, brush=START_BRUSH, pen=START_PEN),
            "start (click the map to move it)",
        ),
        (
            pg.ScatterPlotItem(
                symbol="star", size=16, brush=pg.mkBrush("#ffffff"), pen=pg.mkPen("#000000", width=1.5)
            ),
            "minimum",
        ),
    )
    key.setColumnCount(2)
    for item, text in samples:
        key.addItem(item, text)
    # under the map, below the x axis: it never covers a path, a start or a minimum
    plot.layout.addItem(key, 4, 1)
    for sample, _label in key.items:  # a key, not visibility switches: clicks do nothing
        sample.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    key.samples = [item for item, _text in samples]  # the pictures' items live as long as the key
    return key


def _arrow_path(origin: np.ndarray, vec: np.ndarray, length: float) -> np.ndarray:
    """Polyline points (NaN-separated) of an arrow of fixed ``length`` from ``origin`` along ``vec``."""
    n = float(np.linalg.norm(vec))
    if not (n > 0 and math.isfinite(n)):
        return np.full((0, 2), np.nan)
    u = vec / n
    tip = origin + u * length
    perp = np.array([-u[1], u[0]])
    head = length * 0.3
    left = tip - u * head + perp * head * 0.5
    right = tip - u * head - perp * head * 0.5
    nan = np.array([np.nan, np.nan])
    return np.array([origin, tip, nan, left, tip, right])


# --------------------------------------------------------------------------- test functions
def _themed_plot_widget() -> pg.PlotWidget:
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


class RaceView(QtWidgets.QWidget):
    """Optimizers racing on a 2D test function, with click-to-start and one-step arrows."""

    race_reset = Signal()
    stepped = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.race: Any = None  # optiscope.engine.testfunctions.Race, built lazily (torch)
        self.fn: Any = None
        self.start_point: tuple[float, float] | None = None
        self._ready = False
        self._mode = "paused"  # or "playing", "stepping": what the race's job is doing
        self._pace = _Pace()
        self.jobs = JobRunner(self, name="optiscope-race")
        self.jobs.errored.connect(self._on_job_errored)
        self._build()

    # -- widgets
    def _build(self) -> None:
        self.plot_widget = _themed_plot_widget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.heat = _Heatmap(self.plot)
        self.minima = pg.ScatterPlotItem(
            symbol="star", size=18, brush=pg.mkBrush("#ffffff"), pen=pg.mkPen("#000000", width=1.5)
        )
        self.start_marker = pg.ScatterPlotItem(symbol="o", size=14, brush=START_BRUSH, pen=START_PEN)
        self.minima.setZValue(20)  # above paths and arrows
        self.start_marker.setZValue(19)
        self.plot.addItem(self.minima)
        self.plot.addItem(self.start_marker)
        self.key = _race_key(self.plot)
        self.paths: list[pg.PlotDataItem] = []
        self.casings: list[pg.PlotDataItem] = []
        self.heads: list[pg.ScatterPlotItem] = []
        self.grad_arrows: list[pg.PlotDataItem] = []
        self.update_arrows: list[pg.PlotDataItem] = []
        self.plot_widget.scene().sigMouseClicked.connect(self._on_click)

        self.function_box = QtWidgets.QComboBox()  # filled by ensure_ready (the list needs torch)
        self.function_box.currentIndexChanged.connect(self._on_function)
        self.description = QtWidgets.QLabel()
        self.description.setWordWrap(True)

        self.opt_table = QtWidgets.QTableWidget(len(OPTIMIZER_ROWS), 2)
        self.opt_table.setHorizontalHeaderLabels(["optimizer", "learning rate"])
        self.opt_table.verticalHeader().hide()
        self.opt_table.horizontalHeader().setStretchLastSection(True)
        self.lr_boxes: list[QtWidgets.QDoubleSpinBox] = []
        for i, (name, _make, checked) in enumerate(OPTIMIZER_ROWS):
            item = QtWidgets.QTableWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            item.setForeground(run_color(i))
            self.opt_table.setItem(i, 0, item)
            box = QtWidgets.QDoubleSpinBox()
            box.setDecimals(5)
            box.setRange(1e-5, 10.0)
            box.setSingleStep(0.001)
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self.reset)
            self.lr_boxes.append(box)
            self.opt_table.setCellWidget(i, 1, box)
        self.opt_table.itemChanged.connect(lambda _item: self.reset())
        self.opt_table.resizeColumnsToContents()

        self.play_button = QtWidgets.QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._on_play)
        self.step_button = QtWidgets.QPushButton("Step")
        self.step_button.setToolTip(
            "One update; arrows show −gradient (black) and each optimizer's next update"
        )
        self.step_button.clicked.connect(self.step_once)
        self.reset_button = QtWidgets.QPushButton("Reset")
        self.reset_button.clicked.connect(self.reset)
        self.speed = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(1, 20)
        self.speed.setValue(3)
        self.speed.setToolTip("updates per frame (about 30 frames a second)")
        self.speed.valueChanged.connect(self._on_speed)
        self.schedule_box = QtWidgets.QComboBox()
        for name, _make in SCHEDULE_CHOICES:
            self.schedule_box.addItem(name)
        self.schedule_box.setToolTip(
            "the same torch.optim.lr_scheduler schedules as the networks, per update"
        )
        self.schedule_box.currentIndexChanged.connect(self.reset)
        self.max_steps = QtWidgets.QSpinBox()
        self.max_steps.setRange(10, 20_000)
        self.max_steps.setValue(1000)
        self.max_steps.setSuffix(" steps")
        self.max_steps.valueChanged.connect(self.reset)

        self.readout = QtWidgets.QTableWidget(0, 5)
        self.readout.setHorizontalHeaderLabels(["optimizer", "step", "loss", "to min", "status"])
        self.readout.verticalHeader().hide()
        self.readout.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.readout.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )

        side = QtWidgets.QVBoxLayout()
        side.addWidget(self.function_box)
        side.addWidget(self.description)
        side.addWidget(self.opt_table, 2)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.play_button, self.step_button, self.reset_button):
            buttons.addWidget(b)
        side.addLayout(buttons)
        form = QtWidgets.QFormLayout()
        form.addRow("speed", self.speed)
        form.addRow("schedule", self.schedule_box)
        form.addRow("stop after", self.max_steps)
        side.addLayout(form)
        side.addWidget(QtWidgets.QLabel("Click the plot to set the start point."))
        side.addWidget(self.readout, 2)
        holder = QtWidgets.QWidget()
        holder.setLayout(side)
        holder.setMaximumWidth(470)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(self.plot_widget, 1)
        lay.addWidget(holder)

    # -- lazily built state (needs torch)
    def ensure_ready(self) -> None:
        """Draw the first function (imports torch on first use)."""
        if not self._ready:
            from optiscope.engine.testfunctions import FUNCTIONS

            self._ready = True
            with QtCore.QSignalBlocker(self.function_box):
                for key, fn in FUNCTIONS.items():
                    self.function_box.addItem(fn.name, key)
            self._on_function()

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.ensure_ready()

    def set_function(self, key: str) -> None:
        """Show test function ``key`` (e.g. ``"rosenbrock"``) and reset the race to its start."""
        self.ensure_ready()
        index = self.function_box.findData(key)
        if index < 0:
            raise ValueError(f"unknown test function {key!r}")
        if index == self.function_box.currentIndex():
            self._on_function()
        else:
            self.function_box.setCurrentIndex(index)

    def _on_function(self, *_: Any) -> None:
        if not self._ready:
            return
        from optiscope.engine.testfunctions import function_grid, get_function

        self.fn = get_function(self.function_box.currentData())
        self.description.setText(self.fn.description)
        sgd_lr, ada_lr = DEFAULT_RATES.get(self.fn.key, (1e-3, 0.03))
        for box, (_name, make, _c) in zip(self.lr_boxes, OPTIMIZER_ROWS, strict=True):
            with QtCore.QSignalBlocker(box):
                box.setValue(make(sgd_lr, ada_lr).lr)
        xs, ys, z = function_grid(self.fn, 160)
        lz, levels = _log_image(z, self.fn.min_value)
        self.heat.set(lz, levels, self.fn.extent)
        self.minima.setData(pos=np.asarray(self.fn.minima).reshape(-1, 2))
        x0, x1, y0, y1 = self.fn.extent
        self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)
        self.start_point = self.fn.start
        self.reset()

    def configs(self) -> tuple[list[Any], list[str], list[int]]:
        """The checked optimizers' configs, labels and row indices."""
        out, labels, rows = [], [], []
        sgd_lr, ada_lr = DEFAULT_RATES.get(self.fn.key if self.fn else "", (1e-3, 0.03))
        for i, (name, make, _checked) in enumerate(OPTIMIZER_ROWS):
            if self.opt_table.item(i, 0).checkState() != Qt.CheckState.Checked:
                continue
            cfg = make(sgd_lr, ada_lr).model_copy(update={"lr": float(self.lr_boxes[i].value())})
            out.append(cfg)
            labels.append(name)
            rows.append(i)
        return out, labels, rows

    def set_start(self, x: float, y: float) -> None:
        """Start the race again from ``(x, y)``."""
        self.ensure_ready()
        self.start_point = (float(x), float(y))
        self.reset()

    def reset(self, *_: Any) -> None:
        """Rebuild the race from the start point with the current settings (paused)."""
        if not self._ready or self.fn is None:
            return
        from optiscope.engine.testfunctions import Race

        self.pause()
        configs, labels, rows = self.configs()
        for ua in self.update_arrows:
            self.plot.removeItem(ua.halo)
        for items in (self.casings, self.paths, self.heads, self.grad_arrows, self.update_arrows):
            for item in items:
                self.plot.removeItem(item)
            items.clear()
        self.start_marker.setData(pos=[self.start_point])
        if not configs:
            self.race = None
            self._update_readout([])
            return
        n = int(self.max_steps.value())
        make_schedule = SCHEDULE_CHOICES[max(self.schedule_box.currentIndex(), 0)][1]
        schedules = [make_schedule(c.lr, n) for c in configs]
        self.race = Race(self.fn, configs, self.start_point, schedule=schedules, total_steps=n, labels=labels)
        self.row_of = rows
        for row in rows:
            colour = run_color(row)
            casings = [pg.PlotDataItem(pen=pg.mkPen(c, width=w)) for c, w in TRAIL_CASING]
            path = pg.PlotDataItem(pen=pg.mkPen(colour, width=TRAIL_WIDTH))
            path.casings = casings
            ring = pg.mkPen("#ffffff", width=2.5)
            head = pg.ScatterPlotItem(size=HEAD_SIZE, brush=pg.mkBrush(colour), pen=ring)
            ga = pg.PlotDataItem(pen=pg.mkPen(GRADIENT_COLOR, width=3), connect="finite")
            ua = pg.PlotDataItem(pen=pg.mkPen(colour, width=4), connect="finite")
            # a white halo under each arrow keeps it visible on the dark map and along the path
            halo = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=8), connect="finite")
            ua.halo = halo
            # outlines first, then the paths, then the arrows and points: every path's casing
            # lies under every path, so crossing trails keep their colours
            for z, item in (
                (1, casings[0]),
                (2, casings[1]),
                (3, path),
                (5, halo),
                (6, ga),
                (7, ua),
                (8, head),
            ):
                item.setZValue(z)
                self.plot.addItem(item)
            self.casings.extend(casings)
            self.paths.append(path)
            self.heads.append(head)
            self.grad_arrows.append(ga)
            self.update_arrows.append(ua)
        self._redraw(arrows=False)
        self.race_reset.emit()

    # -- running: the optimizers step in a background job, the GUI thread only draws
    def _on_play(self, on: bool) -> None:
        if on:
            self.play()
        else:
            self.pause()

    def _on_speed(self, value: int) -> None:
        self._pace.steps_per_frame = int(value)

    def play(self) -> None:
        """Animate the race: ``speed`` updates per frame, about 30 frames a second."""
        self.ensure_ready()
        self.pause()
        if self.race is None or self.race.done:
            return
        with QtCore.QSignalBlocker(self.play_button):
            self.play_button.setChecked(True)
            self.play_button.setText("Pause")
        self._pace.steps_per_frame = int(self.speed.value())
        self._mode = "playing"
        self.jobs.submit(
            "race",
            _play_job(self.race, self._pace),
            on_events=self._on_frames,
            on_finished=self._on_job_finished,
        )

    def pause(self) -> None:
        """Stop the animation (waits for the race's job, a frame at most) and show where it is."""
        was_live = self.jobs.busy("race")
        self.jobs.join("race")
        self._mode = "paused"
        with QtCore.QSignalBlocker(self.play_button):
            self.play_button.setChecked(False)
            self.play_button.setText("Play")
        if was_live and self.race is not None:
            self._draw_frame(_race_frame(self.race, arrows=False))  # frames still queued were dropped

    @property
    def playing(self) -> bool:
        return self._mode == "playing" and self.jobs.busy("race")

    @property
    def busy(self) -> bool:
        """True while the race's job runs (playing, or one step being computed)."""
        return self.jobs.busy("race")

    def step_once(self) -> None:
        """One update (in the background), then show −gradient and the next update at each point."""
        self.ensure_ready()
        if self.race is None:
            return
        self.pause()
        self._mode = "stepping"
        self.jobs.submit(
            "race", _step_job(self.race, 1), on_events=self._on_frames, on_finished=self._on_job_finished
        )

    def _on_frames(self, frames: list) -> None:
        self._draw_frame(frames[-1])  # each frame holds the whole history: draw the newest
        self.stepped.emit(max((r.steps for r in frames[-1]), default=0))

    def _on_job_finished(self, job: Any) -> None:
        self._mode = "paused"
        with QtCore.QSignalBlocker(self.play_button):
            self.play_button.setChecked(False)
            self.play_button.setText("Play")

    def _on_job_errored(self, key: str, message: str) -> None:
        self.description.setText(f"The race stopped: {message}")

    def _redraw(self, arrows: bool) -> None:
        if self.race is not None:
            self._draw_frame(_race_frame(self.race, arrows=arrows))

    def _draw_frame(self, frame: list[_RunnerFrame]) -> None:
        x0, x1, y0, y1 = self.fn.extent
        length = 0.08 * max(x1 - x0, y1 - y0)
        for i, r in enumerate(frame):
            pos = r.positions
            self.paths[i].setData(pos[:, 0], pos[:, 1])
            for casing in self.paths[i].casings:
                casing.setData(pos[:, 0], pos[:, 1])
            self.heads[i].setData(pos=pos[-1:])
            if r.grad is not None and r.update is not None:
                g = _arrow_path(r.position, -r.grad, 0.75 * length)
                u = _arrow_path(r.position, r.update, length)
                self.grad_arrows[i].setData(g[:, 0], g[:, 1])
                self.update_arrows[i].setData(u[:, 0], u[:, 1])
                self.update_arrows[i].halo.setData(u[:, 0], u[:, 1])
            else:
                self.grad_arrows[i].setData([], [])
                self.update_arrows[i].setData([], [])
                self.update_arrows[i].halo.setData([], [])
        self._update_readout(frame)

    def arrow_data(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) points of optimizer ``index``'s gradient and update arrows (for tests)."""
        g = self.grad_arrows[index].getData()
        u = self.update_arrows[index].getData()
        return np.column_stack(g) if g[0] is not None else np.zeros((0, 2)), (
            np.column_stack(u) if u[0] is not None else np.zeros((0, 2))
        )

    def _update_readout(self, frame: list[_RunnerFrame]) -> None:
        self.readout.setRowCount(len(frame))
        for i, r in enumerate(frame):
            d = r.distance
            cells = (
                r.label,
                str(r.steps),
                f"{r.loss:.3g}",
                "—" if math.isnan(d) else f"{d:.3g}",
                {"running": "", "diverged": "diverged", "left": "left the plot"}[r.status],
            )
            for j, text in enumerate(cells):
                item = self.readout.item(i, j)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    self.readout.setItem(i, j, item)
                item.setText(text)
            self.readout.item(i, 0).setForeground(run_color(self.row_of[i]))

    def _on_click(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.fn is None:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        x0, x1, y0, y1 = self.fn.extent
        if x0 <= p.x() <= x1 and y0 <= p.y() <= y1:
            event.accept()
            self.set_start(p.x(), p.y())

    def shutdown(self) -> None:
        """Stop the race's job and wait for it."""
        self.jobs.shutdown()
        self._mode = "paused"


class _Pace:
    """The animation speed, read by the race's job: updates per frame."""

    def __init__(self) -> None:
        self.steps_per_frame = 1


@dataclass(frozen=True)
class _RunnerFrame:
    """One optimizer of a race at one moment, copied for the GUI thread to draw."""

    positions: np.ndarray  # (n, 2): the finite points so far
    position: np.ndarray
    label: str
    steps: int
    loss: float
    distance: float
    status: str
    grad: np.ndarray | None = None  # the arrows, after a single step
    update: np.ndarray | None = None


def _race_frame(race: Any, *, arrows: bool) -> list[_RunnerFrame]:
    """The race as plain arrays; with ``arrows``, each optimizer's gradient and next update
    (a dry run of the optimizer: only ever call this where the race may be stepped)."""
    frame = []
    for r in race.runners:
        pos = np.asarray(r.positions)
        grad = update = None
        if arrows and not r.done:
            grad, update = r.preview()
        frame.append(
            _RunnerFrame(
                pos[np.isfinite(pos).all(axis=1)],
                np.array(r.position),
                r.label,
                r.steps,
                r.loss,
                r.distance,
                r.status,
                grad,
                update,
            )
        )
    return frame


def _play_job(race: Any, pace: _Pace) -> Callable[[JobContext], int]:
    """The race animated: ``pace.steps_per_frame`` updates, then a frame, ~30 times a second."""

    def job(context: JobContext) -> int:
        frame_s = TICK_MS / 1000.0
        next_frame = time.perf_counter()
        while not context.cancelled and not race.done:
            race.step(max(int(pace.steps_per_frame), 1))
            context.emit(_race_frame(race, arrows=False))
            context.flush()
            next_frame += frame_s
            wait = next_frame - time.perf_counter()
            if wait > 0:
                context.cancel_event.wait(wait)
            else:
                next_frame = time.perf_counter()
        return race.steps

    return job


def _step_job(race: Any, steps: int) -> Callable[[JobContext], int]:
    """``steps`` updates, then one frame with the arrows."""

    def job(context: JobContext) -> int:
        race.step(steps)
        context.emit(_race_frame(race, arrows=True))
        return race.steps

    return job


# --------------------------------------------------------------------------- network surface
class _Results:
    """``append((what, payload))`` hands one result to the GUI thread at once."""

    def __init__(self, context: JobContext) -> None:
        self._context = context

    def append(self, item: tuple[str, Any]) -> None:
        self._context.emit(item)
        self._context.flush()  # few, large results: each is worth showing when ready


class _Job:
    """What :func:`_surface_job` reports to, from the background job's context:
    ``results.append((what, payload))`` and ``cancel.is_set()``."""

    def __init__(self, context: JobContext) -> None:
        self.cancel = context.cancel_event
        self.results = _Results(context)


def _surface_job(
    job: _Job,
    cfg_json: dict,
    trajectories: list[np.ndarray],
    run_ids: list[int],
    steps: list[np.ndarray],
    kind: str,
    grids: Sequence[int],
    extent: float,
    cache: dict,
) -> None:
    """Runs in the worker thread: plane, coarse then refined surface, path reports.

    The network is rebuilt at the first run's last snapshot (the final weights once the run
    finished) and handed to the engine's one surface pipeline."""
    from optiscope.engine.config import RunConfig
    from optiscope.engine.data import load_dataset
    from optiscope.engine.landscape import model_at, surface_pipeline

    cfg = RunConfig.model_validate(cfg_json)
    key = cfg.dataset.model_dump_json()
    if cache.get("key") != key:
        cache.clear()
        cache["key"], cache["ds"] = key, load_dataset(cfg.dataset)
    ds = cache["ds"]
    model, recalibrated = model_at(cfg.model, trajectories[0][-1], ds)
    if recalibrated:
        job.results.append(
            ("note", "batch-norm statistics re-estimated on the training set at the final weights")
        )
    paths = list(zip(run_ids, steps, trajectories, strict=True))
    for stage in surface_pipeline(
        model,
        ds.x_train,
        ds.y_train,
        paths,
        kind=kind,
        grids=grids,
        extent=extent,
        seed=0,
        max_samples=2000,
        should_stop=job.cancel.is_set,
    ):
        job.results.append(stage)


class SurfaceView(QtWidgets.QWidget):
    """The network's loss surface around its trajectory, computed in the background."""

    surface_ready = Signal(object)  # a Surface (coarse or refined)
    paths_ready = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = JobRunner(self, name="optiscope-surface")
        self.jobs.errored.connect(self._on_job_errored)
        self._cache: dict = {}
        self.configs: dict[int, dict] = {}
        self.labels: dict[int, str] = {}  # run -> its label
        self.snapshots: dict[int, list[tuple[int, np.ndarray]]] = {}
        self.finished: set[int] = set()
        self.plane: Any = None
        self.surface: Any = None
        self.reports: list[Any] = []
        self._planned_n = 0
        self._dirty = False
        self.error: str | None = None
        self._note = ""
        self._proj: dict[int, tuple[Any, int, np.ndarray]] = {}
        self._build()

    def _build(self) -> None:
        self.plane_box = QtWidgets.QComboBox()
        for key, text in (
            ("pca", "PCA of the trajectory"),
            ("random", "random (filter-normalised)"),
            ("interp", "line: initial → final"),
        ):
            self.plane_box.addItem(text, key)
        self.grid_box = QtWidgets.QSpinBox()
        self.grid_box.setRange(11, 101)
        self.grid_box.setValue(51)
        self.extent_box = QtWidgets.QDoubleSpinBox()
        self.extent_box.setRange(0.1, 20.0)
        self.extent_box.setValue(1.0)
        self.extent_box.setSingleStep(0.25)
        self.recompute_button = QtWidgets.QPushButton("Recompute")
        self.recompute_button.clicked.connect(self.recompute)
        self.plane_box.currentIndexChanged.connect(self.recompute)
        self.gl_button = QtWidgets.QPushButton("3D view…")
        self.gl_button.setEnabled(False)
        self.gl_button.setToolTip("needs a display and PyOpenGL")
        self.gl_button.clicked.connect(self.open_3d)
        self._gl_window: QtWidgets.QWidget | None = None
        self.status = QtWidgets.QLabel(
            "Start a run: the surface appears once a few weight snapshots arrived."
        )
        self.status.setWordWrap(True)
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)

        self.plot_widget = _themed_plot_widget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.heat = _Heatmap(self.plot)
        self.line_curve = pg.PlotDataItem(pen=pg.mkPen("#202020", width=2))
        self.plot.addItem(self.line_curve)
        self.run_paths: dict[int, pg.PlotDataItem] = {}
        self.run_ends: dict[int, pg.ScatterPlotItem] = {}
        self.origin_marker = pg.ScatterPlotItem(symbol="+", size=14, pen=pg.mkPen("#ffffff", width=2))
        self.plot.addItem(self.origin_marker)

        self.compare = _themed_plot_widget()
        self.compare_plot = self.compare.getPlotItem()
        self.compare_plot.setLabel("bottom", "update")
        self.compare_plot.setLabel("left", "loss (log)")
        self.compare_plot.setLogMode(y=True)
        self.compare_plot.setTitle("true loss (solid) vs slice (dashed) along the path")
        fg = self.compare.getPlotItem().getAxis("left").textPen().color()
        self.compare_plot.addLegend(offset=(-10, 10), labelTextColor=fg)
        self.compare_items: list[pg.PlotDataItem] = []

        top = QtWidgets.QHBoxLayout()
        for label, w in (("plane", self.plane_box), ("grid", self.grid_box), ("extent", self.extent_box)):
            top.addWidget(QtWidgets.QLabel(label))
            top.addWidget(w)
        top.addWidget(self.recompute_button)
        top.addWidget(self.gl_button)
        top.addStretch(1)
        split = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot_widget)
        split.addWidget(self.compare)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addWidget(self.status)
        lay.addWidget(self.info)

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.gl_button.setEnabled(gl_available())
        self._maybe_start()  # snapshots that arrived while hidden

    # -- events in
    def label(self, run: int) -> str:
        """The run's label (as in the training plots' legend)."""
        return self.labels.get(run, f"run {run}")

    def add_events(self, events: Sequence[ev.Event]) -> None:
        """Take a batch of engine events (RunStarted, Weights, Finished are used)."""
        grew: set[int] = set()
        for e in events:
            t = type(e)
            if t is ev.RunStarted:
                if e.run in self.configs:  # a new experiment reuses run ids: start over
                    self.clear()
                self.configs[e.run] = e.config
                self.labels[e.run] = e.label or f"run {e.run}"
                self.snapshots.setdefault(e.run, [])
            elif t is ev.Weights:
                self.snapshots.setdefault(e.run, []).append((e.step, e.vector))
                grew.add(e.run)
            elif t is ev.Finished:
                self.finished.add(e.run)
                self._dirty = True
                if not self.snapshots.get(e.run):
                    self.status.setText(
                        f"Run '{self.label(e.run)}' sent no weight snapshots, so there is no surface to draw "
                        "(the run must be trained with weights_every > 0)."
                    )
        if self.plane is not None:
            for run in grew:  # one redraw per run and batch, projecting only the new snapshots
                self._draw_path(run)
        if grew or self._dirty:
            self._maybe_start()

    def clear(self) -> None:
        """Forget every run and drop the surface (a running job is cancelled)."""
        self._cancel()
        self.configs.clear()
        self.labels.clear()
        self.snapshots.clear()
        self._proj.clear()
        self.finished.clear()
        self.plane = self.surface = None
        self.reports = []
        self._planned_n = 0
        self._dirty = False
        self.error = None
        for d in (self.run_paths, self.run_ends):
            for item in d.values():
                self.plot.removeItem(item)
            d.clear()
        for item in self.compare_items:
            self.compare_plot.removeItem(item)
        self.compare_items.clear()
        self.heat.image.clear()
        for iso in self.heat.isos:
            iso.hide()
        self.line_curve.setData([], [])
        self.origin_marker.setData(pos=np.zeros((0, 2)))
        self.info.setText("")
        self.status.setText("Start a run: the surface appears once a few weight snapshots arrived.")

    def _shared_runs(self) -> list[int]:
        if 0 not in self.snapshots or not self.snapshots[0]:
            return []
        n = self.snapshots[0][0][1].size
        return [
            r
            for r in sorted(self.snapshots)
            if self.snapshots[r] and self.snapshots[r][0][1].size == n and r in self.configs
        ]

    def _maybe_start(self) -> None:
        # nobody is looking (another tab is in front): keep the snapshots, compute once shown,
        # so a hidden view never takes CPU from training
        if self.busy or 0 not in self.configs or not self.isVisible():
            return
        n0 = len(self.snapshots.get(0, []))
        if n0 < 3:
            return
        first = self.plane is None and self.error is None  # after a failure: retry only on growth
        if first or n0 >= 1.5 * self._planned_n or (self._dirty and n0 > self._planned_n):
            self._dirty = False
            self.recompute()

    def recompute(self, *_: Any) -> None:
        """Start a background computation of plane, surface and paths (cancels a running one)."""
        runs = self._shared_runs()
        if not runs or len(self.snapshots[0]) < 3:
            self.status.setText("Not enough weight snapshots yet (need 3 of the first run).")
            return
        self._cancel()
        self._note = ""
        from optiscope.engine.landscape import finite_snapshots  # (the engine is loaded by now)

        pairs = [
            finite_snapshots(
                np.array([s for s, _ in self.snapshots[r]]), np.stack([v for _, v in self.snapshots[r]])
            )
            for r in runs
        ]
        steps = [p[0] for p in pairs]
        trajs = [p[1].astype(np.float64) for p in pairs]
        if len(trajs[0]) < 3:
            self.status.setText("Not enough finite weight snapshots of the first run for a surface.")
            return
        self._planned_n = len(self.snapshots[0])
        kind = self.plane_box.currentData()
        grid = int(self.grid_box.value())
        grids = (min(21, grid), grid) if grid > 21 else (grid,)
        args = (self.configs[0], trajs, runs, steps, kind, grids, float(self.extent_box.value()), self._cache)
        self.jobs.submit(
            "surface",
            lambda context: _surface_job(_Job(context), *args),
            on_events=self._on_results,
            on_finished=self._on_job_finished,
        )
        self.status.setText(
            f"Computing the {kind} surface ({' then '.join(f'{g}×{g}' for g in grids)}) "
            f"from {self._planned_n} snapshots…"
        )

    def _cancel(self) -> None:
        self.jobs.cancel("surface")

    @property
    def busy(self) -> bool:
        """True while a surface is being computed (or waits for a cancelled one to end)."""
        return self.jobs.busy("surface")

    def _on_results(self, results: list) -> None:
        for what, payload in results:
            if what == "note":
                self._note = payload
            elif what == "plane":
                self.plane = payload
                self._redraw_paths()
            elif what == "surface":
                self._show_surface(payload)
            elif what == "paths":
                self._show_reports(payload)

    def _on_job_errored(self, key: str, message: str) -> None:
        self.error = message
        self.status.setText(f"The surface could not be computed: {message}")

    def _on_job_finished(self, job: Any) -> None:
        self._maybe_start()  # snapshots arrived meanwhile

    def _show_surface(self, surf: Any) -> None:
        self.surface = surf
        self.error = None
        plane = surf.plane
        if plane.is_line:
            self.heat.image.hide()
            for iso in self.heat.isos:
                iso.hide()
            self.line_curve.setData(surf.alphas, surf.loss[0])
            self.plot.setAspectLocked(False)
            self.plot.setLabel("bottom", plane.axis_labels[0])
            self.plot.setLabel("left", "loss")
        else:
            self.line_curve.setData([], [])
            self.heat.image.show()
            lz, levels = _log_image(surf.loss, None)
            a, b = surf.alphas, surf.betas
            da, db = (a[1] - a[0]) / 2, (b[1] - b[0]) / 2
            self.heat.set(lz, levels, (a[0] - da, a[-1] + da, b[0] - db, b[-1] + db))
            self.plot.setLabel("bottom", plane.axis_labels[0])
            self.plot.setLabel("left", plane.axis_labels[1])
            self.origin_marker.setData(pos=[(0.0, 0.0)])
        self.plot.autoRange(padding=0.02)
        expl = "n/a" if math.isnan(plane.explained) else f"{100 * plane.explained:.1f} %"
        self.info.setText(
            f"{plane.note}. Trajectory variance in the {'line' if plane.is_line else 'plane'}: {expl}. "
            f"Loss on the {surf.data_note}; {surf.grid}×{len(surf.betas)} points in {surf.seconds:.2f} s "
            f"({surf.method}).{' ' + self._note[0].upper() + self._note[1:] + '.' if self._note else ''}"
        )
        self.status.setText("Refined surface ready." if surf.final else "Coarse surface; refining…")
        self._redraw_paths()
        self.surface_ready.emit(surf)

    def _path_item(self, run: int) -> pg.PlotDataItem:
        if run not in self.run_paths:
            colour = run_color(run)
            self.run_paths[run] = pg.PlotDataItem(
                pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=3, symbolBrush=colour, symbolPen=None
            )
            self.run_ends[run] = pg.ScatterPlotItem(
                size=12, brush=pg.mkBrush(colour), pen=pg.mkPen("#000", width=1)
            )
            self.plot.addItem(self.run_paths[run])
            self.plot.addItem(self.run_ends[run])
        return self.run_paths[run]

    def path_coords(self, run: int) -> np.ndarray:
        """The run's snapshots projected on the current plane, shape (T, 2) (empty without a plane).

        Projections are cached per plane; only snapshots that arrived since are projected.
        """
        if self.plane is None or run not in self.snapshots or not self.snapshots[run]:
            return np.zeros((0, 2))
        snaps = self.snapshots[run]
        if snaps[0][1].size != self.plane.origin.size:
            return np.zeros((0, 2))
        plane_id, done, coords = self._proj.get(run, (None, 0, np.zeros((0, 2))))
        if plane_id is not self.plane:
            done, coords = 0, np.zeros((0, 2))
        if done < len(snaps):
            vecs = np.stack([v for _, v in snaps[done:]])
            vecs = vecs[np.isfinite(vecs).all(axis=1)]
            if len(vecs):
                coords = np.concatenate([coords, self.plane.project(vecs)])
            self._proj[run] = (self.plane, len(snaps), coords)
        return coords

    def _draw_path(self, run: int) -> None:
        c = self.path_coords(run)
        if not len(c):
            return
        item = self._path_item(run)
        if self.plane.is_line:
            # along the line: x = alpha, y = the true loss is not known live; show the slice position
            losses = self._line_losses(c[:, 0])
            item.setData(c[:, 0], losses)
            self.run_ends[run].setData(pos=np.column_stack([c[-1:, 0], losses[-1:]]))
        else:
            item.setData(c[:, 0], c[:, 1])
            self.run_ends[run].setData(pos=c[-1:])

    def _line_losses(self, alphas: np.ndarray) -> np.ndarray:
        if self.surface is None or not self.surface.plane.is_line:
            return np.zeros_like(alphas)
        return np.interp(alphas, self.surface.alphas, self.surface.loss[0])

    def _redraw_paths(self) -> None:
        for run in self._shared_runs():
            self._draw_path(run)

    def _show_reports(self, reports: list[Any]) -> None:
        self.reports = reports
        for item in self.compare_items:
            self.compare_plot.removeItem(item)
        self.compare_items.clear()
        legend = self.compare_plot.legend
        if legend is not None:
            legend.clear()
        for r in reports:
            colour = run_color(r.run)
            solid = pg.PlotDataItem(
                r.steps, r.true_loss, pen=pg.mkPen(colour, width=2), name=f"{self.label(r.run)} true"
            )
            dashed = pg.PlotDataItem(
                r.steps,
                r.slice_loss,
                pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine),
                name=f"{self.label(r.run)} slice",
            )
            for item in (solid, dashed):
                self.compare_plot.addItem(item)
                self.compare_items.append(item)
        gaps = ", ".join(f"{self.label(r.run)}: {r.max_gap:.3g}" for r in reports)
        self.status.setText(f"Refined surface ready. Largest |true − slice| loss along the path: {gaps}.")
        self.paths_ready.emit(reports)

    # -- 3D (opt-in, never offscreen)
    def open_3d(self) -> None:
        """Show the current surface in a separate OpenGL window (only where :func:`gl_available`)."""
        if not gl_available() or self.surface is None or self.surface.plane.is_line:
            return
        import pyqtgraph.opengl as gl

        w = gl.GLViewWidget()
        z = np.log10(np.maximum(self.surface.loss, 1e-12))
        z = (z - z.min()) / max(float(np.ptp(z)), 1e-12) * 2.0
        item = gl.GLSurfacePlotItem(
            x=self.surface.alphas * 2, y=self.surface.betas * 2, z=z.T, shader="heightColor"
        )
        w.addItem(item)
        w.setWindowTitle("Loss surface (log scale)")
        w.resize(640, 480)
        w.show()
        self._gl_window = w

    def shutdown(self) -> None:
        """Cancel the surface job and wait for its thread (call before the window goes away)."""
        self.jobs.shutdown()


# --------------------------------------------------------------------------- the tab
class LandscapeView(QtWidgets.QWidget):
    """The landscape tab: test-function races and the network's loss surface."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs = QtWidgets.QTabWidget()
        self.race_view = RaceView()
        self.surface_view = SurfaceView()
        self.tabs.addTab(self.race_view, "Test functions")
        self.tabs.addTab(self.surface_view, "Network surface")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tabs)

    def set_mode(self, mode: str) -> None:
        """``"functions"`` or ``"network"``."""
        if mode not in ("functions", "network"):
            raise ValueError(f"mode must be 'functions' or 'network', got {mode!r}")
        self.tabs.setCurrentIndex(0 if mode == "functions" else 1)

    def add_events(self, events: Sequence[ev.Event]) -> None:
        self.surface_view.add_events(events)

    def clear(self) -> None:
        self.surface_view.clear()

    def shutdown(self) -> None:
        self.race_view.shutdown()
        self.surface_view.shutdown()


class _CloseWatcher(QtCore.QObject):
    """Shuts the landscape view down when its window closes (no job or timer outlives it)."""

    def __init__(self, view: LandscapeView, parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self.view = view

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QtCore.QEvent.Type.Close:
            self.view.shutdown()
        return False


def install(window: Any, title: str = "Landscape") -> LandscapeView:
    """Add the landscape tab to a ``MainWindow`` (``add_view``) and feed it the run's events.

    Needs ``window.add_view(title, widget)`` and the ``events_received(list)`` signal; the
    view is shut down (background job cancelled, timers stopped) when the window closes.
    The network surface needs ``Weights`` events: the window's runs must be trained with
    ``weights_every`` > 0.
    """
    view = LandscapeView()
    window.add_view(title, view)
    window.events_received.connect(view.add_events)
    view._close_watcher = _CloseWatcher(view, window)
    window.installEventFilter(view._close_watcher)
    return view
