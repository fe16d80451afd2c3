"""Training runs for the window: one job at a time, paced drawing, the status numbers.

:class:`RunController` starts an experiment's runs as a background job (:mod:`.worker`),
holds its engine ``RunControl`` (pause, single steps, slow motion, live learning rate),
counts what arrived (steps, epochs, rates, elapsed time) and paces drawing: batches that
arrive while the plots are still busy are merged, so drawing takes at most about
``DRAW_BUSY_FRACTION`` of the GUI thread. It knows nothing of widgets: the window connects
its signals (``started``, ``events_ready``, ``draw_ready``, ``status_changed``,
``state_changed``, ``finished``, ``report``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optiscope.engine import outcome
from optiscope.engine.control import RunControl
from PySide6 import QtCore
from PySide6.QtCore import Signal, Slot

from .worker import Job, JobContext, JobRunner

__all__ = ["RunController", "SPEEDS", "train_job"]

# slow motion: seconds of delay before every update, and how the speed control names them
SPEEDS: tuple[tuple[float, str], ...] = (
    (0.0, "full speed"),
    (0.002, "fast"),
    (0.01, "100 steps/s"),
    (0.05, "20 steps/s"),
    (0.1, "10 steps/s"),
    (0.25, "4 steps/s"),
    (0.5, "2 steps/s"),
    (1.0, "1 step/s"),
)
MIN_DRAW_INTERVAL = 1.0 / 25.0  # plots redraw at most ~25 times a second (events arrive <= 30/s)
DRAW_BUSY_FRACTION = 0.25  # and slower when one redraw is expensive (a slow machine, many runs)
# While training runs next to the GUI thread both need the GIL; a short switch interval
# (Python's default is 5 ms) keeps the plots' many small Python->Qt calls from queueing
# behind the training thread: event-loop stalls roughly halve, training loses ~1 %.
RUN_SWITCH_INTERVAL = 0.0005
STATUS_INTERVAL = 0.25  # the status bar's numbers change at most 4 times a second
REASON_WORDS = outcome.REASON_SENTENCES  # the engine says how a run ended


class _FlushingControl:
    """Wraps a RunControl for the job: flushes pending events before the engine blocks
    (pause, single steps, slow motion), so what was computed is drawn."""

    def __init__(self, control: Any, flush: Callable[[bool], None]) -> None:
        self._control = control
        self._flush = flush

    def checkpoint(self) -> bool:
        c = self._control
        if c.paused:
            self._flush(True)
        elif c.delay > 0:
            self._flush(False)
        return c.checkpoint()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._control, name)


class Recording:
    """Where a window run is kept: the run store's recorder (opened in the job's thread, as
    SQLite wants) and the problems met, in words (read on the GUI thread after the run)."""

    def __init__(self, store_path: Path | None, experiment: str) -> None:
        self.store_path = store_path
        self.experiment = experiment
        self.recorder: Any = None
        self.problems: list[str] = []  # list.append is atomic: safe from the job's thread

    def open(self) -> Any:
        """The run store's recorder, or None (with the reason in :attr:`problems`)."""
        import sqlite3

        from optiscope.engine.store import RunStore, StoreError

        try:
            store = RunStore(self.store_path)
        except (StoreError, sqlite3.Error, OSError) as exc:
            self.problems.append(f"The run store is unavailable ({exc}); this run is not kept.")
            return None
        if store.read_only:  # training never depends on the store
            self.problems.append(f"The run store {store.path} is read-only; this run is not kept.")
            store.close()
            return None
        if store.recovered_from is not None:
            self.problems.append(
                f"The run store was damaged: it was moved to {store.recovered_from} and a fresh one started."
            )
        self.recorder = store.recorder(self.experiment, on_error=self.problems.append)
        return self.recorder

    @property
    def stored_ids(self) -> list[int]:
        return sorted(self.recorder.ids.values()) if self.recorder is not None else []


@dataclass(frozen=True)
class TrainOutcome:
    """What a training job returns: how it ended (``completed``, ``stopped``, ``failed``,
    ``diverged``...) and the engine's result of every run (``runner.RunResult``, with its
    trained model moved to the CPU)."""

    reason: str
    results: list[Any]


def train_job(
    runs: Sequence[Any],
    control: Any,
    *,
    boundary_every: int = 0,
    lead_runs: Sequence[int] | None = None,
    weights_every: int = 0,
    recording: Recording | None = None,
) -> Callable[[JobContext], TrainOutcome]:
    """The job that trains ``runs`` (``runner.execute``), emitting every engine event and,
    with ``recording``, writing the runs into the run store as they train (as the CLI does).
    Decision boundaries (every ``boundary_every`` epochs) and weight snapshots (every
    ``weights_every`` updates) come for the run ids ``lead_runs`` (None: every run).

    Returns a :class:`TrainOutcome`: the end reason and what the engine reported per run.
    """
    runs = list(runs)

    def job(context: JobContext) -> TrainOutcome:
        import torch

        torch.set_num_threads(1)
        from optiscope.engine import events as ev
        from optiscope.engine import runner

        bus = ev.EventBus()
        bus.subscribe(context.emit)
        recorder = recording.open() if recording is not None else None
        if recorder is not None:
            bus.subscribe(recorder, *recorder.EVENT_TYPES)
        results = runner.execute(
            runs,
            bus=bus,
            control=_FlushingControl(control, context.flush),
            boundary_every=boundary_every,
            boundary_runs=lead_runs,
            weights_every=weights_every,
            weights_runs=lead_runs,
            keep_models=True,  # File → Save weights, Save run bundle
        )
        for r in results:  # the window keeps the trained models: on the CPU, no device memory held
            if r.model is not None:
                r.model = r.model.cpu()
        reasons = {r.reason for r in results}
        reason = "stopped" if control.stopped else reasons.pop() if len(reasons) == 1 else "completed"
        return TrainOutcome(reason, list(results))

    return job


class RunController(QtCore.QObject):
    """The live run: its job and RunControl, drawing pace and status numbers.

    Signals
    -------
    started()
        A run began.
    events_ready(list)
        Every batch of the live run's engine events, as it arrives.
    draw_ready(list)
        Events to draw now (merged batches, paced for the GUI thread).
    status_changed()
        The status numbers changed (read :meth:`status_texts`).
    state_changed()
        Running, paused or stopped changed (the window's actions follow).
    finished(str)
        The run ended, with its reason; every event was drawn first.
    report(str, bool)
        A message for the user, and whether it is an error.
    """

    started = Signal()
    events_ready = Signal(object)  # a list, passed as is (Signal(list) converts every item)
    draw_ready = Signal(object)  # a list, as events_ready
    status_changed = Signal()
    state_changed = Signal()
    finished = Signal(str)
    report = Signal(str, bool)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = JobRunner(self, name="optiscope-run")
        self.jobs.errored.connect(self._on_errored)
        self.job: Job | None = None
        #: runs trained by the notebook API are being shown (:meth:`begin_external`)
        self.external = False
        self.control: Any = None
        self.delay = 0.0
        #: the run store the window's runs are written to (None: the user's default store);
        #: ``record = False`` keeps runs out of it
        self.store_path: Path | None = None
        self.record = True
        self.recording: Recording | None = None
        self.live_runs: list[Any] = []
        self.live_experiment = ""  # the name of the experiment the live (or last) runs belong to
        #: the last run's ``engine.seeds.SeedPlan`` (None: one seed per run): which run id is
        #: which runner and seed, for every room that shows the runs
        self.plan: Any = None
        self.live_lr_scale = 1.0
        self._frame_cost = 0.0
        self._last_draw = 0.0
        self._draw_started = 0.0
        self._last_status = 0.0
        self._draw_timer = QtCore.QTimer(self)
        self._draw_timer.setObjectName("optiscope-draw")
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw)
        self._elapsed_timer = QtCore.QTimer(self)
        self._elapsed_timer.setObjectName("optiscope-elapsed")
        self._elapsed_timer.setInterval(500)
        self._elapsed_timer.timeout.connect(self.status_changed)
        self.clear()

    # ------------------------------------------------------------------ state
    def clear(self) -> None:
        """Forget every count of the last run (the plots are the window's to clear)."""
        self._draw_timer.stop()
        self._pending_draw: list[Any] = []
        # a new run's drawing pace is measured afresh: the last run's costly frames (its first,
        # making every plot's items) would hold back this run's first draw, which then grows
        self._frame_cost = 0.0
        self._draw_work = 0.0
        self._draw_started = 0.0  # and a frame of the last run still to be measured is not
        self.run_info: dict[int, Any] = {}
        self.epoch_events: list[Any] = []
        #: run id -> its last update seen (``engine.events.StepRow``)
        self.last_step: dict[int, Any] = {}
        self.finished_reasons: dict[int, str] = {}
        self.total_steps_seen = 0
        self._rate_samples: list[tuple[float, int]] = []
        self._t_start: float | None = None
        self._t_end: float | None = None
        self.last_reason: str | None = None
        #: the engine's result of every run of the last finished job (``RunResult``, by run id)
        self.results: list[Any] = []

    @property
    def running(self) -> bool:
        """A run is live: trained here, or by the notebook API and shown here (:meth:`begin_external`)."""
        return self.job is not None or self.external

    @property
    def controllable(self) -> bool:
        """The live run trains here, so Pause, Step and Stop reach it (not runs of the notebook API)."""
        return self.job is not None

    @property
    def paused(self) -> bool:
        return self.job is not None and self.control.paused

    def label(self, run: int) -> str:
        info = self.run_info.get(run)
        return info.label if info is not None else str(run)

    # ------------------------------------------------------------------ commands
    def start(
        self, runs: Sequence[Any], *, paused: bool = False, experiment: str = "", plan: Any = None
    ) -> None:
        """Train ``runs`` (an experiment's resolved runs), stopping a live run first; they
        are recorded in the run store under ``experiment`` as they train.

        ``plan`` (an ``engine.seeds.SeedPlan`` whose ``runs`` are ``runs``) says which run is
        which runner and seed: run id ``r`` (ids start at 0) is plan index ``r``. Without
        one, every run is its own runner with one seed. With several seeds per runner only
        each runner's first seed (the one the boundary plot and the loss surface show) gets
        decision boundaries and weight snapshots."""
        from optiscope.engine.landscape import snapshot_every  # torch: the engine is loaded by now
        from optiscope.engine.trainer import boundary_every

        sys.setswitchinterval(RUN_SWITCH_INTERVAL)
        self.end()
        control = RunControl(start_paused=paused)
        control.set_delay(self.delay)
        self.recording = Recording(self.store_path, experiment) if self.record else None
        fn = train_job(
            runs,
            control,
            boundary_every=boundary_every(runs),
            lead_runs=plan.leads if plan is not None and plan.n_seeds > 1 else None,
            weights_every=snapshot_every(runs),
            recording=self.recording,
        )
        self.clear()
        self.control = control
        self.live_runs = list(runs)
        self.live_experiment = experiment
        self.plan = plan
        self.live_lr_scale = 1.0
        self._t_start = time.perf_counter()
        self.job = self.jobs.submit(
            "run", fn, on_events=self._on_events, on_finished=self._on_finished, on_cancel=control.stop
        )
        self._elapsed_timer.start()
        self.state_changed.emit()
        self.status_changed.emit()
        self.started.emit()

    def end(self, timeout_ms: int = 15_000) -> None:
        """Stop the live run (if any) and wait for its thread; it reports nothing more."""
        self.job = None
        self.external = False  # runs shown from the notebook API: their later events are dropped
        self.control = self.recording = None  # nothing of an ended run stays reachable
        if not self.jobs.join("run", timeout_ms):  # pragma: no cover - a step that takes > 15 s
            self.report.emit("The previous run did not stop in time; it will end on its own.", True)
        self._elapsed_timer.stop()

    def stop(self) -> bool:
        """Ask the run to stop at its next update (``finished`` follows); False if none is live."""
        if self.job is None:
            return False
        self.control.stop()
        return True

    def toggle_pause(self) -> None:
        if self.job is None:
            return
        if self.control.paused:
            self.control.resume()
        else:
            self.control.pause()
        self.state_changed.emit()

    def advance(self, steps: int) -> None:
        """Let the live (paused) run make ``steps`` more updates."""
        if self.job is not None:
            self.control.advance(steps)
            self.state_changed.emit()

    def steps_to_epoch_end(self, planned_steps_per_epoch: int) -> int:
        """Updates left in the current epoch of the latest run."""
        spe, done = None, 0
        if self.last_step:
            run = max(self.last_step)
            info = self.run_info.get(run)
            spe = info.steps_per_epoch if info is not None else None
            done = self.last_step[run].step
        spe = spe or planned_steps_per_epoch
        return spe - (done % spe)

    def set_delay(self, seconds: float) -> None:
        self.delay = seconds
        if self.control is not None:
            self.control.set_delay(seconds)

    def scale_live_lr(self, factor: float) -> bool:
        """Multiply every rate of the live runs' schedules by ``factor`` from the next update
        (:attr:`live_lr_scale` keeps the product); False if no run is live or nothing changes."""
        if self.job is None or not factor > 0 or abs(factor - 1.0) < 1e-12:
            return False
        self.control.scale_lr(factor)
        self.live_lr_scale *= factor
        return True

    # ------------------------------------------------------------------ runs trained elsewhere
    def begin_external(self, runs: Sequence[Any], experiment: str = "") -> None:
        """Show runs the notebook API trains (``optiscope.run(..., show=True)``, ``optiscope.show``):
        the live run (if any) stops, the plots clear, and :meth:`add_external` draws their events
        as a run's of this window are drawn."""
        self.end()
        self.clear()
        self.live_runs = list(runs)
        self.live_experiment = experiment
        self.plan = None  # one seed per run: the API's runs are shown as they are
        self.live_lr_scale = 1.0
        self._t_start = time.perf_counter()
        self.external = True  # Run, Stop and Pause leave them alone; Reset or a new run drops them
        self.state_changed.emit()
        self.started.emit()

    def add_external(self, events: list) -> None:
        """Engine events of the runs begun with :meth:`begin_external`, in the order emitted
        (dropped once the window has moved on: Reset, another experiment opened)."""
        if self.external:
            self._on_events(events)

    def end_external(self, results: Sequence[Any], reason: str) -> None:
        """The runs begun with :meth:`begin_external` ended: every event is drawn and their
        results (``RunResult``, with the trained models) are the window's, as after a run here
        (File → Save weights, Save run bundle)."""
        if not self.external:
            return
        self.external = False
        self.results = list(results)
        self.last_reason = reason
        self._t_end = time.perf_counter()
        self.state_changed.emit()
        try:
            self.finished.emit(reason)
        finally:
            self.flush()
            self.status_changed.emit()

    # ------------------------------------------------------------------ job callbacks
    def _on_events(self, events: list) -> None:
        from optiscope.engine import events as ev

        for e in events:
            t = type(e)
            if t is ev.Steps:
                self.last_step[e.run] = e.last()
                self.total_steps_seen += len(e)
            elif t is ev.EpochEnd:
                self.epoch_events.append(e)
            elif t is ev.RunStarted:
                self.run_info[e.run] = e
            elif t is ev.Finished:
                self.finished_reasons[e.run] = e.reason
            elif t is ev.Failed:
                self.report.emit(f"Run '{self.label(e.run)}' failed: {e.message}", True)
            elif t is ev.Diverged:
                self.report.emit(
                    f"Run '{self.label(e.run)}' diverged at update {e.step} (loss {e.loss}).", True
                )
            elif t is ev.EarlyStopped:
                self.report.emit(
                    f"Run '{self.label(e.run)}' stopped early at epoch {e.epoch}; best epoch {e.best_epoch}.",
                    False,
                )
        now = time.perf_counter()
        self._rate_samples.append((now, self.total_steps_seen))
        while len(self._rate_samples) > 2 and now - self._rate_samples[0][0] > 1.5:
            self._rate_samples.pop(0)
        self._pending_draw.extend(events)
        self.events_ready.emit(events)
        if not self._draw_timer.isActive():
            gap = max(MIN_DRAW_INTERVAL, self._frame_cost / DRAW_BUSY_FRACTION)
            self._draw_timer.start(max(int((self._last_draw + gap - now) * 1000), 0))

    @Slot(str, str)
    def _on_errored(self, key: str, message: str) -> None:
        self.report.emit(f"The run failed: {message.splitlines()[0]}", True)

    def _on_finished(self, job: Job) -> None:
        self.job = None
        outcome = job.result if job.error is None else TrainOutcome("failed", [])
        self.last_reason = reason = outcome.reason
        self.results = outcome.results
        self._t_end = time.perf_counter()
        self._elapsed_timer.stop()
        self.state_changed.emit()
        if self.recording is not None:
            for problem in self.recording.problems:
                self.report.emit(problem, True)
        self.report.emit(REASON_WORDS.get(reason, reason), False)
        try:
            self.finished.emit(reason)
        finally:
            self.flush()  # the last events are drawn before control returns to Qt
            self.status_changed.emit()

    # ------------------------------------------------------------------ drawing pace
    def _draw(self) -> None:
        self._draw_timer.stop()
        batch, self._pending_draw = self._pending_draw, []
        self._draw_started = self._last_draw = time.perf_counter()
        if batch:
            self.draw_ready.emit(batch)
        if self._draw_started - self._last_status >= STATUS_INTERVAL:
            self._last_status = self._draw_started
            self.status_changed.emit()
        # time the drawing plus the repaint it causes: the zero timer fires after the paint
        QtCore.QTimer.singleShot(0, self._measure_frame)

    def add_draw_work(self, seconds: float) -> None:
        """Drawing work done since the last frame after it was handed over (plots that draw a
        batch over several turns of the event loop): it counts in that frame's cost, so the
        drawing pace follows what drawing really takes."""
        self._draw_work += max(float(seconds), 0.0)

    @Slot()
    def _measure_frame(self) -> None:
        if not self._draw_started:
            return  # cleared since that draw: a new run measures its own frames
        cost = time.perf_counter() - self._draw_started + self._draw_work
        self._draw_work = 0.0
        self._frame_cost = cost if self._frame_cost == 0.0 else 0.7 * self._frame_cost + 0.3 * cost

    def flush(self) -> None:
        """Draw every event received so far now (the end of a run, exports, tests)."""
        if self._pending_draw:
            self._draw()

    # ------------------------------------------------------------------ status numbers
    def status_texts(self) -> dict[str, str]:
        """The status bar's texts: epoch, step, lr, rate, device, elapsed."""
        out = {}
        if not self.last_step:
            out["epoch"], out["step"] = "Epoch –", "Step –"
        else:
            run = max(self.last_step)
            s = self.last_step[run]
            info = self.run_info.get(run)
            total_epochs = info.epochs if info is not None else "?"
            total_steps = f"{info.total_steps:,}" if info is not None else "?"
            out["epoch"] = f"Epoch {s.epoch}/{total_epochs}"
            out["step"] = f"Step {s.step:,}/{total_steps}"
            out["lr"] = f"LR {s.lr:.3g}"
        rate = 0.0
        if len(self._rate_samples) >= 2:
            (t0, n0), (t1, n1) = self._rate_samples[0], self._rate_samples[-1]
            if t1 > t0:
                rate = (n1 - n0) / (t1 - t0)
        out["rate"] = f"{rate:,.0f} steps/s" if self.running else "– steps/s"
        device = next(iter(self.run_info.values())).device if self.run_info else "–"
        out["device"] = f"Device {device}"
        if self._t_start is None:
            out["elapsed"] = "0:00"
        else:
            end = self._t_end if self._t_end is not None else time.perf_counter()
            secs = int(end - self._t_start)
            out["elapsed"] = f"{secs // 60}:{secs % 60:02d}"
        return out

    def shutdown(self) -> None:
        """Stop the live run and wait for it; stop the timers (idempotent)."""
        self.end()
        self._draw_timer.stop()
        self._elapsed_timer.stop()
        self.jobs.shutdown()
