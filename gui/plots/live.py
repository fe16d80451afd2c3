"""Live training plots: learning rate, loss, accuracy and the decision boundary.

:class:`LivePlots` draws the engine's events (:mod:`optiscope.engine.events`) as they
arrive in batches from the worker bridge. It is a composition: run data lives in
Qt-free buffers (:mod:`.buffers`), axis ranges follow one policy (:mod:`.ranges`),
titles fit their room (:mod:`.titles`), hover readouts, legend, export, grid layout and
controls row each have their own module.

Each plot is a part (:mod:`.part`): one class in its own module (:mod:`.lr_plot`,
:mod:`.loss_plot`, :mod:`.accuracy_plot`, :mod:`.boundary_plot`) and one row in
:mod:`.registry`. :class:`LivePlots` is a small router over that table: it turns each
event batch into the runs' buffers and hands them to every part, and it passes settings
(mode, theme, presentation, smoothing, log axis, spotlight) to the frame (:mod:`.frame`)
that applies them to every part alike; the layout is in :mod:`.arrangement`, grid cells
in :mod:`.cells`, read-only views for tests in :mod:`.shown`.

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

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Literal

import numpy as np
import pyqtgraph as pg
from optiscope.engine import events as ev
from optiscope.gui.colors import readable_color
from optiscope.gui.plots import export
from optiscope.gui.plots.arrangement import Arrangement
from optiscope.gui.plots.frame import PlotFrame
from optiscope.gui.plots.legend import MAX_LINES, PRESENTING_LINES, legend_document
from optiscope.gui.plots.part import PLOT_MIN_H, PRESENTING_PLOT_MIN_H, PlotPart
from optiscope.gui.plots.registry import PLOT_PARTS
from optiscope.gui.plots.shown import Shown
from optiscope.gui.plots.slices import Slices
from optiscope.gui.plots.style import THEMES
from optiscope.gui.smoothing import check_smoothing
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Signal

__all__ = ["LivePlots", "Mode"]


class _Pending:
    """A run's data that waits to be drawn: its update blocks, epoch ends, what changed and
    the drawn events that say so (with their arrival numbers)."""

    __slots__ = ("steps", "epochs", "flags", "events")

    def __init__(self, flags: set[str] | None = None) -> None:
        self.steps: list[ev.Steps] = []
        self.epochs: list[ev.EpochEnd] = []
        self.flags: set[str] = flags if flags is not None else set()
        self.events: list[tuple[int, ev.Event]] = []


Mode = Literal["overlay", "grid"]
PIXMAP_CACHE_KB = 128 * 1024  # room for the cached curves of a sweep (QPixmapCache)
CLOSE_EVERY_S = 0.5  # runs that hide each other are looked for at most this often while training
BAND_BUDGET_S = 0.008  # GUI-thread time a batch spends on the runners' bands at most (see _draw_bands)
BAND_WAIT_MS = 100  # bands left over wait this long for the next batch before they are drawn alone
ITEM_BUDGET_S = 0.008  # GUI-thread time one event-loop turn spends making runners' items at most
PACED_MIN_RUNS = 4  # paced batches of at most this many runs' data are drawn at once (cheap)
_DRAWN = frozenset(
    {ev.EpochEnd, ev.LRReduced, ev.EarlyStopped, ev.Diverged, ev.Boundary, ev.Finished, ev.Failed}
)


class LivePlots(QtWidgets.QWidget):
    """Every live training plot of the current experiment.

    Learning rate per step (log y), loss per step (raw faint + debiased-EMA smoothed, plus
    per-epoch validation loss, dashed), accuracy per epoch (train solid, validation
    dashed), the decision boundary of 2D sets, and markers for plateau LR drops (▼), early
    stopping (★ at the best epoch, with a dashed line) and divergence (✕ at the last
    finite point, with a labelled line). Overlay mode and a small-multiples grid mode;
    hover readouts on every plot; PNG/SVG export.

    Parameters
    ----------
    parent : QWidget, optional
    parts : sequence of PlotPart subclasses, optional
        The plots (default: :data:`~optiscope.gui.plots.registry.PLOT_PARTS`).

    Attributes
    ----------
    controls : PlotControls
        The controls row (view mode, smoothing, log loss axis, boundary choice).
    shown : Shown
        Read-only views of what is on screen (for tests and tools).
    frame : PlotFrame
        The plot parts by name and what they share.

    Signals
    -------
    smoothing_changed(float)
        The smoothing weight changed (slider or :meth:`set_smoothing`).
    mode_changed(str)
        The view mode changed ("overlay" or "grid"), from the combo box or :meth:`set_mode`.
    """

    smoothing_changed = Signal(float)
    mode_changed = Signal(str)

    def __init__(
        self, parent: QtWidgets.QWidget | None = None, parts: Sequence[type[PlotPart]] = PLOT_PARTS
    ) -> None:
        super().__init__(parent)
        # cached curve pixmaps live in QPixmapCache; its 10 MB default holds only a few plots
        if QtGui.QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QtGui.QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self.frame = frame = PlotFrame(self, parts)
        self.controls = frame.controls
        self.controls.mode_chosen.connect(self.set_mode)
        self.controls.smoothing_chosen.connect(self.set_smoothing)
        self.controls.log_loss_toggled.connect(self.set_log_loss)
        self.controls.log_x_toggled.connect(self.set_log_x)
        self.controls.show_seeds_toggled.connect(self.set_show_seeds)
        frame.legend.run_clicked.connect(
            lambda rid: self.spotlight(None if frame.look.spotlight == rid else rid)
        )
        frame.legend.hint_clicked.connect(lambda: self.set_mode("grid"))  # runs hide each other
        self._theme_before_presenting = "auto"
        self._bands_queued = False
        # a zero timer (not a posted call): other timers, painting and input get turns between
        # the runs' data of paced batches, runners' items and their first bands are drawn a
        # budget per event-loop turn, continued by this one zero timer (one slice per turn)
        self.slices = Slices(self)
        self._work_timer = self.slices.timer
        # paced batches (a live run): each run's new data waits here, in arrival order, until
        # a turn has room for it (see add_events)
        self._backlog: dict[int, _Pending] = {}
        self._seq = 0  # arrival order of the events drawn from the backlog (boundaries)
        # what the turns of one backlog drew: run id -> what changed, the drawn events, markers
        self._drawn_dirty: dict[int, set[str]] = {}
        self._drawn_events: list[tuple[int, ev.Event]] = []
        self._drawn_marks = False
        self._close_due = False  # paced: close curves are looked for in a turn of their own
        layout = QtWidgets.QGridLayout()
        self._arrangement = Arrangement(frame, layout)
        self.setLayout(layout)
        self.shown = Shown(frame, self._arrangement)
        self.set_theme("auto")

    # ------------------------------------------------------------------ events
    def add_events(self, events: Sequence[ev.Event], paced: bool = False) -> None:
        """Draw a batch of events (called on the GUI thread, up to ~30 times a second).

        Appends to each run's buffers and calls ``setData`` once per changed item. Event
        types that are not drawn (e.g. :class:`~optiscope.engine.events.Weights`) are
        ignored; NaN/Inf values are kept out of the curves, which stop at the last finite
        point, and the divergence is marked.

        ``paced`` (a live run's batches): the runs' new data is drawn in the next turns of
        the event loop (a zero timer), within :data:`~optiscope.gui.plots.slices.TURN_BUDGET_S` each, run by run in the
        order it arrived, so a batch of a race of many runs does not stall the window; a
        later batch queues its runs' data behind it (one entry per run). A batch of at most
        :data:`PACED_MIN_RUNS` runs' data (and nothing waiting) is drawn at once. The
        batch in which the last run finished draws everything at once, and so does
        :meth:`flush`. Without ``paced`` everything is drawn now.
        """
        with self.frame.one_legend():  # laid out once per batch, however many runs it starts
            self._add_events(events, paced)

    def _add_events(self, events: Sequence[ev.Event], paced: bool) -> None:
        frame = self.frame
        started = False
        backlog = self._backlog
        for e in events:
            kind = type(e)
            if kind is ev.Steps:
                pending = backlog.get(e.run)
                if pending is None:
                    pending = backlog[e.run] = _Pending()
                pending.steps.append(e)  # type: ignore[arg-type]
                continue
            if kind is ev.RunStarted:
                backlog.pop(e.run, None)  # left over from an earlier run with this id
                self._start_run(e)  # type: ignore[arg-type]
                started = True
                backlog[e.run] = _Pending({"all"})
                continue
            if kind not in _DRAWN:
                continue
            run = frame.add_run(e.run)
            pending = backlog.get(e.run)
            if pending is None:
                pending = backlog[e.run] = _Pending()
            flags = pending.flags
            if kind is ev.EpochEnd:
                pending.epochs.append(e)  # type: ignore[arg-type]
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
                self._seq += 1
                pending.events.append((self._seq, e))
            elif kind is ev.Finished:
                run.status = e.reason if e.reason != "completed" else ""
                run.finished = True
                flags.add("status")
            elif kind is ev.Failed:
                run.status = "failed"
                flags.add("status")
        if started:
            self._arrangement.fit_rooms()
        final = any(type(e) is ev.Finished for e in events) and all(r.finished for r in frame.runs.values())
        if paced and not final and len(self._backlog) > PACED_MIN_RUNS:
            self._work_timer.start()  # drawn in the next turns, a budget each
        else:
            self._draw_backlog(budget=None, final=final)

    def _draw_backlog(self, budget: float | None, final: bool = False) -> None:
        """Draw the runs' data that waits (all of it; with a ``budget`` in seconds, run by run
        until it is spent, one run at least, the rest in the next turn); once none waits, what
        the drawn runs share (ranges, markers, close curves: once per backlog, not per turn),
        then, with room left, the items and bands that wait."""
        frame, backlog = self.frame, self._backlog
        end = None if budget is None else time.perf_counter() + budget
        dirty, done = self._drawn_dirty, self._drawn_events
        marks = False
        while backlog:
            rid = next(iter(backlog))
            pending = backlog.pop(rid)
            run = frame.runs.get(rid)
            if run is None:
                continue
            flags = pending.flags
            if pending.steps:
                run.append_blocks(pending.steps)
                flags.add("steps")
            if pending.epochs:
                run.append_epochs(pending.epochs)
            if flags:
                dirty.setdefault(rid, set()).update(flags)
                marks |= frame.sync(run, flags)
            done += pending.events
            if end is not None and time.perf_counter() > end:
                break
        self._drawn_marks |= marks
        if backlog or (end is not None and time.perf_counter() > end):
            self._work_timer.start()
            return  # the shared work, items and bands wait for the backlog's last turn
        self._shared_work(paced=end is not None)
        if self._close_due:
            self._work_timer.start()
        # paced: the items and bands that wait get what is left of this turn, or a turn of
        # their own (items: the next turn; bands: the next batch or BAND_WAIT_MS)
        if frame.items_due:
            room = ITEM_BUDGET_S if end is None else min(ITEM_BUDGET_S, end - time.perf_counter())
            if end is None or room > 0:  # unpaced: one runner's plot at least, as always
                self._make_items(final=final, budget=room)
            else:
                self._work_timer.start()
        if frame.band_dirty:
            room = BAND_BUDGET_S if end is None else min(BAND_BUDGET_S, end - time.perf_counter())
            if end is None or room > 0:
                self._draw_bands(final=final, budget=room)
            else:
                self._queue_bands()
        if frame.grid.building:
            frame.cells.fill()

    @property
    def pending_runs(self) -> int:
        """Runs whose data of paced batches waits for a turn of the event loop."""
        return len(self._backlog)

    def flush(self) -> None:
        """Draw everything that waits now: the runs' data (paced batches), every runner's
        items and every band (the end of a run, exports, tests)."""
        if self._backlog or self._drawn_dirty or self._drawn_marks or self._close_due:
            with self.frame.one_legend():
                self._draw_backlog(budget=None)
        self.flush_bands()

    def _shared_work(self, paced: bool) -> None:
        """What the runs drawn from one backlog share: the parts' batch hooks, axis ranges,
        markers and (``paced``: in a turn of its own) the curves that came to lie on each other."""
        frame = self.frame
        dirty, done = self._drawn_dirty, self._drawn_events
        marks, self._drawn_marks = self._drawn_marks, False
        self._drawn_dirty, self._drawn_events = {}, []
        if dirty:
            done.sort(key=lambda item: item[0])
            events = [e for _, e in done]
            for part in frame.parts.values():
                part.batch_done(events, dirty)
            if frame.ranges.update():
                marks = True  # markers above an axis wait at its top edge
            if any(flags & {"status", "all"} for flags in dirty.values()) or (
                any("epochs" in flags for flags in dirty.values())
                and time.monotonic() - frame.close_at >= CLOSE_EVERY_S
            ):
                self._close_due = True  # curves that came to lie on each other (at epoch ends, paced)
            if marks:
                frame.draw_marks()
        if self._close_due and not paced:
            self._close_due = False
            frame.find_close()

    def _draw_bands(self, final: bool = False, budget: float | None = None) -> None:
        """The runners' means and bands that have new data, paced like the curves: within
        :data:`BAND_BUDGET_S` (or ``budget``) of the GUI thread per batch; the bands left over
        are drawn first with the next batch, or after :data:`BAND_WAIT_MS` when none comes (a
        paused run), and every one at once when the last run finished (``final``)."""
        if self.frame.draw_bands(budget=None if final else BAND_BUDGET_S if budget is None else budget):
            self._queue_bands()

    def _queue_bands(self) -> None:
        if not self._bands_queued:
            self._bands_queued = True
            QtCore.QTimer.singleShot(BAND_WAIT_MS, self, self._more_bands)

    def _more_bands(self) -> None:
        self._bands_queued = False
        if self.frame.band_dirty and not self._work_timer.isActive():
            self._work_timer.start()  # in a turn of its own (see Slices.more)

    def _make_items(self, final: bool = False, budget: float | None = None) -> None:
        """The runners' items that wait (:meth:`PlotFrame.make_items`), within
        :data:`ITEM_BUDGET_S` (or ``budget``) of this turn; the rest in the next turns of the
        event loop (a zero timer), so a race of many runners starts without one long stall;
        all at once when the last run finished (``final``)."""
        if self.frame.make_items(budget=None if final else ITEM_BUDGET_S if budget is None else budget):
            self._work_timer.start()

    def flush_bands(self) -> None:
        """Make every runner's items and draw every band that waits (exports, tests; see
        :meth:`flush` for the runs' data of paced batches too)."""
        self.frame.make_items()
        self.frame.draw_bands()

    def _start_run(self, e: ev.RunStarted) -> None:
        frame = self.frame
        if e.run in frame.runs:  # an id reused without clear(): start that run afresh
            frame.remove_run(frame.runs.pop(e.run))
        run = frame.add_run(e.run, wait=True)  # a runner's items: made over a few turns
        run.start(e)
        for part in frame.parts.values():
            part.start_run(run)
            part.dot(run)  # short runs: a dot on every per-epoch value
        frame.max_steps = max(frame.max_steps, run.total_steps)
        frame.max_epochs = max(frame.max_epochs, run.epochs_planned)

    def clear(self) -> None:
        """Forget all runs (a new experiment)."""
        frame = self.frame
        runs = list(frame.runs.values())
        frame.runs.clear()
        for run in runs:
            frame.remove_run(run)
        frame.annotations.clear()
        frame.grid.clear()
        self._arrangement.fit_rooms()
        frame.max_steps = frame.max_epochs = 0
        frame.band_dirty = {}
        frame.items_due = {}
        self._work_timer.stop()
        self.slices.end = None
        self._backlog.clear()
        self._drawn_dirty, self._drawn_events, self._drawn_marks = {}, [], False
        self._close_due = False
        frame.ranges.reset()
        for part in frame.parts.values():
            part.reset()
        frame.draw_marks()
        frame.find_close()
        frame.update_legend()
        for part in frame.parts.values():
            if part.x_range or part.y_range:
                part.plot.enableAutoRange()

    def remove_run(self, run_id: int) -> None:
        """Take run ``run_id`` off every plot (e.g. a past run overlaid from the run store)."""
        frame = self.frame
        run = frame.runs.pop(run_id, None)
        self._backlog.pop(run_id, None)
        self._drawn_dirty.pop(run_id, None)
        if run is None:
            return
        frame.remove_run(run)
        # the axes range the runs that stay (a longer past run left them stretched)
        frame.max_steps = max((r.total_steps for r in frame.runs.values()), default=0)
        frame.max_epochs = max((r.epochs_planned for r in frame.runs.values()), default=0)
        if frame.runs:
            frame.ranges.update()
        else:
            frame.ranges.reset()
            for part in frame.parts.values():
                if part.x_range or part.y_range:
                    part.plot.enableAutoRange()
        frame.draw_marks()
        frame.find_close()
        frame.update_legend()

    # ------------------------------------------------------------------ settings
    def set_mode(self, mode: Mode) -> None:
        """``"overlay"``: all runs on the same axes; ``"grid"``: one cell per run."""
        if mode not in ("overlay", "grid"):
            raise ValueError(f"mode must be 'overlay' or 'grid', got {mode!r}")
        frame = self.frame
        if mode == frame.mode:
            return
        frame.mode = mode
        self._arrangement.show_mode(mode)
        for run in frame.runs.values():
            frame.cells.ensure(run)
            frame.sync(run, {"all"})
        frame.all_bands()
        frame.ranges.forget()
        frame.ranges.update()
        frame.draw_marks()
        frame.cells.fill()
        frame.find_close()  # the hint to the small multiples is for the overlay only
        self.controls.show_mode(mode)
        self.mode_changed.emit(mode)

    @property
    def mode(self) -> Mode:
        """The view mode: "overlay" or "grid"."""
        return self.frame.mode  # type: ignore[return-value]

    @property
    def building(self) -> bool:
        """True while grid cells are still being built (they fill in over a few frames)."""
        return self.frame.grid.building

    def set_theme(self, theme: str = "auto") -> None:
        """Light or dark plot backgrounds; "auto" follows the application palette."""
        frame = self.frame
        if theme == "auto":
            app = QtWidgets.QApplication.instance()
            window = app.palette().color(QtGui.QPalette.ColorRole.Window) if app is not None else None
            theme = "dark" if window is not None and window.lightness() < 128 else "light"
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)} or 'auto', got {theme!r}")
        if frame.look.presenting:
            theme = "contrast"  # the window's theme returns when presentation ends
        frame.theme_name, frame.theme = theme, THEMES[theme]
        for view in frame.views:
            view.setBackground(frame.theme["bg"])
        for h in frame.hovers:
            h.set_theme(frame.theme)
        frame.update_legend()
        for part in frame.parts.values():
            part.style()
        for run in frame.runs.values():
            frame.style_run(run)  # raw pens and casings follow the background
        frame.draw_marks(every_mode=True)  # the hidden mode's markers too
        bg = frame.theme["bg"]  # lesson captions: the run colours and background of now
        frame.annotations.recolor(
            lambda run_id: readable_color(frame.color_of(run_id), bg), frame.theme["fill"]
        )

    @property
    def theme(self) -> str:
        """The plots' theme: "light", "dark" or "contrast" (presenting)."""
        return self.frame.theme_name

    def set_presentation(self, on: bool) -> None:
        """Projector look: larger text, thicker curves, high contrast, Okabe-Ito colours and
        one line style per run (see :mod:`.presentation`); off restores the normal look."""
        frame = self.frame
        if on == frame.look.presenting:
            return
        if on:
            self._theme_before_presenting = frame.theme_name
        frame.look.set_presenting(on)
        self.controls.setVisible(not on)  # the room for the plots; F11 brings them back
        frame.legend.set_max_lines(PRESENTING_LINES if on else MAX_LINES)
        for part in frame.parts.values():  # the results table's rows take the room they need
            part.view.setMinimumHeight(PRESENTING_PLOT_MIN_H if on else PLOT_MIN_H)
        for run in frame.runs.values():
            run.color = frame.color_of(run.id)
        self.set_theme("contrast" if on else self._theme_before_presenting)
        frame.restyle_runs()
        self._arrangement.fit_rooms()

    @property
    def presenting(self) -> bool:
        return self.frame.look.presenting

    def spotlight(self, run_id: int | None) -> None:
        """Fade every run but ``run_id`` (None: show all runs alike)."""
        look = self.frame.look
        look.spotlight = run_id if run_id in self.frame.runs else None
        look.spotlight_group = self.frame.runs[run_id].group if look.spotlight is not None else None
        self.frame.restyle_runs()

    def set_smoothing(self, value: float) -> None:
        """Smoothing weight of the loss curves' debiased EMA, 0 (raw) to 0.999 (default 0.6)."""
        beta = check_smoothing(value)
        frame = self.frame
        if beta == frame.beta:
            return
        frame.beta = beta
        for run in frame.runs.values():
            run.resmooth(beta)
            frame.sync(run, {"smooth"})
        frame.draw_bands()
        frame.ranges.update()
        frame.draw_marks()
        frame.find_close()
        self.controls.show_smoothing(beta)
        self.smoothing_changed.emit(beta)

    @property
    def smoothing(self) -> float:
        """The smoothing weight of the loss curves."""
        return self.frame.beta

    def set_log_loss(self, on: bool) -> None:
        """Show the loss on a logarithmic axis."""
        on = bool(on)
        frame = self.frame
        if on == frame.log_loss:
            return
        frame.log_loss = on
        for part in frame.parts.values():
            if part.apply_log() and part.y_range:
                frame.ranges.forget(f"y:{part.y_range}")
            frame.annotations.set_axes(part.name, part.log_x(), part.log_y())
        frame.all_bands()  # a band's low end on a log axis stays above zero
        frame.ranges.update()
        frame.draw_marks()
        frame.find_close()
        self.controls.show_log_loss(on)

    @property
    def log_loss(self) -> bool:
        """Whether the loss axis is logarithmic."""
        return self.frame.log_loss

    def set_log_x(self, on: bool) -> None:
        """Show steps and epochs on a logarithmic axis on every plot that has them."""
        on = bool(on)
        frame = self.frame
        if on == frame.log_x:
            return
        frame.log_x = on
        for part in frame.parts.values():
            if part.apply_log() and part.x_range:
                frame.ranges.forget(f"x:{part.x_range}")
        for run in frame.runs.values():  # guide lines sit at view x (log10 of the step there)
            for part in frame.parts.values():
                part.draw_guides(run)
        for part in frame.parts.values():  # and so do the lesson's marks
            frame.annotations.set_axes(part.name, part.log_x(), part.log_y())
        frame.ranges.update()
        frame.draw_marks()
        self.controls.show_log_x(on)

    @property
    def log_x(self) -> bool:
        """Whether steps and epochs are on a logarithmic axis."""
        return self.frame.log_x

    # ------------------------------------------------------------------ seeds
    def set_seed_plan(self, plan: object) -> None:
        """Which run id is which runner and seed (an ``engine.seeds.SeedPlan``; None or one
        seed per runner: every run is its own). Call it before the plan's first run arrives
        (after :meth:`clear`): each runner of several seeds is then drawn as the mean over its
        seeds with a 95 % band, in one colour, with one legend entry and one grid cell."""
        from optiscope.gui.plots.seeds import SeedGroups

        self.frame.seeds = SeedGroups.of(plan)
        self.controls.show_seed_choice(self.frame.seeds is not None, self.frame.show_seeds)

    def set_show_seeds(self, on: bool) -> None:
        """Draw each seed's own thin curve besides its runner's mean and band (or not)."""
        on = bool(on)
        frame = self.frame
        if on == frame.show_seeds:
            return
        frame.show_seeds = on
        for run in frame.runs.values():
            frame.ensure_items(run)
            for part in frame.parts.values():
                part.bands.show_seed_curves(run)
            if run.seeded:
                if frame.mode == "grid" and not run.lead:
                    frame.cells.join_lead(run)
                frame.sync(run, {"all"})
        frame.draw_bands()
        frame.draw_marks()
        frame.update_legend()
        self.controls.show_seed_choice(frame.seeds is not None, on)

    @property
    def show_seeds(self) -> bool:
        """Whether each seed's own curve is drawn (runners of several seeds)."""
        return self.frame.show_seeds

    # ------------------------------------------------------------------ lessons and points
    def annotate(self, name: str, run_id: int, x: float, y: float, caption: str) -> None:
        """Mark (x, y) on overlay plot ``name`` with ``caption`` in run ``run_id``'s colour
        (a lesson's observation); :meth:`clear` removes them."""
        part, frame = self.shown.part(name), self.frame
        run = frame.runs.get(run_id)
        if run is not None and not run.lead:
            return  # a runner of several seeds: its first seed speaks for it (one caption)
        colour = readable_color(frame.color_of(run_id), frame.theme["bg"])  # a caption must read
        frame.annotations.add(
            name,
            part.plot,
            x,
            y,
            caption,
            colour,
            part.log_y(),
            frame.theme["fill"],
            part.log_x(),
            run_id,
        )

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
        self.shown.part("boundary").set_points(x, y.astype(np.int64), run)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ export
    def plot_items(self) -> dict[str, QtWidgets.QWidget]:
        """Plot name -> the widget currently showing it (what the exports render)."""
        return {name: self._arrangement.widget(part) for name, part in self.frame.parts.items()}

    def export_png(self, name: str, path: str | Path, scale: float = 2.0) -> None:
        """Save plot ``name`` as a PNG at ``scale`` times its on-screen size (written atomically).

        Overlay plots get the run legend underneath. Raises ValueError for an unknown
        name, FileNotFoundError for a missing folder, OSError if the file cannot be written.
        """
        widget, path, legend, fitted = self._export(name, path)
        with fitted:
            export.export_png(
                widget,
                path,
                background=self.frame.theme["bg"],
                legend=legend,
                curves=self._curves(),
                scale=scale,
            )

    def export_svg(self, name: str, path: str | Path) -> None:
        """Save plot ``name`` as an SVG via QSvgGenerator + ``render()`` (written atomically).

        Curves and markers are vector paths; overlay plots get the run legend underneath.
        """
        widget, path, legend, fitted = self._export(name, path)
        with fitted:
            export.export_svg(
                widget,
                path,
                title=f"Optiscope — {name}",
                background=self.frame.theme["bg"],
                legend=legend,
                curves=self._curves(),
            )

    def _export(
        self, name: str, path: str | Path
    ) -> tuple[QtWidgets.QWidget, Path, QtGui.QTextDocument | None, AbstractContextManager[None]]:
        """What exporting plot ``name`` to ``path`` takes: the widget, the checked path, the
        run legend drawn under an overlay plot of several runs, and the steps axis fitted
        to the data (:func:`export.steps_fitted`) while exporting a per-step overlay plot."""
        frame = self.frame
        if name not in frame.parts:
            raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(frame.parts)}")
        self.flush()  # every run's data, every runner's items and band as they stand now
        part = frame.parts[name]
        widget = self._arrangement.widget(part)
        path = export.prepare_target(widget, name, path)
        legend = None
        if frame.runs and part.export_legend and part.mode() == "overlay":
            fg, bg = frame.theme["fg"], frame.theme["bg"]
            legend = legend_document(frame.runs.values(), widget.width(), fg, frame.legend.notes, bg)
        last_step = max((r.steps.view()[-1] for r in frame.runs.values() if len(r.steps)), default=0.0)
        fitted: AbstractContextManager[None] = nullcontext()
        if part.x_range == "steps" and part.mode() == "overlay" and last_step > 0:
            plots = {
                p.plot: frame.parts[p.x_link].plot if p.x_link and p.name not in frame.unlinked else None
                for p in frame.parts.values()
                if p.x_range == "steps"
            }
            fitted = export.steps_fitted(plots, last_step=float(last_step))
        return widget, path, legend, fitted

    def _curves(self) -> list[pg.PlotDataItem]:
        return [c for run in self.frame.runs.values() for c in run.curves()]
