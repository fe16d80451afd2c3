"""The run store: every run and its per-epoch metrics in one SQLite file, written as training goes.

:class:`RunStore` lives in the user data directory (``platformdirs.user_data_dir("optiscope")``,
or ``$OPTISCOPE_HOME/data`` when that variable is set). Subscribe :meth:`RunStore.recorder` to
a run's :class:`~engine.events.EventBus`: the run is inserted on ``RunStarted``, each
``EpochEnd`` is committed at once and the status is set on ``Finished``, so a crash loses at
most the epoch in progress. Each run records the process (id and host) that trains it; the
next open marks runs whose process is gone ``interrupted``, keeping their epochs.

A store whose folder or file cannot be written (read-only media, a locked-down share) is
opened read-only: it can be listed, shown and exported, and writing to it raises
:class:`StoreError`. ``RunStore(path, read_only=True)`` (``optiscope runs list/show/export``)
opens any store that way and never creates, moves or changes a file.

A file is taken as a run store only when it is one: the SQLite ``application_id`` Optiscope
sets (:data:`APPLICATION_ID`), or, for stores made before it was set, exactly the ``runs`` and
``epochs`` tables with the run columns. Any other file (a text file, another application's SQLite database) is
refused with :class:`StoreError` before anything is written to it.

SQLite objects must not cross threads, so each thread gets its own connection (WAL mode
lets the GUI read while its worker thread writes). A database file that is not SQLite or is
damaged is renamed to ``*.corrupt-<timestamp>`` and a fresh one is made (the default store
in the user data folder only: a file given by path is refused, never moved).

This module imports no torch (``optiscope runs`` starts fast).
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import events as ev
from .files import atomic_write_text
from .formats import METRIC_COLUMNS, METRIC_VALUES, csv_table
from .paths import optiscope_dir

__all__ = [
    "RunStore",
    "RunRecorder",
    "RunSummary",
    "StoredRun",
    "StoreError",
    "UnknownRun",
    "optiscope_dir",
    "default_store_path",
    "EXPORT_COLUMNS",
    "APPLICATION_ID",
]

SCHEMA_VERSION = 3  # 2: pid, host; 3: run_index
#: SQLite's application id of a run store ("OPTS"): how a file is recognised as one.
APPLICATION_ID = 0x4F505453
_OUR_TABLES = {"runs", "epochs", "sqlite_sequence"}
_RUNS_CORE = {"id", "created", "label", "status", "epochs_done", "config"}
_SQLITE_HEADER = b"SQLite format 3\x00"
EXPORT_COLUMNS = METRIC_COLUMNS  # the columns of metrics.csv
_METRICS = ("step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    experiment TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    device TEXT,
    n_params INTEGER,
    epochs_planned INTEGER,
    epochs_done INTEGER NOT NULL DEFAULT 0,
    steps INTEGER NOT NULL DEFAULT 0,
    seconds REAL,
    error TEXT,
    config TEXT NOT NULL DEFAULT '{}',
    pid INTEGER,
    host TEXT,
    run_index INTEGER
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    step INTEGER,
    lr REAL,
    train_loss REAL,
    train_acc REAL,
    val_loss REAL,
    val_acc REAL,
    seconds REAL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (True when that cannot be told)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate it there
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        try:
            ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        finally:
            kernel32.CloseHandle(handle)
        return not ok or code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process
        return True
    return True


def _writable(path: Path) -> bool:
    """Whether the store file (or, when it does not exist yet, its folder) can be written."""
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK) and (not path.exists() or os.access(path.parent, os.W_OK))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that never writes the database: ``mode=ro`` where the folder is writable
    (it sees a live writer's WAL); on read-only media, or where that cannot work (no ``-shm``
    file can be made: a full disk), ``immutable=1``, which reads the file as it is, without
    the WAL, its ``-shm`` file or locks."""
    base = path.resolve().as_uri()
    if not _writable(path):
        return sqlite3.connect(base + "?mode=ro&immutable=1", uri=True, timeout=10.0)
    conn = sqlite3.connect(base + "?mode=ro", uri=True, timeout=10.0)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    return sqlite3.connect(base + "?mode=ro&immutable=1", uri=True, timeout=10.0)


class StoreError(RuntimeError):
    """The run store cannot be opened or used; the message says why."""


class UnknownRun(StoreError, LookupError):
    """No run with the given id."""


def default_store_path() -> Path:
    return optiscope_dir("data") / "runs.sqlite3"


@dataclass(frozen=True)
class RunSummary:
    """One line of :meth:`RunStore.list_runs`."""

    id: int
    created: float
    experiment: str
    label: str
    status: str
    epochs_planned: int | None
    epochs_done: int
    steps: int
    seconds: float | None
    val_acc: float | None
    val_loss: float | None


@dataclass(frozen=True)
class StoredRun:
    """A run as stored: its summary, the resolved config and one metrics row per epoch."""

    summary: RunSummary
    config: dict[str, Any]
    metrics: list[dict[str, float]] = field(repr=False)
    device: str | None = None
    n_params: int | None = None
    error: str | None = None
    #: the run's index among the runs its launch trained (its run id in the events: run ``r`` of
    #: ``run --seeds N`` is runner ``r // N``); None for runs stored before schema 3
    run_index: int | None = None

    @property
    def id(self) -> int:
        return self.summary.id

    @property
    def seed(self) -> int | None:
        """The stored config's training seed (None when it has none: a damaged or foreign config)."""
        training = self.config.get("training") if isinstance(self.config, dict) else None
        seed = training.get("seed") if isinstance(training, dict) else None
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    def run_config(self) -> Any:
        """The stored config as a :class:`~engine.config.RunConfig` (validated again)."""
        from .config import RunConfig

        return RunConfig.model_validate(self.config)


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


class RunStore:
    """The SQLite run store at ``path`` (default: :func:`default_store_path`).

    Raises :class:`StoreError` when the file cannot be opened (permissions, locked, a
    newer schema). A corrupt file is moved aside (``recovered_from`` says where) and a
    fresh store is created. When the file or its folder is not writable the store is
    opened read-only (:attr:`read_only`); :attr:`interrupted` lists the runs this open
    found abandoned by their process and marked ``interrupted``.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.recovered_from: Path | None = None
        self.interrupted: list[int] = []
        self._local = threading.local()
        # the default store is ours by where it lives: a damaged one may be moved aside
        own_place = path is None or _same_file(self.path, default_store_path())
        self.read_only = read_only or (self.path.parent.is_dir() and not _writable(self.path))
        if self.path.exists() and not self.path.is_file():
            what = "a folder" if self.path.is_dir() else "not a regular file"
            raise StoreError(f"cannot open run store {self.path}: it is {what}; give the path of a file")
        verdict = self._identify() if self.path.exists() else "absent"
        if verdict.startswith("foreign") or (
            verdict.startswith("damaged") and (self.read_only or not own_place)
        ):
            raise StoreError(
                f"{self.path} is not an Optiscope run store ({verdict.split(': ', 1)[1]}); nothing was "
                "changed: give another --store file (or move this one away)"
            )
        if self.read_only:
            self._open_read_only(verdict)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        if verdict.startswith("damaged"):  # the default store: keep it aside, start afresh
            self.recovered_from = self._move_aside()
        try:
            self._init_schema()
        except sqlite3.OperationalError as exc:  # permissions, locked, disk full
            self._drop_connection()
            raise StoreError(f"cannot open run store {self.path}: {exc}") from None
        except sqlite3.DatabaseError:  # damaged between the check and the open
            self._drop_connection()
            if not own_place:
                raise StoreError(
                    f"{self.path} is damaged; nothing was changed: give another --store file"
                ) from None
            self.recovered_from = self._move_aside()
            try:
                self._init_schema()
            except sqlite3.Error as exc:
                self._drop_connection()
                raise StoreError(f"cannot create a fresh run store {self.path}: {exc}") from None
        try:
            self.interrupted = self._mark_interrupted()
        except sqlite3.Error:  # locked by a writer for longer than the timeout: next time
            pass

    def _identify(self) -> str:
        """What the existing file is, read without changing it: ``ours``, ``empty`` (0 bytes or
        an SQLite file with nothing in it), ``foreign: why`` or ``damaged: why``."""
        if not self.path.is_file():
            return "foreign: not a regular file"
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise StoreError(f"cannot read run store {self.path}: {exc.strerror or exc}") from None
        if not head:
            return "empty"
        if head != _SQLITE_HEADER:
            return "damaged: not an SQLite database"
        try:  # immutable: reads the file as it is, makes no -wal/-shm file, takes no lock
            conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
            try:
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                columns = (
                    {r[1] for r in conn.execute("PRAGMA table_info(runs)")} if "runs" in tables else set()
                )
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            return f"damaged: {exc}"
        if app_id == APPLICATION_ID:
            return "ours"
        if app_id != 0:
            return f"foreign: an SQLite database of another application (application id {app_id:#x})"
        if not tables and version == 0:
            return "empty"
        marked = version >= 1 or "epochs" in tables  # every store made sets user_version
        if tables <= _OUR_TABLES and "runs" in tables and _RUNS_CORE <= columns and marked:
            return "ours"  # a store made before the application id was set
        shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
        return f"foreign: an SQLite database of another application (tables: {shown or 'none'})"

    def _open_read_only(self, verdict: str) -> None:
        if verdict == "absent":
            raise StoreError(
                f"no run store at {self.path}"
                + (", and its folder is read-only" if not _writable(self.path) else "")
            )
        if verdict == "empty":
            raise StoreError(f"{self.path} is an empty file, not a run store yet (no runs stored)")
        try:
            conn = self._conn()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"cannot open run store {self.path}: it was written by a newer Optiscope "
                    f"(schema {version}, this one reads {SCHEMA_VERSION})"
                )
            conn.execute("SELECT count(*) FROM runs").fetchone()
        except sqlite3.Error as exc:
            self._drop_connection()
            raise StoreError(f"cannot read run store {self.path} (read-only): {exc}") from None

    # -- connections (one per thread)
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if getattr(self, "read_only", False):
                conn = _read_only_connection(self.path)
            else:
                conn = sqlite3.connect(self.path, timeout=10.0)
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        return conn

    def _writing(self) -> sqlite3.Connection:
        if self.read_only:
            raise StoreError(f"run store {self.path} is read-only (its file or folder cannot be written)")
        return self._conn()

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
            self._local.conn = None

    def close(self) -> None:
        """Close the calling thread's connection (others close when their thread ends)."""
        self._drop_connection()

    def _init_schema(self) -> None:
        conn = self._conn()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.OperationalError(
                f"it was written by a newer Optiscope (schema {version}, this one reads {SCHEMA_VERSION})"
            )
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: set once per file
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            with conn:  # checked by _identify before: a new file or a store of ours from before
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        if version < SCHEMA_VERSION:  # a new or older file (no write lock taken when it is current)
            with conn:
                conn.executescript(_SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
                # schema 1 -> 2: pid, host; 2 -> 3: run_index
                for name, kind in (("pid", "INTEGER"), ("host", "TEXT"), ("run_index", "INTEGER")):
                    if name not in columns:
                        conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("SELECT count(*) FROM runs").fetchone()  # touches the pages: finds damage early

    def _mark_interrupted(self) -> list[int]:
        """Runs still ``running`` whose process (on this host) is gone become ``interrupted``."""
        conn = self._conn()
        host = socket.gethostname()
        rows = conn.execute("SELECT id, pid, host FROM runs WHERE status = 'running'").fetchall()
        gone = [
            rid
            for rid, pid, run_host in rows
            if pid is None or (run_host == host and pid != os.getpid() and not _pid_alive(int(pid)))
        ]
        if gone:
            with conn:
                conn.executemany(
                    "UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'",
                    [(rid,) for rid in gone],
                )
        return gone

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
        return target

    # -- writing
    def recorder(self, experiment: str = "", on_error: Callable[[str], None] | None = None) -> RunRecorder:
        """An event handler that records runs into this store; subscribe it to a bus."""
        return RunRecorder(self, experiment, on_error)

    def insert_run(self, started: ev.RunStarted, experiment: str = "") -> int:
        conn = self._writing()
        with conn:
            cur = conn.execute(
                "INSERT INTO runs (created, experiment, label, status, device, n_params, epochs_planned,"
                " config, pid, host, run_index) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    experiment,
                    started.label,
                    started.device,
                    started.n_params,
                    started.epochs,
                    json.dumps(started.config),
                    os.getpid(),
                    socket.gethostname(),
                    started.run,
                ),
            )
        assert cur.lastrowid is not None  # an INSERT always sets it
        return cur.lastrowid

    def add_epoch(self, run_id: int, e: ev.EpochEnd) -> None:
        conn = self._writing()
        values = [e.step, e.lr, e.train_loss, e.train_acc, e.val_loss, e.val_acc, e.seconds]
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, step, lr, train_loss, train_acc, val_loss,"
                " val_acc, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, e.epoch, *values),
            )
            conn.execute("UPDATE runs SET epochs_done = ?, steps = ? WHERE id = ?", (e.epoch, e.step, run_id))

    def finish_run(self, run_id: int, fin: ev.Finished, error: str | None = None) -> None:
        conn = self._writing()
        with conn:
            conn.execute(
                "UPDATE runs SET status = ?, epochs_done = ?, steps = ?, seconds = ?,"
                " error = COALESCE(?, error) WHERE id = ?",
                (fin.reason, fin.epochs, fin.steps, fin.seconds, error, run_id),
            )

    def set_experiment(self, run_ids: Iterable[int], experiment: str) -> None:
        """File stored runs under ``experiment`` (a tuning recipe groups its runs so)."""
        conn = self._writing()
        with conn:
            conn.executemany(
                "UPDATE runs SET experiment = ? WHERE id = ?", [(experiment, int(i)) for i in run_ids]
            )

    # -- reading
    def _require(self, conn: sqlite3.Connection, run_id: int) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (int(run_id),)).fetchone() is None:
            raise UnknownRun(f"no run with id {run_id} in {self.path}; 'optiscope runs list' shows the ids")

    _SUMMARY_SQL = (
        "SELECT r.id, r.created, r.experiment, r.label, r.status, r.epochs_planned, r.epochs_done,"
        " r.steps, r.seconds,"
        " (SELECT val_acc FROM epochs e WHERE e.run_id = r.id ORDER BY epoch DESC LIMIT 1),"
        " (SELECT val_loss FROM epochs e WHERE e.run_id = r.id ORDER BY epoch DESC LIMIT 1)"
        " FROM runs r"
    )

    @staticmethod
    def _summary(row: tuple) -> RunSummary:
        return RunSummary(*row)

    def list_runs(self) -> list[RunSummary]:
        """Every stored run, oldest first."""
        rows = self._conn().execute(self._SUMMARY_SQL + " ORDER BY r.id").fetchall()
        return [self._summary(r) for r in rows]

    def load_run(self, run_id: int) -> StoredRun:
        """One run with its config and metrics; :class:`UnknownRun` if there is none."""
        conn = self._conn()
        row = conn.execute(self._SUMMARY_SQL + " WHERE r.id = ?", (int(run_id),)).fetchone()
        if row is None:
            self._require(conn, run_id)
        has_index = any(r[1] == "run_index" for r in conn.execute("PRAGMA table_info(runs)"))
        extra = conn.execute(
            "SELECT config, device, n_params, error"
            + (", run_index" if has_index else ", NULL")  # a read-only store of schema 2
            + " FROM runs WHERE id = ?",
            (int(run_id),),
        ).fetchone()
        metrics = [
            {"epoch": int(r[0]), **{k: _num(v) for k, v in zip(_METRICS, r[1:], strict=True)}}
            for r in conn.execute(
                "SELECT epoch, " + ", ".join(_METRICS) + " FROM epochs WHERE run_id = ? ORDER BY epoch",
                (int(run_id),),
            )
        ]
        try:
            config = json.loads(extra[0])
        except (TypeError, ValueError):
            config = {}
        return StoredRun(self._summary(row), config, metrics, extra[1], extra[2], extra[3], extra[4])

    def delete_run(self, run_id: int) -> None:
        """Remove a run and its metrics; :class:`UnknownRun` if there is none."""
        conn = self._writing()
        self._require(conn, run_id)
        with conn:
            conn.execute("DELETE FROM epochs WHERE run_id = ?", (int(run_id),))
            conn.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))

    def export_csv(self, run_ids: int | Iterable[int], path: str | Path, *, regroup: bool = True) -> int:
        """Write the runs' per-epoch metrics to ``path`` (atomically); returns the row count.

        Columns are those of ``metrics.csv`` (:data:`EXPORT_COLUMNS`), ``run`` being the
        store id and ``seed`` the config's training seed (empty when the stored config has none).
        ``runner`` numbers the runners as ``metrics.csv`` does: runs of one experiment whose
        configs differ only in their seeds are one runner's seeds
        (:func:`engine.stored_seeds.group_stored`), numbered from 0 in the order given; with
        ``regroup=False`` each run is its own runner (its store id). Every id is checked before
        anything is written.
        """
        from .stored_seeds import group_stored

        ids = [int(run_ids)] if isinstance(run_ids, int) else [int(i) for i in run_ids]
        runs = [self.load_run(i) for i in ids]
        groups = group_stored(runs)
        runner_of = groups.runner_of if regroup else [r.id for r in runs]
        rows = [
            [r.id, r.summary.label, m["epoch"], *(float(m[k]) for k in METRIC_VALUES), runner, r.seed]
            for r, runner in zip(runs, runner_of, strict=True)
            for m in r.metrics
        ]
        n = len(rows)
        path = Path(path)
        try:
            atomic_write_text(path, csv_table(EXPORT_COLUMNS, rows))
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
        return n


class RunRecorder:
    """Event handler that writes runs into a :class:`RunStore` as they train.

    Maps each event's run id to the store's id (:attr:`ids`). A database error never
    reaches the training loop: the recorder reports it once through ``on_error`` (and
    :attr:`error`) and stops recording.
    """

    def __init__(self, store: RunStore, experiment: str = "", on_error: Callable[[str], None] | None = None):
        self.store = store
        self.experiment = experiment
        self.on_error = on_error
        self.ids: dict[int, int] = {}
        self._errors: dict[int, str] = {}
        self._finished: set[int] = set()
        self.error: str | None = None

    def __call__(self, event: ev.Event) -> None:
        if self.error is not None:
            return
        try:
            if isinstance(event, ev.RunStarted):
                self.ids[event.run] = self.store.insert_run(event, self.experiment)
            elif event.run not in self.ids:
                return
            elif isinstance(event, ev.EpochEnd):
                self.store.add_epoch(self.ids[event.run], event)
            elif isinstance(event, ev.Failed):
                self._errors[event.run] = event.message
            elif isinstance(event, ev.Finished):
                self.store.finish_run(self.ids[event.run], event, self._errors.pop(event.run, None))
                self._finished.add(event.run)
                if self._finished >= self.ids.keys():  # the last open run: close this thread's
                    self.store.close()  # connection once, not per run (closing checkpoints the WAL)
        except (sqlite3.Error, StoreError, OSError) as exc:  # never a training result
            self.error = f"run store {self.store.path}: {exc}; stopped recording"
            if self.on_error is not None:
                self.on_error(self.error)

    #: the event types worth subscribing to
    EVENT_TYPES = (ev.RunStarted, ev.EpochEnd, ev.Failed, ev.Finished)
