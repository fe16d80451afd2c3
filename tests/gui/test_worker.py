"""The thread bridge: batching, stopping, stepping and errors, without the window."""

from __future__ import annotations

import pytest
from optiscope.engine import events as ev
from optiscope.engine.config import Adam, DatasetConfig, RunConfig, TrainingConfig
from optiscope.gui.worker import FLUSH_INTERVAL, Background, RunSession


def _run(epochs: int, n: int = 200) -> RunConfig:
    return RunConfig(
        dataset=DatasetConfig(n_samples=n), optimizer=Adam(lr=0.01),
        training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu"),
    )  # fmt: skip


@pytest.fixture
def session_factory():
    from optiscope.engine.trainer import RunControl

    sessions = []

    def make(runs, *, paused=False, boundary_every=0):
        s = RunSession(runs, run_ids=range(len(runs)), control=RunControl(start_paused=paused),
                       boundary_every=boundary_every)  # fmt: skip
        batches: list[list] = []
        s.events_ready.connect(batches.append)
        sessions.append(s)
        return s, batches

    yield make
    for s in sessions:
        s.join()


def test_events_arrive_in_few_batches_and_finished_last(qtbot, session_factory):
    session, batches = session_factory([_run(3), _run(2)], boundary_every=1)
    with qtbot.waitSignal(session.finished, timeout=60_000) as blocker:
        session.start()
    assert blocker.args == ["completed"]
    assert not session.thread.isRunning()
    events = [e for b in batches for e in b]
    steps = [e for e in events if isinstance(e, ev.Step)]
    assert len(steps) == 3 * 4 + 2 * 4  # 100 training rows / batch 32 = 4 updates per epoch
    assert {e.run for e in steps} == {0, 1}
    assert isinstance(events[-1], ev.Finished)  # the last partial batch is always flushed
    assert sorted(e.run for e in events if isinstance(e, ev.Finished)) == [0, 1]
    assert sum(isinstance(e, ev.Boundary) for e in events) == (3 + 1) + (2 + 1)
    # time-based batching: far fewer batches than events, at most ~30 per second
    assert len(batches) < len(events)
    assert session.worker.flushes == len(batches)


def test_flush_interval_is_about_thirty_per_second():
    assert 1 / 40 <= FLUSH_INTERVAL <= 1 / 20


def test_stop_ends_a_long_run(qtbot, session_factory):
    session, batches = session_factory([_run(5000)])
    session.start()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.Step) for b in batches for e in b), timeout=60_000)
    with qtbot.waitSignal(session.finished, timeout=30_000) as blocker:
        session.stop()
    assert blocker.args == ["stopped"]
    assert not session.thread.isRunning()
    last = batches[-1][-1]
    assert isinstance(last, ev.Finished) and last.reason == "stopped"


def test_paused_run_advances_exactly_the_steps_granted(qtbot, session_factory):
    session, batches = session_factory([_run(50)], paused=True)
    session.start()

    def steps():
        return [e for b in batches for e in b if isinstance(e, ev.Step)]

    qtbot.waitUntil(lambda: any(isinstance(e, ev.RunStarted) for b in batches for e in b), timeout=60_000)
    assert steps() == []
    session.control.advance(1)
    # the worker flushes when the engine blocks again, so the step is here once it paused
    qtbot.waitUntil(lambda: len(steps()) == 1, timeout=30_000)
    session.control.advance(3)
    qtbot.waitUntil(lambda: len(steps()) >= 4, timeout=30_000)
    assert [s.step for s in steps()] == [1, 2, 3, 4]
    with qtbot.waitSignal(session.finished, timeout=30_000):
        session.stop()
    assert len(steps()) == 4


def test_an_engine_exception_becomes_errored_then_finished(qtbot, session_factory):
    session, _ = session_factory([object()])  # not a RunConfig: execute() raises
    errors = []
    session.errored.connect(errors.append)
    with qtbot.waitSignal(session.finished, timeout=60_000) as blocker:
        session.start()
    assert blocker.args == ["failed"]
    assert errors and "AttributeError" in errors[0]


def test_join_silences_a_session(qtbot, qapp, session_factory):
    session, batches = session_factory([_run(5000)])
    finished = []
    session.finished.connect(finished.append)
    session.start()
    qtbot.waitUntil(lambda: bool(batches), timeout=60_000)
    assert session.join()
    n = len(batches)
    qapp.processEvents()  # deliver what the worker queued before it ended: it must be dropped
    assert len(batches) == n and finished == []
    assert not session.running


def test_background_keeps_only_the_newest_request(qtbot):
    bg = Background()
    try:
        results = []
        bg.done.connect(lambda key, seq, value: results.append((key, seq, value)))
        import threading

        gate = threading.Event()
        bg.submit("slow", lambda: gate.wait(30))
        for i in range(5):
            bg.submit("preview", lambda i=i: i)
        gate.set()
        qtbot.waitUntil(lambda: any(k == "preview" for k, _, _ in results), timeout=30_000)
        previews = [(s, v) for k, s, v in results if k == "preview"]
        assert previews == [(5, 4)]  # requests 1-4 were superseded before they started
        fails = []
        bg.failed.connect(lambda key, seq, msg: fails.append(msg))
        bg.submit("bad", lambda: 1 / 0)
        qtbot.waitUntil(lambda: bool(fails), timeout=30_000)
        assert "division by zero" in fails[0]
    finally:
        assert bg.shutdown()
