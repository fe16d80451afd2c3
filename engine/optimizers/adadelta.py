"""Adadelta: steps scaled by the ratio of running update and gradient sizes (``torch.optim.Adadelta``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..schema import LR, WD, Beta, Eps
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["Adadelta", "BatchedAdadelta", "AdadeltaPart"]


class Adadelta(OptimizerSettings):
    """``torch.optim.Adadelta`` (lr 1.0 is torch's default: a scale on the update)."""

    kind: Literal["adadelta"] = "adadelta"
    lr: LR = 1.0
    rho: Beta = 0.9
    eps: Eps = 1e-6
    weight_decay: WD = 0.0


class BatchedAdadelta(BatchedOptimizer):
    """``torch.optim.Adadelta``."""

    state_names = ("square_avg", "acc_delta")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.rho = self.column([c.rho for c in cfgs])
        self.one_minus_rho = self.column([1 - c.rho for c in cfgs])
        self.eps = self.column([c.eps for c in cfgs])
        self.square_avg = self.zeros(params)
        self.acc_delta = self.zeros(params)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        g = self.coupled_weight_decay(p, g)
        self.square_avg.mul_(self.rho).addcmul_(torch.mul(g, self.one_minus_rho), g)
        std = self.square_avg.add(self.eps).sqrt_()
        delta = self.acc_delta.add(self.eps).sqrt_()
        delta.div_(std).mul_(g)
        self.acc_delta.mul_(self.rho).addcmul_(torch.mul(delta, self.one_minus_rho), delta)
        p.addcmul_(delta, self.negative_lr(lrs))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        eps = self.eps64()
        scale = (self.acc_delta.double() + eps).sqrt() / (self.square_avg.double() + eps).sqrt()
        return self.column64(lrs) * scale


class AdadeltaPart(OptimizerPart):
    config = Adadelta
    title = "Adadelta"
    torch_name = "Adadelta"
    batched = BatchedAdadelta
    labels = {"rho": "ρ"}
    race = (("Adadelta", lambda s, a: Adadelta(lr=1.0), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {"lr": cfg.lr, "rho": cfg.rho, "eps": cfg.eps, "weight_decay": cfg.weight_decay}

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        eps = group["eps"]
        return lr * (state["acc_delta"].double() + eps).sqrt() / (state["square_avg"].double() + eps).sqrt()
