"""The landscape's *Test functions* view: optimizers racing on a 2D test function.

:class:`RaceView` draws a log-scaled heatmap of a 2D function with log-spaced contour lines and
its minima marked; click to set the start point; several ``torch.optim`` optimizers race from
it (each trail a thick line in its colour, cased white and black to stand out on the colour
map), stepped in a background job (:class:`~.worker.JobRunner`) and drawn about 30 times a
second; *Step* advances one update and shows, at each optimizer's point, the steepest-descent
direction (−gradient, black) and the update the optimizer will take next (its colour). A key
under the map names the arrows, the start and the minima. torch is imported lazily.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
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

from .landscape_common import FitToWidth, Heatmap, key_under, log_image, themed_plot_widget
from .worker import JobContext, JobRunner

__all__ = ["RaceView", "OPTIMIZER_ROWS", "DEFAULT_RATES", "SCHEDULE_CHOICES"]

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
# the race's trails on the colour map: a coloured core inside a white and a black casing, so
# a path stands out on viridis' dark purple and on its yellow alike (widths in pixels)
TRAIL_WIDTH = 4.0
TRAIL_CASING = (("#000000", TRAIL_WIDTH + 5.0), ("#ffffff", TRAIL_WIDTH + 2.5))
HEAD_SIZE = 17  # the optimizer's current point: its colour, ringed white then black
GRADIENT_COLOR = "#000000"
START_BRUSH, START_PEN = pg.mkBrush(255, 255, 255, 170), pg.mkPen("#000000", width=2.5)


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
    key = key_under(
        plot,
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
        self.plot_widget = themed_plot_widget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.heat = Heatmap(self.plot)
        self.minima = pg.ScatterPlotItem(
            symbol="star", size=18, brush=pg.mkBrush("#ffffff"), pen=pg.mkPen("#000000", width=1.5)
        )
        self.start_marker = pg.ScatterPlotItem(symbol="o", size=14, brush=START_BRUSH, pen=START_PEN)
        self.minima.setZValue(20)  # above paths and arrows
        self.start_marker.setZValue(19)
        self.plot.addItem(self.minima)
        self.plot.addItem(self.start_marker)
        self.key = _race_key(self.plot)
        self.fitter = FitToWidth(self.plot_widget, self.key)  # two columns where they fit, else one
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
        lz, levels = log_image(z, self.fn.min_value)
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
