"""The optimizers whose reference is their authors' package, not ``torch.optim``: Lion
(``lion-pytorch``), Schedule-Free AdamW and SGD (``schedulefree``) and Prodigy (``prodigyopt``).

Each is checked against the package driven by hand on the same gradients: Lion's own
``torch.optim.Optimizer`` and its batched twin per step, the schedule-free ones through the
training loop (which must put the optimizer in eval mode, the averaged weights, for every
evaluation), Prodigy through the loop with its step-size estimate ``d``.
"""

from __future__ import annotations

import math

import pytest
import torch
from optiscope.engine.batched_optim import build_batched_optimizer, optimizer_group_key
from optiscope.engine.inside import torch_effective_lr
from optiscope.engine.optimizers import REGISTRY
from optiscope.engine.optimizers.lion import Lion

torch.set_num_threads(1)
D, STEPS = 24, 60


def grad(w: torch.Tensor, k: int) -> torch.Tensor:
    w = w.detach().clone().requires_grad_(True)
    i = torch.arange(w.shape[-1], dtype=torch.float32)
    (torch.log1p((w - torch.sin(i + k)) ** 2) * (1 + i / 4)).sum().backward()
    assert w.grad is not None
    return w.grad


LION_OPTIONS = [
    Lion(),
    Lion(lr=3e-3),
    Lion(lr=1e-3, weight_decay=0.5),
    Lion(lr=2e-3, beta1=0.5, beta2=0.9, weight_decay=0.1),
    Lion(lr=1e-3, beta1=0.0, beta2=0.999),
]


@pytest.mark.parametrize("cfg", LION_OPTIONS)
def test_lion_alone_and_batched_match_lion_pytorch_every_step(cfg):
    from lion_pytorch import Lion as ReferenceLion

    cfgs = [cfg, cfg.model_copy(update={"lr": cfg.lr * 2})]
    assert len({optimizer_group_key(c) for c in cfgs}) == 1
    start = torch.randn(2, D, generator=torch.Generator().manual_seed(3))
    ref = [torch.nn.Parameter(start[k].clone()) for k in range(2)]
    ours = [torch.nn.Parameter(start[k].clone()) for k in range(2)]
    ref_opts = [
        ReferenceLion([p], lr=c.lr, betas=(c.beta1, c.beta2), weight_decay=c.weight_decay)
        for p, c in zip(ref, cfgs, strict=True)
    ]
    our_opts = [REGISTRY["lion"].build([p], c) for p, c in zip(ours, cfgs, strict=True)]
    params, grads = start.clone(), torch.zeros(2, D)
    twin = build_batched_optimizer(cfgs, 0, 2, params)
    for step in range(STEPS):
        lrs = [c.lr * (1 + 0.5 * math.sin(step / 5)) for c in cfgs]
        for k in range(2):
            for p, opt in ((ref[k], ref_opts[k]), (ours[k], our_opts[k])):
                opt.param_groups[0]["lr"] = lrs[k]
                p.grad = grad(p, k)
                opt.step()
            grads[k] = grad(params[k], k)
        twin.step(params, grads, lrs)
        for k in range(2):  # every step, not only the last
            assert torch.equal(ours[k].detach(), ref[k].detach()), f"step {step + 1}: alone differs"
            diff = float((params[k] - ref[k].detach()).abs().max())
            assert diff <= 1e-5, f"step {step + 1}: batched differs by {diff:.3g}"
    # the Inside reading: the sign step's size, the rate, for every weight, on both sides
    for k in range(2):
        torch.testing.assert_close(
            torch_effective_lr(our_opts[k], lrs[k])[0], torch.full((D,), lrs[k]), rtol=1e-6, atol=0
        )
        assert torch.allclose(twin.effective_lr(lrs)[k], torch.full((D,), lrs[k], dtype=torch.float64))


def test_lion_steps_every_weight_by_the_rate_on_its_first_update():
    """Chen et al. (2023), Program 1: with zero momentum the first update is ``-lr * sign(g)``
    after the decoupled decay ``w * (1 - lr * wd)``."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = REGISTRY["lion"].build([w], Lion(lr=0.1, weight_decay=0.5))
    w.grad = torch.tensor([3.0, -1e-6, 0.0])
    opt.step()
    expected = torch.tensor([1.0, -2.0, 0.5]) * (1 - 0.1 * 0.5) - 0.1 * torch.tensor([1.0, -1.0, 0.0])
    torch.testing.assert_close(w.detach(), expected)


# --------------------------------------------------------------------------- through the loop
def small_run(optimizer, epochs: int = 4):
    from optiscope.engine.config import DatasetConfig, RunConfig, TrainingConfig

    return RunConfig(
        dataset=DatasetConfig(n_samples=300),
        optimizer=optimizer,
        training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu", seed=5),
    )


def by_hand(cfg, make_optimizer, *, modes: bool):
    """``cfg`` trained by a plain loop around the package's optimizer (``make_optimizer``):
    the same initial weights and minibatch order as Optiscope's loop, evaluated after every
    epoch (with ``optimizer.eval()`` first and ``optimizer.train()`` after, when ``modes``).
    Returns per epoch: (validation loss evaluated, validation loss at the training weights),
    and the optimizer."""
    import torch.nn.functional as F
    from optiscope.engine.trainer import prepare

    p = prepare(cfg)
    model = p.model
    opt = make_optimizer(list(model.parameters()))
    if modes:
        opt.train()
    gen = torch.Generator().manual_seed(cfg.training.seed)
    n, bs = len(p.y_train), cfg.training.batch_size

    def val_loss() -> float:
        model.eval()
        with torch.no_grad():
            out = float(F.cross_entropy(model(p.x_val), p.y_val))
        model.train()
        return out

    epochs = []
    for _ in range(cfg.training.epochs):
        perm = torch.randperm(n, generator=gen)
        for lo in range(0, n, bs):
            idx = perm[lo : lo + bs]
            for q in model.parameters():
                q.grad = None
            F.cross_entropy(model(p.x_train[idx]), p.y_train[idx]).backward()
            opt.step()
        at_training_weights = val_loss()
        if modes:
            opt.eval()
        epochs.append((val_loss(), at_training_weights))
        if modes:
            opt.train()
    if modes:
        opt.eval()
    return epochs, opt, model


@pytest.mark.parametrize(
    "optimizer",
    ["schedulefree_adamw", "schedulefree_sgd"],
)
def test_schedule_free_runs_are_evaluated_at_the_averaged_weights(optimizer):
    import schedulefree
    from optiscope.engine import config as C
    from optiscope.engine.trainer import train

    cfg = small_run(C.OPTIMIZER_CLASSES[optimizer](lr=0.05 if optimizer.endswith("adamw") else 0.5))
    part = REGISTRY[optimizer]
    ref_class = getattr(schedulefree, part.torch_name)
    expected, _, hand_model = by_hand(
        cfg, lambda ps: ref_class(ps, **part.torch_kwargs(cfg.optimizer)), modes=True
    )
    result = train(cfg)
    got = [e.val_loss for e in result.epochs]
    assert got == pytest.approx([e for e, _ in expected], rel=1e-5, abs=1e-7)
    # the check can fail: the weights the optimizer trains at give other losses
    assert max(abs(e - y) for e, y in expected) > 1e-3
    # and the model the run returns holds the averaged weights
    for a, b in zip(result.model.parameters(), hand_model.parameters(), strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)


def test_schedule_free_and_prodigy_train_batched():
    """Their batched twins are checked against the packages in ``test_package_twins.py``."""
    from optiscope.engine.batched_optim import trains_alone_reason

    for kind in ("schedulefree_adamw", "schedulefree_sgd", "prodigy"):
        assert trains_alone_reason(kind) is None


def test_prodigy_through_the_loop_matches_prodigyopt_and_its_d_grows_from_d0():
    from optiscope.engine.events import EventBus, LayerStats
    from optiscope.engine.optimizers.prodigy import Prodigy, ProdigyPart
    from optiscope.engine.trainer import prepare, train
    from prodigyopt import Prodigy as Reference

    cfg = small_run(Prodigy(weight_decay=0.01), epochs=3)
    expected, ref_opt, _ = by_hand(cfg, lambda ps: Reference(ps, lr=1.0, weight_decay=0.01), modes=False)
    p = prepare(cfg)
    bus, stats = EventBus(), []
    bus.subscribe(stats.append, LayerStats)
    result = train(cfg, prepared=p, bus=bus, stats_every=5)
    assert [e.val_loss for e in result.epochs] == pytest.approx([e for e, _ in expected], rel=1e-5)
    d = ProdigyPart.step_size(p.optimizer)
    assert d == pytest.approx(ref_opt.param_groups[0]["d"], rel=1e-6)
    # lr = 1.0 is a multiplier: the step size is the estimate d, grown far from d0 = 1e-6
    assert d > 1e-4
    # the Inside tab's rate carries d: the first reading (d small) is far below the last
    first, last = stats[0].effective_lr[:, 1], stats[-1].effective_lr[:, 1]  # medians per layer
    assert (last > 10 * first).all(), (first, last)


def test_the_optimizer_packages_are_imported_only_when_a_run_uses_them(tmp_path):
    """Start-up stays as it was: the CLI, the registry, validating a file that names them and
    a run of other optimizers import none of the packages, nor do their runs trained batched
    (the twins are the engine's own); a run alone imports its own package."""
    import json
    import subprocess
    import sys

    toml = tmp_path / "p.toml"
    toml.write_text(
        'schema_version = 1\n[base.optimizer]\nkind = "prodigy"\n[base.training]\nepochs = 1\n'
        '[[variations]]\nlabel = "prodigy"\n[[variations]]\nlabel = "sf"\noptimizer = { kind = "schedulefree_sgd" }\n'
        '[[variations]]\nlabel = "lion"\noptimizer = { kind = "lion" }\n'
    )
    lone = tmp_path / "lone.toml"  # one run: trained alone
    lone.write_text(
        'schema_version = 1\n[base.optimizer]\nkind = "schedulefree_sgd"\n[base.training]\nepochs = 1\n'
    )
    script = f"""
import contextlib, io, json, sys
from optiscope.engine.cli import main
packages = ("schedulefree", "prodigyopt", "lion_pytorch")
seen = {{}}
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    assert main(["validate", {str(toml)!r}]) == 0
    seen["validate"] = [p for p in packages if p in sys.modules]
    assert main(["run", "--preset", "lr-sweep", "--epochs", "1", "--no-store", "--out", {str(tmp_path / "a")!r}]) == 0
    seen["lr-sweep"] = [p for p in packages if p in sys.modules]
    assert main(["run", {str(toml)!r}, "--no-store", "--out", {str(tmp_path / "b")!r}]) == 0
    seen["new kinds"] = [p for p in packages if p in sys.modules]
    assert main(["run", {str(lone)!r}, "--no-store", "--out", {str(tmp_path / "c")!r}]) == 0
    seen["alone"] = [p for p in packages if p in sys.modules]
print(json.dumps(seen))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["validate"] == [] and seen["lr-sweep"] == []
    assert seen["new kinds"] == []  # batched; Lion is the engine's own class
    assert seen["alone"] == ["schedulefree"]


@pytest.mark.parametrize("kind", ["schedulefree_adamw", "schedulefree_sgd"])
def test_schedule_free_leaves_the_gradient_for_the_inside_tab(kind):
    """The package normalises ``p.grad`` in place; the Inside tab reads the gradient after the
    update, so the optimizer Optiscope builds gives it back -- and steps as the package does."""
    import schedulefree

    part = REGISTRY[kind]
    cfg = part.config(weight_decay=0.1)
    ours, ref = (torch.nn.Parameter(torch.linspace(-1, 1, D)) for _ in range(2))
    opt = part.build([ours], cfg)
    ref_opt = getattr(schedulefree, part.torch_name)([ref], **part.torch_kwargs(cfg))
    ref_opt.train()
    for k in range(5):
        ours.grad, ref.grad = grad(ours, k), grad(ref, k)
        g = ours.grad.clone()
        opt.step()
        ref_opt.step()
        assert torch.equal(ours.grad, g)
        assert torch.equal(ours.detach(), ref.detach())


def test_schedule_free_inside_readings_are_of_the_update_it_took():
    """Mid-run, the Inside tab's update/weight ratio and gradient norm are those of the update
    the package made (the weights it stepped, the gradient before its in-place scaling), by hand."""
    import schedulefree
    import torch.nn.functional as F
    from optiscope.engine.events import EventBus, LayerStats
    from optiscope.engine.optimizers.schedulefree import ScheduleFreeAdamW
    from optiscope.engine.trainer import prepare, train

    cfg = small_run(ScheduleFreeAdamW(lr=0.02), epochs=2)  # 5 updates an epoch
    bus, stats = EventBus(), []
    bus.subscribe(stats.append, LayerStats)
    train(cfg, bus=bus, stats_every=7)
    seventh = next(s for s in stats if s.step == 7)
    # by hand: the package's optimizer, the same weights and minibatches
    p = prepare(cfg)
    weight = next(iter(p.model.parameters()))  # the first layer's weight matrix
    opt = schedulefree.AdamWScheduleFree(list(p.model.parameters()), lr=0.02)
    opt.train()
    gen = torch.Generator().manual_seed(cfg.training.seed)
    n = len(p.y_train)
    batches = [
        perm[lo : lo + 32]
        for perm in (torch.randperm(n, generator=gen) for _ in range(2))
        for lo in range(0, n, 32)
    ]
    for idx in batches[:7]:
        for q in p.model.parameters():
            q.grad = None
        F.cross_entropy(p.model(p.x_train[idx]), p.y_train[idx]).backward()
        before, g = weight.detach().clone().double(), weight.grad.detach().clone().double()
        opt.step()
    after = weight.detach().double()
    assert seventh.update_ratio[0] == pytest.approx(float((after - before).norm() / before.norm()), rel=1e-4)
    assert seventh.grad_norm[0] == pytest.approx(float(g.norm()), rel=1e-4)
