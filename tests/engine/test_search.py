"""Hyperparameter search through Optuna: batched trials, outcomes, storage and study checks."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import DatasetConfig, RunConfig, TrainingConfig
from optiscope.engine.control import RunControl
from optiscope.engine.search import (
    SearchError,
    best_experiment,
    close_study,
    importances,
    list_studies,
    objective_value,
    open_study,
    run_search,
    study_records,
)
from optiscope.engine.search_space import apply_params, parse_space
from optiscope.engine.trainer import train
from optuna.trial import TrialState

BASE = RunConfig(
    dataset=DatasetConfig(n_samples=200, standardize=True),
    training=TrainingConfig(epochs=6, batch_size=32, device="cpu"),
)
SPACE = {
    "params": {
        "optimizer.lr": {"low": 1e-3, "high": 0.5, "log": True, "points": [1e-3, 0.1]},
        "optimizer.momentum": {"low": 0.0, "high": 0.9, "points": [0.0, 0.9]},
    },
    "objective": "best_val_acc",
}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'studies.sqlite3'}"


def test_random_search_batches_trials_and_tells_optuna_what_training_alone_gives(tmp_path):
    logs: list[str] = []
    seen: list[int] = []
    run_search(
        BASE,
        parse_space(SPACE),
        sampler="random",
        trials=6,
        storage=url(tmp_path),
        study_name="s",
        log=logs.append,
        on_trial=lambda rec: seen.append(rec.number),
    )
    assert any("batched together" in m for m in logs)  # one batched computation, not six loops
    assert sorted(seen) == list(range(6))
    study = optuna.load_study(study_name="s", storage=url(tmp_path))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert len({tuple(t.params.values()) for t in study.trials}) == 6
    # the value told for a trial is what that config gives trained alone with torch.optim
    for t in study.trials[:2]:
        alone = train(apply_params(BASE, t.params), keep_model=False)
        assert t.value == pytest.approx(max(e.val_acc for e in alone.epochs), abs=1e-9)
        assert t.value == pytest.approx(objective_value(alone, "best_val_acc"))
    exp = best_experiment(study, BASE, "s")
    assert exp is not None and exp.base.optimizer.lr == study.best_params["optimizer.lr"]
    imp = importances(study)
    assert set(imp["importances"]) == {"optimizer.lr", "optimizer.momentum"}
    assert math.isclose(sum(imp["importances"].values()), 1.0)
    assert [s["name"] for s in list_studies(url(tmp_path))] == ["s"]


def test_grid_search_tries_every_grid_point_once(tmp_path):
    result = run_search(
        BASE, parse_space(SPACE), sampler="grid", trials=10, storage=url(tmp_path), log=lambda m: None
    )
    assert result.notes == ["the grid has 4 points; running 4 trials, not 10"]
    combos = {tuple(t.params.values()) for t in result.trials}
    assert combos == {(1e-3, 0.0), (1e-3, 0.9), (0.1, 0.0), (0.1, 0.9)}


@pytest.mark.parametrize("sampler", ["tpe", "qmc"])
def test_learning_samplers_complete(tmp_path, sampler):
    result = run_search(
        BASE,
        parse_space(SPACE),
        sampler=sampler,
        trials=5,
        batch=2,
        storage=url(tmp_path),
        log=lambda m: None,
    )
    assert result.counts() == {"complete": 5}
    assert len({tuple(t.params.values()) for t in result.trials}) == 5


def test_diverged_trials_are_reported_and_ranked_below_finished_ones(tmp_path):
    space = parse_space({"params": {"optimizer.lr": {"low": 1e-3, "high": 90.0, "log": True}}})
    result = run_search(BASE, space, trials=8, storage=url(tmp_path), log=lambda m: None)
    outcome = {t.number: t.outcome for t in result.trials}
    assert "diverged" in outcome.values() and "complete" in outcome.values()
    study = result.study
    for t in study.trials:
        if outcome[t.number] == "diverged":
            assert t.state == TrialState.PRUNED and t.params["optimizer.lr"] > 1.0
    assert [r.outcome for r in study_records(study)] == [outcome[i] for i in range(8)]


def test_pruning_stops_trials_at_epoch_ends(tmp_path):
    space = parse_space(
        {
            "params": {"optimizer.lr": {"low": 1e-5, "high": 0.3, "log": True}},
            "objective": "final_val_loss",
            "pruning": True,
        }
    )
    base = BASE.model_copy(update={"training": BASE.training.model_copy(update={"epochs": 10})})
    result = run_search(
        base, space, trials=16, batch=4, prune_every=1, storage=url(tmp_path), log=lambda m: None
    )
    pruned = [t for t in result.trials if t.outcome == "pruned"]
    assert pruned and all(t.epochs is not None and t.epochs < 10 for t in pruned)
    assert all(t.epochs == 10 for t in result.trials if t.outcome == "complete")
    states = {t.number: t.state for t in result.study.trials}
    assert all(states[t.number] == TrialState.PRUNED for t in pruned)


def test_a_stop_leaves_no_trial_running(tmp_path):
    control = RunControl()
    bus = ev.EventBus()
    bus.subscribe(lambda e: control.stop(), ev.EpochEnd)
    result = run_search(
        BASE,
        parse_space(SPACE),
        trials=4,
        storage=url(tmp_path),
        bus=bus,
        control=control,
        log=lambda m: None,
    )
    assert result.counts() == {"stopped": 4}
    assert {t.state for t in result.study.trials} == {TrialState.FAIL}


def test_study_of_another_objective_and_bad_storage_are_clear(tmp_path):
    open_study(url(tmp_path), "mine", "best_val_acc")
    with pytest.raises(SearchError, match="study 'mine' .* optimises best_val_acc, not final_val_loss"):
        open_study(url(tmp_path), "mine", "final_val_loss")
    with pytest.raises(SearchError, match="cannot open the study storage 'nosuchdb://x'"):
        open_study("nosuchdb://x", "s", "best_val_acc")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SearchError, match="cannot open the study storage"):
        open_study(f"sqlite:///{blocker}/sub/db.sqlite3", "s", "best_val_acc")
    with pytest.raises(SearchError, match=r"postgresql://me:\*\*\*@"):
        open_study("postgresql://me:secret@127.0.0.1:1/db", "s", "best_val_acc")


def test_journal_file_storage(tmp_path):
    result = run_search(
        BASE, parse_space(SPACE), trials=3, storage=f"journal:{tmp_path / 'j.log'}", log=lambda m: None
    )
    assert result.counts() == {"complete": 3}
    assert (tmp_path / "j.log").stat().st_size > 0


def test_a_trial_waiting_in_the_queue_is_still_asked_first(tmp_path):
    """The queue of waiting trials is read once per round, not once per ask: a trial
    enqueued before the search is still the first one trained (Optuna's private
    ``_pop_waiting_trial_id``, which the round skips when the queue is empty, still exists)."""
    assert callable(getattr(optuna.Study, "_pop_waiting_trial_id", None))
    study = open_study(url(tmp_path), "queued", "best_val_loss")
    study.enqueue_trial({"optimizer.lr": 0.0123})
    close_study(study)
    space = parse_space({"params": {"optimizer.lr": {"low": 1e-3, "high": 0.3, "log": True}}})
    result = run_search(BASE, space, trials=4, storage=url(tmp_path), study_name="queued", log=lambda m: None)
    lrs = [t.params["optimizer.lr"] for t in sorted(result.trials, key=lambda t: t.number)]
    assert lrs[0] == 0.0123 and len(set(lrs)) == 4
    assert "_pop_waiting_trial_id" not in vars(result.study)  # Optuna's own method again after the round
