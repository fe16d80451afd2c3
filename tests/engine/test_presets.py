"""The bundled presets: each loads, follows the reading list's set-up, and runs from the CLI."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from optiscope.engine.cli import main
from optiscope.engine.config import Dense
from optiscope.engine.data import load_dataset
from optiscope.engine.presets import all_presets, get_preset

torch.set_num_threads(1)

READING_LIST = [
    "lr-sweep",
    "momentum-sweep",
    "decay-sweep",
    "plateau-patience",
    "adaptive-optimizers",
    "clr-vs-fixed",
    "overfitting-cures",
    "batchnorm-lr",
    "optimizer-race",
]
BLOBS_STUDIES = [
    "lr-sweep",
    "momentum-sweep",
    "decay-sweep",
    "plateau-patience",
    "adaptive-optimizers",
    "seeds-matter",
]


def test_every_issue_preset_exists_with_description_and_lesson():
    presets = all_presets()
    assert set(READING_LIST) | {"blobs-sgd"} <= set(presets)
    for name in READING_LIST:
        exp = presets[name]
        assert exp.name == name
        assert exp.description and "\n" not in exp.description, name
        assert len(exp.lesson.split()) > 40, f"{name}: the lesson says what to look for"
        assert len(exp.runs()) >= 2, name
        labels = [r.label for r in exp.runs()]
        assert len(set(labels)) == len(labels), f"{name}: run labels must tell runs apart"


@pytest.mark.parametrize("name", BLOBS_STUDIES + ["batchnorm-lr"])
def test_blobs_studies_keep_the_reading_list_set_up(name):
    for run in get_preset(name).runs():
        d = run.dataset
        assert (d.name, d.n_samples, d.centers, d.noise, d.seed, d.train_fraction) == (
            "blobs",
            1000,
            3,
            2.0,
            2,
            0.5,
        )
        assert (run.training.batch_size, run.training.epochs) == (32, 200)
        assert run.model.output_init == "glorot_uniform"
        first = run.model.layers[0]
        assert isinstance(first, Dense) and first.units == 50 and first.init == "he_uniform"
        if name != "batchnorm-lr":
            assert run.model.layers == (Dense(units=50, activation="relu", init="he_uniform"),)
    ds = load_dataset(get_preset(name).base.dataset)
    assert (len(ds.y_train), len(ds.y_val), ds.n_classes) == (500, 500, 3)


def test_study_variations_are_the_reading_lists():
    lr = get_preset("lr-sweep").runs()
    assert [r.optimizer.lr for r in lr] == [1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7]
    assert {r.optimizer.kind for r in lr} == {"sgd"}
    mom = get_preset("momentum-sweep").runs()
    assert [(r.optimizer.lr, r.optimizer.momentum) for r in mom] == [(0.01, m) for m in (0, 0.5, 0.9, 0.99)]
    dec = get_preset("decay-sweep").runs()
    assert [(r.optimizer.lr, r.schedule.kind, r.schedule.decay) for r in dec] == [
        (0.01, "time_decay", d) for d in (1e-1, 1e-2, 1e-3, 1e-4)
    ]
    pla = get_preset("plateau-patience").runs()
    assert [r.schedule.patience for r in pla] == [2, 5, 10, 15]
    for r in pla:
        s = r.schedule
        assert (r.optimizer.lr, s.kind, s.monitor, s.factor, s.min_delta) == (
            0.01,
            "plateau",
            "val_loss",
            0.1,
            1e-7,
        )
    ada = get_preset("adaptive-optimizers").runs()
    assert [(r.optimizer.kind, r.optimizer.lr) for r in ada] == [
        ("sgd", 0.01),
        ("rmsprop", 0.001),
        ("adagrad", 0.01),
        ("adam", 0.001),
    ]
    assert "Keras 3" in get_preset("adaptive-optimizers").lesson
    race = get_preset("optimizer-race").runs()
    assert {r.dataset.name for r in race} == {"digits"}
    kinds = [
        (r.optimizer.kind, getattr(r.optimizer, "momentum", 0) > 0, getattr(r.optimizer, "nesterov", False))
        for r in race
    ]
    assert kinds == [
        ("sgd", False, False),
        ("sgd", True, False),
        ("sgd", True, True),
        ("adagrad", False, False),
        ("rmsprop", False, False),
        ("adam", False, False),
        ("adamw", False, False),
    ]
    assert len({r.training.seed for r in race}) == 1  # one initialisation
    bn = get_preset("batchnorm-lr").runs()
    with_bn = [any(layer.type == "batchnorm" for layer in r.model.layers) for r in bn]
    assert with_bn.count(True) == with_bn.count(False) == 4
    assert sorted(r.optimizer.lr for r in bn if r.model.layers[-1].type == "batchnorm") == sorted(
        r.optimizer.lr for r in bn if r.model.layers[-1].type != "batchnorm"
    )


def test_clr_preset_bounds_and_step_size():
    exp = get_preset("clr-vs-fixed")
    fixed, clr = exp.runs()
    assert (fixed.optimizer.kind, fixed.optimizer.lr, fixed.schedule.kind) == ("sgd", 0.01, "constant")
    s = clr.schedule
    assert (s.kind, s.mode) == ("cyclic", "triangular")
    ds = load_dataset(clr.dataset)
    per_epoch = math.ceil(len(ds.y_train) / clr.training.batch_size)
    assert 2 * per_epoch <= s.step_size <= 10 * per_epoch
    assert ds.n_classes == 2 and clr.dataset.name == "breast_cancer"
    # the lesson says how the bounds were found and quotes them
    assert "lr-find" in exp.lesson and f"{s.base_lr:g}" in exp.lesson and f"{s.max_lr:g}" in exp.lesson


def test_overfitting_preset_uses_a_small_training_set_and_every_cure():
    exp = get_preset("overfitting-cures")
    runs = exp.runs()
    assert all(r.dataset.subsample is not None and r.dataset.subsample <= 100 for r in runs)
    regs = [r.regularization for r in runs]
    assert any(g.l2 > 0 for g in regs)
    assert any(g.early_stopping.enabled for g in regs)
    assert any(g.augmentation.active for g in regs)
    assert any(any(layer.type == "dropout" and layer.p > 0 for layer in r.model.layers) for r in runs)
    base = runs[0]
    assert base.regularization.l2 == 0 and not base.regularization.augmentation.active
    assert all(layer.p == 0 for layer in base.model.layers if layer.type == "dropout")


@pytest.mark.parametrize("name", READING_LIST)
def test_preset_runs_from_the_cli(name, tmp_path):
    out = tmp_path / name
    rc = main(["run", "--preset", name, "--out", str(out), "--epochs", "2", "--quiet", "--no-store"])
    assert rc == 0
    for f in ("metrics.csv", "steps.csv", "summary.json", "config.toml"):
        assert (out / f).is_file(), f
    n_runs = len(get_preset(name).runs())
    rows = list(csv.DictReader((out / "metrics.csv").read_text(encoding="utf-8").splitlines()))
    assert sorted({int(r["run"]) for r in rows}) == list(range(n_runs))
    assert {int(r["epoch"]) for r in rows} == {1, 2}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["runs"]) == n_runs
    assert all(r["reason"] in ("completed", "diverged") for r in summary["runs"])
    assert all(r["epochs"] <= 2 for r in summary["runs"])
    assert all("train_val_gap" in r for r in summary["runs"])
