"""Live training plots: learning rate, loss, accuracy and the decision boundary.

:class:`LivePlots` draws the engine's events (:mod:`optiscope.engine.events`) as they
arrive in batches from the worker bridge. It is a composition: run data lives in
Qt-free buffers (:mod:`.buffers`), axis ranges follow one policy (:mod:`.ranges`),
titles fit their room (:mod:`.titles`), the boundary view, hover readouts, legend,
export, grid layout and controls row each have their own module; this class owns the
plot items and routes each event batch to them.

It follows pyqtgraph's fast-plotting advice (CONVENTIONS rule 6): every curve keeps
growing numpy buffers and existing ``PlotDataItem``\\ s get one ``setData`` per batch,
with clip-to-view and 'peak' downsampling. The step axis is fixed to the planned number
of updates, so a growing curve does not re-range the view every batch, and the curves of
finished runs are cached as pixmaps, so a sweep costs one redrawn run per batch.

Layout: per-step plots on the left (learning rate above loss, x axes linked), per-epoch
plots on the right (accuracy above the decision boundary). In *overlay* mode every run
shares one set of axes; in *grid* mode loss, accuracy and boundary become small
multiples, one cell per run with shared axes, as the learning-rate studies show sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui import pg_adapter
from optiscope.gui.colors import readable_color, run_color
from optiscope.gui.plots import boundary, export, hover, items, lesson_marks, overlap, presentation, titles
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.controls import PlotControls
from optiscope.gui.plots.grid import GRID_COLUMNS, SmallMultiples
from optiscope.gui.plots.legend import LegendStrip, legend_document
from optiscope.gui.plots.ranges import RangeKeeper, wanted_ranges
from optiscope.gui.plots.style import (
    AXIS_LABELS,
    CELL_LABELS,
    PLOT_NAMES,
    SHORT_AXIS_LABELS,
    THEMES,
    label_style,
    raw_pen,
    style_axes,
)
from optiscope.gui.smoothing import check_smoothing
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Signal

__all__ = ["LivePlots", "Mode"]

Mode = Literal["overlay", "grid"]
PIXMAP_CACHE_KB = 128 * 1024  # room for the cached curves of a sweep (QPixmapCache)
PLOT_MIN_W, PLOT_MIN_H = 200, 160  # overlay plots: two columns fit in ~900 px
DOTTED_MAX_EPOCHS = 40  # runs of at most this many epochs get a dot on every per-epoch value
_DRAWN = frozenset(
    {ev.EpochEnd, ev.LRReduced, ev.EarlyStopped, ev.Diverged, ev.Boundary, ev.Finished, ev.Failed}
)


class _Run(RunData):
    """One run's data and the plot items that show it.

    ``items["lr"]``: the curve in the (always shown) LR plot; ``items["overlay"]`` /
    ``items["grid"]``: loss and accuracy items of that mode (grid items exist once the
    run has grid cells); ``cells``: the run's grid cells by plot name.
    """

    def __init__(self, run_id: int, beta: float) -> None:
        super().__init__(run_id, beta)
        self.color = run_color(run_id)
        self.items: dict[str, dict[str, Any]] = {"lr": {}, "overlay": {}, "grid": {}}
        self.cells: dict[str, pg.PlotItem] = {}

    def curves(self) -> list[pg.PlotDataItem]:
        return [i for group in self.items.values() for i in group.values() if isinstance(i, pg.PlotDataItem)]


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
        self._warmups: dict[int, pg.LinearRegionItem] = {}
        self._fitted_titles: dict[str, tuple[str, str]] = {}  # overlay plot -> (html, colour) shown
        self._shared_groups: list[list[int]] = []  # runs with identical LR curves
        self._titled_labels: tuple[str, ...] = ()  # the run labels the grid cells were titled for
        self._points = boundary.TrainingPoints(self, self._points_loaded)
        self._ranges = RangeKeeper(self._range_targets, self._set_grid_ticks, self._draw_all_marks)
        self._ranges.set_policy(
            lambda: wanted_ranges(self._runs.values(), self._max_steps, self._max_epochs, self._log_loss)
        )
        self._controls = PlotControls()
        self._controls.mode_chosen.connect(self.set_mode)
        self._controls.smoothing_chosen.connect(self.set_smoothing)
        self._controls.log_loss_toggled.connect(self.set_log_loss)
        self._controls.boundary_chosen.connect(self._boundary_chosen)
        self._legend = LegendStrip()
        self._legend.run_clicked.connect(self._on_legend_clicked)
        self._look = presentation.Look()
        self._annotations = lesson_marks.Annotations()
        self._theme_before_presenting = "auto"
        self._build_plots()
        self.set_theme("auto")

    # ------------------------------------------------------------------ construction
    def _build_plots(self) -> None:
        self._views: list[pg.GraphicsView] = []
        self._hovers: dict[int, hover.Hover] = {}
        self._lr_w, self._loss_w, self._acc_w, self._bnd_w = (self._plot_widget() for _ in range(4))
        self._lr, self._loss = self._lr_w.getPlotItem(), self._loss_w.getPlotItem()
        self._acc, self._bnd = self._acc_w.getPlotItem(), self._bnd_w.getPlotItem()
        self._lr.setLogMode(x=False, y=True)
        self._lr.setYRange(-4, -1, padding=0.03)  # empty: three decades, not 1..10 in minor ticks
        self._loss.setXLink(self._lr)
        for name, (plot, view) in self._overlay_plots().items():
            view.on_resize = lambda n=name: self._fit_title(n)
            plot.vb.sigResized.connect(lambda _vb, n=name: self._fit_axis_labels(n))
        # markers of every run share one scatter per plot (a handful of points)
        self._marks = {
            "lr": pg.ScatterPlotItem(),
            "loss": pg.ScatterPlotItem(),
            "accuracy": pg.ScatterPlotItem(),
        }
        for name, plot in (("lr", self._lr), ("loss", self._loss), ("accuracy", self._acc)):
            self._marks[name].setZValue(50)
            plot.addItem(self._marks[name])
        self._boundary = boundary.OverlayBoundary(self._bnd)
        for plot, key in (
            (self._lr, "overlay:lr"),
            (self._loss, "overlay:loss"),
            (self._acc, "overlay:accuracy"),
        ):
            self._ranges.watch(plot, key)
        self._hover(self._lr_w).add(self._lr, lambda x, y, tol: hover.readout_lr(self._runs.values(), x, tol))
        self._hover(self._loss_w).add(self._loss, lambda x, y, tol: self._readout_loss(x, tol, None))
        self._hover(self._acc_w).add(
            self._acc, lambda x, y, tol: hover.readout_accuracy(self._runs.values(), x)
        )
        self._hover(self._bnd_w).add(self._bnd, lambda x, y, tol: self._readout_boundary(x, y, None))

        self._grid = SmallMultiples(self, self._title_cells, self._fill_grid)
        self._stacks: dict[str, QtWidgets.QStackedWidget] = {}
        self._boundary_folded = False
        for name, overlay in (("loss", self._loss_w), ("accuracy", self._acc_w), ("boundary", self._bnd_w)):
            view = self._grid.views[name]
            self._views.append(view)
            self._hover(view)
            stack = QtWidgets.QStackedWidget()
            stack.addWidget(overlay)
            stack.addWidget(view)
            self._stacks[name] = stack

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

    def _plot_widget(self) -> items.FitView:
        w = items.FitView()
        w.setMinimumSize(PLOT_MIN_W, PLOT_MIN_H)
        self._views.append(w)
        return w

    def _hover(self, view: pg.GraphicsView) -> hover.Hover:
        h = self._hovers.get(id(view))
        if h is None:
            h = self._hovers[id(view)] = hover.Hover(view, self._theme)
        return h

    def _overlay_plots(self) -> dict[str, tuple[pg.PlotItem, pg.PlotWidget]]:
        return {
            "lr": (self._lr, self._lr_w),
            "loss": (self._loss, self._loss_w),
            "accuracy": (self._acc, self._acc_w),
            "boundary": (self._bnd, self._bnd_w),
        }

    # ------------------------------------------------------------------ styling
    def set_theme(self, theme: str = "auto") -> None:
        """Light or dark plot backgrounds; "auto" follows the application palette."""
        if theme == "auto":
            app = QtWidgets.QApplication.instance()
            window = app.palette().color(QtGui.QPalette.ColorRole.Window) if app is not None else None
            theme = "dark" if window is not None and window.lightness() < 128 else "light"
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)} or 'auto', got {theme!r}")
        if self._look.presenting:
            theme = "contrast"  # the window's theme returns when presentation ends
        self._theme_name, self._theme = theme, THEMES[theme]
        for view in self._views:
            view.setBackground(self._theme["bg"])
        for h in self._hovers.values():
            h.set_theme(self._theme)
        self._boundary.set_theme(self._theme)
        for region in self._warmups.values():
            pg_adapter.recolour_region_labels(region, self._theme["muted"])
        self._update_legend()
        for name, (plot, _) in self._overlay_plots().items():
            style_axes(plot, *AXIS_LABELS[name], self._theme)
            self._fit_axis_labels(name)
        self._fit_titles()
        for name, order in self._grid.order.items():
            for rid in order:
                self._style_cell(name, self._runs[rid])
        for run in self._runs.values():
            self._look.style_run(run, self._theme["bg"])  # raw pens and casings follow the background
            for group in run.items.values():
                for item in group.values():
                    if isinstance(item, pg.InfiniteLine) and getattr(item, "label", None) is not None:
                        self._style_guide_label(item)
        for run in self._runs.values():
            if "bnd_points" in run.items["grid"]:
                run.items["grid"]["bnd_points"].invalidate()
            if run.boundary is not None:
                self._draw_boundary(run)
        self._draw_all_marks(every_mode=True)  # the hidden mode's markers too

    # -- presentation mode and spotlight
    def set_presentation(self, on: bool) -> None:
        """Projector look: larger text, thicker curves, high contrast, Okabe-Ito colours and
        one line style per run (see :mod:`.presentation`); off restores the normal look."""
        if on == self._look.presenting:
            return
        if on:
            self._theme_before_presenting = self._theme_name
        self._look.set_presenting(on)
        self._controls.setVisible(not on)  # the room for the plots; F11 brings them back
        for run in self._runs.values():
            run.color = run_color(run.id)
        self.set_theme("contrast" if on else self._theme_before_presenting)
        self._restyle_runs()
        self._fit_boundary_room()

    def _fit_boundary_room(self) -> None:
        """Presenting a race without a 2D dataset, the loss plot takes the decision boundary's
        quarter too: an empty placeholder tells a class nothing, a wider loss plot does."""
        from optiscope.engine.config import SYNTHETIC_DATASETS

        has_2d = any(
            (run.config.get("dataset") or {}).get("name") in SYNTHETIC_DATASETS for run in self._runs.values()
        )
        # between runs (cleared, the next not started yet) the room stays as it was: no jump
        fold = self._look.presenting and (not has_2d if self._runs else self._boundary_folded)
        if fold == self._boundary_folded:
            return
        self._boundary_folded = fold
        layout = self.layout()
        layout.removeWidget(self._stacks["loss"])
        layout.addWidget(self._stacks["loss"], 3, 0, 1, 2 if fold else 1)
        self._stacks["boundary"].setVisible(not fold)
        # linked views line up their ranges on screen: twice as wide, the loss plot would show
        # twice the steps; folded, it takes the steps' range itself (see _range_targets)
        self._loss.setXLink(None if fold else self._lr)
        self._ranges.forget("x:steps")
        self._ranges.update()

    @property
    def boundary_folded(self) -> bool:
        """True while the loss plot has the decision boundary's room (see set_presentation)."""
        return self._boundary_folded

    @property
    def presenting(self) -> bool:
        return self._look.presenting

    def spotlight(self, run_id: int | None) -> None:
        """Fade every run but ``run_id`` (None: show all runs alike)."""
        self._look.spotlight = run_id if run_id in self._runs else None
        self._restyle_runs()

    @property
    def spotlit(self) -> int | None:
        """The spotlighted run, or None."""
        return self._look.spotlight

    # -- lesson annotations
    def annotate(self, name: str, run_id: int, x: float, y: float, caption: str) -> None:
        """Mark (x, y) on overlay plot ``name`` ("lr", "loss", "accuracy") with ``caption`` in
        run ``run_id``'s colour (a lesson's observation); :meth:`clear` removes them."""
        plot = self._overlay_plots()[name][0]
        log_y = name == "lr" or (name == "loss" and self._log_loss)
        colour = readable_color(run_color(run_id), self._theme["bg"])  # a caption must read
        self._annotations.add(name, plot, x, y, caption, colour, log_y, self._theme["fill"])

    def annotations(self) -> list[tuple[str, float, float, str]]:
        """The annotations shown: (plot name, x, y in axis units, caption)."""
        return [s[:4] for s in self._annotations.shown]

    def caption_layout(self, name: str) -> tuple[QtCore.QRectF, list[QtCore.QRectF], list[str]]:
        """Overlay plot ``name``'s data area, its shown captions' rectangles (scene pixels)
        and the captions hidden for want of room."""
        plot = self._overlay_plots()[name][0]
        return (
            plot.vb.sceneBoundingRect(),
            self._annotations.caption_rects(name),
            self._annotations.hidden_captions(name),
        )

    def _on_legend_clicked(self, run_id: int) -> None:
        self.spotlight(None if self._look.spotlight == run_id else run_id)

    def _restyle_runs(self) -> None:
        for run in self._runs.values():
            self._look.style_run(run, self._theme["bg"])
        self._update_legend()
        self._draw_all_marks(every_mode=True)

    @property
    def theme(self) -> str:
        """The plots' theme: "light" or "dark"."""
        return self._theme_name

    def _style_cell(self, name: str, run: _Run) -> None:
        """Style a grid cell; axis labels only on the left column and the bottom row."""
        cell = run.cells.get(name)
        if cell is None:
            return
        k = self._grid.order[name].index(run.id)
        xlabel, ylabel = CELL_LABELS[name]
        bottom = self._grid.is_bottom_row(name, k)
        style_axes(
            cell,
            xlabel if bottom else None,
            ylabel if k % GRID_COLUMNS == 0 else None,
            self._theme,
            cell=True,
        )
        self._title_cell(name, run)

    def _find_shared_lr(self) -> None:
        """Find the runs whose LR curves are identical; if that changed, draw each group's
        curves dashed in turn (see :mod:`.overlap`) and note it in the legend."""
        groups = overlap.identical_groups({r.id: r.lr.view() for r in self._runs.values()})
        shared = {rid: (i, len(g)) for g in groups for i, rid in enumerate(g)}
        if shared == self._look.shared_lr:
            return
        changed = set(shared) ^ set(self._look.shared_lr) | {
            r for r in shared if shared[r] != self._look.shared_lr.get(r)
        }
        self._look.shared_lr, self._shared_groups = shared, groups
        self._legend.notes = {rid: f"LR same as {self._runs[g[0]].label}" for g in groups for rid in g[1:]}
        for rid in changed:
            if rid in self._runs:
                self._look.style_run(self._runs[rid], self._theme["bg"])
        self._update_legend()

    def overlapping(self, name: str = "lr") -> list[list[int]]:
        """Groups of runs (ids) whose curves on plot ``name`` are identical and drawn in turn
        (only the LR plot is checked: equal learning rates are the common case)."""
        return [list(g) for g in self._shared_groups] if name == "lr" else []

    def _update_legend(self) -> None:
        spot = self._look.spotlight
        self._legend.faded = {r for r in self._runs if spot is not None and r != spot}
        self._legend.show_runs(self._runs.values())

    def _title_cell(self, name: str, run: _Run) -> None:
        cell = run.cells.get(name)
        if cell is not None:
            labels = [r.label for r in self._runs.values()]
            titles.fit_cell_title(cell, self._grid.cell_width(name), name, run, run.color, labels)

    def _title_cells(self, name: str) -> None:
        for rid in self._grid.order[name]:
            self._title_cell(name, self._runs[rid])

    def _fit_titles(self) -> None:
        for name in self._overlay_plots():
            self._fit_title(name)

    def _fit_axis_labels(self, name: str) -> None:
        """Overlay plot ``name``'s axis labels in the longest wording that fits each axis."""
        plot = self._overlay_plots()[name][0]
        for side, full, shorter in zip(
            ("bottom", "left"), AXIS_LABELS[name], SHORT_AXIS_LABELS[name], strict=True
        ):
            titles.fit_axis_label(plot.getAxis(side), (full, *shorter), label_style(self._theme))

    def _fit_title(self, name: str) -> None:
        """Title overlay plot ``name`` with the longest wording that fits its width."""
        plot, view = self._overlay_plots()[name]
        axis = plot.getAxis("left")
        width = view.width() - (axis.width() if axis.isVisible() else 0)
        shown = self._runs.get(self._boundary.shown) if self._boundary.shown is not None else None
        candidates = titles.overlay_title(name, shown)
        self._fitted_titles[name] = titles.fit_overlay_title(
            plot, width, candidates, self._theme, self._fitted_titles.get(name), self._look.presenting
        )

    # ------------------------------------------------------------------ public API
    def clear(self) -> None:
        """Forget all runs (a new experiment)."""
        for run in list(self._runs.values()):
            self._remove_run_items(run)
        self._runs.clear()
        self._find_shared_lr()
        self._annotations.clear()
        for region in self._warmups.values():
            self._lr.removeItem(region)
        self._warmups.clear()
        self._grid.clear()
        self._fit_boundary_room()
        self._max_steps = self._max_epochs = 0
        self._ranges.reset()
        self._points.forget_runs()
        self._boundary.reset()
        self._fit_title("boundary")
        self._controls.clear_boundary_runs()
        self._draw_all_marks()
        self._update_legend()
        for plot in (self._lr, self._loss, self._acc):
            plot.enableAutoRange()

    def remove_run(self, run_id: int) -> None:
        """Take run ``run_id`` off every plot (e.g. a past run overlaid from the run store)."""
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        self._remove_run_items(run)
        self._find_shared_lr()
        self._draw_all_marks()
        self._update_legend()

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
            chosen = self._boundary.chosen
            run = self._runs.get(last_boundary if chosen is None else chosen)
            if run is not None and run.boundary is not None and "boundary" in dirty.get(run.id, ()):
                self._show_overlay_boundary(run)
        if any(flags & {"steps", "all"} for flags in dirty.values()):
            self._find_shared_lr()
        if dirty and self._ranges.update():
            marks = True  # markers above the loss axis wait at its top edge
        if marks:
            self._draw_all_marks()
        if self._grid.building:
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
        self._ranges.forget()
        self._ranges.update()
        self._draw_all_marks()
        self._fill_grid()
        self._controls.show_mode(mode)
        self.mode_changed.emit(mode)

    @property
    def mode(self) -> Mode:
        """The view mode: "overlay" or "grid"."""
        return self._mode

    @property
    def building(self) -> bool:
        """True while grid cells are still being built (they fill in over a few frames)."""
        return self._grid.building

    def set_smoothing(self, value: float) -> None:
        """Smoothing weight of the loss curves' debiased EMA, 0 (raw) to 0.999 (default 0.6)."""
        beta = check_smoothing(value)
        if beta == self._beta:
            return
        self._beta = beta
        for run in self._runs.values():
            run.resmooth(beta)
            self._sync(run, {"smooth"})
        self._ranges.update()
        self._draw_all_marks()
        self._controls.show_smoothing(beta)
        self.smoothing_changed.emit(beta)

    @property
    def smoothing(self) -> float:
        """The smoothing weight of the loss curves."""
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
        self._ranges.forget("y:loss")
        self._ranges.update()
        self._draw_all_marks()
        self._controls.show_log_loss(on)

    @property
    def log_loss(self) -> bool:
        """Whether the loss axis is logarithmic."""
        return self._log_loss

    def color_for(self, run_id: int) -> QtGui.QColor:
        """The colour of ``run_id`` in every plot and legend (a copy)."""
        return run_color(run_id)

    def plot_items(self) -> dict[str, pg.PlotItem | QtWidgets.QWidget]:
        """Plot name -> the widget currently showing it (what the exports render)."""
        if self._mode == "grid":
            return {"lr": self._lr_w, **{name: self._grid.views[name] for name in PLOT_NAMES[1:]}}
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
            its = run.items[self._mode]
            counts["lr"][rid] = items.finite_count(run.items["lr"].get("lr"))
            counts["loss"][rid] = items.finite_count(its.get("raw"))
            counts["accuracy"][rid] = items.finite_count(its.get("acc_train"))
            image = self._boundary_image_item(rid)
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

    # -- read-only views of what is on screen (for tests and tools)
    def plot(self, name: str, run_id: int | None = None) -> pg.PlotItem:
        """The plot showing ``name``: the overlay plot, or with ``run_id`` that run's grid cell
        (KeyError if it has none yet); "lr" is one plot in both modes."""
        if name not in PLOT_NAMES:
            raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(PLOT_NAMES)}")
        if run_id is None or name == "lr":
            return self._overlay_plots()[name][0]
        return self._runs[run_id].cells[name]

    def title(self, name: str, run_id: int | None = None) -> list[str]:
        """The lines of the title shown on :meth:`plot` ``(name, run_id)`` (plain text)."""
        return pg_adapter.title_text(self.plot(name, run_id).titleLabel).split("\n")

    def curve(self, run_id: int, key: str) -> pg.PlotDataItem:
        """The curve ``key`` of ``run_id`` in the current mode ("lr", "raw", "smooth",
        "val_loss", "acc_train", "acc_val"; see :meth:`series`)."""
        run = self._runs[run_id]
        return run.items["lr"][key] if key == "lr" else run.items[self._mode][key]

    def drawn_markers(self, name: str, run_id: int | None = None) -> list[tuple[float, float, str, str]]:
        """The markers drawn on plot ``name`` ("lr", "loss", "accuracy"): (x, y in axis units,
        i.e. log10 on a log axis and clamped to the axis' top, symbol, edge colour). Without
        ``run_id`` the overlay plot's (every run); with it, that run's grid cell."""
        if run_id is None or name == "lr":
            return pg_adapter.scatter_spots(self._marks[name])
        scatter = self._runs[run_id].items["grid"].get("marks_loss" if name == "loss" else "marks_acc")
        return [] if scatter is None else pg_adapter.scatter_spots(scatter)

    def guide_lines(self, run_id: int) -> dict[str, tuple[float, str]]:
        """The run's dashed guide lines shown in the current mode: key ("loss_best",
        "acc_best", "loss_div") -> (x, label text)."""
        out = {}
        for key, item in self._runs[run_id].items[self._mode].items():
            if isinstance(item, pg.InfiniteLine) and item.isVisible():
                out[key] = (float(item.value()), item.label.toPlainText())
        return out

    def hover_text(self, name: str, run_id: int | None = None) -> str | None:
        """The plain text of the hover readout shown on :meth:`plot` ``(name, run_id)``, or None."""
        plot = self.plot(name, run_id)
        for h in self._hovers.values():
            text = h.text(plot)
            if text is not None:
                return text
        return None

    def hover_rect(self, name: str, run_id: int | None = None) -> QtCore.QRectF | None:
        """The scene rectangle of the hover readout shown on :meth:`plot`, or None."""
        plot = self.plot(name, run_id)
        for h in self._hovers.values():
            rect = h.scene_rect(plot)
            if rect is not None:
                return rect
        return None

    def legend_lines(self) -> list[str]:
        """The legend strip's lines as wrapped at its width (plain text)."""
        return self._legend.lines()

    @property
    def legend_text(self) -> str:
        """The legend strip above the plots, as plain text."""
        return self._legend.plain_text()

    @property
    def controls(self) -> PlotControls:
        """The controls row (view mode, smoothing, log loss axis, boundary choice)."""
        return self._controls

    def boundary_image(self, run_id: int | None = None) -> tuple[np.ndarray, QtCore.QRectF] | None:
        """The boundary heatmap drawn (RGB, (nx, ny, 3) uint8) and its rectangle in data
        coordinates: the overlay's, or with ``run_id`` that run's grid cell's; None if none."""
        image = self._boundary.image if run_id is None else self._runs[run_id].items["grid"].get("bnd_image")
        if image is None or image.image is None:
            return None
        return np.array(image.image), image.mapRectToParent(image.boundingRect())

    def boundary_point_count(self, run_id: int | None = None) -> int:
        """Training points drawn over the overlay boundary, or with ``run_id`` its grid cell."""
        layer = (
            self._boundary.points if run_id is None else self._runs[run_id].items["grid"].get("bnd_points")
        )
        return 0 if layer is None else len(layer)

    def warmup_regions(self) -> list[tuple[float, float, list[str]]]:
        """The shaded warm-up phases on the LR plot: (start, end, label colours)."""
        return [(*r.getRegion(), pg_adapter.region_label_colours(r)) for r in self._warmups.values()]

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
            Number of classes (default: ``max(y) + 1``); the colours follow the class index.
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
        self._points.set(x, y.astype(np.int64), run)
        self._boundary.points.invalidate()
        for r in self._runs.values():
            if "bnd_points" in r.items["grid"]:
                r.items["grid"]["bnd_points"].invalidate()
            if r.boundary is not None:
                self._draw_boundary(r)

    def export_png(self, name: str, path: str | Path, scale: float = 2.0) -> None:
        """Save plot ``name`` as a PNG at ``scale`` times its on-screen size (written atomically).

        Overlay plots get the run legend underneath. Raises ValueError for an unknown
        name, FileNotFoundError for a missing folder, OSError if the file cannot be written.
        """
        widget, path = self._export_target(name, path)
        with self._export_steps_fitted(name):
            export.export_png(
                widget,
                path,
                background=self._theme["bg"],
                legend=self._export_legend(name, widget.width()),
                curves=self._all_curves(),
                scale=scale,
            )

    def export_svg(self, name: str, path: str | Path) -> None:
        """Save plot ``name`` as an SVG via QSvgGenerator + ``render()`` (written atomically).

        Curves and markers are vector paths; overlay plots get the run legend underneath.
        """
        widget, path = self._export_target(name, path)
        with self._export_steps_fitted(name):
            export.export_svg(
                widget,
                path,
                title=f"Optiscope — {name}",
                background=self._theme["bg"],
                legend=self._export_legend(name, widget.width()),
                curves=self._all_curves(),
            )

    def _export_steps_fitted(self, name: str) -> AbstractContextManager[None]:
        """The steps axis of an exported overlay LR or loss plot fitted to the data
        (:func:`export.steps_fitted`); anything else is exported as shown."""
        last_step = max((r.steps.view()[-1] for r in self._runs.values() if len(r.steps)), default=0.0)
        if name not in ("lr", "loss") or (name == "loss" and self._mode == "grid") or not last_step > 0:
            return nullcontext()
        return export.steps_fitted(
            self._lr, self._loss, linked=not self._boundary_folded, last_step=float(last_step)
        )

    def _export_target(self, name: str, path: str | Path) -> tuple[QtWidgets.QWidget, Path]:
        widgets = self.plot_items()
        if name not in widgets:
            raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(PLOT_NAMES)}")
        widget = widgets[name]
        return widget, export.prepare_target(widget, name, path)

    def _export_legend(self, name: str, width: int) -> QtGui.QTextDocument | None:
        """The run legend drawn under exported plots that overlay several runs."""
        if not self._runs or name == "boundary" or (name != "lr" and self._mode == "grid"):
            return None
        return legend_document(
            self._runs.values(), width, self._theme["fg"], self._legend.notes, self._theme["bg"]
        )

    def _all_curves(self) -> list[pg.PlotDataItem]:
        return [c for run in self._runs.values() for c in run.curves()]

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
        run.start(e)
        self._mark_warmup(run)
        if 0 < run.epochs_planned <= DOTTED_MAX_EPOCHS:
            for mode in ("overlay", "grid"):
                for key in ("val_loss", "acc_train", "acc_val"):
                    if key in run.items[mode]:
                        items.dot(run.items[mode][key], run.color)
        self._max_steps = max(self._max_steps, run.total_steps)
        self._max_epochs = max(self._max_epochs, run.epochs_planned)
        self._fit_boundary_room()

    def _remove_run_items(self, run: _Run) -> None:
        for item in run.items["lr"].values():
            self._lr.removeItem(item)
        for key, item in run.items["overlay"].items():
            (self._acc if key.startswith("acc") else self._loss).removeItem(item)
        self._grid.unqueue(run.id)
        for name, cell in run.cells.items():
            self._hover(self._grid.views[name]).remove(cell)
            self._grid.remove(name, run.id, cell)
        self._controls.remove_boundary_run(run.id)
        self._boundary.forget(run.id)

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
        pg.InfLineLabel(
            region.lines[1],
            text=label,
            position=position,
            anchors=[(1, 0), (1, 0)],
            color=self._theme["muted"],
        )
        self._lr.addItem(region, ignoreBounds=True)
        self._warmups[end] = region

    def _create_items(self, run: _Run) -> None:
        """The run's (empty) curves in the LR plot and the overlay plots; grid cells if shown."""
        lr = items.curve(pg.mkPen(run.color, width=2), antialias=False, method="subsample")
        items.add_curve(self._lr, lr)
        run.items["lr"] = {"lr": lr}
        loss, acc = items.curve_items(self._loss, self._acc, run.color, raw_pen(run.color, self._theme["bg"]))
        run.items["overlay"] = {**loss, **acc}
        self._look.style_run(run, self._theme["bg"])
        self._update_legend()
        if self._mode == "grid":
            self._ensure_cells(run)

    # ------------------------------------------------------------------ grid cells
    def _ensure_cells(self, run: _Run) -> None:
        """Queue the run for grid cells it lacks; :meth:`_fill_grid` builds them."""
        if self._mode != "grid" or self._grid.queued(run.id):
            return
        if "loss" not in run.cells or (run.boundary is not None and "boundary" not in run.cells):
            self._grid.queue(run.id)

    def _fill_grid(self) -> None:
        """Build queued grid cells, a few per frame (see :meth:`SmallMultiples.fill`)."""
        if self._mode != "grid":
            self._grid.cancel()
            return
        self._grid.fill(self._build_run_cells, self._cells_built)

    def _build_run_cells(self, run_id: int) -> bool:
        run = self._runs.get(run_id)
        if run is None:
            return False
        self._build_cells(run)
        self._sync(run, {"all"})
        return True

    def _cells_built(self) -> None:
        self._ranges.update()
        self._draw_all_marks()

    def _build_cells(self, run: _Run) -> None:
        """Create the run's loss and accuracy grid cells (and its boundary cell once it has one)."""
        if "loss" not in run.cells:
            loss_cell, acc_cell = self._new_cell("loss", run), self._new_cell("accuracy", run)
            loss, acc = items.curve_items(
                loss_cell, acc_cell, run.color, raw_pen(run.color, self._theme["bg"])
            )
            marks = {"marks_loss": pg.ScatterPlotItem(), "marks_acc": pg.ScatterPlotItem()}
            loss_cell.addItem(marks["marks_loss"])
            acc_cell.addItem(marks["marks_acc"])
            run.items["grid"].update({**loss, **acc, **marks})
            self._look.style_run(run, self._theme["bg"])
            if 0 < run.epochs_planned <= DOTTED_MAX_EPOCHS:
                for key in ("val_loss", "acc_train", "acc_val"):
                    items.dot(run.items["grid"][key], run.color)
        if run.boundary is not None and "boundary" not in run.cells:
            cell = self._new_cell("boundary", run)
            image, points = pg.ImageItem(axisOrder="col-major"), pg.ScatterPlotItem(size=5, pxMode=True)
            cell.addItem(image)
            cell.addItem(points)
            run.items["grid"].update(bnd_image=image, bnd_points=boundary.PointLayer(points))

    def _new_cell(self, name: str, run: _Run) -> pg.PlotItem:
        cell, k = self._grid.place(name, run.id)
        order = self._grid.order[name]
        run.cells[name] = cell
        if name == "boundary":
            cell.setAspectLocked(True)

            def lookup(x: float, y: float, tol: float, rid: int = run.id) -> str | None:
                return self._readout_boundary(x, y, rid)
        else:
            cell.enableAutoRange(x=False, y=False)  # the RangeKeeper sets the shared ranges
            if name == "loss":
                cell.setLogMode(x=False, y=self._log_loss)

                def lookup(x: float, y: float, tol: float, rid: int = run.id) -> str | None:
                    return self._readout_loss(x, tol, rid)
            else:

                def lookup(x: float, y: float, tol: float, rid: int = run.id) -> str | None:
                    return hover.readout_accuracy(self._runs_for(rid), x)

        if k and name != "boundary":  # shared axes; boundary cells each fit their own grid
            first = self._runs[order[0]].cells[name]
            cell.enableAutoRange(x=False, y=False)
            cell.setXLink(first)
            cell.setYLink(first)
        self._hover(self._grid.views[name]).add(cell, lookup)
        if k == 0:
            self._ranges.watch(cell, f"grid:{name}")
            self._ranges.forget()  # the new first cell needs the shared ranges
        else:  # re-apply the shared x range: it also sets every cell's tick spacing
            self._ranges.forget({"loss": "x:steps", "accuracy": "x:epochs"}.get(name, ""))
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
        its = run.items[self._mode]
        steps = run.steps.view()
        if everything or "steps" in flags:
            run.items["lr"]["lr"].setData(steps, run.lr.view())
        if self._mode == "grid" and "loss" not in run.cells:  # cells queued: drawn in full once built
            self._ensure_cells(run)
            if everything or flags & {"status", "markers"}:
                self._retitle(run)
            return everything or bool(flags & {"markers", "smooth"})
        if everything or "steps" in flags:
            its["raw"].setData(steps, run.loss.view())
        if everything or flags & {"steps", "smooth"}:
            its["smooth"].setData(steps, run.smooth.view())
        if everything or "epochs" in flags:
            ep = run.epoch.view()
            its["val_loss"].setData(run.epoch_step.view(), run.val_loss.view())
            its["acc_train"].setData(ep, run.train_acc.view())
            its["acc_val"].setData(ep, run.val_acc.view())
        if everything or flags & {"status", "markers"}:
            self._retitle(run)
        if everything or "status" in flags:
            items.set_cached(run.curves(), run.finished)
        if (everything or "boundary" in flags) and run.boundary is not None:
            self._draw_boundary(run, overlay=everything)
        if everything or "markers" in flags:
            self._draw_lines(run)
        return everything or bool(flags & {"markers", "smooth"})

    def _retitle(self, run: _Run) -> None:
        """Show the run's label and status in the legends, grid titles and boundary choice."""
        self._update_legend()
        labels = tuple(r.label for r in self._runs.values())
        if labels != self._titled_labels:  # what tells the runs apart changed: every cell's title
            self._titled_labels = labels
            for name in self._grid.order:
                self._title_cells(name)
        else:
            for name in run.cells:
                self._title_cell(name, run)
        self._controls.rename_boundary_run(run.id, run.label)

    def _draw_all_marks(self, every_mode: bool = False) -> None:
        """Markers of every run: shared scatters in overlay mode, one per cell in grid mode
        (both with ``every_mode``, e.g. after a theme change)."""
        log = {"lr": True, "loss": self._log_loss, "accuracy": False}
        top = {"lr": math.inf, "loss": math.inf, "accuracy": math.inf}
        loss_range = self._ranges.last("y:loss")
        if not self._log_loss and loss_range is not None:
            top["loss"] = loss_range[1]
        fg = self._theme["fg"]
        if self._mode == "overlay" or every_mode:
            merged: dict[str, list] = {"lr": [], "loss": [], "accuracy": []}
            for run in self._runs.values():
                for name, spots in run.spots().items():
                    merged[name].extend((x, y, s, run.color) for x, y, s in spots)
            for name, spots in merged.items():
                items.scatter(self._marks[name], spots, log[name], fg, top[name])
        if self._mode == "overlay":
            return
        lr_spots = []
        for run in self._runs.values():
            spots = run.spots()
            lr_spots.extend((x, y, s, run.color) for x, y, s in spots["lr"])
            for name, key in (("loss", "marks_loss"), ("accuracy", "marks_acc")):
                if key in run.items["grid"]:
                    run_spots = [(x, y, s, run.color) for x, y, s in spots[name]]
                    items.scatter(run.items["grid"][key], run_spots, log[name], fg, top[name])
        items.scatter(self._marks["lr"], lr_spots, True, fg)

    def _draw_lines(self, run: _Run) -> None:
        """Dashed vertical lines at the best epoch and at the divergence, with labels."""
        its = run.items[self._mode]
        for key, want in run.guide_lines().items():
            line = its.get(key)
            if want is None:
                if line is not None:
                    line.hide()
                continue
            if line is None:
                on_acc = key == "acc_best"
                if self._mode == "grid":
                    plot = run.cells.get("accuracy" if on_acc else "loss")
                else:
                    plot = self._acc if on_acc else self._loss
                if plot is None:
                    continue
                line = its[key] = items.vline(run.color)
                plot.addItem(line, ignoreBounds=True)
            moved = not line.isVisible() or line.value() != want[0] or line.label.format != want[1]
            line.setPos(want[0])
            line.label.setFormat(want[1])
            self._style_guide_label(line)
            line.show()
            if moved and self._mode == "overlay":  # captions make way for the label
                self._annotations.place(self._acc if key == "acc_best" else self._loss)

    def _style_guide_label(self, line: pg.InfiniteLine) -> None:
        """A guide line's label on the theme's nearly opaque fill: curves do not cross its text."""
        pg_adapter.set_text_box_style(line.label, pg.mkPen(None), pg.mkBrush(*self._theme["fill"]))

    # ------------------------------------------------------------------ boundary
    def _boundary_chosen(self, run_id: int | None) -> None:
        self._boundary.chosen = run_id
        target = run_id
        if target is None:
            with_boundary = [r.id for r in self._runs.values() if r.boundary is not None]
            target = with_boundary[-1] if with_boundary else None
        if target in self._runs:
            self._show_overlay_boundary(self._runs[target])

    def _boundary_image_item(self, run_id: int) -> pg.ImageItem | None:
        if self._mode == "grid":
            return self._runs[run_id].items["grid"].get("bnd_image")
        return self._boundary.image if run_id == self._boundary.shown else None

    def _draw_boundary(self, run: _Run, overlay: bool = True) -> None:
        """Draw the run's latest boundary in its grid cell; in overlay mode (if ``overlay``)
        in the single heatmap, when it is the run chosen there or no run is chosen."""
        self._controls.add_boundary_run(run.id, run.label)
        if self._mode == "grid":
            if "boundary" not in run.cells:
                self._ensure_cells(run)  # drawn once its cell is built
                return
            its = run.items["grid"]
            boundary.set_heatmap(its["bnd_image"], run.boundary, self._theme["bg"])
            its["bnd_points"].draw(self._points.get(run), self._theme_name, self._theme["fg"])
            self._title_cell("boundary", run)
        elif overlay and self._boundary.follows(run.id):
            self._show_overlay_boundary(run)

    def _show_overlay_boundary(self, run: _Run) -> None:
        if run.boundary is None:
            return
        self._boundary.show(run.id, run.boundary, self._points.get(run), self._theme_name, self._theme)
        self._fit_title("boundary")

    def _points_loaded(self) -> None:
        """Draw the training points rebuilt from the runs' dataset configs."""
        self._boundary.points.invalidate()
        shown = self._runs.get(self._boundary.shown) if self._boundary.shown is not None else None
        if shown is not None and self._mode == "overlay":
            self._boundary.points.draw(self._points.get(shown), self._theme_name, self._theme["fg"])
        for run in self._runs.values():
            if "bnd_points" in run.items["grid"] and self._mode == "grid":
                layer = run.items["grid"]["bnd_points"]
                layer.invalidate()
                layer.draw(self._points.get(run), self._theme_name, self._theme["fg"])

    # ------------------------------------------------------------------ axis ranges
    def _range_targets(self, key: str) -> list[tuple[str, pg.PlotItem]]:
        """(zoom key, plot) pairs whose range ``key`` sets: the overlay plot and the first grid cell."""
        what = key.split(":")[1]
        overlay = {
            "steps": self._lr,
            "epochs": self._acc,
            "lr": self._lr,
            "loss": self._loss,
            "accuracy": self._acc,
        }[what]
        name = {"steps": "loss", "epochs": "accuracy"}.get(what, what)
        out = [(f"overlay:{'lr' if overlay is self._lr else name}", overlay)]
        if what == "steps" and self._boundary_folded:  # the loss plot is not linked then
            out.append(("overlay:loss", self._loss))
        order = self._grid.order.get(name)
        if order:
            out.append((f"grid:{name}", self._runs[order[0]].cells[name]))
        return out

    def _set_grid_ticks(self, name: str, major: float) -> None:
        for rid in self._grid.order[name]:
            self._runs[rid].cells[name].getAxis("bottom").setTickSpacing(major, major / 5)

    # ------------------------------------------------------------------ hover readouts
    def _runs_for(self, rid: int | None) -> list[_Run]:
        if rid is None:
            return list(self._runs.values())
        return [self._runs[rid]] if rid in self._runs else []

    def _readout_loss(self, x: float, tol: float, rid: int | None) -> str | None:
        return hover.readout_loss(self._runs_for(rid), x, tol, self._theme["muted"])

    def _readout_boundary(self, x: float, y: float, rid: int | None) -> str | None:
        run = self._runs.get(self._boundary.shown if rid is None else rid)
        return hover.readout_boundary(run.boundary if run is not None else None, x, y)
