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

import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import lr_scheduler as sched

from .config import OptimizerConfig, ScheduleConfig
from .optimizers import part_for
from .schedules import part_for as schedule_part
from .schedules import per_epoch_kinds
from .schedules.plateau import KerasPlateau

__all__ = ["build_optimizer", "LRSchedule", "ConstantRate", "KerasPlateau", "lr_preview", "PER_EPOCH_KINDS"]

#: the schedule kinds stepped after every epoch (from the schedule registry)
PER_EPOCH_KINDS = per_epoch_kinds()


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: OptimizerConfig, *, fused: bool = False
) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer ``cfg`` names, with every hyperparameter passed (its
    part's builder, :mod:`engine.optimizers`).

    ``fused=True`` asks for torch's fused kernel where the optimizer has one (SGD, Adam,
    AdamW, Adagrad on CPU and CUDA): the same update in one call, about a quarter less
    time per step for the small networks Optiscope trains. Others ignore it.
    """
    return part_for(cfg.kind).build(list(params), cfg, fused=fused)


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
        return schedule_part(self.cfg.kind).per_epoch

    def _start_main(self) -> None:
        c: Any = self.cfg  # one member of the ScheduleConfig union, chosen by its ``kind``
        opt = self.optimizer
        # The main schedule starts afresh from the optimizer's rate: a warm-up scheduler
        # leaves ``initial_lr`` behind, which CyclicLR would otherwise take as its base
        # rate for the first update after the hand-over.
        for group in opt.param_groups:
            group.pop("initial_lr", None)
        remaining = max(self.total_steps - c.warmup_steps, 1)
        self.main = schedule_part(c.kind).build(opt, c, remaining)  # the schedule's part builds it
        if self.factor != 1.0:
            self._carry_live_change(c.kind)

    def _carry_live_change(self, kind: str) -> None:
        """Apply the live changes made during the warm-up to a main schedule just built.

        The schedulers that start from the optimizer's (already scaled) rate need only
        their absolute settings scaled; cyclic and one-cycle set the rate from their own
        bounds (``sets_rate``), so those and the rate are scaled.
        """
        f, s = self.factor, self.main
        if schedule_part(kind).sets_rate:
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
        main: Any = self.main
        cfg: Any = self.cfg
        if schedule_part(cfg.kind).metric_driven:  # stepped on the monitored value
            main.step(metrics[cfg.monitor])
            new = self.lr
            return (old, new) if new < old else None
        main.step()
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
            if not schedule_part(cfg.kind).metric_driven:
                s.after_epoch({})
    return out
