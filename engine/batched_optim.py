"""Vectorised twins of the ``torch.optim`` optimizers, one class per optimizer.

Each class updates a block of rows of a ``(K, D)`` parameter tensor -- one row per run,
each run with its own hyperparameters -- exactly as ``torch.optim``'s single-tensor
update would update that run alone. The per-run scalars torch computes in Python (bias
corrections, step sizes) are computed the same way here, per run, then held as ``(n, 1)``
float32 columns. ``tests/engine/test_sweep.py`` checks every class against
``torch.optim`` step for step.

:func:`optimizer_group_key` says which runs can share one instance (same class and the
same structural switches); :data:`BATCHED_OPTIMIZERS` maps each optimizer kind to its
class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

__all__ = ["BATCHED_OPTIMIZERS", "BatchedOptimizer", "optimizer_group_key", "build_batched_optimizer"]


def column(values: Sequence[float], device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``values`` as an ``(n, 1)`` tensor: one per-run scalar per row."""
    return torch.tensor(list(values), dtype=dtype, device=device).view(-1, 1)


class BatchedOptimizer:
    """Updates rows ``[start, stop)`` of the parameter matrix, one run per row.

    Subclasses set :attr:`state_names` (their per-row state tensors, zeroed by
    :meth:`reset_row` when a run finishes) and implement :meth:`update`.
    """

    state_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        self.cfgs = list(cfgs)
        self.start, self.stop = start, stop
        self.n = stop - start
        self.device = params.device
        self.step_count = 0
        self.weight_decay = self.column([c.weight_decay for c in cfgs])
        self.any_weight_decay = any(c.weight_decay != 0 for c in cfgs)
        self._negative_lr: tuple[list[float], torch.Tensor] | None = None
        self._views: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.zeros_shape = (self.n, params.shape[1])

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        """Runs whose keys are equal can share one instance."""
        return (cfg.kind,)

    def column(self, values: Sequence[float]) -> torch.Tensor:
        return column(values, self.device)

    def column64(self, values: Sequence[float]) -> torch.Tensor:
        return column(values, self.device, torch.float64)

    def eps64(self) -> torch.Tensor:
        """Each row's ``eps`` as a float64 column (for :meth:`effective_lr`)."""
        return self.column64([c.eps for c in self.cfgs])

    def zeros(self, params: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(params[self.start : self.stop])

    def negative_lr(self, lrs: list[float]) -> torch.Tensor:
        """``-lr`` per row, rebuilt only when a rate changed."""
        if self._negative_lr is None or self._negative_lr[0] != lrs:
            self._negative_lr = (list(lrs), self.column([-v for v in lrs]))
        return self._negative_lr[1]

    @torch.no_grad()
    def step(self, params: torch.Tensor, grads: torch.Tensor, lrs: list[float]) -> None:
        """One update of this block's rows with the per-run rates ``lrs``."""
        if self._views is None or self._views[0] is not params:
            self._views = (params, params[self.start : self.stop], grads[self.start : self.stop])
        p, g = self._views[1], self._views[2]
        self.step_count += 1
        self.update(p, g, lrs, float(self.step_count))

    def coupled_weight_decay(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``g + weight_decay * p`` (torch's L2-style weight decay), a new tensor."""
        return torch.addcmul(g, p, self.weight_decay) if self.any_weight_decay else g

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        raise NotImplementedError

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        """Each parameter's effective rate ``(n, D)`` from the state after the last update at
        rates ``lrs`` (see :mod:`engine.inside`); here the rate itself, as for SGD."""
        return self.column64(lrs).expand(self.zeros_shape).clone()

    def step_multiplier(self) -> list[float]:
        """Momentum's long-run gain on each row's step (1 without momentum)."""
        return [1.0] * self.n

    def reset_row(self, i: int) -> None:
        """Zero row ``start + i``'s optimizer state (its run has finished)."""
        for name in self.state_names:
            t = getattr(self, name, None)
            if isinstance(t, torch.Tensor):
                t[i].zero_()


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


class BatchedAdagrad(BatchedOptimizer):
    """``torch.optim.Adagrad``: accumulated squared gradients, optional lr decay."""

    state_names = ("sum_of_squares",)

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.sum_of_squares = torch.cat(
            [
                torch.full_like(params[start + i : start + i + 1], c.initial_accumulator_value)
                for i, c in enumerate(self.cfgs)
            ]
        )
        self.eps = self.column([c.eps for c in cfgs])

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        g = self.coupled_weight_decay(p, g)
        clr = [-lr / (1 + (step - 1) * c.lr_decay) for lr, c in zip(lrs, self.cfgs, strict=True)]
        self.sum_of_squares.addcmul_(g, g)
        std = self.sum_of_squares.sqrt().add_(self.eps)
        p.add_(torch.mul(g, self.column(clr)).div_(std))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        step = float(self.step_count)
        clr = [lr / (1 + (step - 1) * c.lr_decay) for lr, c in zip(lrs, self.cfgs, strict=True)]
        return self.column64(clr) / (self.sum_of_squares.double().sqrt() + self.eps64())


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


class _AdamFamily(BatchedOptimizer):
    """What Adam, AdamW, NAdam and Adamax share: betas, eps and the first moment."""

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.beta1 = [c.beta1 for c in self.cfgs]
        self.beta2 = [c.beta2 for c in self.cfgs]
        self.one_minus_beta1 = self.column([1 - b for b in self.beta1])
        self.beta2_column = self.column(self.beta2)
        self.one_minus_beta2 = self.column([1 - b for b in self.beta2])
        self.eps = self.column([c.eps for c in cfgs])
        self.exp_avg = self.zeros(params)


class BatchedAdam(_AdamFamily):
    """``torch.optim.Adam`` (and AMSGrad), weight decay added to the gradient."""

    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    decoupled = False

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.exp_avg_sq = self.zeros(params)
        self.max_exp_avg_sq = self.zeros(params) if self.cfgs[0].amsgrad else None

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        return (cfg.kind, cfg.amsgrad)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        if self.decoupled:
            if self.any_weight_decay:
                p.mul_(self.column([1 - lr * c.weight_decay for lr, c in zip(lrs, self.cfgs, strict=True)]))
        else:
            g = self.coupled_weight_decay(p, g)
        self.exp_avg.lerp_(g, self.one_minus_beta1)
        self.exp_avg_sq.mul_(self.beta2_column).addcmul_(torch.mul(g, self.one_minus_beta2), g)
        bias_correction2_sqrt = self.column([(1 - b2**step) ** 0.5 for b2 in self.beta2])
        negative_step = self.column([-lr / (1 - b1**step) for lr, b1 in zip(lrs, self.beta1, strict=True)])
        second = self.exp_avg_sq
        if self.max_exp_avg_sq is not None:
            torch.maximum(self.max_exp_avg_sq, self.exp_avg_sq, out=self.max_exp_avg_sq)
            second = self.max_exp_avg_sq
        denom = (second.sqrt() / bias_correction2_sqrt).add_(self.eps)
        p.add_(torch.mul(self.exp_avg, negative_step).div_(denom))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        step = float(self.step_count)
        second = self.max_exp_avg_sq if self.max_exp_avg_sq is not None else self.exp_avg_sq
        bc2_sqrt = self.column64([(1 - b2**step) ** 0.5 for b2 in self.beta2])
        return self.column64(lrs) / (second.double().sqrt() / bc2_sqrt + self.eps64())


class BatchedAdamW(BatchedAdam):
    """``torch.optim.AdamW``: Adam with weight decay applied to the weights directly."""

    decoupled = True


class BatchedNAdam(_AdamFamily):
    """``torch.optim.NAdam``: Nesterov momentum with the momentum-decay schedule."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.exp_avg_sq = self.zeros(params)
        self.momentum_decay = [c.momentum_decay for c in self.cfgs]
        self.mu_product = torch.ones(self.n, dtype=torch.float32)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        g = self.coupled_weight_decay(p, g)
        pairs = list(zip(self.beta1, self.momentum_decay, strict=True))
        bias_correction2 = self.column([1 - b2**step for b2 in self.beta2])
        mu = [b1 * (1.0 - 0.5 * (0.96 ** (step * md))) for b1, md in pairs]
        mu_next = [b1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md))) for b1, md in pairs]
        self.mu_product.mul_(torch.tensor(mu, dtype=torch.float32))
        mu_product = self.mu_product.tolist()
        self.exp_avg.lerp_(g, self.one_minus_beta1)
        self.exp_avg_sq.mul_(self.beta2_column).addcmul_(torch.mul(g, self.one_minus_beta2), g)
        denom = self.exp_avg_sq.div(bias_correction2).sqrt().add_(self.eps)
        grad_step = [-lr * (1.0 - m) / (1.0 - mp) for lr, m, mp in zip(lrs, mu, mu_product, strict=True)]
        avg_step = [(-lr * mn) / (1.0 - mp * mn) for lr, mn, mp in zip(lrs, mu_next, mu_product, strict=True)]
        p.add_(torch.mul(g, self.column(grad_step)).div_(denom))
        p.add_(torch.mul(self.exp_avg, self.column(avg_step)).div_(denom))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        step = float(self.step_count)
        bc2 = self.column64([1 - b2**step for b2 in self.beta2])
        return self.column64(lrs) / ((self.exp_avg_sq.double() / bc2).sqrt() + self.eps64())


class BatchedAdamax(_AdamFamily):
    """``torch.optim.Adamax``: the infinity norm instead of the second moment."""

    state_names = ("exp_avg", "exp_inf")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.exp_inf = self.zeros(params)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        g = self.coupled_weight_decay(p, g)
        self.exp_avg.lerp_(g, self.one_minus_beta1)
        torch.maximum(self.exp_inf.mul_(self.beta2_column), g.abs().add_(self.eps), out=self.exp_inf)
        clr = [-lr / (1 - b1**step) for lr, b1 in zip(lrs, self.beta1, strict=True)]
        p.add_(torch.mul(self.exp_avg, self.column(clr)).div_(self.exp_inf))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        return self.column64(lrs) / self.exp_inf.double()


class BatchedAdadelta(BatchedOptimizer):
    """``torch.optim.Adadelta``."""

    state_names = ("square_avg", "acc_delta")

    def __init__(self, cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor) -> None:
        super().__init__(cfgs, start, stop, params)
        self.rho = self.column([c.rho for c in cfgs])
        self.one_minus_rho = self.column([1 - c.rho for c in cfgs])
        self.eps = self.column([c.eps for c in cfgs])
        self.square_avg = self.zeros(params)
        self.acc_delta = self.zeros(params)

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        g = self.coupled_weight_decay(p, g)
        self.square_avg.mul_(self.rho).addcmul_(torch.mul(g, self.one_minus_rho), g)
        std = self.square_avg.add(self.eps).sqrt_()
        delta = self.acc_delta.add(self.eps).sqrt_()
        delta.div_(std).mul_(g)
        self.acc_delta.mul_(self.rho).addcmul_(torch.mul(delta, self.one_minus_rho), delta)
        p.addcmul_(delta, self.negative_lr(lrs))

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        eps = self.eps64()
        scale = (self.acc_delta.double() + eps).sqrt() / (self.square_avg.double() + eps).sqrt()
        return self.column64(lrs) * scale


BATCHED_OPTIMIZERS: dict[str, type[BatchedOptimizer]] = {
    "sgd": BatchedSGD,
    "adagrad": BatchedAdagrad,
    "rmsprop": BatchedRMSprop,
    "adam": BatchedAdam,
    "adamw": BatchedAdamW,
    "nadam": BatchedNAdam,
    "adamax": BatchedAdamax,
    "adadelta": BatchedAdadelta,
}


def optimizer_group_key(cfg: Any) -> tuple:
    """Runs in one vectorised optimizer share its class and structural switches."""
    return BATCHED_OPTIMIZERS[cfg.kind].group_key(cfg)


def build_batched_optimizer(
    cfgs: Sequence[Any], start: int, stop: int, params: torch.Tensor
) -> BatchedOptimizer:
    """The vectorised optimizer for rows ``[start, stop)``, whose configs share one group key."""
    return BATCHED_OPTIMIZERS[cfgs[0].kind](cfgs, start, stop, params)
