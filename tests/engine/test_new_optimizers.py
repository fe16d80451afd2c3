"""The optimizers of issue 21 (RAdam, Adafactor, Muon) against ``torch.optim`` and the papers.

The registry walk (``test_optimizer_parts.py``) checks the schema, builder and batched twin of
every part; here: the paths that walk does not reach (options with weight decay on), the
twin over more than 50 updates for every exposed option, and what trains alone says why.
"""

from __future__ import annotations

import math

import pytest
import torch
from optiscope.engine import config as C
from optiscope.engine.batched_optim import build_batched_optimizer, optimizer_group_key
from optiscope.engine.inside import torch_effective_lr
from optiscope.engine.optimizers import REGISTRY
from optiscope.engine.optimizers.radam import RAdam

torch.set_num_threads(1)
D, STEPS = 24, 60


def grad(w: torch.Tensor, k: int) -> torch.Tensor:
    w = w.detach().clone().requires_grad_(True)
    i = torch.arange(w.shape[-1], dtype=torch.float32)
    (torch.log1p((w - torch.sin(i + k)) ** 2) * (1 + i / 4)).sum().backward()
    assert w.grad is not None
    return w.grad


@pytest.mark.parametrize(
    "cfg",
    [
        RAdam(),
        RAdam(weight_decay=0.05),
        RAdam(weight_decay=0.05, decoupled_weight_decay=True),
        RAdam(lr=0.01, beta1=0.5, beta2=0.9, eps=1e-6),
        RAdam(beta2=0.99, decoupled_weight_decay=True, weight_decay=0.1),
    ],
)
def test_batched_radam_matches_torch_for_every_option(cfg):
    cfgs = [cfg, cfg.model_copy(update={"lr": cfg.lr * 3})]
    assert len({optimizer_group_key(c) for c in cfgs}) == 1
    start = torch.randn(2, D, generator=torch.Generator().manual_seed(1))
    alone = [torch.nn.Parameter(start[k].clone()) for k in range(2)]
    opts = [
        torch.optim.RAdam([p], **REGISTRY["radam"].torch_kwargs(c)) for p, c in zip(alone, cfgs, strict=True)
    ]
    params, grads = start.clone(), torch.zeros(2, D)
    twin = build_batched_optimizer(cfgs, 0, 2, params)
    for step in range(STEPS):
        lrs = [c.lr * (1 + 0.5 * math.sin(step / 5)) for c in cfgs]
        for k in range(2):
            opts[k].param_groups[0]["lr"] = lrs[k]
            alone[k].grad = grad(alone[k], k)
            opts[k].step()
            grads[k] = grad(params[k], k)
        twin.step(params, grads, lrs)
        if step in (2, STEPS - 1):  # before (rho_t <= 5) and after the rectification starts
            for k in range(2):
                torch.testing.assert_close(
                    twin.effective_lr(lrs)[k],
                    torch_effective_lr(opts[k], lrs[k])[0].double(),
                    rtol=1e-4,
                    atol=0,
                )
    for k in range(2):
        assert float((params[k] - alone[k].detach()).abs().max()) <= 1e-5


def test_radam_rectification_matches_the_paper():
    """Liu et al. (2020), Algorithm 2: rho_inf = 2/(1-b2) - 1, rho_t = rho_inf - 2t b2^t/(1-b2^t);
    with b2 = 0.999 the first five updates are un-rectified (rho_t <= 5), the sixth is not."""
    from optiscope.engine.optimizers.radam import radam_terms

    rho = [radam_terms(0.999, t)[0] for t in range(1, 8)]
    assert [r > 5 for r in rho] == [False] * 5 + [True] * 2
    rho_inf = 2 / 0.001 - 1
    t = 100
    rho_t = rho_inf - 2 * t * 0.999**t / (1 - 0.999**t)
    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    assert radam_terms(0.999, t) == pytest.approx((rho_t, r), rel=1e-12)


def test_radam_runs_batched_in_a_race():
    from optiscope.engine.runner import plan_batches

    runs = [C.RunConfig(optimizer=RAdam(lr=lr)) for lr in (1e-3, 1e-2)]
    groups, alone = plan_batches(runs)
    assert groups == [[0, 1]] and alone == {}
