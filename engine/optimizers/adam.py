"""The Adam family: Adam (and AMSGrad), AdamW, NAdam and Adamax.

One family: the same config base (betas, eps, weight decay), the same first moment in the
batched twin, and effective rates read off the second moment (or Adamax's infinity norm).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ..schema import LR, WD, Beta, Eps
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings, RaceRow

if TYPE_CHECKING:
    import torch

__all__ = [
    "AdamSettings",
    "Adam",
    "AdamW",
    "NAdam",
    "Adamax",
    "BatchedAdam",
    "BatchedAdamW",
    "BatchedNAdam",
    "BatchedAdamax",
    "AdamPart",
    "AdamWPart",
    "NAdamPart",
    "AdamaxPart",
]


# --------------------------------------------------------------------------- configs
class AdamSettings(OptimizerSettings):
    """What the Adam family's configs share, in this order: lr, betas, eps, weight decay."""

    lr: LR = 0.001
    beta1: Beta = 0.9
    beta2: Beta = 0.999
    eps: Eps = 1e-8
    weight_decay: WD = 0.0


class Adam(AdamSettings):
    """``torch.optim.Adam``: momentum + RMSprop with bias correction."""

    kind: Literal["adam"] = "adam"
    amsgrad: bool = False


class AdamW(AdamSettings):
    """``torch.optim.AdamW``: Adam with decoupled weight decay."""

    kind: Literal["adamw"] = "adamw"
    weight_decay: WD = 0.01
    amsgrad: bool = False


class NAdam(AdamSettings):
    """``torch.optim.NAdam``: Adam with Nesterov momentum."""

    kind: Literal["nadam"] = "nadam"
    lr: LR = 0.002
    momentum_decay: float = Field(0.004, ge=0.0, le=1.0)


class Adamax(AdamSettings):
    """``torch.optim.Adamax``: Adam with the infinity norm."""

    kind: Literal["adamax"] = "adamax"
    lr: LR = 0.002


# --------------------------------------------------------------------------- batched twins
class _BatchedAdamFamily(BatchedOptimizer):
    """What the batched Adam, AdamW, NAdam and Adamax share: betas, eps and the first moment."""

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.beta1 = [c.beta1 for c in self.cfgs]
        self.beta2 = [c.beta2 for c in self.cfgs]
        self.one_minus_beta1 = self.column([1 - b for b in self.beta1])
        self.beta2_column = self.column(self.beta2)
        self.one_minus_beta2 = self.column([1 - b for b in self.beta2])
        self.eps = self.column([c.eps for c in cfgs])
        self.exp_avg = self.zeros(params)


class BatchedAdam(_BatchedAdamFamily):
    """``torch.optim.Adam`` (and AMSGrad), weight decay added to the gradient."""

    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    decoupled = False

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.exp_avg_sq = self.zeros(params)
        self.max_exp_avg_sq = self.zeros(params) if self.cfgs[0].amsgrad else None

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        return (cfg.kind, cfg.amsgrad)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        if self.decoupled:
            if self.any_weight_decay:
                p.mul_(self.column([1 - lr * c.weight_decay for lr, c in zip(lrs, self.cfgs, strict=True)]))
        else:
            g = self.coupled_weight_decay(p, g)
        self.exp_avg.lerp_(g, self.one_minus_beta1)
        self.exp_avg_sq.mul_(self.beta2_column).addcmul_(torch.mul(g, self.one_minus_beta2), g)
        bias_correction2_sqrt = self.column([(1 - b2**step) ** 0.5 for b2 in self.beta2])
        negative_step = self.column([-lr / (1 - b1**step) for lr, b1 in zip(lrs, self.beta1, strict=True)])
        second = self.exp_avg_sq
        if self.max_exp_avg_sq is not None:
            torch.maximum(self.max_exp_avg_sq, self.exp_avg_sq, out=self.max_exp_avg_sq)
            second = self.max_exp_avg_sq
        denom = (second.sqrt() / bias_correction2_sqrt).add_(self.eps)
        p.add_(torch.mul(self.exp_avg, negative_step).div_(denom))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        step = float(self.step_count)
        second = self.max_exp_avg_sq if self.max_exp_avg_sq is not None else self.exp_avg_sq
        bc2_sqrt = self.column64([(1 - b2**step) ** 0.5 for b2 in self.beta2])
        return self.column64(lrs) / (second.double().sqrt() / bc2_sqrt + self.eps64())


class BatchedAdamW(BatchedAdam):
    """``torch.optim.AdamW``: Adam with weight decay applied to the weights directly."""

    decoupled = True


class BatchedNAdam(_BatchedAdamFamily):
    """``torch.optim.NAdam``: Nesterov momentum with the momentum-decay schedule."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        import torch

        super().__init__(cfgs, start, stop, params)
        self.exp_avg_sq = self.zeros(params)
        self.momentum_decay = [c.momentum_decay for c in self.cfgs]
        self.mu_product = torch.ones(self.n, dtype=torch.float32)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        g = self.coupled_weight_decay(p, g)
        pairs = list(zip(self.beta1, self.momentum_decay, strict=True))
        bias_correction2 = self.column([1 - b2**step for b2 in self.beta2])
        mu = [b1 * (1.0 - 0.5 * (0.96 ** (step * md))) for b1, md in pairs]
        mu_next = [b1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md))) for b1, md in pairs]
        self.mu_product.mul_(torch.tensor(mu, dtype=torch.float32))
        mu_product = self.mu_product.tolist()
        self.exp_avg.lerp_(g, self.one_minus_beta1)
        self.exp_avg_sq.mul_(self.beta2_column).addcmul_(torch.mul(g, self.one_minus_beta2), g)
        denom = self.exp_avg_sq.div(bias_correction2).sqrt().add_(self.eps)
        grad_step = [-lr * (1.0 - m) / (1.0 - mp) for lr, m, mp in zip(lrs, mu, mu_product, strict=True)]
        avg_step = [(-lr * mn) / (1.0 - mp * mn) for lr, mn, mp in zip(lrs, mu_next, mu_product, strict=True)]
        p.add_(torch.mul(g, self.column(grad_step)).div_(denom))
        p.add_(torch.mul(self.exp_avg, self.column(avg_step)).div_(denom))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        step = float(self.step_count)
        bc2 = self.column64([1 - b2**step for b2 in self.beta2])
        return self.column64(lrs) / ((self.exp_avg_sq.double() / bc2).sqrt() + self.eps64())


class BatchedAdamax(_BatchedAdamFamily):
    """``torch.optim.Adamax``: the infinity norm instead of the second moment."""

    state_names = ("exp_avg", "exp_inf")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.exp_inf = self.zeros(params)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        g = self.coupled_weight_decay(p, g)
        self.exp_avg.lerp_(g, self.one_minus_beta1)
        torch.maximum(self.exp_inf.mul_(self.beta2_column), g.abs().add_(self.eps), out=self.exp_inf)
        clr = [-lr / (1 - b1**step) for lr, b1 in zip(lrs, self.beta1, strict=True)]
        p.add_(torch.mul(self.exp_avg, self.column(clr)).div_(self.exp_inf))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        return self.column64(lrs) / self.exp_inf.double()


# --------------------------------------------------------------------------- parts
class _AdamFamilyPart(OptimizerPart):
    labels = {"beta1": "β1 (momentum)", "beta2": "β2 (squared grads)"}

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "betas": (cfg.beta1, cfg.beta2),
            "eps": cfg.eps,
            "weight_decay": cfg.weight_decay,
        }

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """``lr / (sqrt(v / (1 - b2^t)) + eps)``: the rate on the bias-corrected first moment."""
        v = state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"]
        bc2 = 1 - group["betas"][1] ** float(state["step"])
        return lr / (v.double().sqrt() / math.sqrt(bc2) + group["eps"])


class AdamPart(_AdamFamilyPart):
    config: ClassVar[type[OptimizerSettings]] = Adam
    title = "Adam"
    torch_name = "Adam"
    fused = True
    batched = BatchedAdam
    labels = {**_AdamFamilyPart.labels, "amsgrad": "AMSGrad"}
    race: ClassVar[tuple[RaceRow, ...]] = (("Adam", lambda s, a: Adam(lr=a), True),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {**super().torch_kwargs(cfg), "amsgrad": cfg.amsgrad}


class AdamWPart(AdamPart):
    config = AdamW
    title = "AdamW"
    torch_name = "AdamW"
    batched = BatchedAdamW
    race = (("AdamW", lambda s, a: AdamW(lr=a), False),)


class NAdamPart(_AdamFamilyPart):
    config = NAdam
    title = "NAdam"
    torch_name = "NAdam"
    batched = BatchedNAdam
    race = (("NAdam", lambda s, a: NAdam(lr=a), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {**super().torch_kwargs(cfg), "momentum_decay": cfg.momentum_decay}

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        bc2 = 1 - group["betas"][1] ** float(state["step"])
        return lr / ((state["exp_avg_sq"].double() / bc2).sqrt() + group["eps"])


class AdamaxPart(_AdamFamilyPart):
    config = Adamax
    title = "Adamax"
    torch_name = "Adamax"
    batched = BatchedAdamax
    race = (("Adamax", lambda s, a: Adamax(lr=min(a * 3, 10.0)), False),)

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        return lr / state["exp_inf"].double()
