"""Debiased exponential moving average, as TensorBoard smooths scalar curves.

Pure numpy (no Qt), so the engine tests and the live plots share it::

    acc_t      = beta * acc_{t-1} + (1 - beta) * x_t,   acc_0 = 0
    smoothed_t = acc_t / (1 - beta ** t)

The debiasing makes the first smoothed value equal the first raw value. Non-finite
inputs (a diverging loss) are skipped: they leave the accumulator untouched and come
out as NaN, so a plot drawn with ``connect='finite'`` simply stops there.

:class:`DebiasedEMA` keeps the accumulator between calls, so a live plot smooths each
new batch in O(batch) instead of re-smoothing the whole history.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DebiasedEMA", "debiased_ema", "check_smoothing"]

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
    """Incremental debiased EMA; :meth:`update` returns the smoothed new values.

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
