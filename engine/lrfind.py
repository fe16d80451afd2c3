"""The learning-rate range test (Smith 2017; fastai's and torch-lr-finder's ``lr_find``).

Train for ``iterations`` minibatches while the rate rises from ``start_lr`` to ``end_lr``
(exponentially or linearly), record the loss after every update and smooth it with a
debiased exponential moving average. Stop early once the smoothed loss exceeds
``diverge_factor`` times its best. The model and optimizer are restored afterwards,
and the same seed gives the same curve.

Suggestions (:func:`suggest`), each a learning rate:

- ``steepest``: where the smoothed loss falls fastest against log10(lr), on the descent
  (from where the loss has started to fall, the CLR base below, to its minimum);
- ``valley``: fastai's valley (the longest descending stretch of the curve, taken at
  about half-way down it);
- ``minimum_div_10``: the rate at the smoothed loss's minimum, divided by 10;
- ``clr_base_lr`` / ``clr_max_lr``: triangular cyclical-LR bounds: ``max_lr`` is fastai's
  ``minimum / 10`` and ``base_lr`` is a quarter of it (Smith's "base 1/3 to 1/4 of max").
  The rule was chosen by ``bench/clr_bounds_study.py`` (docs/clr-bounds.md): on 6 tasks x 3
  seeds it never trained clearly worse than the best constant rate from the same test,
  while the earlier "where the loss starts falling to where it stops falling" put the
  maximum at 0.4-0.7 x the rate of the loss minimum and the base on the smoothed loss's
  start-up hump, and failed on 17 of 36 comparisons. None when the curve never falls or
  the base would lie below the first rate the suggestions look at.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from . import events as ev
from .config import RunConfig
from .control import RunControl
from .data import Dataset
from .kernels import TorchKernel
from .loop import DriveSettings, RunState, drive
from .outcome import DebiasedAverage, debiased_average
from .rules import Rule, RunHandle
from .trainer import Prepared, prepare

__all__ = ["LRFindResult", "lr_find", "suggest", "valley", "smooth"]


@dataclass
class LRFindResult:
    """One range test: per iteration the rate, raw loss and smoothed loss."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool
    settings: dict = field(default_factory=dict)

    @property
    def suggestions(self) -> dict[str, float | None]:
        return suggest(self.lrs, self.smoothed)


def smooth(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """Debiased exponential moving average: ``avg_i / (1 - beta**(i+1))`` (:mod:`engine.outcome`)."""
    return debiased_average(losses, beta)


class RampSchedule:
    """The range test's rate: ``rates[i]`` for update ``i``, set on the optimizer."""

    def __init__(self, optimizer, rates: list[float]) -> None:
        self.optimizer = optimizer
        self.rates = rates
        self.i = 0
        self._apply()

    def _apply(self) -> None:
        rate = self.rates[min(self.i, len(self.rates) - 1)]
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def after_step(self) -> None:
        self.i += 1
        self._apply()

    def after_epoch(self, metrics: dict[str, float]) -> None:
        return None

    def scale(self, factor: float) -> None:
        """The ramp sets the rate; a live LR change does not apply to a range test."""


class RangeTestStop(Rule):
    """Smooths the loss (debiased EMA) and ends the test once it is non-finite or above
    ``diverge_factor`` x its best."""

    per_step = True
    moves_lr = True  # it advances the ramp

    def __init__(self, beta: float, diverge_factor: float) -> None:
        self.beta = beta
        self.diverge_factor = diverge_factor
        self.avg = DebiasedAverage(beta)
        self.best = math.inf
        self.smoothed: list[float] = []

    def step_done(self, run: RunHandle, step: int, epoch: int, loss: float) -> None:
        if not math.isfinite(loss):
            self.smoothed.append(math.inf)
            run.finish("diverged")
            return
        s = self.avg.push(loss)
        self.smoothed.append(s)
        self.best = min(self.best, s)
        if step > 1 and s > self.diverge_factor * self.best:
            run.finish("diverged")
        else:
            run.schedule.after_step()


def lr_find(
    cfg: RunConfig,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    iterations: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    dataset: Dataset | None = None,
    control: RunControl | None = None,
    prepared: Prepared | None = None,
    bus: ev.EventBus | None = None,
) -> LRFindResult:
    """Run the range test on the model, optimizer and data ``cfg`` describes.

    It trains through the one training loop (:func:`engine.loop.drive`) with the run's
    own kernel, so the config's optimizer (with momentum etc.), batch size, seed, L1/L2,
    clipping, augmentation and mixed precision are used as in training; the schedule is
    replaced by the ramp. Pass ``prepared`` to test an existing model and optimizer;
    they are left exactly as they were. ``bus`` receives the test's ``Steps`` events live.
    """
    if not (0 < start_lr < end_lr) or not math.isfinite(end_lr):
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if iterations < 2:
        raise ValueError(f"iterations must be at least 2, got {iterations}")
    if not (0.0 <= beta < 1.0):
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    if diverge_factor <= 1.0:
        raise ValueError(f"diverge_factor must be greater than 1, got {diverge_factor}")
    control = control if control is not None else RunControl()
    p = prepared if prepared is not None else prepare(cfg, dataset)
    model, opt = p.model, p.optimizer
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    n, bs = len(p.y_train), cfg.training.batch_size
    spe = math.ceil(n / bs)
    if mode == "exp":
        ratio = end_lr / start_lr
        rates = [start_lr * ratio ** (i / (iterations - 1)) for i in range(iterations)]
    else:
        rates = [start_lr + (end_lr - start_lr) * i / (iterations - 1) for i in range(iterations)]
    epochs = math.ceil(iterations / spe)
    run_cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"epochs": epochs})})
    stop_rule = RangeTestStop(beta, diverge_factor)
    kernel = TorchKernel(run_cfg, p.dataset, model, opt, (p.x_train, p.y_train, p.x_val, p.y_val), p.device)
    try:
        ramp = RampSchedule(opt, rates)
        run = RunState(run_cfg, 0, 0, ramp, [stop_rule], kernel, bus if bus is not None else ev.EventBus())
        drive_settings = DriveSettings(
            n_train=n,
            batch_size=bs,
            device=p.device,
            n_params=sum(q.numel() for q in model.parameters()),
            n_classes=p.dataset.n_classes,
            max_steps=iterations,
            evaluate=False,
        )
        (res,) = drive(kernel, [run], drive_settings, bus=run.bus, control=control)
    finally:
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
    if res.reason == "failed":
        raise RuntimeError(res.error or "the range test failed")
    settings = {
        "start_lr": start_lr,
        "end_lr": end_lr,
        "iterations": iterations,
        "mode": mode,
        "beta": beta,
        "diverge_factor": diverge_factor,
        "batch_size": bs,
        "iterations_per_epoch": spe,
        "optimizer": cfg.optimizer.kind,
        "seed": cfg.training.seed,
    }
    return LRFindResult(
        res.step_lr, res.step_loss, np.asarray(stop_rule.smoothed), res.reason == "diverged", settings
    )


def valley(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """fastai's ``valley``: the longest strictly descending run of the curve (as a longest
    decreasing subsequence), taken at about half-way down it (start + 1/3 + 1/6 of it)."""
    n = len(losses)
    if n < 2:
        return None
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[min(max(idx, 0), n - 1)])


def suggest(
    lrs: np.ndarray, smoothed: np.ndarray, skip_end: int = 5, threshold: float = 0.1
) -> dict[str, float | None]:
    """The four common suggestions (see the module docstring), as numbers.

    As fastai does, the first tenth of the curve (at least 5 points; the moving average
    is still warming up and early minibatch noise dominates) and the last ``skip_end``
    points (the loss blowing up) are left out. ``threshold`` is the fraction of the
    whole drop that marks where the descent starts (used by ``steepest``). None where the
    curve is too short or never falls.
    """
    lrs = np.asarray(lrs, dtype=float)
    sm = np.asarray(smoothed, dtype=float)
    ok = np.isfinite(sm)
    lrs, sm = lrs[ok], sm[ok]
    out: dict[str, float | None] = {
        "steepest": None,
        "valley": None,
        "minimum_div_10": None,
        "clr_base_lr": None,
        "clr_max_lr": None,
    }
    lo, hi = max(len(sm) // 10, 5), len(sm) - skip_end
    if hi - lo < 3:
        lo, hi = 0, len(sm)
    if hi - lo < 3:
        return out
    lrs, sm = lrs[lo:hi], sm[lo:hi]
    i_min = int(np.argmin(sm))
    out["minimum_div_10"] = float(lrs[i_min] / 10)
    out["valley"] = valley(lrs, sm)
    drop = sm[0] - sm[i_min]
    start = 0
    if drop > 0:
        seg = sm[: i_min + 1]
        above = np.nonzero(seg >= sm[0] - threshold * drop)[0]  # the last time it was still up there
        start = min(int(above[-1]) + 1 if len(above) else 0, i_min)
        top = float(lrs[i_min] / 10)
        if top / 4 >= lrs[0]:  # the whole cycle lies past the start-up part left out above
            out["clr_max_lr"] = top
            out["clr_base_lr"] = top / 4
    if i_min >= 2:
        # the steepest fall of the descent itself: from where the loss has started to fall
        # (stays ``threshold`` of the whole drop below its start) to its minimum. Before that the curve is flat, and the noise of a
        # smoothed average still warming up makes slopes as steep as the real descent.
        first = start if i_min - start >= 2 else 0
        grads = np.gradient(sm[first : i_min + 1], np.log10(lrs[first : i_min + 1]))
        out["steepest"] = float(lrs[first + int(np.argmin(grads))])
    return out
