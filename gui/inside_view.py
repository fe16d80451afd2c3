"""The Inside tab: per-layer statistics of the window's runs, from LayerStats events (issue 9).

The engine computes every number (:mod:`optiscope.engine.inside`) and sends it as
:class:`~optiscope.engine.events.LayerStats` every N updates; this view only keeps and draws
them. :class:`InsideData` holds each run's series per layer (no Qt); :class:`InsideView`
draws the chosen run and layer:

* the 5 / 50 / 95 % effective learning rate (band and median, log axis) next to the
  schedule's nominal rate;
* the update-to-weight ratio (log axis) with the ~1e-3 rule of thumb as a guide line;
* the fraction of dead ReLU units and of exactly-zero weights;
* weight and gradient norms (log axis);
* weight and activation histograms over time: one column per LayerStats event, each
  event's bins spread on a value grid shared by all its columns (shade: the square root
  of the share of values in a row, so the tails show beside a spike such as ReLU's zeros).

A run selector picks the run of a race; a layer selector the layer. In a race of several seeds
per runner (:meth:`InsideView.set_plan`) the selector lists each runner once and a seed selector
beside it picks which of its seeds is drawn (these statistics and histograms are one run's
internals): the runner's first seed until the user picks another, the line above the plots
saying which seed is shown. The plots follow the
application's light or dark theme (:meth:`InsideView.apply_theme`, called when the palette
changes), and their log axes write numbers at the powers of ten only (and at 2x and 5x when a
single power of ten is in view).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.engine import optimizers
from PySide6 import QtCore, QtGui, QtWidgets

from . import pg_adapter
from .colors import GUIDE_COLOR, HISTOGRAM_COLORMAP, run_color
from .plots.seeds import SeedGroups
from .plots.style import THEMES

__all__ = ["InsideData", "InsideView", "RunSeries", "UPDATE_RATIO_GUIDE", "GRID_ROWS", "install"]

UPDATE_RATIO_GUIDE = 1e-3  # the rule of thumb: ||update|| / ||weight|| near 1e-3 per update
GRID_ROWS = 60  # rows of the histogram-over-time images (the shared value grid)
SERIES = (
    "effective_lr",
    "weight_norm",
    "grad_norm",
    "update_ratio",
    "dead_fraction",
    "zero_fraction",
)
HISTOGRAMS = ("weight", "activation")


@dataclass
class RunSeries:
    """One run's LayerStats, in arrival order: ``steps`` and ``lrs`` per event, and per
    field a list of the events' per-layer arrays."""

    label: str
    #: what the run's optimizer part says where its "effective LR" is no per-weight rate
    note: str = ""
    layers: tuple[str, ...] = ()
    step_multiplier: float = 1.0
    steps: list[int] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, e: ev.LayerStats) -> None:
        self.layers = e.layers
        self.step_multiplier = e.step_multiplier
        self.steps.append(e.step)
        self.lrs.append(e.lr)
        for name in (*SERIES, "weight_hist", "weight_range", "activation_hist", "activation_range"):
            self.values.setdefault(name, []).append(np.asarray(getattr(e, name), dtype=float))

    def series(self, name: str, layer: int) -> np.ndarray:
        """``name``'s values of ``layer`` over the events: ``(n,)``, or ``(n, 3)`` for the
        effective-rate quantiles."""
        rows = self.values.get(name, [])
        if not rows:
            return np.zeros((0, 3) if name == "effective_lr" else (0,))
        return np.stack([r[layer] for r in rows])

    def histogram_image(self, kind: str, layer: int) -> tuple[np.ndarray, float, float]:
        """``kind``'s ("weight" or "activation") histograms of ``layer`` on one value grid.

        Returns ``(image, lo, hi)``: ``image[event, row]`` holds the counts of the event's
        bins whose centres fall in grid row ``row`` of :data:`GRID_ROWS` rows spanning
        ``[lo, hi]`` (the union of the events' ranges), so each column keeps its event's
        total count.
        """
        counts = self.values.get(f"{kind}_hist", [])
        ranges = self.values.get(f"{kind}_range", [])
        if not counts:
            return np.zeros((0, GRID_ROWS)), 0.0, 1.0
        c = np.stack([x[layer] for x in counts])  # (n, bins)
        r = np.stack([x[layer] for x in ranges])  # (n, 2)
        finite = np.isfinite(r).all(1)
        lo = float(r[finite, 0].min()) if finite.any() else 0.0
        hi = float(r[finite, 1].max()) if finite.any() else 1.0
        if not hi > lo:
            hi = lo + 1.0
        # each bin's count spread evenly over its width: the share of it in a grid row is
        # the share of its width there (the histogram's piecewise-linear CDF at the grid edges)
        grid = np.linspace(lo, hi, GRID_ROWS + 1)
        image = np.zeros((c.shape[0], GRID_ROWS))
        for i in np.flatnonzero(finite):
            a, b = r[i]
            if not b > a:  # every value equal: all of it in one row
                image[i, min(int((a - lo) / (hi - lo) * GRID_ROWS), GRID_ROWS - 1)] = c[i].sum()
                continue
            edges = np.linspace(a, b, c.shape[1] + 1)
            cdf = np.concatenate([[0.0], np.cumsum(c[i])])
            image[i] = np.diff(np.interp(grid, edges, cdf))
        return image, lo, hi


class InsideData:
    """Every run's LayerStats of the window's current session (no Qt)."""

    def __init__(self) -> None:
        self.runs: dict[int, RunSeries] = {}

    def clear(self) -> None:
        self.runs.clear()

    def add_events(self, events: Sequence[ev.Event]) -> set[int]:
        """Keep the LayerStats (and run labels) of ``events``; returns the runs that changed."""
        changed = set()
        for e in events:
            t = type(e)
            if t is ev.RunStarted:
                self.runs[e.run] = RunSeries(e.label, inside_note(e.config))
                changed.add(e.run)
            elif t is ev.LayerStats:
                self.runs.setdefault(e.run, RunSeries(str(e.run))).add(e)
                changed.add(e.run)
        return changed


def inside_note(config: dict) -> str:
    """The run's optimizer part's note on its effective-rate reading ("" for a per-weight rate)."""
    kind = (config.get("optimizer") or {}).get("kind")
    part = optimizers.REGISTRY.get(kind) if isinstance(kind, str) else None
    return part.inside_note if part is not None else ""


def palette_theme() -> str:
    """ "dark" when the application's window colour is dark, else "light" (as the live plots decide)."""
    app = QtWidgets.QApplication.instance()
    window = app.palette().color(QtGui.QPalette.ColorRole.Window) if app is not None else None
    return "dark" if window is not None and window.lightness() < 128 else "light"


def _positive(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: non-positive ones become NaN (a gap, not a warning)."""
    out = np.asarray(values, dtype=float).copy()
    out[~(out > 0)] = np.nan
    return out


class _ElidedLabel(QtWidgets.QLabel):
    """A one-line label that ends in "…" when its text is wider than the label."""

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QtGui.QPainter(self)
        text = self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, self.width())
        painter.drawText(self.rect(), int(self.alignment()), text)


class InsideView(QtWidgets.QWidget):
    """Draws one run's and one layer's statistics (see the module docstring)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = InsideData()
        self._dirty = False
        self.theme = ""  # "light" or "dark" once applied
        self._plots: dict[pg.PlotItem, tuple[str, str]] = {}  # plot -> (title, left axis label)
        self._legends: list[pg.LegendItem] = []
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Run:"))
        self.run_box = QtWidgets.QComboBox()
        self.run_box.setObjectName("inside_run")
        self.run_box.setMinimumContentsLength(18)
        self.run_box.setToolTip("the run of a race whose layers are shown")
        row.addWidget(self.run_box)
        self.seed_label = QtWidgets.QLabel("Seed:")
        self.seed_box = QtWidgets.QComboBox()
        self.seed_box.setObjectName("inside_seed")
        self.seed_box.setMinimumContentsLength(14)
        self.seed_box.setToolTip("which of the runner's seeds is shown: the statistics are one run's")
        row.addWidget(self.seed_label)
        row.addWidget(self.seed_box)
        self.seed_label.hide()
        self.seed_box.hide()
        self.groups: SeedGroups | None = None  # several seeds per runner: which run is which
        row.addWidget(QtWidgets.QLabel("Layer:"))
        self.layer_box = QtWidgets.QComboBox()
        self.layer_box.setObjectName("inside_layer")
        self.layer_box.setMinimumContentsLength(18)
        self.layer_box.setToolTip("the layer (with parameters) whose statistics are shown")
        row.addWidget(self.layer_box)
        self.info = _ElidedLabel()
        self.info.setObjectName("inside_info")
        # long notes must not widen the window (a 1280-pixel projector): cut, full text as tip
        self.info.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        row.addWidget(self.info, 1)
        layout.addLayout(row)
        self.hint = QtWidgets.QLabel(
            "Train a run to look inside it: per-layer statistics arrive about 40 times per run."
        )
        self.hint.setObjectName("inside_hint")
        layout.addWidget(self.hint)
        self.graphics = pg.GraphicsLayoutWidget()
        layout.addWidget(self.graphics, 1)
        self._build_plots()
        self.apply_theme()
        self.run_box.currentIndexChanged.connect(self._on_run)
        self.seed_box.currentIndexChanged.connect(self._on_seed)
        self.layer_box.currentIndexChanged.connect(lambda _i: self.redraw())

    # ------------------------------------------------------------------ plots
    def _plot(self, row: int, col: int, title: str, left: str, log_y: bool = False) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=col, title=title)
        plot.setLabel("bottom", "update")
        plot.setLabel("left", left)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setLogMode(x=False, y=log_y)
        pg_adapter.plain_tick_values(plot.getAxis("bottom"))
        pg_adapter.plain_tick_values(plot.getAxis("left"))
        if log_y:
            pg_adapter.decade_tick_labels(plot.getAxis("left"))
        pg_adapter.allow_narrow_title(plot.titleLabel)
        self._plots[plot] = (title, left)
        return plot

    def _legend(self, plot: pg.PlotItem) -> pg.LegendItem:
        legend = plot.addLegend(offset=(-5, 5))
        self._legends.append(legend)
        return legend

    def apply_theme(self, theme: str | None = None) -> None:
        """Draw in ``theme`` ("light" or "dark"; default: the application palette's)."""
        name = theme or palette_theme()
        if name == self.theme:
            return
        self.theme = name
        colours = THEMES[name]
        fg, muted = colours["fg"], colours["muted"]
        self.graphics.setBackground(colours["bg"])
        for plot, (title, left) in self._plots.items():
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(pg.mkPen(muted))
                axis.setTextPen(pg.mkPen(fg))
            plot.setLabel("bottom", "update", color=fg)
            plot.setLabel("left", left, color=fg)
            plot.setTitle(title, color=fg)
        for legend in self._legends:
            pg_adapter.recolour_legend(legend, fg)

    def changeEvent(self, event: QtCore.QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() in (QtCore.QEvent.Type.PaletteChange, QtCore.QEvent.Type.ApplicationPaletteChange):
            self.apply_theme()

    def _build_plots(self) -> None:
        self.lr_plot = self._plot(0, 0, "Effective LR (5–95 %, median)", "rate", log_y=True)
        self._legend(self.lr_plot)
        self.lr_low = pg.PlotDataItem(connect="finite")
        self.lr_high = pg.PlotDataItem(connect="finite")
        self.lr_band = pg.FillBetweenItem(self.lr_low, self.lr_high)
        self.lr_median = pg.PlotDataItem(connect="finite", name="median")
        self.lr_nominal = pg.PlotDataItem(connect="finite", name="schedule")
        for item in (self.lr_low, self.lr_high, self.lr_band, self.lr_median, self.lr_nominal):
            self.lr_plot.addItem(item)

        self.ratio_plot = self._plot(0, 1, "Update / weight ratio", "‖Δw‖ / ‖w‖", log_y=True)
        self.ratio_curve = pg.PlotDataItem(connect="finite", symbol="o", symbolSize=4)
        self.ratio_plot.addItem(self.ratio_curve)
        self.ratio_guide = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen(GUIDE_COLOR, width=1.5, style=QtCore.Qt.PenStyle.DashLine),
            label="1e-3 rule of thumb",
            labelOpts={"position": 0.5, "color": GUIDE_COLOR, "anchors": [(0.5, 1), (0.5, 1)]},
        )
        pg_adapter.set_log_axis_line(self.ratio_plot, self.ratio_guide, UPDATE_RATIO_GUIDE)

        self.fraction_plot = self._plot(0, 2, "Dead ReLU / zero weights", "fraction")
        self._legend(self.fraction_plot)
        self.fraction_plot.setYRange(0, 1)
        self.dead_curve = pg.PlotDataItem(connect="finite", name="dead ReLU units")
        self.zero_curve = pg.PlotDataItem(connect="finite", name="zero weights")
        self.fraction_plot.addItem(self.dead_curve)
        self.fraction_plot.addItem(self.zero_curve)

        self.norm_plot = self._plot(1, 2, "Weight and gradient norms", "norm", log_y=True)
        self._legend(self.norm_plot)
        self.weight_norm_curve = pg.PlotDataItem(connect="finite", name="‖w‖")
        self.grad_norm_curve = pg.PlotDataItem(connect="finite", name="‖g‖")
        self.norm_plot.addItem(self.weight_norm_curve)
        self.norm_plot.addItem(self.grad_norm_curve)

        cmap = pg.colormap.get(HISTOGRAM_COLORMAP)
        self.hist_plots: dict[str, pg.PlotItem] = {}
        self.hist_images: dict[str, pg.ImageItem] = {}
        for col, kind in enumerate(HISTOGRAMS):
            title = "Weights over time" if kind == "weight" else "Activations over time"
            plot = self._plot(1, col, title, "value")
            image = pg.ImageItem()
            image.setColorMap(cmap)
            plot.addItem(image)
            self.hist_plots[kind] = plot
            self.hist_images[kind] = image

    # ------------------------------------------------------------------ events in
    def add_events(self, events: Sequence[ev.Event]) -> None:
        """Take a batch of engine events (RunStarted and LayerStats are used)."""
        changed = self.data.add_events(events)
        if not changed:
            return
        self._sync_runs()
        self._dirty = True
        if self.isVisible():
            self.redraw()

    def clear(self) -> None:
        """Forget every run (a new session of runs starts)."""
        self.data.clear()
        self._sync_runs()
        self.redraw()

    def set_plan(self, plan: Any) -> None:
        """Which run is which runner's seed (an ``engine.seeds.SeedPlan``; None or one seed per
        runner: every run listed on its own)."""
        self.groups = SeedGroups.of(plan)
        self._sync_runs()

    def _entries(self) -> list[tuple[str, int]]:
        """The run selector's entries: (text, run id); a runner of several seeds once, by its
        first seed's id."""
        out: list[tuple[str, int]] = []
        seen: set[int] = set()
        for run, series in self.data.runs.items():
            group = self.groups.group(run) if self.groups is not None else None
            if group is None:
                out.append((series.label, run))
            elif group not in seen and self.groups is not None:
                seen.add(group)
                out.append(
                    (f"{self.groups.labels[group]} ({self.groups.n_seeds} seeds)", self.groups.lead(group))
                )
        return out

    def _sync_runs(self) -> None:
        entries = self._entries()
        shown = [(self.run_box.itemText(i), self.run_box.itemData(i)) for i in range(self.run_box.count())]
        if shown == entries:
            self._sync_seeds()
            self._sync_layers()
            return
        ids = [run for _, run in entries]
        current = self.run_box.currentData()
        with QtCore.QSignalBlocker(self.run_box):
            self.run_box.clear()
            for label, run in entries:
                self.run_box.addItem(label, run)
            index = ids.index(current) if current in ids else 0
            self.run_box.setCurrentIndex(index if ids else -1)
        self._sync_seeds()
        self._sync_layers()

    def _runner(self) -> int | None:
        """The runner (of several seeds) chosen in the run selector, None for a run of its own."""
        run = self.run_box.currentData()
        if self.groups is None or run is None:
            return None
        return self.groups.group(run)

    def _sync_seeds(self) -> None:
        """The seed selector: the chosen runner's seeds trained so far (the same seed kept when
        another runner is chosen); hidden for a run of its own."""
        group = self._runner()
        self.seed_label.setVisible(group is not None)
        self.seed_box.setVisible(group is not None)
        if group is None or self.groups is None:
            with QtCore.QSignalBlocker(self.seed_box):
                self.seed_box.clear()
            return
        members = [r for r in self.groups.members(group) if r in self.data.runs]
        entries = [(self.groups.seed_text(r), r) for r in members]
        shown = [(self.seed_box.itemText(i), self.seed_box.itemData(i)) for i in range(self.seed_box.count())]
        if shown == entries:
            return
        current = self.seed_box.currentData()
        k = (
            self.groups.seed_index_of[current]
            if current is not None and current < len(self.groups.seed_index_of)
            else 0
        )
        with QtCore.QSignalBlocker(self.seed_box):
            self.seed_box.clear()
            for text, run in entries:
                self.seed_box.addItem(text, run)
            ks = [self.groups.seed_index_of[r] for r in members]
            self.seed_box.setCurrentIndex(ks.index(k) if k in ks else 0)

    def _sync_layers(self) -> None:
        series = self.current_series()
        layers = list(series.layers) if series is not None else []
        if [self.layer_box.itemText(i) for i in range(self.layer_box.count())] == layers:
            return
        current = self.layer_box.currentText()
        with QtCore.QSignalBlocker(self.layer_box):
            self.layer_box.clear()
            self.layer_box.addItems(layers)
            if current in layers:
                self.layer_box.setCurrentIndex(layers.index(current))

    def _on_run(self, _index: int) -> None:
        self._sync_seeds()
        self._sync_layers()
        self.redraw()

    def _on_seed(self, _index: int) -> None:
        self._sync_layers()
        self.redraw()

    # ------------------------------------------------------------------ selection
    def current_run(self) -> int | None:
        """The id of the run drawn: the chosen run, or the chosen seed of the chosen runner."""
        if self._runner() is not None:
            return self.seed_box.currentData()
        return self.run_box.currentData()

    def current_series(self) -> RunSeries | None:
        run = self.current_run()
        return self.data.runs.get(run) if run is not None else None

    def set_run(self, run: int) -> None:
        """Show run ``run`` (its id; a runner's seed: that runner with that seed chosen)."""
        group = self.groups.group(run) if self.groups is not None else None
        if run not in self.data.runs:
            raise ValueError(f"no run {run} in the Inside tab; runs: {list(self.data.runs)}")
        index = self.run_box.findData(
            run if group is None or self.groups is None else self.groups.lead(group)
        )
        self.run_box.setCurrentIndex(index)
        if group is not None:
            self.seed_box.setCurrentIndex(self.seed_box.findData(run))

    def set_layer(self, layer: int) -> None:
        """Show layer ``layer`` (its index in model order)."""
        if not 0 <= layer < self.layer_box.count():
            raise ValueError(f"layer must be 0..{self.layer_box.count() - 1}, got {layer}")
        self.layer_box.setCurrentIndex(layer)

    # ------------------------------------------------------------------ drawing
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.apply_theme()  # the theme may have changed while another tab was shown
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        """Draw the chosen run and layer."""
        self._dirty = False
        series = self.current_series()
        layer = self.layer_box.currentIndex()
        has_data = series is not None and layer >= 0 and bool(series.steps)
        self.hint.setVisible(not has_data)
        if not has_data:
            for item in (
                self.lr_low,
                self.lr_high,
                self.lr_median,
                self.lr_nominal,
                self.ratio_curve,
                self.dead_curve,
                self.zero_curve,
                self.weight_norm_curve,
                self.grad_norm_curve,
            ):
                item.setData([], [])
            for image in self.hist_images.values():
                image.clear()
            self.info.setText("")
            self.info.setToolTip("")
            return
        assert series is not None
        group = self._runner()
        colour = run_color(
            self.run_box.currentData() if group is None else group
        )  # the runner's, as the plots
        x = np.asarray(series.steps, dtype=float)
        q = series.series("effective_lr", layer)
        band = QtCore.Qt.PenStyle.SolidLine
        light = pg.mkColor(colour)
        light.setAlpha(70)
        self.lr_low.setData(x, _positive(q[:, 0]), pen=pg.mkPen(light, width=1, style=band))
        self.lr_high.setData(x, _positive(q[:, 2]), pen=pg.mkPen(light, width=1, style=band))
        self.lr_band.setBrush(pg.mkBrush(light))
        self.lr_median.setData(x, _positive(q[:, 1]), pen=pg.mkPen(colour, width=2.5))
        self.lr_nominal.setData(
            x,
            _positive(np.asarray(series.lrs)),
            pen=pg.mkPen(GUIDE_COLOR, width=1.5, style=QtCore.Qt.PenStyle.DashLine),
        )
        self.ratio_curve.setData(
            x,
            _positive(series.series("update_ratio", layer)),
            pen=pg.mkPen(colour, width=2),
            symbolBrush=colour,
            symbolPen=None,
        )
        dead = series.series("dead_fraction", layer)
        self.dead_curve.setData(x, dead, pen=pg.mkPen(colour, width=2))
        self.zero_curve.setData(
            x,
            series.series("zero_fraction", layer),
            pen=pg.mkPen(colour, width=2, style=QtCore.Qt.PenStyle.DotLine),
        )
        self.weight_norm_curve.setData(
            x, _positive(series.series("weight_norm", layer)), pen=pg.mkPen(colour, width=2)
        )
        self.grad_norm_curve.setData(
            x,
            _positive(series.series("grad_norm", layer)),
            pen=pg.mkPen(colour, width=2, style=QtCore.Qt.PenStyle.DashLine),
        )
        spacing = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
        for kind, image in self.hist_images.items():
            counts, lo, hi = series.histogram_image(kind, layer)
            totals = counts.sum(1, keepdims=True)
            shade = np.sqrt(np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0))
            image.setImage(shade, autoLevels=False, levels=(0.0, max(float(shade.max()), 1e-12)))
            image.setRect(QtCore.QRectF(x[0] - spacing / 2, lo, x[-1] - x[0] + spacing, hi - lo))
        text = f"{len(series.steps)} samples, last at update {series.steps[-1]:,}"
        run = self.current_run()
        if group is not None and self.groups is not None and run is not None:
            text = f"{self.groups.labels[group]}, {self.groups.seed_text(run)} shown · {text}"
        if math.isnan(dead[-1]):
            text += " · no ReLU follows this layer"
        if abs(series.step_multiplier - 1.0) > 1e-9:
            text += f" · momentum: steps ×{series.step_multiplier:.3g} in the long run"
        if series.note:
            text += f" · {series.note}"
        self.info.setText(text)
        self.info.setToolTip(text)


def install(window: Any, title: str = "Inside") -> InsideView:
    """Add the Inside tab to a ``MainWindow`` (``add_view``): it takes the run's events and
    forgets the last session's runs when a new one starts."""
    view = InsideView()
    window.add_view(title, view)
    window.events_received.connect(view.add_events)

    runs = weakref.ref(window.runs)  # the connection holds this function: never the window

    def started() -> None:
        view.clear()
        controller = runs()
        if controller is not None:
            view.set_plan(controller.plan)

    window.runs.started.connect(started)
    view.set_plan(window.runs.plan)
    return view
