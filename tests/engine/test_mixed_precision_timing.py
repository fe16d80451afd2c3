"""The mixed-precision comparison times like with like (issue 18.4).

A mixed-precision run trains alone; its float32 twin, batched with other runs, once had the
whole batch's wall time as its epoch time (AMP read as 2.4x faster where, both alone, it was
3.3x slower). The twin now trains alone too, and the outputs say so.
"""

from __future__ import annotations

import pytest
import torch
from optiscope.engine import sweep
from optiscope.engine.cli import main
from optiscope.engine.config import RunConfig
from optiscope.engine.runner import execute, mixed_precision_effect, plan_batches

torch.set_num_threads(1)

BASE = {"dataset": {"name": "blobs", "n_samples": 200}, "training": {"epochs": 2, "batch_size": 16}}


def _runs() -> list[RunConfig]:
    plain = [
        RunConfig.model_validate({**BASE, "optimizer": {"kind": "sgd", "lr": lr}})
        for lr in (0.05, 0.02, 0.01)
    ]
    training = plain[0].training.model_copy(update={"mixed_precision": True})
    return [*plain, plain[0].model_copy(update={"training": training, "label": "amp"})]


def test_the_float32_twin_of_a_mixed_precision_run_trains_alone(monkeypatch):
    runs = _runs()
    groups, alone = plan_batches(runs)
    assert groups == [[1, 2]]
    assert "float32 twin of run 3" in alone[0] and "mixed precision" in alone[3]
    batched: list[list[int]] = []
    real = sweep.train_batched

    def spy(cfgs, ids=None, **kwargs):
        batched.append(list(ids))
        return real(cfgs, ids, **kwargs)

    monkeypatch.setattr(sweep, "train_batched", spy)
    results = execute(runs)
    assert batched == [[1, 2]]  # the twin (run 0) was not in the batch
    (pair,) = mixed_precision_effect(runs, results)
    assert (pair["with"], pair["without"], pair["timing"]) == (3, 0, "both trained alone")

    def mean_epoch_seconds(r):
        return sum(e.seconds for e in r.epochs) / len(r.epochs)

    ratio = mean_epoch_seconds(results[3]) / mean_epoch_seconds(results[0])
    assert pair["seconds_per_epoch"]["ratio"] == pytest.approx(ratio)


def test_cli_says_how_the_two_were_timed(tmp_path, capsys):
    toml = tmp_path / "amp.toml"
    toml.write_text(
        'name = "amp"\n[base.dataset]\nname = "blobs"\nn_samples = 200\n[base.training]\nepochs = 1\n'
        '[[variations]]\nlabel = "sgd"\n[[variations]]\nlabel = "lr 0.02"\noptimizer.lr = 0.02\n'
        '[[variations]]\nlabel = "amp"\ntraining.mixed_precision = true\n'
    )
    assert main(["run", str(toml), "--out", str(tmp_path / "out"), "--no-store"]) == 0
    err = capsys.readouterr().err
    assert "run 0 not batched: the float32 twin of run 2" in err
    assert "both trained alone" in err
