"""Adagrad: each parameter's rate divided by its accumulated gradient norm (``torch.optim.Adagrad``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..schema import LR, WD, Eps
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["Adagrad", "BatchedAdagrad", "AdagradPart"]


class Adagrad(OptimizerSettings):
    """``torch.optim.Adagrad`` (default lr 0.01, as Keras 2 and the reading list)."""

    kind: Literal["adagrad"] = "adagrad"
    lr: LR = 0.01
    lr_decay: float = Field(0.0, ge=0.0, le=1.0)
    initial_accumulator_value: float = Field(0.0, ge=0.0, le=10.0)
    eps: Eps = 1e-10
    weight_decay: WD = 0.0


class BatchedAdagrad(BatchedOptimizer):
    """``torch.optim.Adagrad``: accumulated squared gradients, optional lr decay."""

    state_names = ("sum_of_squares",)

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        import torch

        super().__init__(cfgs, start, stop, params)
        self.sum_of_squares = torch.cat(
            [
                torch.full_like(params[start + i : start + i + 1], c.initial_accumulator_value)
                for i, c in enumerate(self.cfgs)
            ]
        )
        self.eps = self.column([c.eps for c in cfgs])

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        g = self.coupled_weight_decay(p, g)
        clr = [-lr / (1 + (step - 1) * c.lr_decay) for lr, c in zip(lrs, self.cfgs, strict=True)]
        self.sum_of_squares.addcmul_(g, g)
        std = self.sum_of_squares.sqrt().add_(self.eps)
        p.add_(torch.mul(g, self.column(clr)).div_(std))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        step = float(self.step_count)
        clr = [lr / (1 + (step - 1) * c.lr_decay) for lr, c in zip(lrs, self.cfgs, strict=True)]
        return self.column64(clr) / (self.sum_of_squares.double().sqrt() + self.eps64())


class AdagradPart(OptimizerPart):
    config = Adagrad
    title = "Adagrad"
    torch_name = "Adagrad"
    fused = True
    batched = BatchedAdagrad
    labels = {"initial_accumulator_value": "Initial accumulator", "lr_decay": "LR decay"}
    race = (("Adagrad", lambda s, a: Adagrad(lr=min(a * 30, 10.0)), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "lr_decay": cfg.lr_decay,
            "weight_decay": cfg.weight_decay,
            "initial_accumulator_value": cfg.initial_accumulator_value,
            "eps": cfg.eps,
        }

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        clr = lr / (1 + (float(state["step"]) - 1) * group["lr_decay"])
        return clr / (state["sum"].double().sqrt() + group["eps"])
