"""The learning-rate range test (Smith 2017; fastai's and torch-lr-finder's ``lr_find``).

Train for ``iterations`` minibatches while the rate rises from ``start_lr`` to ``end_lr``
(exponentially or linearly), record the loss after every update and smooth it with a
debiased exponential moving average. Stop early once the smoothed loss exceeds
``diverge_factor`` times its best. The model and optimizer are restored afterwards,
and the same seed gives the same curve.

Suggestions (:func:`suggest`), each a learning rate:

- ``steepest``: where the smoothed loss falls fastest against log10(lr), before its minimum;
- ``valley``: fastai's valley (the longest descending stretch of the curve, taken at
  about half-way down it);
- ``minimum_div_10``: the rate at the smoothed loss's minimum, divided by 10;
- ``clr_base_lr`` / ``clr_max_lr``: cyclical-LR bounds -- where the loss starts to fall
  (the point from which it stays at least 10 % of the whole drop below its level at the
  start) and where it stops falling (the first time it comes within 10 % of the whole
  drop of its minimum).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .config import RunConfig
from .data import Dataset
from .trainer import Prepared, RunControl, _weight_params, prepare

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
    """Debiased exponential moving average: ``avg_i / (1 - beta**(i+1))``."""
    out = np.empty(len(losses))
    avg = 0.0
    for i, v in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(v)
        out[i] = avg / (1 - beta ** (i + 1))
    return out


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
) -> LRFindResult:
    """Run the range test on the model, optimizer and data ``cfg`` describes.

    The config's schedule is ignored (the ramp sets the rate); its optimizer (with
    momentum etc.), batch size, seed and L1/L2 penalties are used. Pass ``prepared`` to
    test an existing model and optimizer; they are left exactly as they were.
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
    reg = cfg.regularization
    weights = _weight_params(model) if (reg.l1 or reg.l2) else []
    n, bs = len(p.y_train), cfg.training.batch_size
    gen = torch.Generator().manual_seed(cfg.training.seed)
    if mode == "exp":
        ratio = end_lr / start_lr
        schedule = [start_lr * ratio ** (i / (iterations - 1)) for i in range(iterations)]
    else:
        schedule = [start_lr + (end_lr - start_lr) * i / (iterations - 1) for i in range(iterations)]
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    avg, best = 0.0, math.inf
    stopped_early = False
    perm = torch.randperm(n, generator=gen).to(p.device)
    pos = 0
    model.train()
    try:
        for i, lr in enumerate(schedule):
            if not control.checkpoint():
                break
            if pos >= n:
                perm = torch.randperm(n, generator=gen).to(p.device)
                pos = 0
            idx = perm[pos : pos + bs]
            pos += bs
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.cross_entropy(model(p.x_train[idx]), p.y_train[idx])
            if weights:
                if reg.l2:
                    loss = loss + reg.l2 * sum((w * w).sum() for w in weights)
                if reg.l1:
                    loss = loss + reg.l1 * sum(w.abs().sum() for w in weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            v = loss.item()
            lrs.append(lr)
            losses.append(v)
            if not math.isfinite(v):
                smoothed.append(math.inf)
                stopped_early = True
                break
            avg = beta * avg + (1 - beta) * v
            s = avg / (1 - beta ** (i + 1))
            smoothed.append(s)
            best = min(best, s)
            if i > 0 and s > diverge_factor * best:
                stopped_early = True
                break
    finally:
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
    settings = {
        "start_lr": start_lr, "end_lr": end_lr, "iterations": iterations, "mode": mode,
        "beta": beta, "diverge_factor": diverge_factor, "batch_size": bs,
        "iterations_per_epoch": math.ceil(n / bs), "optimizer": cfg.optimizer.kind, "seed": cfg.training.seed,
    }  # fmt: skip
    return LRFindResult(np.asarray(lrs), np.asarray(losses), np.asarray(smoothed), stopped_early, settings)


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


def suggest(lrs: np.ndarray, smoothed: np.ndarray, skip_end: int = 5, threshold: float = 0.1) -> dict[str, float | None]:
    """The four common suggestions (see the module docstring), as numbers.

    As fastai does, the first tenth of the curve (at least 5 points; the moving average
    is still warming up and early minibatch noise dominates) and the last ``skip_end``
    points (the loss blowing up) are left out. ``threshold`` is the fraction of the
    whole drop used for the CLR bounds. None where the curve is too short or never falls.
    """
    lrs = np.asarray(lrs, dtype=float)
    sm = np.asarray(smoothed, dtype=float)
    ok = np.isfinite(sm)
    lrs, sm = lrs[ok], sm[ok]
    out: dict[str, float | None] = {
        "steepest": None, "valley": None, "minimum_div_10": None, "clr_base_lr": None, "clr_max_lr": None,
    }  # fmt: skip
    lo, hi = max(len(sm) // 10, 5), len(sm) - skip_end
    if hi - lo < 3:
        lo, hi = 0, len(sm)
    if hi - lo < 3:
        return out
    lrs, sm = lrs[lo:hi], sm[lo:hi]
    i_min = int(np.argmin(sm))
    out["minimum_div_10"] = float(lrs[i_min] / 10)
    out["valley"] = valley(lrs, sm)
    if i_min >= 2:  # the descent only: after the minimum the loss is blowing up
        grads = np.gradient(sm[: i_min + 1], np.log10(lrs[: i_min + 1]))
        out["steepest"] = float(lrs[int(np.argmin(grads))])
    drop = sm[0] - sm[i_min]
    if drop > 0:
        seg = sm[: i_min + 1]
        above = np.nonzero(seg >= sm[0] - threshold * drop)[0]  # the last time it was still up there
        start = int(above[-1]) + 1 if len(above) else 0
        stop = int(np.argmax(seg <= sm[i_min] + threshold * drop))
        out["clr_base_lr"] = float(lrs[min(start, i_min)])
        out["clr_max_lr"] = float(lrs[max(stop, min(start, i_min))])
    return out
