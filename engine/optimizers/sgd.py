"""SGD: plain, with momentum (heavy ball) and Nesterov (``torch.optim.SGD``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ..schema import LR, WD
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["SGD", "BatchedSGD", "SGDPart"]


class SGD(OptimizerSettings):
    """``torch.optim.SGD``; momentum 0 is plain SGD, ``nesterov`` needs momentum > 0."""

    kind: Literal["sgd"] = "sgd"
    lr: LR = 0.01
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    dampening: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: WD = 0.0

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGD:
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                "optimizer.nesterov = true needs momentum > 0 and dampening = 0 "
                f"(got momentum={self.momentum}, dampening={self.dampening})"
            )
        return self


class BatchedSGD(BatchedOptimizer):
    """``torch.optim.SGD``: momentum, dampening, Nesterov, weight decay."""

    state_names = ("momentum_buffer",)

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        first = self.cfgs[0]
        self.uses_momentum = first.momentum > 0
        self.nesterov = first.nesterov
        self.momentum = self.column([c.momentum for c in cfgs])
        self.one_minus_dampening = self.column([1 - c.dampening for c in cfgs])
        self.any_dampening = any(c.dampening != 0 for c in cfgs)
        self.momentum_buffer = self.zeros(params) if self.uses_momentum else None

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        return (cfg.kind, cfg.momentum > 0, cfg.nesterov)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        g = self.coupled_weight_decay(p, g)
        direction = g
        buf = self.momentum_buffer
        if buf is not None:
            if step == 1:
                buf.copy_(g)
            else:
                buf.mul_(self.momentum)
                if self.any_dampening:
                    buf.addcmul_(g, self.one_minus_dampening)
                else:
                    buf.add_(g)
            direction = torch.addcmul(g, buf, self.momentum) if self.nesterov else buf
        p.addcmul_(direction, self.negative_lr(lrs))

    def step_multiplier(self) -> list[float]:
        if not self.uses_momentum:
            return [1.0] * self.n
        gains = [(1 - c.dampening) / (1 - c.momentum) for c in self.cfgs]
        return [1 + c.momentum * k for c, k in zip(self.cfgs, gains, strict=True)] if self.nesterov else gains


class SGDPart(OptimizerPart):
    config = SGD
    title = "SGD (+ momentum)"
    torch_name = "SGD"
    fused = True
    batched = BatchedSGD
    labels = {"nesterov": "Nesterov"}
    race = (
        ("SGD", lambda s, a: SGD(lr=s), True),
        ("Momentum 0.9", lambda s, a: SGD(lr=s / 3, momentum=0.9), True),
        ("Nesterov 0.9", lambda s, a: SGD(lr=s / 3, momentum=0.9, nesterov=True), False),
    )

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "momentum": cfg.momentum,
            "dampening": cfg.dampening,
            "nesterov": cfg.nesterov,
            "weight_decay": cfg.weight_decay,
        }

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """SGD has no running scale: the rate itself (momentum is :meth:`step_multiplier`)."""
        import torch

        return torch.ones_like(p, dtype=torch.float64) * lr

    @classmethod
    def step_multiplier(cls, group: dict) -> float:
        """``(1 - dampening) / (1 - momentum)``; Nesterov adds one momentum times that."""
        m = float(group.get("momentum", 0.0) or 0.0)
        if m <= 0:
            return 1.0
        gain = (1 - group["dampening"]) / (1 - m)
        return 1 + m * gain if group["nesterov"] else gain
