"""Prodigy (Mishchenko & Defazio 2024, "Prodigy: An Expeditiously Adaptive Parameter-Free
Learner"), from the authors' ``prodigyopt`` package.

Adam whose step size is estimated while it trains: ``d`` starts at ``d0`` and grows
towards the distance to the solution (a running ratio of ``<g, x0 - x>`` to the summed
gradient magnitudes); the step is ``d * lr`` times Adam's normalised direction. ``lr``
stays 1.0 -- it is a multiplier on the estimate, not a learning rate to tune
(``d_coef`` is the knob the authors suggest). The package is imported only when a Prodigy
run is built.
"""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..schema import LR, WD, Beta, Eps
from .base import OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["Prodigy", "ProdigyPart"]


class Prodigy(OptimizerSettings):
    """``prodigyopt.Prodigy``: Adam with its step size ``d`` estimated as it trains; leave
    ``lr`` at 1.0 (a multiplier on ``d``) and tune ``d_coef`` if anything."""

    kind: Literal["prodigy"] = "prodigy"
    lr: LR = 1.0
    beta1: Beta = 0.9
    beta2: Beta = 0.999
    eps: Eps = 1e-8
    weight_decay: WD = 0.0
    decouple: bool = Field(True, description="AdamW-style decoupled weight decay")
    use_bias_correction: bool = False
    safeguard_warmup: bool = False
    d0: float = Field(1e-6, gt=0.0, le=1.0, description="the initial step-size estimate")
    d_coef: float = Field(1.0, gt=0.0, le=100.0, description="multiplies the estimate of d")


class ProdigyPart(OptimizerPart):
    config = Prodigy
    title = "Prodigy (no LR)"
    torch_name = "Prodigy"
    package = "prodigyopt"
    trains_alone = (
        "its step size d is estimated from sums over all of a run's weights each update, in "
        "the authors' package (no vectorised twin yet)"
    )
    labels = {
        "decouple": "Decoupled weight decay",
        "use_bias_correction": "Bias correction",
        "safeguard_warmup": "Safeguard warm-up",
        "d0": "Initial d",
        "d_coef": "d coefficient",
    }
    race = (("Prodigy", lambda s, a: Prodigy(), False),)
    inside_note = (
        "Prodigy's rate is d × lr × Adam's per-weight factor, d being its running estimate of the "
        "step size (read after the update, which used the estimate before it)."
    )

    @classmethod
    def torch_class(cls) -> type:
        from prodigyopt import Prodigy as ProdigyOptimizer

        return ProdigyOptimizer

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "betas": (cfg.beta1, cfg.beta2),
            "eps": cfg.eps,
            "weight_decay": cfg.weight_decay,
            "decouple": cfg.decouple,
            "use_bias_correction": cfg.use_bias_correction,
            "safeguard_warmup": cfg.safeguard_warmup,
            "d0": cfg.d0,
            "d_coef": cfg.d_coef,
        }

    @classmethod
    def build(cls, params: list[Any], cfg: Any, *, fused: bool = False) -> torch.optim.Optimizer:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line about decoupled decay
            opt: torch.optim.Optimizer = cls.torch_class()(params, **cls.torch_kwargs(cfg))
        return opt

    @staticmethod
    def step_size(optimizer: torch.optim.Optimizer) -> float:
        """``d * lr``: the step size Prodigy applies now (its estimate ``d`` times the multiplier)."""
        group = optimizer.param_groups[0]
        return float(group["d"]) * float(group["lr"])

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """``d * lr * bc / (sqrt(v) / d + eps)``: the factor on the gradients' moving average
        (its moments hold ``d``-scaled gradients; ``bc`` Adam's bias correction if switched on)."""
        d = float(group["d"])
        b1, b2 = group["betas"]
        k = float(group["k"])
        bc = (1 - b2**k) ** 0.5 / (1 - b1**k) if group["use_bias_correction"] else 1.0
        return d * lr * bc / (state["exp_avg_sq"].double().sqrt() / d + group["eps"])
