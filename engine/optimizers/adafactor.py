"""Adafactor (Shazeer & Stern 2018, ``torch.optim.Adafactor``): a factored second moment.

For a weight matrix the second moment is kept as a row and a column average (memory
``n + m`` instead of ``n * m``) and rebuilt as their outer product; vectors keep a full one.
The step is relative to the weights' size: ``alpha = max(eps2, RMS(W)) * min(lr, 1/sqrt(t))``,
and an update whose RMS exceeds ``d`` is scaled down to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..schema import LR, WD
from .base import OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["Adafactor", "AdafactorPart"]

#: float32's machine epsilon: torch's ``eps1`` for float32 weights when it is left None
FLOAT32_EPS = 1.1920928955078125e-07


class Adafactor(OptimizerSettings):
    """``torch.optim.Adafactor``: Adam's second moment factored into row and column averages
    of each weight matrix; the step is relative to the weights' RMS (``lr`` caps the relative
    step ``min(lr, 1/√t)``) and clipped to an update RMS of ``d``."""

    kind: Literal["adafactor"] = "adafactor"
    lr: LR = 0.01
    beta2_decay: float = Field(-0.8, ge=-10.0, le=0.0, description="1 - beta2_t = t ** beta2_decay")
    eps1: float = Field(FLOAT32_EPS, gt=0.0, le=1.0, description="floor of the second moment (squared)")
    eps2: float = Field(1e-3, ge=0.0, le=1.0, description="floor of the weights' RMS in the step size")
    d: float = Field(1.0, ge=1.0, le=100.0, description="clipping threshold of the update's RMS")
    weight_decay: WD = 0.0


class AdafactorPart(OptimizerPart):
    config = Adafactor
    title = "Adafactor"
    torch_name = "Adafactor"
    trains_alone = (
        "its second moment is factored by each weight matrix's rows and columns, and the batched "
        "kernel holds a run's weights as one flat row (no vectorised twin yet)"
    )
    labels = {
        "beta2_decay": "β2 decay exponent",
        "eps1": "ε1 (moment floor)",
        "eps2": "ε2 (RMS floor)",
        "d": "Clip d",
    }
    race = (("Adafactor", lambda s, a: Adafactor(lr=min(a * 10, 1.0)), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "beta2_decay": cfg.beta2_decay,
            "eps": (cfg.eps1, cfg.eps2),
            "d": cfg.d,
            "weight_decay": cfg.weight_decay,
        }

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """``alpha / clip / sqrt(v_hat)``: the factor the step applies to the gradient, with the
        factored estimate ``v_hat = (R C) / mean(R)`` rebuilt from the row and column averages.

        ``alpha`` needs the weights' RMS *before* the update and the clip the update's RMS:
        while the gradient is still held (``p.grad``) the weights before are recovered from
        those after (``W_before = (W_after + step) / (1 - lr * wd)``, a fixed point reached in
        a few rounds); without it the weights after stand in and the clip is left out."""
        import torch

        eps1, eps2 = group["eps"]
        eps1 = torch.finfo(p.dtype).eps if eps1 is None else eps1
        t = float(state["step"])
        rho = min(lr, 1 / t**0.5)
        if state.get("row_var") is not None and p.dim() > 1:
            r, c = state["row_var"].double(), state["col_var"].double()
            v = (r @ c) / r.mean(dim=-2, keepdim=True).clamp(min=eps1)
        else:
            v = state["variance"].double()
        inv = v.clamp(min=eps1 * eps1).rsqrt()
        w_after = p.detach().double()
        rms = float(w_after.norm()) / p.numel() ** 0.5
        if p.grad is None:
            return max(eps2, rms) * rho * inv
        update = inv * p.grad.double()
        clip = max(1.0, float(update.norm()) / (update.numel() ** 0.5 * group["d"]))
        keep = 1 - lr * group["weight_decay"]
        for _ in range(6):  # the weights before the step: a contraction, converged in a few rounds
            alpha = max(eps2, rms) * rho
            before = (w_after + update * (alpha / clip)) / keep
            rms = float(before.norm()) / p.numel() ** 0.5
        return (max(eps2, rms) * rho / clip) * inv
