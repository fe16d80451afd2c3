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
    """A run that learned nothing is ended or reported as diverged ("did not learn"), never
    "completed".

    Chance level is a uniform guess over the K classes: accuracy ``1/K``, cross-entropy
    ``ln K``. During the run, an epoch *does not learn* when its training loss is above
    ``ln K`` and also above the run's starting loss (the first update's) or above the best
    loss of its earlier epochs; ``patience`` such epochs in a row end the run.

    When a run of any length reaches its last epoch, it did not learn if

    * its accuracy (the better of training and validation) is **at chance level**: below
      ``1/K + chance_margin * (1 - 1/K)`` (10 % of the way from chance to perfect: 40 % with
      3 classes, 19 % with 10, 55 % with 2), or
    * its final training loss is **far above chance level**, over ``end_factor * ln K``
      (twice a uniform guess's loss),

    unless it is a *slow learner*: every epoch's training loss below its starting loss and
    the last epoch its best (a rate that is merely too small, or a quick check of a few
    epochs that has not got there yet: lr-sweep's 1e-6 and 1e-7). A run that blew up and
    came back down went above its start on the way. A run between the two (accuracy above
    chance, loss under twice a guess's) learned something and stays "completed", however
    unsteady (lr-sweep's lr 1, batchnorm-lr's 3).

    Adaptive optimizers at absurd rates (Adam, RMSprop, Adagrad, ... at lr 1-100) do this
    without ever producing NaN: the loss jumps about far above where it started, or sits
    at ``ln K`` with accuracy at chance. The reason goes into the ``Diverged`` event's
    ``detail`` ("did not learn: at chance level: 9.6 % with 10 classes ..."), which the
    run's summary reports. The starting loss is the run's ``first_loss`` (not a per-update
    hook: K runs x every update is the loop's hot path).
    """

    def __init__(
        self,
        n_classes: int,
        patience: int = 20,
        end_factor: float = 2.0,
        chance_margin: float = 0.1,
    ) -> None:
        self.n_classes = max(n_classes, 2)
        self.chance_loss = math.log(self.n_classes)
        self.chance_acc = 1.0 / self.n_classes
        self.acc_floor = self.chance_acc + chance_margin * (1.0 - self.chance_acc)
        self.patience = patience
        self.end_factor = end_factor
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
                f"not learning: training loss above a uniform guess (ln {self.n_classes} = "
                f"{self.chance_loss:.3g}) and not improving for {self.patience} epochs",
            )
            run.finish("diverged")

    def verdict(self, epochs: list[ev.EpochEnd], start: float) -> str | None:
        """Why a run that ended with ``epochs`` (starting at loss ``start``) did not learn;
        None when it learned."""
        if not epochs:
            return None
        last = epochs[-1]
        losses = [e.train_loss for e in epochs]
        if all(v < start for v in losses) and losses[-1] <= min(losses):
            return None  # a slow learner: never above its start, its best at the end
        acc = max(last.train_acc, last.val_acc)
        if not acc >= self.acc_floor:  # NaN counts as chance
            return (
                f"did not learn: at chance level: {100 * last.val_acc:.1f} % validation accuracy "
                f"with {self.n_classes} classes (a uniform guess: {100 * self.chance_acc:.1f} %; "
                f"learning needs at least {100 * self.acc_floor:.1f} %)"
            )
        loss = last.train_loss
        limit = self.end_factor * self.chance_loss
        if not loss <= limit:
            return (
                f"did not learn: final training loss {loss:.4g} is far above chance level "
                f"(over {self.end_factor:g} x ln {self.n_classes} = {limit:.3g})"
            )
        return None

    def run_done(self, run: RunHandle) -> None:
        start = self._start(run)
        if run.reason != "completed" or not run.epochs:
            return
        why = self.verdict(run.epochs, start if start is not None else math.inf)
        if why is not None:
            self._flag(run, run.epochs[-1], why)
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
