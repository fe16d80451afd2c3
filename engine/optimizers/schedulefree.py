"""Schedule-Free AdamW and SGD (Defazio et al. 2024, "The Road Less Scheduled"), from the
authors' ``schedulefree`` package.

No learning-rate schedule: the optimizer keeps two sequences, ``z`` (plain AdamW or SGD
steps at a constant rate) and ``x``, a running average of ``z`` weighted by
``lr_max ** weight_lr_power`` (and ``t ** r``); gradients are taken at ``y``, an
interpolation of the two (``momentum`` / ``beta1``). The model holds ``y`` while it trains
and ``x`` -- the averaged weights, the ones to judge -- while it is evaluated:
``optimizer.train()`` / ``optimizer.eval()`` switch them, and the training loop calls them
through :meth:`OptimizerPart.set_mode` around every evaluation, boundary picture, weight
snapshot and the final model. The package is imported only when such a run is built.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ..schema import LR, WD, Beta, Eps
from .base import OptimizerPart, OptimizerSettings, RaceRow

if TYPE_CHECKING:
    import torch

__all__ = ["ScheduleFreeAdamW", "ScheduleFreeSGD", "ScheduleFreeAdamWPart", "ScheduleFreeSGDPart"]

WHY_ALONE = (
    "it keeps a second weight sequence (z) and evaluates an average of it, switched in and out "
    "around every evaluation by the authors' package (no vectorised twin yet)"
)
NOTE = (
    "Schedule-free: the model is evaluated at the running average x of the steps z, and the "
    "rate shown is the one z is stepped with (no schedule multiplies it; the averaging decays "
    "the step's effect on the evaluated weights instead)."
)


@functools.cache
def _keeping_gradients(package_class: type) -> type:
    """``package_class`` whose ``step`` leaves each ``p.grad`` as it found it: the package
    divides the gradient by its second moment (and adds the weight decay) in place, and the
    Inside tab reads the gradient after the update. The update itself is the package's."""
    import torch

    class KeepingGradients(package_class):  # type: ignore[misc, valid-type]
        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            saved = [
                (p, p.grad.clone()) for g in self.param_groups for p in g["params"] if p.grad is not None
            ]
            loss = super().step(closure)
            for p, grad in saved:
                p.grad.copy_(grad)
            return loss

    KeepingGradients.__name__ = KeepingGradients.__qualname__ = package_class.__name__
    KeepingGradients.__doc__ = package_class.__doc__
    return KeepingGradients


class _ScheduleFreeSettings(OptimizerSettings):
    warmup_steps: int = Field(0, ge=0, le=1_000_000, description="the package's own linear warm-up (updates)")
    r: float = Field(0.0, ge=0.0, le=10.0, description="polynomial weighting t**r of the average")
    weight_lr_power: float = Field(2.0, ge=0.0, le=10.0, description="average weights lr_max ** this power")
    weight_decay: WD = 0.0


class ScheduleFreeAdamW(_ScheduleFreeSettings):
    """``schedulefree.AdamWScheduleFree``: AdamW without a schedule; the weights evaluated are
    an average of the iterates (use it with the constant schedule; ``warmup_steps`` is the
    package's own warm-up)."""

    kind: Literal["schedulefree_adamw"] = "schedulefree_adamw"
    lr: LR = 0.0025
    beta1: Beta = 0.9
    beta2: Beta = 0.999
    eps: Eps = 1e-8


class ScheduleFreeSGD(_ScheduleFreeSettings):
    """``schedulefree.SGDScheduleFree``: SGD with momentum-like interpolation and no schedule;
    the weights evaluated are an average of the iterates. (The authors' default rate, 1.0, is
    for large models with warm-up; 0.1 trains the small ones here.)"""

    kind: Literal["schedulefree_sgd"] = "schedulefree_sgd"
    lr: LR = 0.1
    momentum: float = Field(0.9, gt=0.0, lt=1.0)


class _ScheduleFreePart(OptimizerPart):
    trains_alone = WHY_ALONE
    has_modes = True
    package = "schedulefree"
    inside_note = NOTE
    labels: ClassVar[dict[str, str]] = {
        "warmup_steps": "Own warm-up (updates)",
        "r": "Average power r",
        "weight_lr_power": "Average lr power",
    }

    @classmethod
    def torch_class(cls) -> type:
        import schedulefree

        return _keeping_gradients(getattr(schedulefree, cls.torch_name))

    @classmethod
    def build(cls, params: list[Any], cfg: Any, *, fused: bool = False) -> torch.optim.Optimizer:
        opt: torch.optim.Optimizer = cls.torch_class()(params, **cls.torch_kwargs(cfg))
        opt.train()  # type: ignore[attr-defined]  # ready to step, as torch.optim optimizers are
        return opt

    @classmethod
    def set_mode(cls, optimizer: torch.optim.Optimizer, training: bool) -> None:
        """``optimizer.train()`` before updates, ``optimizer.eval()`` (the averaged weights) after."""
        if training:
            optimizer.train()  # type: ignore[attr-defined]
        else:
            optimizer.eval()  # type: ignore[attr-defined]

    @classmethod
    def _shared(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "warmup_steps": cfg.warmup_steps,
            "r": cfg.r,
            "weight_lr_power": cfg.weight_lr_power,
        }

    @staticmethod
    def warmup_factor(group: dict) -> float:
        """The package's warm-up factor at the last update (``k`` counts the updates made)."""
        k, warmup = group["k"], group["warmup_steps"]
        return k / warmup if k <= warmup and warmup else 1.0


class ScheduleFreeAdamWPart(_ScheduleFreePart):
    config = ScheduleFreeAdamW
    title = "Schedule-Free AdamW"
    torch_name = "AdamWScheduleFree"
    race: ClassVar[tuple[RaceRow, ...]] = (
        ("Schedule-Free AdamW", lambda s, a: ScheduleFreeAdamW(lr=a), False),
    )

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {**cls._shared(cfg), "betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """``lr * warm-up / (sqrt(v / (1 - b2^t)) + eps)``: the factor on the gradient of z's step."""
        k = float(group["k"])
        bc2 = 1 - group["betas"][1] ** k
        rate = lr * cls.warmup_factor(group)
        return rate / ((state["exp_avg_sq"].double() / bc2).sqrt() + group["eps"])


class ScheduleFreeSGDPart(_ScheduleFreePart):
    config = ScheduleFreeSGD
    title = "Schedule-Free SGD"
    torch_name = "SGDScheduleFree"
    race: ClassVar[tuple[RaceRow, ...]] = (("Schedule-Free SGD", lambda s, a: ScheduleFreeSGD(lr=s), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {**cls._shared(cfg), "momentum": cfg.momentum}

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """The rate z is stepped with (times the package's warm-up), the same for every weight."""
        import torch

        return torch.full_like(p, lr * cls.warmup_factor(group), dtype=torch.float64)
