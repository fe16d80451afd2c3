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

The batched twins (:class:`BatchedScheduleFreeAdamW`, :class:`BatchedScheduleFreeSGD`) keep
``z`` (and AdamW's second moment) per row and the package's per-run bookkeeping (``k``,
``lr_max``, ``weight_sum``) in Python floats as it does; a row holds ``y`` while it trains
and ``x`` while it is evaluated, switched by :meth:`BatchedOptimizer.set_mode` with the
package's own interpolations. ``tests/engine/test_package_optimizers.py`` checks both
against the package, step for step and in both modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ..schema import LR, WD, Beta, Eps
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings, RaceRow, keeping_gradients

if TYPE_CHECKING:
    import torch

__all__ = [
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "BatchedScheduleFreeAdamW",
    "BatchedScheduleFreeSGD",
    "ScheduleFreeAdamWPart",
    "ScheduleFreeSGDPart",
]

NOTE = (
    "Schedule-free: the model is evaluated at the running average x of the steps z, and the "
    "rate shown is the one z is stepped with (no schedule multiplies it; the averaging decays "
    "the step's effect on the evaluated weights instead)."
)


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


# --------------------------------------------------------------------------- batched twins
def warmup_factor(k: int, warmup_steps: int) -> float:
    """The package's warm-up factor after ``k`` updates (1 without warm-up or past it)."""
    return k / warmup_steps if k <= warmup_steps and warmup_steps else 1.0


class _BatchedScheduleFree(BatchedOptimizer):
    """What both schedule-free twins share: ``z`` per row, the package's per-run averaging
    weights and the ``y`` / ``x`` switch.

    Per row, as the package does per parameter group: the update's rate is
    ``lr * min(1, (k + 1) / warmup_steps)``; ``lr_max`` is the largest rate so far, the
    update's weight in the average ``(k + 1) ** r * lr_max ** weight_lr_power`` and
    ``ckp1 = weight / weight_sum``; then ``y <- lerp(y, z, ckp1) + lr * (beta * (1 - ckp1) - 1)
    * d`` and ``z <- z - lr * d`` for the step direction ``d`` (the subclass's, weight decay
    taken at ``y``). ``x = lerp(y, z, 1 - 1 / beta)`` is what the row holds while evaluated.
    """

    state_names: ClassVar[tuple[str, ...]] = ("z",)

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.params = params
        self.beta = [self.interpolation(c) for c in self.cfgs]
        self.z = self.zeros(params)  # a copy of y at the first update, as the package's state
        self.lr_max = [-1.0] * self.n
        self.weight_sum = [0.0] * self.n
        self.training = [True] * self.n

    @staticmethod
    def interpolation(cfg: Any) -> float:
        """The run's ``beta`` between ``z`` and ``x`` (AdamW's ``beta1``, SGD's ``momentum``)."""
        raise NotImplementedError

    def direction(self, p: torch.Tensor, g: torch.Tensor, step: float) -> torch.Tensor:
        """The step direction ``d`` (a new tensor; ``g`` is left as it is)."""
        raise NotImplementedError

    def averaging(self, lrs: list[float], step: float) -> tuple[list[float], list[float]]:
        """Each row's warmed-up rate and ``ckp1`` for the update number ``step``, the package's
        bookkeeping (Python floats) advanced by it."""
        k = int(step) - 1  # the package's k: updates made before this one
        rates, ckp1 = [], []
        for i, (lr, c) in enumerate(zip(lrs, self.cfgs, strict=True)):
            rate = lr * ((k + 1) / c.warmup_steps if k < c.warmup_steps else 1.0)
            self.lr_max[i] = lr_max = max(rate, self.lr_max[i])
            weight = ((k + 1) ** c.r) * (lr_max**c.weight_lr_power)
            self.weight_sum[i] += weight
            try:
                ckp1.append(weight / self.weight_sum[i])
            except ZeroDivisionError:
                ckp1.append(0.0)
            rates.append(rate)
        return rates, ckp1

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:

        if step == 1:
            self.z.copy_(p)
        rates, ckp1 = self.averaging(lrs, step)
        d = self.direction(p, g, step)
        if self.any_weight_decay:  # at y
            d.addcmul_(p, self.weight_decay)
        p.lerp_(self.z, self.column(ckp1))
        y_factor = [lr * (b * (1 - c) - 1) for lr, b, c in zip(rates, self.beta, ckp1, strict=True)]
        p.addcmul_(d, self.column(y_factor))  # one rounding, as the package's add_(alpha=)
        self.z.addcmul_(d, self.column([-rate for rate in rates]))

    def set_mode(self, i: int, training: bool) -> None:
        """The package's ``train()`` (row ``i`` to ``y``) or ``eval()`` (to the average ``x``)."""
        import torch

        if self.training[i] == training:
            return
        self.training[i] = training
        if self.step_count == 0:  # no z yet: the package's switch does nothing either
            return
        beta = self.beta[i]
        with torch.no_grad():
            self.params[self.start + i].lerp_(self.z[i], 1 - beta if training else 1 - 1 / beta)

    def rates(self, lrs: list[float]) -> list[float]:
        """Each row's rate at the last update, the package's warm-up included."""
        return [
            lr * warmup_factor(self.step_count, c.warmup_steps) for lr, c in zip(lrs, self.cfgs, strict=True)
        ]


class BatchedScheduleFreeAdamW(_BatchedScheduleFree):
    """``schedulefree.AdamWScheduleFree`` per row: ``d = g / (sqrt(v / (1 - b2^t)) + eps)``."""

    state_names = ("z", "exp_avg_sq")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.exp_avg_sq = self.zeros(params)
        self.beta2 = [c.beta2 for c in self.cfgs]
        self.beta2_column = self.column(self.beta2)
        self.one_minus_beta2 = self.column([1 - b for b in self.beta2])
        self.eps = self.column([c.eps for c in self.cfgs])

    @staticmethod
    def interpolation(cfg: Any) -> float:
        return float(cfg.beta1)

    def direction(self, p: torch.Tensor, g: torch.Tensor, step: float) -> torch.Tensor:
        import torch

        self.exp_avg_sq.mul_(self.beta2_column).addcmul_(torch.mul(g, self.one_minus_beta2), g)
        bias_correction2 = self.column([1 - b2**step for b2 in self.beta2])
        return torch.div(g, self.exp_avg_sq.div(bias_correction2).sqrt_().add_(self.eps))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        """As :meth:`ScheduleFreeAdamWPart.effective_lr`, per row."""
        bc2 = self.column64([1 - b2 ** float(self.step_count) for b2 in self.beta2])
        return self.column64(self.rates(lrs)) / ((self.exp_avg_sq.double() / bc2).sqrt() + self.eps64())


class BatchedScheduleFreeSGD(_BatchedScheduleFree):
    """``schedulefree.SGDScheduleFree`` per row: ``d = g``."""

    @staticmethod
    def interpolation(cfg: Any) -> float:
        return float(cfg.momentum)

    def direction(self, p: torch.Tensor, g: torch.Tensor, step: float) -> torch.Tensor:
        return g.clone()

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        return self.column64(self.rates(lrs)).expand(self.zeros_shape).clone()


# --------------------------------------------------------------------------- parts
class _ScheduleFreePart(OptimizerPart):
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

        return keeping_gradients(getattr(schedulefree, cls.torch_name))

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
        return warmup_factor(group["k"], group["warmup_steps"])


class ScheduleFreeAdamWPart(_ScheduleFreePart):
    config = ScheduleFreeAdamW
    title = "Schedule-Free AdamW"
    torch_name = "AdamWScheduleFree"
    batched = BatchedScheduleFreeAdamW
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
    batched = BatchedScheduleFreeSGD
    race: ClassVar[tuple[RaceRow, ...]] = (("Schedule-Free SGD", lambda s, a: ScheduleFreeSGD(lr=s), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {**cls._shared(cfg), "momentum": cfg.momentum}

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """The rate z is stepped with (times the package's warm-up), the same for every weight."""
        import torch

        return torch.full_like(p, lr * cls.warmup_factor(group), dtype=torch.float64)
