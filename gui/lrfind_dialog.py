"""Tools > Find learning rate: the LR range test in the window, live, with one-click suggestions.

The test (:func:`optiscope.engine.lrfind.lr_find`, through the one training loop) runs as a
background job of the window's :class:`~.worker.JobRunner` on the panels' current data,
model, optimizer and regularisation; its ``Steps`` events reach the plot in batches. The
plot shows loss against learning rate on a log axis -- the raw curve, the smoothed curve,
where the test stopped -- and each suggestion as a marker with its value. One click applies
a suggestion to the panels: the learning rate; triangular cyclical bounds with a step size
of 2-10 x the updates per epoch (shown before applying, as article 000 advises); or the
one-cycle maximum. The model and optimizer the test trained are thrown away (the test
builds its own from the settings), so nothing the window holds changes until a click.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from optiscope.engine.outcome import DebiasedAverage
from PySide6 import QtCore, QtWidgets

from .tools import ToolDialog, ToolHost
from .worker import JobContext

__all__ = ["LRFindDialog", "SUGGESTION_NAMES"]

JOB_KEY = "lr_find"
#: the suggestions drawn as markers, in the order the engine's suggest() names them
SUGGESTION_NAMES = {
    "steepest": "steepest descent",
    "valley": "valley",
    "minimum_div_10": "minimum ÷ 10",
    "clr_base_lr": "CLR base",
    "clr_max_lr": "CLR max",
}
_MARKER_COLORS = {
    "steepest": "#d62728",
    "valley": "#2ca02c",
    "minimum_div_10": "#9467bd",
    "clr_base_lr": "#ff7f0e",
    "clr_max_lr": "#ff7f0e",
}


def loss_axis_range(smoothed: np.ndarray) -> tuple[float, float]:
    """The loss axis of a range test's finite smoothed losses: from below the lowest to above
    the start, so the fall shows and the blow-up at the end does not flatten it; at least 5 %
    of the loss level tall, so a curve still flat at its start (a run stopped early, a start
    rate that changes nothing yet) reads as a flat line with round ticks, not a 1e-6 sliver."""
    lo, first = float(smoothed.min()), float(smoothed[0])
    span = max(first - lo, 0.06 * max(abs(first), abs(lo)), 1e-6)  # the axis: 0.9 spans tall
    return lo - 0.3 * span, max(first, lo) + 0.6 * span


def _range_test_job(cfg: Any, start_lr: float, end_lr: float, iterations: int):
    """The background job: the range test, reporting each update's (lr, loss)."""

    def job(context: JobContext) -> Any:
        from optiscope.engine import events as ev
        from optiscope.engine.control import RunControl
        from optiscope.engine.lrfind import lr_find

        control = RunControl()
        bus = ev.EventBus()

        def on_steps(e: ev.Steps) -> None:
            for lr, loss in zip(e.lr.tolist(), e.loss.tolist(), strict=True):
                context.emit((lr, loss))
            if context.cancelled:
                control.stop()

        bus.subscribe(on_steps, ev.Steps)
        return lr_find(cfg, start_lr=start_lr, end_lr=end_lr, iterations=iterations, control=control, bus=bus)

    return job


class LRFindDialog(ToolDialog):
    """The range test's window: settings, a live loss-vs-LR plot and the apply buttons."""

    title = "Find learning rate (LR range test)"
    object_name = "lr-finder"
    job_keys = (JOB_KEY,)
    start_on_open = True
    initial_size = (820, 560)
    start_buttons, stop_buttons = ("run_button",), ("stop_button",)
    status_label, failure = "summary", "The range test failed: {error}"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self.result: Any = None
        self.cfg: Any = None
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.beta = 0.98  # the range test's own smoothing (engine.lrfind.smooth)
        self._avg = DebiasedAverage(self.beta)
        layout = QtWidgets.QVBoxLayout(self)
        form = QtWidgets.QHBoxLayout()
        self.start_box = self._rate_box(1e-7)
        self.end_box = self._rate_box(10.0)
        self.iterations_box = QtWidgets.QSpinBox()
        self.iterations_box.setRange(10, 5000)
        self.iterations_box.setValue(100)
        for text, box in (("from", self.start_box), ("to", self.end_box), ("updates", self.iterations_box)):
            form.addWidget(QtWidgets.QLabel(text))
            form.addWidget(box)
        self.run_button = QtWidgets.QPushButton("Start")
        self.run_button.clicked.connect(self.start)
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        form.addWidget(self.run_button)
        form.addWidget(self.stop_button)
        form.addStretch(1)
        layout.addLayout(form)
        from .plots.style import THEMES

        theme = THEMES["light"]
        self.plot = pg.PlotWidget()
        self.plot.setBackground(theme["bg"])
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-10, 10))
        self.raw_curve = self.plot.plot([], [], pen=pg.mkPen("#9aa8b8", width=1), name="loss")
        self.smooth_curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=3), name="smoothed")
        self.stop_marker = pg.ScatterPlotItem(size=14, symbol="x", pen=pg.mkPen("#333333", width=2))
        self.plot.addItem(self.stop_marker)
        self.markers: list[Any] = []
        self.hover = QtWidgets.QLabel(" ")
        self.plot.scene().sigMouseMoved.connect(self._on_mouse)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover)
        self.summary = QtWidgets.QLabel(
            "Run the test: the rate rises every update while the loss is recorded."
        )
        self.summary.setWordWrap(True)
        self.summary.setMinimumHeight(3 * self.summary.fontMetrics().lineSpacing())
        layout.addWidget(self.summary)
        apply_row = QtWidgets.QHBoxLayout()
        self.choice = QtWidgets.QComboBox()
        for key in ("steepest", "valley", "minimum_div_10"):
            self.choice.addItem(SUGGESTION_NAMES[key], key)
        self.use_lr = QtWidgets.QPushButton("Use as learning rate")
        self.use_lr.clicked.connect(self.apply_learning_rate)
        self.step_factor = QtWidgets.QSpinBox()
        self.step_factor.setRange(2, 10)
        self.step_factor.setValue(4)
        self.step_factor.setSuffix(" × updates/epoch")
        self.step_factor.setToolTip("CLR step size (half a cycle): 2-10 × the updates per epoch (Smith 2017)")
        self.step_factor.valueChanged.connect(self._describe_cyclic)
        self.use_cyclic = QtWidgets.QPushButton("Use as cyclical bounds")
        self.use_cyclic.clicked.connect(self.apply_cyclical_bounds)
        self.use_one_cycle = QtWidgets.QPushButton("Use as one-cycle maximum")
        self.use_one_cycle.clicked.connect(self.apply_one_cycle)
        for w in (self.choice, self.use_lr, self.step_factor, self.use_cyclic, self.use_one_cycle):
            apply_row.addWidget(w)
        layout.addLayout(apply_row)
        self.cyclic_text = QtWidgets.QLabel("")
        self.cyclic_text.setWordWrap(True)
        layout.addWidget(self.cyclic_text)
        self._set_apply_enabled(False)

    @staticmethod
    def _rate_box(value: float) -> QtWidgets.QDoubleSpinBox:
        box = QtWidgets.QDoubleSpinBox()
        box.setDecimals(8)
        box.setRange(1e-8, 100.0)
        box.setValue(value)
        return box

    # ------------------------------------------------------------------ the test
    def start(self) -> bool:
        """Start the range test on the panels' current settings (False if they are invalid)."""
        from .panels import PanelError

        try:
            cfg = self.host.run_config()
        except PanelError as exc:
            self.summary.setText(f"The settings are not valid: {exc}")
            return False
        start, end = self.start_box.value(), self.end_box.value()
        if not start < end:
            self.summary.setText(f"The first rate ({start:g}) must be below the last ({end:g}).")
            return False
        self.cfg = cfg
        self.result = None
        self.lrs, self.losses, self.smoothed = [], [], []
        self._avg = DebiasedAverage(self.beta)
        self._clear_markers()
        self.stop_marker.setData([], [])
        self._set_apply_enabled(False)
        self.summary.setText(f"Testing {cfg.optimizer.kind} from {start:g} to {end:g} …")
        self.submit(
            JOB_KEY,
            _range_test_job(cfg, start, end, self.iterations_box.value()),
            on_events=self._on_points,
            on_done=self._on_done,
        )
        return True

    @QtCore.Slot(object)
    def _on_points(self, points: list) -> None:
        for lr, loss in points:
            self.lrs.append(float(lr))
            self.losses.append(float(loss))
            self.smoothed.append(self._avg.push(float(loss)))
        self._draw_curves(np.array(self.lrs), np.array(self.losses), np.array(self.smoothed))

    def _draw_curves(self, lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray) -> None:
        ok = np.isfinite(losses)
        self.raw_curve.setData(lrs[ok], losses[ok])
        ok = np.isfinite(smoothed)
        self.smooth_curve.setData(lrs[ok], smoothed[ok])
        finite = smoothed[ok]
        if len(finite):
            self.plot.setYRange(*loss_axis_range(finite), padding=0)

    def _on_done(self, result: Any) -> None:
        self.result = result
        self._draw_curves(np.asarray(result.lrs), np.asarray(result.losses), np.asarray(result.smoothed))
        if len(result.lrs):
            self.stop_marker.setData([math.log10(result.lrs[-1])], [float(result.smoothed[-1])])
        sugg = result.suggestions
        self._clear_markers()
        by_value: dict[float, list[str]] = {}  # suggestions at one rate share a marker and label
        for key, value in sugg.items():
            if value is not None:
                by_value.setdefault(value, []).append(key)
        for value, keys in sorted(by_value.items()):
            i = int(np.argmin(np.abs(np.log(result.lrs) - math.log(value))))
            y = float(result.smoothed[i])
            color = _MARKER_COLORS[keys[0]]
            label = " = ".join(SUGGESTION_NAMES[k] for k in keys)
            # named in the legend, one row each: suggestions a few pixels apart (blobs has five
            # within half a decade) would print their labels on top of each other on the curve
            dot = pg.ScatterPlotItem(
                [math.log10(value)],
                [y],
                size=11,
                brush=pg.mkBrush(color),
                pen=None,
                name=f"{label} {value:.3g}",
            )
            self.plot.addItem(dot)
            self.markers.append(dot)
        where = "the loss blew up" if result.stopped_early else "the last rate"
        shown = ", ".join(f"{SUGGESTION_NAMES[k]} {v:.3g}" for k, v in sugg.items() if v is not None)
        self.summary.setText(
            f"Stopped at lr {result.lrs[-1]:.3g} ({where}) after {len(result.lrs)} updates. "
            + (
                f"Suggestions: {shown}."
                if shown
                else "The loss never fell: no suggestion (try other bounds)."
            )
        )
        self._set_apply_enabled(True)
        self._describe_cyclic()

    def _clear_markers(self) -> None:
        legend = self.plot.getPlotItem().legend
        for item in self.markers:
            self.plot.removeItem(item)
            if legend is not None:
                legend.removeItem(item)
        self.markers = []

    def _on_mouse(self, pos: Any) -> None:
        vb = self.plot.getPlotItem().vb
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        self.hover.setText(f"lr {10 ** p.x():.3g}   loss {p.y():.4g}")

    # ------------------------------------------------------------------ applying
    def _set_apply_enabled(self, on: bool) -> None:
        sugg = self.result.suggestions if (on and self.result is not None) else {}
        self.use_lr.setEnabled(any(sugg.get(k) for k in ("steepest", "valley", "minimum_div_10")))
        self.use_cyclic.setEnabled(bool(sugg.get("clr_base_lr") and sugg.get("clr_max_lr")))
        self.use_one_cycle.setEnabled(bool(sugg.get("clr_max_lr") or sugg.get("minimum_div_10")))

    def cyclic_settings(self) -> dict[str, Any] | None:
        """The triangular CLR the cyclical button applies (None before a usable test)."""
        if self.result is None:
            return None
        sugg = self.result.suggestions
        base, top = sugg.get("clr_base_lr"), sugg.get("clr_max_lr")
        if not base or not top:
            return None
        spe = int(self.result.settings.get("iterations_per_epoch", 1))
        factor = self.step_factor.value()
        return {
            "kind": "cyclic",
            "mode": "triangular",
            "base_lr": float(base),
            "max_lr": float(max(top, base)),
            "step_size": factor * spe,
            "factor": factor,
            "updates_per_epoch": spe,
        }

    def _describe_cyclic(self) -> None:
        s = self.cyclic_settings()
        self.cyclic_text.setText(
            ""
            if s is None
            else f"Cyclical bounds: triangular CLR from {s['base_lr']:.3g} to {s['max_lr']:.3g} (minimum ÷ 10 "
            f"and a quarter of it), step size "
            f"{s['step_size']} updates ({s['factor']} × {s['updates_per_epoch']} updates per epoch)"
        )

    def _apply(self, optimizer: Any = None, schedule: Any = None, what: str = "") -> None:
        cfg = self.host.run_config()
        update: dict[str, Any] = {}
        if optimizer is not None:
            update["optimizer"] = optimizer
        if schedule is not None:
            update["schedule"] = schedule
        self.host.show_run(cfg.model_copy(update=update))
        self.host.report(what)
        self.summary.setText(what)

    def apply_learning_rate(self) -> None:
        key = self.choice.currentData()
        value = self.result.suggestions.get(key) if self.result is not None else None
        if not value:
            self.summary.setText(f"No {SUGGESTION_NAMES[key]} suggestion from this test.")
            return
        cfg = self.host.run_config()
        self._apply(
            optimizer=cfg.optimizer.model_copy(update={"lr": float(value)}),
            what=f"Learning rate set to {value:.3g} ({SUGGESTION_NAMES[key]} of the range test).",
        )

    def apply_cyclical_bounds(self) -> None:
        from optiscope.engine.config import Cyclic

        s = self.cyclic_settings()
        if s is None:
            return
        schedule = Cyclic(
            mode="triangular", base_lr=s["base_lr"], max_lr=s["max_lr"], step_size=s["step_size"]
        )
        self._apply(
            schedule=schedule,
            what=f"Schedule set to triangular CLR {s['base_lr']:.3g}–{s['max_lr']:.3g}, step size "
            f"{s['step_size']} updates ({s['factor']} × {s['updates_per_epoch']} per epoch).",
        )

    def one_cycle_max(self) -> float | None:
        """The one-cycle maximum: the CLR max (minimum ÷ 10), else minimum ÷ 10 itself."""
        if self.result is None:
            return None
        sugg = self.result.suggestions
        return sugg.get("clr_max_lr") or sugg.get("minimum_div_10")

    def apply_one_cycle(self) -> None:
        from optiscope.engine.config import OneCycle

        top = self.one_cycle_max()
        if not top:
            return
        self._apply(
            schedule=OneCycle(max_lr=float(top)), what=f"Schedule set to one-cycle with maximum {top:.3g}."
        )
