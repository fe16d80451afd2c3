"""One outcome vocabulary (CONVENTIONS rule 21): which way each metric is better, the best
epoch, updates per epoch, the moving average of a loss curve and how a run ended, in words.

Said once here and carried in the engine's events and results (``Finished.best_epoch``,
``RunResult.best_epoch``); the window shows what the engine reports and never rebuilds it.
Lightning's ``EarlyStopping.mode_dict`` and Optuna's ``StudyDirection`` are the models:
losses are minimised, accuracies maximised.

Light: numpy only (no torch), so the window and the light engine modules share it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

__all__ = [
    "Direction",
    "MODE_DICT",
    "direction",
    "maximize",
    "sign",
    "improved",
    "best_value",
    "best_epoch",
    "steps_per_epoch",
    "seconds_per_epoch",
    "DebiasedAverage",
    "debiased_average",
    "DebiasedEMA",
    "debiased_ema",
    "check_smoothing",
    "FINISH_REASONS",
    "REASON_WORDS",
    "REASON_SENTENCES",
]

Direction = Literal["minimize", "maximize"]

#: which way each kind of metric is better, by the end of its name (Lightning's ``mode_dict``
#: maps "min"/"max" to the comparison; Optuna's ``StudyDirection`` names them so)
MODE_DICT: dict[str, Direction] = {"loss": "minimize", "acc": "maximize"}


def direction(metric: str) -> Direction:
    """``"maximize"`` for accuracies (``val_acc``, ``best_val_acc``, ``acc``), ``"minimize"``
    for losses (``val_loss``, ``final_val_loss``, ``loss``).

    Raises
    ------
    ValueError
        For a name that ends in neither ``acc`` nor ``loss``.
    """
    for suffix, way in MODE_DICT.items():
        if metric.endswith(suffix):
            return way
    raise ValueError(
        f"metric {metric!r} is neither a loss nor an accuracy; name one ending in 'loss' or 'acc'"
    )


def maximize(metric: str) -> bool:
    """True for metrics where higher is better (accuracies)."""
    return direction(metric) == "maximize"


def sign(metric: str) -> float:
    """+1 for metrics to minimise, -1 for those to maximise: ``sign * value`` is lower-is-better."""
    return -1.0 if maximize(metric) else 1.0


def improved(value: float, best: float, metric: str, min_delta: float = 0.0) -> bool:
    """``value`` beats ``best`` by more than ``min_delta`` in ``metric``'s direction."""
    if maximize(metric):
        return value > best + min_delta
    return value < best - min_delta


def best_value(values: Iterable[float], metric: str) -> float:
    """The best finite value in ``metric``'s direction (NaN when none is finite)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if maximize(metric) else min(finite)


def best_epoch(epochs: Sequence[Any], metric: str) -> int | None:
    """The first epoch (``.epoch`` of the ``EpochEnd``-like items) with the best ``metric``;
    non-finite values count as worst; None for no epochs."""
    if not epochs:
        return None
    s = sign(metric)
    best, found = math.inf, epochs[0].epoch
    for e in epochs:
        v = s * getattr(e, metric)
        if math.isfinite(v) and v < best:
            best, found = v, e.epoch
    return found


def seconds_per_epoch(epochs: Sequence[Any]) -> float | None:
    """Mean wall time of a run's epochs (their ``seconds``: training and evaluation), None
    without any: what summary.json and the results table report as seconds per epoch."""
    if not epochs:
        return None
    return sum(e.seconds for e in epochs) / len(epochs)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Updates in one epoch: ``ceil(n_train / batch_size)`` (the last batch may be short), at least 1."""
    return max(1, -(-int(n_train) // int(batch_size)))


# --------------------------------------------------------------------------- the moving average
class DebiasedAverage:
    """The debiased exponential moving average of a stream, one value at a time::

        acc_t      = beta * acc_{t-1} + (1 - beta) * x_t,   acc_0 = 0
        smoothed_t = acc_t / (1 - beta ** t)

    (fastai's LR finder and TensorBoard smooth so). :class:`DebiasedEMA` is the same average
    vectorised for long curves, skipping non-finite values.
    """

    def __init__(self, beta: float) -> None:
        self.beta = float(beta)
        self.acc = 0.0
        self.count = 0

    def push(self, x: float) -> float:
        """Take ``x``; return the smoothed value after it."""
        self.count += 1
        self.acc = self.beta * self.acc + (1 - self.beta) * float(x)
        return self.acc / (1 - self.beta**self.count)


def debiased_average(values: Iterable[float], beta: float) -> np.ndarray:
    """:class:`DebiasedAverage` over ``values``, every smoothed value."""
    avg = DebiasedAverage(beta)
    return np.array([avg.push(v) for v in values], dtype=np.float64)


# Within one vectorised block the factors beta**-k stay below 1e100, far from overflow
# even for float32-sized losses (<= 3.4e38).
_MAX_EXPONENT = 100.0 * math.log(10.0)


def check_smoothing(beta: float) -> float:
    """Return ``beta`` as a float if it is a valid smoothing weight in ``[0, 0.999]``.

    Raises
    ------
    ValueError
        If ``beta`` is not a finite number in ``[0, 0.999]``.
    """
    b = float(beta)
    if not (math.isfinite(b) and 0.0 <= b <= 0.999):
        raise ValueError(f"smoothing must be a number from 0 (off) to 0.999, got {beta!r}")
    return b


def _advance(x: np.ndarray, beta: float, acc: float, count: int) -> tuple[np.ndarray, float, int]:
    """Smooth finite values ``x`` continuing from ``(acc, count)``; vectorised in blocks."""
    n = len(x)
    if n == 0:
        return np.empty(0), acc, count
    if beta == 0.0:
        return x.astype(np.float64, copy=True), float(x[-1]), count + n
    block = max(1, int(_MAX_EXPONENT / -math.log(beta)))
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, block):
        xb = np.asarray(x[start : start + block], dtype=np.float64)
        k = np.arange(1, len(xb) + 1, dtype=np.float64)
        pw = beta**k  # beta**j for j = 1..len
        # acc_j = beta**j * (acc + (1 - beta) * sum_{i<=j} beta**-i * x_i)
        accs = pw * (acc + (1.0 - beta) * np.cumsum(xb / pw))
        t = count + start + k
        out[start : start + len(xb)] = accs / (1.0 - beta**t)
        acc = float(accs[-1])
    return out, acc, count + n


class DebiasedEMA:
    """Incremental debiased EMA (TensorBoard's smoothing); :meth:`update` returns the smoothed
    new values, vectorised, NaN where the input is not finite.

    Parameters
    ----------
    beta : float
        Smoothing weight in ``[0, 0.999]``; 0 returns the raw values.
    """

    def __init__(self, beta: float = 0.6) -> None:
        self.beta = check_smoothing(beta)
        self.acc = 0.0
        self.count = 0

    def reset(self, beta: float | None = None) -> None:
        """Forget the history (and optionally change ``beta``)."""
        if beta is not None:
            self.beta = check_smoothing(beta)
        self.acc = 0.0
        self.count = 0

    def update(self, values: np.ndarray | list[float]) -> np.ndarray:
        """Smooth ``values`` as the continuation of everything seen so far.

        Returns a float64 array of the same length; NaN where the input was not finite.
        """
        x = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(x)
        if finite.all():
            out, self.acc, self.count = _advance(x, self.beta, self.acc, self.count)
            return out
        out = np.full(len(x), np.nan)
        out[finite], self.acc, self.count = _advance(x[finite], self.beta, self.acc, self.count)
        return out


def debiased_ema(values: np.ndarray | list[float], beta: float) -> np.ndarray:
    """The debiased EMA of a whole series (NaN where the input is not finite)."""
    return DebiasedEMA(beta).update(values)


# --------------------------------------------------------------------------- how a run ended
#: every way a run can end (``engine.events.FinishReason``)
FINISH_REASONS: tuple[str, ...] = ("completed", "stopped", "early_stopped", "diverged", "failed")

#: a run's end in a few words, for a table cell (the results table); "running" while it trains
REASON_WORDS: dict[str, str] = {
    "running": "running…",
    "completed": "all epochs",
    "stopped": "stopped",
    "early_stopped": "early stopping",
    "diverged": "diverged",
    "failed": "failed",
}

#: a run's end as a sentence, for a status message
REASON_SENTENCES: dict[str, str] = {
    "completed": "Run complete",
    "stopped": "Run stopped",
    "early_stopped": "Stopped early",
    "diverged": "The run diverged",
    "failed": "The run failed",
}
