"""Live training plots: learning rate, loss, accuracy and the decision boundary.

:class:`LivePlots` draws the engine's events (:mod:`optiscope.engine.events`) as they
arrive in batches from the worker bridge. It follows pyqtgraph's fast-plotting advice
(CONVENTIONS rule 6): every curve keeps growing numpy buffers (amortised doubling) and
existing ``PlotDataItem``\\ s get one ``setData`` per batch, with clip-to-view, 'peak'
downsampling (about two points per pixel column) and no antialiasing on the per-step
curves. The step axis is fixed to the planned number of updates, so a growing curve does
not re-range the view every batch, and the curves of runs that are not changing are
cached as pixmaps, so a sweep costs one redrawn run per batch, not all of them.

Layout: per-step plots on the left (learning rate above loss, x axes linked), per-epoch
plots on the right (accuracy above the decision boundary). In *overlay* mode every run
shares one set of axes; in *grid* mode loss, accuracy and boundary become small
multiples, one cell per run with shared axes, as the learning-rate studies show sweeps.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui.smoothing import DebiasedEMA, check_smoothing
from PySide6 import QtCore, QtGui, QtSvg, QtWidgets
from PySide6.QtCore import Qt, Signal

__all__ = ["LivePlots", "PLOT_NAMES", "RUN_PALETTE", "CLASS_PALETTE", "THEMES", "run_color"]

PLOT_NAMES = ("lr", "loss", "accuracy", "boundary")
Mode = Literal["overlay", "grid"]

# Mid-luminance colours: WCAG contrast >= 3 against both white and #1e1e1e, so the same
# run keeps its colour on a light or a dark projector background.
RUN_PALETTE = (
    "#2a7fd4", "#e8710a", "#1e9e4a", "#e0342b", "#9b5fd0",
    "#0f9e9e", "#d6338a", "#8a8f12", "#a0632a", "#6f7f94",
)  # fmt: skip
# Okabe-Ito, colour-blind safe, for classes (deliberately not the run colours).
CLASS_PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#555555")
CLASS_SYMBOLS = ("o", "s", "t", "d", "t1", "p", "h", "star")

THEMES = {
    "light": {"bg": "#ffffff", "fg": "#202020", "muted": "#6b6b6b", "fill": (255, 255, 255, 225)},
    "dark": {"bg": "#1e1e1e", "fg": "#e8e8e8", "muted": "#a0a0a0", "fill": (30, 30, 30, 225)},
}
TITLE_PT, CELL_TITLE_PT, LABEL_PT, TICK_PT, TEXT_PT = 15, 11, 12, 11, 11
GRID_COLUMNS = 4  # small multiples fill rows of four, so cells never move as runs arrive
MAX_POINTS_SHOWN = 2000  # scatter points on the boundary plot (subsampled beyond this)
LOSS_AXIS_CAP = 3.0  # linear loss axis: at most this times the largest initial loss
PIXMAP_CACHE_KB = 128 * 1024  # room for the cached curves of a sweep (QPixmapCache, see _curve)
GRID_BUILD_BUDGET_S = 0.012  # per frame, for building small-multiples cells (see _fill_grid)
GRID_BUILD_PAUSE_MS = 15  # then let the window paint and handle input before building more
PLOT_MIN_W, PLOT_MIN_H = 200, 160  # overlay plots: two columns fit in ~900 px
CONTROL_MIN_CHARS = 10  # a combo box in the controls row may shrink to about this many characters
CONTROL_MAX_W = 320  # ... and grows to fit its longest item, up to this width
MARKER_SIZES = {"t": 15, "star": 20, "x": 18}
AXIS_LABELS = {
    "lr": ("step (update)", "learning rate (log scale)"),
    "loss": ("step (update)", "loss (cross-entropy)"),
    "accuracy": ("epoch", "accuracy (fraction correct)"),
    "boundary": ("feature x₁", "feature x₂"),
}
# Overlay plot titles and legends-in-subtitle, longest first: the first that fits is shown
# (the full text is the title's tooltip), so nothing is cut at 1280x720 beside the side panels.
OVERLAY_TITLES = {"lr": "Learning rate", "loss": "Loss", "accuracy": "Accuracy"}
OVERLAY_SUBTITLES = {
    "lr": ("▼ plateau drop · ✕ diverged", "▼ plateau · ✕ diverged"),
    "loss": (
        "faint: raw · solid: smoothed · dashed: validation · ★ best epoch",
        "faint: raw · solid: smoothed · dashed: val. · ★ best",
        "faint: raw · solid: smooth · dashed: val.",
    ),
    "accuracy": ("solid: train · dashed: validation", "solid: train · dashed: val."),
}
TITLE_PAD = 20  # the plot's layout margins (2 + 10) and a little air
CELL_TITLE_PAD = 14
MIN_LABEL_CHARS = 6  # an elided run label keeps at least this many characters (see _fit_text)
CELL_LABELS = {"loss": ("step", "loss"), "accuracy": ("epoch", "accuracy"), "boundary": (None, None)}


def run_color(run_id: int) -> QtGui.QColor:
    """The colour of run ``run_id``: the palette first, then golden-angle hues."""
    if 0 <= run_id < len(RUN_PALETTE):
        return QtGui.QColor(RUN_PALETTE[run_id])
    hue = (run_id * 0.61803398875) % 1.0
    return QtGui.QColor.fromHslF(hue, 0.65, 0.45)


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.4g}"


def _nice_ceil(v: float, steps: Sequence[float] = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)) -> float:
    """The smallest 'round' number (one of ``steps`` x 10^k) >= ``v``."""
    if not v > 0:
        return 1.0
    decade = 10.0 ** math.floor(math.log10(v))
    return next(m * decade for m in steps if m * decade >= v * (1 - 1e-12))


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %" if math.isfinite(v) else "—"


Extent = tuple[float, float, float]  # (min, max, smallest positive) of finite values
NO_EXTENT: Extent = (math.inf, -math.inf, math.inf)


def _extent(a: np.ndarray) -> Extent:
    f = a[np.isfinite(a)]
    if not len(f):
        return NO_EXTENT
    pos = f[f > 0]
    return float(f.min()), float(f.max()), float(pos.min()) if len(pos) else math.inf


def _merge(a: Extent, b: Extent) -> Extent:
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2])


def _nearest(xs: np.ndarray, x: float, tol: float) -> int | None:
    """Index of the value in sorted ``xs`` nearest ``x``, if within ``tol``."""
    if not len(xs):
        return None
    i = int(np.searchsorted(xs, x))
    j = min((k for k in (i - 1, i) if 0 <= k < len(xs)), key=lambda k: abs(xs[k] - x))
    return j if abs(xs[j] - x) <= tol else None


class _Buffer:
    """A growing float64 array with amortised doubling; :meth:`view` is the filled part."""

    __slots__ = ("data", "n")

    def __init__(self, capacity: int = 256) -> None:
        self.data = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)), dtype=np.float64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = values
        self.n = need

    def view(self) -> np.ndarray:
        return self.data[: self.n]

    def __len__(self) -> int:
        return self.n


class _Run:
    """One run's data (buffers, markers) and the plot items that show it."""

    def __init__(self, run_id: int, beta: float) -> None:
        self.id = run_id
        self.label = f"run {run_id}"
        self.color = run_color(run_id)
        self.status = ""
        self.finished = False
        self.total_steps = 0
        self.epochs_planned = 0
        self.config: dict = {}
        self.steps, self.lr, self.loss, self.smooth = _Buffer(), _Buffer(), _Buffer(), _Buffer()
        self.ema = DebiasedEMA(beta)
        self.epoch, self.epoch_step = _Buffer(64), _Buffer(64)
        self.train_acc, self.val_acc, self.val_loss = _Buffer(64), _Buffer(64), _Buffer(64)
        self.drops: list[ev.LRReduced] = []
        self.early: ev.EarlyStopped | None = None
        self.diverged: ev.Diverged | None = None
        self.boundary: ev.Boundary | None = None
        self.loss_ext: Extent = NO_EXTENT  # smoothed + validation loss, for the grid's shared y
        self.acc_ext: Extent = NO_EXTENT
        self.lr_ext: Extent = NO_EXTENT
        self.loss_first = math.nan  # the first finite loss (about ln C at initialisation)
        # "lr": the curve in the (always shown) LR plot; "overlay"/"grid": loss and
        # accuracy items of that mode; grid items exist once the run has grid cells.
        self.items: dict[str, dict[str, Any]] = {"lr": {}, "overlay": {}, "grid": {}}
        self.cells: dict[str, pg.PlotItem] = {}

    # -- data
    def append_steps(self, rows: list[tuple[int, float, float]]) -> None:
        arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
        lr, loss = arr[:, 1], arr[:, 2]
        lr[~(np.isfinite(lr) & (lr > 0))] = np.nan  # log axis: only positive finite rates
        loss[~np.isfinite(loss)] = np.nan
        smooth = self.ema.update(loss)
        if math.isnan(self.loss_first):
            finite = loss[np.isfinite(loss)]
            if len(finite):
                self.loss_first = float(finite[0])
        self.steps.extend(arr[:, 0])
        self.lr.extend(lr)
        self.loss.extend(loss)
        self.smooth.extend(smooth)
        self.loss_ext = _merge(self.loss_ext, _extent(smooth))
        self.lr_ext = _merge(self.lr_ext, _extent(lr))

    def append_epochs(self, rows: list[ev.EpochEnd]) -> None:
        arr = np.array(
            [(e.epoch, e.step, e.train_acc, e.val_acc, e.val_loss) for e in rows], dtype=np.float64
        )
        arr[~np.isfinite(arr)] = np.nan
        self.epoch.extend(arr[:, 0])
        self.epoch_step.extend(arr[:, 1])
        self.train_acc.extend(arr[:, 2])
        self.val_acc.extend(arr[:, 3])
        self.val_loss.extend(arr[:, 4])
        self.loss_ext = _merge(self.loss_ext, _extent(arr[:, 4]))
        self.acc_ext = _merge(self.acc_ext, _extent(arr[:, 2:4].ravel()))

    def resmooth(self, beta: float) -> None:
        self.ema.reset(beta)
        self.smooth.view()[:] = self.ema.update(self.loss.view())
        self.loss_ext = _merge(_extent(self.smooth.view()), _extent(self.val_loss.view()))

    # -- look-ups
    def smooth_at(self, step: float) -> float:
        steps = self.steps.view()
        if not len(steps):
            return math.nan
        return float(self.smooth.view()[min(int(np.searchsorted(steps, step)), len(steps) - 1)])

    def epoch_index(self, epoch: int | None) -> int | None:
        if epoch is None:
            return None
        hits = np.flatnonzero(self.epoch.view() == epoch)
        return int(hits[-1]) if len(hits) else None

    def spots(self) -> dict[str, list[tuple[float, float, str]]]:
        """Marker positions (x, y in data units, symbol) for the "lr", "loss" and "accuracy" plots.

        ▼ plateau drops (LR curve at the new rate; smoothed loss), ★ best epoch of early
        stopping (validation loss; monitored accuracy), ✕ the last finite point of a
        diverged run.
        """
        out: dict[str, list[tuple[float, float, str]]] = {"lr": [], "loss": [], "accuracy": []}
        for d in self.drops:
            out["lr"].append((d.step, d.new_lr, "t"))
            out["loss"].append((d.step, self.smooth_at(d.step), "t"))
        best = self.epoch_index(self.early.best_epoch) if self.early is not None else None
        if best is not None:
            acc = self.train_acc if self.early.monitor == "train_acc" else self.val_acc
            out["loss"].append((self.epoch_step.view()[best], self.val_loss.view()[best], "star"))
            out["accuracy"].append((self.epoch.view()[best], acc.view()[best], "star"))
        if self.diverged is not None:
            for key, buf in (("lr", self.lr), ("loss", self.smooth)):
                ok = np.flatnonzero(np.isfinite(buf.view()))
                if len(ok):
                    out[key].append((self.steps.view()[ok[-1]], buf.view()[ok[-1]], "x"))
        return out

    @property
    def best_epoch(self) -> int | None:
        return self.early.best_epoch if self.early is not None else None

    @property
    def title(self) -> str:
        return f"{self.label} — {self.status.replace('_', ' ')}" if self.status else self.label


class _Hover(QtCore.QObject):
    """Throttled crosshair readout for the plot items shown in one GraphicsView."""

    def __init__(self, view: pg.GraphicsView, theme: dict) -> None:
        super().__init__(view)
        self._targets: dict[pg.PlotItem, tuple[Callable[[float, float, float], str | None], Any, Any]] = {}
        self._theme = theme
        self._proxy = pg.SignalProxy(view.scene().sigMouseMoved, rateLimit=30, slot=self._moved)
        view.viewport().installEventFilter(self)

    def add(self, plot: pg.PlotItem, lookup: Callable[[float, float, float], str | None]) -> None:
        """``lookup(x, y, tol)`` returns HTML for the readout at data point ``x, y``, or None."""
        text = pg.TextItem(anchor=(0, 0), border=pg.mkPen(self._theme["muted"]), fill=self._theme["fill"])
        text.setFont(_font(TEXT_PT))
        text.setZValue(1000)
        line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(self._theme["muted"], style=Qt.DotLine))
        line.setZValue(999)
        for item in (text, line):
            item.hide()
            plot.addItem(item, ignoreBounds=True)
        self._targets[plot] = (lookup, text, line)

    def remove(self, plot: pg.PlotItem) -> None:
        self._targets.pop(plot, None)

    def set_theme(self, theme: dict) -> None:
        self._theme = theme
        for _, text, line in self._targets.values():
            text.border = pg.mkPen(theme["muted"])
            text.fill = pg.mkBrush(theme["fill"])
            line.setPen(pg.mkPen(theme["muted"], style=Qt.DotLine))

    def hide_all(self) -> None:
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


class LivePlots(QtWidgets.QWidget):
    """Every live training plot of the current experiment.

    Learning rate per step (log y), loss per step (raw faint + debiased-EMA smoothed, plus
    per-epoch validation loss, dashed), accuracy per epoch (train solid, validation
    dashed), the decision boundary of 2D sets, and markers for plateau LR drops (▼), early
    stopping (★ at the best epoch, with a dashed line) and divergence (✕ at the last
    finite point, with a labelled line). Overlay mode and a small-multiples grid mode;
    hover readouts on every plot; PNG/SVG export.

    Signals
    -------
    smoothing_changed(float)
        The smoothing weight changed (slider or :meth:`set_smoothing`).
    mode_changed(str)
        The view mode changed ("overlay" or "grid"), from the combo box or :meth:`set_mode`.
    """

    smoothing_changed = Signal(float)
    mode_changed = Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        # cached curve pixmaps live in QPixmapCache; its 10 MB default holds only a few plots
        if QtGui.QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QtGui.QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self._runs: dict[int, _Run] = {}
        self._mode: Mode = "overlay"
        self._beta = 0.6
        self._log_loss = False
        self._theme_name = "light"
        self._theme = THEMES["light"]
        self._max_steps = 0
        self._max_epochs = 0
        self._boundary_run: int | None = None  # chosen in the combo box; None follows the latest
        self._shown_boundary: int | None = None  # run whose boundary the overlay plot shows
        self._overlay_points_tag: tuple | None = None
        self._points_cache: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        self._points_todo: dict[str, dict] = {}  # dataset configs whose points are still to build
        self._points_scheduled = False
        self._explicit_points: dict[int | None, tuple[np.ndarray, np.ndarray, int]] = {}
        self._warmups: dict[int, pg.LinearRegionItem] = {}
        self._ranges: dict[str, tuple[float, float]] = {}  # axis ranges last set, see _update_ranges
        self._user_zoomed: set[str] = set()
        self._grid_order: dict[str, list[int]] = {"loss": [], "accuracy": [], "boundary": []}
        self._pending_cells: list[int] = []  # runs waiting for grid cells (see _fill_grid)
        self._fill_scheduled = False
        self._build_controls()
        self._build_plots()
        self.set_theme("auto")

    # ------------------------------------------------------------------ construction
    def _build_controls(self) -> None:
        self._mode_box = QtWidgets.QComboBox()
        self._mode_box.addItem("Overlay: all runs together", "overlay")
        self._mode_box.addItem("Grid: one cell per run", "grid")
        self._mode_box.setToolTip(
            "Overlay compares runs directly; the grid shows each run of a sweep on its own"
        )
        self._mode_box.currentIndexChanged.connect(lambda i: self.set_mode(self._mode_box.itemData(i)))
        self._slider = QtWidgets.QSlider(Qt.Horizontal)
        self._slider.setRange(0, 999)
        self._slider.setValue(600)
        self._slider.setMinimumWidth(80)
        self._slider.setToolTip(
            "Loss smoothing: debiased exponential moving average (0 = raw, 0.999 = very smooth)"
        )
        self._slider.valueChanged.connect(lambda v: self.set_smoothing(v / 1000.0))
        self._smooth_label = QtWidgets.QLabel("0.6")
        self._smooth_label.setMinimumWidth(QtGui.QFontMetrics(self.font()).horizontalAdvance("0.000 "))
        self._log_box = QtWidgets.QCheckBox("Log loss axis")
        self._log_box.setToolTip("Show the loss on a logarithmic axis (useful when a run diverges)")
        self._log_box.toggled.connect(self.set_log_loss)
        self._boundary_box = QtWidgets.QComboBox()
        self._boundary_box.addItem("latest run", None)
        self._boundary_box.setToolTip("Which run's decision boundary the overlay view shows")
        self._boundary_box.currentIndexChanged.connect(self._boundary_choice_changed)
        self._boundary_label = QtWidgets.QLabel("Boundary of:")
        # the combo boxes shrink (eliding their text) before the row makes the window wider:
        # the plots must fit beside the side panels at 1280x720 (CONTROL_MIN_CHARS)
        _shrinkable(self._mode_box)
        _shrinkable(self._boundary_box)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 2)
        # spare width goes mostly to the view box, whose items are the longest
        for widget, space, stretch in (
            (QtWidgets.QLabel("View:"), 0, 0), (self._mode_box, 12, 4), (QtWidgets.QLabel("Smoothing:"), 0, 0),
            (self._slider, 0, 0), (self._smooth_label, 12, 0), (self._log_box, 12, 0),
            (self._boundary_label, 0, 0), (self._boundary_box, 0, 1),
        ):  # fmt: skip
            row.addWidget(widget, stretch)
            if space:
                row.addSpacing(space)
        row.addStretch(1)
        self._controls = QtWidgets.QWidget()
        self._controls.setLayout(row)
        self._legend = QtWidgets.QLabel()
        self._legend.setWordWrap(True)
        self._legend.setFont(_font(TEXT_PT + 1))
        self._legend.setContentsMargins(6, 0, 6, 0)
        self._legend.setToolTip("One colour per run in every plot")
        self._legend.setMinimumHeight(QtGui.QFontMetrics(self._legend.font()).lineSpacing() + 4)

    def _build_plots(self) -> None:
        self._views: list[pg.GraphicsView] = []
        self._hovers: dict[int, _Hover] = {}
        self._lr_w, self._loss_w, self._acc_w, self._bnd_w = (self._plot_widget() for _ in range(4))
        self._lr, self._loss = self._lr_w.getPlotItem(), self._loss_w.getPlotItem()
        self._acc, self._bnd = self._acc_w.getPlotItem(), self._bnd_w.getPlotItem()
        self._lr.setLogMode(x=False, y=True)
        self._lr.setYRange(-4, -1, padding=0.03)  # empty: three decades, not 1..10 in minor ticks
        self._loss.setXLink(self._lr)
        for name, (_, view) in self._overlay_plots().items():
            view.on_resize = lambda n=name: self._fit_title(n)
        # markers of every run share one scatter per plot (a handful of points)
        self._marks = {
            "lr": pg.ScatterPlotItem(),
            "loss": pg.ScatterPlotItem(),
            "accuracy": pg.ScatterPlotItem(),
        }
        for name, plot in (("lr", self._lr), ("loss", self._loss), ("accuracy", self._acc)):
            self._marks[name].setZValue(50)
            plot.addItem(self._marks[name])
        self._bnd.setAspectLocked(True)
        self._bnd_image = pg.ImageItem(axisOrder="col-major")
        self._bnd_points = pg.ScatterPlotItem(size=7, pxMode=True)
        self._bnd.addItem(self._bnd_image)
        self._bnd.addItem(self._bnd_points)
        self._bnd_hint = pg.TextItem(
            "The decision boundary appears here\nwhile a 2D dataset trains", anchor=(0.5, 0.5)
        )
        self._bnd_hint.setFont(_font(TEXT_PT + 1))
        self._bnd.addItem(self._bnd_hint, ignoreBounds=True)
        self._bnd.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)
        for plot, key in (
            (self._lr, "overlay:lr"),
            (self._loss, "overlay:loss"),
            (self._acc, "overlay:accuracy"),
        ):
            self._watch_zoom(plot, key)
        self._hover(self._lr_w).add(self._lr, lambda x, y, tol: self._readout_lr(x, tol))
        self._hover(self._loss_w).add(self._loss, lambda x, y, tol: self._readout_loss(x, tol, None))
        self._hover(self._acc_w).add(self._acc, lambda x, y, tol: self._readout_acc(x, None))
        self._hover(self._bnd_w).add(self._bnd, lambda x, y, tol: self._readout_boundary(x, y, None))

        self._grid_w: dict[str, pg.GraphicsLayoutWidget] = {}
        self._stacks: dict[str, QtWidgets.QStackedWidget] = {}
        for name, overlay in (("loss", self._loss_w), ("accuracy", self._acc_w), ("boundary", self._bnd_w)):
            grid = _GridView(lambda n=name: self._title_cells(n))
            grid.ci.setSpacing(4)
            self._views.append(grid)
            self._hover(grid)
            stack = QtWidgets.QStackedWidget()
            stack.addWidget(overlay)
            stack.addWidget(grid)
            self._grid_w[name], self._stacks[name] = grid, stack

        layout = QtWidgets.QGridLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self._controls, 0, 0, 1, 2)
        layout.addWidget(self._legend, 1, 0, 1, 2)
        layout.addWidget(self._lr_w, 2, 0)
        layout.addWidget(self._stacks["accuracy"], 2, 1)
        layout.addWidget(self._stacks["loss"], 3, 0)
        layout.addWidget(self._stacks["boundary"], 3, 1)
        for i in (0, 1):
            layout.setRowStretch(i + 2, 1)
            layout.setColumnStretch(i, 1)
        self.setLayout(layout)

    def _plot_widget(self) -> pg.PlotWidget:
        w = _FitView()
        w.setMinimumSize(PLOT_MIN_W, PLOT_MIN_H)
        self._views.append(w)
        return w

    def _hover(self, view: pg.GraphicsView) -> _Hover:
        h = self._hovers.get(id(view))
        if h is None:
            h = self._hovers[id(view)] = _Hover(view, self._theme)
        return h

    # ------------------------------------------------------------------ styling
    def set_theme(self, theme: Literal["light", "dark", "auto"] = "auto") -> None:
        """Light or dark plot backgrounds; "auto" follows the application palette."""
        if theme == "auto":
            app = QtWidgets.QApplication.instance()
            window = app.palette().color(QtGui.QPalette.ColorRole.Window) if app is not None else None
            theme = "dark" if window is not None and window.lightness() < 128 else "light"
        if theme not in THEMES:
            raise ValueError(f"theme must be 'light', 'dark' or 'auto', got {theme!r}")
        self._theme_name, self._theme = theme, THEMES[theme]
        for view in self._views:
            view.setBackground(self._theme["bg"])
        for hover in self._hovers.values():
            hover.set_theme(self._theme)
        self._bnd_hint.setColor(self._theme["muted"])
        for region in self._warmups.values():
            for item in region.lines[1].childItems():
                if isinstance(item, pg.InfLineLabel):
                    item.setColor(self._theme["muted"])
        self._update_legend()
        for name, (plot, _) in self._overlay_plots().items():
            self._style(plot, *AXIS_LABELS[name])
        self._fit_titles()
        for name in self._grid_order:
            for rid in self._grid_order[name]:
                self._style_cell(name, self._runs[rid])
        for run in self._runs.values():
            for mode in ("overlay", "grid"):
                if "raw" in run.items[mode]:
                    run.items[mode]["raw"].setPen(self._raw_pen(run.color))
        self._overlay_points_tag = None
        for run in self._runs.values():
            run.items["grid"].pop("points_tag", None)
            if run.boundary is not None:
                self._draw_boundary(run)
        self._draw_all_marks(every_mode=True)  # the hidden mode's markers too

    @property
    def theme(self) -> str:
        return self._theme_name

    def _style(self, plot: pg.PlotItem, xlabel: str | None, ylabel: str | None, *, cell: bool = False) -> None:
        """Margins, axis pens, tick fonts and axis labels (titles: :meth:`_fit_title`, :meth:`_title_cell`)."""
        fg, muted = self._theme["fg"], self._theme["muted"]
        plot.layout.setContentsMargins(2, 2 if cell else 6, 6 if cell else 10, 2)
        small = 1 if cell else 0
        tick_font = _font(TICK_PT - small)
        for side in ("top", "right", "bottom", "left"):
            _plain_numbers(plot.getAxis(side))
        for side, label in (("bottom", xlabel), ("left", ylabel)):
            axis = plot.getAxis(side)
            axis.setPen(pg.mkPen(muted))
            axis.setTextPen(pg.mkPen(fg))
            axis.setTickFont(tick_font)
            if label is None:
                axis.showLabel(False)
            else:
                axis.setLabel(label, **{"font-size": f"{LABEL_PT - small}pt", "color": fg})

    def _style_cell(self, name: str, run: _Run) -> None:
        """Title a grid cell; axis labels only on the left column and the bottom row."""
        cell = run.cells.get(name)
        if cell is None:
            return
        order = self._grid_order[name]
        k, n = order.index(run.id), len(order)
        xlabel, ylabel = CELL_LABELS[name]
        bottom = k // GRID_COLUMNS == (n - 1) // GRID_COLUMNS
        self._style(
            cell, xlabel if bottom else None, ylabel if k % GRID_COLUMNS == 0 else None, cell=True
        )
        self._title_cell(name, run)

    def _legend_html(self, text_color: str | None = None) -> str:
        """One entry per run; text in ``text_color`` (None: the widget's own palette)."""
        entries = [
            f'<span style="color:{r.color.name()}; font-weight:bold">━━</span>&nbsp;{_escape(r.title)}'
            for r in sorted(self._runs.values(), key=lambda r: r.id)
        ]
        body = " &nbsp;&nbsp; ".join(entries)
        return f'<span style="color:{text_color}">{body}</span>' if text_color else body

    def _update_legend(self) -> None:
        """The legend strip above the plots: one entry per run, in its colour."""
        # always shown (one line reserved): a strip appearing would re-layout every plot
        self._legend.setText(
            self._legend_html() if self._runs else "Each run keeps one colour in every plot."
        )

    def _title_cell(self, name: str, run: _Run) -> None:
        """Title a grid cell in the run colour, elided to the cell's width."""
        cell = run.cells.get(name)
        if cell is None:
            return
        grid = self._grid_w[name]
        columns = max(1, min(len(self._grid_order[name]), GRID_COLUMNS))
        left, _, right, _ = grid.ci.layout.getContentsMargins()
        spacing = grid.ci.layout.horizontalSpacing()
        cell_width = (grid.width() - left - right - spacing * (columns - 1)) / columns
        axis = cell.getAxis("left")
        axis_width = axis.width() if axis.isVisible() and axis.width() > 0 else 40
        titles, parts = self._cell_titles(name, run)
        text = _fit_text(_font(CELL_TITLE_PT, bold=True), titles, cell_width - axis_width - CELL_TITLE_PAD, parts)
        _set_title(cell, _escape(text), CELL_TITLE_PT, run.color.name(), shrink=True)
        cell.titleLabel.setToolTip(titles[0])

    def _title_cells(self, name: str) -> None:
        for rid in self._grid_order[name]:
            self._title_cell(name, self._runs[rid])

    @staticmethod
    def _cell_titles(name: str, run: _Run) -> tuple[list[str], tuple[str, str, str]]:
        """A cell's title candidates, longest first (the first that fits is shown), and the
        (prefix, label, suffix) whose run label is elided when none fits."""
        if name == "boundary" and run.boundary is not None:
            epoch = run.boundary.epoch
            return [f"{run.label} · epoch {epoch}", f"{run.label} · ep {epoch}"], ("", run.label, f" · ep {epoch}")
        return [run.title, run.label], ("", run.label, "")  # the status is in the legend and tooltip

    def _raw_pen(self, color: QtGui.QColor) -> QtGui.QPen:
        """Faint raw-loss pen: the run colour blended into the background, opaque (fast to draw)."""
        bg = QtGui.QColor(self._theme["bg"])
        a = 0.3
        faint = QtGui.QColor(
            round(bg.red() + a * (color.red() - bg.red())),
            round(bg.green() + a * (color.green() - bg.green())),
            round(bg.blue() + a * (color.blue() - bg.blue())),
        )
        return pg.mkPen(faint, width=1)

    def _overlay_plots(self) -> dict[str, tuple[pg.PlotItem, pg.PlotWidget]]:
        return {
            "lr": (self._lr, self._lr_w), "loss": (self._loss, self._loss_w),
            "accuracy": (self._acc, self._acc_w), "boundary": (self._bnd, self._bnd_w),
        }  # fmt: skip

    def _overlay_title(self, name: str) -> tuple[list[str], tuple[str, str, str] | None, Sequence[str]]:
        """Title candidates (longest first), the (prefix, label, suffix) to elide the run label
        in when none fits, and the subtitle candidates of overlay plot ``name``."""
        if name != "boundary":
            return [OVERLAY_TITLES[name]], None, OVERLAY_SUBTITLES[name]
        run = self._runs.get(self._shown_boundary) if self._shown_boundary is not None else None
        if run is None or run.boundary is None:
            return ["Decision boundary"], None, ()
        label, epoch = run.label, run.boundary.epoch
        titles = [f"Decision boundary — {label}, epoch {epoch}", f"Boundary · {label} · ep {epoch}"]
        return titles, ("Boundary · ", label, f" · ep {epoch}"), ()

    def _fit_titles(self) -> None:
        for name in self._overlay_plots():
            self._fit_title(name)

    def _fit_title(self, name: str) -> None:
        """Title overlay plot ``name`` with the longest wording that fits its width (run
        labels elided with "…"); the full title is the title's tooltip."""
        plot, view = self._overlay_plots()[name]
        titles, parts, subtitles = self._overlay_title(name)
        axis = plot.getAxis("left")
        width = view.width() - (axis.width() if axis.isVisible() else 0) - TITLE_PAD
        html = _escape(_fit_text(_font(TITLE_PT, bold=True), titles, width, parts))
        if subtitles:
            subtitle = _escape(_fit_text(_font(TICK_PT), subtitles, width))
            html += f'<br><span style="font-size:{TICK_PT}pt; font-weight:normal; color:{self._theme["muted"]}">{subtitle}</span>'
        if getattr(plot, "_fitted_title", None) == (html, self._theme["fg"]):
            return  # resized, same wording: nothing to re-lay out
        plot._fitted_title = (html, self._theme["fg"])
        _set_title(plot, html, TITLE_PT, self._theme["fg"], shrink=True)
        plot.titleLabel.setToolTip("\n".join([titles[0], *subtitles[:1]]))

    # ------------------------------------------------------------------ public API
    def clear(self) -> None:
        """Forget all runs (a new experiment)."""
        for run in list(self._runs.values()):
            self._remove_run_items(run)
        self._runs.clear()
        for region in self._warmups.values():
            self._lr.removeItem(region)
        self._warmups.clear()
        for grid in self._grid_w.values():
            grid.ci.clear()
        self._grid_order = {"loss": [], "accuracy": [], "boundary": []}
        self._pending_cells.clear()
        self._grids_updating(True)
        self._max_steps = self._max_epochs = 0
        self._ranges.clear()
        self._user_zoomed.clear()
        self._boundary_run = self._shown_boundary = None
        self._overlay_points_tag = None
        self._explicit_points = {k: v for k, v in self._explicit_points.items() if k is None}
        self._bnd_image.clear()
        self._bnd_points.clear()
        self._bnd_hint.show()
        self._fit_title("boundary")
        self._boundary_box.blockSignals(True)
        while self._boundary_box.count() > 1:
            self._boundary_box.removeItem(1)
        self._boundary_box.setCurrentIndex(0)
        self._boundary_box.blockSignals(False)
        self._draw_all_marks()
        self._update_legend()
        for plot in (self._lr, self._loss, self._acc):
            plot.enableAutoRange()

    def add_events(self, events: Sequence[ev.Event]) -> None:
        """Draw a batch of events (called on the GUI thread, up to ~30 times a second).

        Appends to each run's buffers and calls ``setData`` once per changed item. Event
        types that are not drawn (e.g. :class:`~optiscope.engine.events.Weights`) are
        ignored; NaN/Inf values are kept out of the curves, which stop at the last finite
        point, and the divergence is marked.
        """
        steps: dict[int, list[tuple[int, float, float]]] = {}
        epochs: dict[int, list[ev.EpochEnd]] = {}
        dirty: dict[int, set[str]] = {}
        last_boundary: int | None = None
        for e in events:
            kind = type(e)
            if kind is ev.Step:
                rows = steps.get(e.run)
                if rows is None:
                    rows = steps[e.run] = []
                rows.append((e.step, e.lr, e.loss))
                continue
            if kind is ev.RunStarted:
                steps.pop(e.run, None)  # left over from an earlier run with this id
                epochs.pop(e.run, None)
                self._start_run(e)
                dirty.setdefault(e.run, set()).add("all")
                continue
            if kind not in _DRAWN:
                continue
            run = self._get_run(e.run)
            flags = dirty.setdefault(e.run, set())
            if kind is ev.EpochEnd:
                epochs.setdefault(e.run, []).append(e)
                flags.add("epochs")
            elif kind is ev.LRReduced:
                run.drops.append(e)
                flags.add("markers")
            elif kind is ev.EarlyStopped:
                run.early = e
                flags.add("markers")
            elif kind is ev.Diverged:
                run.diverged = e
                flags.add("markers")
            elif kind is ev.Boundary:
                run.boundary = e
                flags.add("boundary")
                last_boundary = e.run
            elif kind is ev.Finished:
                run.status = e.reason if e.reason != "completed" else ""
                run.finished = True
                flags.add("status")
            elif kind is ev.Failed:
                run.status = "failed"
                flags.add("status")
        for rid, rows in steps.items():
            self._get_run(rid).append_steps(rows)
            dirty.setdefault(rid, set()).add("steps")
        for rid, rows in epochs.items():
            self._runs[rid].append_epochs(rows)
        marks = False
        for rid, flags in dirty.items():
            marks |= self._sync(self._runs[rid], flags)
        if last_boundary is not None and self._mode == "overlay":
            # one heatmap on screen: draw the chosen run's, or the latest to arrive
            chosen = self._boundary_run
            run = self._runs.get(last_boundary if chosen is None else chosen)
            if run is not None and run.boundary is not None and "boundary" in dirty.get(run.id, ()):
                self._show_overlay_boundary(run)
        if dirty and self._update_ranges():
            marks = True  # markers above the loss axis wait at its top edge
        if marks:
            self._draw_all_marks()
        if self._pending_cells:
            self._fill_grid()

    def set_mode(self, mode: Mode) -> None:
        """``"overlay"``: all runs on the same axes; ``"grid"``: one cell per run."""
        if mode not in ("overlay", "grid"):
            raise ValueError(f"mode must be 'overlay' or 'grid', got {mode!r}")
        if mode == self._mode:
            return
        self._mode = mode
        for stack in self._stacks.values():
            stack.setCurrentIndex(0 if mode == "overlay" else 1)
        for run in self._runs.values():
            self._ensure_cells(run)
            self._sync(run, {"all"})
        self._ranges.clear()
        self._update_ranges()
        self._draw_all_marks()
        self._fill_grid()
        self._boundary_box.setEnabled(mode == "overlay")
        self._boundary_label.setEnabled(mode == "overlay")
        self._mode_box.blockSignals(True)
        self._mode_box.setCurrentIndex(0 if mode == "overlay" else 1)
        self._mode_box.blockSignals(False)
        self.mode_changed.emit(mode)

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def building(self) -> bool:
        """True while grid cells are still being built (they fill in over a few frames)."""
        return bool(self._pending_cells)

    def set_smoothing(self, value: float) -> None:
        """Smoothing weight of the loss curves' debiased EMA, 0 (raw) to 0.999 (default 0.6)."""
        beta = check_smoothing(value)
        if beta == self._beta:
            return
        self._beta = beta
        for run in self._runs.values():
            run.resmooth(beta)
            self._sync(run, {"smooth"})
        self._update_ranges()
        self._draw_all_marks()
        self._smooth_label.setText(f"{beta:.3g}" if beta else "off")
        self._slider.blockSignals(True)
        self._slider.setValue(round(beta * 1000))
        self._slider.blockSignals(False)
        self.smoothing_changed.emit(beta)

    @property
    def smoothing(self) -> float:
        return self._beta

    def set_log_loss(self, on: bool) -> None:
        """Show the loss on a logarithmic axis."""
        on = bool(on)
        if on == self._log_loss:
            return
        self._log_loss = on
        self._loss.setLogMode(x=False, y=on)
        for run in self._runs.values():
            cell = run.cells.get("loss")
            if cell is not None:
                cell.setLogMode(x=False, y=on)
        self._ranges.pop("y:loss", None)
        self._update_ranges()
        self._draw_all_marks()
        self._log_box.blockSignals(True)
        self._log_box.setChecked(on)
        self._log_box.blockSignals(False)

    def color_for(self, run_id: int) -> QtGui.QColor:
        """The colour of ``run_id`` in every plot and legend (a copy)."""
        return QtGui.QColor(run_color(run_id))

    def plot_items(self) -> dict[str, pg.PlotItem | QtWidgets.QWidget]:
        """Plot name -> the widget currently showing it (what the exports render)."""
        if self._mode == "grid":
            return {"lr": self._lr_w, **{name: self._grid_w[name] for name in PLOT_NAMES[1:]}}
        return {"lr": self._lr_w, "loss": self._loss_w, "accuracy": self._acc_w, "boundary": self._bnd_w}

    def point_counts(self) -> dict[str, dict[int, int]]:
        """Plot name -> run id -> points drawn in the current mode.

        Counted from the data handed to the plot items: finite LR points ("lr"), finite
        raw-loss points ("loss"), finite train-accuracy points, one per epoch
        ("accuracy"), and heatmap cells (grid columns x rows) of the decision boundary
        drawn for the run ("boundary"; in overlay mode only the run shown has them).
        """
        counts: dict[str, dict[int, int]] = {name: {} for name in PLOT_NAMES}
        for rid, run in self._runs.items():
            items = run.items[self._mode]
            counts["lr"][rid] = _finite_count(run.items["lr"].get("lr"))
            counts["loss"][rid] = _finite_count(items.get("raw"))
            counts["accuracy"][rid] = _finite_count(items.get("acc_train"))
            if self._mode == "grid":
                image = items.get("bnd_image")
            else:
                image = self._bnd_image if rid == self._shown_boundary else None
            shape = None if image is None or image.image is None else image.image.shape
            counts["boundary"][rid] = 0 if shape is None else int(shape[0] * shape[1])
        return counts

    def series(self, run_id: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The (x, y) data each curve of ``run_id`` draws in the current mode (copies)."""
        run = self._runs[run_id]
        out = {}
        for key, item in {**run.items["lr"], **run.items[self._mode]}.items():
            if isinstance(item, pg.PlotDataItem):
                x, y = item.getOriginalDataset()
                if x is not None:
                    out[key] = (np.array(x), np.array(y))
        return out

    def markers(self, run_id: int) -> dict[str, list[tuple[float, float, str]]]:
        """The run's markers per plot: (x, y in data units, symbol); "t" ▼, "star" ★, "x" ✕."""
        return self._runs[run_id].spots()

    def set_points(
        self, x: np.ndarray, y: np.ndarray, n_classes: int | None = None, run: int | None = None
    ) -> None:
        """Training points to draw over the decision boundary.

        Without them, the plots rebuild the points of a bundled or generated 2D dataset
        from the run's config (``RunStarted.config["dataset"]``); CSV sets need this call.

        Parameters
        ----------
        x : array (N, 2)
            Point coordinates.
        y : array (N,)
            Integer class of each point.
        n_classes : int, optional
            Number of classes (default: ``max(y) + 1``).
        run : int, optional
            Only for this run id; None (default) for every run without its own points.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"set_points: x must have shape (N, 2), got {x.shape}")
        if y.shape != (len(x),):
            raise ValueError(f"set_points: y must have shape ({len(x)},) to match x, got {y.shape}")
        if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0):
            raise ValueError("set_points: y must hold non-negative integer class indices")
        n = int(n_classes) if n_classes is not None else (int(y.max()) + 1 if len(y) else 0)
        self._explicit_points[run] = (x, y.astype(np.int64), n)
        self._overlay_points_tag = None
        for r in self._runs.values():
            r.items["grid"].pop("points_tag", None)
            if r.boundary is not None:
                self._draw_boundary(r)

    def export_png(self, name: str, path: str | Path, scale: float = 2.0) -> None:
        """Save plot ``name`` as a PNG at ``scale`` times its on-screen size (written atomically).

        Overlay plots get the run legend underneath. Raises ValueError for an unknown
        name, FileNotFoundError for a missing folder, OSError if the file cannot be written.
        """
        widget, path = self._export_target(name, path)
        legend = self._export_legend(name, widget.width())
        size = self._export_size(widget, legend)
        image = QtGui.QImage(
            max(1, round(size.width() * scale)), max(1, round(size.height() * scale)),
            QtGui.QImage.Format.Format_ARGB32,
        )  # fmt: skip
        image.setDevicePixelRatio(scale)  # render() then draws at ``scale`` x resolution
        image.fill(QtGui.QColor(self._theme["bg"]))
        painter = QtGui.QPainter(image)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
        self._paint_export(painter, widget, legend)
        painter.end()
        _atomic(path, lambda tmp: image.save(str(tmp), "PNG"), "PNG")

    def export_svg(self, name: str, path: str | Path) -> None:
        """Save plot ``name`` as an SVG via QSvgGenerator + ``render()`` (written atomically).

        Curves and markers are vector paths; overlay plots get the run legend underneath.
        """
        widget, path = self._export_target(name, path)
        legend = self._export_legend(name, widget.width())
        size = self._export_size(widget, legend)

        def write(tmp: Path) -> bool:
            gen = QtSvg.QSvgGenerator()
            gen.setFileName(str(tmp))
            gen.setSize(size)
            gen.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), size))
            gen.setTitle(f"Optiscope — {name}")
            gen.setDescription("Exported from Optiscope's live training plots")
            painter = QtGui.QPainter()
            if not painter.begin(gen):
                return False
            painter.fillRect(QtCore.QRect(QtCore.QPoint(0, 0), size), QtGui.QColor(self._theme["bg"]))
            self._paint_export(painter, widget, legend)
            return painter.end()

        _atomic(path, write, "SVG")

    def _export_legend(self, name: str, width: int) -> QtGui.QTextDocument | None:
        """The run legend drawn under exported plots that overlay several runs."""
        if not self._runs or name == "boundary" or (name != "lr" and self._mode == "grid"):
            return None
        doc = QtGui.QTextDocument()
        doc.setDefaultFont(_font(TEXT_PT))
        doc.setHtml(self._legend_html(self._theme["fg"]))  # drawn on the plot background
        doc.setTextWidth(max(width - 16, 100))
        return doc

    @staticmethod
    def _export_size(widget: QtWidgets.QWidget, legend: QtGui.QTextDocument | None) -> QtCore.QSize:
        extra = math.ceil(legend.size().height()) + 8 if legend is not None else 0
        return QtCore.QSize(widget.width(), widget.height() + extra)

    def _paint_export(
        self, painter: QtGui.QPainter, widget: QtWidgets.QWidget, legend: QtGui.QTextDocument | None
    ) -> None:
        with self._export_mode(widget):
            # QWidget.render, not QGraphicsView.render (which maps the scene, not the widget)
            QtWidgets.QWidget.render(widget, painter, QtCore.QPoint(0, 0))
        if legend is not None:
            painter.save()
            painter.translate(8, widget.height() + 4)
            legend.drawContents(painter)
            painter.restore()

    @contextlib.contextmanager
    def _export_mode(self, widget: QtWidgets.QWidget) -> Iterator[None]:
        """Paint for export: antialiased vector curves and symbols (no 1x pixmap caches)."""
        scene_items = [i for i in widget.scene().items() if hasattr(i, "setExportMode")]
        for item in scene_items:
            item.setExportMode(True, {"antialias": True})
        cached = []
        for run in self._runs.values():
            for items in run.items.values():
                for item in items.values():
                    curve = getattr(item, "curve", None)
                    if curve is not None and curve.cacheMode() != QtWidgets.QGraphicsItem.CacheMode.NoCache:
                        cached.append((curve, curve.cacheMode()))
                        curve.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.NoCache)
        try:
            yield
        finally:
            for curve, mode in cached:
                curve.setCacheMode(mode)
            for item in scene_items:
                item.setExportMode(False)

    # ------------------------------------------------------------------ runs
    def _get_run(self, run_id: int) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Run(run_id, self._beta)
            self._create_items(run)
        return run

    def _start_run(self, e: ev.RunStarted) -> None:
        if e.run in self._runs:  # an id reused without clear(): start that run afresh
            self._remove_run_items(self._runs.pop(e.run))
        run = self._get_run(e.run)
        run.label = e.label or run.label
        run.total_steps, run.epochs_planned = e.total_steps, e.epochs
        run.config = e.config or {}
        self._mark_warmup(run)
        if 0 < run.epochs_planned <= 40:  # few epochs: a dot on every per-epoch value
            for mode in ("overlay", "grid"):
                for key in ("val_loss", "acc_train", "acc_val"):
                    if key in run.items[mode]:
                        _dot(run.items[mode][key], run.color)
        if run.total_steps > self._max_steps or run.epochs_planned > self._max_epochs:
            self._max_steps = max(self._max_steps, run.total_steps)
            self._max_epochs = max(self._max_epochs, run.epochs_planned)

    def _remove_run_items(self, run: _Run) -> None:
        for item in run.items["lr"].values():
            self._lr.removeItem(item)
        for key, item in run.items["overlay"].items():
            (self._acc if key.startswith("acc") else self._loss).removeItem(item)
        if run.id in self._pending_cells:
            self._pending_cells.remove(run.id)
        for name, cell in run.cells.items():
            self._hover(self._grid_w[name]).remove(cell)
            self._grid_w[name].ci.removeItem(cell)
            self._grid_order[name].remove(run.id)
        i = self._boundary_box.findData(run.id)
        if i > 0:
            self._boundary_box.removeItem(i)
        if self._shown_boundary == run.id:
            self._shown_boundary = None
            self._bnd_image.clear()
            self._bnd_points.clear()

    def _mark_warmup(self, run: _Run) -> None:
        """Shade the warm-up phase (warm-up steps, or one-cycle's rising part) on the LR plot."""
        sched = run.config.get("schedule") or {}
        end = int(sched.get("warmup_steps") or 0)
        label = "warm-up"
        if sched.get("kind") == "one_cycle":
            end = max(end, int(float(sched.get("pct_start", 0.0)) * run.total_steps))
            label = "one-cycle warm-up"
        if end <= 0 or end in self._warmups:
            return
        region = pg.LinearRegionItem(
            values=(0, end), movable=False, brush=pg.mkBrush(128, 128, 128, 40), pen=pg.mkPen(None)
        )
        region.setZValue(-10)
        position = 0.95 - 0.09 * (len(self._warmups) % 4)  # stagger labels of nearby regions
        pg.InfLineLabel(region.lines[1], text=label, position=position, anchors=[(1, 0), (1, 0)],
                        color=self._theme["muted"])  # fmt: skip
        self._lr.addItem(region, ignoreBounds=True)
        self._warmups[end] = region

    def _create_items(self, run: _Run) -> None:
        """The run's (empty) curves in the LR plot and the overlay plots; grid cells if shown."""
        lr = _curve(pg.mkPen(run.color, width=2), antialias=False, method="subsample")
        _add_curve(self._lr, lr)
        run.items["lr"] = {"lr": lr}
        loss, acc = self._curve_items(self._loss, self._acc, run.color)
        run.items["overlay"] = {**loss, **acc}
        self._update_legend()
        if self._mode == "grid":
            self._ensure_cells(run)

    def _curve_items(
        self, loss_plot: pg.PlotItem, acc_plot: pg.PlotItem, color: QtGui.QColor
    ) -> tuple[dict[str, pg.PlotDataItem], dict[str, pg.PlotDataItem]]:
        loss = {
            "raw": _curve(self._raw_pen(color), antialias=False),
            "smooth": _curve(pg.mkPen(color, width=2), antialias=False, method="mean"),
            "val_loss": _curve(pg.mkPen(color, width=2, style=Qt.DashLine), antialias=False, clip=False),
        }
        acc = {
            "acc_train": _curve(pg.mkPen(color, width=2.5), antialias=False, clip=False),
            "acc_val": _curve(pg.mkPen(color, width=2.5, style=Qt.DashLine), antialias=False, clip=False),
        }
        loss["raw"].setZValue(-1)  # every run's raw curve under every smoothed one
        for key, item in loss.items():
            _add_curve(loss_plot, item, ignore_bounds=key == "raw")  # raw spikes do not stretch the axis
        for item in acc.values():
            _add_curve(acc_plot, item)
        return loss, acc

    def _ensure_cells(self, run: _Run) -> None:
        """Queue the run for grid cells it lacks; :meth:`_fill_grid` builds them."""
        if self._mode != "grid" or run.id in self._pending_cells:
            return
        if "loss" not in run.cells or (run.boundary is not None and "boundary" not in run.cells):
            bisect.insort(self._pending_cells, run.id)  # cells in run order

    def _fill_grid(self) -> None:
        """Build queued grid cells for about ``GRID_BUILD_BUDGET_S`` (one run's at least), and
        the rest after the next paint: a sweep's cells fill in over a few frames instead of
        freezing the window while a dozen plots are built at once."""
        if self._mode != "grid":
            self._pending_cells.clear()
            self._grids_updating(True)
            return
        # no repaints of half-built grids: each new cell re-lays out every cell, and a paint
        # in between would redraw all their axes once per step instead of once at the end
        self._grids_updating(False)
        start, built = time.perf_counter(), False
        while self._pending_cells and (not built or time.perf_counter() - start < GRID_BUILD_BUDGET_S):
            run = self._runs.get(self._pending_cells.pop(0))
            if run is None:
                continue
            self._build_cells(run)
            self._sync(run, {"all"})
            built = True
        if built:
            self._update_ranges()
            self._draw_all_marks()
        if self._pending_cells and not self._fill_scheduled:
            self._fill_scheduled = True
            QtCore.QTimer.singleShot(GRID_BUILD_PAUSE_MS, self, self._fill_later)
        elif not self._pending_cells:
            self._grids_updating(True)

    def _grids_updating(self, enabled: bool) -> None:
        for grid in self._grid_w.values():
            if grid.updatesEnabled() != enabled:
                grid.setUpdatesEnabled(enabled)

    def _fill_later(self) -> None:
        self._fill_scheduled = False
        self._fill_grid()

    def _build_cells(self, run: _Run) -> None:
        """Create the run's loss and accuracy grid cells (and its boundary cell once it has one)."""
        if "loss" not in run.cells:
            loss_cell, acc_cell = self._new_cell("loss", run), self._new_cell("accuracy", run)
            loss, acc = self._curve_items(loss_cell, acc_cell, run.color)
            marks = {"marks_loss": pg.ScatterPlotItem(), "marks_acc": pg.ScatterPlotItem()}
            loss_cell.addItem(marks["marks_loss"])
            acc_cell.addItem(marks["marks_acc"])
            run.items["grid"].update({**loss, **acc, **marks})
            if 0 < run.epochs_planned <= 40:
                for key in ("val_loss", "acc_train", "acc_val"):
                    _dot(run.items["grid"][key], run.color)
        if run.boundary is not None and "boundary" not in run.cells:
            cell = self._new_cell("boundary", run)
            image, points = pg.ImageItem(axisOrder="col-major"), pg.ScatterPlotItem(size=5, pxMode=True)
            cell.addItem(image)
            cell.addItem(points)
            run.items["grid"].update(bnd_image=image, bnd_points=points)

    def _new_cell(self, name: str, run: _Run) -> pg.PlotItem:
        grid, order = self._grid_w[name], self._grid_order[name]
        k = len(order)
        cell = pg.PlotItem(enableMenu=False, axisItems={"bottom": _CompactAxis("bottom")})
        grid.ci.addItem(cell, row=k // GRID_COLUMNS, col=k % GRID_COLUMNS)
        order.append(run.id)
        run.cells[name] = cell
        if name == "boundary":
            cell.setAspectLocked(True)
            lookup = lambda x, y, tol, rid=run.id: self._readout_boundary(x, y, rid)
        else:
            cell.enableAutoRange(x=False, y=False)  # _update_ranges sets the shared ranges
            if name == "loss":
                cell.setLogMode(x=False, y=self._log_loss)
                lookup = lambda x, y, tol, rid=run.id: self._readout_loss(x, tol, rid)
            else:
                lookup = lambda x, y, tol, rid=run.id: self._readout_acc(x, rid)
        if k and name != "boundary":  # shared axes; boundary cells each fit their own grid
            first = self._runs[order[0]].cells[name]
            cell.enableAutoRange(x=False, y=False)
            cell.setXLink(first)
            cell.setYLink(first)
        self._hover(grid).add(cell, lookup)
        if k == 0:
            self._watch_zoom(cell, f"grid:{name}")
            self._ranges.clear()  # the new first cell needs the shared ranges
        else:  # re-apply the shared x range: it also sets every cell's tick spacing
            self._ranges.pop({"loss": "x:steps", "accuracy": "x:epochs"}.get(name, ""), None)
        self._style_cell(name, run)
        if k and k % GRID_COLUMNS == 0:  # a new row: the previous row loses its x labels
            for rid in order[k - GRID_COLUMNS : k]:
                self._style_cell(name, self._runs[rid])
        elif 0 < k < GRID_COLUMNS:  # the row's cells got narrower
            self._title_cells(name)
        return cell

    # ------------------------------------------------------------------ drawing
    def _sync(self, run: _Run, flags: Iterable[str]) -> bool:
        """Hand the run's buffers to its items in the current mode (one setData each).

        Returns whether the markers need redrawing.
        """
        flags = set(flags)
        everything = "all" in flags
        items = run.items[self._mode]
        steps = run.steps.view()
        if everything or "steps" in flags:
            run.items["lr"]["lr"].setData(steps, run.lr.view())
        if self._mode == "grid" and "loss" not in run.cells:  # cells queued: drawn in full once built
            self._ensure_cells(run)
            if everything or flags & {"status", "markers"}:
                self._retitle(run)
            return everything or bool(flags & {"markers", "smooth"})
        if everything or "steps" in flags:
            items["raw"].setData(steps, run.loss.view())
        if everything or flags & {"steps", "smooth"}:
            items["smooth"].setData(steps, run.smooth.view())
        if everything or "epochs" in flags:
            ep = run.epoch.view()
            items["val_loss"].setData(run.epoch_step.view(), run.val_loss.view())
            items["acc_train"].setData(ep, run.train_acc.view())
            items["acc_val"].setData(ep, run.val_acc.view())
        if everything or flags & {"status", "markers"}:
            self._retitle(run)
        if everything or "status" in flags:
            _set_cached(run, run.finished)
        if (everything or "boundary" in flags) and run.boundary is not None:
            self._draw_boundary(run, overlay=everything)
        if everything or "markers" in flags:
            self._draw_lines(run)
        return everything or bool(flags & {"markers", "smooth"})

    def _retitle(self, run: _Run) -> None:
        """Show the run's label and status in the legends, grid titles and boundary choice."""
        self._update_legend()
        for name in run.cells:
            self._title_cell(name, run)
        i = self._boundary_box.findData(run.id)
        if i > 0:
            self._boundary_box.setItemText(i, run.label)

    def _draw_all_marks(self, every_mode: bool = False) -> None:
        """Markers of every run: shared scatters in overlay mode, one per cell in grid mode
        (both with ``every_mode``, e.g. after a theme change)."""
        log = {"lr": True, "loss": self._log_loss, "accuracy": False}
        top = {"lr": math.inf, "loss": math.inf, "accuracy": math.inf}
        if not self._log_loss and "y:loss" in self._ranges:
            top["loss"] = self._ranges["y:loss"][1]
        fg = self._theme["fg"]
        if self._mode == "overlay" or every_mode:
            merged: dict[str, list] = {"lr": [], "loss": [], "accuracy": []}
            for run in self._runs.values():
                for name, spots in run.spots().items():
                    merged[name].extend((x, y, s, run.color) for x, y, s in spots)
            for name, spots in merged.items():
                _scatter(self._marks[name], spots, log[name], fg, top[name])
        if self._mode == "overlay":
            return
        lr_spots = []
        for run in self._runs.values():
            spots = run.spots()
            lr_spots.extend((x, y, s, run.color) for x, y, s in spots["lr"])
            for name, key in (("loss", "marks_loss"), ("accuracy", "marks_acc")):
                if key in run.items["grid"]:
                    spots_ = [(x, y, s, run.color) for x, y, s in spots[name]]
                    _scatter(run.items["grid"][key], spots_, log[name], fg, top[name])
        _scatter(self._marks["lr"], lr_spots, True, fg)

    def _draw_lines(self, run: _Run) -> None:
        """Dashed vertical lines at the best epoch and at the divergence, with labels."""
        best = run.epoch_index(run.best_epoch)
        wanted: dict[str, tuple[float, str] | None] = {"loss_best": None, "acc_best": None, "loss_div": None}
        if best is not None:
            text = f"best: epoch {int(run.epoch.view()[best])}"
            wanted["loss_best"] = (run.epoch_step.view()[best], text)
            wanted["acc_best"] = (run.epoch.view()[best], text)
        if run.diverged is not None:
            wanted["loss_div"] = (run.diverged.step, f"diverged at step {run.diverged.step}")
        items = run.items[self._mode]
        for key, want in wanted.items():
            line = items.get(key)
            if want is None:
                if line is not None:
                    line.hide()
                continue
            if line is None:
                plot = (run.cells.get("accuracy" if key == "acc_best" else "loss") if self._mode == "grid"
                        else (self._acc if key == "acc_best" else self._loss))  # fmt: skip
                if plot is None:
                    continue
                line = items[key] = _vline(run.color)
                plot.addItem(line, ignoreBounds=True)
            line.setPos(want[0])
            line.label.setFormat(want[1])
            line.show()

    # ------------------------------------------------------------------ boundary
    def _boundary_choice_changed(self, index: int) -> None:
        self._boundary_run = self._boundary_box.itemData(index)
        target = self._boundary_run
        if target is None:
            with_boundary = [r.id for r in self._runs.values() if r.boundary is not None]
            target = with_boundary[-1] if with_boundary else None
        if target in self._runs:
            self._show_overlay_boundary(self._runs[target])

    def _draw_boundary(self, run: _Run, overlay: bool = True) -> None:
        """Draw the run's latest boundary in its grid cell; in overlay mode (if ``overlay``)
        in the single heatmap, when it is the run chosen there or no run is chosen."""
        if self._boundary_box.findData(run.id) < 0:
            self._boundary_box.addItem(run.label, run.id)
        if self._mode == "grid":
            if "boundary" not in run.cells:
                self._ensure_cells(run)  # drawn once its cell is built
                return
            items = run.items["grid"]
            _set_heatmap(items["bnd_image"], run.boundary, self._theme["bg"])
            self._set_points(run, items["bnd_points"], items)
            self._title_cell("boundary", run)
        elif overlay and (self._boundary_run is None or self._boundary_run == run.id):
            self._show_overlay_boundary(run)

    def _show_overlay_boundary(self, run: _Run) -> None:
        if run.boundary is None:
            return
        first = self._shown_boundary != run.id
        self._shown_boundary = run.id
        _set_heatmap(self._bnd_image, run.boundary, self._theme["bg"])
        self._set_points(run, self._bnd_points, None)
        self._bnd_hint.hide()
        self._fit_title("boundary")
        if first:
            self._bnd.autoRange(padding=0.02)

    def _points_for(self, run: _Run) -> tuple[np.ndarray, np.ndarray] | None:
        explicit = self._explicit_points.get(run.id) or self._explicit_points.get(None)
        if explicit is not None:
            return explicit[0], explicit[1]
        data_cfg = run.config.get("dataset") if run.config else None
        if not data_cfg or data_cfg.get("name") == "csv":
            return None
        key = json.dumps(data_cfg, sort_keys=True, default=str)
        if key not in self._points_cache:
            # rebuilding the dataset takes a few ms: not in the frame that starts the run
            self._points_todo[key] = data_cfg
            if not self._points_scheduled:
                self._points_scheduled = True
                QtCore.QTimer.singleShot(GRID_BUILD_PAUSE_MS, self, self._load_points_later)
            return None
        return self._points_cache[key]

    def _load_points_later(self) -> None:
        """Rebuild the queued datasets' points, then draw them over the boundaries."""
        self._points_scheduled = False
        todo, self._points_todo = self._points_todo, {}
        for key, data_cfg in todo.items():
            self._points_cache[key] = _load_points(data_cfg)
        self._overlay_points_tag = None
        if self._shown_boundary in self._runs and self._mode == "overlay":
            self._set_points(self._runs[self._shown_boundary], self._bnd_points, None)
        for run in self._runs.values():
            if "bnd_points" in run.items["grid"] and self._mode == "grid":
                run.items["grid"].pop("points_tag", None)
                self._set_points(run, run.items["grid"]["bnd_points"], run.items["grid"])

    def _set_points(self, run: _Run, scatter: pg.ScatterPlotItem, grid_items: dict | None) -> None:
        """Draw the run's training points (only when they, or the theme, changed)."""
        pts = self._points_for(run)
        tag = (id(pts), self._theme_name)  # runs of one dataset share the (cached) points
        current = self._overlay_points_tag if grid_items is None else grid_items.get("points_tag")
        if current == tag:
            return
        if pts is None or not len(pts[1]):
            scatter.clear()
        else:
            x, y = pts
            if len(x) > MAX_POINTS_SHOWN:
                keep = np.random.default_rng(0).choice(len(x), MAX_POINTS_SHOWN, replace=False)
                x, y = x[keep], y[keep]
            brushes = [pg.mkBrush(CLASS_PALETTE[c % len(CLASS_PALETTE)]) for c in range(int(y.max()) + 1)]
            scatter.setData(
                x=x[:, 0], y=x[:, 1], brush=[brushes[c] for c in y],
                symbol=[CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)] for c in y],
                pen=pg.mkPen(self._theme["fg"], width=0.8),
            )  # fmt: skip
        if grid_items is None:
            self._overlay_points_tag = tag
        else:
            grid_items["points_tag"] = tag

    # ------------------------------------------------------------------ axis ranges
    def _update_ranges(self) -> bool:
        """Axis ranges from the planned run lengths and every run's finite data.

        Ranges snap to round values (decades on log axes), so they change rarely: each
        change redraws every cached curve, while an unchanged range lets the curves of
        runs that are not growing be blitted. A plot the user zoomed keeps its range
        until its "A" (auto-range) button is pressed.
        """
        runs = list(self._runs.values())
        if not runs:
            return False
        seen_steps = max((r.steps.view()[-1] for r in runs if len(r.steps)), default=0.0)
        seen_epochs = max((r.epoch.view()[-1] for r in runs if len(r.epoch)), default=0.0)
        loss = acc = lr = NO_EXTENT
        for r in runs:
            loss, acc, lr = _merge(loss, r.loss_ext), _merge(acc, r.acc_ext), _merge(lr, r.lr_ext)
        first = [r.loss_first for r in runs if math.isfinite(r.loss_first)]
        # a linear loss axis stops at 3x the largest initial loss: a diverging run leaves through
        # the top (its ✕ waits at the edge) instead of flattening every other curve
        loss_cap = LOSS_AXIS_CAP * max(first) if first else math.inf
        want: dict[str, tuple[float, float]] = {}
        steps, epochs = max(self._max_steps, seen_steps), max(self._max_epochs, seen_epochs)
        if steps:
            want["x:steps"] = (0.0, float(steps))
        if epochs:
            want["x:epochs"] = (min(1.0, float(epochs)), float(max(epochs, 2)))
        if math.isfinite(lr[2]):
            lo, hi = math.floor(math.log10(lr[2]) - 0.25), math.ceil(math.log10(lr[1]) + 0.25)
            # at least three decades: over fewer, pyqtgraph labels every minor tick and the
            # labels of a constant LR pile up on each other
            short = max(0, 3 - (hi - lo))
            want["y:lr"] = (lo - (short + 1) // 2, hi + short // 2)
        if self._log_loss and math.isfinite(loss[2]):
            lo, hi = math.floor(2 * math.log10(loss[2])) / 2, math.ceil(2 * math.log10(loss[1])) / 2
            want["y:loss"] = (lo, max(hi, lo + 0.5))
        elif math.isfinite(loss[0]):
            want["y:loss"] = (
                0.0 if loss[0] >= 0 else -_nice_ceil(-loss[0]),
                _nice_ceil(min(loss[1], loss_cap)),
            )
        if math.isfinite(acc[0]):
            lo = max(0.0, math.floor(acc[0] * 10) / 10)
            want["y:accuracy"] = (lo, max(min(1.0, math.ceil(acc[1] * 20) / 20), lo + 0.1))
        changed = False
        for key, value in want.items():
            if self._ranges.get(key) != value:
                self._ranges[key] = value
                self._apply_range(key, value)
                changed |= key == "y:loss"
        return changed

    def _range_targets(self, key: str) -> list[tuple[str, pg.PlotItem]]:
        """(zoom key, plot) pairs whose range ``key`` sets: the overlay plot and the first grid cell."""
        axis, what = key.split(":")
        overlay = {"steps": self._lr, "epochs": self._acc, "lr": self._lr, "loss": self._loss,
                   "accuracy": self._acc}[what]  # fmt: skip
        name = {"steps": "loss", "epochs": "accuracy"}.get(what, what)
        out = [(f"overlay:{'lr' if overlay is self._lr else name}", overlay)]
        order = self._grid_order.get(name)
        if order:
            out.append((f"grid:{name}", self._runs[order[0]].cells[name]))
        return out

    def _apply_range(self, key: str, value: tuple[float, float]) -> None:
        axis = key[0]
        for zoom_key, plot in self._range_targets(key):
            if zoom_key in self._user_zoomed:
                continue
            plot.enableAutoRange(**{axis: False})
            if axis == "x":
                plot.setXRange(*value, padding=0.02)
                if zoom_key.startswith("grid:"):  # small cells: three round tick values at most
                    major = _nice_ceil((value[1] - value[0]) / 3.2, (1, 1.5, 2, 2.5, 5, 10))
                    for rid in self._grid_order[zoom_key[5:]]:
                        self._runs[rid].cells[zoom_key[5:]].getAxis("bottom").setTickSpacing(major, major / 5)
            else:
                plot.setYRange(*value, padding=0.03)

    def _watch_zoom(self, plot: pg.PlotItem, zoom_key: str) -> None:
        """Stop auto-ranging ``plot`` once the user pans/zooms it; its "A" button hands it back."""
        plot.vb.sigRangeChangedManually.connect(lambda *_: self._user_zoomed.add(zoom_key))

        def auto_pressed() -> None:
            self._user_zoomed.discard(zoom_key)
            self._ranges.clear()
            self._update_ranges()
            self._draw_all_marks()

        plot.autoBtn.clicked.connect(auto_pressed)

    # ------------------------------------------------------------------ hover readouts
    def _runs_for(self, rid: int | None) -> list[_Run]:
        if rid is None:
            return list(self._runs.values())
        return [self._runs[rid]] if rid in self._runs else []

    @staticmethod
    def _swatch(run: _Run) -> str:
        return f'<span style="color:{run.color.name()}">■</span> {run.label}'

    def _readout_lr(self, x: float, tol: float) -> str | None:
        lines = []
        for run in self._runs.values():
            i = _nearest(run.steps.view(), x, tol)
            if i is not None:
                lines.append(f"{self._swatch(run)}: lr {_fmt(run.lr.view()[i])}")
        return f"<b>step {round(x)}</b><br>" + "<br>".join(lines) if lines else None

    def _readout_loss(self, x: float, tol: float, rid: int | None) -> str | None:
        lines = []
        muted = self._theme["muted"]
        for run in self._runs_for(rid):
            i = _nearest(run.steps.view(), x, tol)
            if i is not None:
                lines.append(f"{self._swatch(run)}: {_fmt(run.smooth.view()[i])} "
                             f'<span style="color:{muted}">(raw {_fmt(run.loss.view()[i])})</span>')  # fmt: skip
            j = _nearest(run.epoch_step.view(), x, tol)
            if j is not None and math.isfinite(run.val_loss.view()[j]):
                lines.append(
                    f"&nbsp;&nbsp;validation, epoch {int(run.epoch.view()[j])}: {_fmt(run.val_loss.view()[j])}"
                )
        return f"<b>step {round(x)}</b><br>" + "<br>".join(lines) if lines else None

    def _readout_acc(self, x: float, rid: int | None) -> str | None:
        lines = []
        epoch = round(x)
        for run in self._runs_for(rid):
            j = run.epoch_index(epoch)
            if j is not None:
                tr, va = run.train_acc.view()[j], run.val_acc.view()[j]
                lines.append(f"{self._swatch(run)}: train {_pct(tr)} · validation {_pct(va)}")
        return f"<b>epoch {epoch}</b><br>" + "<br>".join(lines) if lines else None

    def _readout_boundary(self, x: float, y: float, rid: int | None) -> str | None:
        run = self._runs.get(self._shown_boundary if rid is None else rid)
        if run is None or run.boundary is None:
            return None
        e = run.boundary
        xs, ys = np.asarray(e.xs), np.asarray(e.ys)
        if not (xs[0] <= x <= xs[-1] and ys[0] <= y <= ys[-1]):
            return None
        p = np.asarray(e.probs)[int(np.abs(ys - y).argmin()), int(np.abs(xs - x).argmin())]
        parts = [f'<span style="color:{CLASS_PALETTE[c % len(CLASS_PALETTE)]}">■</span> class {c}: {_pct(float(v))}'
                 for c, v in enumerate(p)]  # fmt: skip
        return f"<b>x₁ {x:.3g}, x₂ {y:.3g}</b> (epoch {e.epoch})<br>" + "<br>".join(parts)

    # ------------------------------------------------------------------ export
    def _export_target(self, name: str, path: str | Path) -> tuple[QtWidgets.QWidget, Path]:
        items = self.plot_items()
        if name not in items:
            raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(PLOT_NAMES)}")
        path = Path(path)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot save the {name} plot: folder {path.parent} does not exist")
        widget = items[name]
        if not widget.isVisible() or widget.width() < 50 or widget.height() < 50:
            widget.resize(max(widget.width(), 800), max(widget.height(), 500))
            QtCore.QCoreApplication.processEvents()
        return widget, path


_DRAWN = frozenset(
    {ev.EpochEnd, ev.LRReduced, ev.EarlyStopped, ev.Diverged, ev.Boundary, ev.Finished, ev.Failed}
)


class _CompactAxis(pg.AxisItem):
    """Tick values of a small-multiples cell: thousands as "2k" so they fit side by side."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802 (pyqtgraph API)
        if spacing >= 500 and all(v % 100 == 0 for v in values):
            return [f"{v / 1000:g}k" for v in values]
        return super().tickStrings(values, scale, spacing)


class _FitView(pg.PlotWidget):
    """An overlay plot that re-fits its title to its width when resized."""

    on_resize: Callable[[], None] | None = None

    def resizeEvent(self, event: QtGui.QResizeEvent | None) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self.on_resize is not None:
            self.on_resize()


class _GridView(pg.GraphicsLayoutWidget):
    """A small-multiples canvas that re-fits its cell titles when resized."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        self._on_resize: Callable[[], None] | None = None
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event: QtGui.QResizeEvent | None) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._on_resize is not None:
            self._on_resize()


def _plain_numbers(axis: pg.AxisItem) -> None:
    """Tick values as they are: no SI-prefix rescaling (0.85 shown as "850" with an "m" only
    in a units label we do not have), and no label re-layout on every range change."""
    axis.enableAutoSIPrefix(False)
    # enableAutoSIPrefix(False) itself computes a prefix for the current range (pyqtgraph
    # 0.14) and then never updates it again: reset the scale it may have left behind
    axis.autoSIPrefixScale = 1.0
    axis.labelUnitPrefix = ""
    axis.picture = None
    axis.update()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _set_title(plot: pg.PlotItem, html: str, points: int, color: str, shrink: bool = False) -> None:
    """Set a bold title (lines centred); ``shrink`` lets the cell be narrower than the text."""
    if not html:
        plot.setTitle(None)
        return
    plot.setTitle(html, size=f"{points}pt", color=color, bold=True)
    label = plot.titleLabel
    label.item.setTextWidth(-1)  # measure the new text unwrapped
    doc = label.item.document()
    option = doc.defaultTextOption()
    option.setAlignment(Qt.AlignHCenter)
    doc.setDefaultTextOption(option)
    label.item.setTextWidth(doc.idealWidth())
    if shrink and "updateMin" not in vars(label):
        # LabelItem pins its minimum width to the text on every resize; a small-multiples
        # cell must be allowed to get narrower than its (elided) title
        def update_min(label: pg.LabelItem = label) -> None:
            pg.LabelItem.updateMin(label)
            label.setMinimumWidth(0)
            label._sizeHint[Qt.SizeHint.MinimumSize] = (0, label._sizeHint[Qt.SizeHint.MinimumSize][1])

        label.updateMin = update_min
    label.updateMin()
    label.resizeEvent(None)
    label.updateGeometry()


def _font(points: int, bold: bool = False) -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSize(points)
    font.setBold(bold)
    return font


def _fit_text(
    font: QtGui.QFont, candidates: Sequence[str], width: float, parts: tuple[str, str, str] | None = None
) -> str:
    """The first of ``candidates`` (longest first) that fits ``width`` pixels in ``font``; else
    ``prefix + label + suffix`` from ``parts`` with the label elided ("…") to no fewer than
    ``MIN_LABEL_CHARS`` characters, dropping the suffix if need be; else the last candidate elided."""
    metrics = QtGui.QFontMetrics(font)
    width = max(int(width), 1)
    for text in candidates:
        if metrics.horizontalAdvance(text) <= width:
            return text
    if parts is not None:
        prefix, label, suffix = parts
        for tail in dict.fromkeys((suffix, "")):  # a label cut to a stub: the suffix goes first
            room = width - metrics.horizontalAdvance(prefix + tail)
            shown = metrics.elidedText(label, Qt.ElideRight, room) if room > 0 else ""
            if len(shown.rstrip("…")) >= min(len(label), MIN_LABEL_CHARS):
                return prefix + shown + tail
    return metrics.elidedText(candidates[-1], Qt.ElideRight, width) or "…"


def _shrinkable(box: QtWidgets.QComboBox) -> None:
    """Let a combo box shrink to about ``CONTROL_MIN_CHARS`` characters (eliding its text)
    and grow, when the row has room, to fit its longest item (at most ``CONTROL_MAX_W``)."""

    def longest() -> int:
        metrics = box.fontMetrics()
        return max((metrics.horizontalAdvance(box.itemText(i)) for i in range(box.count())), default=0)

    padding = box.sizeHint().width() - longest()  # frame and arrow, measured while it fits its items

    def fit_items() -> None:
        box.setMaximumWidth(max(box.minimumSizeHint().width(), min(padding + longest(), CONTROL_MAX_W)))

    box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(CONTROL_MIN_CHARS)
    box.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
    model = box.model()
    for signal in (model.rowsInserted, model.rowsRemoved, model.dataChanged):
        signal.connect(fit_items)
    fit_items()


def _curve(
    pen: QtGui.QPen, *, antialias: bool, clip: bool = True, method: str = "peak", per_pixel: float = 0.5
) -> pg.PlotDataItem:
    """A curve that never connects across NaN; per-step curves clip to the view and
    downsample to one bucket per ``1 / per_pixel`` pixel columns ('peak' keeps each
    bucket's min and max, so the raw loss keeps its spikes; smooth curves need less)."""
    item = pg.PlotDataItem(pen=pen, antialias=antialias, connect="finite")
    item.setProperty("optiscope_reduce", (method, per_pixel) if clip else None)
    return item


def _add_curve(plot: pg.PlotItem, item: pg.PlotDataItem, ignore_bounds: bool = False) -> None:
    """Add ``item`` to ``plot``, then apply its clipping and downsampling (PlotItem.addItem
    overwrites both with the plot's own context-menu settings, off by default)."""
    plot.addItem(item, ignoreBounds=ignore_bounds)
    reduce = item.property("optiscope_reduce")
    if reduce is not None:
        item.setClipToView(True)
        item.setDownsampling(auto=True, method=reduce[0])
        item.opts["autoDownsampleFactor"] = reduce[1]


def _set_cached(run: _Run, cached: bool) -> None:
    """Keep a finished run's curves as pixmaps: repainting the plot for the runs still
    training then blits them instead of redrawing thousands of points. (A live curve
    changes every batch, where a cache would only add work.)"""
    mode = QtWidgets.QGraphicsItem.CacheMode
    for items in run.items.values():
        for item in items.values():
            if isinstance(item, pg.PlotDataItem):
                item.curve.setCacheMode(mode.DeviceCoordinateCache if cached else mode.NoCache)


def _dot(item: pg.PlotDataItem, color: QtGui.QColor) -> None:
    item.setSymbol("o")
    item.setSymbolSize(6)
    item.setSymbolBrush(color)
    item.setSymbolPen(None)


def _scatter(
    item: pg.ScatterPlotItem, spots: list[tuple[float, float, str, QtGui.QColor]], log: bool, edge: str,
    top: float = math.inf,
) -> None:  # fmt: skip
    """Put marker ``spots`` (data units) on ``item``: log10 units on a log axis, clamped to
    ``top`` (the axis' upper end) so a marker above it stays in view; non-finite ones skipped."""
    keep = []
    for x, y, symbol, color in spots:
        y = min(y, top)
        if log:
            y = math.log10(y) if y > 0 else math.nan
        if math.isfinite(x) and math.isfinite(y):
            keep.append((x, y, symbol, color))
    if not keep:
        item.clear()
        return
    item.setData(
        x=[k[0] for k in keep], y=[k[1] for k in keep], symbol=[k[2] for k in keep],
        size=[MARKER_SIZES.get(k[2], 14) for k in keep], brush=[pg.mkBrush(k[3]) for k in keep],
        pen=[pg.mkPen(k[3] if k[2] == "x" else edge, width=1.5) for k in keep],
    )  # fmt: skip


def _vline(color: QtGui.QColor) -> pg.InfiniteLine:
    line = pg.InfiniteLine(
        angle=90, movable=False, pen=pg.mkPen(color, width=1.5, style=Qt.DashLine),
        label="", labelOpts={"position": 0.9, "color": color, "anchors": [(0, 0), (0, 0)]},
    )  # fmt: skip
    line.label.setFont(_font(TEXT_PT))
    return line


def _set_heatmap(image: pg.ImageItem, e: ev.Boundary, background: str) -> None:
    """Draw ``probs[iy, ix, c]`` as an RGB image blending class colours, placed in data coordinates."""
    probs = np.asarray(e.probs, dtype=np.float32)
    xs, ys = np.asarray(e.xs, dtype=np.float64), np.asarray(e.ys, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[:2] != (len(ys), len(xs)) or not len(xs) or not len(ys):
        return
    probs = np.nan_to_num(probs, nan=0.0, posinf=0.0, neginf=0.0)
    n = probs.shape[2]
    palette = np.array([QtGui.QColor(CLASS_PALETTE[c % len(CLASS_PALETTE)]).getRgbF()[:3] for c in range(n)],
                       dtype=np.float32)  # fmt: skip
    bg = np.array(QtGui.QColor(background).getRgbF()[:3], dtype=np.float32)
    rgb = bg + 0.62 * (probs @ palette - bg)  # the class colours, lighter than the points on top
    img = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8).transpose(1, 0, 2)  # (nx, ny, 3)
    image.setImage(np.ascontiguousarray(img), autoLevels=False, levels=(0, 255))
    dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1) or 1.0
    dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1) or 1.0
    image.setRect(QtCore.QRectF(xs[0] - dx / 2, ys[0] - dy / 2, dx * len(xs), dy * len(ys)))


def _finite_count(item: pg.PlotDataItem | None) -> int:
    if item is None:
        return 0
    _, y = item.getOriginalDataset()
    return 0 if y is None else int(np.isfinite(y).sum())


def _load_points(data_cfg: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The training points of a generated or bundled 2D dataset config (None if not 2D)."""
    try:
        from optiscope.engine.config import DatasetConfig
        from optiscope.engine.data import load_dataset

        ds = load_dataset(DatasetConfig.model_validate(data_cfg))
    except Exception:  # the points only decorate the heatmap; never fail a plot over them
        return None
    if not ds.is_2d:
        return None
    return np.asarray(ds.x_train, dtype=np.float64), np.asarray(ds.y_train, dtype=np.int64)


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
