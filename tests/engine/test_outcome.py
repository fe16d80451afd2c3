"""One outcome vocabulary (engine.outcome) against the libraries a user would compare with:
Optuna's StudyDirection, numpy's argmin/argmax, torch's DataLoader, and the run's own
``Finished`` event carrying its best epoch."""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine import outcome
from optiscope.engine.config import RunConfig
from optiscope.engine.trainer import train


@pytest.mark.parametrize(
    "metric",
    ["val_loss", "train_loss", "val_acc", "train_acc", "best_val_acc", "final_val_loss", "acc", "loss"],
)
def test_direction_is_optunas(metric):
    from optuna.study import StudyDirection

    want = StudyDirection.MAXIMIZE if "acc" in metric else StudyDirection.MINIMIZE
    assert outcome.direction(metric) == want.name.lower()


def test_unknown_metric_is_named():
    with pytest.raises(ValueError, match="'seconds' is neither a loss nor an accuracy"):
        outcome.direction("seconds")


@pytest.mark.parametrize("n_train", [1, 7, 100, 101, 500])
@pytest.mark.parametrize("batch_size", [1, 8, 32, 1000])
def test_steps_per_epoch_is_the_dataloaders_length(n_train, batch_size):
    loader = torch.utils.data.DataLoader(range(n_train), batch_size=batch_size)
    assert outcome.steps_per_epoch(n_train, batch_size) == len(loader)


def test_debiased_average_is_the_weighted_mean_of_the_past():
    """The debiased EMA at t is the mean of x_1..x_t weighted by beta^(t-i) (pandas'
    ``ewm(adjust=True)``), written out directly here."""
    x = np.random.default_rng(0).normal(size=200).cumsum()
    for beta in (0.0, 0.6, 0.98):
        want = []
        for t in range(1, len(x) + 1):
            w = beta ** np.arange(t - 1, -1, -1.0)
            want.append(float((w * x[:t]).sum() / w.sum()))
        np.testing.assert_allclose(outcome.debiased_average(x, beta), want, rtol=1e-9)
        np.testing.assert_allclose(outcome.debiased_ema(x, beta), want, rtol=1e-9)


def test_every_finish_reason_has_words():
    reasons = set(get_args(ev.FinishReason))
    assert set(outcome.FINISH_REASONS) == reasons
    assert reasons <= set(outcome.REASON_WORDS) and reasons <= set(outcome.REASON_SENTENCES)


@pytest.mark.parametrize("monitor", ["val_loss", "val_acc"])
def test_finished_event_carries_the_best_epoch(monitor):
    cfg = RunConfig.model_validate(
        {
            "dataset": {"name": "moons", "n_samples": 200, "noise": 0.3},
            "optimizer": {"kind": "sgd", "lr": 0.5},
            "regularization": {"early_stopping": {"monitor": monitor}},
            "training": {"epochs": 12, "batch_size": 16},
        }
    )
    bus, seen = ev.EventBus(), []
    bus.subscribe(seen.append)
    result = train(cfg, bus=bus)
    values = np.array([getattr(e, monitor) for e in seen if isinstance(e, ev.EpochEnd)])
    pick = np.argmax if monitor.endswith("acc") else np.argmin  # numpy: the first best
    want = int(pick(values)) + 1
    (fin,) = [e for e in seen if isinstance(e, ev.Finished)]
    assert fin.best_epoch == want == result.best_epoch
    assert math.isfinite(values[want - 1])
