"""The one training loop: epochs, minibatch order, evaluation, events and control.

:func:`drive` trains one or more runs through a *step kernel* -- the only part that
differs between "one run of any architecture with ``torch.optim``"
(:class:`engine.kernels.TorchKernel`) and "K dense runs as one computation"
(:class:`engine.kernels.BatchedKernel`). The driver owns the mechanics; the training
rules (divergence, the LR schedule and plateau, early stopping, the best epoch) are the
per-run objects of :mod:`engine.rules`, called the same way for every kernel; the LR
range test (:mod:`engine.lrfind`) drives the same loop with its own rules.

A kernel works on rows (one per run) and provides::

    begin_epoch(perms)          # one permutation of the training rows per run
    step(lo, hi, lrs) -> losses # one minibatch [lo, hi) of the epoch for every live row
    epoch_metrics(eval_train)   # (train_loss, train_acc, val_loss, val_acc) per row
    boundary(grid, rows) -> probs  # class probabilities on a 2D grid, per row (or per given row)
    weights(row), snapshot(row), restore(row, state), retire(row), final_model(row)
    mark_update()               # remember the weights before the next update
    layer_stats(lrs, rows, observed) -> per-row LayerStats fields (engine.inside)

Every ``stats_every`` updates the loop emits :class:`~engine.events.LayerStats` for each
live run (and once more when a run ends), computed by the kernel from its state.

Updates are reported in blocks (:class:`~engine.events.Steps`, one per live run): the
pending updates go out before any other event of any run of the loop (an ``EpochEnd`` or
``Finished`` follows every update it closes) but the snapshots :data:`SNAPSHOTS` (weights
and layer statistics every few updates carry their own update number; a block cut at each
would be a block per run every few updates), before the loop may wait on its control
(paused, single steps, slow motion), after the very first update, and otherwise once the
bus's ``step_block_seconds`` have passed since the last block.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from . import events as ev
from .config import RunConfig
from .control import RunControl
from .memory import keep_freed_memory
from .outcome import steps_per_epoch
from .rules import DivergenceGuard, Rule

__all__ = [
    "RunResult",
    "RunState",
    "StepKernel",
    "DriveSettings",
    "drive",
    "failed_result",
    "boundary_grid",
    "SNAPSHOTS",
]

#: events that do not send the pending updates before them (see the module docstring)
SNAPSHOTS: tuple[type[ev.Event], ...] = (ev.Weights, ev.LayerStats)


@dataclass
class RunResult:
    """What a finished run leaves behind (besides its events)."""

    run: int
    label: str
    reason: ev.FinishReason
    epochs: list[ev.EpochEnd]
    step_lr: np.ndarray
    step_loss: np.ndarray
    seconds: float
    best_epoch: int | None
    model: nn.Module | None = field(repr=False, default=None)
    error: str | None = None
    diverged_step: int | None = None
    steps_per_epoch: int = 0
    layers: list[ev.LayerStats] = field(default_factory=list, repr=False)
    reason_detail: str = ""  # why it diverged or did not learn (the Diverged event's words)

    @property
    def final(self) -> ev.EpochEnd | None:
        return self.epochs[-1] if self.epochs else None


class StepKernel(Protocol):
    """What :func:`drive` needs from a way of computing updates (see the module docstring)."""

    def begin_epoch(self, perms: Sequence[torch.Tensor]) -> None: ...
    def step(self, lo: int, hi: int, lrs: list[float]) -> list[float]: ...
    def epoch_metrics(self, eval_train: bool) -> list[tuple[float, float, float, float]]: ...
    def boundary(self, grid: torch.Tensor, rows: Sequence[int] | None = None) -> np.ndarray: ...
    def weights(self, row: int) -> np.ndarray: ...
    def snapshot(self, row: int) -> Any: ...
    def restore(self, row: int, state: Any) -> None: ...
    def retire(self, row: int) -> None: ...
    def final_model(self, row: int) -> nn.Module | None: ...
    def mark_update(self) -> None: ...
    def layer_stats(self, lrs: list[float], rows: list[int], observed: bool) -> list[dict]: ...


class LRSource(Protocol):
    """An LR schedule as the driver and the rules see it (:class:`engine.optim.LRSchedule`)."""

    @property
    def lr(self) -> float: ...
    def after_step(self) -> None: ...
    def after_epoch(self, metrics: dict[str, float]) -> tuple[float, float] | None: ...
    def scale(self, factor: float) -> None: ...


@dataclass(eq=False)
class RunState:
    """One run's bookkeeping in the driver, and the handle its rules act through."""

    cfg: RunConfig
    run_id: int
    row: int
    schedule: LRSource
    rules: list[Rule]
    kernel: StepKernel
    bus: ev.EventBus
    epochs: list[ev.EpochEnd] = field(default_factory=list)
    alive: bool = True
    reason: ev.FinishReason = "completed"
    diverged_step: int | None = None
    best_epoch: int | None = None
    first_loss: float | None = None
    n_steps: int = 0
    seconds: float = 0.0
    best_state: Any = None
    restored: bool = False
    final_state: Any = None
    layer_stats: list[ev.LayerStats] = field(default_factory=list)
    reason_detail: str = ""
    #: switches the run's optimizer between training (True) and evaluation (False) mode:
    #: its part's :meth:`~engine.optimizers.base.OptimizerPart.set_mode` (None: no modes)
    optimizer_mode: Callable[[bool], None] | None = None
    training: bool = True
    _finishing: bool = False
    #: called before every event the run emits but snapshots (:data:`SNAPSHOTS`): the driver
    #: sends its pending updates first
    before_emit: Callable[[], None] | None = None

    def set_training(self, on: bool) -> None:
        """Put the optimizer in training mode before updates and in evaluation mode (for a
        schedule-free one: the averaged weights) before the weights are read."""
        if self.optimizer_mode is not None and self.training != on:
            self.optimizer_mode(on)
            self.training = on

    def emit(self, event: ev.Event) -> None:
        if self.before_emit is not None and type(event) not in SNAPSHOTS:
            self.before_emit()
        if isinstance(event, ev.Diverged):
            self.reason_detail = event.detail or diverged_detail(event.loss)
        self.bus.emit(event)

    def finish(self, reason: ev.FinishReason) -> None:
        """End the run (the driver retires it once the current hook returns)."""
        if self.alive and not self._finishing:
            self._finishing = True
            self.reason = reason

    @property
    def finishing(self) -> bool:
        return self._finishing

    def save_best(self) -> None:
        self.best_state = self.kernel.snapshot(self.row)

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.kernel.restore(self.row, self.best_state)
            self.restored = True


def boundary_grid(x_train: np.ndarray, x_val: np.ndarray, resolution: int = 80, pad: float = 0.5):
    """Grid axes covering all of a 2D dataset's points with a margin."""
    pts = np.concatenate([x_train, x_val])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span * 0.2, hi + pad * span * 0.2
    return (
        np.linspace(lo[0], hi[0], resolution, dtype=np.float32),
        np.linspace(lo[1], hi[1], resolution, dtype=np.float32),
    )


def diverged_detail(loss: float) -> str:
    """The words for a run stopped by its loss alone (NaN/Inf or past the divergence limit)."""
    if math.isfinite(loss):
        return f"the loss reached {loss:.4g}, past the divergence limit (training.diverge_factor x its first loss)"
    return f"the loss became {loss} (not a finite number)"


def failed_result(run_id: int, cfg: RunConfig, message: str, seconds: float) -> RunResult:
    return RunResult(
        run_id, cfg.describe(), "failed", [], np.zeros(0), np.zeros(0), seconds, None, None, message
    )


@dataclass
class Boundaries:
    """Decision-boundary pictures every ``every`` epochs on a grid (2D data only).

    ``runs`` (run ids; None: every run) are the runs that get pictures: the others' are
    neither computed nor emitted (a seeded race shows only each runner's first seed's).
    """

    every: int
    xs: np.ndarray
    ys: np.ndarray
    grid: torch.Tensor
    runs: frozenset[int] | None = None

    def emit(self, kernel: StepKernel, runs: Sequence[RunState], epoch: int) -> None:
        if self.runs is not None:
            runs = [run for run in runs if run.run_id in self.runs]
        if not runs:
            return
        probs = kernel.boundary(self.grid, [run.row for run in runs])
        shape = (len(self.ys), len(self.xs), -1)
        for run, p in zip(runs, probs, strict=True):
            run.emit(ev.Boundary(run.run_id, epoch, self.xs, self.ys, p.reshape(shape).copy()))


@dataclass(frozen=True)
class DriveSettings:
    """How :func:`drive` trains a set of runs: the facts they share and the options.

    ``n_train`` training rows in batches of ``batch_size`` on ``device``; ``n_params`` and
    ``n_classes`` of the model (reported in ``RunStarted``). ``max_steps`` ends every run
    after that many updates; ``evaluate`` (off: no epoch metrics, the LR finder) and
    ``eval_train`` (evaluate the whole training set each epoch); ``boundaries`` and
    ``weights_every`` emit ``Boundary`` / ``Weights`` events (``Weights`` only of the run ids
    in ``weights_runs`` when given: a seeded race's leads); ``on_step`` is called after
    every update; ``keep_models`` puts each run's final model in its result; ``t0`` is when
    the runs' clocks started (default: now); ``stats_every`` (updates; None:
    :func:`engine.inside.default_stats_every`, 0: off) emits ``LayerStats``.
    """

    n_train: int
    batch_size: int
    device: torch.device
    n_params: int
    n_classes: int
    max_steps: int | None = None
    evaluate: bool = True
    eval_train: bool = True
    boundaries: Boundaries | None = None
    weights_every: int = 0
    weights_runs: frozenset[int] | None = None
    on_step: Callable[[int], None] | None = None
    keep_models: bool = False
    t0: float | None = None
    stats_every: int | None = 0


def drive(
    kernel: StepKernel,
    runs: Sequence[RunState],
    settings: DriveSettings,
    *,
    bus: ev.EventBus,
    control: RunControl,
) -> list[RunResult]:
    """Train ``runs`` through ``kernel`` to their ends; one :class:`RunResult` per run, in order.

    Each run trains for its own ``training.epochs`` (or until ``max_steps`` updates),
    stops early when a rule finishes it, and every run stops at a stop request. The
    minibatch order of an epoch is ``torch.randperm`` drawn from a generator seeded with
    the run's ``training.seed`` (runs with one seed share it). Errors become ``Failed`` +
    ``Finished('failed')`` events for the runs still going; they are not raised.
    See :class:`DriveSettings` for the options.
    """
    keep_freed_memory()  # the steps' large temporaries reuse memory instead of faulting it in
    s = settings
    n_train, batch_size, max_steps, boundaries = s.n_train, s.batch_size, s.max_steps, s.boundaries
    t0 = time.perf_counter() if s.t0 is None else s.t0
    stats_every = s.stats_every
    spe = steps_per_epoch(n_train, batch_size)
    if stats_every is None:
        from .inside import default_stats_every

        stats_every = default_stats_every(spe * max(run.cfg.training.epochs for run in runs))
    state = _Loop(kernel, list(runs), bus, control, t0, s.weights_every)
    state.stats_every = stats_every
    state.weights_runs = s.weights_runs
    try:
        state.start(s.device, s.n_params, s.n_classes, spe, boundaries)
        state.train(n_train, batch_size, spe, max_steps, s.evaluate, s.eval_train, boundaries, s.on_step)
    except Exception as exc:  # errors become events, not crashes
        state.fail(f"{type(exc).__name__}: {exc}")
    return [state.result(run, spe, s.keep_models) for run in runs]


class _Loop:
    """The state of one :func:`drive` call."""

    def __init__(self, kernel, runs: list[RunState], bus, control, t0: float, weights_every: int) -> None:
        self.kernel = kernel
        self.runs = runs
        self.live = list(runs)
        self.bus = bus
        self.control = control
        self.t0 = t0
        self.weights_every = weights_every
        self.emit_steps = bus.wants(ev.Steps)
        self.step = 0
        self.epoch = 0
        self.lrs = [run.schedule.lr for run in runs]
        # per update and row: the rate used and the loss (rows grow in blocks as needed);
        # per update: its epoch
        self.lr_hist = np.zeros((0, len(runs)))
        self.loss_hist = np.zeros((0, len(runs)))
        self.epoch_hist = np.zeros(0, dtype=np.int64)
        # updates [sent, step) of the live runs are not reported yet (ev.Steps blocks)
        self.sent = 0
        self.sent_at = t0
        self.block_seconds = bus.step_block_seconds
        for run in runs:
            run.before_emit = self.send_steps
        self.moving_lr = [run for run in runs if any(r.per_step and r.moves_lr for r in run.rules)]
        self.last_weights_step: dict[int, int] = {}
        self.weights_runs: frozenset[int] | None = None  # None: every run's weights
        # per-update rules: a run whose only one is the divergence guard is checked for all such
        # runs at once (one comparison of the update's losses with their limits); its guard is
        # called only on the first update (which sets its limit) and when its loss fails the check
        self.stepping: list[tuple[RunState, list[Rule]]] = []
        self.guarded: list[tuple[RunState, DivergenceGuard]] = []
        for run in runs:
            per_step = [r for r in run.rules if r.per_step]
            if len(per_step) == 1 and type(per_step[0]) is DivergenceGuard:
                self.guarded.append((run, per_step[0]))
            else:
                self.stepping.append((run, per_step))
        self.guard_rows = np.array([run.row for run, _ in self.guarded], dtype=np.int64)
        self.guard_limits = np.full(len(self.guarded), np.nan)  # NaN: not set yet (fails every check)
        self.errors: str | None = None
        self.stats_every = 0
        self.marked_step = -1  # the update whose weights before it the kernel remembers
        self.last_stats_step: dict[int, int] = {}

    # -- reporting updates
    def send_steps(self) -> None:
        """Report the live runs' pending updates, one :class:`~engine.events.Steps` per run."""
        lo, hi = self.sent, self.step
        if hi <= lo:
            return
        self.sent = hi
        self.sent_at = time.perf_counter()
        if not self.emit_steps or not self.live:
            return
        steps = np.arange(lo + 1, hi + 1, dtype=np.int64)
        epochs = self.epoch_hist[lo:hi].copy()
        rows = [run.row for run in self.live]
        lrs = np.ascontiguousarray(self.lr_hist[lo:hi, rows].T)  # copies: one row per live run
        losses = np.ascontiguousarray(self.loss_hist[lo:hi, rows].T)
        for a in (steps, epochs, lrs, losses):
            a.flags.writeable = False
        emit = self.bus.emit
        for i, run in enumerate(self.live):
            emit(ev.Steps(run.run_id, steps, epochs, lrs[i], losses[i]))

    # -- start and end of runs
    def start(self, device, n_params, n_classes, spe, boundaries) -> None:
        for run in self.runs:
            run.set_training(False)
            tc = run.cfg.training
            run.emit(
                ev.RunStarted(
                    run.run_id,
                    run.cfg.describe(),
                    str(device),
                    n_params,
                    spe,
                    spe * tc.epochs,
                    tc.epochs,
                    n_classes,
                    run.cfg.model_dump(mode="json"),
                )
            )
        if boundaries is not None:
            boundaries.emit(self.kernel, self.runs, 0)
        if self.weights_every:
            for run in self.runs:
                self._emit_weights(run, 0)

    def _emit_weights(self, run: RunState, epoch: int) -> None:
        if self.weights_runs is not None and run.run_id not in self.weights_runs:
            return
        run.emit(ev.Weights(run.run_id, self.step, epoch, self.kernel.weights(run.row)))
        self.last_weights_step[run.run_id] = self.step

    def retire(self, run: RunState, reason: ev.FinishReason | None = None) -> None:
        """Take a finished run out of the loop: rules' last word, final weights, ``Finished``."""
        self.send_steps()  # its updates before anything that ends it
        if reason is not None and not run.finishing:
            run.reason = reason
        run.set_training(False)  # its final weights are the ones to evaluate
        run.alive = False
        run.n_steps = self.step
        run.seconds = time.perf_counter() - self.t0
        for rule in run.rules:
            rule.run_done(run)
        if (
            self.weights_every
            and run.reason != "diverged"
            and (run.restored or self.last_weights_step.get(run.run_id) != self.step)
        ):
            self._emit_weights(run, run.epochs[-1].epoch if run.epochs else self.epoch)
        if self.stats_every and self.step and run.reason != "diverged":
            if run.restored or self.last_stats_step.get(run.run_id) != self.step:
                lrs = self.lr_hist[self.step - 1].tolist()
                self._emit_stats([run], lrs, run.epochs[-1].epoch if run.epochs else self.epoch)
        run.final_state = self.kernel.snapshot(run.row)
        self.kernel.retire(run.row)
        self.live.remove(run)
        self.stepping = [(r, rules) for r, rules in self.stepping if r is not run]
        if any(r is run for r, _ in self.guarded):
            keep = [i for i, (r, _) in enumerate(self.guarded) if r is not run]
            self.guarded = [self.guarded[i] for i in keep]
            self.guard_rows, self.guard_limits = self.guard_rows[keep], self.guard_limits[keep]
        if run in self.moving_lr:
            self.moving_lr.remove(run)
        run.emit(
            ev.Finished(run.run_id, run.reason, len(run.epochs), run.n_steps, run.seconds, run.best_epoch)
        )

    def fail(self, message: str) -> None:
        self.send_steps()
        for run in list(self.live):
            run.reason = "failed"
            run.alive = False
            run.n_steps = self.step
            run.seconds = time.perf_counter() - self.t0
            run.emit(ev.Failed(run.run_id, message))
            run.emit(
                ev.Finished(run.run_id, "failed", len(run.epochs), run.n_steps, run.seconds, run.best_epoch)
            )
            self.live.remove(run)
        self.errors = message

    def result(self, run: RunState, spe: int, keep_models: bool) -> RunResult:
        n = run.n_steps
        lrs = self.lr_hist[:n, run.row].copy()
        losses = self.loss_hist[:n, run.row].copy()
        model = None
        if keep_models and run.reason != "failed":
            if run.final_state is not None:
                self.kernel.restore(run.row, run.final_state)
            model = self.kernel.final_model(run.row)
        error = self.errors if run.reason == "failed" else None
        return RunResult(
            run.run_id,
            run.cfg.describe(),
            run.reason,
            run.epochs,
            lrs,
            losses,
            run.seconds,
            run.best_epoch,
            model,
            error,
            run.diverged_step,
            spe,
            run.layer_stats,
            run.reason_detail if run.reason == "diverged" else "",
        )

    # -- the loop
    def train(self, n, bs, spe, max_steps, evaluate, eval_train, boundaries, on_step) -> None:
        kernel, control, runs = self.kernel, self.control, self.runs
        seeds = sorted({run.cfg.training.seed for run in runs})
        generators = {s: torch.Generator().manual_seed(s) for s in seeds}
        for epoch in range(1, max(run.cfg.training.epochs for run in runs) + 1):
            self.epoch = epoch
            te = time.perf_counter()
            drawn = {s: torch.randperm(n, generator=g) for s, g in generators.items()}
            kernel.begin_epoch([drawn[run.cfg.training.seed] for run in runs])
            for run in self.live:
                run.set_training(True)
            for b in range(spe):
                if self.sent < self.step and (control.paused or control.delay > 0):
                    self.send_steps()  # what was computed is reported before the loop waits
                if not control.checkpoint():
                    for run in list(self.live):
                        self.retire(run, "stopped")
                    return
                new_lr, factor = control.take_lr(), control.take_lr_scale()
                if new_lr is not None or factor != 1.0:
                    for run in self.live:
                        run.schedule.scale(factor * (new_lr / run.schedule.lr if new_lr is not None else 1.0))
                        self.lrs[run.row] = run.schedule.lr
                self._update(b * bs, min((b + 1) * bs, n), epoch, on_step)
                if not self.live:
                    return
                if max_steps is not None and self.step >= max_steps:
                    for run in list(self.live):
                        self.retire(run, "completed")
                    return
            for run in self.live:
                run.set_training(False)
            if evaluate:
                self._end_epoch(epoch, te, eval_train, boundaries)
            for run in list(self.live):
                if epoch >= run.cfg.training.epochs:
                    self.retire(run, "completed")
            if not self.live:
                return

    def _emit_stats(self, runs: list[RunState], lrs: list[float], epoch: int) -> None:
        """:class:`~engine.events.LayerStats` for ``runs`` after the last update (made at ``lrs``)."""
        rows = [run.row for run in runs]
        # the update is observed if the weights before it were marked, and the weights now are
        # the ones it stepped (not a schedule-free run's evaluation weights, as when it ends)
        observed = self.marked_step == self.step and all(run.training for run in runs)
        for run, stats in zip(runs, self.kernel.layer_stats(lrs, rows, observed), strict=True):
            e = ev.LayerStats(run.run_id, self.step, epoch, lrs[run.row], **stats)
            run.layer_stats.append(e)
            self.last_stats_step[run.run_id] = self.step
            run.emit(e)

    def _update(self, lo: int, hi: int, epoch: int, on_step) -> None:
        lrs = self.lrs[:]
        stats_due = self.stats_every and (self.step + 1) % self.stats_every == 0
        if stats_due:
            self.kernel.mark_update()
            self.marked_step = self.step + 1
        losses = self.kernel.step(lo, hi, lrs)
        if self.step == len(self.lr_hist):
            grow = np.zeros((max(len(self.lr_hist), 1024), len(self.runs)))
            self.lr_hist = np.concatenate([self.lr_hist, grow])
            self.loss_hist = np.concatenate([self.loss_hist, grow])
            self.epoch_hist = np.concatenate([self.epoch_hist, np.zeros(len(grow), dtype=np.int64)])
        self.lr_hist[self.step] = lrs
        self.loss_hist[self.step] = losses
        self.epoch_hist[self.step] = epoch
        self.step += 1
        step = self.step
        if step == 1:
            for run in self.live:
                run.first_loss = losses[run.row]
        if step == 1 or time.perf_counter() - self.sent_at >= self.block_seconds:
            self.send_steps()  # the first update at once (a window shows the run has begun)
        stepping = self.stepping
        if self.guarded:
            # NaN fails the comparison, as in DivergenceGuard.step_done
            failing = ~(np.asarray(losses)[self.guard_rows] <= self.guard_limits)
            if failing.any():
                called: list[tuple[RunState, list[Rule]]] = [
                    (self.guarded[i][0], [self.guarded[i][1]]) for i in np.flatnonzero(failing)
                ]
                stepping = sorted(stepping + called, key=lambda item: item[0].row) if stepping else called
        finished = []
        for run, rules in stepping:  # K x rules calls per update: kept lean
            loss = losses[run.row]
            for rule in rules:
                rule.step_done(run, step, epoch, loss)
                if run._finishing:  # the property costs a call per run and update
                    finished.append(run)
                    break
        if step == 1 and self.guarded:  # the guards have set their limits
            self.guard_limits = np.array([rule.limit for _, rule in self.guarded], dtype=np.float64)
        for run in finished:
            self.retire(run)
        for run in self.moving_lr:
            self.lrs[run.row] = run.schedule.lr
        if self.weights_every and step % self.weights_every == 0:
            for run in self.live:  # the weights to evaluate, then back to the ones trained
                run.set_training(False)
                self._emit_weights(run, epoch)
                run.set_training(True)
        if stats_due and self.live:  # of the weights the update stepped (its update/weight ratio)
            self._emit_stats(self.live, lrs, epoch)
        if on_step is not None:
            on_step(step)

    def _end_epoch(self, epoch: int, te: float, eval_train: bool, boundaries: Boundaries | None) -> None:
        metrics = self.kernel.epoch_metrics(eval_train)
        seconds = time.perf_counter() - te
        alive = list(self.live)
        for run in alive:
            tr_loss, tr_acc, va_loss, va_acc = metrics[run.row]
            lr = self.lr_hist[self.step - 1, run.row] if self.step else run.schedule.lr  # its last update's
            e = ev.EpochEnd(run.run_id, epoch, self.step, lr, tr_loss, tr_acc, va_loss, va_acc, seconds)
            run.epochs.append(e)
            run.emit(e)
        if boundaries is not None and epoch % boundaries.every == 0:
            # drawn before the rules act (an early stop may restore older weights)
            boundaries.emit(self.kernel, [r for r in alive if math.isfinite(r.epochs[-1].train_loss)], epoch)
        for run in alive:
            if run.finishing:  # ended by another run's rule (a search trial's seeds are pruned together)
                self.retire(run)
                continue
            for rule in run.rules:
                rule.epoch_done(run, run.epochs[-1])
                if run.finishing:
                    self.retire(run)
                    break
        for run in list(self.live):  # ended by a later run's rule, after its own turn
            if run.finishing:
                self.retire(run)
        for run in self.live:
            self.lrs[run.row] = run.schedule.lr
