"""The optimizer registry walked part by part (CONVENTIONS rule 20).

Every registered optimizer must have a config class in the schema, a ``torch.optim``
builder that passes every hyperparameter, a batched twin (or an explicit reason to train
alone), an Inside reading of its own and a panel description; and every batched twin must
update weights as ``torch.optim`` does, within 1e-5 after 60 updates at changing rates.
The reference is ``torch.optim`` itself, one optimizer per run.
"""

from __future__ import annotations

import math
from typing import Any, get_args

import pytest
import torch
from optiscope.engine import config as C
from optiscope.engine import optimizers
from optiscope.engine.inside import torch_effective_lr, torch_step_multiplier
from optiscope.engine.optimizers.base import OptimizerPart
from pydantic import ValidationError

torch.set_num_threads(1)
TOL = 1e-5
STEPS = 60
D = 24  # parameters per run

PARTS = sorted(optimizers.REGISTRY.items())


def variants(cfg_cls: type) -> list[Any]:
    """The default config and one with each switch flipped (with momentum where a switch
    needs it), each with weight decay on and off: every structural path of the twin."""
    base = cfg_cls()
    out = [base, base.model_copy(update={"weight_decay": 0.01})]
    for name, field in cfg_cls.model_fields.items():
        if field.annotation is bool:
            for extra in ({}, {"momentum": 0.9}):
                try:
                    out.append(cfg_cls(**{name: not getattr(base, name), **extra}))
                except (ValidationError, TypeError):
                    pass
    if "momentum" in cfg_cls.model_fields:
        out.append(cfg_cls(momentum=0.9))
    return out


def loss(w: torch.Tensor, k: int) -> torch.Tensor:
    """A smooth, non-convex loss per run (row) ``k``: every parameter gets its own scale."""
    i = torch.arange(w.shape[-1], dtype=torch.float32)
    target = torch.sin(i + k)
    return (torch.log1p((w - target) ** 2) * (1 + i / 4)).sum() + 0.1 * torch.cos(3 * w).sum()


def grad(w: torch.Tensor, k: int) -> torch.Tensor:
    w = w.detach().clone().requires_grad_(True)
    loss(w, k).backward()
    assert w.grad is not None
    return w.grad


def rate(base: float, step: int) -> float:
    """A rate that changes every update, as schedules make it."""
    return base * (1 + 0.5 * math.sin(step / 7))


@pytest.mark.parametrize(("kind", "part"), PARTS)
def test_every_part_has_every_capability(kind: str, part: type[OptimizerPart]):
    # the schema entry, reachable through the config's union and TOML
    assert C.OPTIMIZER_CLASSES[kind] is part.config
    run = C.RunConfig.model_validate({"optimizer": {"kind": kind}})
    assert type(run.optimizer) is part.config
    assert C.loads_toml(C.dumps_toml(C.ExperimentConfig(base=run))).base == run
    # a panel description: a title and the class docstring the panel shows
    assert part.title and (part.config.__doc__ or "").strip()
    # batched, or says why not in words
    assert part.batched is not None or len(part.trains_alone) > 10, f"{kind}: no batched twin and no reason"
    # a twin that runs use only when asked: asked for with a bool field, off by default, and
    # the reason for training alone said otherwise (a twin no run could reach would be dead code)
    if part.batched is not None and part.trains_alone:
        field = part.config.model_fields.get(part.batched_opt_in)
        assert field is not None and field.annotation is bool and field.default is False, kind
        on = part.config(**{part.batched_opt_in: True})
        assert part.alone_reason(on) is None and part.alone_reason(part.config()) is not None
    # an Inside reading of its own (the default would silently show the nominal rate)
    assert "effective_lr" in vars(part) or any(
        "effective_lr" in vars(b) for b in part.__mro__[1 : part.__mro__.index(OptimizerPart)]
    ), f"{kind}: no effective-learning-rate reading for the Inside tab"


@pytest.mark.parametrize(("kind", "part"), PARTS)
def test_builder_passes_every_hyperparameter_to_torch(kind: str, part: type[OptimizerPart]):
    cfg = part.config()
    # a weight matrix first, then a bias (Muon steps matrices only; its parameter group is first)
    opt = part.build([torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(3))], cfg)
    assert type(opt) is part.torch_class()
    group = opt.param_groups[0]
    for key, value in part.torch_kwargs(cfg).items():
        assert group[key] == value, f"{kind}.{key}: torch holds {group[key]!r}, config says {value!r}"
    # every field of the config changes what torch is given (but the one asking for the
    # batched twin: an engine choice, not a hyperparameter)
    for name in part.config.model_fields:
        if name not in ("kind", part.batched_opt_in):
            changed = another_valid(cfg, name)
            assert part.torch_kwargs(changed) != part.torch_kwargs(cfg), (
                f"{kind}.{name} never reaches torch.optim"
            )


def another_valid(cfg: Any, name: str) -> Any:
    """``cfg`` with field ``name`` changed to another valid value (with momentum if it needs it)."""
    old = getattr(cfg, name)
    if isinstance(old, bool):
        candidates: list[Any] = [not old]
    elif isinstance(old, str):  # a Literal choice: the other choices
        candidates = [v for v in get_args(type(cfg).model_fields[name].annotation) if v != old]
    elif old is None:  # an optional number left to the library's default
        candidates = [0.5, 1.5, 2]
    else:
        candidates = [old * 0.5, old + 0.05, 0.5, 1]
    for new in candidates:
        for extra in ({}, {"momentum": 0.9}):
            try:
                changed = type(cfg).model_validate({**cfg.model_dump(), **extra, name: new})
            except ValidationError:
                continue
            if getattr(changed, name) != old:
                return changed
    raise AssertionError(f"{cfg.kind}.{name}: no other valid value found")


@pytest.mark.parametrize(("kind", "part"), PARTS)
def test_batched_twin_matches_torch_optim_alone(kind: str, part: type[OptimizerPart]):
    if part.batched is None:
        pytest.skip(f"{kind} trains alone: {part.trains_alone}")
    from optiscope.engine.batched_optim import build_batched_optimizer, optimizer_group_key

    for cfg in variants(part.config):
        cfgs = [cfg, cfg.model_copy(update={"lr": cfg.lr * 0.5})]
        assert len({optimizer_group_key(c) for c in cfgs}) == 1
        gen = torch.Generator().manual_seed(7)
        start = torch.randn(len(cfgs), D, generator=gen)
        # alone: one torch.optim optimizer per run
        alone = [torch.nn.Parameter(start[k].clone()) for k in range(len(cfgs))]
        opts = [part.build([p], c) for p, c in zip(alone, cfgs, strict=True)]
        # batched: one twin over both rows
        params = start.clone()
        grads = torch.zeros_like(params)
        twin = build_batched_optimizer(cfgs, 0, len(cfgs), params)
        for step in range(STEPS):
            lrs = [rate(c.lr, step) for c in cfgs]
            for k, (p, opt) in enumerate(zip(alone, opts, strict=True)):
                opt.param_groups[0]["lr"] = lrs[k]
                p.grad = grad(p, k)
                opt.step()
                grads[k] = grad(params[k], k)
            twin.step(params, grads, lrs)
        for k, p in enumerate(alone):
            diff = float((params[k] - p.detach()).abs().max())
            assert diff <= TOL, f"{cfg!r}: weights differ by {diff:.3g} after {STEPS} updates"
            # the Inside tab reads the same effective rates from either side
            eff_alone = torch_effective_lr(opts[k], lrs[k])[0].double()
            eff_batched = twin.effective_lr(lrs)[k]
            torch.testing.assert_close(
                eff_batched, eff_alone, rtol=1e-3, atol=0, msg=f"{cfg!r}: effective lr"
            )
            assert twin.step_multiplier()[k] == pytest.approx(torch_step_multiplier(opts[k]))


def test_trains_alone_is_reported_by_the_runner(monkeypatch: pytest.MonkeyPatch):
    """A part without a twin trains alone, and the batching plan says its declared reason."""
    from optiscope.engine import batched_optim
    from optiscope.engine.runner import plan_batches

    class Lonely(optimizers.REGISTRY["adadelta"]):  # type: ignore[misc, valid-type]
        batched = None
        trains_alone = "its update needs the whole history (a test part)"

    monkeypatch.setitem(optimizers.REGISTRY, "adadelta", Lonely)
    runs = [C.RunConfig(optimizer=C.Adadelta()), C.RunConfig(optimizer=C.Adadelta(rho=0.8))]
    groups, alone = plan_batches(runs)
    assert groups == [] and set(alone) == {0, 1}
    assert alone[0] == "optimizer adadelta: its update needs the whole history (a test part)"
    assert batched_optim.trains_alone_reason("sgd") is None
