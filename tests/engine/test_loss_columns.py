"""What metrics.csv's train_loss and steps.csv's loss hold (issue 18.10).

``steps.csv`` ``loss`` is each update's minibatch objective: cross-entropy plus the L1/L2
penalty on the weight matrices. ``metrics.csv`` ``train_loss`` (and ``val_loss``) is the
mean cross-entropy over the whole set after the epoch, without the penalty. Checked with
a rate so small that the weights do not move: the two runs (with and without L1/L2) then
differ in ``steps.csv`` by exactly the textbook penalty of the weights, and ``train_loss``
is scikit-learn's ``log_loss`` of the model's probabilities.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from optiscope.engine.config import ExperimentConfig, RunConfig
from optiscope.engine.data import load_dataset
from optiscope.engine.runner import execute, write_outputs
from sklearn.metrics import log_loss

torch.set_num_threads(1)
L1, L2 = 0.01, 0.5


def _cfg(l1: float, l2: float) -> RunConfig:
    return RunConfig.model_validate(
        {
            "dataset": {"name": "blobs", "n_samples": 200},
            "optimizer": {"kind": "sgd", "lr": 1e-12},
            "regularization": {"l1": l1, "l2": l2},
            "training": {"epochs": 1, "batch_size": 50, "seed": 4},
        }
    )


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_steps_loss_includes_the_penalty_and_train_loss_does_not(tmp_path):
    runs = [_cfg(0.0, 0.0), _cfg(L1, L2)]
    results = execute(runs, keep_models=True, batched=False, log=lambda s: None)
    write_outputs(tmp_path, ExperimentConfig(name="x"), runs, results)
    steps, metrics = _rows(tmp_path / "steps.csv"), _rows(tmp_path / "metrics.csv")
    model = results[1].model
    weights = [p.detach().double() for p in model.parameters() if p.ndim > 1]
    penalty = L2 * sum(float((w * w).sum()) for w in weights) + L1 * sum(
        float(w.abs().sum()) for w in weights
    )
    plain = [float(r["loss"]) for r in steps if r["run"] == "0"]
    penalised = [float(r["loss"]) for r in steps if r["run"] == "1"]
    assert len(plain) == len(penalised) == 2
    np.testing.assert_allclose(np.subtract(penalised, plain), penalty, rtol=1e-5)

    ds = load_dataset(runs[0].dataset)
    with torch.no_grad():
        probs = torch.softmax(model(torch.as_tensor(ds.x_train)).double(), 1).numpy()
    expected = log_loss(ds.y_train, probs, labels=np.arange(ds.n_classes))
    train_losses = [float(r["train_loss"]) for r in metrics]
    assert train_losses == pytest.approx([expected, expected], rel=1e-5)  # no penalty in either


def test_the_readme_says_which_loss_each_file_holds():
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert "`train_loss` and `val_loss` are the mean cross-entropy" in readme
    assert "without the L1/L2 penalty" in readme
    assert "`loss` is each update's minibatch objective, cross-entropy plus the L1/L2 penalty" in readme
