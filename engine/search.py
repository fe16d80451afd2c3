"""Hyperparameter search with Optuna as the search engine, trials trained batched.

Optuna owns the samplers (random, grid, TPE, quasi-random), the storages (an SQLite file,
any SQLAlchemy URL, a journal file), the pruner and the importance evaluators; this
module only connects them to the one training loop. With Optuna's ask-and-tell interface
:func:`run_search` asks for K trials, trains them through :func:`engine.runner.execute`
(trials that share dataset, layer structure and batch size train as one batched
computation; the others in smaller groups, and ``log`` says why), tells Optuna each
result and repeats until the budget is spent.

Trial outcomes: ``complete`` (Optuna state COMPLETE, with the objective), ``pruned``
(stopped by :class:`TrialPruning` at an epoch end; PRUNED), ``diverged`` (the run's loss
blew up; told as PRUNED so samplers rank it below every finished trial), ``failed``
(an invalid combination or an error; FAIL) and ``stopped`` (a stop request ended it;
FAIL). Each trial's outcome, seconds and epochs are kept in its ``optiscope`` user
attribute, so every worker's trials read the same way.

**Seeds.** With ``seeds = k`` (the space's ``seeds``, ``run_search(seeds=k)``, ``--seeds k``)
each trial is trained ``k`` times, with ``training.seed`` s, s + 1, … s + k − 1 (as
:class:`engine.seeds.SeedPlan` expands a runner), all ``k`` batched with the round's other
trials. Optuna is told the mean of the ``k`` objectives; pruning reports, at each epoch, the
mean over the seeds of each seed's objective so far (a seed that stopped early keeps its
last value), so the last report equals the told value and the median rule compares mean
curves with mean curves; a trial with a diverged seed is diverged. Each seed's value is kept
in the trial's user attribute (``values``) and in ``trials.csv``. A study remembers its seed
count: a worker with another count is refused (means over different seeds do not compare).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, Trial, TrialState
from pydantic import ValidationError

from . import events as ev
from . import outcome
from .config import ConfigError, ExperimentConfig, RunConfig, format_validation_error
from .control import RunControl
from .loop import RunResult
from .paths import optiscope_dir
from .rules import Rule, RunHandle
from .schema import MAX_SEEDS, MAX_TRAINED
from .search_space import (
    MAX_ROUND,
    MAX_TRIALS,
    SEED_MAX,
    Choice,
    FloatRange,
    SearchSpace,
    SearchSpaceError,
    apply_params,
    check_space,
    grid_points,
    objective_direction,
)
from .seeds import SeedPlan

__all__ = [
    "SearchError",
    "TrialRecord",
    "SearchResult",
    "TrialPruning",
    "run_search",
    "open_study",
    "make_sampler",
    "distributions",
    "default_storage_url",
    "objective_value",
    "study_records",
    "best_experiment",
    "importances",
    "list_studies",
    "close_study",
    "worker_seed",
    "fail_orphaned_trials",
    "study_seeds",
    "OUTCOMES",
    "SEED_MAX",
    "MAX_TRIALS",
    "MAX_ROUND",
]

_log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

OUTCOMES = ("complete", "pruned", "diverged", "failed", "stopped", "running")
_ATTR = "optiscope"  # the user attribute holding a trial's outcome, seconds and epochs
_OWNER = "optiscope_owner"  # the user attribute naming the process (pid, host) that trains a trial


class SearchError(ConfigError):
    """A search cannot start: a storage that cannot be reached, a study of another objective."""


# --------------------------------------------------------------------------- Optuna pieces
def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """Optuna's distribution for each parameter of ``space``."""
    out: dict[str, BaseDistribution] = {}
    for name, p in space.params.items():
        if isinstance(p, Choice):
            out[name] = CategoricalDistribution(list(p.choices))
        elif isinstance(p, FloatRange):
            out[name] = FloatDistribution(p.low, p.high, log=p.log)
        else:
            out[name] = IntDistribution(p.low, p.high, log=p.log, step=p.step)
    return out


def make_sampler(name: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    """Optuna's sampler called ``name`` (random, grid, tpe or qmc)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            grid = {k: grid_points(p) for k, p in space.params.items()}
            return optuna.samplers.GridSampler(grid, seed=seed)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        if name == "qmc":
            return optuna.samplers.QMCSampler(
                seed=seed, scramble=True, warn_independent_sampling=False, warn_asynchronous_seeding=False
            )
    raise SearchSpaceError(f"unknown sampler {name!r}; use random, grid, tpe or qmc")


def worker_seed(seed: int, study_size: int) -> int:
    """The sampler seed of a worker given ``seed`` that joins a study of ``study_size`` trials.

    A new study uses ``seed`` itself; a study that already has trials gets a seed derived
    from both numbers by numpy's ``SeedSequence`` (a hash), so a worker joining later draws
    other trials than the first, two workers given different seeds never land on the same
    stream (``seed + size`` did: seed 2 on an empty study and seed 1 one trial later drew
    the same trials), and the result stays within 0 ... 2**32 - 1.
    """
    if not 0 <= seed <= SEED_MAX:
        raise SearchSpaceError(f"the sampler seed must be between 0 and {SEED_MAX}, got {seed}")
    if study_size == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, study_size]).generate_state(1, dtype=np.uint32)[0])


def default_storage_url() -> str:
    """The embedded default: an SQLite file in the user data folder (nothing to install or start)."""
    path = optiscope_dir("data") / "studies.sqlite3"
    return f"sqlite:///{path}"


def _redact(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``: ``journal:PATH`` (a journal file, e.g. on a shared
    drive), ``memory:`` (this process only) or any SQLAlchemy URL Optuna's RDB storage
    accepts (SQLite, PostgreSQL, MySQL)."""
    if url == "memory:":  # a throw-away study in this process (benchmarks, one-off searches)
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        path = Path(url[len("journal:") :].removeprefix("//"))
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 60}}  # workers sharing one file wait for its lock
    for attempt in range(3):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            break
        except Exception as exc:
            # workers starting together on a new database race to create its tables; the
            # loser finds them made a moment later
            if attempt == 2 or not any(w in str(exc) for w in ("UNIQUE", "already exists", "duplicate key")):
                raise
            time.sleep(0.2 * (attempt + 1))
    if url.startswith("sqlite:"):
        _sqlite_wal(storage)
    return storage


def _sqlite_wal(storage: optuna.storages.RDBStorage) -> None:
    """Write-ahead logging with ``synchronous = NORMAL`` for an SQLite study: a commit no
    longer waits for the disk (each trial commits several times; on a slow disk that was
    most of a search's time), a crash of the program loses nothing committed, a power cut
    at most the last commits. Readers and one writer work side by side, as the run store."""
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections opened before the listener are not reused


def open_study(
    storage: str | None,
    study_name: str,
    objective: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create study ``study_name`` in ``storage`` (default :func:`default_storage_url`), or
    join it if it exists and optimises the same objective; :class:`SearchError` otherwise."""
    url = storage or default_storage_url()
    _check_storage_and_name(url, study_name)
    try:
        backend = _storage(url)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(
            f"cannot open the study storage {_redact(url)!r}: {first[:300]} (give --storage an SQLAlchemy "
            "URL such as sqlite:///FILE or postgresql://USER@HOST/DB, or journal:FILE)"
        ) from None
    try:
        return _create_or_join(backend, url, study_name, objective, sampler, pruner)
    except BaseException:
        if isinstance(backend, optuna.storages.RDBStorage):
            backend.engine.dispose()  # a server's connections close with the refusal
        raise


MAX_STUDY_NAME = 200  # Optuna's SQL storages index names up to 512 characters; a name is read by people


def _check_storage_and_name(url: str, study_name: str) -> None:
    """SearchError naming the problem with a storage URL or study name that would otherwise end in
    a misleading message from Optuna or SQLite (or be silently ignored)."""
    from .formats import shown

    if not study_name.strip() or len(study_name) > MAX_STUDY_NAME:
        raise SearchError(
            f"the study name {shown(study_name)} must be 1 to {MAX_STUDY_NAME} characters, not blank; "
            "give another --study"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in study_name):
        raise SearchError(
            f"the study name {shown(study_name)} holds control characters (a newline, an escape)"
        )
    try:
        _check_storage_path(url)
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise SearchError(f"the study storage {shown(url)} cannot be used: {exc.strerror or exc}") from None


def _check_storage_path(url: str) -> None:
    from .formats import shown

    if url.startswith("sqlite:///"):
        file, _, query = url[len("sqlite:///") :].partition("?")
        if query:
            raise SearchError(
                f"the study storage {shown(url)} has options ({shown(query)}) that a search cannot honour: "
                "it writes its trials there; give sqlite:///FILE"
            )
        path = Path(file)
        if path.exists() and not path.is_file():
            raise SearchError(
                f"the study storage {shown(file)} is not a file (a folder or device); give a file"
            )
        folder = path.parent if str(path.parent) else Path(".")
        writable = (
            os.access(path, os.W_OK) if path.exists() else (not folder.exists() or os.access(folder, os.W_OK))
        )
        if not writable or (path.exists() and not os.access(folder, os.W_OK)):
            raise SearchError(
                f"the study storage {shown(file)} is read-only (a search writes its trials there, and SQLite its "
                "journal beside it); give a writable --storage sqlite:///FILE"
            )
    elif url.startswith("journal:"):
        path = Path(url[len("journal:") :].removeprefix("//"))
        if not str(path) or str(path) == ".":
            raise SearchError("journal: needs a file path, e.g. journal:studies.log")
        if path.exists() and not path.is_file():
            raise SearchError(
                f"the study storage journal:{shown(str(path))} is not a regular file (a folder or device); "
                "give the path of a journal file"
            )


def _create_or_join(backend, url, study_name, objective, sampler, pruner) -> optuna.Study:
    try:
        study = optuna.create_study(
            storage=backend,
            study_name=study_name,
            sampler=sampler,
            pruner=pruner,
            direction=objective_direction(objective),
            load_if_exists=True,
        )
    except Exception as exc:
        raise SearchError(f"cannot open study {study_name!r} in {_redact(url)!r}: {exc}") from None
    theirs = study.user_attrs.get("objective")
    if theirs is None:
        if study.trials and study.direction.name.lower() != objective_direction(objective):
            raise SearchError(
                f"study {study_name!r} in {_redact(url)!r} is {study.direction.name.lower()}d, but {objective} "
                "is to be " + objective_direction(objective) + "d; pick another --study name"
            )
        study.set_user_attr("objective", objective)
    elif theirs != objective:
        raise SearchError(
            f"study {study_name!r} in {_redact(url)!r} optimises {theirs}, not {objective}; "
            f"search with --objective {theirs} or pick another --study name"
        )
    return study


_SEEDS = "optiscope_seeds"  # the study's user attribute: seeds per trial (absent: 1, as before seeds)


def study_seeds(study: optuna.Study) -> int:
    """How many seeds each trial of ``study`` is trained with (1 for a study from before seeds)."""
    value = study.user_attrs.get(_SEEDS, 1)
    return value if isinstance(value, int) and value >= 1 else 1


def _check_seeds(study: optuna.Study, seeds: int, url: str) -> None:
    """Keep the study's seed count; SearchError for a worker with another (its means would not
    compare with the study's)."""
    if _SEEDS not in study.user_attrs and not study.trials:
        study.set_user_attr(_SEEDS, seeds)
        return
    theirs = study_seeds(study)
    if theirs != seeds:
        raise SearchError(
            f"study {study.study_name!r} in {_redact(url)!r} trains {theirs} seed{'s' if theirs > 1 else ''} per "
            f"trial, not {seeds}; search with --seeds {theirs} or pick another --study name"
        )
    if _SEEDS not in study.user_attrs:
        study.set_user_attr(_SEEDS, seeds)


def close_study(study: optuna.Study) -> None:
    """Close the database connections of ``study``'s storage (a server's pool stays open
    otherwise until the process ends). Optuna wraps an RDB storage in a cache whose
    ``_backend`` is the storage; this is the one place that reaches into it."""
    backend = getattr(study._storage, "_backend", study._storage)
    engine = getattr(backend, "engine", None)
    if engine is not None:
        engine.dispose()


# --------------------------------------------------------------------------- results
@dataclass
class TrialRecord:
    """One trial as the search reports it (``value``: the mean over its seeds' ``seed_values``)."""

    number: int
    outcome: str  # one of OUTCOMES
    params: dict[str, Any]
    value: float | None
    seconds: float | None = None
    epochs: int | None = None
    run_id: int | None = None  # its first seed's run id (the others follow it)
    message: str = ""
    seed_values: list[float | None] = field(default_factory=list)  # seed by seed (None: no value)


@dataclass
class SearchResult:
    """What :func:`run_search` did: this search's trials and where the study lives."""

    study: optuna.Study
    storage: str
    objective: str
    trials: list[TrialRecord] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.outcome] = out.get(t.outcome, 0) + 1
        return out


def objective_value(result: RunResult, objective: str) -> float | None:
    """The objective of a finished run: the final or best validation loss or accuracy."""
    if not result.epochs:
        return None
    metric = "val_acc" if outcome.maximize(objective) else "val_loss"
    values = [float(getattr(e, metric)) for e in result.epochs]
    if objective.startswith("final"):
        return values[-1]
    best = outcome.best_value(values, metric)
    return values[-1] if math.isnan(best) else best


def _epoch_objective(epochs: Sequence[ev.EpochEnd], objective: str) -> float:
    """The objective as it stands after the last of ``epochs`` (what pruning compares)."""
    metric = "val_acc" if outcome.maximize(objective) else "val_loss"
    if objective.startswith("final"):
        return float(getattr(epochs[-1], metric))
    values = [float(getattr(e, metric)) for e in epochs]
    best = outcome.best_value(values, metric)
    return (max(values) if outcome.maximize(metric) else min(values)) if math.isnan(best) else best


class TrialPruning(Rule):
    """Reports a trial's objective to Optuna at epoch ends and stops the trial when Optuna's
    pruner says so (its runs finish as ``early_stopped``; the search records it as pruned).

    ``every`` epochs apart (each report is a write to the study's storage). A trial of
    ``seeds`` runs gives each run the rule :meth:`for_seed` returns; at epoch ``e`` the report
    is the mean over the seeds of each seed's objective after its epoch ``e`` (a seed that
    ended earlier, stopped early, counts with its last value), made once every seed has got
    there, and a prune ends every seed still training. Used as a rule itself, it is seed 0.
    """

    def __init__(self, trial: Trial, objective: str, every: int = 1, seeds: int = 1) -> None:
        self.trial = trial
        self.objective = objective
        self.every = max(1, every)
        self.seeds = max(1, seeds)
        self.pruned_at: int | None = None
        self.reports: dict[int, float] = {}  # epoch -> the mean told to Optuna
        self._values: dict[int, dict[int, float]] = {}  # epoch -> seed -> its objective so far
        self._last: dict[int, tuple[int, float]] = {}  # an ended seed -> (its last epoch, value)
        self._runs: dict[int, RunHandle] = {}
        self._ended: set[int] = set()
        self._broken = False  # a seed diverged: the trial is diverged, nothing more to report

    def for_seed(self, k: int) -> Rule:
        """The rule of the trial's ``k``-th seed."""
        return _SeedOfTrial(self, k)

    def epoch_done(self, run: RunHandle, metrics: ev.EpochEnd) -> None:
        self.seed_epoch(0, run, metrics)

    def run_done(self, run: RunHandle) -> None:
        self.seed_done(0, run)

    def seed_epoch(self, k: int, run: RunHandle, metrics: ev.EpochEnd) -> None:
        self._runs[k] = run
        value = _epoch_objective(run.epochs, self.objective)
        if not math.isfinite(value):
            self._broken = True  # the divergence guard ends such a run
            return
        self._last[k] = (metrics.epoch, value)
        if metrics.epoch % self.every:
            return
        self._values.setdefault(metrics.epoch, {})[k] = value
        self._decide(metrics.epoch)

    def seed_done(self, k: int, run: RunHandle) -> None:
        self._runs.pop(k, None)
        if run.reason == "diverged":
            self._broken = True
            return
        self._last.setdefault(k, (0, math.nan))
        self._ended.add(k)
        for epoch in sorted(self._values):  # a report that waited for this seed
            if epoch not in self.reports:
                self._decide(epoch)

    def _decide(self, epoch: int) -> None:
        if self._broken or self.pruned_at is not None or epoch in self.reports:
            return
        got = self._values.get(epoch, {})
        values = []
        for k in range(self.seeds):
            if k in got:
                values.append(got[k])
            elif k in self._ended and self._last[k][0] < epoch:
                values.append(self._last[k][1])  # stopped early: its last value stands
            else:
                return  # a seed has not got here yet
        if not all(math.isfinite(v) for v in values):
            return
        mean = math.fsum(values) / len(values)
        self.reports[epoch] = mean
        self.trial.report(mean, epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            for run in list(self._runs.values()):
                run.finish("early_stopped")


class _SeedOfTrial(Rule):
    """Seed ``k`` of a :class:`TrialPruning` trial."""

    def __init__(self, trial: TrialPruning, k: int) -> None:
        self.of, self.k = trial, k

    def epoch_done(self, run: RunHandle, metrics: ev.EpochEnd) -> None:
        self.of.seed_epoch(self.k, run, metrics)

    def run_done(self, run: RunHandle) -> None:
        self.of.seed_done(self.k, run)


def _record(trial: FrozenTrial, objective: str) -> TrialRecord:
    info = trial.user_attrs.get(_ATTR, {})
    if trial.state == TrialState.COMPLETE:
        outcome = "complete"
    elif trial.state == TrialState.RUNNING:
        outcome = "running"
    else:
        outcome = info.get("outcome") or ("pruned" if trial.state == TrialState.PRUNED else "failed")
    return TrialRecord(
        trial.number,
        outcome,
        dict(trial.params),
        trial.value if trial.state == TrialState.COMPLETE else None,
        info.get("seconds"),
        info.get("epochs"),
        info.get("run_id"),
        info.get("message", ""),
        list(info.get("values") or ([trial.value] if trial.state == TrialState.COMPLETE else [])),
    )


def study_records(study: optuna.Study) -> list[TrialRecord]:
    """Every trial of the study (all workers'), in trial-number order."""
    objective = study.user_attrs.get("objective", "best_val_loss")
    return [_record(t, objective) for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]


# --------------------------------------------------------------------------- the search
def run_search(
    base: RunConfig,
    space: SearchSpace,
    *,
    sampler: str | None = None,
    trials: int | None = None,
    storage: str | None = None,
    study_name: str = "search",
    batch: int | None = None,
    seed: int | None = None,
    seeds: int | None = None,
    prune_every: int = 5,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    log: Callable[[str], None] | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> SearchResult:
    """Search ``space`` around ``base``: ask K trials, train them batched, tell Optuna, repeat.

    ``sampler``, ``trials`` and the seed default to the space's own. ``batch`` is K, the
    trials asked and trained together (default: the whole budget for samplers that do not
    learn from results, 8 for TPE or with pruning). Run ids count up from 0 over this
    search; events go to ``bus``; ``on_trial`` hears each trial as it is told. A stop
    request ends the running trials (told FAIL, outcome ``stopped``) and the search;
    finished trials stay in the study. ``seeds`` (default: the space's, else 1) trains each
    trial that many times and tells Optuna the mean (see the module docstring); trial ``t``
    of a round, seed ``k`` is run id ``first + t * seeds + k``.
    """
    say = log if log is not None else _log.info
    sampler_name = sampler or space.sampler
    space = check_space(space, base, sampler_name)
    budget = trials if trials is not None else space.trials
    if not 1 <= budget <= MAX_TRIALS:
        raise SearchSpaceError(f"the number of trials must be between 1 and {MAX_TRIALS:,}, got {budget}")
    if batch is not None and not 1 <= batch <= MAX_ROUND:
        raise SearchSpaceError(
            f"the batch (trials trained together) must be between 1 and {MAX_ROUND}, got {batch}"
        )
    n_seeds = seeds if seeds is not None else (space.seeds or 1)
    if not 1 <= n_seeds <= MAX_SEEDS:
        raise SearchSpaceError(f"the seeds per trial must be between 1 and {MAX_SEEDS}, got {n_seeds}")
    if batch is not None and batch * n_seeds > MAX_TRAINED:
        raise SearchSpaceError(
            f"{batch} trials x {n_seeds} seeds is {batch * n_seeds} runs in a round; at most {MAX_TRAINED} "
            f"are trained at once: give a batch of at most {MAX_TRAINED // n_seeds}"
        )
    seed_value = seed if seed is not None else space.seed
    if seed_value is not None and not 0 <= seed_value <= SEED_MAX:
        raise SearchSpaceError(f"the sampler seed must be between 0 and {SEED_MAX}, got {seed_value}")
    control = control if control is not None else RunControl()
    bus = bus if bus is not None else ev.EventBus()
    objective = space.objective
    t0 = time.perf_counter()
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0) if space.pruning else None
    study = open_study(storage, study_name, objective, None, pruner or optuna.pruners.NopPruner())
    try:
        _check_seeds(study, n_seeds, storage or default_storage_url())
    except SearchError:
        close_study(study)
        raise
    orphans = fail_orphaned_trials(study)
    if orphans:
        note = (
            f"marked {len(orphans)} trial{'s' if len(orphans) > 1 else ''} failed whose search process "
            f"is gone: {', '.join(map(str, orphans[:20]))}{' ...' if len(orphans) > 20 else ''}"
        )
        say(note)
    if sampler_name == "grid":
        # Optuna's GridSampler shuffles the grid with its seed and gives trial N the N-th point of
        # *its* order: every process that adds to one grid study must shuffle alike, or a second
        # run re-draws points the first trained. The study keeps the order's seed (the first
        # run's seed, else 0); later runs and other workers use it whatever seed they are given.
        kept = study.user_attrs.get("optiscope_grid_seed")
        if not isinstance(kept, int):
            kept = seed_value if seed_value is not None else 0
            study.set_user_attr("optiscope_grid_seed", kept)
        seed_value = kept
    elif seed_value is not None:  # a second worker on the same study draws other trials
        seed_value = worker_seed(seed_value, len(study.trials))
    study.sampler = make_sampler(sampler_name, space, seed_value)
    result = SearchResult(study, storage or default_storage_url(), objective)
    if orphans:
        result.notes.append(note)
    if sampler_name == "grid":
        size = math.prod(len(grid_points(p)) for p in space.params.values())
        taken = grid_points_taken(study, space)
        left = size - taken
        if left <= 0:
            note = (
                f"grid complete: all {size} points of the grid are in study {study_name!r} already; "
                "nothing to train (a new --study name searches it again)"
            )
            say(note)
            result.notes.append(note)
            result.seconds = time.perf_counter() - t0
            return result
        if budget > left:
            already = f", {taken} of them in the study already" if taken else ""
            note = f"the grid has {size} points{already}; running {left} trials, not {budget}"
            say(note)
            result.notes.append(note)
            budget = left
    # asked in rounds: a big budget never fills the study with trials waiting to train
    # (with seeds, a round trains trials x seeds runs: the default round holds MAX_ROUND runs)
    k = batch or (
        8 if (sampler_name == "tpe" or space.pruning) else min(budget, max(1, MAX_ROUND // n_seeds))
    )
    dists = distributions(space)
    next_run = 0
    first_alone = sampler_name == "qmc" and not any(t.state == TrialState.COMPLETE for t in study.trials)
    while len(result.trials) < budget and not control.stopped:
        # quasi-random sampling learns its space from a finished trial: the first runs alone
        n = 1 if first_alone and not result.trials else min(k, budget - len(result.trials))
        records = _one_round(
            study, base, dists, n, next_run, objective, space.pruning, prune_every, bus, control, say, n_seeds
        )
        next_run += n_seeds * sum(rec.run_id is not None for rec in records)
        for rec in records:
            result.trials.append(rec)
            if on_trial is not None:
                on_trial(rec)
    result.seconds = time.perf_counter() - t0
    return result


def grid_points_taken(study: optuna.Study, space: SearchSpace) -> int:
    """How many points of ``space``'s grid the study holds a finished or running trial of.

    Optuna's ``GridSampler`` counts these as visited and never proposes them again while any
    other point is left (a stopped trial is finished, FAIL, so its point counts too); once all
    are visited it would only repeat points, so a finished grid trains nothing more.
    """
    import itertools

    names = list(space.params)
    grid = set(itertools.product(*(grid_points(p) for p in space.params.values())))
    seen = set()
    for t in study.get_trials(deepcopy=False):
        if not (t.state.is_finished() or t.state == TrialState.RUNNING):
            continue
        if set(t.params) != set(names):
            continue
        point = tuple(t.params[k] for k in names)
        if point in grid:
            seen.add(point)
    return len(seen)


def _one_round(
    study: optuna.Study,
    base: RunConfig,
    dists: dict[str, BaseDistribution],
    n: int,
    first_run: int,
    objective: str,
    pruning: bool,
    prune_every: int,
    bus: ev.EventBus,
    control: RunControl,
    say: Callable[[str], None],
    seeds: int = 1,
) -> list[TrialRecord]:
    """Ask ``n`` trials, train the valid ones (each ``seeds`` times) together, tell every result."""
    from .runner import execute

    asked: list[Trial] = []
    told: set[int] = set()
    records: dict[int, TrialRecord] = {}

    def tell(trial: Trial, rec: TrialRecord, state: TrialState, value: float | None = None) -> None:
        trial.set_user_attr(
            _ATTR,
            {"outcome": rec.outcome, "seconds": rec.seconds, "epochs": rec.epochs, "run_id": rec.run_id}
            | ({"message": rec.message} if rec.message else {})
            | ({"values": rec.seed_values} if rec.seed_values else {}),
        )
        try:
            study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        except RuntimeError as exc:  # the grid sampler asks to stop the study once its grid is used up
            if "Study.stop" not in str(exc):
                raise
        told.add(trial.number)
        records[trial.number] = rec

    try:
        with warnings.catch_warnings(), _one_queue_read_per_round(study):
            warnings.simplefilter("ignore", UserWarning)  # a grid revisited by two workers at once
            owner = {"pid": os.getpid(), "host": socket.gethostname()}
            for _ in range(n):
                trial = study.ask(dists)
                asked.append(trial)
                trial.set_user_attr(_OWNER, owner)  # a later open fails it if this process dies
        cfgs: list[RunConfig] = []
        runnable: list[Trial] = []
        for trial in asked:
            label = f"trial {trial.number}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
            try:
                cfg = apply_params(base, trial.params, label)
                cfgs += SeedPlan.expand([cfg], seeds).runs if seeds > 1 else [cfg]
                runnable.append(trial)
            except ValidationError as exc:
                msg = format_validation_error(exc).splitlines()[0]
                say(f"trial {trial.number} failed: this combination is not a valid run ({msg})")
                tell(
                    trial,
                    TrialRecord(trial.number, "failed", trial.params, None, 0.0, 0, None, msg),
                    TrialState.FAIL,
                )
        prunings: dict[int, TrialPruning] = {}  # trial index in the round -> its pruning rule

        def extra_rules(run_id: int, cfg: RunConfig) -> list[Rule]:
            if not pruning:
                return []
            t, k = divmod(run_id - first_run, seeds)  # run first_run + t*seeds + k: trial t, seed k
            if t not in prunings:
                prunings[t] = TrialPruning(runnable[t], objective, prune_every, seeds)
            return [prunings[t].for_seed(k)]

        if runnable:
            results = execute(
                cfgs, bus=bus, control=control, first_run_id=first_run, log=say, extra_rules=extra_rules
            )
            for t, trial in enumerate(runnable):
                runs = results[t * seeds : (t + 1) * seeds]
                rec = _trial_record(trial, runs, objective, first_run + t * seeds)
                rule = prunings.get(t)
                if rule is not None and rule.pruned_at is not None:
                    rec.outcome, rec.value = "pruned", None
                    tell(trial, rec, TrialState.PRUNED)
                elif rec.outcome == "diverged":
                    tell(trial, rec, TrialState.PRUNED)
                elif rec.outcome in ("stopped", "failed"):
                    tell(trial, rec, TrialState.FAIL)
                else:
                    tell(trial, rec, TrialState.COMPLETE, rec.value)
    finally:  # nothing asked is left running in the study
        for trial in asked:
            if trial.number not in told:
                rec = TrialRecord(trial.number, "stopped", trial.params, None, None, None, None)
                try:
                    tell(trial, rec, TrialState.FAIL)
                except Exception:  # pragma: no cover - the storage itself is gone
                    pass
    return [records[t.number] for t in asked if t.number in records]


def _trial_record(trial: Trial, runs: Sequence[RunResult], objective: str, run_id: int) -> TrialRecord:
    """A trial of one or more seeds: ``complete`` with the mean of its seeds' objectives, or
    ``diverged`` (a seed diverged), ``stopped`` or ``failed`` (a seed was)."""
    values = [objective_value(res, objective) for res in runs]
    rec = TrialRecord(
        trial.number,
        "complete",
        trial.params,
        None,
        round(max(res.seconds for res in runs), 4),  # batched seeds share their wall time
        max(len(res.epochs) for res in runs),
        run_id,
        seed_values=[v if v is not None and math.isfinite(v) else None for v in values],
    )
    n = len(runs)

    def which(k: int) -> str:  # the CSV's value_seed<k> column
        return f"its seed {k} (of seeds 0-{n - 1})" if n > 1 else ""

    for k, (res, value) in enumerate(zip(runs, values, strict=True)):
        if res.reason == "diverged" or (
            res.reason != "failed" and value is not None and not math.isfinite(value)
        ):
            rec.outcome, rec.message = "diverged", f"{which(k)} diverged".strip() if n > 1 else ""
            return rec
    for k, (res, value) in enumerate(zip(runs, values, strict=True)):
        if res.reason in ("stopped", "failed") or value is None:
            rec.outcome = "stopped" if res.reason == "stopped" else "failed"
            rec.message = ": ".join(part for part in (which(k), res.error or "") if part)
            return rec
    rec.value = math.fsum(v for v in values if v is not None) / len(values)
    return rec


def fail_orphaned_trials(study: optuna.Study) -> list[int]:
    """Mark failed (outcome ``stopped``) the RUNNING trials whose search process is gone:
    asked on this host by a process id that no longer exists (a search killed with SIGKILL,
    a power cut), or, where the storage keeps heartbeats, whose heartbeat expired. Trials of
    live workers and trials asked on other hosts stay as they are. Returns their numbers."""
    from .store import _pid_alive

    host = socket.gethostname()
    failed: list[int] = []
    stale_ids: set[int] = set()
    storage = study._storage
    try:
        from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

        if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
            stale_ids = set(storage._get_stale_trial_ids(study._study_id))
    except (ImportError, AttributeError):  # pragma: no cover - another Optuna
        pass
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(_OWNER)
        gone = t._trial_id in stale_ids
        if not gone and isinstance(owner, dict) and owner.get("host") == host:
            pid = owner.get("pid")
            gone = isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid)
        if not gone:
            continue
        why = "its search process is gone (killed or crashed)"
        try:
            storage.set_trial_user_attr(
                t._trial_id,
                _ATTR,
                {"outcome": "stopped", "seconds": None, "epochs": None, "run_id": None, "message": why},
            )
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                failed.append(t.number)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            pass  # another worker got there first
    return failed


@contextmanager
def _one_queue_read_per_round(study: optuna.Study) -> Iterator[None]:
    """Look for trials waiting in the study's queue once per round, not once per ask.

    ``Study.ask`` first pops a trial waiting in the queue (``enqueue_trial``) and, to find
    one, re-reads every unfinished trial of the study from the storage. Asking K trials
    before training them leaves K running, so a round re-read K^2 / 2 trials: with the
    SQLite study, 64 asks took 1.4 s of a 3.6 s search. When the queue is empty at the
    start of a round, this round's asks skip the look (a trial another worker enqueues
    meanwhile waits for the next round or another worker; none is lost). The samplers
    still read the study as they always do (a grid or TPE sees every trial asked so far).
    ``Study._pop_waiting_trial_id`` is Optuna's (pinned in constraints.txt); a test
    checks that it still exists.
    """
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if waiting or not hasattr(study, "_pop_waiting_trial_id"):
        yield
        return
    study._pop_waiting_trial_id = lambda: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        del study._pop_waiting_trial_id


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- outputs
def best_experiment(study: optuna.Study, base: RunConfig, name: str = "search") -> ExperimentConfig | None:
    """A runnable experiment of the study's best trial (None before any trial completed)."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    objective = study.user_attrs.get("objective", "objective")
    label = f"best trial {best.number}"
    cfg = apply_params(base, best.params, label)
    seeds = study_seeds(study)
    over = f" (the mean over {seeds} seeds)" if seeds > 1 else ""
    return ExperimentConfig(
        name=f"{name}-best",
        description=f"The best trial ({best.number}) of study {study.study_name}: {objective} = "
        f"{best.value:.6g}{over}",
        base=cfg,
        seeds=seeds,
    )


def _ped_anova_evaluator() -> Any:
    """Optuna's PED-ANOVA importance evaluator, imported without scikit-learn's random forests.

    ``optuna.importance`` imports ``sklearn.ensemble`` for its fANOVA evaluator when the package
    loads (inside Optuna's ``try_import``, so a missing module is allowed). Optiscope uses only
    PED-ANOVA, Optuna's default: blocking that import for the moment of the first import keeps
    ~1 s of scikit-learn imports out of a search and lets the installers leave the random
    forests out (packaging/unused_modules.py), with the same importances in both.
    """
    blocked = "sklearn.ensemble" not in sys.modules and "optuna.importance" not in sys.modules
    if blocked:
        sys.modules["sklearn.ensemble"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        from optuna.importance import PedAnovaImportanceEvaluator
    finally:
        if blocked:
            del sys.modules["sklearn.ensemble"]
    return PedAnovaImportanceEvaluator()


def importances(study: optuna.Study) -> dict[str, Any]:
    """Each parameter's importance for the objective (PED-ANOVA, Optuna's default evaluator),
    or why it cannot be computed yet."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    out: dict[str, Any] = {"study": study.study_name, "complete_trials": len(complete)}
    if len(complete) < 2:
        out["error"] = "need at least 2 complete trials"
        return out
    evaluator = _ped_anova_evaluator()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception as exc:  # too few trials, a parameter with one value, ...
        out["error"] = f"{type(evaluator).__name__}: {exc}"
        return out
    out["evaluator"] = type(evaluator).__name__
    out["importances"] = {k: float(v) for k, v in values.items()}
    return out


def list_studies(storage: str | None = None) -> list[dict[str, Any]]:
    """Every study in ``storage`` (default: the user data folder's; [] when it does not exist yet)."""
    url = storage or default_storage_url()
    if storage is None and not Path(url[len("sqlite:///") :]).exists():
        return []
    backend = _storage(url)
    out = []
    try:
        summaries = optuna.get_all_study_summaries(backend, include_best_trial=True)
    finally:
        if isinstance(backend, optuna.storages.RDBStorage):
            backend.engine.dispose()
    for s in summaries:
        best = s.best_trial
        out.append(
            {
                "name": s.study_name,
                "objective": s.user_attrs.get("objective", s.direction.name.lower()),
                "trials": s.n_trials,
                "best": best.value if best is not None else None,
                "best_trial": best.number if best is not None else None,
                "created": s.datetime_start.timestamp() if s.datetime_start else None,
            }
        )
    return out


def space_json(space: SearchSpace) -> str:
    return json.dumps(space.model_dump(mode="json"), sort_keys=True)
