"""The frame the plot parts live in: their table, what they share, and the walks over them.

:class:`PlotFrame` holds the registered parts (:mod:`.registry`) by name, the runs and
their buffers, the view mode, theme, look (presentation, spotlight), axis ranges, grid
canvases, hovers, legend, controls and lesson annotations. Its methods do one thing for
every part — sync a run, draw the markers, retitle, restyle, list the plots a range
applies to — so no code here or in :class:`~optiscope.gui.plots.live.LivePlots` names a
plot.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pyqtgraph as pg
from optiscope.gui.colors import run_color
from optiscope.gui.plots import hover, items, lesson_marks, overlap, presentation, seeds
from optiscope.gui.plots.cells import Cells
from optiscope.gui.plots.controls import PlotControls
from optiscope.gui.plots.grid import SmallMultiples
from optiscope.gui.plots.legend import LegendStrip, Note, SameAs
from optiscope.gui.plots.part import PlotPart, PlotRun
from optiscope.gui.plots.ranges import RangeKeeper, wanted_ranges
from optiscope.gui.plots.style import THEMES
from PySide6 import QtCore, QtGui, QtWidgets

__all__ = ["PlotFrame", "CLOSE_HINTS"]

# the legend's hint when runs hide each other (longest first; a click shows the small multiples)
CLOSE_HINTS = (
    "curves on top of each other: View ▸ Small multiples (Ctrl+2) shows each run",
    "on top of each other: Small multiples (Ctrl+2)",
    "overlap: Small multiples (Ctrl+2)",
    "overlap: Ctrl+2",
)


class PlotFrame:
    """The registered plot parts and the state they share.

    Parameters
    ----------
    owner : QWidget
        The plots widget (receiver of delayed work; it dies with the plots).
    parts : sequence of PlotPart subclasses
        The plots, one row each (:data:`~optiscope.gui.plots.registry.PLOT_PARTS`).
    """

    def __init__(self, owner: QtWidgets.QWidget, parts: Sequence[type[PlotPart]]) -> None:
        names = [p.name for p in parts]
        if not all(names) or len(set(names)) != len(names):
            raise ValueError(f"plot parts need distinct, non-empty names, got {names}")
        self.owner = owner
        self.runs: dict[int, PlotRun] = {}
        self.mode = "overlay"
        self.beta = 0.6
        self.log_loss = False
        self.log_x = False  # steps and epochs on a logarithmic axis
        self.seeds: seeds.SeedGroups | None = None  # which run is which runner's seed (None: one seed each)
        self.show_seeds = False  # each seed's own thin curve besides its runner's mean and band
        self.theme_name, self.theme = "light", THEMES["light"]
        self.max_steps = self.max_epochs = 0
        self.look = presentation.Look()
        self.annotations = lesson_marks.Annotations()
        self.controls = PlotControls()
        self.legend = LegendStrip()
        self.close: dict[int, list[Note]] = {}  # runs whose curves lie on another's (find_close)
        self.close_at = 0.0  # when find_close last looked (time.monotonic)
        # runners whose seeds have new data for their bands, in the order they waited, and
        # which of their bands (part name, banded key) are still to draw
        self.band_dirty: dict[int, dict[tuple[str, str], None]] = {}
        self.unlinked: set[str] = set()  # parts whose x link is cut (see Arrangement.fit_rooms)
        # (run id, part name) whose overlay items wait to be made, in order (see make_items)
        #: (run id, part name): a run's items wait; (run id, part name, curve): a lead's band
        self.items_due: dict[tuple[int, str] | tuple[int, str, str], None] = {}
        self._legend_held = 0  # update_legend waits while a batch is drawn (see one_legend)
        self._legend_due = False
        self._hovers: dict[int, hover.Hover] = {}
        self._titled_labels: tuple[str, ...] = ()  # the run labels the grid cells were titled for
        self.ranges = RangeKeeper(self.range_targets, self._set_grid_ticks, self.draw_marks)
        self.ranges.set_policy(
            lambda: wanted_ranges(
                self.runs.values(), self.max_steps, self.max_epochs, self.log_loss, self.log_x
            )
        )
        self.cells = Cells(self)
        self.grid = SmallMultiples(
            owner,
            [p.name for p in parts if p.cell_labels is not None],
            lambda name: self.parts[name].title_cells(),
            self.cells.fill,
        )
        self.parts: dict[str, PlotPart] = {}
        for cls in parts:
            self.parts[cls.name] = cls(self)
        for part in self.parts.values():
            if part.x_link:
                part.plot.setXLink(self.parts[part.x_link].plot)
        self.views: list[pg.GraphicsView] = [p.view for p in self.parts.values()]
        self._close_queued = False
        for part in self.parts.values():  # closeness is judged on screen: again when resized
            if part.close_series is not None:
                part.plot.vb.sigResized.connect(lambda _vb: self._find_close_soon())
        for view in self.grid.views.values():
            self.views.append(view)
            self.hover(view)

    def hover(self, view: pg.GraphicsView) -> hover.Hover:
        """The hover readout of ``view`` (made on first use)."""
        h = self._hovers.get(id(view))
        if h is None:
            h = self._hovers[id(view)] = hover.Hover(view, self.theme)
        return h

    @property
    def hovers(self) -> Iterable[hover.Hover]:
        return self._hovers.values()

    def runs_for(self, run_id: int | None) -> list[PlotRun]:
        """Every run (``run_id`` None), or that one run (none if unknown). A runner of
        several seeds whose seeds are hidden reads as its mean (:func:`seeds.mean_run`)."""
        chosen = (
            list(self.runs.values()) if run_id is None else [self.runs[run_id]] if run_id in self.runs else []
        )
        if self.show_seeds or not any(r.seeded for r in chosen):
            return chosen
        out: list[PlotRun] = []
        for r in chosen:
            if not r.seeded:
                out.append(r)
            elif r.lead:
                members = [self.runs[i] for i in range(r.id, r.id + r.n_seeds) if i in self.runs]
                mean = seeds.mean_run(r, members, f"{r.label} (mean of {len(members)} seeds)")
                out.append(mean)  # type: ignore[arg-type]
        return out

    def color_of(self, run_id: int) -> QtGui.QColor:
        """The colour of run ``run_id``: its runner's (every seed of a runner shares it)."""
        group = self.seeds.group(run_id) if self.seeds is not None else None
        return run_color(run_id if group is None else group)

    # ------------------------------------------------------------------ runs
    def add_run(self, run_id: int, wait: bool = False) -> PlotRun:
        """The run ``run_id``, made with its (empty) items on every plot if new. With
        ``wait``, a runner's seed queues its items for :meth:`make_items` instead (a race of
        many seeds starts without making every runner's items in one turn)."""
        run = self.runs.get(run_id)
        if run is None:
            run = self.runs[run_id] = PlotRun(run_id, self.beta)
            group = self.seeds.group(run_id) if self.seeds is not None else None
            if group is not None and self.seeds is not None:
                run.group, run.n_seeds = group, self.seeds.n_seeds
                run.seed_k, run.seed_text = self.seeds.seed_index_of[run_id], self.seeds.seed_text(run_id)
                run.color = run_color(group)
            self.ensure_items(run, wait=wait and run.seeded)
            if run.lead:  # a runner's other seeds have no legend entry of their own
                self.update_legend()
            self.cells.ensure(run)
        return run

    def ensure_items(self, run: PlotRun, wait: bool = False) -> None:
        """Give the run its overlay items on every part that lacks them (with ``wait``:
        queue them for :meth:`make_items`). A hidden seed of a runner (not its lead) gets
        them only once "Every seed" shows it: a sweep of many seeds then costs one set of
        items per runner, not per run."""
        if run.seeded and not run.lead and not self.show_seeds:
            return
        for part in self.parts.values():
            if f"overlay:{part.name}" in run.items:
                continue
            if wait:
                self.items_due[(run.id, part.name)] = None
            else:
                self.items_due.pop((run.id, part.name), None)
                part.add_items(run, part.plot, "overlay")

    def make_items(self, budget: float | None = None) -> bool:
        """Make the overlay items that wait (:meth:`add_run` with ``wait``), one run's part
        at a time, and hand each its run's data so far; with a ``budget`` (seconds) it stops
        once that is spent (one part's items at least). Returns whether items still wait."""
        end = None if budget is None else time.perf_counter() + budget
        made: dict[int, PlotRun] = {}
        while self.items_due:
            due = next(iter(self.items_due))
            del self.items_due[due]
            rid, name = due[0], due[1]
            run, part = self.runs.get(rid), self.parts[name]
            if run is None:
                continue
            if len(due) == 3:  # a lead's band of one curve, made after its curves
                key = due[2]
                if _add_band(part, run, key):
                    made[rid] = run
                    self.band_dirty.setdefault(run.group, {})[(name, key)] = None
            elif f"overlay:{name}" not in run.items:
                bands = tuple(key for key in part.banded if run.seeded and run.lead)
                part.add_items(run, part.plot, "overlay", bands=not bands)
                made[rid] = run
                part.sync(run, {"all"})  # its data so far
                if bands:  # then its bands, one curve's per step, before any other runner's items
                    self.items_due = {**{(rid, name, key): None for key in bands}, **self.items_due}
                elif run.seeded:  # and its runner's band, drawn with the bands that wait
                    waiting = self.band_dirty.setdefault(run.group, {})
                    for key in part.banded:
                        waiting[(name, key)] = None
            if end is not None and time.perf_counter() > end:
                break
        for run in made.values():
            items.set_cached(run.curves(), run.finished)
        if made:
            self.draw_marks()
        return bool(self.items_due)

    def remove_run(self, run: PlotRun) -> None:
        """Take the run's items off every plot (it has left :attr:`runs`)."""
        self.cells.remove(run)
        for part in self.parts.values():
            part.remove_run(run)

    def sync(self, run: PlotRun, flags: Iterable[str]) -> bool:
        """Hand the run's buffers to its items in the current mode (one setData each).

        Returns whether the markers need redrawing.
        """
        flags = set(flags)
        everything = "all" in flags
        for part in self.parts.values():
            part.sync(run, flags)
        if run.seeded and (everything or flags & {"steps", "smooth", "epochs"}):
            waiting = self.band_dirty.setdefault(run.group, {})
            for part in self.parts.values():
                for key in part.bands.keys(flags):
                    waiting[(part.name, key)] = None
        if everything or flags & {"status", "markers"}:
            self.retitle(run)
        if everything or "status" in flags:
            items.set_cached(run.curves(), run.finished)
        return everything or bool(flags & {"markers", "smooth"})

    def retitle(self, run: PlotRun) -> None:
        """Show the run's label and status in the legend, grid titles and parts."""
        if run.lead:  # a runner's other seeds have no legend entry of their own
            self.update_legend()
        labels = tuple(r.label for r in self.runs.values())
        if labels != self._titled_labels:  # what tells the runs apart changed: every cell's title
            self._titled_labels = labels
            for part in self.parts.values():
                part.title_cells()
        else:
            for name in run.cells:
                self.parts[name].title_cell(run)
        for part in self.parts.values():
            part.run_titled(run)

    def draw_bands(self, groups: Iterable[int] | None = None, budget: float | None = None) -> bool:
        """Draw the mean and band of the runners ``groups`` (None: the bands with new data)
        on every part, in the shown mode. With a ``budget`` (seconds) it stops once that is
        spent (one band at least), leaving the bands not drawn yet for the next call (drawn
        first then); returns whether bands are left."""
        if groups is None:
            todo = self.band_dirty
        else:
            every = {(part.name, key): None for part in self.parts.values() for key in part.banded}
            todo = {group: dict(every) for group in groups}
        end = None if budget is None else time.perf_counter() + budget
        left: dict[int, dict[tuple[str, str], None]] = {}
        if self.seeds is not None:
            for group, bands in todo.items():
                if left:  # the budget is spent: the rest waits, in its order
                    left[group] = bands
                    continue
                lead = self.runs.get(self.seeds.lead(group))
                if lead is None:
                    continue
                pending = list(bands)
                for i, (name, key) in enumerate(pending):
                    self.parts[name].bands.draw(lead, (key,))
                    if end is not None and time.perf_counter() > end:
                        rest = pending[i + 1 :]
                        left[group] = dict.fromkeys(rest)
                        break
        left = {group: bands for group, bands in left.items() if bands}
        if groups is None:
            self.band_dirty = left  # the oldest first next time
        elif left:  # asked for: what was not drawn waits with the bands that wait already
            for group, bands in left.items():
                self.band_dirty.setdefault(group, {}).update(bands)
        return bool(left)

    def all_bands(self) -> None:
        """Every runner's mean and band again (mode, smoothing or axes changed)."""
        if self.seeds is not None:
            self.draw_bands({r.group for r in self.runs.values() if r.seeded})

    # ------------------------------------------------------------------ look
    def draw_marks(self, every_mode: bool = False) -> None:
        """Markers of every run on every plot (both modes with ``every_mode``)."""
        for part in self.parts.values():
            part.draw_marks(every_mode)

    def style_run(self, run: PlotRun) -> None:
        """Pens and opacity of the run's curves on every plot, in both modes."""
        for part in self.parts.values():
            for mode in ("overlay", "grid"):
                its = part.items(run, mode)
                if its:
                    self.look.style_items(run, its, part.pens, self.theme["bg"])

    def restyle_runs(self) -> None:
        for run in self.runs.values():
            self.style_run(run)
        self.update_legend()
        self.draw_marks(every_mode=True)

    def _find_close_soon(self) -> None:
        if not self._close_queued and self.runs:
            self._close_queued = True
            QtCore.QTimer.singleShot(0, self.owner, self._find_close_queued)

    def _find_close_queued(self) -> None:
        self._close_queued = False
        self.find_close()

    def find_close(self) -> None:
        """Runs whose curves lie on top of each other on a part that compares them (its
        ``close_series``; closer than their line's width on screen over half their length):
        the legend says "loss & accuracy overlaps X" and, in overlay mode, points to the small
        multiples (one cell per run), where no run hides another."""
        self.close_at = time.monotonic()
        found: dict[tuple[int, int], list[str]] = {}
        for part in self.parts.values():
            if part.close_series is None:
                continue
            key, what = part.close_series
            xs, ys = part.series[key]
            low, high = part.plot.viewRange()[1]
            height = part.plot.vb.height()
            if not height > 0:
                continue
            curves = {}
            for r in self.runs.values():
                if not r.lead:  # a runner of several seeds: its lead stands for it
                    continue
                x, y = getattr(r, xs).view(), getattr(r, ys).view()
                n = min(len(x), len(y))
                y = y[:n]
                if part.log_y():  # the axis shows log10 of the values
                    with np.errstate(divide="ignore", invalid="ignore"):
                        y = np.log10(np.where(y > 0, y, np.nan))
                curves[r.id] = (x[:n], y)
            # closer than a line's width (as drawn now) plus a pixel, on screen
            line = self.look.line_width(part.pens[key].width)
            tol = (line + overlap.CLOSE_AIR) * (high - low) / height
            for rid, ref in overlap.close_pairs(curves, tol).items():
                found.setdefault((rid, ref), []).append(what)
        notes: dict[int, list[Note]] = {}
        for (rid, ref), whats in found.items():
            notes.setdefault(rid, []).append(SameAs(" & ".join(whats), ref, close=True))
        self.close = notes
        changed = self.legend.set_notes("close", notes, drop=2)  # the hint says it too
        self.legend.set_hint(*(CLOSE_HINTS if notes and self.mode == "overlay" else ()))
        if changed:
            self.update_legend()

    @contextmanager
    def one_legend(self) -> Iterator[None]:
        """Lay the legend out once, at the end, however often :meth:`update_legend` is
        called within (a batch that starts or retitles many runs)."""
        self._legend_held += 1
        try:
            yield
        finally:
            self._legend_held -= 1
            if not self._legend_held and self._legend_due:
                self.update_legend()

    def update_legend(self) -> None:
        if self._legend_held:
            self._legend_due = True
            return
        self._legend_due = False
        spot = self.look.spotlight
        group = self.runs[spot].group if spot is not None and spot in self.runs else None
        self.legend.faded = {r.id for r in self.runs.values() if spot is not None and r.group != group}
        self.legend.show_runs([r for r in self.runs.values() if r.lead])  # one entry per runner

    # ------------------------------------------------------------------ axis ranges
    def range_targets(self, key: str) -> list[tuple[str, pg.PlotItem]]:
        """(zoom key, plot) pairs whose range ``key`` ("x:steps", "y:loss", ...) sets: each
        overlay plot showing it (unless its x axis follows another's) and first grid cell."""
        axis, what = key.split(":")
        out = []
        for part in self.parts.values():
            if (part.x_range if axis == "x" else part.y_range) != what:
                continue
            if not (axis == "x" and part.x_link and part.name not in self.unlinked):
                out.append((f"overlay:{part.name}", part.plot))
            order = self.grid.order.get(part.name)
            if order:
                out.append((f"grid:{part.name}", self.runs[order[0]].cells[part.name]))
        return out

    def _set_grid_ticks(self, name: str, major: float) -> None:
        self.cells.set_ticks(name, major)


def _add_band(part: PlotPart, run: PlotRun, key: str) -> bool:
    """Add the overlay mean and band of ``part``'s banded curve ``key`` to lead ``run``'s items
    made by :meth:`PlotPart.add_items` without bands; False when there is nothing to add."""
    its = part.items(run, "overlay")
    if not its or key not in its or f"mean:{key}" in its:
        return False
    new = part.bands.create(part.plot, its, (key,))
    its.update(new)
    part.frame.look.style_items(run, new, part.pens, part.frame.theme["bg"])
    part.dot(run)
    return True
