"""The SQLite run store: round trip, crash safety, threads, damaged files, export."""

from __future__ import annotations

import csv
import math
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import SGD, RunConfig, TrainingConfig
from optiscope.engine.store import EXPORT_COLUMNS, RunStore, StoreError, UnknownRun, default_store_path
from optiscope.engine.trainer import train

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def small(epochs: int = 3, **kw) -> RunConfig:
    return RunConfig(training=TrainingConfig(epochs=epochs, device="cpu"), **kw)


def record(store: RunStore, cfg: RunConfig, experiment: str = "exp", extra=None, run_id: int = 0):
    bus = ev.EventBus()
    rec = store.recorder(experiment)
    bus.subscribe(rec, *rec.EVENT_TYPES)
    if extra is not None:
        bus.subscribe(extra, ev.EpochEnd)
    return train(cfg, run_id=run_id, bus=bus), rec


def test_default_path_follows_optiscope_home(home):
    assert default_store_path() == home / "data" / "runs.sqlite3"
    store = RunStore()
    assert store.path.is_file()
    assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_round_trip():
    store = RunStore()
    cfg = small(3, label="my run")
    res, rec = record(store, cfg, "blobs-sgd")
    (summary,) = store.list_runs()
    assert summary.id == rec.ids[0]
    assert (summary.label, summary.experiment, summary.status) == ("my run", "blobs-sgd", "completed")
    assert (summary.epochs_planned, summary.epochs_done, summary.steps) == (3, 3, 48)
    assert summary.val_acc == res.final.val_acc
    run = store.load_run(summary.id)
    assert run.config == cfg.model_dump(mode="json")
    assert run.run_config() == cfg
    assert run.n_params == 50 * 2 + 50 + 50 * 3 + 3 and run.device == "cpu"
    assert [m["epoch"] for m in run.metrics] == [1, 2, 3]
    for m, e in zip(run.metrics, res.epochs, strict=True):
        for k in ("step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"):
            assert m[k] == getattr(e, k)


def test_rows_committed_after_each_epoch_before_finished():
    """Read the store through another connection, in another thread, while training runs."""
    store = RunStore()
    seen: list[tuple[int, str, list[int]]] = []

    def peek(e: ev.EpochEnd) -> None:
        out = {}

        def look() -> None:  # a different thread: its own connection, a real second reader
            reader = RunStore(store.path)
            (s,) = reader.list_runs()
            out["v"] = (e.epoch, s.status, [m["epoch"] for m in reader.load_run(s.id).metrics])
            reader.close()

        t = threading.Thread(target=look)
        t.start()
        t.join()
        seen.append(out["v"])

    record(store, small(4), extra=peek)
    assert seen == [(i, "running", list(range(1, i + 1))) for i in range(1, 5)]
    assert store.list_runs()[0].status == "completed"


def test_a_crash_loses_at_most_the_epoch_in_progress(tmp_path, home):
    script = textwrap.dedent(
        """
        import os, torch
        torch.set_num_threads(1)
        from optiscope.engine import events as ev
        from optiscope.engine.config import RunConfig, TrainingConfig
        from optiscope.engine.store import RunStore
        from optiscope.engine.trainer import train
        store = RunStore()
        bus = ev.EventBus()
        rec = store.recorder("crash")
        bus.subscribe(rec, *rec.EVENT_TYPES)
        def die(e):
            if e.epoch == 3:
                os._exit(3)  # no cleanup, no commit, no Finished
        bus.subscribe(die, ev.EpochEnd)
        train(RunConfig(training=TrainingConfig(epochs=10, device="cpu")), bus=bus)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    store = RunStore()
    (s,) = store.list_runs()
    assert s.status == "interrupted"  # it never finished; its process is gone
    assert store.interrupted == [s.id]
    assert [m["epoch"] for m in store.load_run(s.id).metrics] == [1, 2, 3]


def test_recording_from_a_worker_thread_and_reading_from_main():
    store = RunStore()  # created here, written from the worker thread
    out = {}
    t = threading.Thread(target=lambda: out.update(r=record(store, small(2))))
    t.start()
    t.join(60)
    assert out["r"][0].reason == "completed"
    assert [r.status for r in store.list_runs()] == ["completed"]


def test_several_runs_and_stop_reasons():
    store = RunStore()
    record(store, small(2), run_id=0)
    record(store, small(30, optimizer=SGD(lr=100.0)), run_id=1)
    runs = store.list_runs()
    assert [r.status for r in runs] == ["completed", "diverged"]
    assert runs[0].id < runs[1].id


def test_diverged_run_keeps_non_finite_metrics():
    store = RunStore()
    res, rec = record(store, small(30, optimizer=SGD(lr=100.0)))
    run = store.load_run(rec.ids[0])
    assert run.summary.status == "diverged"
    assert len(run.metrics) == len(res.epochs)


def test_delete_and_unknown_ids():
    store = RunStore()
    _, rec1 = record(store, small(1))
    _, rec2 = record(store, small(1))
    store.delete_run(rec1.ids[0])
    assert [r.id for r in store.list_runs()] == [rec2.ids[0]]
    assert (
        store._conn().execute("SELECT count(*) FROM epochs WHERE run_id = ?", (rec1.ids[0],)).fetchone()[0]
        == 0
    )
    with pytest.raises(UnknownRun, match="no run with id 999"):
        store.load_run(999)
    with pytest.raises(UnknownRun):
        store.delete_run(rec1.ids[0])


def test_export_csv(tmp_path):
    store = RunStore()
    res1, rec1 = record(store, small(2, label="a"))
    res2, rec2 = record(store, small(3, label="b"))
    out = tmp_path / "export.csv"
    n = store.export_csv([rec1.ids[0], rec2.ids[0]], out)
    assert n == 5
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        (str(rec1.ids[0]), "a", "1"),
        (str(rec1.ids[0]), "a", "2"),
        (str(rec2.ids[0]), "b", "1"),
        (str(rec2.ids[0]), "b", "2"),
        (str(rec2.ids[0]), "b", "3"),
    ]
    assert float(rows[-1][EXPORT_COLUMNS.index("val_acc")]) == res2.final.val_acc
    with pytest.raises(UnknownRun):
        store.export_csv([rec1.ids[0], 12345], tmp_path / "never.csv")
    assert not (tmp_path / "never.csv").exists()  # nothing half-written


def test_corrupt_database_is_moved_aside(home):
    path = default_store_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database at all, just bytes " * 200)
    store = RunStore()
    assert store.recovered_from is not None and store.recovered_from.name.startswith("runs.sqlite3.corrupt-")
    assert store.recovered_from.read_bytes().startswith(b"this is not a database")
    assert store.list_runs() == []
    record(store, small(1))
    assert len(store.list_runs()) == 1


def test_unopenable_store_raises_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create"):
        RunStore(blocker / "sub" / "runs.sqlite3")
    folder = tmp_path / "a-folder.sqlite3"
    folder.mkdir()
    with pytest.raises(StoreError, match="cannot open"):
        RunStore(folder)


def test_database_errors_never_break_training(monkeypatch):
    store = RunStore()
    messages: list[str] = []

    def broken(*a, **k):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "add_epoch", broken)
    bus = ev.EventBus()
    rec = store.recorder("x", on_error=messages.append)
    bus.subscribe(rec, *rec.EVENT_TYPES)
    res = train(small(3), bus=bus)
    assert res.reason == "completed"
    assert len(messages) == 1 and "disk I/O error" in messages[0] and rec.error == messages[0]


def test_nan_is_stored_as_missing_and_read_back_as_nan():
    store = RunStore()
    started = ev.RunStarted(0, "n", "cpu", 1, 1, 1, 1, 2, {})
    rid = store.insert_run(started)
    store.add_epoch(rid, ev.EpochEnd(0, 1, 1, 0.1, 1.0, 0.5, math.nan, math.nan, 0.01))
    m = store.load_run(rid).metrics[0]
    assert math.isnan(m["val_loss"]) and math.isnan(m["val_acc"]) and m["train_loss"] == 1.0


def test_opening_and_reading_while_another_process_writes():
    """The GUI may hold a write transaction while the CLI opens the store (WAL: readers go on)."""
    store = RunStore()
    record(store, small(1))
    writer = sqlite3.connect(store.path)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE runs SET label = 'changing'")
    try:
        other = RunStore(store.path)  # would time out if opening needed the write lock
        assert [r.label for r in other.list_runs()] == [small(1).describe()]
        other.close()
    finally:
        writer.rollback()
        writer.close()
