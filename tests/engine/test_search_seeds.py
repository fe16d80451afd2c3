"""A search over seeds: each trial trained with k seeds, Optuna told their mean, pruning on the
mean curve, every seed's value in trials.csv. Checked against the seeds trained alone
(``engine.trainer.train``, ``torch.optim``) and against what Optuna itself recorded."""

from __future__ import annotations

import csv
import math

import numpy as np
import optuna
import pytest
import torch
from optiscope.engine.cli import main
from optiscope.engine.config import DatasetConfig, RunConfig, TrainingConfig, load_toml
from optiscope.engine.search import TrialPruning, objective_value, run_search, study_records
from optiscope.engine.search_space import SearchSpaceError, apply_params, parse_space
from optiscope.engine.trainer import train
from optuna.trial import TrialState

SEEDS = 3
BASE = RunConfig(
    dataset=DatasetConfig(n_samples=160, standardize=True),
    training=TrainingConfig(epochs=4, batch_size=32, device="cpu", seed=7),
)
SPACE = {
    "params": {"optimizer.lr": {"low": 1e-3, "high": 0.3, "log": True}},
    "objective": "best_val_acc",
    "seeds": SEEDS,
}
TOML = """
schema_version = 1
name = "tiny"
[base.dataset]
n_samples = 160
standardize = true
[base.training]
epochs = 4
batch_size = 32
seed = 7
device = "cpu"
[search]
objective = "final_val_loss"
[search.params]
"optimizer.lr" = { low = 1e-3, high = 0.3, log = true }
"""


@pytest.fixture(autouse=True)
def _one_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def alone(cfg: RunConfig, seed: int):
    """The run ``--seed seed`` trains for this config, alone (torch.optim, not batched)."""
    return train(cfg.model_copy(update={"training": cfg.training.model_copy(update={"seed": seed})}))


def test_optuna_is_told_the_mean_of_the_seeds_each_trained_alone(tmp_path):
    logs: list[str] = []
    result = run_search(
        BASE,
        parse_space(SPACE),
        trials=3,
        storage=f"sqlite:///{tmp_path / 's.sqlite3'}",
        study_name="s",
        log=logs.append,
    )
    assert any("batched together" in m for m in logs)
    # 3 trials x 3 seeds: one batched computation of 9 runs
    assert any(m.startswith("runs 0, 1, 2, 3, 4, 5, 6, 7, 8 batched") for m in logs)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.sqlite3'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    for t, rec in zip(study.trials, study_records(study), strict=True):
        cfg = apply_params(BASE, t.params)
        each = [objective_value(alone(cfg, 7 + k), "best_val_acc") for k in range(SEEDS)]
        assert rec.seed_values == pytest.approx(each, abs=1e-6)
        assert t.value == pytest.approx(float(np.mean(each)), abs=1e-6)
    assert result.trials[0].run_id == 0 and result.trials[1].run_id == SEEDS


def test_trials_csv_keeps_each_seed_and_the_mean_optuna_recorded(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TOML)
    storage = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    rc = main(
        ["search", str(tmp_path / "tiny.toml"), "--seeds", "2", "--trials", "2", "--out", str(tmp_path / "o")]
        + ["--storage", storage, "--study", "c", "--quiet"]
    )
    assert rc == 0, capsys.readouterr().err
    with open(tmp_path / "o" / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[2:6] == ["optimizer.lr", "final_val_loss", "value_seed0", "value_seed1"]
    study = optuna.load_study(study_name="c", storage=storage)
    for row, t in zip(rows, study.trials, strict=True):
        seeds = [float(row["value_seed0"]), float(row["value_seed1"])]
        assert t.value == pytest.approx(np.mean(seeds), abs=1e-6)  # what Optuna recorded
        assert float(row["final_val_loss"]) == pytest.approx(t.value, abs=1e-9)
        cfg = apply_params(load_toml(tmp_path / "tiny.toml").base, t.params)
        want = [alone(cfg, 7 + k).final.val_loss for k in range(2)]
        assert seeds == pytest.approx(want, abs=1e-6)
    best = load_toml(tmp_path / "o" / "best.toml")
    assert best.seeds == 2  # the best trial re-runs over the seeds it was judged on
    # a worker with another seed count is refused: means over other seeds do not compare
    rc = main(
        ["search", str(tmp_path / "tiny.toml"), "--seeds", "3", "--trials", "1", "--out", str(tmp_path / "p")]
        + ["--storage", storage, "--study", "c", "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "trains 2 seeds per trial, not 3" in err and "--seeds 2" in err


def test_bad_seed_counts_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TOML)
    for bad in ("0", "101"):
        rc = main(["search", str(tmp_path / "tiny.toml"), "--seeds", bad, "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert rc == 2 and "--seeds must be between 1 and 100" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="seeds"):
        parse_space({**SPACE, "seeds": 0})
    with pytest.raises(SearchSpaceError, match="at most 1024"):
        run_search(BASE, parse_space(SPACE), trials=1, batch=200, seeds=10, storage="memory:")


def test_pruning_sees_the_mean_curve_of_the_seeds(tmp_path):
    """Each report Optuna keeps is the mean over the seeds of each seed's objective so far, as
    the seeds trained alone give it; pruned trials end all their seeds at one epoch."""
    space = parse_space(
        {
            "params": {"optimizer.lr": {"low": 1e-5, "high": 0.3, "log": True}},
            "objective": "final_val_loss",
            "pruning": True,
            "seeds": 2,
        }
    )
    base = BASE.model_copy(update={"training": BASE.training.model_copy(update={"epochs": 6})})
    result = run_search(base, space, trials=12, batch=4, prune_every=1, storage="memory:", log=lambda m: None)
    trials = {t.number: t for t in result.study.trials}
    checked = 0
    for rec in result.trials[:2]:  # the pruner's start-up trials: every epoch reported
        t = trials[rec.number]
        cfg = apply_params(base, t.params)
        runs = [alone(cfg, 7 + k) for k in range(2)]
        for epoch, reported in t.intermediate_values.items():
            want = np.mean([r.epochs[epoch - 1].val_loss for r in runs])
            assert reported == pytest.approx(want, abs=1e-6)
            checked += 1
        assert t.value == pytest.approx(t.intermediate_values[6], abs=1e-12)
    assert checked == 12
    pruned = [rec for rec in result.trials if rec.outcome == "pruned"]
    assert pruned and all(rec.epochs is not None and rec.epochs < 6 for rec in pruned)
    for rec in pruned:  # pruned when the mean was reported: its last report is the pruning epoch
        assert max(trials[rec.number].intermediate_values) == rec.epochs


class _FakeTrial:
    def __init__(self, prune_at: int | None = None) -> None:
        self.reported: dict[int, float] = {}
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reported[step] = value

    def should_prune(self) -> bool:
        return self.prune_at is not None and max(self.reported) >= self.prune_at


class _Run:
    def __init__(self) -> None:
        self.epochs: list = []
        self.reason = "completed"
        self.ended: str | None = None

    def finish(self, reason: str) -> None:
        self.ended = reason


def _epoch(e: int, val_loss: float):
    from optiscope.engine import events as ev

    return ev.EpochEnd(0, e, e, 0.1, 1.0, 0.5, val_loss, 0.5, 0.0)


def test_a_seed_that_stopped_early_counts_with_its_last_value_and_reports_wait_for_every_seed():
    trial = _FakeTrial()
    rule = TrialPruning(trial, "final_val_loss", every=1, seeds=2)  # type: ignore[arg-type]
    a, b = _Run(), _Run()
    seed_a, seed_b = rule.for_seed(0), rule.for_seed(1)
    for e, (la, lb) in enumerate([(1.0, 3.0), (0.8, 2.0)], start=1):
        a.epochs.append(_epoch(e, la))
        seed_a.epoch_done(a, a.epochs[-1])
        assert e not in trial.reported  # seed 1 has not got here yet
        b.epochs.append(_epoch(e, lb))
        seed_b.epoch_done(b, b.epochs[-1])
    assert trial.reported == {1: 2.0, 2: 1.4}
    a.reason = "early_stopped"
    seed_a.run_done(a)  # seed 0 stops at epoch 2 with 0.8
    b.epochs.append(_epoch(3, 1.0))
    seed_b.epoch_done(b, b.epochs[-1])
    assert trial.reported[3] == pytest.approx(0.9)
    # a prune ends the seeds still training
    trial2 = _FakeTrial(prune_at=1)
    rule2 = TrialPruning(trial2, "final_val_loss", every=1, seeds=2)  # type: ignore[arg-type]
    c, d = _Run(), _Run()
    c.epochs.append(_epoch(1, 1.0))
    rule2.for_seed(0).epoch_done(c, c.epochs[-1])
    d.epochs.append(_epoch(1, 2.0))
    rule2.for_seed(1).epoch_done(d, d.epochs[-1])
    assert rule2.pruned_at == 1 and c.ended == d.ended == "early_stopped"
    assert math.isclose(trial2.reported[1], 1.5)


def test_the_notebook_api_searches_over_seeds(tmp_path):
    import optiscope
    from optiscope.engine.config import loads_toml

    found = optiscope.search(loads_toml(TOML), trials=1, seeds=2, storage=f"sqlite:///{tmp_path / 'api.db'}")
    row = found.trials.iloc[0]
    assert row["final_val_loss"] == pytest.approx((row["value_seed0"] + row["value_seed1"]) / 2, abs=1e-9)
    assert found.best is not None and found.best.seeds == 2
