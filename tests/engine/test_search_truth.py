"""A finished grid trains nothing more; importance.json says what it is (issue 18.10)."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest
import torch
from optiscope.engine import runner
from optiscope.engine.config import DatasetConfig, RunConfig, TrainingConfig
from optiscope.engine.search import importances, run_search
from optiscope.engine.search_space import parse_space
from optuna.trial import TrialState

BASE = RunConfig(
    dataset=DatasetConfig(n_samples=200, standardize=True),
    training=TrainingConfig(epochs=2, batch_size=32, device="cpu"),
)
POINTS = {"optimizer.lr": [1e-3, 0.1], "optimizer.momentum": [0.0, 0.9]}
SPACE = {
    "params": {
        "optimizer.lr": {"low": 1e-3, "high": 0.5, "log": True, "points": POINTS["optimizer.lr"]},
        "optimizer.momentum": {"low": 0.0, "high": 0.9, "points": POINTS["optimizer.momentum"]},
    },
    "objective": "best_val_acc",
}
GRID = set(itertools.product(*POINTS.values()))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _points(storage: str) -> list[tuple]:
    study = optuna.load_study(study_name="g", storage=storage)
    return [tuple(t.params[k] for k in POINTS) for t in study.trials]


def test_rerunning_a_finished_grid_says_grid_complete_and_trains_nothing(tmp_path, monkeypatch):
    storage = f"sqlite:///{tmp_path / 's.sqlite3'}"
    first = run_search(BASE, parse_space(SPACE), sampler="grid", trials=2, storage=storage, study_name="g")
    assert len(first.trials) == 2
    # the rest of the grid, and not one point twice
    second = run_search(BASE, parse_space(SPACE), sampler="grid", trials=10, storage=storage, study_name="g")
    assert second.notes == ["the grid has 4 points, 2 of them in the study already; running 2 trials, not 10"]
    points = _points(storage)
    assert sorted(points) == sorted(GRID) and len(points) == 4

    trained: list[int] = []
    real = runner.execute
    monkeypatch.setattr(runner, "execute", lambda runs, **kw: trained.append(len(runs)) or real(runs, **kw))
    logs: list[str] = []
    third = run_search(
        BASE, parse_space(SPACE), sampler="grid", trials=10, storage=storage, study_name="g", log=logs.append
    )
    assert third.trials == [] and trained == []
    assert third.notes[0].startswith("grid complete: all 4 points of the grid are in study 'g' already")
    assert any(m.startswith("grid complete") for m in logs)
    assert len(_points(storage)) == 4  # nothing asked, nothing left RUNNING
    states = {t.state for t in optuna.load_study(study_name="g", storage=storage).trials}
    assert TrialState.RUNNING not in states


def test_the_cli_says_grid_complete(tmp_path, capsys):
    from optiscope.engine.cli import main

    toml = tmp_path / "g.toml"
    toml.write_text(
        'name = "g"\n[base.dataset]\nn_samples = 200\nstandardize = true\n[base.training]\nepochs = 2\n'
        '[search]\nobjective = "best_val_acc"\n[search.params]\n'
        '"optimizer.lr" = { low = 1e-3, high = 0.5, log = true, points = [1e-3, 0.1] }\n'
    )
    args = ["search", str(toml), "--sampler", "grid", "--storage", f"sqlite:///{tmp_path / 's.sqlite3'}"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "grid complete: all 2 points of the grid" in err
    assert (tmp_path / "b" / "trials.csv").read_text().count("\n") == 1 + 2  # the study's 2, none new


def test_importances_are_ped_anova_only_as_the_readme_says(tmp_path):
    """The README once promised a fANOVA fallback the code never had."""
    storage = f"sqlite:///{tmp_path / 's.sqlite3'}"
    result = run_search(BASE, parse_space(SPACE), sampler="grid", trials=4, storage=storage, study_name="g")
    imp = importances(result.study)
    assert imp["evaluator"] == "PedAnovaImportanceEvaluator"
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert "fANOVA" not in readme
    assert "Optuna's PED-ANOVA importance; where it cannot be computed" in readme
    assert "there is no other evaluator to fall back to" in readme


@pytest.mark.parametrize("seeds", [(1, 2), (None, None), (7, None)])
def test_a_grid_study_continued_by_another_run_never_redraws_a_point(tmp_path, seeds):
    """Optuna's GridSampler gives trial N the N-th point of its own shuffled grid: a second run
    (another worker, another seed or none) must shuffle alike or it re-trains trained points."""
    storage = f"sqlite:///{tmp_path / 's.sqlite3'}"
    space = parse_space(SPACE)
    run_search(BASE, space, sampler="grid", trials=2, storage=storage, study_name="g", seed=seeds[0])
    run_search(BASE, space, sampler="grid", trials=2, storage=storage, study_name="g", seed=seeds[1])
    points = _points(storage)
    assert len(points) == 4 and set(points) == GRID
