"""A lesson's captions for a runner of several seeds: what its seeds say together, on its mean curve.

With one seed per runner a lesson marks each run where an observation happened ("≥ 90 % at
epoch 7", :class:`engine.lessons.ObservationDetector`'s :class:`~engine.lessons.Moment`). With N
seeds that would be one seed's numbers at one seed's point, read by a class as the runner's. So
once every seed of a runner has finished, :func:`runner_moments` gives the runner one moment per
observation that happened to any of its seeds, its caption stating the seeds' mean and 95 %
Student t interval (:func:`engine.stats.mean_interval`; how many seeds it happened to where not
all), placed on the runner's mean curve -- the mean over the seeds of the plotted metric, epoch
by epoch (:func:`engine.seeds.seed_band`, what the plots draw), at the mean epoch:

* threshold: "≥ 90 % at epoch 7.3 ± 1.2" (and "(7/10 seeds)" where not every seed got there);
* best epoch: "best 91.2 ± 0.8 % (epoch 14.2 ± 3.1)";
* gap: "gap +3.1 ± 1.2 points" at the mean curve's last epoch;
* LR drop: "first LR drop at epoch 12.0 ± 2.1";
* divergence: "diverged in 3 of 10 seeds (update 120 ± 30)".

A lesson's own caption text is kept and the numbers follow it. Light: numpy only, no torch, no Qt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import outcome, stats
from .lessons import LRDrop, Moment, ObservationDetector, Threshold, threshold_label
from .seeds import SeedPlan, seed_band

__all__ = ["runner_moments", "runner_finished", "mean_curve", "seeded_moments"]


def runner_finished(plan: SeedPlan, detector: ObservationDetector, runner: int) -> bool:
    """Every seed of ``runner`` has ended (only then can its captions state all its seeds)."""
    return all(detector.finished(r) for r in plan.members(runner))


def mean_curve(
    plan: SeedPlan, detector: ObservationDetector, runner: int, metric: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch numbers, their mean update (the loss plot's x) and the mean over the runner's seeds of
    ``metric`` (an ``EpochEnd`` field) at each epoch -- the runner's mean curve on the plots."""
    runs = [detector.epochs(r) for r in plan.members(runner)]
    runs = [e for e in runs if e]
    if not runs:
        empty = np.zeros(0)
        return empty, empty, empty
    longest = max(runs, key=len)
    epochs = np.array([e.epoch for e in longest], dtype=np.float64)
    steps, *_ = seed_band([[float(e.step) for e in es] for es in runs])
    values, *_ = seed_band([[float(getattr(e, metric)) for e in es] for es in runs])
    return epochs, steps, values


def _on_curve(
    plan: SeedPlan, detector: ObservationDetector, runner: int, plot: str, metric: str, epoch: float
) -> tuple[float, float]:
    """(x, y) of the runner's mean ``metric`` curve at (fractional) ``epoch``: x in epochs on the
    accuracy plot, in updates on the loss and LR plots."""
    epochs, steps, values = mean_curve(plan, detector, runner, metric)
    ok = np.isfinite(values)
    if not ok.any():
        return (epoch, math.nan)
    y = float(np.interp(epoch, epochs[ok], values[ok]))
    x = epoch if plot == "accuracy" else float(np.interp(epoch, epochs, steps))
    return x, y


def _metric_of(plot: str, kind: str, obs: object) -> str:
    """The EpochEnd field the observation's mark sits on."""
    if isinstance(obs, Threshold):
        return obs.metric
    metric = getattr(obs, "metric", None)
    if kind == "best_epoch" and isinstance(metric, str):
        return metric
    if plot == "lr":
        return "lr"
    if kind == "divergence":
        return "train_loss"
    return "val_acc" if plot == "accuracy" else "val_loss"


def _text(iv: stats.Interval, fmt: str, scale: float = 1.0) -> str:
    """ "7.3 ± 1.2"; one value: the value alone (how many seeds is said beside it)."""
    if iv.n == 1:
        return fmt.format(iv.mean * scale)
    return iv.text(fmt, scale)


def runner_moments(plan: SeedPlan, detector: ObservationDetector, runner: int) -> list[Moment]:
    """The runner's captions (see the module docstring): one per observation that happened to
    any of its seeds, run id its first seed's (its colour), in lesson order."""
    members = plan.members(runner)
    n = len(members)
    lead = members[0]
    firsts: dict[int, list[Moment]] = {}  # observation -> each seed's first moment of it
    for r in members:
        seen: set[int] = set()
        for m in detector.moments:
            if m.run == r and m.observation not in seen:
                seen.add(m.observation)
                firsts.setdefault(m.observation, []).append(m)
    out = []
    for i in sorted(firsts):
        obs = detector.observations[i]
        found = firsts[i]
        kind, plot = found[0].kind, found[0].plot
        metric = _metric_of(plot, kind, obs)
        epoch = stats.mean_interval([m.epoch for m in found])
        some = f" ({len(found)}/{n} seeds)" if len(found) < n else ""
        own = getattr(obs, "caption", "")
        if kind == "threshold":
            assert isinstance(obs, Threshold)
            numbers = f"at epoch {_text(epoch, '{:.1f}')}{some}"
            text = f"{threshold_label(obs).split(' ', 1)[1]} {numbers}"
        elif kind == "best_epoch":
            value = stats.mean_interval([m.y for m in found])
            shown = (
                _text(value, "{:.1f}", 100.0) + " %" if outcome.maximize(metric) else _text(value, "{:.3g}")
            )
            numbers = f"best {shown} (epoch {_text(epoch, '{:.1f}')})"
            text = numbers
        elif kind == "gap":
            field = "gap_acc" if plot == "accuracy" else "gap_loss"
            gaps = [getattr(o, field) for o in detector.outcomes() if o.run in members]
            gap = stats.mean_interval(gaps)
            if plot == "accuracy":
                numbers = (
                    f"gap {100 * gap.mean:+.1f}"
                    + (f" ± {100 * gap.half:.1f}" if gap.n > 1 else "")
                    + " points"
                )
            else:
                numbers = f"gap {gap.mean:+.3g}" + (f" ± {gap.half:.3g}" if gap.n > 1 else "")
            text = numbers
            epochs, _, _ = mean_curve(plan, detector, runner, metric)
            epoch = stats.Interval(float(epochs[-1]), math.nan, math.nan, 1) if len(epochs) else epoch
        elif kind == "lr_drop":
            assert isinstance(obs, LRDrop)
            numbers = f"first LR drop at epoch {_text(epoch, '{:.1f}')}{some}"
            text = numbers
        elif kind == "divergence":
            steps = stats.mean_interval([m.x for m in found])
            numbers = f"diverged in {len(found)} of {n} seeds (update {_text(steps, '{:.0f}')})"
            text = numbers
        else:  # an observation kind added later: when, over the seeds
            numbers = f"epoch {_text(epoch, '{:.1f}')}{some}"
            text = f"{kind.replace('_', ' ')} at {numbers}"
        caption = f"{own}: {numbers}" if own else text
        x, y = _on_curve(plan, detector, runner, plot, metric, epoch.mean)
        if kind == "lr_drop":  # at the seeds' mean update of their first drop, on the mean LR curve
            x = float(np.mean([m.x for m in found]))
            _, steps_, lrs = mean_curve(plan, detector, runner, "lr")
            ok = np.isfinite(lrs) & np.isfinite(steps_)
            y = float(np.interp(x, steps_[ok], lrs[ok])) if ok.any() else math.nan
        if not math.isfinite(y):  # no mean curve there (every seed diverged): the seeds' own points
            finite = [m.y for m in found if math.isfinite(m.y)]
            y = float(np.mean(finite)) if finite else 0.0
        out.append(Moment(lead, kind, plot, int(round(epoch.mean)), x, y, caption, i))
    return out


def seeded_moments(
    plan: SeedPlan, detector: ObservationDetector, done: set[int], runs: Sequence[int]
) -> list[Moment]:
    """The captions of every runner of ``runs`` that has just finished all its seeds (and is not
    in ``done``, which it joins)."""
    out: list[Moment] = []
    for runner in sorted({plan.runner_of[r] for r in runs if 0 <= r < len(plan.runner_of)}):
        if runner not in done and runner_finished(plan, detector, runner):
            done.add(runner)
            out += runner_moments(plan, detector, runner)
    return out
