"""Batched sweeps (engine.sweep) against the same runs trained alone with torch.optim.

The reference is :func:`engine.trainer.train` exactly as a single run uses it (fused
torch.optim kernels for SGD/Adam/AdamW/Adagrad on the CPU, the others single-tensor),
with its ``torch.optim.lr_scheduler`` schedules.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import OPTIMIZER_KINDS, SCHEDULE_KINDS, RunConfig
from optiscope.engine.optimizers import REGISTRY
from optiscope.engine.runner import execute, plan_batches
from optiscope.engine.sweep import batch_key, train_batched
from optiscope.engine.trainer import RunControl, train

torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads
TOL = 1e-5

# 100 training points, batch 8: 13 updates per epoch, 4 epochs = 52 updates (>= 50)
BASE = {
    "dataset": {"name": "blobs", "n_samples": 200},
    "training": {"epochs": 4, "batch_size": 8, "seed": 3},
}

OPTIMIZERS = {
    "sgd": {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
    "adagrad": {"kind": "adagrad", "lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
    "rmsprop": {"kind": "rmsprop", "lr": 0.003, "momentum": 0.5, "centered": True, "weight_decay": 1e-2},
    "adam": {"kind": "adam", "lr": 0.005, "amsgrad": True, "weight_decay": 1e-2},
    "adamw": {"kind": "adamw", "lr": 0.005},
    "nadam": {"kind": "nadam", "lr": 0.004, "weight_decay": 1e-3},
    "adamax": {"kind": "adamax", "lr": 0.005},
    "adadelta": {"kind": "adadelta", "lr": 1.0, "weight_decay": 1e-3},
    "radam": {"kind": "radam", "lr": 0.005, "decoupled_weight_decay": True, "weight_decay": 1e-2},
    "lion": {"kind": "lion", "lr": 0.001, "beta1": 0.8, "weight_decay": 0.1},
    "adafactor": {"kind": "adafactor", "lr": 0.02, "d": 1.5, "weight_decay": 0.01},
    # Muon trains alone unless asked (its bfloat16 Newton-Schulz amplifies the engines' rounding)
    "muon": {"kind": "muon", "lr": 0.005, "adjust_lr_fn": "original", "momentum": 0.9, "batched": True},
}
#: the twins of the authors' packages (test_package_twins.py checks them against the packages)
PACKAGE_TWINS = {
    "schedulefree_adamw": {"kind": "schedulefree_adamw", "lr": 0.01, "warmup_steps": 5, "weight_decay": 0.01},
    "schedulefree_sgd": {"kind": "schedulefree_sgd", "lr": 0.05, "momentum": 0.8, "r": 1.0},
    "prodigy": {"kind": "prodigy", "weight_decay": 0.01, "use_bias_correction": True},
}
EXTRA_OPTIMIZERS = [
    {"kind": "sgd", "lr": 0.05},
    {"kind": "sgd", "lr": 0.02, "momentum": 0.5, "dampening": 0.3},
    {"kind": "rmsprop", "lr": 0.002},
    {"kind": "adam", "lr": 0.01},
    {"kind": "adamw", "lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
]
SCHEDULES = {
    "constant": {"kind": "constant"},
    "time_decay": {"kind": "time_decay", "decay": 0.05},
    "step": {"kind": "step", "step_epochs": 1, "gamma": 0.5},
    "exponential": {"kind": "exponential", "gamma": 0.7},
    "cosine": {"kind": "cosine", "warmup_steps": 5},
    "cosine_restarts": {"kind": "cosine_restarts", "t0_steps": 10, "t_mult": 2},
    "cyclic": {"kind": "cyclic", "mode": "triangular2", "base_lr": 0.001, "max_lr": 0.02, "step_size": 6},
    "one_cycle": {"kind": "one_cycle", "max_lr": 0.02},
    "plateau": {"kind": "plateau", "monitor": "train_loss", "patience": 0, "factor": 0.5, "min_delta": 100.0},
    "wsd": {"kind": "wsd", "warmup_steps": 5, "decay_fraction": 0.3, "decay_shape": "cosine", "floor": 0.1},
    "linear": {"kind": "linear", "end_factor": 0.2},
    "polynomial": {"kind": "polynomial", "power": 2.0},
    "multistep": {"kind": "multistep", "milestones": [10, 30], "gamma": 0.5},
    "inverse_sqrt": {"kind": "inverse_sqrt", "warmup_steps": 8},
}
#: every optimizer with a batched twin (the others train alone and say why: test_optimizer_parts)
BATCHED_KINDS = {k for k in OPTIMIZER_KINDS if REGISTRY[k].batched is not None}
assert set(OPTIMIZERS) | set(PACKAGE_TWINS) == BATCHED_KINDS and set(SCHEDULES) == set(SCHEDULE_KINDS)


def cfg(**over) -> RunConfig:
    d = {k: dict(v) for k, v in BASE.items()}
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) and k in d else v
    return RunConfig.model_validate(d)


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def effective(model: torch.nn.Module) -> torch.Tensor:
    """All parameters except a dense bias that feeds straight into batch norm.

    Batch norm subtracts the batch mean, so such a bias has no effect and its true
    gradient is zero; what autograd returns is rounding noise (~1e-9), which Adam-like
    optimizers normalise into full-size steps. Two exact implementations may then move
    that bias differently while computing the same function; it is left out here, and
    the outputs are compared instead.
    """
    mods = list(model)
    keep = []
    for i, m in enumerate(mods):
        for name, p in m.named_parameters(recurse=False):
            feeds_bn = (
                name == "bias"
                and isinstance(m, torch.nn.Linear)
                and i + 1 < len(mods)
                and isinstance(mods[i + 1], torch.nn.BatchNorm1d)
            )
            if not feeds_bn:
                keep.append(p.detach().reshape(-1))
    return torch.cat(keep)


def recorder() -> tuple[ev.EventBus, list[ev.Event]]:
    bus, seen = ev.EventBus(), []
    bus.subscribe(seen.append)
    return bus, seen


def kinds_in_order(events: list[ev.Event]) -> list[type]:
    """The events' types in order, a run of consecutive ``Steps`` blocks counted once (where a
    block is cut depends on timing)."""
    out: list[type] = []
    for e in events:
        if not (type(e) is ev.Steps and out and out[-1] is ev.Steps):
            out.append(type(e))
    return out


def mixed_sweep() -> list[RunConfig]:
    """Every optimizer kind and every schedule kind, in one sweep."""
    # the package twins last: they take the first schedules again (constant for schedule-free)
    opts = list(OPTIMIZERS.values()) + EXTRA_OPTIMIZERS + list(PACKAGE_TWINS.values())
    scheds = list(SCHEDULES.values())
    n = max(len(opts), len(scheds))
    runs = []
    for i in range(n):
        runs.append(cfg(optimizer=opts[i % len(opts)], schedule=scheds[i % len(scheds)], label=f"run{i}"))
    return runs


def assert_same_trajectory(batched, alone, cfg_: RunConfig) -> None:
    what = f"{cfg_.optimizer.kind} + {cfg_.schedule.kind}"
    assert batched.reason == alone.reason, what
    assert len(batched.step_loss) == len(alone.step_loss) >= 50, what
    # the rate of every update comes from the same torch scheduler: identical
    np.testing.assert_array_equal(batched.step_lr, alone.step_lr, err_msg=what)
    np.testing.assert_allclose(batched.step_loss, alone.step_loss, rtol=0, atol=1e-4, err_msg=what)
    diff = float((effective(batched.model) - effective(alone.model)).abs().max())
    assert diff <= TOL, f"{what}: weights differ by {diff:.3g} after {len(alone.step_loss)} updates"
    x = torch.linspace(-8, 8, 60).view(30, 2)
    for m in (batched.model, alone.model):
        m.eval()
        for mod in m.modules():  # batch statistics: the ignored bias cancels exactly
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.train()
    with torch.no_grad():
        out_b, out_a = batched.model(x), alone.model(x)
    assert float((out_b - out_a).abs().max()) <= 1e-4, what
    assert [e.epoch for e in batched.epochs] == [e.epoch for e in alone.epochs]
    # with batch norm, the running mean also holds the ignored bias (see effective())
    tol = 1e-3 if any(isinstance(m, torch.nn.BatchNorm1d) for m in alone.model.modules()) else 1e-4
    for eb, ea in zip(batched.epochs, alone.epochs, strict=True):
        assert eb.lr == ea.lr
        assert math.isclose(eb.val_loss, ea.val_loss, abs_tol=tol), what
        assert abs(eb.val_acc - ea.val_acc) <= 0.011, what  # at most one point flips


def test_every_optimizer_and_schedule_matches_torch_optim_alone():
    runs = mixed_sweep()
    assert len({batch_key(r) for r in runs}) == 1
    bus, seen = recorder()
    results = train_batched(runs, list(range(len(runs))), bus=bus)
    kinds_o = {r.optimizer.kind for r in runs}
    kinds_s = {r.schedule.kind for r in runs}
    assert kinds_o == BATCHED_KINDS and kinds_s == set(SCHEDULE_KINDS)
    for i, (c, rb) in enumerate(zip(runs, results, strict=True)):
        bus_a, seen_a = recorder()
        ra = train(c, run_id=i, bus=bus_a)
        assert_same_trajectory(rb, ra, c)
        # the same events, in the same order, for this run (timings aside)
        mine = [e for e in seen if e.run == i]
        assert kinds_in_order(mine) == kinds_in_order(seen_a)
        steps_b = [(r.step, r.epoch, r.lr) for r in ev.step_rows(mine)]
        steps_a = [(r.step, r.epoch, r.lr) for r in ev.step_rows(seen_a)]
        assert steps_b == steps_a
        red_b = [(e.epoch, e.old_lr, e.new_lr) for e in mine if isinstance(e, ev.LRReduced)]
        red_a = [(e.epoch, e.old_lr, e.new_lr) for e in seen_a if isinstance(e, ev.LRReduced)]
        assert red_b == red_a
    plateau = runs.index(next(r for r in runs if r.schedule.kind == "plateau"))
    assert any(isinstance(e, ev.LRReduced) and e.run == plateau for e in seen), "plateau never reduced"


def test_layers_penalties_clipping_and_seeds_match_alone():
    """Dropout (per-run masks), batch norm, gelu/tanh, L1/L2, clipping, jitter, own seeds."""
    layers = [
        {"type": "dense", "units": 16, "activation": "linear"},
        {"type": "batchnorm", "activation": "relu"},
        {"type": "dropout", "p": 0.3},
        {"type": "dense", "units": 8, "activation": "gelu"},
    ]
    mlp = [
        {"type": "dense", "units": 16, "activation": "tanh", "init": "glorot_normal"},
        {"type": "dropout", "p": 0.2},
        {"type": "dense", "units": 8, "activation": "leaky_relu"},
    ]
    groups = [
        [
            cfg(model={"layers": layers}, optimizer={"kind": "sgd", "lr": 0.05, "momentum": 0.9}),
            cfg(
                model={"layers": layers},
                optimizer={"kind": "adam", "lr": 0.01},
                regularization={"l2": 1e-3, "grad_clip": 0.5},
                training={**BASE["training"], "seed": 11},
            ),
        ],
        [
            cfg(
                model={"layers": mlp},
                optimizer={"kind": "sgd", "lr": 0.1},
                regularization={"l1": 1e-3, "l2": 1e-3},
            ),
            cfg(
                model={"layers": [{**mlp[0], "init": "he_uniform"}, {"type": "dropout", "p": 0.5}, mlp[2]]},
                optimizer={"kind": "rmsprop", "lr": 0.003},
                regularization={"grad_clip": 0.1},
                training={**BASE["training"], "seed": 5},
            ),
            cfg(
                model={"layers": mlp},
                optimizer={"kind": "adamax", "lr": 0.01},
                regularization={"augmentation": {"jitter": 0.3}},
            ),
            cfg(
                model={"layers": mlp},
                optimizer={"kind": "nadam", "lr": 0.01},
                training={**BASE["training"], "seed": 5, "eval_train": False},
            ),
        ],
        [  # metrics from the running training loss instead of a training-set pass
            cfg(optimizer={"kind": "sgd", "lr": 0.05}, training={**BASE["training"], "eval_train": False}),
            cfg(optimizer={"kind": "adam", "lr": 0.01}, training={**BASE["training"], "eval_train": False}),
        ],
    ]
    for runs in groups:
        if len({batch_key(r) for r in runs}) != 1:  # eval_train differs: split by the planner
            assert len(plan_batches(runs)[0]) == 1
            runs = runs[:-1]
        results = train_batched(runs)
        for c, rb in zip(runs, results, strict=True):
            ra = train(c)
            assert_same_trajectory(rb, ra, c)
            for eb, ea in zip(rb.epochs, ra.epochs, strict=True):
                assert math.isclose(eb.train_loss, ea.train_loss, abs_tol=1e-3)
                assert abs(eb.train_acc - ea.train_acc) <= 0.011


def test_diverging_run_is_isolated():
    good = [
        cfg(optimizer={"kind": "sgd", "lr": 0.05, "momentum": 0.9}),
        cfg(optimizer={"kind": "adam", "lr": 0.01}),
    ]
    bad = cfg(optimizer={"kind": "sgd", "lr": 50.0}, label="lr 50")
    bus, seen = recorder()
    with_bad = train_batched([good[0], bad, good[1]], [0, 1, 2], bus=bus)
    without = train_batched(good, [0, 2])
    alone = train(bad)
    assert alone.reason == "diverged"
    r = with_bad[1]
    assert r.reason == "diverged"
    assert r.diverged_step == alone.diverged_step
    last, first = r.step_loss[-1], r.step_loss[0]
    # diverged = NaN/Inf or above diverge_factor (1e6) x the first loss, as trainer.train says
    assert len(r.step_loss) == r.diverged_step and (not math.isfinite(last) or last > 1e6 * max(first, 1.0))
    div = [e for e in seen if isinstance(e, ev.Diverged)]
    assert [(e.run, e.step) for e in div] == [(1, alone.diverged_step)]
    # no event of the diverged run after its Diverged event except Finished('diverged')
    after = seen[seen.index(div[0]) + 1 :]
    assert [type(e) for e in after if e.run == 1] == [ev.Finished]
    assert next(e for e in after if e.run == 1).reason == "diverged"
    for a, b in zip((with_bad[0], with_bad[2]), without, strict=True):
        assert a.reason == b.reason == "completed"
        assert torch.equal(flat(a.model), flat(b.model)), "a diverging run changed another run"
        np.testing.assert_array_equal(a.step_loss, b.step_loss)
        assert [e.val_loss for e in a.epochs] == [e.val_loss for e in b.epochs]


def test_early_stopping_and_different_epochs_in_one_batch():
    es = {"early_stopping": {"enabled": True, "monitor": "val_loss", "patience": 1, "min_delta": 0.05}}
    runs = [
        cfg(
            optimizer={"kind": "sgd", "lr": 0.05},
            regularization=es,
            training={**BASE["training"], "epochs": 8},
        ),
        cfg(optimizer={"kind": "sgd", "lr": 0.05}, training={**BASE["training"], "epochs": 2}),
        cfg(optimizer={"kind": "adam", "lr": 0.01}, training={**BASE["training"], "epochs": 5}),
    ]
    bus, seen = recorder()
    results = train_batched(runs, bus=bus)
    for c, rb in zip(runs, results, strict=True):
        ra = train(c)
        assert rb.reason == ra.reason
        assert rb.best_epoch == ra.best_epoch
        assert len(rb.epochs) == len(ra.epochs)
        assert float((flat(rb.model) - flat(ra.model)).abs().max()) <= TOL
    assert results[0].reason == "early_stopped"
    assert any(isinstance(e, ev.EarlyStopped) and e.run == 0 and e.restored for e in seen)
    assert [len(r.epochs) for r in results[1:]] == [2, 5]
    # a run that ends early says so at once, not when the whole batch ends
    fin1 = next(i for i, e in enumerate(seen) if isinstance(e, ev.Finished) and e.run == 1)
    ep3 = next(i for i, e in enumerate(seen) if isinstance(e, ev.EpochEnd) and e.epoch == 3)
    assert fin1 < ep3


@pytest.mark.parametrize("net", ["dense", "batchnorm"])
def test_finished_runs_are_not_evaluated_and_the_others_match_alone(monkeypatch, net):
    """Issue 20: once a run has ended, the epoch evaluation passes over the live runs only (its
    row is not computed again), and every run's metrics stay those it gets trained alone with
    torch.optim (engine.trainer.train) -- the batch-norm net reads its running statistics
    for the live rows it evaluates."""
    from optiscope.engine import kernels

    layers = (
        [{"type": "dense", "units": 16, "activation": "linear"}, {"type": "batchnorm", "activation": "relu"}]
        if net == "batchnorm"
        else [{"type": "dense", "units": 16, "activation": "relu"}]
    )
    epochs = [5, 2, 5, 3]
    runs = [
        cfg(
            model={"layers": layers},
            optimizer={"kind": "sgd", "lr": 0.05 / (i + 1)},
            training={**BASE["training"], "epochs": e, "seed": 3 + i},
        )
        for i, e in enumerate(epochs)
    ]
    evaluated: list[int] = []  # rows per evaluation pass (the Inside probe and boundaries aside)
    forward = kernels.BatchedNet.forward

    def spy(self, x, train, alive=None, saved=None, rows=None, taps=None):
        if rows is not None and taps is None:
            evaluated.append(rows.stop - rows.start if isinstance(rows, slice) else len(rows))
        return forward(self, x, train, alive, saved, rows, taps)

    monkeypatch.setattr(kernels.BatchedNet, "forward", spy)
    results = train_batched(runs, stats_every=0)
    # one pass per epoch (4 runs fit one block): all 4 rows for 2 epochs, then 3, then 2
    assert evaluated == [4, 4, 3, 2, 2]
    for c, rb in zip(runs, results, strict=True):
        ra = train(c)
        assert rb.reason == ra.reason == "completed"
        assert (
            [e.epoch for e in rb.epochs]
            == [e.epoch for e in ra.epochs]
            == list(range(1, c.training.epochs + 1))
        )
        for eb, ea in zip(rb.epochs, ra.epochs, strict=True):
            for field in ("train_loss", "val_loss"):
                assert math.isclose(getattr(eb, field), getattr(ea, field), abs_tol=1e-4), (field, eb.epoch)
            for field in ("train_acc", "val_acc"):
                assert abs(getattr(eb, field) - getattr(ea, field)) <= 0.011, (field, eb.epoch)


def test_cpu_runs_seed_the_cpu_stream_only_and_match_torch_manual_seed_alone(monkeypatch):
    """Batched CPU runs draw their initial weights and dropout masks after seeding the CPU
    generator alone (``torch.manual_seed`` also queues a seed, with a recorded stack, for every
    accelerator: ~0.2 ms a run), and still start and train exactly as the trainer's runs
    seeded with ``torch.manual_seed``."""
    layers = [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "dropout", "p": 0.3}]
    runs = [
        cfg(
            model={"layers": layers},
            optimizer={"kind": "sgd", "lr": 0.05},
            training={**BASE["training"], "seed": s},
        )
        for s in (3, 4)
    ]
    calls: list[int] = []
    manual_seed = torch.manual_seed

    def spy(seed):
        calls.append(seed)
        return manual_seed(seed)

    monkeypatch.setattr(torch, "manual_seed", spy)
    results = train_batched(runs)
    assert calls == []
    monkeypatch.setattr(torch, "manual_seed", manual_seed)
    for c, rb in zip(runs, results, strict=True):
        ra = train(c)  # torch.manual_seed(seed), then build_model and torch.optim
        np.testing.assert_allclose(rb.step_loss, ra.step_loss, rtol=0, atol=1e-5)
        assert float((flat(rb.model) - flat(ra.model)).abs().max()) <= TOL


def test_control_stop_pause_advance_and_set_lr():
    runs = [cfg(optimizer={"kind": "sgd", "lr": 0.01}), cfg(optimizer={"kind": "adam", "lr": 0.001})]
    control = RunControl(start_paused=True)
    bus, seen = recorder()
    out: list = []
    worker = threading.Thread(target=lambda: out.append(train_batched(runs, bus=bus, control=control)))
    worker.start()
    control.advance(3)
    for _ in range(200):
        if len(ev.step_rows(seen)) >= 6:
            break
        threading.Event().wait(0.01)
    threading.Event().wait(0.05)
    assert len(ev.step_rows(seen)) == 6  # exactly 3 updates for each run
    control.set_lr(0.5)
    control.advance(1)
    for _ in range(200):
        if len(ev.step_rows(seen)) >= 8:
            break
        threading.Event().wait(0.01)
    control.stop()
    worker.join(10)
    assert not worker.is_alive()
    results = out[0]
    assert [r.reason for r in results] == ["stopped", "stopped"]
    assert [len(r.step_lr) for r in results] == [4, 4]
    assert [r.step_lr[-1] for r in results] == [0.5, 0.5]  # the new rate for every run
    assert [r.step_lr[0] for r in results] == [0.01, 0.001]
    fin = [e for e in seen if isinstance(e, ev.Finished)]
    assert sorted((e.run, e.reason, e.steps) for e in fin) == [(0, "stopped", 4), (1, "stopped", 4)]


def test_execute_batches_what_it_can_and_says_why_not():
    scaled = {**BASE["dataset"], "standardize": True}  # runs that learn in 4 epochs: "completed"
    runs = [
        cfg(dataset=scaled, optimizer={"kind": "sgd", "lr": 0.05}),
        cfg(
            dataset={"name": "digits"},
            model={"layers": [{"type": "conv2d", "filters": 2}]},
            optimizer={"kind": "adam", "lr": 0.01},  # learns within its one epoch
            training={**BASE["training"], "epochs": 1, "batch_size": 64},
        ),
        cfg(dataset=scaled, optimizer={"kind": "adam", "lr": 0.01}),
        cfg(
            dataset=scaled,
            optimizer={"kind": "sgd", "lr": 0.05},
            training={**BASE["training"], "batch_size": 16},
        ),
    ]
    groups, alone = plan_batches(runs)
    assert groups == [[0, 2]]
    assert "conv2d" in alone[1] and "shares" in alone[3]
    messages: list[str] = []
    bus, seen = recorder()
    results = execute(runs, bus=bus, log=messages.append, keep_models=True, first_run_id=10)
    assert [r.run for r in results] == [10, 11, 12, 13]
    assert any(m.startswith("run 11 not batched: conv2d") for m in messages)
    assert any(m.startswith("run 13 not batched") for m in messages)
    assert any("runs 10, 12 batched" in m for m in messages)
    assert all(r.reason == "completed" for r in results), [
        (r.label, r.reason, r.reason_detail) for r in results
    ]
    started = [e.run for e in seen if isinstance(e, ev.RunStarted)]
    assert sorted(started) == [10, 11, 12, 13]
    sequential = execute(runs, batched=False, keep_models=True)
    for a, b in zip(results, sequential, strict=True):
        assert float((flat(a.model) - flat(b.model)).abs().max()) <= TOL


@pytest.mark.parametrize("every", [3])
def test_boundary_and_weights_events_like_a_single_run(every):
    runs = [cfg(optimizer={"kind": "sgd", "lr": 0.05}), cfg(optimizer={"kind": "sgd", "lr": 0.01})]
    bus, seen = recorder()
    train_batched(runs, bus=bus, boundary_every=2, weights_every=every)
    bus_a, seen_a = recorder()
    train(runs[1], run_id=1, bus=bus_a, boundary_every=2, weights_every=every)
    mine = [e for e in seen if e.run == 1]
    assert [type(e) for e in mine] == [type(e) for e in seen_a]
    wb = [e for e in mine if isinstance(e, ev.Weights)]
    wa = [e for e in seen_a if isinstance(e, ev.Weights)]
    assert [e.step for e in wb] == [e.step for e in wa]
    np.testing.assert_allclose(wb[-1].vector, wa[-1].vector, atol=TOL)
    bb = [e for e in mine if isinstance(e, ev.Boundary)]
    ba = [e for e in seen_a if isinstance(e, ev.Boundary)]
    assert [e.epoch for e in bb] == [e.epoch for e in ba] == [0, 2, 4]
    np.testing.assert_allclose(bb[-1].probs, ba[-1].probs, atol=1e-4)


def test_constant_rate_batches_need_no_torch_optim():
    """A batched sweep at constant rates builds no torch.optim optimizer (the first one in a
    process imports torch._dynamo, ~1.3 s of a CLI run); other schedules still use torch's."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from optiscope.engine.config import RunConfig\n"
        "from optiscope.engine.sweep import train_batched\n"
        "base = {'dataset': {'name': 'blobs', 'n_samples': 100, 'standardize': True}, 'training': {'epochs': 2}}\n"
        "cfgs = [RunConfig.model_validate({**base, 'optimizer': {'kind': 'sgd', 'lr': lr}}) for lr in (0.1, 0.01)]\n"
        "res = train_batched(cfgs)\n"
        "assert [r.reason for r in res] == ['completed', 'completed'], res\n"
        "print('dynamo' if 'torch._dynamo' in sys.modules else 'no-dynamo')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no-dynamo"


def test_seeds_shared_across_runners_batched_match_each_seed_alone(monkeypatch):
    """Issue 20: 8 runners x 16 seeds (run (i, j) = runner i with ``training.seed = s0 + j``)
    trained as one batched group; seed s of a runner gives the metrics ``--seed s`` trains alone
    (``engine.trainer.train``, torch.optim) to 1e-6. The rows of one seed share their minibatches,
    and the kernel shares their first layer's input (blocks of 8 runs)."""
    from optiscope.engine import kernels
    from optiscope.engine.presets import get_preset

    shares: list[int] = []
    groups = kernels.BatchedKernel._input_groups

    def spy(self):
        shares.append(groups(self))
        return shares[-1]

    monkeypatch.setattr(kernels.BatchedKernel, "_input_groups", spy)
    runners = get_preset("lr-sweep").with_overrides(epochs=2).runs()
    assert len(runners) == 8
    runs = []
    for cfg in runners:
        for j in range(16):
            training = cfg.training.model_copy(update={"seed": cfg.training.seed + j})
            runs.append(cfg.model_copy(update={"training": training}))
    groups_, alone_ = plan_batches(runs)
    assert groups_ == [list(range(128))] and not alone_
    results = execute(runs)
    assert shares == [8]  # one kernel, seed blocks of 8 rows
    # three runs of different runners and seeds, at rates of 1e-3 and below: at 0.01 and above
    # these blobs' loss swings (5 -> 34 -> 2 in ten updates at 0.1) and amplifies float32
    # rounding (two correct orders of the same sums) past 1e-6 within an epoch
    for runner, j in ((3, 3), (5, 11), (6, 5)):
        got = results[runner * 16 + j]
        d = runners[runner].model_dump(mode="json")
        d["training"]["seed"] = runners[runner].training.seed + j
        want = train(RunConfig.model_validate(d))  # the run `--seed s` trains alone
        what = f"{runners[runner].label}, seed {d['training']['seed']}"
        assert got.reason == want.reason, what  # 1e-5 and below may end "did not learn"
        assert len(got.epochs) == len(want.epochs) == 2, what
        np.testing.assert_array_equal(got.step_lr, want.step_lr, err_msg=what)
        np.testing.assert_allclose(got.step_loss, want.step_loss, rtol=0, atol=1e-5, err_msg=what)
        for eg, ew in zip(got.epochs, want.epochs, strict=True):
            for field in ("train_loss", "train_acc", "val_loss", "val_acc"):
                assert abs(getattr(eg, field) - getattr(ew, field)) <= 1e-6, (what, eg.epoch, field)
