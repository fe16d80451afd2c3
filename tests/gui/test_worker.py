"""The one background-job mechanism: batching, stopping, stepping, errors, cancellation."""

from __future__ import annotations

import threading

import pytest
from optiscope.engine import events as ev
from optiscope.engine.config import Adam, DatasetConfig, RunConfig, TrainingConfig
from optiscope.engine.control import RunControl
from optiscope.gui.run_controller import train_job
from optiscope.gui.worker import FLUSH_INTERVAL, JobRunner


def _run(epochs: int, n: int = 200) -> RunConfig:
    return RunConfig(
        dataset=DatasetConfig(n_samples=n),
        optimizer=Adam(lr=0.01),
        training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu"),
    )


@pytest.fixture
def runner():
    r = JobRunner(name="test")
    yield r
    assert r.shutdown()


@pytest.fixture
def training(runner):
    """Start a training job: returns (job, control, batches, outcome) where outcome fills at the end."""

    def start(runs, *, paused=False, boundary_every=0):
        control = RunControl(start_paused=paused)
        batches: list[list] = []
        outcome: dict = {}
        job = runner.submit(
            "run",
            train_job(runs, control, boundary_every=boundary_every),
            on_events=batches.append,
            on_done=lambda out: outcome.update(reason=out.reason, results=out.results),
            on_cancel=control.stop,
        )
        return job, control, batches, outcome

    return start


def _events(batches):
    return [e for b in batches for e in b]


def test_events_arrive_in_few_batches_and_finished_last(qtbot, training):
    job, _, batches, outcome = training([_run(3), _run(2)], boundary_every=1)
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert outcome["reason"] == "completed"
    assert not job.thread.isRunning()
    events = _events(batches)
    steps = ev.step_rows(events)
    assert len(steps) == 3 * 4 + 2 * 4  # 100 training rows / batch 32 = 4 updates per epoch
    assert {e.run for e in steps} == {0, 1}
    assert isinstance(events[-1], ev.Finished)  # the last partial batch is always flushed
    assert sorted(e.run for e in events if isinstance(e, ev.Finished)) == [0, 1]
    assert sum(isinstance(e, ev.Boundary) for e in events) == (3 + 1) + (2 + 1)
    # time-based batching: far fewer batches than events
    assert len(batches) < len(events)
    # the job returns what the engine reported of each run: the very epochs it emitted
    results = outcome["results"]
    assert [r.run for r in results] == [0, 1] and [r.reason for r in results] == ["completed"] * 2
    for r in results:
        assert r.epochs == [e for e in events if isinstance(e, ev.EpochEnd) and e.run == r.run]
        # the trained model comes back for File → Save weights, on the CPU (no device memory held)
        assert all(p.device.type == "cpu" for p in r.model.parameters())


def test_a_job_emitting_for_a_second_reaches_the_gui_about_thirty_times(qtbot, runner, monkeypatch):
    """Rule 6: a job reporting every millisecond for one second reaches the GUI in ~30
    batches, every item once and in order (time is a clock the job itself moves)."""
    from optiscope.gui import worker

    clock = [0.0]
    monkeypatch.setattr(worker.time, "perf_counter", lambda: clock[0])

    def chatty(context):
        for i in range(1000):
            clock[0] = i / 1000
            context.emit(i)
        return "done"

    batches: list[list] = []
    job = runner.submit("chatty", chatty, on_events=batches.append)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    assert [i for batch in batches for i in batch] == list(range(1000))
    assert 25 <= len(batches) <= 35, len(batches)
    assert max(len(batch) for batch in batches) <= 1000 * FLUSH_INTERVAL + 2  # about one interval each


def test_stop_ends_a_long_run(qtbot, training):
    job, control, batches, outcome = training([_run(5000)])
    qtbot.waitUntil(lambda: any(isinstance(e, ev.Steps) for e in _events(batches)), timeout=60_000)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        control.stop()
    assert outcome["reason"] == "stopped"
    assert not job.thread.isRunning()
    last = batches[-1][-1]
    assert isinstance(last, ev.Finished) and last.reason == "stopped"


def test_paused_run_advances_exactly_the_steps_granted(qtbot, training):
    job, control, batches, _ = training([_run(50)], paused=True)

    def steps():
        return ev.step_rows(_events(batches))

    qtbot.waitUntil(lambda: any(isinstance(e, ev.RunStarted) for e in _events(batches)), timeout=60_000)
    assert steps() == []  # the engine flushes before it blocks: RunStarted came, no update
    control.advance(1)
    # the job flushes when the engine blocks again, so the step is here once it paused
    qtbot.waitUntil(lambda: len(steps()) == 1, timeout=30_000)
    control.advance(3)
    qtbot.waitUntil(lambda: len(steps()) >= 4, timeout=30_000)
    assert [s.step for s in steps()] == [1, 2, 3, 4]
    with qtbot.waitSignal(job.finished, timeout=30_000):
        control.stop()
    assert len(steps()) == 4


def test_an_engine_exception_goes_to_the_one_error_path_then_finished(qtbot, runner, training):
    errors = []
    runner.errored.connect(lambda key, message: errors.append((key, message)))
    job, _, _, outcome = training([object()])  # not a RunConfig: execute() raises
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert outcome == {}  # no result: on_done is not called after an error
    assert len(errors) == 1 and errors[0][0] == "run" and "AttributeError" in errors[0][1]
    assert job.error == errors[0][1] and "Traceback" not in job.error


def test_a_cancelled_job_reports_nothing_more(qtbot, qapp, training):
    job, _, batches, outcome = training([_run(5000)])
    finished = []
    job.finished.connect(lambda: finished.append(True))
    qtbot.waitUntil(lambda: bool(batches), timeout=60_000)
    assert job.join()
    n = len(batches)
    qapp.processEvents()  # deliver what the worker queued before it ended: it must be dropped
    job.worker.events_ready.emit([ev.Steps.of(0, 999_999, 1, 0.01, 0.5)])  # a late batch of the old job
    assert len(batches) == n and finished == [] and outcome == {}
    assert not job.running


def test_a_new_job_cancels_the_old_and_waits_for_its_thread(qtbot, runner):
    gate = threading.Event()
    ran: list[int] = []
    done: list[int] = []

    def make(i):
        def fn(context):
            ran.append(i)
            if i == 0:
                gate.wait(30)  # a job that does not look at cancellation
            return i

        return fn

    first = runner.submit("preview", make(0), on_done=done.append)
    qtbot.waitUntil(lambda: ran == [0], timeout=30_000)
    later = [runner.submit("preview", make(i), on_done=done.append) for i in range(1, 5)]
    assert first.cancelled and all(j.cancelled for j in later[:-1])
    assert runner.current("preview") is later[-1] and runner.busy("preview")
    assert not later[-1].running  # one thread per key: it starts once the cancelled one ended
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy("preview"), timeout=30_000)
    assert ran == [0, 4]  # requests 1-3 were replaced before they started
    assert done == [4]  # the cancelled first job's result was dropped


def test_errors_of_every_key_reach_one_signal_in_words(qtbot, runner):
    from optiscope.engine.config import ConfigError

    errors = []
    runner.errored.connect(lambda key, message: errors.append((key, message)))

    def user_error(context):
        raise ConfigError("batch_size must be at least 1")

    runner.submit("a", lambda context: 1 / 0)
    runner.submit("b", user_error)
    qtbot.waitUntil(lambda: len(errors) == 2 and not runner.busy(), timeout=30_000)
    assert sorted(errors) == [
        ("a", "ZeroDivisionError: division by zero"),
        ("b", "batch_size must be at least 1"),
    ]


def test_modules_imported_after_the_freeze_are_frozen_before_a_collection_walks_them(qapp):
    """A lazy import after :func:`freeze_long_lived` (the first optimizer's torch._dynamo,
    ~150,000 objects) joins the permanent generation at the collector's next look, instead of
    being walked by every generation-1 and -2 collection (75-90 ms stalls in a drawn race);
    without new modules a look freezes nothing; a thaw gives everything back."""
    import gc
    import importlib
    import sys

    from optiscope.gui import worker

    collector = worker.collect_garbage_on_gui_thread()
    worker.freeze_long_lived()
    try:
        frozen = gc.get_freeze_count()
        collector.check()
        assert gc.get_freeze_count() == frozen  # nothing new imported: nothing frozen
        name = next(m for m in ("xml.dom.minidom", "wave", "mailbox", "tomllib") if m not in sys.modules)
        importlib.import_module(name)
        module_objects = [o for o in gc.get_objects() if getattr(o, "__module__", None) == name]
        assert module_objects
        collector.check()
        assert gc.get_freeze_count() > frozen
        walked = {id(o) for o in gc.get_objects()}  # what a collection walks (frozen: not listed)
        assert not walked & {id(o) for o in module_objects}
    finally:
        worker.thaw_long_lived()
    assert gc.get_freeze_count() == 0


def test_the_collector_collects_young_generations_often_and_a_full_collection_as_rarely_as_before(
    qapp, monkeypatch
):
    """Generation 0 whenever enough was allocated, generation 1 after 10 of those, a full
    collection only after 50 generation-1 collections (the spacing it had at 500 ms looks:
    about 50 s while busy), so the 100 ms looks do not make full collections 5x as often."""
    import gc

    from optiscope.gui import worker

    collector = worker.collect_garbage_on_gui_thread()
    monkeypatch.setattr(worker, "_frozen_modules", 0)  # no freezing in between: collections only
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    t0, t1, t2 = collector.threshold
    for counts, want in [
        ((t0 // 2, 0, 0), []),
        ((t0 + 1, t1 // 2, 0), [0]),
        ((t0 + 1, t1 + 1, t2 + 1), [0, 1]),
        ((t0 + 1, t1 + 1, t2 * worker.FULL_SPACING), [0, 1]),
        ((t0 + 1, t1 + 1, t2 * worker.FULL_SPACING + 1), [0, 1, 2]),
    ]:
        collected.clear()
        monkeypatch.setattr(gc, "get_count", lambda c=counts: c)
        collector.check()
        assert collected == want, (counts, collected)
