"""A search under faults and hostile input: sampler seeds within numpy's bounds and never shared
by two workers, a budget asked in rounds, killed searches leave no trial RUNNING, a kind-specific
field fails only its trials, and a bad ``--out`` is refused before any trial trains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optiscope.engine import search as search_mod
from optiscope.engine.cli import main
from optiscope.engine.config import DatasetConfig, RunConfig, TrainingConfig
from optiscope.engine.search import fail_orphaned_trials, run_search, worker_seed
from optiscope.engine.search_space import SEED_MAX, SearchSpaceError, parse_space
from optuna.trial import TrialState

BASE = RunConfig(
    dataset=DatasetConfig(n_samples=100, standardize=True),
    training=TrainingConfig(epochs=1, batch_size=32, device="cpu"),
)
SPACE = {
    "params": {
        "optimizer.lr": {"low": 1e-3, "high": 0.5, "log": True},
        "optimizer.momentum": {"low": 0.0, "high": 0.9},
    },
    "objective": "best_val_acc",
}
SMALL = """
schema_version = 1
name = "small"
[base.dataset]
n_samples = 100
standardize = true  # a run that learns: one at chance level is told to Optuna as pruned
[base.training]
epochs = EPOCHS
device = "cpu"
[search]
objective = "best_val_acc"
[search.params]
"optimizer.lr" = { low = 1e-3, high = 0.5, log = true }
"optimizer.momentum" = { low = 0.0, high = 0.9 }
"""


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _quiet(msg: str) -> None:
    pass


def _params(study: optuna.Study) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in study.trials]


# --------------------------------------------------------------------------- seeds
def test_workers_with_different_seeds_never_draw_the_same_trials(tmp_path):
    """seed + study size made seed 5 on an empty study and seed 2 three trials later share one
    random stream: the second worker drew the first one's trials again (the flaky two-worker test)."""
    storage = f"journal:{tmp_path / 'j.log'}"
    space = parse_space(SPACE)
    first = run_search(BASE, space, trials=3, storage=storage, study_name="s", seed=5, log=_quiet)
    second = run_search(BASE, space, trials=3, storage=storage, study_name="s", seed=2, log=_quiet)
    study = second.study
    assert len(study.trials) == 6
    assert len(set(_params(study))) == 6  # six different draws
    assert first.study.study_name == study.study_name


def test_worker_seeds_stay_within_numpy_bounds_and_apart():
    """numpy's legacy seeding (Optuna's samplers) accepts 0 ... 2**32 - 1 only."""
    seeds = {(s, n): worker_seed(s, n) for s in (0, 1, 2, 3, SEED_MAX - 1, SEED_MAX) for n in range(40)}
    assert all(0 <= v <= SEED_MAX for v in seeds.values())
    assert len(set(seeds.values())) == len(seeds)  # no two (seed, size) pairs share a stream
    for v in seeds.values():
        np.random.RandomState(v)  # the bound numpy itself enforces
    with pytest.raises(ValueError):
        np.random.RandomState(SEED_MAX + 1)
    with pytest.raises(SearchSpaceError, match="between 0 and 4294967295"):
        worker_seed(SEED_MAX + 1, 0)


def test_the_largest_seed_can_be_used_twice_on_one_study(tmp_path):
    """Running the same command again (the documented way to add trials) overflowed numpy."""
    storage = f"journal:{tmp_path / 'j.log'}"
    space = parse_space(SPACE)
    for _ in range(2):
        run_search(BASE, space, trials=2, storage=storage, study_name="s", seed=SEED_MAX, log=_quiet)
    study = optuna.load_study(study_name="s", storage=search_mod._storage(storage))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4


def test_out_of_range_seeds_and_budgets_are_refused_before_the_study_opens(tmp_path, capsys):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL.replace("EPOCHS", "1"))
    db = tmp_path / "s.sqlite3"
    common = ["search", str(cfg), "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "o")]
    for extra, words in (
        (["--sampler-seed", "4294967296"], "--sampler-seed must be between 0 and 4294967295"),
        (["--sampler-seed", "-1"], "--sampler-seed must be between 0 and 4294967295"),
        (["--trials", "1000000"], "--trials must be between 1 and 100000"),
        (["--batch", "100000"], "--batch must be between 1 and 256"),
    ):
        assert main([*common, *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
    big = tmp_path / "big.toml"
    big.write_text(SMALL.replace("EPOCHS", "1").replace("[search]\n", f"[search]\nseed = {2**62}\n"))
    assert main(["search", str(big), "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "seed" in err and len(err.strip().splitlines()) == 1, err
    assert not db.exists() and not (tmp_path / "o").exists()  # refused before anything was opened


# --------------------------------------------------------------------------- rounds
def test_a_big_budget_is_asked_in_rounds(tmp_path, monkeypatch):
    """At most one round of trials is RUNNING at a time (random sampling asked the whole budget)."""
    monkeypatch.setattr(search_mod, "MAX_ROUND", 3)
    most: list[int] = []

    def on_trial(rec) -> None:
        running = study_box[0].get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        most.append(len(running) + 1)  # the one being told now is finished already

    study_box: list[optuna.Study] = []
    real_open = search_mod.open_study

    def spy(*a, **k):
        study_box.append(real_open(*a, **k))
        return study_box[0]

    monkeypatch.setattr(search_mod, "open_study", spy)
    result = run_search(BASE, parse_space(SPACE), trials=8, storage="memory:", log=_quiet, on_trial=on_trial)
    assert len(result.trials) == 8 and max(most) <= 3
    assert not result.study.get_trials(states=(TrialState.RUNNING,))


# --------------------------------------------------------------------------- kind-specific fields
def test_a_field_of_another_optimizer_kind_fails_only_those_trials(tmp_path):
    """momentum belongs to SGD: trials that draw Adam fail as an invalid combination, SGD trials
    train, and the search goes on (it aborted at the first Adam trial)."""
    space = parse_space(
        {
            "params": {
                "optimizer.kind": {"choices": ["sgd", "adam"]},
                "optimizer.momentum": {"low": 0.0, "high": 0.9},
            },
            "trials": 8,
        }
    )
    base = BASE.model_copy(update={"optimizer": optuna_free_adam()})
    result = run_search(base, space, storage="memory:", log=_quiet)
    outcomes = {t.number: (t.params["optimizer.kind"], t.outcome) for t in result.trials}
    assert len(outcomes) == 8
    assert all(o == "failed" for k, o in outcomes.values() if k == "adam")
    assert all(o == "complete" for k, o in outcomes.values() if k == "sgd")
    assert {k for k, _ in outcomes.values()} == {"sgd", "adam"}
    with pytest.raises(SearchSpaceError, match="unknown field"):  # a typo is still refused at once
        run_search(
            base,
            parse_space(
                {
                    "params": {
                        "optimizer.kind": {"choices": ["sgd"]},
                        "optimizer.momentun": {"low": 0.1, "high": 0.5},
                    }
                }
            ),
            storage="memory:",
            log=_quiet,
        )


def optuna_free_adam():
    from optiscope.engine.config import RunConfig as RC

    return RC.model_validate({"optimizer": {"kind": "adam", "lr": 0.01}}).optimizer


# --------------------------------------------------------------------------- --out first
@pytest.mark.parametrize("bad", ["file", "proc"])
def test_search_and_recipe_refuse_a_bad_out_before_training(tmp_path, capsys, bad):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL.replace("EPOCHS", "1"))
    out = tmp_path / "taken"
    out.write_text("the user's file\n")
    if bad == "proc":
        out = Path("/proc/self/optiscope-out")
    db = tmp_path / "s.sqlite3"
    assert main(["search", str(cfg), "--storage", f"sqlite:///{db}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and len(err.strip().splitlines()) == 1, err
    assert not db.exists()  # no study opened, no trial trained
    assert main(["recipe", str(cfg), "--no-store", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and len(err.strip().splitlines()) == 1 and "step" not in err, err
    if bad == "file":
        assert (tmp_path / "taken").read_text() == "the user's file\n"


# --------------------------------------------------------------------------- killed searches
def _start_search(cfg: Path, storage: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "optiscope.engine.cli", "search", str(cfg), "--storage", storage]
        + ["--study", "k", "--trials", "4", "--batch", "4", "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_running(storage: str, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the search ended before its trials were asked"
        try:
            study = optuna.load_study(study_name="k", storage=storage)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if len(running) == 4 and all("optiscope_owner" in t.user_attrs for t in running):
                return len(running)
        except KeyError:  # the study is not made yet
            pass
        time.sleep(0.3)
    raise AssertionError("the search never started its trials")


def test_a_sigterm_landing_in_a_weakref_callback_still_stops_the_search(tmp_path, monkeypatch, capsys):
    """The intermittent bug: the handler's KeyboardInterrupt, raised while a weakref callback ran
    (torch and Optuna drop objects all the time), was printed as "Exception ignored" and lost:
    the search trained on and exited 0. The signal now also stops every run at its next update."""
    import weakref

    from optiscope.engine import loop as loop_mod

    class Dropped:
        pass

    def terminate_inside_a_callback(_ref: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs here, inside the callback
            pass

    updates = {"n": 0}
    real_update = loop_mod._Loop._update

    def update(self, *args, **kwargs):
        updates["n"] += 1
        if updates["n"] == 3:
            obj = Dropped()
            ref = weakref.ref(obj, terminate_inside_a_callback)
            del obj  # the callback runs now, and the KeyboardInterrupt raised in it is dropped
            assert ref() is None
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(loop_mod._Loop, "_update", update)
    dropped: list[type] = []  # what Python reports as "Exception ignored in ..."
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    cfg = tmp_path / "long.toml"
    cfg.write_text(SMALL.replace("EPOCHS", "100000"))
    storage = f"sqlite:///{tmp_path / 's.sqlite3'}"
    args = ["search", str(cfg), "--storage", storage, "--study", "k", "--trials", "4", "--batch", "4"]
    rc = main([*args, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert dropped == [KeyboardInterrupt]  # the raise really was dropped (the case under test)
    assert rc == 130 and "interrupted" in err
    assert updates["n"] < 20  # stopped at the update after the signal, not 100,000 epochs later
    study = optuna.load_study(study_name="k", storage=storage)
    assert study.get_trials(states=(TrialState.RUNNING,)) == []
    assert [t.user_attrs["optiscope"]["outcome"] for t in study.trials] == ["stopped"] * 4
    from optiscope.engine.control import RunControl, interrupted

    assert not interrupted() and not RunControl().stopped  # the next command starts afresh


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_search_leaves_no_trial_running_after_the_next_open(tmp_path, capsys, how):
    cfg = tmp_path / "long.toml"
    cfg.write_text(SMALL.replace("EPOCHS", "100000"))
    storage = f"sqlite:///{tmp_path / 's.sqlite3'}"
    proc = _start_search(cfg, storage, tmp_path / "o1")
    assert _wait_running(storage, proc) == 4
    proc.send_signal(how)
    proc.wait(timeout=120)
    study = optuna.load_study(study_name="k", storage=storage)
    left = study.get_trials(states=(TrialState.RUNNING,))
    if how == signal.SIGTERM:  # handled as Ctrl+C: the search tells its trials stopped
        # 130 from main(); a KeyboardInterrupt raised after main's handler returned (while the
        # interpreter winds down) ends the process by SIGINT instead: interrupted either way
        assert left == [] and proc.returncode in (130, -signal.SIGINT)
    else:  # nothing runs in a SIGKILLed process: the next open finds them
        assert len(left) == 4
        short = tmp_path / "short.toml"
        short.write_text(SMALL.replace("EPOCHS", "1"))
        rc = main(
            [
                "search",
                str(short),
                "--storage",
                storage,
                "--study",
                "k",
                "--trials",
                "1",
                "--out",
                str(tmp_path / "o2"),
            ]
        )
        assert rc == 0
        assert "marked 4 trials failed whose search process is gone" in capsys.readouterr().err
    study = optuna.load_study(study_name="k", storage=storage)
    assert study.get_trials(states=(TrialState.RUNNING,)) == []
    stopped = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(stopped) == 4 and all(t.user_attrs["optiscope"]["outcome"] == "stopped" for t in stopped)


def test_running_trials_of_live_workers_and_other_hosts_are_left_alone(tmp_path):
    study = optuna.create_study(storage=search_mod._storage(f"journal:{tmp_path / 'j.log'}"), study_name="x")
    mine = study.ask()
    mine.set_user_attr("optiscope_owner", {"pid": os.getpid(), "host": os.uname().nodename})
    elsewhere = study.ask()
    elsewhere.set_user_attr("optiscope_owner", {"pid": 2**22 + 12345, "host": "another-machine"})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = study.ask()
    gone.set_user_attr("optiscope_owner", {"pid": dead.pid, "host": os.uname().nodename})
    assert fail_orphaned_trials(study) == [gone.number]
    states = {t.number: t.state for t in study.trials}
    assert states == {
        mine.number: TrialState.RUNNING,
        elsewhere.number: TrialState.RUNNING,
        gone.number: TrialState.FAIL,
    }
