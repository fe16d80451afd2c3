"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the sign of an
interpolated momentum.

Each update moves every weight by exactly ``lr`` along the sign of
``beta1 * m + (1 - beta1) * g``; the momentum then follows the gradient more slowly,
``m = beta2 * m + (1 - beta2) * g``; weight decay is decoupled (``w *= 1 - lr * wd``).
The update is the authors' ``lion_pytorch.Lion`` (the ``lion-pytorch`` package) line for
line; ``tests/engine/test_new_optimizers.py`` checks this class and the batched twin against
that package. Torch has no Lion, so :func:`lion_class` defines it here (a few lines, no
run-time dependency).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..schema import LR, WD, Beta
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["Lion", "LionPart", "BatchedLion", "lion_class"]


class Lion(OptimizerSettings):
    """Lion: every weight steps by ``lr`` along the sign of an interpolated momentum
    (``beta1``), the momentum itself averaged more slowly (``beta2``); decoupled weight decay.
    Its rate is usually 3–10× smaller than AdamW's and its weight decay larger."""

    kind: Literal["lion"] = "lion"
    lr: LR = 1e-4
    beta1: Beta = 0.9
    beta2: Beta = 0.99
    weight_decay: WD = 0.0


@functools.cache
def lion_class() -> type:
    """The Lion ``torch.optim.Optimizer`` (defined on first use: this module loads without torch)."""
    import torch

    class LionOptimizer(torch.optim.Optimizer):
        """Lion as ``lion_pytorch.Lion`` steps it (``lr``, ``betas``, ``weight_decay``)."""

        def __init__(
            self,
            params: Any,
            lr: float = 1e-4,
            betas: tuple[float, float] = (0.9, 0.99),
            weight_decay: float = 0.0,
        ) -> None:
            super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:  # type: ignore[override]
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                lr, wd = group["lr"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if len(state) == 0:
                        state["exp_avg"] = torch.zeros_like(p)
                    exp_avg = state["exp_avg"]
                    p.mul_(1.0 - lr * wd)
                    update = exp_avg.clone().mul_(beta1).add(p.grad, alpha=1.0 - beta1).sign_()
                    p.add_(update, alpha=-lr)
                    exp_avg.mul_(beta2).add_(p.grad, alpha=1.0 - beta2)
            return loss

    return LionOptimizer


class BatchedLion(BatchedOptimizer):
    """Lion per row: the sign of the interpolated momentum, each run its own betas and rate."""

    state_names = ("exp_avg",)

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.beta1 = self.column([c.beta1 for c in self.cfgs])
        self.one_minus_beta1 = self.column([1 - c.beta1 for c in self.cfgs])
        self.beta2 = self.column([c.beta2 for c in self.cfgs])
        self.one_minus_beta2 = self.column([1 - c.beta2 for c in self.cfgs])
        self.exp_avg = self.zeros(params)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        if self.any_weight_decay:
            p.mul_(self.column([1 - lr * c.weight_decay for lr, c in zip(lrs, self.cfgs, strict=True)]))
        update = torch.addcmul(self.exp_avg * self.beta1, g, self.one_minus_beta1).sign_()
        p.addcmul_(update, self.negative_lr(lrs))
        self.exp_avg.mul_(self.beta2).addcmul_(g, self.one_minus_beta2)


class LionPart(OptimizerPart):
    config = Lion
    title = "Lion"
    torch_name = "Lion"
    batched = BatchedLion
    labels = {"beta1": "β1 (update)", "beta2": "β2 (momentum)"}
    race = (("Lion", lambda s, a: Lion(lr=a), False),)
    inside_note = (
        "Lion has no per-weight rate: every weight moves by exactly the learning rate along the "
        "sign of its momentum, however large or small its gradient; the rate shown is that step. "
        "Read the update/weight ratio to compare it with the adaptive optimizers."
    )

    @classmethod
    def torch_class(cls) -> type:
        return lion_class()

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "weight_decay": cfg.weight_decay}

    @classmethod
    def build(cls, params: list[Any], cfg: Any, *, fused: bool = False) -> torch.optim.Optimizer:
        opt: torch.optim.Optimizer = lion_class()(params, **cls.torch_kwargs(cfg))
        return opt

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """The rate itself, for every weight: the size of the sign step (see :attr:`inside_note`)."""
        import torch

        return torch.full_like(p, lr, dtype=torch.float64)
