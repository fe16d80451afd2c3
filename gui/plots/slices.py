"""Paced drawing's turns: what a live race's batches leave waiting (the runs' data, the
runners' plot items, their bands) is drawn one slice per turn of the event loop, each within
:data:`TURN_BUDGET_S`, continued by one zero timer, the kinds of work taking turns
(:data:`SLICE_TURNS`). The slices' time, and the turns between them (their repaints), is what
:meth:`Slices.take_seconds` hands the window's drawing pace."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6 import QtCore

if TYPE_CHECKING:
    from optiscope.gui.plots.live import LivePlots

__all__ = ["Slices", "TURN_BUDGET_S", "SLICE_TURNS", "SLICE_GAP_MAX_S"]

TURN_BUDGET_S = 0.003  # paced drawing: GUI-thread time one turn spends on what waits (data, items, bands)
SLICE_TURNS = ("items", "data", "items", "bands")  # paced drawing: whose turn it is, in a round
SLICE_GAP_MAX_S = 0.05  # the turn between two slices (the repaint) counts in drawing's cost up to this


class Slices:
    """The zero timer of a :class:`LivePlots` that draws what waits, a slice per turn."""

    def __init__(self, plots: LivePlots) -> None:
        self.plots = plots
        # a zero timer (not a posted call): other timers, painting and input get turns between
        # the slices
        self.timer = QtCore.QTimer(plots)
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self.more)
        self.seconds = 0.0
        self.end: float | None = None  # when the last slice ended, if another follows
        self.next_kind = 0  # which kind of work the next slice prefers (see one)

    def take_seconds(self) -> float:
        """Seconds the slices of :meth:`more` and the turns between them (their repaints) took
        since the last call (the part of drawing a batch that comes after ``add_events``
        returned: a window's drawing pace)."""
        seconds, self.seconds = self.seconds, 0.0
        return seconds

    def more(self) -> None:
        """One slice of what waits, within one budget: the runs' data of paced batches, then
        the runners' items, then their bands (one timer: a turn of the event loop holds one
        slice, never a slice of each)."""
        t0 = time.perf_counter()
        if self.end is not None:  # the turn since the last slice: its repaint, mostly
            self.seconds += min(t0 - self.end, SLICE_GAP_MAX_S)
        counted = self.one()
        end = time.perf_counter()
        if counted:  # a run's start (its runners' items) does not slow its drawing later
            self.seconds += end - t0
        self.end = end if self.timer.isActive() else None

    def one(self) -> bool:
        """One slice of one kind of work, the kinds taking turns (the runs' data and what they
        share; the runners' items; their bands), so none waits behind another while batches
        keep coming; False when it made items (a run's start) rather than drawing data."""
        plots = self.plots
        frame = plots.frame

        def data_waits() -> bool:
            return bool(plots._backlog or plots._drawn_dirty or plots._drawn_marks or plots._close_due)

        kinds = (("data", data_waits()), ("items", bool(frame.items_due)), ("bands", bool(frame.band_dirty)))
        ready = {name for name, due in kinds if due}
        if not ready:
            return True
        # the turns go round SLICE_TURNS (items every other turn while a run starts: a
        # runner's curves appear soon), skipping the kinds with nothing to do
        n = len(SLICE_TURNS)
        at = next(i for i in range(n) if SLICE_TURNS[(self.next_kind + i) % n] in ready)
        kind = SLICE_TURNS[(self.next_kind + at) % n]
        self.next_kind = (self.next_kind + at + 1) % n
        with frame.one_legend():
            if kind == "data":
                if plots._backlog:
                    plots._draw_backlog(budget=TURN_BUDGET_S)  # then items and bands, with room left
                elif plots._drawn_dirty or plots._drawn_marks:
                    plots._shared_work(paced=True)
                else:
                    plots._close_due = False
                    frame.find_close()
            elif kind == "items":
                frame.make_items(budget=TURN_BUDGET_S)
            else:
                frame.draw_bands(budget=TURN_BUDGET_S)
        if data_waits() or frame.items_due:
            self.timer.start()
        elif frame.band_dirty:
            plots._queue_bands()  # the bands left wait for the next batch, or BAND_WAIT_MS
        return kind != "items"
