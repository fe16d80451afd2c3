"""RMSprop: the rate divided by a running root mean square of the gradient (``torch.optim.RMSprop``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..schema import LR, WD, Beta, Eps
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["RMSprop", "BatchedRMSprop", "RMSpropPart"]


class RMSprop(OptimizerSettings):
    """``torch.optim.RMSprop``; ``alpha`` is the forgetting factor (Keras calls it rho)."""

    kind: Literal["rmsprop"] = "rmsprop"
    lr: LR = 0.001
    alpha: Beta = 0.99
    eps: Eps = 1e-8
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    centered: bool = False
    weight_decay: WD = 0.0


class BatchedRMSprop(BatchedOptimizer):
    """``torch.optim.RMSprop``: centred or not, with or without momentum."""

    state_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        first = self.cfgs[0]
        self.alpha = self.column([c.alpha for c in cfgs])
        self.one_minus_alpha = self.column([1 - c.alpha for c in cfgs])
        self.eps = self.column([c.eps for c in cfgs])
        self.momentum = self.column([c.momentum for c in cfgs])
        self.square_avg = self.zeros(params)
        self.grad_avg = self.zeros(params) if first.centered else None
        self.momentum_buffer = self.zeros(params) if first.momentum > 0 else None

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        return (cfg.kind, cfg.momentum > 0, cfg.centered)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        g = self.coupled_weight_decay(p, g)
        self.square_avg.mul_(self.alpha).addcmul_(torch.mul(g, self.one_minus_alpha), g)
        if self.grad_avg is not None:
            self.grad_avg.lerp_(g, self.one_minus_alpha)
            avg = self.square_avg.addcmul(self.grad_avg, self.grad_avg, value=-1).sqrt_()
        else:
            avg = self.square_avg.sqrt()
        avg.add_(self.eps)
        negative_lr = self.negative_lr(lrs)
        if self.momentum_buffer is not None:
            self.momentum_buffer.mul_(self.momentum).addcdiv_(g, avg)
            p.addcmul_(self.momentum_buffer, negative_lr)
        else:
            p.add_(torch.mul(g, negative_lr).div_(avg))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        sq = self.square_avg.double()
        if self.grad_avg is not None:
            sq = sq - self.grad_avg.double() ** 2
        return self.column64(lrs) / (sq.sqrt() + self.eps64())

    def step_multiplier(self) -> list[float]:
        if self.momentum_buffer is None:
            return [1.0] * self.n
        return [1 / (1 - c.momentum) for c in self.cfgs]


class RMSpropPart(OptimizerPart):
    config = RMSprop
    title = "RMSprop"
    torch_name = "RMSprop"
    batched = BatchedRMSprop
    labels = {"alpha": "α (forgetting factor)", "centered": "Centered"}
    race = (("RMSprop", lambda s, a: RMSprop(lr=a / 3), True),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "alpha": cfg.alpha,
            "eps": cfg.eps,
            "weight_decay": cfg.weight_decay,
            "momentum": cfg.momentum,
            "centered": cfg.centered,
        }

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        sq = state["square_avg"].double()
        if group["centered"]:
            ga = state["grad_avg"].double()
            sq = sq - ga * ga
        return lr / (sq.sqrt() + group["eps"])

    @classmethod
    def step_multiplier(cls, group: dict) -> float:
        """``1 / (1 - momentum)`` with momentum, else 1."""
        m = float(group.get("momentum", 0.0) or 0.0)
        return 1 / (1 - m) if m > 0 else 1.0
