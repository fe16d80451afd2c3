"""One live plot as a part: what every plot is, and what the frame does for each of them.

A plot part (:class:`PlotPart`) is a class in its own module with one row in
:mod:`.registry`. It declares its facts (name, titles, axis labels, curve pens, which
shared axis ranges it follows, where it sits) and creates and fills its own items from a
run's buffers (:class:`PlotRun`); the frame (:mod:`.frame`, :mod:`.cells`,
:class:`~optiscope.gui.plots.live.LivePlots`) gives every registered part the same overlay
and grid views, theme and presentation styling, legend, hover readout, titles, markers,
guide lines, axis ranges, export and lesson marks, without code per plot. napari's
layer -> visual table (``_vispy/utils/visual.py``) is the model.

**Seeds.** With several seeds per runner (:mod:`.seeds`) every part gets the same three
things from this base, none written per plot: the runner's curves named in ``banded``
drawn as the mean over its seeds with a translucent 95 % band (a ``FillBetweenItem``
between the interval's low and high curves, from ``engine.seeds.seed_band``), each seed's
own curves drawn thin when "Show every seed" is on (hidden, and not fed, when it is off),
and a logarithmic step/epoch axis when "Log x axis" is on. A part that cannot average its
picture (the decision boundary) sets ``one_seed`` and shows the runner's first seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui import pg_adapter
from optiscope.gui.colors import run_color
from optiscope.gui.plots import items, titles
from optiscope.gui.plots.bands import RunnerBands
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.style import label_style, style_axes
from PySide6.QtCore import Qt

if TYPE_CHECKING:
    from optiscope.gui.plots.frame import PlotFrame

__all__ = [
    "Pen",
    "PlotRun",
    "PlotPart",
    "PLOT_MIN_W",
    "PLOT_MIN_H",
    "PRESENTING_PLOT_MIN_H",
    "DOTTED_MAX_EPOCHS",
]

PLOT_MIN_W, PLOT_MIN_H = 200, 160  # overlay plots: two columns fit in ~900 px
# presenting, the results table under the plots is the lesson's answer: the plots give it room
# (two rows of plots and eight runs' rows fit 1280x720)
PRESENTING_PLOT_MIN_H = 120
DOTTED_MAX_EPOCHS = 40  # runs of at most this many epochs get a dot on every per-epoch value
Spot = tuple[float, float, str]  # marker: x, y (data units), symbol


class Pen(NamedTuple):
    """How a curve is drawn; :class:`~optiscope.gui.plots.presentation.Look` makes the pen.

    ``per_run``: one line style per run in presentation mode (a cue besides colour);
    ``shared``: dashed in turn when several runs' curves are identical (:mod:`.overlap`);
    ``faint``: the run colour blended into the background, one pixel (raw values).
    """

    width: float
    style: Qt.PenStyle = Qt.PenStyle.SolidLine
    per_run: bool = False
    shared: bool = False
    faint: bool = False


class PlotRun(RunData):
    """One run's data and the plot items that show it.

    ``items["overlay:<plot>"]`` / ``items["grid:<plot>"]``: the items each part drew for the
    run in that mode (key -> item; grid items exist once the run has its cell there);
    ``cells``: the run's grid cells by plot name.
    """

    def __init__(self, run_id: int, beta: float) -> None:
        super().__init__(run_id, beta)
        self.color = run_color(run_id)
        self.items: dict[str, dict[str, Any]] = {}
        self.cells: dict[str, pg.PlotItem] = {}
        self.n_seeds = 1  # seeds of its runner (several: it is drawn in its runner's band)
        self.seed_k = 0  # its place among them (0: the lead, which draws the runner's band)
        self.seed_text = ""  # "seed 3 (2 of 10)"

    @property
    def seeded(self) -> bool:
        """One of several seeds of a runner."""
        return self.n_seeds > 1

    @property
    def lead(self) -> bool:
        """It stands for its runner: its legend entry, grid cell, mean and band."""
        return self.seed_k == 0

    @property
    def title(self) -> str:
        if self.seeded:
            return f"{self.label} ({self.n_seeds} seeds)"
        return super().title

    def curves(self) -> list[pg.PlotDataItem]:
        return [i for group in self.items.values() for i in group.values() if isinstance(i, pg.PlotDataItem)]


class PlotPart:
    """One live plot: its overlay plot, its grid cells (if it has any) and its run items.

    Subclasses set the class attributes and override :meth:`create`, :meth:`draw` and
    :meth:`readout`; the other hooks are optional. Everything else (styling, titles, axis
    labels, markers, guide lines, cells, ranges) is done here the same way for every part.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # the overlay plot's title
    subtitles: ClassVar[tuple[str, ...]] = ()  # its legend-in-subtitle wordings, longest first
    axis_labels: ClassVar[tuple[str, str]] = ("", "")  # (x, y)
    # shorter wordings, longest first, for when the full label is longer than its axis
    short_axis_labels: ClassVar[tuple[tuple[str, ...], tuple[str, ...]]] = ((), ())
    cell_labels: ClassVar[tuple[str | None, str | None] | None] = None  # None: no grid cells
    place: ClassVar[tuple[int, int] | None] = None  # (row, column); None: the next free place
    x_range: ClassVar[str | None] = None  # the shared x range it shows ("steps", "epochs")
    y_range: ClassVar[str | None] = None  # the shared y range it shows (see ranges.wanted_ranges)
    x_link: ClassVar[str | None] = None  # overlay: follows this plot's x axis
    pens: ClassVar[dict[str, Pen]] = {}  # its curves' keys and pens
    dotted: ClassVar[tuple[str, ...]] = ()  # curves with a dot per value on short runs
    guides: ClassVar[tuple[str, ...]] = ()  # RunData.guide_lines keys drawn on this plot
    marked: ClassVar[bool] = False  # draws RunData.spots()[name] (plateau drops, best, divergence)
    counted: ClassVar[str] = ""  # the curve whose finite points point_counts reports
    # seeds: each curve's (x, y) buffers of RunData, and those drawn as a runner's mean + band
    series: ClassVar[dict[str, tuple[str, str]]] = {}
    banded: ClassVar[tuple[str, ...]] = ()
    # (series key, what the legend calls it): runs whose curves of that series lie on top of
    # each other are noted "loss same as ..." (see PlotFrame.find_close)
    close_series: ClassVar[tuple[str, str] | None] = None
    one_seed: ClassVar[str] = ""  # a plot showing one seed per runner says which (no band)
    shared_cells: ClassVar[bool] = True  # grid cells share their axes
    export_legend: ClassVar[bool] = True  # exports of the overlay plot get the run legend

    def __init__(self, frame: PlotFrame) -> None:
        self.frame = frame
        self.bands = RunnerBands(self)  # a runner's mean and band over its seeds
        self.view = items.FitView()
        self.view.setMinimumSize(PLOT_MIN_W, PLOT_MIN_H)
        self.plot: pg.PlotItem = self.view.getPlotItem()
        self.view.on_resize = self.fit_title
        self.plot.vb.sigResized.connect(lambda _vb: self.fit_axis_labels())
        self.marks: pg.ScatterPlotItem | None = None
        if self.marked:  # the markers of every run share one scatter (a handful of points)
            self.marks = pg.ScatterPlotItem()
            self.marks.setZValue(50)
            self.plot.addItem(self.marks)
        self.overlapping: list[list[int]] = []  # groups of runs whose curves are identical
        self._fitted_title: tuple[str, str] | None = None
        self._log = (False, False)  # a new plot's axes are linear (x, y)
        self.apply_log()
        self.setup()
        if self.x_range or self.y_range:
            frame.ranges.watch(self.plot, f"overlay:{self.name}")
        frame.hover(self.view).add(self.plot, lambda x, y, tol: self.hover_readout(None, x, y, tol))

    # ------------------------------------------------------------------ what a part writes
    def setup(self) -> None:
        """Items of the overlay plot that are not a run's (called once)."""

    def create(self, plot: pg.PlotItem, run: PlotRun) -> dict[str, Any]:
        """The run's (empty) items on ``plot`` (the overlay plot or the run's cell), by key."""
        raise NotImplementedError

    def draw(self, run: PlotRun, its: dict[str, Any], flags: set[str]) -> None:
        """Hand the run's buffers to its items ``its`` (one ``setData`` each) for what
        changed: ``flags`` holds "all", "steps", "smooth", "epochs", "boundary", "status"
        or "markers"."""

    def readout(self, run_id: int | None, x: float, y: float, tol: float) -> str | None:
        """The hover readout (HTML) at data point ``x, y``: every run's values on the overlay
        plot (``run_id`` None), that run's in its cell; None for nothing to show."""
        return None

    def log_y(self) -> bool:
        """Whether the y axis is logarithmic."""
        return False

    def wants_cell(self, run: PlotRun) -> bool:
        """Whether the run has something to show in a grid cell yet."""
        return True

    def log_x(self) -> bool:
        """Whether the x axis is logarithmic: "Log x axis" is on and it shows steps or epochs."""
        return self.frame.log_x and self.x_range is not None

    def idle(self) -> bool:
        """Whether the plot has nothing to show for the current runs (presenting, it then
        gives its room to its left neighbour)."""
        return False

    def spots(self, run: PlotRun) -> list[Spot]:
        """The run's markers on this plot."""
        return run.spots().get(self.name, [])

    def count(self, run: PlotRun) -> int:
        """Points drawn for the run in the current mode (see ``Shown.point_counts``)."""
        return items.finite_count(self.items(run).get(self.counted))

    def overlay_titles(self) -> tuple[list[str], titles.Parts | None, tuple[str, ...]]:
        """Title candidates (longest first), the parts to elide a run label in, subtitles."""
        return [self.title], None, self.subtitles

    def cell_titles(self, run: PlotRun, labels: list[str]) -> titles.CellTitles:
        """The wordings of the run's cell title (see :func:`titles.fit_cell_title`)."""
        return titles.cell_titles(run, labels)

    # optional hooks of the run's life
    def start_run(self, run: PlotRun) -> None:
        """The run's RunStarted arrived (its config and planned length are known)."""

    def batch_done(self, events: Sequence[ev.Event], dirty: dict[int, set[str]]) -> None:
        """A batch of ``events`` was drawn (``dirty``: run id -> what changed)."""

    def run_titled(self, run: PlotRun) -> None:
        """The run's label or status changed."""

    def forget_run(self, run: PlotRun) -> None:
        """The run leaves the plots (its items are removed by :meth:`remove_run`)."""

    def axes_changed(self) -> None:
        """The x or y axis became logarithmic or linear (items in view units move)."""

    def reset(self) -> None:
        """Every run left (a new experiment)."""

    def restyle(self) -> None:
        """The theme changed: recolour what the part owns beyond its axes and runs' curves."""

    # ------------------------------------------------------------------ the frame's work
    @property
    def has_cells(self) -> bool:
        return self.cell_labels is not None

    def mode(self) -> str:
        """The mode whose items show: the frame's, "overlay" for a plot without cells."""
        return self.frame.mode if self.has_cells else "overlay"

    def items(self, run: PlotRun, mode: str | None = None) -> dict[str, Any]:
        """The run's items in ``mode`` (default: those shown now); empty if none."""
        return run.items.get(f"{mode or self.mode()}:{self.name}", {})

    def shown_plot(self, run: PlotRun) -> pg.PlotItem | None:
        """Where the run is shown now: the overlay plot or its grid cell (None: not built)."""
        return run.cells.get(self.name) if self.mode() == "grid" else self.plot

    def add_items(self, run: PlotRun, plot: pg.PlotItem, mode: str, bands: bool = True) -> None:
        """Create the run's items on ``plot`` for ``mode`` and style them (a runner's lead:
        with its bands, unless ``bands`` is off: the frame adds them one by one)."""
        its = self.create(plot, run)
        if mode == "grid" and self.marked:
            its["marks"] = pg.ScatterPlotItem()
            plot.addItem(its["marks"])
        if bands and run.seeded and run.lead:
            its.update(self.bands.create(plot, its))
        run.items[f"{mode}:{self.name}"] = its
        self.frame.look.style_items(run, its, self.pens, self.frame.theme["bg"])
        self.bands.show_seed_curves(run)
        self.dot(run)

    def hover_readout(self, run_id: int | None, x: float, y: float, tol: float) -> str | None:
        """:meth:`readout` at view point ``x, y``: on a log x axis the view's x is log10 of
        the step or epoch, and the tolerance grows with it."""
        if self.log_x():
            data_x = 10.0**x
            return self.readout(run_id, data_x, y, max(data_x * (10.0**tol - 1.0), 0.5))
        return self.readout(run_id, x, y, tol)

    def dot(self, run: PlotRun) -> None:
        """A dot on every value of the per-epoch curves of a short run (up to
        :data:`DOTTED_MAX_EPOCHS` epochs planned): few points read better as points."""
        if not 0 < run.epochs_planned <= DOTTED_MAX_EPOCHS:
            return
        for mode in ("overlay", "grid"):
            its = self.items(run, mode)
            for key in (*self.dotted, *(f"mean:{k}" for k in self.dotted)):
                if key in its:
                    items.dot(its[key], run.color)

    def remove_run(self, run: PlotRun) -> None:
        for item in run.items.get(f"overlay:{self.name}", {}).values():
            self.plot.removeItem(item)
        self.forget_run(run)

    def sync(self, run: PlotRun, flags: set[str]) -> None:
        """Draw what changed for ``run``; queues its grid cell when it lacks one."""
        if self.mode() == "grid" and self.name not in run.cells and not (run.seeded and self.items(run)):
            if self.wants_cell(run):
                self.frame.cells.ensure(run)  # drawn in full once built
            return
        if not self.bands.seed_curves_shown(run):
            return  # a hidden seed: its runner's band reads its buffers (frame.draw_bands)
        if self.mode() == "overlay" and f"overlay:{self.name}" not in run.items:
            return  # its items wait (frame.make_items makes them and hands them its data)
        self.draw(run, self.items(run), flags)
        if "all" in flags or "markers" in flags:
            self.draw_guides(run)

    def apply_log(self) -> bool:
        """Give the overlay plot and every cell the axis modes of :meth:`log_x` and
        :meth:`log_y`; returns whether one changed."""
        log = (self.log_x(), self.log_y())
        if log == self._log:
            return False
        self._log = log
        self.plot.setLogMode(x=log[0], y=log[1])
        for rid in self.frame.grid.order.get(self.name, ()):
            self.frame.runs[rid].cells[self.name].setLogMode(x=log[0], y=log[1])
        self.axes_changed()
        return True

    def setup_cell(self, cell: pg.PlotItem) -> None:
        """A new grid cell's axes: ranged by the frame (see :class:`ranges.RangeKeeper`)."""
        cell.enableAutoRange(x=False, y=False)
        if self.log_x() or self.log_y():
            cell.setLogMode(x=self.log_x(), y=self.log_y())

    # -- markers and guide lines
    def draw_marks(self, every_mode: bool = False) -> None:
        """Every run's markers: the overlay's shared scatter (in overlay mode, always for a
        plot without cells, or ``every_mode``), one scatter per cell in grid mode."""
        if self.marks is None:
            return
        frame = self.frame
        log, fg, log_x = self.log_y(), frame.theme["fg"], self.log_x()
        last = frame.ranges.last(f"y:{self.y_range}") if self.y_range and not log else None
        top = last[1] if last is not None else float("inf")  # markers above the axis wait at its top
        shown = [run for run in frame.runs.values() if self.bands.seed_curves_shown(run)]
        if self.mode() == "overlay" or every_mode:
            merged = [(x, y, s, run.color) for run in shown for x, y, s in self.spots(run)]
            items.scatter(self.marks, merged, log, fg, top, log_x)
        if self.mode() == "grid":
            for run in frame.runs.values():
                scatter = self.items(run).get("marks")
                if scatter is not None:
                    spots = [(x, y, s, run.color) for x, y, s in self.spots(run)] if run in shown else []
                    items.scatter(scatter, spots, log, fg, top, log_x)

    def draw_guides(self, run: PlotRun) -> None:
        """The run's dashed guide lines on this plot (best epoch, divergence), with labels
        (none for a seed whose curves are hidden: its runner is drawn as a band)."""
        if not self.guides or not self.bands.seed_curves_shown(run):
            return
        plot, its = self.shown_plot(run), self.items(run)
        wanted = run.guide_lines()
        for key in self.guides:
            want, line = wanted.get(key), its.get(key)
            if want is None:
                if line is not None:
                    line.hide()
                continue
            if line is None:
                if plot is None:
                    continue
                line = its[key] = items.vline(run.color)
                plot.addItem(line, ignoreBounds=True)
            x = math.log10(want[0]) if self.log_x() and want[0] > 0 else want[0]
            moved = not line.isVisible() or line.value() != x or line.label.format != want[1]
            line.setPos(x)
            line.label.setFormat(want[1])
            self.style_guide_label(line)
            line.show()
            if moved and self.mode() == "overlay":  # captions make way for the label
                self.frame.annotations.place(self.plot)

    def style_guide_label(self, line: pg.InfiniteLine) -> None:
        """A guide line's label on the theme's nearly opaque fill: curves do not cross its text."""
        pg_adapter.set_text_box_style(line.label, pg.mkPen(None), pg.mkBrush(*self.frame.theme["fill"]))

    # -- text
    def style(self) -> None:
        """Axes, labels and title in the current theme; guide labels and cells too."""
        theme = self.frame.theme
        style_axes(self.plot, *self.axis_labels, theme)
        self.fit_axis_labels()
        self.fit_title()
        for rid in self.frame.grid.order.get(self.name, ()):
            self.style_cell(self.frame.runs[rid])
        for run in self.frame.runs.values():
            for mode in ("overlay", "grid"):
                for item in self.items(run, mode).values():
                    if isinstance(item, pg.InfiniteLine) and getattr(item, "label", None) is not None:
                        self.style_guide_label(item)
        self.restyle()

    def fit_axis_labels(self) -> None:
        """The axis labels in the longest wording that fits each axis."""
        for side, full, shorter in zip(
            ("bottom", "left"), self.axis_labels, self.short_axis_labels, strict=True
        ):
            titles.fit_axis_label(self.plot.getAxis(side), (full, *shorter), label_style(self.frame.theme))

    def fit_title(self) -> None:
        """Title the overlay plot with the longest wording that fits its width."""
        axis = self.plot.getAxis("left")
        width = self.view.width() - (axis.width() if axis.isVisible() else 0)
        self._fitted_title = titles.fit_overlay_title(
            self.plot,
            width,
            self.overlay_titles(),
            self.frame.theme,
            self._fitted_title,
            self.frame.look.presenting,
        )

    def style_cell(self, run: PlotRun) -> None:
        """Style the run's grid cell; axis labels only on the left column and the bottom row."""
        cell = run.cells.get(self.name)
        if cell is None or self.cell_labels is None:
            return
        grid = self.frame.grid
        k = grid.order[self.name].index(run.id)
        xlabel, ylabel = self.cell_labels
        bottom = grid.is_bottom_row(self.name, k)
        style_axes(
            cell,
            xlabel if bottom else None,
            ylabel if grid.is_left_column(k) else None,
            self.frame.theme,
            cell=True,
        )
        self.title_cell(run)

    def title_cell(self, run: PlotRun) -> None:
        cell = run.cells.get(self.name)
        if cell is not None:
            labels = [r.label for r in self.frame.runs.values()]
            width = self.frame.grid.cell_width(self.name)
            titles.fit_cell_title(cell, width, self.cell_titles(run, labels), run.color)

    def title_cells(self) -> None:
        for rid in self.frame.grid.order.get(self.name, ()):
            self.title_cell(self.frame.runs[rid])
