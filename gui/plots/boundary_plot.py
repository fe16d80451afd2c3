"""The decision-boundary plot: class-probability heatmap and training points (2D data).

In overlay mode one heatmap shows one run's boundary: the run chosen in the controls, or
the latest to report one; in grid mode each run that has a boundary gets its cell. A
boundary cannot be averaged over seeds: a runner of several seeds shows its first seed's,
the only one the engine computes for it (the title and the "Boundary of:" choice say which
seed). The
drawing helpers (heatmap, points, the overlay's hint) are in :mod:`.boundary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui.plots import boundary, hover, titles
from optiscope.gui.plots.part import PlotPart, PlotRun
from PySide6 import QtCore

__all__ = ["BoundaryPlot", "choice_label"]


def choice_label(run: PlotRun) -> str:
    """A run's name in the "Boundary of:" choice: a runner of several seeds offers its first
    seed's boundary (the only one computed) and says which seed ("Adam (seed 3)"; short: the
    choice sits in the plots' control row)."""
    return f"{run.label} ({run.seed_text.split(' (')[0]})" if run.seeded else run.label


class BoundaryPlot(PlotPart):
    """Class probabilities over the input plane, with the training points on top."""

    name = "boundary"
    title = "Decision boundary"
    axis_labels = ("feature x₁", "feature x₂")
    short_axis_labels = (("x₁",), ("x₂",))
    cell_labels = (None, None)
    place = (1, 1)
    shared_cells = False  # each cell fits its own grid
    export_legend = False  # one run's picture (its title names it)
    one_seed = "the runner's first seed"

    def setup(self) -> None:
        self.overlay = boundary.OverlayBoundary(self.plot)
        self.points = boundary.TrainingPoints(self.frame.owner, self._points_loaded)
        self.frame.controls.boundary_chosen.connect(self._chosen)

    def create(self, plot: pg.PlotItem, run: PlotRun) -> dict[str, Any]:
        if plot is self.plot:
            return {}  # the overlay shows one run's boundary at a time (self.overlay)
        image, points = pg.ImageItem(axisOrder="col-major"), pg.ScatterPlotItem(size=5, pxMode=True)
        plot.addItem(image)
        plot.addItem(points)
        return {"bnd_image": image, "bnd_points": boundary.PointLayer(points)}

    def setup_cell(self, cell: pg.PlotItem) -> None:
        cell.setAspectLocked(True)

    def wants_cell(self, run: PlotRun) -> bool:
        return run.boundary is not None and run.lead

    def idle(self) -> bool:
        """No run trains on a 2D dataset: presenting, the loss plot takes this room."""
        from optiscope.engine.config import SYNTHETIC_DATASETS

        runs = self.frame.runs.values()
        return not any((run.config.get("dataset") or {}).get("name") in SYNTHETIC_DATASETS for run in runs)

    def sync(self, run: PlotRun, flags: set[str]) -> None:
        if not run.lead:
            return  # a runner's other seeds: its first seed's boundary stands for it
        if run.boundary is not None and flags & {"all", "boundary"}:
            self.frame.controls.add_boundary_run(run.id, choice_label(run))
        super().sync(run, flags)

    def draw(self, run: PlotRun, its: dict[str, Any], flags: set[str]) -> None:
        if flags & {"all", "boundary"} and run.boundary is not None:
            # overlay: a batch shows the latest boundary to arrive (see batch_done)
            self.draw_run(run, overlay="all" in flags)

    def draw_run(self, run: PlotRun, overlay: bool = True) -> None:
        """Draw the run's latest boundary in its grid cell; in overlay mode (if ``overlay``)
        in the single heatmap, when it is the run chosen there or no run is chosen."""
        theme = self.frame.theme
        self.frame.controls.add_boundary_run(run.id, choice_label(run))
        if self.mode() == "grid":
            if "boundary" not in run.cells:
                self.frame.cells.ensure(run)  # drawn once its cell is built
                return
            its = self.items(run)
            boundary.set_heatmap(its["bnd_image"], run.boundary, theme["bg"])
            its["bnd_points"].draw(self.points.get(run), self.frame.theme_name, theme["fg"])
            self.title_cell(run)
        elif overlay and self.overlay.follows(run.id):
            self._show(run)

    def batch_done(self, events: Sequence[ev.Event], dirty: dict[int, set[str]]) -> None:
        runs = self.frame.runs
        last = next(
            (
                e.run
                for e in reversed(events)
                if type(e) is ev.Boundary and e.run in runs and runs[e.run].lead
            ),
            None,
        )
        if last is None or self.mode() != "overlay":
            return
        # one heatmap on screen: draw the chosen run's, or the latest to arrive
        chosen = self.overlay.chosen
        run = self.frame.runs.get(last if chosen is None else chosen)
        if run is not None and run.boundary is not None and "boundary" in dirty.get(run.id, ()):
            self._show(run)

    def readout(self, run_id: int | None, x: float, y: float, tol: float) -> str | None:
        run = self.frame.runs.get(self.overlay.shown if run_id is None else run_id)
        return hover.readout_boundary(run.boundary if run is not None else None, x, y)

    def count(self, run: PlotRun) -> int:
        """Heatmap cells (grid columns x rows) drawn for the run (overlay: the run shown)."""
        image = self._image(run.id)
        shape = None if image is None or image.image is None else image.image.shape
        return 0 if shape is None else int(shape[0] * shape[1])

    def overlay_titles(self) -> tuple[list[str], titles.Parts | None, tuple[str, ...]]:
        """The title names the run whose boundary is shown, and its epoch."""
        run = self.frame.runs.get(self.overlay.shown) if self.overlay.shown is not None else None
        if run is None or run.boundary is None:
            return [self.title], None, ()
        label, epoch = run.label, run.boundary.epoch
        if run.seeded:  # one seed's boundary: the title says which (the label may be cut, not that)
            seed = run.seed_text.split(" (")[0]
            wordings = [
                f"Decision boundary — {label}, {run.seed_text}, epoch {epoch}",
                f"Boundary · {label} · {seed} · ep {epoch}",
                f"{label} · {seed} · ep {epoch}",
            ]
            return wordings, ("", label, f" · {seed} · ep {epoch}"), ()
        wordings = [f"Decision boundary — {label}, epoch {epoch}", f"Boundary · {label} · ep {epoch}"]
        return wordings, ("Boundary · ", label, f" · ep {epoch}"), ()

    def cell_titles(self, run: PlotRun, labels: list[str]) -> titles.CellTitles:
        return titles.cell_titles(run, labels, run.boundary.epoch if run.boundary is not None else None)

    def run_titled(self, run: PlotRun) -> None:
        self.frame.controls.rename_boundary_run(run.id, choice_label(run))

    def forget_run(self, run: PlotRun) -> None:
        self.frame.controls.remove_boundary_run(run.id)
        self.overlay.forget(run.id)

    def reset(self) -> None:
        self.points.forget_runs()
        self.overlay.reset()
        self.fit_title()
        self.frame.controls.clear_boundary_runs()

    def restyle(self) -> None:
        self.overlay.set_theme(self.frame.theme)
        self._redraw()

    # -- the training points and what is drawn
    def set_points(self, x: np.ndarray, y: np.ndarray, run: int | None = None) -> None:
        """Training points to draw (see ``LivePlots.set_points``; checked there)."""
        self.points.set(x, y, run)
        self.overlay.points.invalidate()
        self._redraw()

    def _redraw(self) -> None:
        for run in self.frame.runs.values():
            layer = self.items(run, "grid").get("bnd_points")
            if layer is not None:
                layer.invalidate()
            if run.boundary is not None:
                self.draw_run(run)

    def image(self, run_id: int | None = None) -> tuple[np.ndarray, QtCore.QRectF] | None:
        """The heatmap drawn (RGB, (nx, ny, 3) uint8) and its rectangle in data coordinates:
        the overlay's, or with ``run_id`` that run's grid cell's; None if none."""
        if run_id is None:
            image = self.overlay.image
        else:
            image = self.items(self.frame.runs[run_id], "grid").get("bnd_image")
        if image is None or image.image is None:
            return None
        return np.array(image.image), image.mapRectToParent(image.boundingRect())

    def point_count(self, run_id: int | None = None) -> int:
        """Training points drawn over the overlay boundary, or with ``run_id`` its grid cell."""
        if run_id is None:
            layer = self.overlay.points
        else:
            layer = self.items(self.frame.runs[run_id], "grid").get("bnd_points")
        return 0 if layer is None else len(layer)

    def _image(self, run_id: int) -> pg.ImageItem | None:
        if self.mode() == "grid":
            return self.items(self.frame.runs[run_id], "grid").get("bnd_image")
        return self.overlay.image if run_id == self.overlay.shown else None

    def _show(self, run: PlotRun) -> None:
        if run.boundary is None:
            return
        frame = self.frame
        self.overlay.show(run.id, run.boundary, self.points.get(run), frame.theme_name, frame.theme)
        self.fit_title()

    def _chosen(self, run_id: int | None) -> None:
        self.overlay.chosen = run_id
        target = run_id
        if target is None:
            with_boundary = [r.id for r in self.frame.runs.values() if r.boundary is not None]
            target = with_boundary[-1] if with_boundary else None
        if target in self.frame.runs:
            self._show(self.frame.runs[target])

    def _points_loaded(self) -> None:
        """Draw the training points rebuilt from the runs' dataset configs."""
        frame = self.frame
        self.overlay.points.invalidate()
        shown = frame.runs.get(self.overlay.shown) if self.overlay.shown is not None else None
        if shown is not None and frame.mode == "overlay":
            self.overlay.points.draw(self.points.get(shown), frame.theme_name, frame.theme["fg"])
        for run in frame.runs.values():
            layer = self.items(run, "grid").get("bnd_points")
            if layer is not None and frame.mode == "grid":
                layer.invalidate()
                layer.draw(self.points.get(run), frame.theme_name, frame.theme["fg"])
