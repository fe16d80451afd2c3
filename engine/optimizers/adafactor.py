"""Adafactor (Shazeer & Stern 2018, ``torch.optim.Adafactor``): a factored second moment.

For a weight matrix the second moment is kept as a row and a column average (memory
``n + m`` instead of ``n * m``) and rebuilt as their outer product; vectors keep a full one.
The step is relative to the weights' size: ``alpha = max(eps2, RMS(W)) * min(lr, 1/sqrt(t))``,
and an update whose RMS exceeds ``d`` is scaled down to it. :class:`BatchedAdafactor` is the
vectorised twin (torch's single-tensor update, the path ``torch.optim.Adafactor`` takes by
default, on every parameter of every run at once).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..schema import LR, WD
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = ["Adafactor", "AdafactorPart", "BatchedAdafactor"]

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


class BatchedAdafactor(BatchedOptimizer):
    """``torch.optim.Adafactor`` per row, parameter by parameter (the row split by the run's
    parameter shapes): a matrix keeps its row and column averages of the squared gradient, a
    vector the full average; each parameter of each run steps by its own relative size
    ``alpha = max(eps2, RMS(W)) * min(lr, 1/sqrt(t))``, its update clipped to RMS ``d``.
    Every option may differ between rows."""

    uses_shapes = True

    def __init__(
        self,
        cfgs: Sequence[Any],
        start: int,
        stop: int,
        params: torch.Tensor,
        shapes: Sequence[tuple[int, ...]] | None = None,
    ) -> None:
        import torch

        super().__init__(cfgs, start, stop, params, shapes)
        n, dtype, device = self.n, params.dtype, self.device
        self.sizes = [math.prod(s) for s in self.shapes]
        #: a factored parameter's row and column averages; a vector's full average (None elsewhere)
        self.row_var: list[torch.Tensor | None] = []
        self.col_var: list[torch.Tensor | None] = []
        self.variance: list[torch.Tensor | None] = []
        zeros = torch.zeros  # the state torch keeps for each parameter, one per row
        for s in self.shapes:
            factored = len(s) > 1
            self.row_var.append(zeros(n, *s[:-1], 1, dtype=dtype, device=device) if factored else None)
            self.col_var.append(zeros(n, *s[:-2], 1, s[-1], dtype=dtype, device=device) if factored else None)
            self.variance.append(None if factored else zeros(n, *s, dtype=dtype, device=device))
        self.beta2_decay = [c.beta2_decay for c in self.cfgs]
        self.eps1 = self.column([c.eps1 for c in self.cfgs])
        self.eps1_squared = self.column([c.eps1 * c.eps1 for c in self.cfgs])
        self.eps2 = self.column64([c.eps2 for c in self.cfgs])
        self.d = self.column64([c.d for c in self.cfgs])
        #: each parameter's step factor ``alpha / clip`` at the last update, ``(n, 1)`` float64
        self.factors: list[torch.Tensor] = []

    def _col(self, t: torch.Tensor, ndim: int) -> torch.Tensor:
        """An ``(n, 1)`` column shaped to broadcast over ``(n, ...)`` tensors of ``ndim`` dims."""
        return t.view(-1, *([1] * (ndim - 1)))

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        one_minus_beta2 = self.column([step**bd for bd in self.beta2_decay])
        rho = self.column64([min(lr, 1 / step**0.5) for lr in lrs])
        keep = self.column([1 - lr * c.weight_decay for lr, c in zip(lrs, self.cfgs, strict=True)])
        weights, grads = self.leaves(p), self.leaves(g)
        self.factors = []
        for i, (w, grad, size) in enumerate(zip(weights, grads, self.sizes, strict=True)):
            dims = w.ndim
            rms = torch.linalg.vector_norm(w.reshape(self.n, -1), dim=1, keepdim=True).double() / size**0.5
            alpha = torch.maximum(rms, self.eps2) * rho
            if self.any_weight_decay:
                w.mul_(self._col(keep, dims))
            row_var, col_var, variance = self.row_var[i], self.col_var[i], self.variance[i]
            if row_var is not None and col_var is not None:
                weight = self._col(one_minus_beta2, dims)
                row_mean = torch.linalg.vector_norm(grad, dim=-1, keepdim=True).square_().div_(grad.size(-1))
                row_var.lerp_(row_mean, weight)
                col_mean = torch.linalg.vector_norm(grad, dim=-2, keepdim=True).square_().div_(grad.size(-2))
                col_var.lerp_(col_mean, weight)
                estimate = row_var @ col_var
                estimate.div_(torch.maximum(row_var.mean(dim=-2, keepdim=True), self._col(self.eps1, dims)))
            else:
                assert variance is not None
                variance.lerp_(grad * grad, self._col(one_minus_beta2, dims))
                estimate = variance.clone()
            upd = torch.maximum(estimate, self._col(self.eps1_squared, dims)).rsqrt_().mul_(grad)
            upd_rms = (
                torch.linalg.vector_norm(upd.reshape(self.n, -1), dim=1, keepdim=True).double() / size**0.5
            )
            factor = alpha / torch.clamp(upd_rms / self.d, min=1.0)
            self.factors.append(factor)
            w.addcmul_(upd, self._col(-factor.float(), dims))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        """``alpha / clip / sqrt(v_hat)`` per weight, as :meth:`AdafactorPart.effective_lr` reads
        it alone: the factor of the last update and the second-moment estimate it divided by
        (``v_hat = R C / mean(R)`` for a matrix, rebuilt from the row and column averages)."""
        import torch

        if not self.factors:  # before the first update: the rate itself
            return super().effective_lr(lrs)
        out = super().effective_lr(lrs)
        views = self.leaves(out)
        for i, view in enumerate(views):
            row_var, col_var, variance = self.row_var[i], self.col_var[i], self.variance[i]
            eps1 = self._col(self.eps1.double(), view.ndim)
            if row_var is not None and col_var is not None:
                r, c = row_var.double(), col_var.double()
                v = (r @ c) / torch.maximum(r.mean(dim=-2, keepdim=True), eps1)
            else:
                assert variance is not None
                v = variance.double()
            inv = torch.maximum(v, eps1 * eps1).rsqrt()
            view.copy_(self._col(self.factors[i], view.ndim) * inv)
        return out

    def reset_row(self, i: int) -> None:
        for state in (*self.row_var, *self.col_var, *self.variance):
            if state is not None:
                state[i].zero_()


class AdafactorPart(OptimizerPart):
    config = Adafactor
    title = "Adafactor"
    torch_name = "Adafactor"
    batched = BatchedAdafactor
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
