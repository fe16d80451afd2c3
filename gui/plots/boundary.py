"""The decision-boundary view: class-probability heatmaps and the training points on top.

The heatmap blends the class colours (:func:`optiscope.gui.colors.class_color`) by the
predicted probabilities; the points are given with ``LivePlots.set_points`` or rebuilt
from a run's dataset config (a few ms, so after the frame that starts the run).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui.colors import class_color
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.style import TEXT_PT, font
from PySide6 import QtCore, QtGui

__all__ = [
    "CLASS_SYMBOLS",
    "set_heatmap",
    "draw_points",
    "load_points",
    "TrainingPoints",
    "PointLayer",
    "OverlayBoundary",
]

CLASS_SYMBOLS = ("o", "s", "t", "d", "t1", "p", "h", "star")
MAX_POINTS_SHOWN = 2000  # scatter points on a boundary plot (subsampled beyond this)
LOAD_DELAY_MS = 15  # rebuild dataset points just after the frame that starts a run
Points = tuple[np.ndarray, np.ndarray]  # (N, 2) coordinates, (N,) integer classes


def set_heatmap(image: pg.ImageItem, e: ev.Boundary, background: str) -> None:
    """Draw ``probs[iy, ix, c]`` as an RGB image blending class colours, placed in data coordinates."""
    probs = np.asarray(e.probs, dtype=np.float32)
    xs, ys = np.asarray(e.xs, dtype=np.float64), np.asarray(e.ys, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[:2] != (len(ys), len(xs)) or not len(xs) or not len(ys):
        return
    probs = np.nan_to_num(probs, nan=0.0, posinf=0.0, neginf=0.0)
    n = probs.shape[2]
    palette = np.array([class_color(c).getRgbF()[:3] for c in range(n)], dtype=np.float32)
    bg = np.array(QtGui.QColor(background).getRgbF()[:3], dtype=np.float32)
    rgb = bg + 0.62 * (probs @ palette - bg)  # the class colours, lighter than the points on top
    img = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8).transpose(1, 0, 2)  # (nx, ny, 3)
    image.setImage(np.ascontiguousarray(img), autoLevels=False, levels=(0, 255))
    dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1) or 1.0
    dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1) or 1.0
    image.setRect(QtCore.QRectF(xs[0] - dx / 2, ys[0] - dy / 2, dx * len(xs), dy * len(ys)))


def draw_points(scatter: pg.ScatterPlotItem, points: Points | None, edge: str) -> None:
    """Draw training ``points`` on ``scatter``, one colour and symbol per class, edged in ``edge``."""
    if points is None or not len(points[1]):
        scatter.clear()
        return
    x, y = points
    if len(x) > MAX_POINTS_SHOWN:
        keep = np.random.default_rng(0).choice(len(x), MAX_POINTS_SHOWN, replace=False)
        x, y = x[keep], y[keep]
    brushes = [pg.mkBrush(class_color(c)) for c in range(int(y.max()) + 1)]
    scatter.setData(
        x=x[:, 0],
        y=x[:, 1],
        brush=[brushes[c] for c in y],
        symbol=[CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)] for c in y],
        pen=pg.mkPen(edge, width=0.8),
    )


def load_points(data_cfg: dict) -> Points | None:
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


class TrainingPoints:
    """Where each run's training points come from: given explicitly, or rebuilt (once per
    dataset config, cached) from the run's config after a short delay.

    Parameters
    ----------
    owner : QObject
        Receiver of the delayed load (it dies with the plots).
    loaded : callable
        Called after points were rebuilt, to draw them.
    """

    def __init__(self, owner: QtCore.QObject, loaded: Callable[[], None]) -> None:
        self._owner = owner
        self._loaded = loaded
        self._explicit: dict[int | None, Points] = {}
        self._cache: dict[str, Points | None] = {}
        self._todo: dict[str, dict] = {}  # dataset configs whose points are still to build
        self._scheduled = False

    def set(self, x: np.ndarray, y: np.ndarray, run: int | None) -> None:
        """Points for run ``run`` (None: every run without its own points)."""
        self._explicit[run] = (x, y)

    def forget_runs(self) -> None:
        """Drop the points given for particular runs (those for every run stay)."""
        self._explicit = {k: v for k, v in self._explicit.items() if k is None}

    def get(self, run: RunData) -> Points | None:
        """The run's points, or None (none known, or still being rebuilt)."""
        explicit = self._explicit.get(run.id) or self._explicit.get(None)
        if explicit is not None:
            return explicit
        data_cfg = run.config.get("dataset") if run.config else None
        if not data_cfg or data_cfg.get("name") == "csv":
            return None
        key = json.dumps(data_cfg, sort_keys=True, default=str)
        if key not in self._cache:
            # rebuilding the dataset takes a few ms: not in the frame that starts the run
            self._todo[key] = data_cfg
            if not self._scheduled:
                self._scheduled = True
                QtCore.QTimer.singleShot(LOAD_DELAY_MS, self._owner, self._load)
            return None
        return self._cache[key]

    def _load(self) -> None:
        self._scheduled = False
        todo, self._todo = self._todo, {}
        for key, data_cfg in todo.items():
            self._cache[key] = load_points(data_cfg)
        self._loaded()


class PointLayer:
    """A scatter of training points that is redrawn only when its points or theme change."""

    def __init__(self, scatter: pg.ScatterPlotItem) -> None:
        self.scatter = scatter
        self._tag: tuple | None = None

    def draw(self, points: Points | None, theme_name: str, edge: str) -> None:
        """Show ``points`` edged in ``edge`` (nothing to do if already shown in this theme)."""
        tag = (id(points), theme_name)  # runs of one dataset share the (cached) points
        if tag != self._tag:
            draw_points(self.scatter, points, edge)
            self._tag = tag

    def invalidate(self) -> None:
        """Redraw at the next :meth:`draw` (e.g. after a theme change)."""
        self._tag = None

    def clear(self) -> None:
        self.scatter.clear()
        self._tag = None

    def __len__(self) -> int:
        return len(self.scatter.data)


class OverlayBoundary:
    """The overlay mode's decision-boundary plot: one run's heatmap and points (the run
    chosen in the controls, or the latest to report one), and a hint while there is none."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        # not aspect-locked: a dataset taller than wide (blobs) left two thirds of a wide view
        # empty axis range; the boundary fills the plot, the axes say each feature's scale
        plot.setAspectLocked(False)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.points = PointLayer(pg.ScatterPlotItem(size=7, pxMode=True))
        plot.addItem(self.image)
        plot.addItem(self.points.scatter)
        self.hint = pg.TextItem(
            "The decision boundary appears here\nwhile a 2D dataset trains", anchor=(0.5, 0.5)
        )
        self.hint.setFont(font(TEXT_PT + 1))
        plot.addItem(self.hint, ignoreBounds=True)
        plot.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)
        self.chosen: int | None = None  # chosen in the controls; None follows the latest run
        self.shown: int | None = None  # the run whose boundary is shown

    def follows(self, run_id: int) -> bool:
        """Whether a new boundary of ``run_id`` is to be shown."""
        return self.chosen is None or self.chosen == run_id

    def show(self, run_id: int, e: ev.Boundary, points: Points | None, theme_name: str, theme: dict) -> None:
        """Show boundary ``e`` of ``run_id`` with its training ``points``; zoom to it when the run changes."""
        first = self.shown != run_id
        self.shown = run_id
        set_heatmap(self.image, e, theme["bg"])
        self.points.draw(points, theme_name, theme["fg"])
        self.hint.hide()
        if first:
            self.plot.autoRange(padding=0.02)

    def forget(self, run_id: int | None = None) -> None:
        """Empty the plot if it shows ``run_id`` (any run if None)."""
        if run_id is None or self.shown == run_id:
            self.shown = None
            self.image.clear()
            self.points.clear()

    def reset(self) -> None:
        """Back to the hint, following the latest run (a new experiment)."""
        self.forget()
        self.chosen = None
        self.hint.show()
        self.plot.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)  # not the last lesson's axes

    def set_theme(self, theme: dict) -> None:
        self.hint.setColor(theme["muted"])
        self.points.invalidate()
