"""Reduce on plateau, as Keras 2 runs it, stepped after every epoch on a monitored metric."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .. import outcome
from ..formats import format_setting as num
from ..schema import MAX_RATE
from .base import SchedulePart, ScheduleSettings

if TYPE_CHECKING:
    import torch

__all__ = ["Plateau", "KerasPlateau", "PlateauPart"]


class Plateau(ScheduleSettings):
    """``ReduceLROnPlateau``, stepped after every epoch on the monitored metric."""

    kind: Literal["plateau"] = "plateau"
    monitor: Literal["val_loss", "train_loss", "val_acc", "train_acc"] = "val_loss"
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=0, le=100_000)
    min_delta: float = Field(1e-4, ge=0.0, le=1e3)
    cooldown: int = Field(0, ge=0, le=100_000)
    min_lr: float = Field(0.0, ge=0.0, le=MAX_RATE)


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


class PlateauPart(SchedulePart):
    config = Plateau
    title = "Reduce on plateau"
    per_epoch = True
    metric_driven = True
    labels = {"min_delta": "Min improvement", "min_lr": "Minimum LR"}

    @classmethod
    def words(cls, cfg: Any) -> str:
        return f"plateau x{num(cfg.factor)} patience={cfg.patience}"

    @classmethod
    def build(cls, optimizer: Any, cfg: Any, remaining: int) -> KerasPlateau:
        return KerasPlateau(
            optimizer,
            maximize=outcome.maximize(cfg.monitor),
            factor=cfg.factor,
            patience=cfg.patience,
            min_delta=cfg.min_delta,
            cooldown=cfg.cooldown,
            min_lr=cfg.min_lr,
        )

    @classmethod
    def rule(cls, cfg: Any, steps_per_epoch: int) -> str:
        """ReduceLROnPlateau's rule in words (its LR depends on the run, so it has no preview)."""
        better = "rise" if outcome.maximize(cfg.monitor) else "fall"
        metric = cfg.monitor.replace("_", " ").replace("val", "validation").replace("acc", "accuracy")
        text = (
            f"Depends on the run: after every epoch, if the {metric} has not "
            f"{'risen' if better == 'rise' else 'fallen'} "
            f"by more than {cfg.min_delta:g} for {cfg.patience} epoch{'s' if cfg.patience != 1 else ''}, "
            f"the learning rate is multiplied by {cfg.factor:g}"
        )
        if cfg.cooldown:
            text += f", then it waits {cfg.cooldown} epochs before watching again"
        text += f"; it never goes below {cfg.min_lr:g}."
        if cfg.warmup_steps:
            text = f"Linear warm-up over {cfg.warmup_steps} updates first. " + text
        return text
