"""Updates travel in blocks (``events.Steps``): every update of every run still arrives, in
order, before the events that close it, and ``steps.csv`` holds the same rows; a batched
group sends one small block per run and cut, not one event per update and run."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from optiscope.engine import events as ev
from optiscope.engine.config import SGD, DatasetConfig, RunConfig, TrainingConfig
from optiscope.engine.control import RunControl
from optiscope.engine.runner import execute, write_outputs
from optiscope.engine.sweep import train_batched

EPOCHS, SPE = 3, 16  # blobs: 500 training rows, batch 32


def _runs(k: int) -> list[RunConfig]:
    return [
        RunConfig(
            dataset=DatasetConfig(name="blobs"),
            optimizer=SGD(lr=0.3 * 0.5**i),
            training=TrainingConfig(epochs=EPOCHS, batch_size=32, device="cpu", seed=i % 4),
        )
        for i in range(k)
    ]


def _collect(bus: ev.EventBus) -> list[ev.Event]:
    got: list[ev.Event] = []
    bus.subscribe(got.append)
    return got


def test_a_batched_group_sends_blocks_holding_every_update_of_steps_csv(tmp_path):
    from optiscope.engine.config import race_experiment

    runs = _runs(16)
    bus = ev.EventBus(step_block_seconds=1e9)  # blocks cut by events alone, not by the clock
    got = _collect(bus)
    results = execute(runs, bus=bus)
    blocks = [e for e in got if type(e) is ev.Steps]
    # one block per run and cut: the first update alone (a window shows the run began), then
    # the rest of each epoch before its EpochEnd; the old engine sent one event per update
    for run in range(len(runs)):
        assert [len(b) for b in blocks if b.run == run] == [1, SPE - 1] + [SPE] * (EPOCHS - 1)
    for b in blocks:
        assert b.step.dtype == np.int64 and b.lr.dtype == np.float64
        assert not b.lr.flags.writeable and not b.loss.flags.writeable  # nobody edits a copy others hold
    updates = len(runs) * EPOCHS * SPE
    # steps.csv (written from the results) read back with the csv module: the same rows
    exp = race_experiment(runs, name="blocks")
    out = write_outputs(tmp_path, exp, runs, results)
    with open(out / "steps.csv", newline="") as fh:
        table = [
            (int(r["run"]), int(r["step"]), int(r["epoch"]), float(r["lr"]), float(r["loss"]))
            for r in csv.DictReader(fh)
        ]
    sent = sorted(ev.step_rows(got), key=lambda row: (row.run, row.step))
    assert len(table) == len(sent) == updates
    for (run, step, epoch, lr, loss), row in zip(table, sent, strict=True):
        assert (run, step, epoch) == (row.run, row.step, row.epoch)
        assert lr == pytest.approx(row.lr, rel=1e-15) and loss == pytest.approx(
            row.loss, rel=1e-15, nan_ok=True
        )


def test_every_update_comes_before_the_epoch_end_and_finish_that_close_it():
    bus = ev.EventBus()
    got = _collect(bus)
    train_batched(_runs(4), bus=bus)
    for run in range(4):
        seen = 0  # updates of this run received so far
        for e in got:
            if e.run != run:
                continue
            if type(e) is ev.Steps:
                assert e.step[0] == seen + 1 and list(e.step) == list(range(seen + 1, seen + 1 + len(e)))
                seen += len(e)
            elif type(e) is ev.EpochEnd:
                assert seen == e.step == e.epoch * SPE  # every update of the epoch came first
            elif type(e) is ev.Finished:
                assert seen == e.steps == EPOCHS * SPE


def test_a_zero_block_time_sends_each_update_at_once():
    bus = ev.EventBus(step_block_seconds=0)
    got = _collect(bus)
    train_batched(_runs(2), bus=bus)
    blocks = [e for e in got if type(e) is ev.Steps]
    assert len(blocks) == 2 * EPOCHS * SPE and all(len(b) == 1 for b in blocks)


def test_a_paused_run_reports_each_granted_update_before_it_waits():
    import threading

    control = RunControl(start_paused=True)
    bus = ev.EventBus()
    got = _collect(bus)
    worker = threading.Thread(target=lambda: train_batched(_runs(2), bus=bus, control=control))
    worker.start()
    try:
        control.advance(3)
        for _ in range(1000):
            if len(ev.step_rows(got)) >= 6:
                break
            threading.Event().wait(0.01)
        assert sorted((r.run, r.step) for r in ev.step_rows(got)) == [
            (0, 1),
            (0, 2),
            (0, 3),
            (1, 1),
            (1, 2),
            (1, 3),
        ]
    finally:
        control.stop()
        worker.join(30)
    assert not worker.is_alive()


@pytest.mark.parametrize("every", [1, 3, 7])
def test_every_n_thins_updates_not_blocks(every):
    """``subscribe(every=N)`` passes every N-th update, counted over all blocks, as a block."""
    bus = ev.EventBus()
    thinned: list[ev.Event] = []
    bus.subscribe(thinned.append, ev.Steps, every=every)
    sizes = [1, 5, 2, 9, 3]
    step = 0
    for n in sizes:
        bus.emit(ev.Steps.of(0, np.arange(step + 1, step + n + 1), 1, 0.1, np.arange(n, dtype=float)))
        step += n
    # the reference: number every update 1, 2, ... and keep those divisible by N
    want = [s for s in range(1, step + 1) if s % every == 0]
    assert [row.step for row in ev.step_rows(thinned)] == want


def test_a_block_must_hold_arrays_of_one_length():
    with pytest.raises(ValueError, match="one length"):
        ev.Steps.of(0, [1, 2], [1, 1], [0.1, 0.2, 0.3], [1.0, 2.0])
    with pytest.raises(ValueError, match="one length"):
        ev.Steps.of(0, [], [], [], [])
    b = ev.Steps.of(3, 7, 2, 0.5, 1.25)
    assert list(b.rows()) == [ev.StepRow(3, 7, 2, 0.5, 1.25)] and b.last() == ev.StepRow(3, 7, 2, 0.5, 1.25)
