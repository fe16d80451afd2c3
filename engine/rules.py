"""The training rules, each a small per-run object the loop driver calls.

As pytorch-ignite's handlers (``TerminateOnNan``, ``EarlyStopping``), a rule reacts to
what the loop reports -- an update's loss, an epoch's metrics -- and may emit events or
end its run; it never runs training itself. The driver (:mod:`engine.loop`) calls the
same rule objects whether a run trains alone (``torch.optim``) or batched with others,
so each rule exists once.

A rule sees its run through a :class:`RunHandle` (the driver's ``RunState`` is one): the
run's id, its schedule and epochs, ``emit(event)``, ``finish(reason)`` and
``save_best()`` / ``restore_best()`` for the weights.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Protocol

from . import events as ev
from . import outcome


class RunHandle(Protocol):
    """What a rule may read and do to its run."""

    run_id: int
    schedule: Any
    epochs: list[ev.EpochEnd]
    best_epoch: int | None
    diverged_step: int | None
    first_loss: float | None  # the loss of the run's first update (None before it)
    reason: ev.FinishReason  # a rule may relabel a finished run in run_done

    def emit(self, event: ev.Event) -> None: ...
    def finish(self, reason: ev.FinishReason) -> None: ...
    def save_best(self) -> None: ...
    def restore_best(self) -> None: ...


__all__ = [
    "RunHandle",
    "Rule",
    "DivergenceGuard",
    "NotLearning",
    "ScheduleStepper",
    "EarlyStopping",
    "BestEpoch",
    "default_rules",
]


class Rule:
    """A per-run training rule. Override the hooks it needs.

    ``per_step`` says whether :meth:`step_done` must be called after every update (the
    driver skips it otherwise, keeping the per-update cost of K runs small); ``moves_lr``
    that it may change the run's rate there (the driver then reads the rate afresh).
    """

    per_step: ClassVar[bool] = False
    moves_lr: ClassVar[bool] = False  # its step_done may change the run's rate

    def step_done(self, run: RunHandle, step: int, epoch: int, loss: float) -> None:
        """After an update whose loss was ``loss``."""

    def epoch_done(self, run: RunHandle, metrics: ev.EpochEnd) -> None:
        """After an epoch's evaluation; the run is alive."""

    def run_done(self, run: RunHandle) -> None:
        """Once, when the run has finished for any reason but a failure."""


def diverge_limit(first_loss: float, factor: float | None) -> float:
    """The loss above which a run counts as diverged (``math.inf``: NaN/Inf only)."""
    if factor is None or not math.isfinite(first_loss):
        return math.inf
    return factor * max(abs(first_loss), 1.0)


class DivergenceGuard(Rule):
    """A NaN/Inf loss, or one above ``factor`` x the first update's loss, ends the run.

    Plain SGD at LR 10 on blobs reaches ~5e11 and kills every ReLU without ever producing
    NaN, hence the factor (``training.diverge_factor``, default 1e6; None: NaN/Inf only).
    A non-finite training loss at the end of an epoch counts too.
    """

    per_step = True

    def __init__(self, factor: float | None) -> None:
        self.factor = factor
        self.limit: float | None = None

    def step_done(self, run: RunHandle, step: int, epoch: int, loss: float) -> None:
        if self.limit is None:
            self.limit = diverge_limit(loss, self.factor)
        if not loss <= self.limit:  # NaN fails every comparison
            run.diverged_step = step
            run.emit(ev.Diverged(run.run_id, step, epoch, loss))
            run.finish("diverged")

    def epoch_done(self, run: RunHandle, metrics: ev.EpochEnd) -> None:
        if not math.isfinite(metrics.train_loss):
            run.diverged_step = metrics.step
            run.emit(ev.Diverged(run.run_id, metrics.step, metrics.epoch, metrics.train_loss))
            run.finish("diverged")


class NotLearning(Rule):
    """A run whose training loss stays worse than guessing is ended as diverged ("not learning").

    An epoch *does not learn* when its training loss is above ``ln K`` -- the loss of a
    uniform guess over the K classes -- and also above the run's starting loss (the first
    update's) or above the best loss of its earlier epochs. ``patience`` such epochs in a
    row end the run, reported diverged. A run of at least ``end_epochs`` epochs that reaches
    its last epoch with a training loss above ``end_factor`` times both its starting loss and
    ``ln K`` is reported diverged too (short runs never make a long stretch; a run of a
    couple of epochs may still be in an early transient, so it is left alone).

    Adaptive optimizers at absurd rates (Adam, RMSprop, Adagrad, ... at lr 10-100) do this
    without ever producing NaN: the loss jumps about far above where it started, accuracy
    at chance. A rate that is merely too small is untouched: its loss keeps setting new
    bests, however slowly. The starting loss is the run's ``first_loss`` (not a per-update
    hook: K runs x every update is the loop's hot path).
    """

    def __init__(
        self, n_classes: int, patience: int = 20, end_factor: float = 2.0, end_epochs: int = 5
    ) -> None:
        self.chance_loss = math.log(max(n_classes, 2))
        self.patience = patience
        self.end_factor = end_factor
        self.end_epochs = end_epochs
        self.start_loss: float | None = None
        self.best = math.inf
        self.streak = 0

    def _start(self, run: RunHandle) -> float | None:
        if self.start_loss is None and run.first_loss is not None:
            loss = run.first_loss
            self.start_loss = loss if math.isfinite(loss) else math.inf
        return self.start_loss

    def _flag(self, run: RunHandle, metrics: ev.EpochEnd, detail: str) -> None:
        run.diverged_step = metrics.step
        run.emit(ev.Diverged(run.run_id, metrics.step, metrics.epoch, metrics.train_loss, detail))

    def epoch_done(self, run: RunHandle, metrics: ev.EpochEnd) -> None:
        loss = metrics.train_loss
        start = self._start(run)
        start = start if start is not None else math.inf
        bad = loss > self.chance_loss and (loss > start or loss > self.best)
        self.best = min(self.best, loss)
        self.streak = self.streak + 1 if bad else 0
        if self.streak >= self.patience:
            self._flag(
                run,
                metrics,
                f"not learning: training loss above a uniform guess (ln {math.exp(self.chance_loss):.0f} = "
                f"{self.chance_loss:.3g}) and not improving for {self.patience} epochs",
            )
            run.finish("diverged")

    def run_done(self, run: RunHandle) -> None:
        start = self._start(run)
        if run.reason != "completed" or len(run.epochs) < self.end_epochs or start is None:
            return
        last = run.epochs[-1]
        limit = self.end_factor * max(start, self.chance_loss)
        if last.train_loss > limit:
            self._flag(
                run,
                last,
                f"not learning: final training loss {last.train_loss:.4g} is over {self.end_factor:g}x "
                f"its starting loss and a uniform guess's",
            )
            run.reason = "diverged"


class ScheduleStepper(Rule):
    """Advances the run's LR schedule: per update, and per epoch (plateau emits ``LRReduced``)."""

    moves_lr = True

    def __init__(self, per_update: bool) -> None:
        self.per_update = per_update

    @property
    def per_step(self) -> bool:  # type: ignore[override]
        return self.per_update

    def step_done(self, run: RunHandle, step: int, epoch: int, loss: float) -> None:
        run.schedule.after_step()

    def epoch_done(self, run: RunHandle, metrics: ev.EpochEnd) -> None:
        reduced = run.schedule.after_epoch(
            {
                "train_loss": metrics.train_loss,
                "train_acc": metrics.train_acc,
                "val_loss": metrics.val_loss,
                "val_acc": metrics.val_acc,
            }
        )
        if reduced is not None:
            run.emit(ev.LRReduced(run.run_id, metrics.epoch, metrics.step, reduced[0], reduced[1]))


class EarlyStopping(Rule):
    """Stop once ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs,
    restoring the best epoch's weights when ``restore_best``."""

    def __init__(self, monitor: str, patience: int, min_delta: float, restore_best: bool) -> None:
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.sign = outcome.sign(monitor)
        self.best = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.saved = False

    def epoch_done(self, run: RunHandle, metrics: ev.EpochEnd) -> None:
        value = self.sign * getattr(metrics, self.monitor)
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, metrics.epoch, 0
            run.best_epoch = metrics.epoch
            if self.restore_best:
                run.save_best()
                self.saved = True
            return
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            restored = self.restore_best and self.saved
            if restored:
                run.restore_best()
            best_epoch = self.best_epoch if self.best_epoch is not None else metrics.epoch
            run.emit(
                ev.EarlyStopped(
                    run.run_id, metrics.epoch, best_epoch, self.sign * self.best, self.monitor, restored
                )
            )
            run.finish("early_stopped")


class BestEpoch(Rule):
    """Without early stopping, the best epoch is the one with the best ``monitor`` value
    (non-finite values count as worst)."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor

    def run_done(self, run: RunHandle) -> None:
        if run.best_epoch is not None or not run.epochs:
            return
        run.best_epoch = outcome.best_epoch(run.epochs, self.monitor)


def default_rules(cfg, per_update_schedule: bool, *, n_classes: int) -> list[Rule]:
    """The rules every training run follows, in the order they act on an epoch:
    divergence, not learning, the LR schedule, early stopping, the best-epoch record."""
    es = cfg.regularization.early_stopping
    rules: list[Rule] = [
        DivergenceGuard(cfg.training.diverge_factor),
        NotLearning(n_classes),
        ScheduleStepper(per_update_schedule),
    ]
    if es.enabled:
        rules.append(EarlyStopping(es.monitor, es.patience, es.min_delta, es.restore_best))
    rules.append(BestEpoch(es.monitor))
    return rules
