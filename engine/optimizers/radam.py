"""RAdam: Adam with its adaptive rate rectified while the second moment is young
(Liu et al. 2020, ``torch.optim.RAdam``).

While the approximated simple-moving-average length ``rho_t`` is at most 5 the update is
momentum SGD on the bias-corrected first moment; after it, Adam's step times the
rectification ``r_t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .adam import AdamSettings, _AdamFamilyPart, _BatchedAdamFamily
from .base import OptimizerSettings, RaceRow

if TYPE_CHECKING:
    import torch

__all__ = ["RAdam", "BatchedRAdam", "RAdamPart", "radam_terms"]


class RAdam(AdamSettings):
    """``torch.optim.RAdam``: Adam with a rectified adaptive rate, no warm-up needed.

    ``decoupled_weight_decay`` applies the weight decay to the weights (as AdamW) instead of
    adding it to the gradient."""

    kind: Literal["radam"] = "radam"
    decoupled_weight_decay: bool = False


def radam_terms(beta2: float, step: float) -> tuple[float, float]:
    """``(rho_t, r_t)`` at ``step`` as torch computes them (``r_t`` is 0 while ``rho_t <= 5``)."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / (1 - beta2**step)
    if rho_t <= 5.0:
        return rho_t, 0.0
    return rho_t, ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


class BatchedRAdam(_BatchedAdamFamily):
    """``torch.optim.RAdam`` per row: each run's ``rho_t`` chooses its rectified or plain step."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.exp_avg_sq = self.zeros(params)

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        return (cfg.kind, cfg.decoupled_weight_decay)

    def _coefficients(self, lrs: list[float], step: float) -> tuple[list[float], list[float]]:
        """Per row: the factor on ``m / (sqrt(v) + eps)`` (rectified) and on ``m`` (plain)."""
        adaptive, plain = [], []
        for lr, b1, b2 in zip(lrs, self.beta1, self.beta2, strict=True):
            _, rect = radam_terms(b2, step)
            bc1 = 1 - b1**step
            if rect:
                adaptive.append(lr * rect * (1 - b2**step) ** 0.5 / bc1)
                plain.append(0.0)
            else:
                adaptive.append(0.0)
                plain.append(lr / bc1)
        return adaptive, plain

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        if self.cfgs[0].decoupled_weight_decay:
            if self.any_weight_decay:
                p.mul_(self.column([1 - lr * c.weight_decay for lr, c in zip(lrs, self.cfgs, strict=True)]))
        else:
            g = self.coupled_weight_decay(p, g)
        self.exp_avg.lerp_(g, self.one_minus_beta1)
        self.exp_avg_sq.mul_(self.beta2_column).addcmul_(torch.mul(g, self.one_minus_beta2), g)
        adaptive, plain = self._coefficients(lrs, step)
        factor = self.column(plain)
        if any(adaptive):
            factor = torch.add(factor, self.column(adaptive) / (self.exp_avg_sq.sqrt() + self.eps))
        p.sub_(self.exp_avg * factor)

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        step = float(self.step_count)
        rect = [radam_terms(b2, step)[1] for b2 in self.beta2]
        on = self.column64(
            [lr * r * (1 - b2**step) ** 0.5 for lr, r, b2 in zip(lrs, rect, self.beta2, strict=True)]
        )
        off = self.column64([0.0 if r else lr for lr, r in zip(lrs, rect, strict=True)])
        return off + on / (self.exp_avg_sq.double().sqrt() + self.eps64())


class RAdamPart(_AdamFamilyPart):
    config: ClassVar[type[OptimizerSettings]] = RAdam
    title = "RAdam"
    torch_name = "RAdam"
    batched = BatchedRAdam
    labels = {**_AdamFamilyPart.labels, "decoupled_weight_decay": "Decoupled weight decay"}
    race: ClassVar[tuple[RaceRow, ...]] = (("RAdam", lambda s, a: RAdam(lr=a), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {**super().torch_kwargs(cfg), "decoupled_weight_decay": cfg.decoupled_weight_decay}

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """Rectified: ``lr * r_t * sqrt(1 - b2^t) / (sqrt(v) + eps)`` on the bias-corrected first
        moment; while ``rho_t <= 5`` (no rectification yet) the rate itself, as momentum SGD."""
        import torch

        step = float(state["step"])
        b2 = group["betas"][1]
        _, rect = radam_terms(b2, step)
        if not rect:
            return torch.full_like(p, lr, dtype=torch.float64)
        return lr * rect * (1 - b2**step) ** 0.5 / (state["exp_avg_sq"].double().sqrt() + group["eps"])
