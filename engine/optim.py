"""Optimizers from ``torch.optim`` and LR schedules from ``torch.optim.lr_scheduler``.

:class:`LRSchedule` drives one optimizer's learning rate: call :meth:`LRSchedule.after_step`
after every update and :meth:`LRSchedule.after_epoch` after every epoch. Warm-up is a
``LinearLR`` over the first ``warmup_steps`` updates; the main schedule starts when it ends,
from its own step 0.

Hand-over to a per-epoch schedule (step, exponential, plateau): the epoch in which the
warm-up ends is the main schedule's first epoch, and the rate still changes only at
epoch ends. A warm-up ending on an epoch boundary therefore gives the next epoch the base
rate (16 updates per epoch, warm-up 32, ``exponential(0.5)``: epochs 3, 4, 5 train at
``lr``, ``lr/2``, ``lr/4``); one ending mid-epoch gives the rest of that epoch the base
rate and counts it as the main schedule's epoch 0 (warm-up 40: updates 41-48, the rest of
epoch 3, at ``lr``, epoch 4 at ``lr/2``). This is torch's per-epoch ``scheduler.step()``
called at the end of every epoch in which the main schedule made an update.

A live change (:meth:`LRSchedule.scale`) multiplies the whole schedule, the part still to
come after the warm-up included (cyclic and one-cycle bounds, cosine's floor, plateau's
minimum).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import lr_scheduler as sched

from .config import OptimizerConfig, ScheduleConfig

__all__ = ["build_optimizer", "LRSchedule", "ConstantRate", "KerasPlateau", "lr_preview", "PER_EPOCH_KINDS"]

PER_EPOCH_KINDS = frozenset({"step", "exponential", "plateau"})


FUSED_KINDS = frozenset({"sgd", "adam", "adamw", "adagrad"})


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: OptimizerConfig, *, fused: bool = False
) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer ``cfg`` names, with every hyperparameter passed.

    ``fused=True`` asks for torch's fused kernel where the optimizer has one (SGD, Adam,
    AdamW, Adagrad on CPU and CUDA): the same update in one call, about a quarter less
    time per step for the small networks Optiscope trains. Others ignore it.
    """
    params = list(params)
    if fused and cfg.kind in FUSED_KINDS:
        try:
            return _build(params, cfg, {"fused": True})
        except (RuntimeError, ValueError):  # device or dtype without a fused kernel
            pass
    return _build(params, cfg, {})


def _build(params: list[torch.nn.Parameter], cfg: Any, extra: dict) -> torch.optim.Optimizer:
    # ``cfg`` is one member of the OptimizerConfig union, chosen by its ``kind`` tag (which
    # a type checker cannot narrow on), hence Any
    k = cfg.kind
    if k == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            dampening=cfg.dampening,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
            **extra,
        )
    if k == "adagrad":
        return torch.optim.Adagrad(
            params,
            lr=cfg.lr,
            lr_decay=cfg.lr_decay,
            weight_decay=cfg.weight_decay,
            initial_accumulator_value=cfg.initial_accumulator_value,
            eps=cfg.eps,
            **extra,
        )
    if k == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=cfg.lr,
            alpha=cfg.alpha,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            momentum=cfg.momentum,
            centered=cfg.centered,
        )
    betas = (getattr(cfg, "beta1", 0.9), getattr(cfg, "beta2", 0.999))
    if k == "adam":
        return torch.optim.Adam(
            params,
            lr=cfg.lr,
            betas=betas,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            amsgrad=cfg.amsgrad,
            **extra,
        )
    if k == "adamw":
        return torch.optim.AdamW(
            params,
            lr=cfg.lr,
            betas=betas,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            amsgrad=cfg.amsgrad,
            **extra,
        )
    if k == "nadam":
        return torch.optim.NAdam(
            params,
            lr=cfg.lr,
            betas=betas,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            momentum_decay=cfg.momentum_decay,
        )
    if k == "adamax":
        return torch.optim.Adamax(params, lr=cfg.lr, betas=betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    if k == "adadelta":
        return torch.optim.Adadelta(
            params, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps, weight_decay=cfg.weight_decay
        )
    raise ValueError(f"unknown optimizer kind {k!r}")  # pragma: no cover


class KerasPlateau:
    """ReduceLROnPlateau exactly as Keras 2 runs it (the reading list's studies used Keras).

    After each epoch: while cooling down, count the cooldown down and reset the wait; an
    improvement (by more than ``min_delta``) resets the wait; otherwise, outside the
    cooldown, the wait grows, and once it reaches ``patience`` the rate is multiplied by
    ``factor`` (not below ``min_lr``) and the cooldown starts. torch's
    ``ReduceLROnPlateau`` waits one epoch longer (``num_bad_epochs > patience``) and, with
    a cooldown, starts counting one epoch later.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        maximize: bool,
        factor: float,
        patience: int,
        min_delta: float,
        cooldown: int,
        min_lr: float,
    ) -> None:
        self.optimizer = optimizer
        self.maximize = maximize
        self.factor = factor
        self.patience = patience
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lrs = [min_lr for _ in optimizer.param_groups]
        self.best = -math.inf if maximize else math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, value: float) -> bool:
        if self.maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def step(self, value: float) -> None:
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best = value
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                    old = float(group["lr"])
                    if old > min_lr:
                        group["lr"] = max(old * self.factor, min_lr)
                self.cooldown_counter = self.cooldown
                self.wait = 0


class ConstantRate:
    """A constant learning rate with :class:`LRSchedule`'s interface and no optimizer.

    The batched engine keeps each run's rate itself; for a constant schedule without
    warm-up it needs no ``torch.optim`` optimizer to drive a scheduler (building the first
    one in a process imports ``torch._dynamo``, about as long as importing torch).
    """

    per_epoch = False
    main = None
    warmup = None

    def __init__(self, lr: float) -> None:
        self._lr = float(lr)

    @property
    def lr(self) -> float:
        return self._lr

    def after_step(self) -> None:
        return None

    def after_epoch(self, metrics: dict[str, float]) -> None:
        return None

    def scale(self, factor: float) -> None:
        self._lr *= factor


class LRSchedule:
    """Runs the schedule ``cfg`` describes on ``optimizer`` for a run of known length."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        cfg: ScheduleConfig,
        steps_per_epoch: int,
        epochs: int,
    ) -> None:
        self.optimizer = optimizer
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = steps_per_epoch * epochs
        self.step_count = 0
        self.factor = 1.0  # product of the live changes so far (see ``scale``)
        self.main: sched.LRScheduler | KerasPlateau | None = None
        self.warmup: sched.LinearLR | None = None
        if cfg.warmup_steps > 0:
            self.warmup = sched.LinearLR(
                optimizer,
                start_factor=cfg.warmup_start_factor,
                end_factor=1.0,
                total_iters=cfg.warmup_steps,
            )
        else:
            self._start_main()

    @property
    def lr(self) -> float:
        """The rate the next update will use (first parameter group)."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def per_epoch(self) -> bool:
        return self.cfg.kind in PER_EPOCH_KINDS

    def _start_main(self) -> None:
        c: Any = self.cfg  # one member of the ScheduleConfig union, chosen by its ``kind``
        opt = self.optimizer
        # The main schedule starts afresh from the optimizer's rate: a warm-up scheduler
        # leaves ``initial_lr`` behind, which CyclicLR would otherwise take as its base
        # rate for the first update after the hand-over.
        for group in opt.param_groups:
            group.pop("initial_lr", None)
        remaining = max(self.total_steps - c.warmup_steps, 1)
        k = c.kind
        if k == "constant":
            self.main = None
        elif k == "time_decay":
            decay = c.decay
            self.main = sched.LambdaLR(opt, lambda i: 1.0 / (1.0 + decay * i))
        elif k == "step":
            self.main = sched.StepLR(opt, step_size=c.step_epochs, gamma=c.gamma)
        elif k == "exponential":
            self.main = sched.ExponentialLR(opt, gamma=c.gamma)
        elif k == "cosine":
            self.main = sched.CosineAnnealingLR(opt, T_max=c.t_max_steps or remaining, eta_min=c.eta_min)
        elif k == "cosine_restarts":
            self.main = sched.CosineAnnealingWarmRestarts(
                opt, T_0=c.t0_steps, T_mult=c.t_mult, eta_min=c.eta_min
            )
        elif k == "cyclic":
            self.main = sched.CyclicLR(
                opt,
                base_lr=c.base_lr,
                max_lr=c.max_lr,
                step_size_up=c.step_size,
                mode=c.mode,
                gamma=c.gamma,
                cycle_momentum=False,
            )
        elif k == "one_cycle":
            self.main = sched.OneCycleLR(
                opt,
                max_lr=c.max_lr,
                total_steps=remaining,
                pct_start=c.pct_start,
                anneal_strategy=c.anneal_strategy,
                div_factor=c.div_factor,
                final_div_factor=c.final_div_factor,
                three_phase=c.three_phase,
                cycle_momentum=False,
            )
        elif k == "plateau":
            self.main = KerasPlateau(
                opt,
                maximize=c.monitor.endswith("acc"),
                factor=c.factor,
                patience=c.patience,
                min_delta=c.min_delta,
                cooldown=c.cooldown,
                min_lr=c.min_lr,
            )
        else:  # pragma: no cover
            raise ValueError(f"unknown schedule kind {k!r}")
        if self.factor != 1.0:
            self._carry_live_change(k)

    def _carry_live_change(self, kind: str) -> None:
        """Apply the live changes made during the warm-up to a main schedule just built.

        The schedulers that start from the optimizer's (already scaled) rate need only
        their absolute settings scaled; cyclic and one-cycle set the rate from their own
        bounds, so those and the rate are scaled.
        """
        f, s = self.factor, self.main
        if kind in ("cyclic", "one_cycle"):
            for group in self.optimizer.param_groups:
                group["lr"] *= f
                for key in ("initial_lr", "max_lr", "min_lr"):
                    if key in group:
                        group[key] *= f
            for attr in ("base_lrs", "max_lrs"):
                if isinstance(getattr(s, attr, None), list):
                    setattr(s, attr, [v * f for v in getattr(s, attr)])
        elif isinstance(s, sched.CosineAnnealingLR | sched.CosineAnnealingWarmRestarts):
            s.eta_min *= f
        elif isinstance(s, KerasPlateau):
            s.min_lrs = [v * f for v in s.min_lrs]

    def after_step(self) -> None:
        """Advance per-update schedules after an optimizer update."""
        self.step_count += 1
        if self.warmup is not None:
            if self.step_count <= self.cfg.warmup_steps:
                self.warmup.step()
                if self.step_count == self.cfg.warmup_steps:
                    self.warmup = None
                    self._start_main()
                return
        if isinstance(self.main, sched.LRScheduler) and not self.per_epoch:
            if isinstance(self.main, sched.OneCycleLR) and self.main.last_epoch >= self.main.total_steps:
                return  # OneCycleLR raises past its end; hold the final rate
            self.main.step()

    def after_epoch(self, metrics: dict[str, float]) -> tuple[float, float] | None:
        """Advance per-epoch schedules. Returns ``(old, new)`` when plateau reduced the LR."""
        if self.main is None or not self.per_epoch:
            return None
        if 0 < self.step_count <= self.cfg.warmup_steps:
            # the warm-up ended on this epoch's last update: the main schedule has made no
            # update yet, so this epoch end is not one of its epochs
            return None
        old = self.lr
        if isinstance(self.main, KerasPlateau):
            self.main.step(metrics[self.cfg.monitor])  # type: ignore[union-attr]
            new = self.lr
            return (old, new) if new < old else None
        self.main.step()
        return None

    def scale(self, factor: float) -> None:
        """Multiply the current and all future rates by ``factor`` (a user's LR change).

        Made during the warm-up, the change also reaches the main schedule built at the
        hand-over (``factor`` is kept and applied there).
        """
        self.factor *= factor
        for group in self.optimizer.param_groups:
            group["lr"] *= factor
            for key in ("initial_lr", "max_lr", "min_lr"):
                if key in group:
                    group[key] *= factor
        for s in (self.main, self.warmup):
            if s is None:
                continue
            for attr in ("base_lrs", "max_lrs", "min_lrs"):
                if isinstance(getattr(s, attr, None), list):
                    setattr(s, attr, [v * factor for v in getattr(s, attr)])
            if isinstance(s, sched.CosineAnnealingLR | sched.CosineAnnealingWarmRestarts):
                s.eta_min *= factor


def lr_preview(
    opt_cfg: OptimizerConfig, cfg: ScheduleConfig, steps_per_epoch: int, epochs: int
) -> list[float]:
    """The LR of every planned update, computed by the real schedulers on a dummy parameter.

    Plateau depends on the run's metrics, so its preview is flat (the GUI says so in words).
    """
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], opt_cfg)
    out: list[float] = []
    with warnings.catch_warnings():
        # no optimizer.step() happens here, which the schedulers would warn about
        warnings.simplefilter("ignore", UserWarning)
        s = LRSchedule(opt, cfg, steps_per_epoch, epochs)
        for _epoch in range(epochs):
            for _ in range(steps_per_epoch):
                out.append(s.lr)
                s.after_step()
            if cfg.kind != "plateau":
                s.after_epoch({})
    return out
