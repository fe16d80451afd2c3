"""The grid (small-multiples) layout: one canvas per plot, one cell per run in rows of four.

Cells are built over several frames (:meth:`SmallMultiples.fill`): each new cell re-lays
out every cell of its canvas, so a sweep's cells are built for about
``BUILD_BUDGET_S`` per frame with repaints held back, then the window paints and handles
input before more are built, instead of freezing while a dozen plots appear at once.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence

import pyqtgraph as pg
from optiscope.gui import pg_adapter
from optiscope.gui.plots.items import CompactAxis
from PySide6 import QtCore

__all__ = ["GRID_COLUMNS", "SmallMultiples"]

GRID_COLUMNS = 4  # small multiples fill rows of four, so cells never move as runs arrive
BUILD_BUDGET_S = 0.012  # per frame, for building cells (see SmallMultiples.fill)
BUILD_PAUSE_MS = 15  # then let the window paint and handle input before building more


class SmallMultiples:
    """The grid-mode canvases and the queue of runs waiting for cells.

    Parameters
    ----------
    owner : QObject
        Receiver of the delayed builds (it dies with the plots).
    names : sequence of str
        The plots that have cells (one canvas each).
    on_resize : callable
        ``on_resize(name)`` after canvas ``name`` was resized (to re-fit cell titles).
    resume : callable
        Called when the next frame's share of queued cells is due (it calls :meth:`fill`).
    """

    def __init__(
        self,
        owner: QtCore.QObject,
        names: Sequence[str],
        on_resize: Callable[[str], None],
        resume: Callable[[], None],
    ) -> None:
        self._owner = owner
        self._resume = resume
        self._names = tuple(names)
        self.views: dict[str, pg.GraphicsLayoutWidget] = {}
        for name in self._names:
            view = pg_adapter.GraphicsLayoutWithResize(lambda n=name: on_resize(n))
            view.ci.setSpacing(4)
            self.views[name] = view
        self.order: dict[str, list[int]] = {name: [] for name in self._names}
        self._pending: list[int] = []  # runs waiting for cells, in run order
        self._scheduled = False

    # -- cells
    def place(self, name: str, run_id: int) -> tuple[pg.PlotItem, int]:
        """A new cell for ``run_id`` on canvas ``name``, after the others; returns it and its index."""
        order = self.order[name]
        k = len(order)
        cell = pg.PlotItem(enableMenu=False, axisItems={"bottom": CompactAxis("bottom")})
        self.views[name].ci.addItem(cell, row=k // GRID_COLUMNS, col=k % GRID_COLUMNS)
        order.append(run_id)
        return cell, k

    def remove(self, name: str, run_id: int, cell: pg.PlotItem) -> None:
        """Take the run's cell off canvas ``name``."""
        self.views[name].ci.removeItem(cell)
        self.order[name].remove(run_id)

    def clear(self) -> None:
        """Remove every cell and forget the queue."""
        for view in self.views.values():
            view.ci.clear()
        self.order = {name: [] for name in self._names}
        self._pending.clear()
        self.set_updates(True)

    def is_bottom_row(self, name: str, k: int) -> bool:
        """Whether cell ``k`` of canvas ``name`` is on its last row."""
        return k // GRID_COLUMNS == (len(self.order[name]) - 1) // GRID_COLUMNS

    @staticmethod
    def is_left_column(k: int) -> bool:
        """Whether cell ``k`` starts a row."""
        return k % GRID_COLUMNS == 0

    def cell_width(self, name: str) -> float:
        """The width, in pixels, each cell of canvas ``name`` gets."""
        view = self.views[name]
        columns = max(1, min(len(self.order[name]), GRID_COLUMNS))
        left, _, right, _ = view.ci.layout.getContentsMargins()
        spacing = view.ci.layout.horizontalSpacing()
        return (view.width() - left - right - spacing * (columns - 1)) / columns

    # -- building over several frames
    @property
    def building(self) -> bool:
        """True while runs wait for their cells."""
        return bool(self._pending)

    def queued(self, run_id: int) -> bool:
        return run_id in self._pending

    def queue(self, run_id: int) -> None:
        """Queue ``run_id`` for cells (kept in run order)."""
        if run_id not in self._pending:
            bisect.insort(self._pending, run_id)

    def unqueue(self, run_id: int) -> None:
        if run_id in self._pending:
            self._pending.remove(run_id)

    def cancel(self) -> None:
        """Forget the queue (the grid is not shown)."""
        self._pending.clear()
        self.set_updates(True)

    def fill(self, build: Callable[[int], bool], after: Callable[[], None]) -> None:
        """Call ``build(run_id)`` for queued runs for about ``BUILD_BUDGET_S`` (one at least;
        it returns whether it built anything), then ``after()`` if any was built; the rest
        follow after the next paint."""
        # no repaints of half-built grids: each new cell re-lays out every cell, and a paint
        # in between would redraw all their axes once per step instead of once at the end
        self.set_updates(False)
        start, built = time.perf_counter(), False
        while self._pending and (not built or time.perf_counter() - start < BUILD_BUDGET_S):
            built |= build(self._pending.pop(0))
        if built:
            after()
        if self._pending and not self._scheduled:
            self._scheduled = True
            QtCore.QTimer.singleShot(BUILD_PAUSE_MS, self._owner, self._fill_later)
        elif not self._pending:
            self.set_updates(True)

    def _fill_later(self) -> None:
        self._scheduled = False
        self._resume()

    def set_updates(self, enabled: bool) -> None:
        """Let the canvases repaint (or hold their repaints back)."""
        for view in self.views.values():
            if view.updatesEnabled() != enabled:
                view.setUpdatesEnabled(enabled)
