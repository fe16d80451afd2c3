"""The landscape's *Network surface* view: the network's loss around its weight trajectory.

:class:`SurfaceView` is fed the engine's events (``add_events``, as ``LivePlots``); it computes
the loss surface around the weight trajectory as a background job of its
:class:`~.worker.JobRunner` (coarse, then refined; never on the GUI thread), draws the
projected paths live (all runs of a race share one plane) and, beside it, the true loss along
each path against the slice's value at the projected points. A 3D surface (OpenGL) is an
explicit opt-in, offered only where a real display and PyOpenGL exist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui.colors import run_color
from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

from .landscape_common import FitToWidth, Heatmap, gl_available, key_under, log_image, themed_plot_widget
from .worker import JobContext, JobRunner

__all__ = ["SurfaceView"]


def _surface_job(
    context: JobContext,
    cfg_json: dict,
    trajectories: list[np.ndarray],
    run_ids: list[int],
    steps: list[np.ndarray],
    kind: str,
    grids: Sequence[int],
    extent: float,
    cache: dict,
) -> None:
    """Runs in the worker thread: plane, coarse then refined surface, path reports, each
    handed to the GUI as soon as it is ready (``context.emit`` then ``flush``).

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
        context.emit(("note", "batch-norm statistics re-estimated on the training set at the final weights"))
        context.flush()
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
        should_stop=context.cancel_event.is_set,
    ):
        context.emit(stage)
        context.flush()  # few, large results: each is worth showing when ready


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

        self.plot_widget = themed_plot_widget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.heat = Heatmap(self.plot)
        self.line_curve = pg.PlotDataItem(pen=pg.mkPen("#202020", width=2))
        self.plot.addItem(self.line_curve)
        self.run_paths: dict[int, pg.PlotDataItem] = {}
        self.run_ends: dict[int, pg.ScatterPlotItem] = {}
        self.origin_marker = pg.ScatterPlotItem(symbol="+", size=14, pen=pg.mkPen("#ffffff", width=2))
        self.plot.addItem(self.origin_marker)

        self.compare = themed_plot_widget()
        self.compare_plot = self.compare.getPlotItem()
        self.compare_plot.setLabel("bottom", "update")
        self.compare_plot.setLabel("left", "loss (log)")
        self.compare_plot.setLogMode(y=True)
        fg = self.compare.getPlotItem().getAxis("left").textPen().color()
        # one entry per run, under the plot (it covers no curve): the title says which is which
        self.compare_key = key_under(self.compare_plot, labelTextColor=fg)
        self.compare_fitter = FitToWidth(
            self.compare,
            self.compare_key,
            titles=(
                "true loss (solid) vs slice (dashed) along the path",
                "true (solid) vs slice (dashed) loss",
                "true — vs slice - - loss",
            ),
        )
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
                # a seeded race sends the leads' snapshots only: silence is wrong only when no
                # run sent any
                if not any(self.snapshots.values()):
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
            lambda context: _surface_job(context, *args),
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
            lz, levels = log_image(surf.loss, None)
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
        self.compare_key.clear()
        for r in reports:
            colour = run_color(r.run)
            name = self.label(r.run)
            solid = pg.PlotDataItem(r.steps, r.true_loss, pen=pg.mkPen(colour, width=2), name=f"{name} true")
            dashed = pg.PlotDataItem(
                r.steps,
                r.slice_loss,
                pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine),
                name=f"{name} slice",
            )
            for item in (solid, dashed):
                self.compare_plot.addItem(item)
                self.compare_items.append(item)
            self.compare_key.addItem(solid, name)
        self.compare_fitter.fit()
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
