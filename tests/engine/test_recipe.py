"""The tuning recipe's automatic checks (engine.recipe, ``optiscope recipe``)."""

from __future__ import annotations

import dataclasses
import html
import json
import math

import numpy as np
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.cli import main
from optiscope.engine.config import Plateau, RunConfig
from optiscope.engine.data import load_dataset
from optiscope.engine.lrfind import LRFindResult, smooth
from optiscope.engine.models import build_model
from optiscope.engine.recipe import (
    GAP_CLOSED,
    MIN_DROP,
    SCHEDULE_MARGIN,
    gap_check,
    initial_loss_check,
    lr_range_check,
    overfit_check,
    range_test_verdict,
    recipe_group,
    schedule_check,
    train_schedules,
)
from optiscope.engine.store import RunStore
from optiscope.engine.trainer import train

torch.set_num_threads(1)

GOOD = {
    "dataset": {"name": "moons", "n_samples": 200},
    "model": {"layers": [{"type": "dense", "units": 16, "activation": "tanh", "init": "glorot_uniform"}]},
    "optimizer": {"kind": "adam", "lr": 0.01},
    "regularization": {"l2": 0.5},  # switched off for the checks
}
PLAIN = {k: v for k, v in GOOD.items() if k != "regularization"}  # steps 3-5 train with the run's penalties


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
    check = initial_loss_check(big)  # unscaled blobs features, He-initialised relu layer
    assert (
        not check.passed
        and check.numbers["initial_loss"] > math.log(3)
        and "standardise the inputs" in check.advice
    )
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


# ---------------------------------------------------------------------- step 3: the range test's verdict
def _curve(losses):
    """A range test result over 1e-7..10 with the given raw losses, smoothed as lr_find smooths."""
    losses = np.asarray(losses, dtype=float)
    lrs = np.geomspace(1e-7, 10.0, len(losses))
    return LRFindResult(lrs, losses, smooth(losses), stopped_early=False)


def test_range_test_verdict_on_drawn_curves():
    n = 100
    x = np.linspace(0, 1, n)
    # flat at 1.0, falls to 0.4 between 40 % and 75 % of the range, then blows up
    good = np.where(
        x < 0.4, 1.0, np.where(x < 0.75, 1.0 - 0.6 * (x - 0.4) / 0.35, 0.4 + 100 * (x - 0.75) ** 2)
    )
    check = range_test_verdict(_curve(good))
    sm = smooth(good)
    start = good[:10].mean()  # the first tenth: rates too small to move the weights
    assert check.passed and math.isclose(check.numbers["start_loss"], start)
    assert math.isclose(check.numbers["min_loss"], sm[10:].min())
    assert math.isclose(check.numbers["loss_drop_fraction"], (start - sm[10:].min()) / start)
    lrs = np.geomspace(1e-7, 10.0, n)
    assert lrs[0] < check.numbers["suggested_lr"] < check.numbers["lr_at_min"] < lrs[-1]
    # flat with noise: no descent
    rng = np.random.default_rng(0)
    flat = 1.0 + 0.05 * rng.standard_normal(n)
    check = range_test_verdict(_curve(flat))
    assert not check.passed and check.message.startswith("no descent") and "steps 1 and 2" in check.advice
    # still falling at the largest rate tested: the range ended too early
    falling = np.where(x < 0.4, 1.0, 1.0 - 0.6 * (x - 0.4) / 0.6)
    check = range_test_verdict(_curve(falling))
    assert not check.passed and not check.numbers["rose_after_min"] and "raise the end rate" in check.advice


def test_step_three_passes_on_a_learnable_set_and_fails_without_a_descent():
    cfg = RunConfig.model_validate(PLAIN)
    check, result = lr_range_check(cfg)
    assert check.passed, check.message
    assert check.numbers["suggested_lr"] == result.suggestions["valley"]
    assert math.isclose(check.numbers["start_loss"], float(np.mean(result.losses[:10])))
    # random labels: nothing to learn, the loss only wobbles before it blows up
    ds = load_dataset(cfg.dataset)
    shuffled = dataclasses.replace(ds, y_train=np.random.default_rng(0).permutation(ds.y_train))
    check, _ = lr_range_check(cfg, shuffled)
    assert not check.passed and check.numbers["loss_drop_fraction"] < MIN_DROP


# ---------------------------------------------------------------------- steps 4-5 and the run store
def test_schedule_comparison_against_the_runs_trained_one_by_one(tmp_path):
    cfg = RunConfig.model_validate({**PLAIN, "training": {"epochs": 40}})
    lr = 0.03
    store = RunStore(tmp_path / "runs.sqlite3")
    bus = ev.EventBus()
    recorder = store.recorder(recipe_group("good"))
    bus.subscribe(recorder, *recorder.EVENT_TYPES)
    runs, (constant, scheduled) = train_schedules(cfg, lr, bus=bus)
    assert runs[0].schedule.kind == "constant" and runs[1].schedule.kind == "plateau"
    check = schedule_check(constant, scheduled)
    # the same two runs trained alone (torch.optim, not the batched kernel) give the numbers
    alone = [train(r, keep_model=False, stats_every=0) for r in runs]
    c_acc, s_acc = alone[0].final.val_acc, alone[1].final.val_acc
    assert math.isclose(check.numbers["constant_final_val_acc"], c_acc, abs_tol=1e-9)
    assert math.isclose(check.numbers["schedule_final_val_acc"], s_acc, abs_tol=1e-9)
    assert math.isclose(check.numbers["schedule_final_val_loss"], alone[1].final.val_loss, rel_tol=1e-4)
    assert math.isclose(check.numbers["constant_best_val_acc"], max(e.val_acc for e in alone[0].epochs))
    assert check.passed == (s_acc >= c_acc - SCHEDULE_MARGIN)
    assert f"{100 * s_acc:.1f} % vs constant {100 * c_acc:.1f} %" in check.message
    # the plateau run did lower its rate (else the comparison compares two equal runs)
    assert min(e.lr for e in scheduled.epochs) < lr
    gap = gap_check(constant)
    assert math.isclose(gap.numbers["gap"], constant.final.train_acc - constant.final.val_acc)
    assert gap.passed == (gap.numbers["gap"] <= GAP_CLOSED)
    stored = store.list_runs()
    assert len({s.experiment for s in stored}) == 1
    assert stored[0].experiment.startswith("recipe ") and stored[0].experiment.endswith(" · good")
    assert [s.label for s in stored] == [r.label for r in runs] and len(stored) == 2


def test_a_schedule_that_ends_worse_fails_and_the_constant_rate_is_kept():
    cfg = RunConfig.model_validate({**PLAIN, "training": {"epochs": 30}})
    # a plateau so impatient it cuts the rate to nothing after the first epochs
    frozen = cfg.model_copy(
        update={"schedule": Plateau(monitor="val_loss", factor=0.01, patience=0, min_delta=1.0)}
    )
    runs, (constant, scheduled) = train_schedules(frozen, 0.03)
    check = schedule_check(constant, scheduled)
    assert runs[1].schedule == frozen.schedule  # the run's own plateau is the one compared
    assert scheduled.final.val_acc < constant.final.val_acc - SCHEDULE_MARGIN
    assert not check.passed and check.numbers["keep"] == "constant" and "keep the constant" in check.advice


def test_cli_steps_one_to_five_store_the_runs_as_one_recipe(tmp_path):
    toml = tmp_path / "good.toml"
    toml.write_text(
        'name = "good"\n[base.dataset]\nname = "moons"\nn_samples = 200\n'
        '[base.model]\nlayers = [{ type = "dense", units = 16, activation = "tanh", init = "glorot_uniform" }]\n'
        '[base.optimizer]\nkind = "adam"\nlr = 0.01\n[base.training]\nepochs = 30\n'
    )
    before = {s.id for s in RunStore().list_runs()}
    code = main(["recipe", str(toml), "--out", str(tmp_path / "o"), "--steps", "1-5"])
    report = json.loads((tmp_path / "o" / "recipe.json").read_text())
    assert [c["step"] for c in report["checks"]] == [1, 2, 3, 4, 5]
    assert code == (0 if all(c["passed"] for c in report["checks"]) else 1)
    step3, step4 = report["checks"][2], report["checks"][3]
    assert step4["numbers"]["lr"] == step3["numbers"]["suggested_lr"] and step3["passed"]
    new = [s for s in RunStore().list_runs() if s.id not in before]
    assert report["step5_seeds"] == 5  # step 5: the constant and the scheduled run over 5 seeds each
    assert sorted(s.id for s in new) == report["stored_run_ids"] and len(new) == 2 + 2 * 5
    step5 = report["checks"][4]["numbers"]
    assert step5["seeds"] == 5 and len(step5["schedule_final_val_acc_seeds"]) == 5
    assert {s.experiment for s in new} == {report["store_group"]}
    page = (tmp_path / "o" / "summary.html").read_text(encoding="utf-8")
    assert all(html.escape(c["message"]) in page for c in report["checks"])
    assert main(["recipe", str(toml), "--out", str(tmp_path / "x"), "--steps", "2-9"]) == 2


def test_schedule_comparison_over_seeds_is_scipys_paired_t_on_the_seeds_trained_alone():
    """Step 5 over seeds: every contender's mean ± interval and the paired verdict, from the same
    seeds trained one by one (torch.optim) and scipy.stats; pass/keep follow the interval."""
    import scipy.stats

    seeds = 4
    cfg = RunConfig.model_validate({**PLAIN, "training": {"epochs": 15, "seed": 3}})
    runs, results = train_schedules(cfg, 0.03, seeds=seeds)
    assert [r.training.seed for r in runs] == [3, 4, 5, 6] * 2  # seed for seed
    assert [r.schedule.kind for r in runs] == ["constant"] * seeds + ["plateau"] * seeds
    check = schedule_check(results[:seeds], results[seeds:])
    alone = [train(r, keep_model=False, stats_every=0).final.val_acc for r in runs]
    c, s = np.array(alone[:seeds]), np.array(alone[seeds:])
    n = check.numbers
    assert n["seeds"] == seeds
    for who, x in (("constant", c), ("schedule", s)):
        assert n[f"{who}_final_val_acc_seeds"] == pytest.approx(list(x), abs=1e-6)
        lo, hi = scipy.stats.t.interval(0.95, seeds - 1, loc=x.mean(), scale=scipy.stats.sem(x))
        assert n[f"{who}_final_val_acc"] == pytest.approx(x.mean(), abs=1e-6)
        assert n[f"{who}_final_val_acc_interval"] == pytest.approx([lo, hi], abs=1e-6)
    d = s - c
    lo, hi = scipy.stats.t.interval(0.95, seeds - 1, loc=d.mean(), scale=scipy.stats.sem(d))
    assert [n["difference"]["low"], n["difference"]["high"]] == pytest.approx([lo, hi], abs=1e-6)
    assert check.passed == (not hi < -SCHEDULE_MARGIN)
    assert n["keep"] == ("schedule" if lo > 0 else "constant")
    assert n["verdict"] in check.message and f"over {seeds} seeds" in check.message


def test_a_schedule_clearly_worse_over_seeds_fails():
    seeds = 4
    blobs = {**PLAIN, "dataset": {"name": "blobs", "n_samples": 300}, "training": {"epochs": 20}}
    frozen = RunConfig.model_validate(blobs).model_copy(
        update={"schedule": Plateau(monitor="val_loss", factor=0.01, patience=0, min_delta=1.0)}
    )
    _, results = train_schedules(frozen, 0.003, seeds=seeds)
    check = schedule_check(results[:seeds], results[seeds:])
    d = [b.final.val_acc - a.final.val_acc for a, b in zip(results[:seeds], results[seeds:], strict=True)]
    assert max(d) < -SCHEDULE_MARGIN  # every seed: the frozen rate ends well below
    assert check.numbers["difference"]["high"] < -SCHEDULE_MARGIN
    assert not check.passed and check.numbers["keep"] == "constant"
    assert "clearly below the constant rate" in check.advice
    assert check.numbers["verdict"].startswith("the constant rate higher than the schedule by ")
