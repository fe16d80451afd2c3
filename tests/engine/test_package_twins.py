"""The batched twins of the optimizers whose reference is their authors' package:
Schedule-Free AdamW and SGD (``schedulefree``) and Prodigy (``prodigyopt``).

Each twin updates K >= 3 runs of different hyperparameters as one ``(K, D)`` tensor; the
reference is the package's own class, one per run, driven by hand on the same gradients at
the same (changing) rates. Schedule-free: the rows hold the training weights ``y`` while
stepping and the averaged ``x`` after ``eval()``; both are compared, through several
switches. Prodigy: the weights and each run's step-size estimate ``d``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from optiscope.engine.batched_optim import build_batched_optimizer, optimizer_group_key
from optiscope.engine.inside import torch_effective_lr
from optiscope.engine.optimizers import REGISTRY
from optiscope.engine.optimizers.prodigy import Prodigy
from optiscope.engine.optimizers.schedulefree import ScheduleFreeAdamW, ScheduleFreeSGD

torch.set_num_threads(1)
TOL = 1e-5
STEPS = 60
D = 24
EVAL_EVERY = 13  # updates between switches to the averaged weights and back


def grad(w: torch.Tensor, k: int) -> torch.Tensor:
    """A smooth, non-convex loss per run ``k`` whose every weight has its own scale."""
    w = w.detach().clone().requires_grad_(True)
    i = torch.arange(w.shape[-1], dtype=torch.float32)
    loss = (torch.log1p((w - torch.sin(i + k)) ** 2) * (1 + i / 4)).sum() + 0.1 * torch.cos(3 * w).sum()
    loss.backward()
    assert w.grad is not None
    return w.grad


def rate(base: float, step: int) -> float:
    """A rate that changes every update, as schedules make it."""
    return base * (1 + 0.5 * math.sin(step / 7))


# --------------------------------------------------------------------------- schedule-free
def sf_reference(cfg: Any, p: torch.nn.Parameter) -> torch.optim.Optimizer:
    """The package's class for ``cfg``, every option passed by hand (not through Optiscope)."""
    import schedulefree

    shared = {
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "warmup_steps": cfg.warmup_steps,
        "r": cfg.r,
        "weight_lr_power": cfg.weight_lr_power,
    }
    if cfg.kind == "schedulefree_adamw":
        opt = schedulefree.AdamWScheduleFree([p], betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **shared)
    else:
        opt = schedulefree.SGDScheduleFree([p], momentum=cfg.momentum, **shared)
    opt.train()
    return opt


#: groups of three runs with different hyperparameters; together every option takes a value
#: other than its default (and every default is in some group)
SF_GROUPS = {
    "adamw defaults and rates": [
        ScheduleFreeAdamW(),
        ScheduleFreeAdamW(lr=0.01),
        ScheduleFreeAdamW(lr=0.05, weight_decay=0.1),
    ],
    "adamw betas and eps": [
        ScheduleFreeAdamW(beta1=0.5),
        ScheduleFreeAdamW(lr=0.02, beta2=0.9, eps=1e-3),
        ScheduleFreeAdamW(lr=0.01, beta1=0.95, beta2=0.99, eps=1e-6),
    ],
    "adamw averaging": [
        ScheduleFreeAdamW(lr=0.02, warmup_steps=10),
        ScheduleFreeAdamW(lr=0.02, r=1.5, weight_lr_power=0.0),
        ScheduleFreeAdamW(lr=0.03, warmup_steps=100, r=0.5, weight_lr_power=1.0, weight_decay=0.01),
    ],
    "sgd defaults and rates": [
        ScheduleFreeSGD(),
        ScheduleFreeSGD(lr=0.02, momentum=0.5),
        ScheduleFreeSGD(lr=0.05, weight_decay=0.1, momentum=0.99),
    ],
    "sgd averaging": [
        ScheduleFreeSGD(lr=0.05, warmup_steps=10),
        ScheduleFreeSGD(lr=0.05, r=2.0, weight_lr_power=0.0),
        ScheduleFreeSGD(lr=0.1, warmup_steps=100, r=0.5, weight_lr_power=3.0, weight_decay=0.01),
    ],
}


@pytest.mark.parametrize("name", list(SF_GROUPS))
def test_schedule_free_twin_matches_the_package_in_training_and_evaluation_mode(name):
    cfgs = SF_GROUPS[name]
    K = len(cfgs)
    assert len({optimizer_group_key(c) for c in cfgs}) == 1  # one batched group
    start = torch.randn(K, D, generator=torch.Generator().manual_seed(11))
    ref = [torch.nn.Parameter(start[k].clone()) for k in range(K)]
    ref_opts = [sf_reference(c, p) for c, p in zip(cfgs, ref, strict=True)]
    params, grads = start.clone(), torch.zeros(K, D)
    twin = build_batched_optimizer(cfgs, 0, K, params)
    switches = 0
    for step in range(STEPS):
        lrs = [rate(c.lr, step) for c in cfgs]
        for k in range(K):
            ref_opts[k].param_groups[0]["lr"] = lrs[k]
            ref[k].grad = grad(ref[k], k)
            ref_opts[k].step()
            grads[k] = grad(params[k], k)
        twin.step(params, grads, lrs)
        for k in range(K):  # y, the weights trained at, every update
            diff = float((params[k] - ref[k].detach()).abs().max())
            assert diff <= TOL, f"{cfgs[k]!r}: y differs by {diff:.3g} after {step + 1} updates"
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == STEPS:
            switches += 1
            for k in range(K):  # x, the averaged weights, in evaluation mode
                ref_opts[k].eval()
                twin.set_mode(k, False)
                twin.set_mode(k, False)  # a second switch to the same mode does nothing
                x = ref[k].detach()
                assert not torch.allclose(x, ref_opts[k].state[ref[k]]["z"])  # x is not z
                diff = float((params[k] - x).abs().max())
                assert diff <= TOL, f"{cfgs[k]!r}: x differs by {diff:.3g} after {step + 1} updates"
                if step + 1 < STEPS:
                    ref_opts[k].train()
                    twin.set_mode(k, True)
    assert switches >= 4
    # the check can fail: x and y differ by far more than the tolerance
    assert float((params - torch.stack([r.detach() for r in ref])).abs().max()) <= TOL
    assert max(float((ref_opts[k].state[ref[k]]["z"] - ref[k].detach()).abs().max()) for k in range(K)) > 1e-3
    # the Inside reading, from either side, at the last update's rates
    for k in range(K):
        ref_opts[k].train()
        twin.set_mode(k, True)
    for k in range(K):
        ours = REGISTRY[cfgs[k].kind].build([torch.nn.Parameter(start[k].clone())], cfgs[k])
        ours.load_state_dict(ref_opts[k].state_dict())
        torch.testing.assert_close(
            twin.effective_lr(lrs)[k], torch_effective_lr(ours, lrs[k])[0].double(), rtol=1e-4, atol=0
        )


def test_schedule_free_twin_switches_nothing_before_its_first_update():
    """The package's ``eval()`` before any step leaves the weights as they are (no ``z`` yet)."""
    cfgs = [ScheduleFreeSGD(), ScheduleFreeSGD(lr=0.01), ScheduleFreeSGD(momentum=0.5)]
    start = torch.randn(3, D, generator=torch.Generator().manual_seed(2))
    params = start.clone()
    twin = build_batched_optimizer(cfgs, 0, 3, params)
    for k in range(3):
        twin.set_mode(k, False)
        twin.set_mode(k, True)
    assert torch.equal(params, start)


# --------------------------------------------------------------------------- Prodigy
def prodigy_reference(
    cfg: Prodigy, p: torch.nn.Parameter | list[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """``prodigyopt.Prodigy`` for ``cfg`` over one parameter or several, every option passed by hand."""
    import contextlib
    import io

    from prodigyopt import Prodigy as Reference

    extra = {}
    if cfg.beta3 is not None:
        extra["beta3"] = cfg.beta3
    if cfg.growth_rate is not None:
        extra["growth_rate"] = cfg.growth_rate
    with contextlib.redirect_stdout(io.StringIO()):
        return Reference(
            p if isinstance(p, list) else [p],
            lr=cfg.lr,
            betas=(cfg.beta1, cfg.beta2),
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            decouple=cfg.decouple,
            use_bias_correction=cfg.use_bias_correction,
            safeguard_warmup=cfg.safeguard_warmup,
            d0=cfg.d0,
            d_coef=cfg.d_coef,
            **extra,
        )


PRODIGY_GROUPS = {
    "defaults and multipliers": [Prodigy(), Prodigy(lr=0.5, d_coef=2.0), Prodigy(lr=2.0, d0=1e-4)],
    "weight decay": [
        Prodigy(weight_decay=0.1),
        Prodigy(weight_decay=0.05, decouple=False),
        Prodigy(weight_decay=0.0, decouple=False, d_coef=0.5),
    ],
    "corrections": [
        Prodigy(use_bias_correction=True),
        Prodigy(safeguard_warmup=True),
        Prodigy(use_bias_correction=True, safeguard_warmup=True, eps=1e-4, beta2=0.99),
    ],
    "growth and beta3": [
        Prodigy(growth_rate=1.02),
        Prodigy(beta3=0.9),
        Prodigy(growth_rate=1.1, beta3=0.99, beta1=0.5),
    ],
    "no first moment": [
        Prodigy(beta1=0.0),
        Prodigy(beta1=0.0, weight_decay=0.1, use_bias_correction=True),
        Prodigy(beta1=0.0, d_coef=3.0, safeguard_warmup=True, growth_rate=1.05),
    ],
}


@pytest.mark.parametrize("name", list(PRODIGY_GROUPS))
def test_prodigy_twin_matches_prodigyopt_weights_and_d(name):
    from optiscope.engine.optimizers.prodigy import ProdigyPart

    cfgs = PRODIGY_GROUPS[name]
    K = len(cfgs)
    assert len({optimizer_group_key(c) for c in cfgs}) == 1
    start = torch.randn(K, D, generator=torch.Generator().manual_seed(5))
    ref = [torch.nn.Parameter(start[k].clone()) for k in range(K)]
    ref_opts = [prodigy_reference(c, p) for c, p in zip(cfgs, ref, strict=True)]
    params, grads = start.clone(), torch.zeros(K, D)
    twin = build_batched_optimizer(cfgs, 0, K, params)
    for step in range(STEPS):
        # run 1 has rate 0 at its first update and at update 30: the package then skips the update
        lrs = [0.0 if (k == 1 and step in (0, 30)) else rate(c.lr, step) for k, c in enumerate(cfgs)]
        for k in range(K):
            ref_opts[k].param_groups[0]["lr"] = lrs[k]
            ref[k].grad = grad(ref[k], k)
            ref_opts[k].step()
            grads[k] = grad(params[k], k)
        twin.step(params, grads, lrs)
        for k in range(K):
            diff = float((params[k] - ref[k].detach()).abs().max())
            assert diff <= TOL, f"{cfgs[k]!r}: weights differ by {diff:.3g} after {step + 1} updates"
            d_ref = ref_opts[k].param_groups[0]["d"]
            assert twin.d[k] == pytest.approx(d_ref, rel=1e-5), f"{cfgs[k]!r}: d after {step + 1} updates"
    # d has grown from d0 (the check can fail), the least where its growth is limited, and is
    # read as the alone path reads it
    for k in range(K):
        assert twin.d[k] > (2 if cfgs[k].growth_rate == 1.02 else 100) * cfgs[k].d0, cfgs[k]
        assert twin.step_sizes(lrs)[k] == pytest.approx(ProdigyPart.step_size(ref_opts[k]), rel=1e-5)
        assert twin.k[k] == ref_opts[k].param_groups[0]["k"]
        ours = REGISTRY["prodigy"].build([torch.nn.Parameter(ref[k].detach().clone())], cfgs[k])
        ours.load_state_dict(ref_opts[k].state_dict())  # the package's state, read as Optiscope reads it
        torch.testing.assert_close(
            twin.effective_lr(lrs)[k], torch_effective_lr(ours, lrs[k])[0].double(), rtol=1e-4, atol=0
        )


def mlp_batches(seed: int, steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A minibatch stream: 3 classes of 7 features, 32 examples a batch."""
    gen = torch.Generator().manual_seed(seed)
    centres = 2 * torch.randn(3, 7, generator=gen)
    out = []
    for _ in range(steps):
        y = torch.randint(0, 3, (32,), generator=gen)
        out.append((centres[y] + torch.randn(32, 7, generator=gen), y))
    return out


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(7, 40),
        torch.nn.Tanh(),
        torch.nn.Linear(40, 24),
        torch.nn.Tanh(),
        torch.nn.Linear(24, 3),
    )


@pytest.mark.parametrize("name", list(PRODIGY_GROUPS))
def test_prodigy_twin_matches_prodigyopt_bit_for_bit_in_a_network(name):
    """A 3-layer MLP's six tensors (matrices and biases) per run: the package sums ``<g, x0 - x>``
    and ``|s|`` tensor by tensor (a float32 dot and sum each, read into a Python float and added
    up in float64); the twin does the same per row, so with the same gradients the weights and
    ``d`` are the package's exactly, every update -- not merely close."""
    from torch.nn.utils import parameters_to_vector, vector_to_parameters

    cfgs = PRODIGY_GROUPS[name]
    K, steps = len(cfgs), 60
    refs = []
    for k in range(K):
        torch.manual_seed(10 + k)
        refs.append(mlp())
    ref_opts = [prodigy_reference(c, list(m.parameters())) for c, m in zip(cfgs, refs, strict=True)]
    shapes = [tuple(p.shape) for p in refs[0].parameters()]
    params = torch.stack([parameters_to_vector(m.parameters()).detach() for m in refs])
    grads = torch.zeros_like(params)
    twin = build_batched_optimizer(cfgs, 0, K, params, shapes)
    ours = mlp()  # the model the twin's rows are loaded into for their gradients
    streams = [mlp_batches(k, steps) for k in range(K)]
    for step in range(steps):
        lrs = [0.0 if (k == 1 and step in (0, 30)) else rate(c.lr, step) for k, c in enumerate(cfgs)]
        for k in range(K):
            x, y = streams[k][step]
            ref_opts[k].param_groups[0]["lr"] = lrs[k]
            refs[k].zero_grad()
            torch.nn.functional.cross_entropy(refs[k](x), y).backward()
            ref_opts[k].step()
            vector_to_parameters(params[k].clone(), ours.parameters())
            ours.zero_grad()
            torch.nn.functional.cross_entropy(ours(x), y).backward()
            grads[k] = parameters_to_vector(p.grad for p in ours.parameters())
        twin.step(params, grads, lrs)
        for k in range(K):
            group = ref_opts[k].param_groups[0]
            assert twin.d[k] == group["d"], f"{cfgs[k]!r}: d after {step + 1} updates"
            assert twin.d_numerator[k] == group["d_numerator"], f"{cfgs[k]!r}: after {step + 1} updates"
            weights = parameters_to_vector(refs[k].parameters()).detach()
            diff = float((params[k] - weights).abs().max())
            assert torch.equal(params[k], weights), (
                f"{cfgs[k]!r}: weights differ by {diff:.3g} after {step + 1}"
            )
    for k in range(K):  # the check can fail: d grew, the runs learnt differently
        assert twin.d[k] > (2 if cfgs[k].growth_rate == 1.02 else 100) * cfgs[k].d0, cfgs[k]
        assert twin.k[k] == ref_opts[k].param_groups[0]["k"] == (steps - 2 if k == 1 else steps)
    assert len({float(w.sum()) for w in params}) == K


def test_prodigy_alone_leaves_the_gradient_for_the_inside_tab():
    """prodigyopt adds coupled weight decay to ``p.grad`` in place; the Inside tab reads the
    gradient after the update (as ``torch.optim`` leaves it, and as the batched twin does), so the
    optimizer Optiscope builds gives it back -- and steps as the package does."""
    cfg = Prodigy(weight_decay=0.1, decouple=False)
    ours, ref = (torch.nn.Parameter(torch.linspace(-1, 1, D)) for _ in range(2))
    opt = REGISTRY["prodigy"].build([ours], cfg)
    ref_opt = prodigy_reference(cfg, ref)
    for k in range(5):
        ours.grad, ref.grad = grad(ours, k), grad(ref, k)
        g = ours.grad.clone()
        opt.step()
        ref_opt.step()
        assert torch.equal(ours.grad, g)
        assert not torch.equal(ref.grad, g)  # the package's own changed it
        assert torch.equal(ours.detach(), ref.detach())


# --------------------------------------------------------------------------- through execute
#: the runs trained batched and alone: every schedule-free option path with the constant
#: schedule (the one these optimizers are meant for; their own warm-up is an option) and two
#: under a schedule anyway, and Prodigy under every schedule of issue 21 and a few older ones
EXECUTE_RUNS = [
    ("sf adamw default", {"kind": "schedulefree_adamw"}, {"kind": "constant"}),
    ("sf adamw", {"kind": "schedulefree_adamw", "lr": 0.01, "warmup_steps": 10, "weight_decay": 0.05}, {}),
    (
        "sf adamw r",
        {"kind": "schedulefree_adamw", "lr": 0.005, "r": 1.0, "weight_lr_power": 0.0, "beta1": 0.8},
        {},
    ),
    ("sf sgd default", {"kind": "schedulefree_sgd"}, {"kind": "constant"}),
    ("sf sgd", {"kind": "schedulefree_sgd", "lr": 0.05, "momentum": 0.5, "warmup_steps": 20}, {}),
    (
        "sf sgd loop warm-up",
        {"kind": "schedulefree_sgd", "lr": 0.2},
        {"kind": "constant", "warmup_steps": 10},
    ),
    ("sf adamw wsd", {"kind": "schedulefree_adamw", "lr": 0.01}, {"kind": "wsd"}),
    ("sf sgd linear", {"kind": "schedulefree_sgd", "weight_decay": 0.01}, {"kind": "linear"}),
    ("prodigy wsd", {"kind": "prodigy"}, {"kind": "wsd"}),
    ("prodigy linear", {"kind": "prodigy", "weight_decay": 0.01}, {"kind": "linear"}),
    ("prodigy polynomial", {"kind": "prodigy", "use_bias_correction": True}, {"kind": "polynomial"}),
    ("prodigy multistep", {"kind": "prodigy", "safeguard_warmup": True}, {"kind": "multistep"}),
    ("prodigy inverse_sqrt", {"kind": "prodigy", "d_coef": 0.5}, {"kind": "inverse_sqrt"}),
    ("prodigy cosine", {"kind": "prodigy", "decouple": False, "weight_decay": 0.01}, {"kind": "cosine"}),
    ("prodigy constant", {"kind": "prodigy", "beta1": 0.0, "growth_rate": 1.1}, {"kind": "constant"}),
    ("adam cosine", {"kind": "adam"}, {"kind": "cosine", "warmup_steps": 10}),
]


def test_execute_trains_them_batched_with_the_losses_they_have_alone():
    from optiscope.engine.config import RunConfig
    from optiscope.engine.runner import execute

    runs = [
        RunConfig.model_validate(
            {
                "label": label,
                "dataset": {"name": "moons", "n_samples": 300},
                "optimizer": optimizer,
                "schedule": schedule or {"kind": "constant"},
                "training": {"epochs": 5, "batch_size": 16, "seed": 4},
            }
        )
        for label, optimizer, schedule in EXECUTE_RUNS
    ]
    said: list[str] = []
    batched = execute(runs, log=said.append, keep_models=True)
    alone = execute(runs, batched=False, log=lambda _m: None, keep_models=True)
    assert said == [f"runs {', '.join(str(i) for i in range(len(runs)))} batched together"]
    for cfg, b, a in zip(runs, batched, alone, strict=True):
        assert b.reason == a.reason == "completed", cfg.label
        assert len(b.epochs) == len(a.epochs) == 5
        assert len(a.step_loss) >= 50
        for eb, ea in zip(b.epochs, a.epochs, strict=True):
            assert eb.lr == ea.lr, cfg.label
            assert abs(eb.train_loss - ea.train_loss) <= 1e-4, (
                cfg.label,
                eb.epoch,
                eb.train_loss,
                ea.train_loss,
            )
            assert abs(eb.val_loss - ea.val_loss) <= 1e-4, (cfg.label, eb.epoch)
        # the models the runs leave are the evaluated weights (schedule-free: the average x)
        wb = torch.cat([p.detach().reshape(-1) for p in b.model.parameters()])
        wa = torch.cat([p.detach().reshape(-1) for p in a.model.parameters()])
        assert float((wb - wa).abs().max()) <= 1e-4, cfg.label
    # the check can fail: the runs learnt, differently
    finals = [r.final.train_loss for r in batched]
    assert max(finals) < 0.69 and len({round(v, 4) for v in finals}) == len(finals)


def test_optiscope_run_says_they_trained_batched(tmp_path, monkeypatch, capsys):
    from optiscope.engine.cli import main

    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    f = tmp_path / "a.toml"
    f.write_text(
        '[base.dataset]\nname = "blobs"\nn_samples = 200\n[base.training]\nepochs = 2\nbatch_size = 16\n'
        'device = "cpu"\n[base.optimizer]\nkind = "prodigy"\n'
        '[[variations]]\nlabel = "prodigy"\n[[variations]]\nlabel = "prodigy wsd"\nschedule = { kind = "wsd" }\n'
        '[[variations]]\nlabel = "sf adamw"\noptimizer = { kind = "schedulefree_adamw" }\n'
        '[[variations]]\nlabel = "sf sgd"\noptimizer = { kind = "schedulefree_sgd" }\n'
    )
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 0
    _, err = capsys.readouterr()
    assert "runs 0, 1, 2, 3 batched together" in err
    assert "not batched" not in err
