"""The tuning recipe's automatic checks (engine.recipe, ``optiscope recipe``)."""

from __future__ import annotations

import json
import math

import torch
from optiscope.engine.cli import main
from optiscope.engine.config import RunConfig
from optiscope.engine.data import load_dataset
from optiscope.engine.models import build_model
from optiscope.engine.recipe import initial_loss_check, overfit_check

torch.set_num_threads(1)

GOOD = {
    "dataset": {"name": "moons", "n_samples": 200},
    "model": {"layers": [{"type": "dense", "units": 16, "activation": "tanh", "init": "glorot_uniform"}]},
    "optimizer": {"kind": "adam", "lr": 0.01},
    "regularization": {"l2": 0.5},  # switched off for the checks
}


def test_initial_loss_against_ln_classes_computed_independently():
    cfg = RunConfig.model_validate(GOOD)
    check = initial_loss_check(cfg)
    ds = load_dataset(cfg.dataset)
    torch.manual_seed(cfg.training.seed)
    model = build_model(cfg.model, ds.n_features, ds.n_classes)
    with torch.no_grad():
        loss = float(
            torch.nn.functional.cross_entropy(model(torch.as_tensor(ds.x_train)), torch.as_tensor(ds.y_train))
        )
    assert math.isclose(check.numbers["initial_loss"], loss, rel_tol=1e-6)
    assert check.numbers["ln_classes"] == math.log(2) and check.passed


def test_far_off_initial_loss_and_an_optimizer_that_cannot_learn_fail():
    big = RunConfig.model_validate({**GOOD, "dataset": {"name": "blobs", "n_samples": 200}})
    assert not initial_loss_check(big).passed  # unscaled blobs features, He-initialised relu layer
    frozen = RunConfig.model_validate({**GOOD, "optimizer": {"kind": "sgd", "lr": 1e-7}})
    check = overfit_check(frozen)
    assert not check.passed and check.numbers["best_train_acc"] < 1.0 and "not the data" in check.advice


def test_cli_writes_the_report_and_exit_codes(tmp_path):
    toml = tmp_path / "good.toml"
    toml.write_text(
        'name = "good"\n[base.dataset]\nname = "moons"\nn_samples = 200\n'
        '[base.model]\nlayers = [{ type = "dense", units = 16, activation = "tanh", init = "glorot_uniform" }]\n'
        '[base.optimizer]\nkind = "adam"\nlr = 0.01\n'
    )
    assert main(["recipe", str(toml), "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "recipe.json").read_text())
    assert report["passed"] and [c["step"] for c in report["checks"]] == [1, 2]
    assert report["checks"][1]["numbers"]["examples"] == 20
    assert main(["recipe", "--preset", "blobs-sgd", "--out", str(tmp_path / "b")]) == 1
    assert main(["recipe", str(toml), "--out", str(tmp_path / "c"), "--run", "5"]) == 2
