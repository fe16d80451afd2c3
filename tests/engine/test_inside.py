"""Inside a run (engine.inside): effective learning rates and per-layer health, alone and batched.

The effective rates are checked against a direct computation from ``torch.optim``'s own
state written out here, and against the update torch.optim actually made.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import OPTIMIZER_KINDS, RunConfig
from optiscope.engine.kernels import TorchKernel
from optiscope.engine.optimizers import REGISTRY
from optiscope.engine.presets import get_preset
from optiscope.engine.runner import execute, write_outputs
from optiscope.engine.sweep import train_batched
from optiscope.engine.trainer import prepare, train

torch.set_num_threads(1)

BASE = {"dataset": {"name": "blobs", "n_samples": 200}, "training": {"epochs": 2, "batch_size": 8, "seed": 3}}
OPTIMIZERS = {
    "sgd": {"kind": "sgd", "lr": 0.05, "momentum": 0.9},
    "adagrad": {"kind": "adagrad", "lr": 0.05},
    "rmsprop": {"kind": "rmsprop", "lr": 0.003, "centered": True},
    "adam": {"kind": "adam", "lr": 0.005, "amsgrad": True},
    "adamw": {"kind": "adamw", "lr": 0.005},
    "nadam": {"kind": "nadam", "lr": 0.004},
    "adamax": {"kind": "adamax", "lr": 0.005},
    "adadelta": {"kind": "adadelta", "lr": 1.0},
    "radam": {"kind": "radam", "lr": 0.005},
    "adafactor": {"kind": "adafactor", "lr": 0.05, "weight_decay": 0.01},
    "muon": {"kind": "muon", "lr": 0.005, "batched": True},  # the twin, asked for (the batched test)
    "lion": {"kind": "lion", "lr": 0.001, "weight_decay": 0.1},
    "schedulefree_adamw": {"kind": "schedulefree_adamw", "lr": 0.005, "warmup_steps": 10},
    "schedulefree_sgd": {"kind": "schedulefree_sgd", "lr": 0.1, "warmup_steps": 3},
    "prodigy": {"kind": "prodigy", "use_bias_correction": True, "decouple": False, "weight_decay": 0.01},
}
assert set(OPTIMIZERS) == set(OPTIMIZER_KINDS)


def cfg(optimizer: dict, **over) -> RunConfig:
    return RunConfig.model_validate({**BASE, "optimizer": optimizer, **over})


def direct_rate(opt: torch.optim.Optimizer, p: torch.Tensor, lr: float, before=None) -> torch.Tensor:
    """The textbook effective rate from torch.optim's state for ``p`` (float64)."""
    g, s = opt.param_groups[0], opt.state[p]
    t = float(s["step"]) if "step" in s else 0.0
    if hasattr(opt, "muon"):  # Muon (Jordan 2024) on matrices, AdamW on the rest
        if p.ndim == 2:  # the Moonshot scale 0.2 sqrt(max(A, B)) on the orthogonalised momentum
            return torch.full_like(p, lr * 0.2 * max(p.shape) ** 0.5, dtype=torch.float64)
        return lr / ((s["exp_avg_sq"].double() / (1 - 0.999**t)).sqrt() + 1e-8)
    name = type(opt).__name__
    if name == "LionOptimizer":  # Chen et al. 2023: the sign step, lr for every weight
        return torch.full_like(p, lr, dtype=torch.float64)
    if name in ("AdamWScheduleFree", "SGDScheduleFree"):  # Defazio et al. 2024: z's step
        k = g["k"]
        warm = min(1.0, k / g["warmup_steps"]) if g["warmup_steps"] else 1.0
        if name == "SGDScheduleFree":
            return torch.full_like(p, lr * warm, dtype=torch.float64)
        return lr * warm / ((s["exp_avg_sq"].double() / (1 - g["betas"][1] ** k)).sqrt() + g["eps"])
    if name == "Prodigy":  # Mishchenko & Defazio 2024: d lr bc m / (sqrt(v) + d eps), m, v of d-scaled g
        d, (b1, b2), k = g["d"], g["betas"], g["k"]
        bc = (1 - b2**k) ** 0.5 / (1 - b1**k)
        return d * lr * bc * d / (s["exp_avg_sq"].double().sqrt() + d * g["eps"])
    if isinstance(opt, torch.optim.RAdam):  # Liu et al. 2020, Algorithm 2
        b2 = g["betas"][1]
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho <= 5:
            return torch.full_like(p, lr, dtype=torch.float64)
        r = ((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)) ** 0.5
        return lr * r / ((s["exp_avg_sq"].double() / (1 - b2**t)).sqrt() + g["eps"] / (1 - b2**t) ** 0.5)
    if isinstance(opt, torch.optim.Adafactor):  # Shazeer & Stern 2018, Algorithms 4 and 5
        rms = lambda x: float(x.double().pow(2).mean().sqrt())  # noqa: E731
        alpha = max(g["eps"][1], rms(before)) * min(lr, t**-0.5)
        if p.ndim == 2:  # the factored estimate: R C / (1^T R)
            r, c = s["row_var"].double(), s["col_var"].double()
            v = r @ c / r.mean()
        else:
            v = s["variance"].double()
        inv = 1 / v.clamp(min=torch.finfo(torch.float32).eps ** 2).sqrt()
        clip = max(1.0, rms(p.grad.double() * inv) / g["d"])
        return alpha / clip * inv
    if isinstance(opt, torch.optim.SGD):
        return torch.full_like(p, lr, dtype=torch.float64)
    if isinstance(opt, torch.optim.Adagrad):
        return lr / (1 + (t - 1) * g["lr_decay"]) / (s["sum"].double().sqrt() + g["eps"])
    if isinstance(opt, torch.optim.RMSprop):
        v = s["square_avg"].double() - (s["grad_avg"].double() ** 2 if g["centered"] else 0)
        return lr / (v.sqrt() + g["eps"])
    if isinstance(opt, torch.optim.Adam | torch.optim.AdamW | torch.optim.NAdam):
        v = s["max_exp_avg_sq"] if g.get("amsgrad") else s["exp_avg_sq"]
        v_hat = v.double() / (1 - g["betas"][1] ** t)
        return lr / (v_hat.sqrt() + g["eps"])
    if isinstance(opt, torch.optim.Adamax):
        return lr / s["exp_inf"].double()
    if isinstance(opt, torch.optim.Adadelta):
        return lr * (s["acc_delta"].double() + g["eps"]).sqrt() / (s["square_avg"].double() + g["eps"]).sqrt()
    raise AssertionError(type(opt))


def kernel_after_steps(c: RunConfig, steps: int):
    p = prepare(c)
    kernel = TorchKernel(
        c, p.dataset, p.model, p.optimizer, (p.x_train, p.y_train, p.x_val, p.y_val), p.device
    )
    kernel.begin_epoch([torch.randperm(len(p.y_train), generator=torch.Generator().manual_seed(0))])
    lr = p.optimizer.param_groups[0]["lr"]
    for i in range(steps):
        if i == steps - 1:
            before = [q.detach().clone() for q in p.model.parameters()]
            kernel.mark_update()
        kernel.step(i * 8, (i + 1) * 8, [lr])
    return p, kernel, before, lr


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_effective_lr_alone_matches_torch_optim_state(kind):
    p, kernel, before, lr = kernel_after_steps(cfg(OPTIMIZERS[kind]), 6)
    (stats,) = kernel.layer_stats([lr], [0], True)
    params = list(p.model.parameters())
    layers = [(params[0], params[1]), (params[2], params[3])]  # dense 2->50, output 50->3
    for j, (w, b) in enumerate(layers):
        rates = torch.cat(
            [
                direct_rate(p.optimizer, w, lr, before[2 * j]).reshape(-1),
                direct_rate(p.optimizer, b, lr, before[2 * j + 1]).reshape(-1),
            ]
        )
        expected = np.quantile(rates.numpy(), [0.05, 0.5, 0.95])
        # Adafactor's reading recovers the weights before the step from those after: 1e-4
        np.testing.assert_allclose(
            stats["effective_lr"][j], expected, rtol=1e-4 if kind == "adafactor" else 1e-6
        )
        # and the update torch.optim made is that rate times what it steps along
        state = p.optimizer.state[w]
        if kind in ("adagrad", "rmsprop"):  # no momentum: step = -rate * gradient
            direction = w.grad.double()
        elif kind in ("adam", "adamw", "radam"):  # step = -rate * bias-corrected first moment
            direction = state["exp_avg"].double() / (1 - 0.9 ** float(state["step"]))
        elif kind == "adamax":
            direction = state["exp_avg"].double() / (1 - 0.9 ** float(state["step"]))
        else:
            continue
        moved = (w.detach().double() - before[2 * j].double()).reshape(-1)
        want = -(direct_rate(p.optimizer, w, lr) * direction).reshape(-1)
        if kind == "adamw":  # decoupled weight decay moves the weights as well
            want -= lr * p.optimizer.param_groups[0]["weight_decay"] * before[2 * j].double().reshape(-1)
        np.testing.assert_allclose(moved.numpy(), want.numpy(), rtol=2e-3, atol=1e-7)
        # update-to-weight ratio and norms from the weights themselves
        ratio = float((w.detach() - before[2 * j]).norm() / before[2 * j].norm())
        assert stats["update_ratio"][j] == pytest.approx(ratio, rel=1e-5)
        assert stats["weight_norm"][j] == pytest.approx(float(w.detach().norm()), rel=1e-6)
        assert stats["grad_norm"][j] == pytest.approx(float(w.grad.norm()), rel=1e-6)


def test_alone_stats_read_each_layer_in_the_models_order_whatever_the_optimizers_groups():
    """Muon + AdamW groups the matrices first; the Inside statistics of a run alone still read
    each layer's own weights and gradient (norms from the model's tensors themselves)."""
    p, kernel, before, lr = kernel_after_steps(cfg(OPTIMIZERS["muon"]), 4)
    assert [len(g["params"]) for g in p.optimizer.param_groups] == [2, 2]  # matrices, then biases
    (stats,) = kernel.layer_stats([lr], [0], True)
    for j, w in enumerate([p.model[0].weight, p.model[2].weight]):
        assert stats["weight_norm"][j] == pytest.approx(float(w.detach().norm()), rel=1e-6)
        assert stats["grad_norm"][j] == pytest.approx(float(w.grad.norm()), rel=1e-6)
        ratio = float((w.detach() - before[2 * j]).norm() / before[2 * j].norm())
        assert stats["update_ratio"][j] == pytest.approx(ratio, rel=1e-5)


def test_sgd_momentum_multiplier_and_nominal_rate():
    p, kernel, _, lr = kernel_after_steps(cfg({"kind": "sgd", "lr": 0.05, "momentum": 0.9}), 3)
    (stats,) = kernel.layer_stats([lr], [0], True)
    assert stats["step_multiplier"] == pytest.approx(1 / (1 - 0.9))
    np.testing.assert_allclose(stats["effective_lr"], 0.05)


def test_batched_stats_equal_the_runs_alone():
    runs = [cfg(o, label=k) for k, o in OPTIMIZERS.items() if REGISTRY[k].batched is not None]
    batched = train_batched(runs, stats_every=7)
    for c, rb in zip(runs, batched, strict=True):
        ra = train(c, stats_every=7)
        assert [e.step for e in rb.layers] == [e.step for e in ra.layers] and len(ra.layers) >= 4
        for eb, ea in zip(rb.layers, ra.layers, strict=True):
            assert eb.layers == ea.layers == ("dense 1 (2\u219250)", "output (50\u21923)")
            assert eb.step_multiplier == pytest.approx(ea.step_multiplier)
            np.testing.assert_allclose(eb.effective_lr, ea.effective_lr, rtol=1e-3, err_msg=c.label)
            for name in ("weight_norm", "grad_norm", "update_ratio", "dead_fraction", "zero_fraction"):
                np.testing.assert_allclose(getattr(eb, name), getattr(ea, name), rtol=1e-3, atol=1e-7)
            np.testing.assert_allclose(eb.weight_hist.sum(1), ea.weight_hist.sum(1))


def test_dead_relu_fraction_and_histograms():
    c = cfg({"kind": "sgd", "lr": 0.05})
    p, kernel, _, lr = kernel_after_steps(c, 2)
    with torch.no_grad():
        p.model[0].weight[:10] = 0.0  # ten units that never fire (bias 0 -> relu(0) = 0)
        p.model[0].bias[:10] = -1.0
    (stats,) = kernel.layer_stats([lr], [0], False)
    hidden = torch.relu(p.model[0](p.x_train[:128]))
    assert stats["dead_fraction"][0] == pytest.approx(float((hidden == 0).all(0).float().mean()))
    assert stats["dead_fraction"][0] >= 0.2 and math.isnan(stats["dead_fraction"][1])
    assert math.isnan(stats["update_ratio"][0])  # not observed
    assert stats["zero_fraction"][0] == pytest.approx(20 / 100)
    assert stats["weight_hist"][0].sum() == 100 and stats["activation_hist"][0].sum() == 50 * 40


def test_stats_cadence_and_final_event():
    c = cfg({"kind": "adam", "lr": 0.01})
    seen: list[ev.LayerStats] = []
    bus = ev.EventBus()
    bus.subscribe(seen.append, ev.LayerStats)
    r = train(c, bus=bus, stats_every=5)
    steps = [e.step for e in seen]
    assert steps == [5, 10, 15, 20, 25, 26] and r.layers == seen
    assert math.isnan(seen[-1].update_ratio[0]) and np.isfinite(seen[-2].update_ratio).all()
    assert train(c, stats_every=0).layers == []


def test_layers_csv(tmp_path):
    exp = get_preset("effective-lr")
    runs = [
        r.model_copy(update={"training": r.training.model_copy(update={"epochs": 1})}) for r in exp.runs()
    ]
    results = execute(runs, stats_every=4)
    write_outputs(tmp_path, exp, runs, results)
    rows = list(csv.DictReader((tmp_path / "layers.csv").read_text().splitlines()))
    assert {r["run"] for r in rows} == {"0", "1", "2"}
    first = [r for r in rows if r["run"] == "0" and r["step"] == "4"]
    assert [r["layer"] for r in first] == ["dense 1 (2\u219250)", "output (50\u21923)"]
    e = results[0].layers[0]
    assert float(first[0]["effective_lr_p50"]) == e.effective_lr[0, 1]


def test_effective_lr_lesson_adagrad_falls_rmsprop_rises():
    """The lesson's claim on its own run (batched, as the window runs it)."""
    results = execute(get_preset("effective-lr").runs())
    by_label = {r.label: r for r in results}
    adagrad = [e.effective_lr[:, 1] for e in by_label["Adagrad 0.01"].layers]
    rmsprop = [e.effective_lr[:, 1] for e in by_label["RMSprop 0.001"].layers]
    assert len(adagrad) >= 30
    assert all((b <= a * (1 + 1e-6)).all() for a, b in zip(adagrad, adagrad[1:], strict=False))
    rms = np.array(rmsprop)  # (points, layers): rises well above an earlier low in every layer
    rise = (rms / np.minimum.accumulate(rms, axis=0)).max(0)
    assert (rise > 1.1).all(), rise


def test_l1_makes_weights_exactly_zero_l2_only_shrinks(tmp_path):
    """The l1-vs-l2 lesson on its own run: zero fractions in summary.json, batched and alone alike."""
    exp = get_preset("l1-vs-l2")
    runs = exp.runs()
    results = execute(runs)
    write_outputs(tmp_path, exp, runs, results)
    summary = {r["label"]: r for r in json.loads((tmp_path / "summary.json").read_text())["runs"]}
    zero = {label: summary[label]["layers"]["zero_fraction"] for label in summary}
    assert max(zero["L1 3e-3"].values()) > 0.5
    assert max(zero["L2 1e-3"].values()) == 0 and max(zero["no penalty"].values()) == 0
    final = {r.label: r.layers[-1] for r in results}
    assert (final["L2 1e-3"].weight_norm < final["no penalty"].weight_norm).all()
    l1 = results[2].model
    assert l1 is None  # execute keeps no models by default; the zeros are in the statistics
    assert summary["L1 3e-3"]["final"]["val_acc"] > 0.85


def test_soft_threshold_is_the_proximal_step_in_both_kernels():
    c = cfg({"kind": "sgd", "lr": 0.1}, regularization={"l1": 0.05}, label="l1")
    alone = train(c, stats_every=0)
    (batched,) = [
        r for r in train_batched([c, cfg({"kind": "adam", "lr": 0.01})], stats_every=0) if r.label == "l1"
    ]
    w_alone = torch.cat([p.detach().reshape(-1) for p in alone.model.parameters() if p.ndim > 1])
    w_batched = torch.cat([p.detach().reshape(-1) for p in batched.model.parameters() if p.ndim > 1])
    assert (w_alone == 0).float().mean() > 0.05  # a strong L1 zeroes weights exactly
    assert torch.equal(w_alone == 0, w_batched == 0)
    torch.testing.assert_close(w_alone, w_batched, rtol=1e-5, atol=1e-6)


def test_mixed_precision_readout_says_why_not_batched(tmp_path):
    """The mixed-precision lesson on its own run (3 of its 20 epochs): the readout in summary.json."""
    exp = get_preset("mixed-precision").with_overrides(epochs=3)
    runs = exp.runs()
    said: list[str] = []
    results = execute(runs, log=said.append)
    write_outputs(tmp_path, exp, runs, results)
    summary = json.loads((tmp_path / "summary.json").read_text())
    (pair,) = summary["mixed_precision_effect"]
    assert (pair["with"], pair["without"]) == (1, 0)
    assert pair["seconds_per_epoch"]["with"] > 0 and pair["seconds_per_epoch"]["without"] > 0
    assert abs(pair["final_val_acc"]["with"] - pair["final_val_acc"]["without"]) < 0.05
    log = "\n".join(said)
    assert summary["runs"][1]["mixed_precision"]["enabled"]
    assert "run 1 not batched: mixed precision" in log and "float32 backward" in log
