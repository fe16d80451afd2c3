"""Prodigy (Mishchenko & Defazio 2024, "Prodigy: An Expeditiously Adaptive Parameter-Free
Learner"), from the authors' ``prodigyopt`` package.

Adam whose step size is estimated while it trains: ``d`` starts at ``d0`` and grows
towards the distance to the solution (a running ratio of ``<g, x0 - x>`` to the summed
gradient magnitudes); the step is ``d * lr`` times Adam's normalised direction. ``lr``
stays 1.0 -- it is a multiplier on the estimate, not a learning rate to tune
(``d_coef`` is the knob the authors suggest). The package is imported only when a Prodigy
run is built.

The batched twin (:class:`BatchedProdigy`) keeps one estimate ``d`` per row: Prodigy's sums
over a run's weights are taken as the package takes them -- a float32 dot and sum per parameter
tensor, read into Python floats and added up tensor by tensor -- and the scalars the package
keeps in Python floats (``d``, ``d_max``, ``d_numerator``, ``k``) are Python floats per row
here too. Given the same gradients, its weights and ``d`` are the package's to the bit;
``tests/engine/test_package_twins.py`` checks that on a network's tensors, step by step.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ..schema import LR, WD, Beta, Eps
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings, keeping_gradients

if TYPE_CHECKING:
    import torch

__all__ = ["Prodigy", "BatchedProdigy", "ProdigyPart"]

#: floats to which the staging copy aligns each piece (512 bytes: a CPU tensor's 64-byte
#: alignment and a CUDA block's 512)
ALIGN = 128
#: torch's ``at::internal::GRAIN_SIZE``: a CPU sum of fewer numbers is not split over threads
GRAIN = 32768


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
    growth_rate: float | None = Field(
        None,
        ge=1.0,
        le=1e6,
        description="the most d may grow by in one update (none: unbounded, the package's default)",
    )
    beta3: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="decay of the running sums that estimate d (none: sqrt(beta2), the package's default)",
    )


class BatchedProdigy(BatchedOptimizer):
    """``prodigyopt.Prodigy`` per row, each run with its own estimate ``d``.

    The package's update for one parameter group, row by row: ``<g, x0 - x>`` and the sum of
    ``|s|`` make ``d``'s numerator and denominator, each a float32 dot or sum per parameter
    tensor (:attr:`shapes`) read into a Python float and accumulated in the row's tensor order,
    as the package does; the moments hold ``d``-scaled gradients; a run whose rate is 0, or
    whose ``|s|`` sums to 0, skips the update as the package returns early (no step, ``d`` and ``k`` unchanged). A finished run's
    row keeps its last ``d`` (to be read after the run): its zeroed sums make every later
    update such a skip.
    """

    state_names: ClassVar[tuple[str, ...]] = ("exp_avg", "exp_avg_sq", "s", "p0")
    uses_shapes = True

    def __init__(
        self,
        cfgs: Sequence[Any],
        start: int,
        stop: int,
        params: torch.Tensor,
        shapes: Sequence[tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__(cfgs, start, stop, params, shapes)
        cfgs = self.cfgs
        self.beta1 = [c.beta1 for c in cfgs]
        self.beta2 = [c.beta2 for c in cfgs]
        self.beta3 = [c.beta3 if c.beta3 is not None else math.sqrt(c.beta2) for c in cfgs]
        self.growth = [c.growth_rate if c.growth_rate is not None else math.inf for c in cfgs]
        self.d = [c.d0 for c in cfgs]
        self.d_max = [c.d0 for c in cfgs]
        self.d_numerator = [0.0] * self.n
        self.k = [0] * self.n  # updates made (a skipped one does not count), per row
        self.exp_avg = self.zeros(params) if cfgs[0].beta1 > 0 else None
        self.exp_avg_sq = self.zeros(params)
        self.s = self.zeros(params)
        self.p0 = self.zeros(params)  # the weights at the first update
        self.coupled = [c.weight_decay if not c.decouple else 0.0 for c in cfgs]
        self.any_coupled = any(self.coupled)
        # the package's sums, one per parameter tensor: (offset, size) of each in a row; and
        # for its dot products, a staging copy that starts each row's piece of each tensor on
        # a fresh allocation's alignment (the BLAS dot's rounding depends on its operands'
        # addresses; the package's operands are whole tensors, so aligned)
        self.pieces: list[tuple[int, int]] = []
        for shape in self.shapes:
            offset = self.pieces[-1][0] + self.pieces[-1][1] if self.pieces else 0
            self.pieces.append((offset, math.prod(shape)))
        self.starts: list[int] = []
        end = 0  # self.starts: where each tensor's piece starts in a staged row
        for _offset, size in self.pieces:
            self.starts.append(end)
            end += -(-size // ALIGN) * ALIGN
        self.stage = params.new_zeros(2, self.n, end)
        # each row's pair of views per tensor, row by row (the dot's operands)
        self.slots = [
            (self.stage[0, i, a : a + m], self.stage[1, i, a : a + m])
            for i in range(self.n)
            for a, (_offset, m) in zip(self.starts, self.pieces, strict=True)
        ]

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        return (cfg.kind, cfg.beta1 > 0)  # without a first moment the step is along g

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        import torch

        if step == 1:
            self.p0.copy_(p)
        cfgs, n = self.cfgs, self.n
        active = [lr > 0.0 for lr in lrs]
        bias = [
            ((1 - b2 ** (k + 1)) ** 0.5) / (1 - b1 ** (k + 1)) if c.use_bias_correction else 1.0
            for c, b1, b2, k in zip(cfgs, self.beta1, self.beta2, self.k, strict=True)
        ]
        dlr = [d * lr * bc for d, lr, bc in zip(self.d, lrs, bias, strict=True)]
        if self.any_coupled:
            g = torch.addcmul(g, p, self.column(self.coupled))
        # <g, x0 - x> per row and tensor: the package's float32 dot of each whole tensor
        moved = self.p0 - p
        for a, (offset, m) in zip(self.starts, self.pieces, strict=True):
            self.stage[0, :, a : a + m].copy_(g[:, offset : offset + m])
            self.stage[1, :, a : a + m].copy_(moved[:, offset : offset + m])
        dots = torch.stack([torch.dot(grad, moved) for grad, moved in self.slots])
        if self.exp_avg is not None:
            self.exp_avg.mul_(
                self.column([b1 if a else 1.0 for b1, a in zip(self.beta1, active, strict=True)])
            )
            scale = [d * (1 - b1) if a else 0.0 for d, b1, a in zip(self.d, self.beta1, active, strict=True)]
            self.exp_avg.addcmul_(g, self.column(scale))
        self.exp_avg_sq.mul_(
            self.column([b2 if a else 1.0 for b2, a in zip(self.beta2, active, strict=True)])
        )
        scale = [d * d * (1 - b2) if a else 0.0 for d, b2, a in zip(self.d, self.beta2, active, strict=True)]
        self.exp_avg_sq.addcmul_(torch.mul(g, self.column(scale)), g)
        self.s.mul_(self.column([b3 if a else 1.0 for b3, a in zip(self.beta3, active, strict=True)]))
        s_scale = [
            ((d / c.d0) * (d if c.safeguard_warmup else x)) if a else 0.0
            for c, d, x, a in zip(cfgs, self.d, dlr, active, strict=True)
        ]
        self.s.addcmul_(g, self.column(s_scale))
        # ... and the float32 sum of |s| per row and tensor
        sums = self.tensor_sums(self.s.abs())
        values = torch.cat([dots, sums]).view(2, n, len(self.pieces)).tolist()  # one sync
        step_scale, decay, eps_d, moves = [0.0] * n, [0.0] * n, [0.0] * n, False
        for i, c in enumerate(cfgs):
            d = self.d[i]
            # the package's Python-float accumulation, tensor by tensor in the row's order
            delta, denominator = 0.0, 0.0
            for dot, total in zip(values[0][i], values[1][i], strict=True):
                delta += (d / c.d0) * dlr[i] * dot
                denominator += total
            if active[i] and denominator != 0.0:  # the package returns early otherwise
                numerator = self.d_numerator[i] * self.beta3[i] + delta
                d_hat = c.d_coef * numerator / denominator
                if d == c.d0:
                    d = max(d, d_hat)
                self.d_max[i] = d_max = max(self.d_max[i], d_hat)
                self.d[i] = d = min(d_max, d * self.growth[i])
                self.d_numerator[i] = numerator
                self.k[i] += 1
                step_scale[i] = -dlr[i] if self.exp_avg is not None else -dlr[i] * d
                if c.decouple:
                    decay[i] = -c.weight_decay * dlr[i]
                moves = True
            eps_d[i] = d * c.eps
        if not moves:
            return
        denom = self.exp_avg_sq.sqrt().add_(self.column(eps_d))
        if any(decay):
            p.addcmul_(p, self.column(decay))
        direction = self.exp_avg if self.exp_avg is not None else g
        p.add_(torch.mul(direction, self.column(step_scale)).div_(denom))  # addcdiv's order

    def tensor_sums(self, block: torch.Tensor) -> torch.Tensor:
        """The float32 sum of each row's piece of each parameter tensor, flat ``(n * tensors,)``
        row by row: one reduction over the rows per tensor where that rounds as the package's
        sum of the whole tensor does (torch's CPU sum of fewer than ``GRAIN`` numbers runs in one
        thread, the same loop for a row as for a vector), else one sum per row and tensor."""
        import torch

        sums = []
        for offset, size in self.pieces:
            piece = block[:, offset : offset + size]
            if self.device.type == "cpu" and size < GRAIN:
                sums.append(piece.sum(1))
            else:
                sums.append(torch.stack([row.sum() for row in piece]))
        return torch.stack(sums, 1).view(-1)

    def step_sizes(self, lrs: list[float]) -> list[float]:
        """``d * lr`` per row: the step size each run applies now (:meth:`ProdigyPart.step_size`)."""
        return [d * lr for d, lr in zip(self.d, lrs, strict=True)]

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        """As :meth:`ProdigyPart.effective_lr`, per row (each with its own ``d`` and ``k``)."""
        bias = [
            (1 - b2**k) ** 0.5 / (1 - b1**k) if c.use_bias_correction and k else 1.0
            for c, b1, b2, k in zip(self.cfgs, self.beta1, self.beta2, self.k, strict=True)
        ]
        d = self.column64(self.d)
        rate = self.column64([di * lr * bc for di, lr, bc in zip(self.d, lrs, bias, strict=True)])
        return rate / (self.exp_avg_sq.double().sqrt() / d + self.column64([c.eps for c in self.cfgs]))


class ProdigyPart(OptimizerPart):
    config = Prodigy
    title = "Prodigy (no LR)"
    torch_name = "Prodigy"
    package = "prodigyopt"
    batched = BatchedProdigy
    labels = {
        "decouple": "Decoupled weight decay",
        "use_bias_correction": "Bias correction",
        "safeguard_warmup": "Safeguard warm-up",
        "d0": "Initial d",
        "d_coef": "d coefficient",
        "growth_rate": "d growth limit",
        "beta3": "β3 (d's sums)",
    }
    race = (("Prodigy", lambda s, a: Prodigy(), False),)
    inside_note = (
        "Prodigy's rate is d × lr × Adam's per-weight factor, d being its running estimate of the "
        "step size (read after the update, which used the estimate before it)."
    )

    @classmethod
    def torch_class(cls) -> type:
        from prodigyopt import Prodigy as ProdigyOptimizer

        return keeping_gradients(ProdigyOptimizer)  # coupled weight decay changes p.grad in place

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
            "growth_rate": cfg.growth_rate if cfg.growth_rate is not None else math.inf,
            "beta3": cfg.beta3,
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
