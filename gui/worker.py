"""One mechanism for every background job: a worker on a parentless QThread per job.

Training runs, LR-schedule previews, dataset and augmentation previews, loss surfaces and
the test-function race all start, report, fail and get cancelled the same way
(CONVENTIONS rules 5-7 and 14; the models are Orange3's ``ConcurrentMixin`` and superqt's
``create_worker``):

* A job is a plain function ``fn(context) -> result`` that runs off the GUI thread. It
  reports partial results with :meth:`JobContext.emit` (batched: flushed at most ~30 times a
  second, rule 6) and checks :attr:`JobContext.cancelled` to stop cooperatively (rule 7).
* :class:`Job` (GUI thread) owns the :class:`JobWorker` (a ``QObject`` moved to its own
  parentless :class:`QtCore.QThread`) and re-emits its past-tense signals: ``started``,
  ``events_ready(list)``, ``errored(str)`` and ``finished()``. ``finished`` comes once the
  thread has really ended; :attr:`Job.result` / :attr:`Job.error` hold the outcome.
* :class:`JobRunner` keeps one current job per key. Submitting a job under a key cancels the
  old one *by disconnecting it*: nothing it still reports reaches its callbacks (the one
  rule for dropping stale results: no sequence numbers, no run-id filters). The new job
  starts as soon as the cancelled one has ended, so one key never runs two threads; a
  request replaced before it started is dropped. Every error of every job goes through
  :attr:`JobRunner.errored` (one error path). :meth:`JobRunner.shutdown` cancels and joins all.

This module imports neither torch nor the engine at import time.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore
from PySide6.QtCore import Signal, Slot

__all__ = [
    "FLUSH_INTERVAL",
    "Job",
    "JobContext",
    "JobRunner",
    "JobWorker",
    "collect_garbage_on_gui_thread",
    "freeze_long_lived",
    "thaw_long_lived",
    "describe_error",
    "load_engine",
]

FLUSH_INTERVAL = 1.0 / 30.0  # seconds between batches of partial results, at most ~30 per second


FULL_SPACING = 5  # a full collection every threshold[2] * 5 generation-1 collections (as at 500 ms looks)


class _GuiGarbageCollector(QtCore.QObject):
    """Python's cyclic garbage collector, run on the GUI thread only.

    Automatic collection runs in whichever thread happens to allocate; when a job's thread
    collects a cycle holding Qt objects (plot items, closed windows), their C++ destructors
    run off the GUI thread and can deadlock or crash Qt. So automatic collection is switched
    off and a timer collects, generation by generation, on the GUI thread (pyqtgraph's
    ``GarbageCollector`` recipe). It looks every 100 ms, so each collection walks only the
    objects made since the last (a few ms; every 500 ms a generation-1 collection walked
    5 s of survivors: 75-90 ms stalls while a race was drawn). A full collection (10-25 ms
    after a 128-run race) keeps its old spacing: every 50 generation-1 collections, about
    50 s while busy.

    Modules imported after :func:`freeze_long_lived` (the engine's lazy imports: the first
    optimizer's ``torch._dynamo``, ~150,000 objects, scipy's distributions) are frozen too
    once they appear, before a collection walks them: otherwise every generation-1 and -2
    collection walks them again. Freezing happens only when the set of modules grew (a
    few times a session), so the few cycles alive at that moment are kept until the window
    closes (:func:`thaw_long_lived`), never a run's worth each time.
    """

    def __init__(self, interval_ms: int = 100) -> None:
        super().__init__(QtCore.QCoreApplication.instance())
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QtCore.QTimer(self)
        self.timer.setObjectName("optiscope-gc")
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    @Slot()
    def check(self) -> None:
        global _frozen_modules
        if _frozen_modules and len(sys.modules) > _frozen_modules:  # new modules: long-lived
            _frozen_modules = len(sys.modules)
            gc.freeze()
            return
        c0, c1, c2 = gc.get_count()
        if c0 > self.threshold[0]:
            gc.collect(0)
            if c1 > self.threshold[1]:
                gc.collect(1)
                if c2 > self.threshold[2] * FULL_SPACING:
                    gc.collect(2)

    def stop(self) -> None:
        """Hand collection back to Python (tests, shutdown)."""
        self.timer.stop()
        gc.enable()


_gui_gc: _GuiGarbageCollector | None = None
_frozen_modules = 0  # len(sys.modules) at the last freeze (0: not frozen)


def collect_garbage_on_gui_thread() -> _GuiGarbageCollector:
    """Install (once) the GUI-thread garbage collector; needs a QCoreApplication."""
    global _gui_gc
    if _gui_gc is None or not _gui_gc.timer.isActive():
        _gui_gc = _GuiGarbageCollector()
    return _gui_gc


def freeze_long_lived() -> None:
    """Move every object alive now to the collector's permanent generation (``gc.freeze``).

    Called once the engine is imported: the modules' objects (torch, the engine: ~350,000)
    would otherwise be walked by every generation-1 and -2 collection on the GUI thread, a
    stall of 50-200 ms each while a run is drawn. :func:`thaw_long_lived` hands them back.
    """
    global _frozen_modules
    _frozen_modules = len(sys.modules)
    gc.freeze()


def thaw_long_lived() -> None:
    """Hand the frozen objects back to the collector (a window closing: its objects must be
    collectable once it is gone)."""
    global _frozen_modules
    _frozen_modules = 0
    gc.unfreeze()


def describe_error(exc: BaseException) -> str:
    """An exception in words for the user: the engine's own errors (``ValueError`` and
    ``OSError`` kinds: bad settings, unreadable files) as they are, others with their type."""
    text = str(exc)
    if isinstance(exc, (ValueError, OSError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobContext:
    """What a job function sees, safe to use from its thread: cancellation and reporting.

    Parameters
    ----------
    flush_interval
        Seconds between batches of :meth:`emit`-ted items (the last batch always comes).
    """

    def __init__(self, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.cancel_event = threading.Event()
        self.flush_interval = flush_interval
        self.flushes = 0
        self._buf: list[Any] = []
        self._last = time.perf_counter()
        self._lock = threading.Lock()
        self._send: Callable[[list], None] = lambda batch: None

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled: a cooperative job returns soon after."""
        return self.cancel_event.is_set()

    def emit(self, item: Any) -> None:
        """Report one partial result; items reach the GUI in batches (``events_ready``)."""
        with self._lock:
            self._buf.append(item)
            due = time.perf_counter() - self._last >= self.flush_interval
        if due:
            self.flush()

    def flush(self, force: bool = True) -> None:
        """Send what :meth:`emit` buffered now (``force=False``: only if a batch is due)."""
        with self._lock:
            now = time.perf_counter()
            if not self._buf or (not force and now - self._last < self.flush_interval):
                return
            batch, self._buf = self._buf, []
            self._last = now
            self.flushes += 1
        self._send(batch)


class JobWorker(QtCore.QObject):
    """Runs ``fn(context)`` in the thread it was moved to; always ends with ``finished``.

    An exception becomes ``errored(message)`` (the traceback is kept in :attr:`details`),
    never a crash; ``finished`` follows in every case.
    """

    started = Signal()
    events_ready = Signal(object)  # a list, passed as is (Signal(list) converts every item)
    errored = Signal(str)
    finished = Signal()

    def __init__(self, fn: Callable[[JobContext], Any], context: JobContext) -> None:
        super().__init__()
        self.fn = fn
        self.context = context
        self.result: Any = None
        self.error: str | None = None
        self.details = ""
        context._send = self.events_ready.emit

    @Slot()
    def run(self) -> None:
        self.started.emit()
        try:
            self.result = self.fn(self.context)
        except Exception as exc:  # errors become signals, not crashes (rule 8)
            self.context.flush()
            self.error = describe_error(exc)
            self.details = traceback.format_exc(limit=6)
            self.errored.emit(self.error)
        self.context.flush()
        self.fn = None  # drop what the job captured as soon as it is done
        self.finished.emit()


class Job(QtCore.QObject):
    """One background job: its worker, its parentless QThread, its cancellation.

    The signals mirror the worker's and arrive on the GUI thread; so do the optional
    callbacks (``on_events(items)``, ``on_errored(message)``, ``on_done(result)`` when the
    function returned, ``on_finished(job)`` at the end in every case). After :meth:`cancel`
    the job is silent: nothing it still reports is passed on, and it lets go of every
    receiver (a window connected to it can be garbage-collected). ``finished`` is emitted
    only once the thread has ended.

    Parameters
    ----------
    fn
        ``fn(context) -> result``, run in the job's thread.
    name
        The thread's name (shown in thread lists and test failures).
    on_cancel
        Called on the GUI thread by :meth:`cancel`, e.g. to stop an engine ``RunControl``.
    """

    started = Signal()
    events_ready = Signal(object)  # a list, passed as is (Signal(list) converts every item)
    errored = Signal(str)
    finished = Signal()

    def __init__(
        self,
        fn: Callable[[JobContext], Any],
        *,
        name: str = "optiscope-job",
        on_events: Callable[[list], None] | None = None,
        on_errored: Callable[[str], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_finished: Callable[[Job], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        super().__init__()
        self.name = name
        self.context = JobContext(flush_interval)
        self.on_events = on_events
        self.on_errored = on_errored
        self.on_done = on_done
        self.on_finished = on_finished
        self.on_cancel = on_cancel
        self.on_thread_ended: Callable[[Job], None] | None = None  # bookkeeping, even when silent
        self._silenced = False
        self._ended = False
        self._started = False
        self.thread = QtCore.QThread()  # parentless: never destroyed with a widget (rule 5)
        self.thread.setObjectName(name)
        self.worker = JobWorker(fn, self.context)
        self.worker.moveToThread(self.thread)
        # every connection goes to a bound method of a QObject: Qt holds those weakly
        self.thread.started.connect(self.worker.run)
        self.worker.started.connect(self._on_started)
        self.worker.events_ready.connect(self._on_events)
        self.worker.errored.connect(self._on_errored)
        # quit from the worker thread itself: no trip through a possibly busy GUI loop
        self.worker.finished.connect(self.thread.quit, QtCore.Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self._on_thread_finished)

    # -- outcome
    @property
    def result(self) -> Any:
        """What the job function returned (None before the end or after an error)."""
        return self.worker.result

    @property
    def error(self) -> str | None:
        """The error in words, or None."""
        return self.worker.error

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the thread has ended."""
        return self._started and not self._ended

    @property
    def started_yet(self) -> bool:
        return self._started

    @property
    def cancelled(self) -> bool:
        return self.context.cancelled

    # -- control
    def start(self) -> None:
        if not self._started:
            self._started = True
            self.thread.start()

    def cancel(self) -> None:
        """Ask the job to stop (returns at once) and silence it: its late results are dropped."""
        self.context.cancel_event.set()
        on_cancel, self.on_cancel = self.on_cancel, None
        self.silence()
        if on_cancel is not None:
            on_cancel()

    def silence(self) -> None:
        """Pass nothing on from now on and let go of every receiver."""
        if self._silenced:
            return
        self._silenced = True
        self.on_events = self.on_errored = self.on_done = self.on_finished = None
        with warnings.catch_warnings():  # PySide warns when a signal had no receiver
            warnings.simplefilter("ignore", RuntimeWarning)
            for signal in (self.started, self.events_ready, self.errored, self.finished):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):  # nothing connected
                    pass

    def join(self, timeout_ms: int = 10_000) -> bool:
        """Cancel, then wait for the thread; True if it ended (or never started)."""
        self.cancel()
        if not self._started:
            self._ended = True
            return True
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if ok and not self._ended:
            self._on_thread_finished()
        return ok

    # -- from the worker (queued onto the GUI thread)
    @Slot()
    def _on_started(self) -> None:
        if not self._silenced:
            self.started.emit()

    @Slot(object)
    def _on_events(self, items: list) -> None:
        if not self._silenced:
            if self.on_events is not None:
                self.on_events(items)
            self.events_ready.emit(items)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        if not self._silenced:
            if self.on_errored is not None:
                self.on_errored(message)
            self.errored.emit(message)

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._ended:
            return
        self.thread.wait()
        self._ended = True
        ended, self.on_thread_ended = self.on_thread_ended, None
        if ended is not None:
            ended(self)
        if self._silenced:
            return
        try:
            if self.error is None and self.on_done is not None:
                self.on_done(self.result)
            if self.on_finished is not None:
                self.on_finished(self)
            self.finished.emit()
        finally:
            self.silence()


class JobRunner(QtCore.QObject):
    """One current job per key; a new job cancels the old by disconnecting it.

    The callbacks given to :meth:`submit` are called on the GUI thread while the job is
    current (see :class:`Job`). Every error of every job goes to one place, the
    ``errored(key, message)`` signal. A cancelled job calls nothing.
    """

    errored = Signal(str, str)

    def __init__(self, parent: QtCore.QObject | None = None, *, name: str = "optiscope") -> None:
        super().__init__(parent)
        self.name = name
        self._current: dict[str, Job] = {}
        self._ending: dict[str, list[Job]] = {}  # cancelled, thread still running: kept alive
        self._closed = False

    def submit(
        self,
        key: str,
        fn: Callable[[JobContext], Any],
        *,
        on_events: Callable[[list], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_finished: Callable[[Job], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> Job | None:
        """Run ``fn(context)`` in the background as the current job of ``key``.

        Returns the :class:`Job` (None after :meth:`shutdown`). The key's previous job is
        cancelled first; this one starts once that one's thread has ended.
        """
        if self._closed:
            return None
        self.cancel(key)
        job = Job(
            fn,
            name=f"{self.name}-{key}",
            on_events=on_events,
            on_done=on_done,
            on_finished=on_finished,
            on_cancel=on_cancel,
            flush_interval=flush_interval,
        )
        job.key = key
        job.on_errored = self._report_error_of(key)
        job.on_thread_ended = self._on_thread_ended
        self._current[key] = job
        if not self._ending.get(key):
            job.start()  # else: started when the cancelled one has ended (one thread per key)
        return job

    def _report_error_of(self, key: str) -> Callable[[str], None]:
        errored = self.errored
        return lambda message: errored.emit(key, message)

    def current(self, key: str) -> Job | None:
        """The key's current job (running or waiting to start), or None."""
        return self._current.get(key)

    def busy(self, key: str | None = None) -> bool:
        """True while ``key`` (any key if None) has a current job."""
        return bool(self._current) if key is None else key in self._current

    def cancel(self, key: str) -> None:
        """Cancel the key's current job: it is asked to stop and its results are dropped."""
        job = self._current.pop(key, None)
        if job is None:
            return
        job.cancel()
        if job.running:
            self._ending.setdefault(key, []).append(job)

    def join(self, key: str, timeout_ms: int = 15_000) -> bool:
        """Cancel the key's job and wait for its thread (and any cancelled one) to end."""
        self.cancel(key)
        ok = True
        for job in list(self._ending.get(key, ())):
            ok &= job.join(timeout_ms)
        return ok

    def _on_thread_ended(self, job: Job) -> None:
        key = job.key
        ending = self._ending.get(key, [])
        if job in ending:
            ending.remove(job)
        if not ending:
            self._ending.pop(key, None)
        current = self._current.get(key)
        if current is job:
            del self._current[key]  # it ran to its end: the key is free again
        elif current is not None and not current.started_yet and not ending and not self._closed:
            current.start()  # the newest request, waiting for the cancelled job to end

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job, drop waiting ones and wait for every thread (idempotent)."""
        self._closed = True
        ok = True
        for key in list(self._current) + list(self._ending):
            ok &= self.join(key, timeout_ms)
        return ok


def load_engine(context: JobContext | None = None) -> dict[str, Any]:
    """Import the heavy engine modules (a job); returns what the GUI needs to know of them."""
    import torch
    from optiscope.engine import optim, runner, trainer  # noqa: F401

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    # scikit-learn (~1 s) is not imported here: datasets are cached after their first
    # generation, and a preview or run that must generate one imports it in its own job
    return {"devices": devices, "torch": torch.__version__}
