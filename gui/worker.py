"""The one bridge between the GUI thread and training: workers on parentless QThreads.

* :class:`RunWorker` (a ``QObject``) runs ``runner.execute`` for one experiment on its own
  parentless :class:`QtCore.QThread`; it batches engine events and flushes them at most
  ~30 times a second as ``events_ready(list)`` (the last partial batch always), then
  ``finished(reason)``; errors become ``errored(message)`` then ``finished("failed")``.
* :class:`RunSession` lives on the GUI thread and owns one worker, its thread and its
  :class:`~optiscope.engine.trainer.RunControl`; it stops cooperatively and joins.
* :class:`Background` is one long-lived helper thread: it loads the engine (torch,
  scikit-learn) behind the visible window, then computes previews, newest request per key.

This module imports neither torch nor the trainer at import time.
"""

from __future__ import annotations

import gc
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from PySide6 import QtCore
from PySide6.QtCore import Signal, Slot

__all__ = [
    "RunWorker",
    "RunSession",
    "Background",
    "FLUSH_INTERVAL",
    "load_engine",
    "collect_garbage_on_gui_thread",
]

FLUSH_INTERVAL = 1.0 / 30.0  # seconds between event batches, at most ~30 per second


class _GuiGarbageCollector(QtCore.QObject):
    """Python's cyclic garbage collector, run on the GUI thread only.

    Automatic collection runs in whichever thread happens to allocate; when the training
    or preview thread collects a cycle holding Qt objects (plot items, closed windows),
    their C++ destructors run off the GUI thread and can deadlock or crash Qt. So automatic
    collection is switched off and a timer collects, generation by generation, on the GUI
    thread (pyqtgraph's ``GarbageCollector`` recipe).
    """

    def __init__(self, interval_ms: int = 500) -> None:
        super().__init__(QtCore.QCoreApplication.instance())
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QtCore.QTimer(self)
        self.timer.setObjectName("optiscope-gc")
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    @Slot()
    def check(self) -> None:
        c0, c1, c2 = gc.get_count()
        if c0 > self.threshold[0]:
            gc.collect(0)
            if c1 > self.threshold[1]:
                gc.collect(1)
                if c2 > self.threshold[2]:
                    gc.collect(2)

    def stop(self) -> None:
        """Hand collection back to Python (tests, shutdown)."""
        self.timer.stop()
        gc.enable()


_gui_gc: _GuiGarbageCollector | None = None


def collect_garbage_on_gui_thread() -> _GuiGarbageCollector:
    """Install (once) the GUI-thread garbage collector; needs a QCoreApplication."""
    global _gui_gc
    if _gui_gc is None or not _gui_gc.timer.isActive():
        _gui_gc = _GuiGarbageCollector()
    return _gui_gc


class _FlushingControl:
    """Wraps the window's RunControl for the worker: flushes pending events before the
    engine blocks (pause, single steps, slow motion), so what was computed is drawn."""

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


class RunWorker(QtCore.QObject):
    """Runs one experiment (a list of RunConfig) in the thread it was moved to."""

    started = Signal()
    events_ready = Signal(list)
    errored = Signal(str)
    finished = Signal(str)

    def __init__(
        self,
        runs: Sequence[Any],
        control: Any,
        *,
        boundary_every: int = 0,
        weights_every: int = 0,
        first_run_id: int = 0,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        super().__init__()
        self.runs = list(runs)
        self.control = control
        self.boundary_every = boundary_every
        self.weights_every = weights_every
        self.first_run_id = first_run_id
        self.flush_interval = flush_interval
        self.flushes = 0
        self._buf: list[Any] = []
        self._last = 0.0
        self._lock = threading.Lock()

    def _flush(self, force: bool = True) -> None:
        with self._lock:
            now = time.perf_counter()
            if not self._buf or (not force and now - self._last < self.flush_interval):
                return
            batch, self._buf = self._buf, []
            self._last = now
            self.flushes += 1
        self.events_ready.emit(batch)

    def _on_event(self, event: Any) -> None:
        self._buf.append(event)
        if time.perf_counter() - self._last >= self.flush_interval:
            self._flush(True)

    @Slot()
    def run(self) -> None:
        """Train every run; always ends with ``finished``."""
        self.started.emit()
        reason = "completed"
        try:
            import torch

            torch.set_num_threads(1)
            from optiscope.engine import events as ev
            from optiscope.engine import runner

            bus = ev.EventBus()
            bus.subscribe(self._on_event)
            self._last = time.perf_counter()
            results = runner.execute(
                self.runs, bus=bus, control=_FlushingControl(self.control, self._flush),
                boundary_every=self.boundary_every, weights_every=self.weights_every,
                first_run_id=self.first_run_id,
            )  # fmt: skip
            reasons = [r.reason for r in results]
            if self.control.stopped:
                reason = "stopped"
            elif "failed" in reasons and len(set(reasons)) == 1:
                reason = "failed"
            elif reasons:
                reason = reasons[-1] if len(set(reasons)) == 1 else "completed"
        except Exception as exc:  # errors become signals, not crashes
            self._flush(True)
            self.errored.emit(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
            reason = "failed"
        self._flush(True)
        self.finished.emit(reason)


class RunSession(QtCore.QObject):
    """One experiment's run: worker + parentless QThread + RunControl, owned by the GUI.

    Signals mirror the worker's and arrive on the GUI thread; ``finished`` is emitted
    only once the thread has really ended, so a caller never sees a running thread after it.
    """

    started = Signal()
    events_ready = Signal(list)
    errored = Signal(str)
    finished = Signal(str)

    def __init__(
        self,
        runs: Sequence[Any],
        *,
        run_ids: Sequence[int],
        control: Any,
        boundary_every: int = 0,
        weights_every: int = 0,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.run_ids = frozenset(run_ids)
        self.control = control
        self.reason: str | None = None
        self._done = False
        self._silenced = False
        self.thread = QtCore.QThread()  # parentless: never destroyed with a widget
        self.thread.setObjectName("optiscope-run")
        self.worker = RunWorker(
            runs, control, boundary_every=boundary_every, weights_every=weights_every,
            first_run_id=min(run_ids),
        )  # fmt: skip
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.started.connect(self._on_started)
        self.worker.events_ready.connect(self._on_events)
        self.worker.errored.connect(self._on_errored)
        self.worker.finished.connect(self._on_worker_finished)
        # quit from the worker thread itself: no trip through a possibly busy GUI loop
        self.worker.finished.connect(self.thread.quit, QtCore.Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        self.thread.start()

    @property
    def running(self) -> bool:
        return not self._done

    def stop(self) -> None:
        """Ask the engine to stop at its next step (returns at once)."""
        self.control.stop()

    def join(self, timeout_ms: int = 10_000) -> bool:
        """Stop, quit and wait for the thread; True if it ended. The session emits
        nothing afterwards (its caller has moved on)."""
        self._silenced = True
        self.control.stop()
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if ok:
            self._done = True
        return ok

    @Slot()
    def _on_started(self) -> None:
        if not self._silenced:
            self.started.emit()

    @Slot(list)
    def _on_events(self, events: list) -> None:
        if not self._silenced:
            self.events_ready.emit(events)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        if not self._silenced:
            self.errored.emit(message)

    @Slot(str)
    def _on_worker_finished(self, reason: str) -> None:
        self.reason = reason

    @Slot()
    def _on_thread_finished(self) -> None:
        self.thread.wait()
        self._done = True
        if not self._silenced:
            self._silenced = True
            self.finished.emit(self.reason or "stopped")


# --------------------------------------------------------------------------- background
def load_engine() -> dict[str, Any]:
    """Import the heavy engine modules; returns what the GUI needs to know about them."""
    import torch
    from optiscope.engine import optim, runner, trainer  # noqa: F401

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    import sklearn.datasets  # noqa: F401  (previews need it; import it here, off the GUI thread)

    return {"devices": devices, "torch": torch.__version__}


class _BackgroundWorker(QtCore.QObject):
    done = Signal(str, int, object)
    failed = Signal(str, int, str)

    def __init__(self, owner: Background) -> None:
        super().__init__()
        self._owner = owner

    @Slot()
    def work(self) -> None:
        while True:
            job = self._owner._take()
            if job is None:
                return
            key, seq, fn = job
            try:
                result = fn()
            except Exception as exc:  # reported to the asking panel, in words
                self.failed.emit(key, seq, str(exc) or type(exc).__name__)
            else:
                self.done.emit(key, seq, result)


class Background(QtCore.QObject):
    """A helper thread for slow, GUI-free work: loading the engine, previews.

    :meth:`submit` keeps only the newest request per ``key`` (older ones that did not
    start are dropped); results arrive on the GUI thread as ``done(key, seq, result)``
    or ``failed(key, seq, message)``; compare ``seq`` with :meth:`latest` to skip stale ones.
    """

    done = Signal(str, int, object)
    failed = Signal(str, int, str)
    _wake = Signal()

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, Callable[[], Any]]] = {}
        self._order: list[str] = []
        self._seq: dict[str, int] = {}
        self._closed = False
        self.thread = QtCore.QThread()  # parentless
        self.thread.setObjectName("optiscope-background")
        self._worker = _BackgroundWorker(self)
        self._worker.moveToThread(self.thread)
        self._wake.connect(self._worker.work)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self.thread.start()

    def submit(self, key: str, fn: Callable[[], Any]) -> int:
        with self._lock:
            if self._closed:
                return -1
            seq = self._seq.get(key, 0) + 1
            self._seq[key] = seq
            self._pending[key] = (seq, fn)
            if key in self._order:
                self._order.remove(key)
            self._order.append(key)
        self._wake.emit()
        return seq

    def latest(self, key: str) -> int:
        with self._lock:
            return self._seq.get(key, 0)

    def idle(self) -> bool:
        with self._lock:
            return not self._pending

    def _take(self) -> tuple[str, int, Callable[[], Any]] | None:
        with self._lock:
            if self._closed or not self._order:
                return None
            key = self._order.pop(0)
            seq, fn = self._pending.pop(key)
            return key, seq, fn

    @Slot(str, int, object)
    def _on_done(self, key: str, seq: int, result: object) -> None:
        if not self._closed:
            self.done.emit(key, seq, result)

    @Slot(str, int, str)
    def _on_failed(self, key: str, seq: int, message: str) -> None:
        if not self._closed:
            self.failed.emit(key, seq, message)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Drop queued jobs, let a running one end, stop the thread and wait for it."""
        with self._lock:
            self._closed = True
            self._pending.clear()
            self._order.clear()
        self.thread.quit()
        return self.thread.wait(timeout_ms)
