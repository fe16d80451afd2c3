"""The grid view's cells for every plot part that has them: queued per run, built a few
per frame (:class:`~optiscope.gui.plots.grid.SmallMultiples`), axes shared and labelled
on the left column and the bottom row only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from optiscope.gui.plots.grid import GRID_COLUMNS

if TYPE_CHECKING:
    from optiscope.gui.plots.frame import PlotFrame
    from optiscope.gui.plots.part import PlotPart, PlotRun

__all__ = ["Cells"]


class Cells:
    """Builds the runs' grid cells for the frame's parts."""

    def __init__(self, frame: PlotFrame) -> None:
        self.frame = frame

    def ensure(self, run: PlotRun) -> None:
        """Queue the run for the grid cells it lacks; :meth:`fill` builds them. A runner of
        several seeds has one cell, its lead's: the other seeds' curves join it there."""
        frame = self.frame
        if frame.mode != "grid" or frame.grid.queued(run.id):
            return
        if not run.lead:
            self.join_lead(run)
            return
        parts = frame.parts.values()
        if any(p.has_cells and p.name not in run.cells and p.wants_cell(run) for p in parts):
            frame.grid.queue(run.id)

    def join_lead(self, run: PlotRun) -> None:
        """Give seed ``run`` its (thin) curves in its runner's cells that exist (once "Every
        seed" shows them)."""
        lead = self.frame.runs.get(run.id - run.seed_k)
        if lead is None or not self.frame.show_seeds:
            return
        for name, cell in lead.cells.items():
            part = self.frame.parts[name]
            if not part.one_seed and not part.items(run, "grid"):
                part.add_items(run, cell, "grid")
                part.sync(run, {"all"})

    def fill(self) -> None:
        """Build queued grid cells, a few per frame (see :meth:`SmallMultiples.fill`)."""
        if self.frame.mode != "grid":
            self.frame.grid.cancel()
            return
        self.frame.grid.fill(self._build, self._built)

    def remove(self, run: PlotRun) -> None:
        """Take the run's cells off the grid."""
        frame = self.frame
        frame.grid.unqueue(run.id)
        for name, cell in run.cells.items():
            frame.hover(frame.grid.views[name]).remove(cell)
            frame.grid.remove(name, run.id, cell)

    def set_ticks(self, name: str, major: float) -> None:
        """The x tick spacing of every cell of plot ``name`` (a log axis keeps pyqtgraph's own:
        a fixed spacing in log10 units would ask a log axis for endless minor ticks)."""
        log = self.frame.parts[name].log_x()
        for rid in self.frame.grid.order[name]:
            axis = self.frame.runs[rid].cells[name].getAxis("bottom")
            if log:
                axis.setTickSpacing()
            else:
                axis.setTickSpacing(major, major / 5)

    def _build(self, run_id: int) -> bool:
        run = self.frame.runs.get(run_id)
        if run is None:
            return False
        for part in self.frame.parts.values():
            if part.has_cells and part.name not in run.cells and part.wants_cell(run):
                self._new_cell(part, run)
        self.frame.sync(run, {"all"})
        if run.seeded:
            for rid in range(run.id + 1, run.id + run.n_seeds):
                if rid in self.frame.runs:
                    self.join_lead(self.frame.runs[rid])
            self.frame.draw_bands({run.group})
        return True

    def _built(self) -> None:
        self.frame.ranges.update()
        self.frame.draw_marks()

    def _new_cell(self, part: PlotPart, run: PlotRun) -> None:
        frame, name = self.frame, part.name
        cell, k = frame.grid.place(name, run.id)
        order = frame.grid.order[name]
        run.cells[name] = cell
        part.setup_cell(cell)
        if k and part.shared_cells:  # shared axes
            first = frame.runs[order[0]].cells[name]
            cell.enableAutoRange(x=False, y=False)
            cell.setXLink(first)
            cell.setYLink(first)

        def lookup(x: float, y: float, tol: float, rid: int = run.id) -> str | None:
            return part.hover_readout(rid, x, y, tol)

        frame.hover(frame.grid.views[name]).add(cell, lookup)
        if k == 0:
            frame.ranges.watch(cell, f"grid:{name}")
            frame.ranges.forget()  # the new first cell needs the shared ranges
        elif part.x_range:  # re-apply the shared x range: it also sets every cell's tick spacing
            frame.ranges.forget(f"x:{part.x_range}")
        part.style_cell(run)
        if k and k % GRID_COLUMNS == 0:  # a new row: the previous row loses its x labels
            for rid in order[k - GRID_COLUMNS : k]:
                part.style_cell(frame.runs[rid])
        elif 0 < k < GRID_COLUMNS:  # the row's cells got narrower
            part.title_cells()
        part.add_items(run, cell, "grid")
