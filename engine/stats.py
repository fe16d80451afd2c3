"""Intervals and verdicts over seeds: is a difference between two runners real?

Every interval here is a **Student t interval**: for ``n`` values with mean ``m`` and sample
standard deviation ``s`` (``ddof=1``), the 95 % interval is ``m ± t(0.975, n − 1) · s / √n``
-- what ``scipy.stats.t.interval(0.95, n - 1, loc=m, scale=s / √n)`` gives (the tests check
that to 1e-9). With one value there is no interval (its ends are NaN, the text says "1 seed").

A comparison of two runners is **paired**: seed ``k`` of runner A and seed ``k`` of runner B
started from the same initial weights and saw the same minibatch order, so the verdict is the t
interval of the differences ``a_k − b_k``; a winner is named only when that interval excludes
zero ("Adam faster than SGD by 14 ± 5 epochs"); otherwise "no clear difference with 10 seeds —
try more". A mean curve's band is the same t interval taken epoch by epoch over the seeds that
reached that epoch.

The t quantile is computed here (:func:`t_quantile`: the closed-form Student t distribution of
an integer number of degrees of freedom, Abramowitz & Stegun 26.7.3-4, inverted by safeguarded
Newton steps), not imported: ``scipy.special`` alone costs most of a second of import time, and
a seeded run in the window would wait for it before its first step.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["LEVEL", "METHOD", "Interval", "Verdict", "t_quantile", "mean_interval", "band", "paired_verdict"]

LEVEL = 0.95
METHOD = "Student t interval, 95 %"  # said in summary.json, the table's tooltip and the README


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` (a whole number >= 1) degrees of freedom:
    what ``scipy.stats.t.ppf(p, df)`` gives (the tests check it to 1e-12), without scipy."""
    if int(df) != df or df < 1:
        raise ValueError(f"a t quantile needs a whole number of at least 1 degree of freedom (got {df})")
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile's probability is a fraction between 0 and 1 (got {p})")
    return _t_quantile(float(p), int(df))


@functools.lru_cache(maxsize=1024)
def _t_quantile(p: float, df: int) -> float:
    if p == 0.5:
        return 0.0
    target = abs(2.0 * p - 1.0)  # P(|T| <= t) at the quantile's t
    # Newton steps on P(|T| <= t), kept inside a bracket that bisection narrows when a step leaves it
    lo, hi = 0.0, 1.0
    while _t_within(hi, df) < target:
        lo, hi = hi, 2.0 * hi
    t = 0.5 * (lo + hi)
    norm = 2.0 * math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    for _ in range(200):
        f = _t_within(t, df) - target
        if f > 0:
            hi = t
        else:
            lo = t
        slope = norm * (1.0 + t * t / df) ** (-(df + 1) / 2)  # the density of |T| at t
        step = t - f / slope if slope > 0 else math.nan
        nxt = step if lo < step < hi else 0.5 * (lo + hi)
        if abs(nxt - t) <= 4e-16 * nxt or hi - lo <= 4e-16 * hi:
            t = nxt
            break
        t = nxt
    return t if p > 0.5 else -t


def _t_within(t: float, df: int) -> float:
    """P(|T| <= t), ``t`` >= 0, for Student's t with ``df`` degrees of freedom (an integer):
    Abramowitz & Stegun 26.7.3 (odd ``df``) and 26.7.4 (even), series of positive terms in
    cos(theta), theta = atan(t / sqrt(df))."""
    theta = math.atan2(t, math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    c2 = c * c
    if df % 2:  # odd: (2/pi) (theta + sin cos [1 + 2/3 cos^2 + 2.4/(3.5) cos^4 + ...])
        if df == 1:
            return 2.0 * theta / math.pi
        term = total = c
        for j in range(1, (df - 1) // 2):
            term *= (2.0 * j) / (2.0 * j + 1.0) * c2
            total += term
        return 2.0 / math.pi * (theta + s * total)
    term = total = 1.0  # even: sin [1 + 1/2 cos^2 + 1.3/(2.4) cos^4 + ...]
    for j in range(1, df // 2):
        term *= (2.0 * j - 1.0) / (2.0 * j) * c2
        total += term
    return s * total


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` seeds and its interval (``low``/``high`` NaN when ``n`` < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half(self) -> float:
        """Half the interval's width (NaN when there is none)."""
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.n >= 2 and math.isfinite(self.low) and (self.low > 0 or self.high < 0)

    def text(self, fmt: str = "{:.3g}", scale: float = 1.0) -> str:
        """``"14 ± 5"``; one seed: ``"14 (1 seed)"``; no value: ``"—"``."""
        if self.n == 0 or not math.isfinite(self.mean):
            return "—"
        m = fmt.format(self.mean * scale)
        if self.n < 2:
            return f"{m} (1 seed)"
        h = self.half * scale
        return f"{m} ± {fmt.format(h)}" if math.isfinite(h) else m

    def as_dict(self) -> dict[str, float | int | None]:
        def num(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"mean": num(self.mean), "low": num(self.low), "high": num(self.high), "n": self.n}


def mean_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    """The mean of the finite ``values`` and its Student t interval (non-finite values are left
    out: a seed that never reached a threshold has no epoch to average)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"a confidence level is a fraction between 0 and 1 (got {level})")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    m = float(x.mean())
    if n == 1:
        return Interval(m, math.nan, math.nan, 1)
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    h = t_quantile((1.0 + level) / 2.0, n - 1) * sem
    return Interval(m, m - h, m + h, n)


def band(curves: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, low, high and count per column of ``curves`` (seeds × points, NaN where a seed has
    no value: it stopped early). Columns with one value have NaN ends; with none, NaN throughout."""
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"band() takes a seeds × points array (got {c.ndim} dimensions)")
    ok = np.isfinite(c)
    n = ok.sum(axis=0)
    filled = np.where(ok, c, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        dev = np.where(ok, c - mean, 0.0)
        sd = np.sqrt((dev * dev).sum(axis=0) / (n - 1))
        half = np.full(c.shape[1], np.nan)
        for k in np.unique(n[n >= 2]):  # one quantile per distinct seed count
            cols = n == k
            half[cols] = t_quantile((1.0 + level) / 2.0, int(k) - 1) * sd[cols] / math.sqrt(int(k))
    mean = np.where(n > 0, mean, np.nan)
    return mean, mean - half, mean + half, n


Better = Literal["min", "max"]


@dataclass(frozen=True)
class Verdict:
    """The paired comparison of runner ``a`` with runner ``b`` on one measure."""

    a: int
    b: int
    measure: str
    diff: Interval  # of a − b over the seeds both have
    winner: int | None  # a, b, or None: no clear difference
    text: str

    def as_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "measure": self.measure,
            "difference": self.diff.as_dict(),
            "winner": self.winner,
            "text": self.text,
        }


def paired_verdict(
    a_values: Sequence[float],
    b_values: Sequence[float],
    *,
    better: Better,
    names: tuple[str, str] = ("A", "B"),
    runners: tuple[int, int] = (0, 1),
    measure: str = "",
    words: tuple[str, str] = ("better", "worse"),
    unit: str = "",
    fmt: str = "{:.3g}",
    scale: float = 1.0,
    level: float = LEVEL,
) -> Verdict:
    """Compare two runners seed for seed (``a_values[k]`` and ``b_values[k]`` share seed ``k``).

    Pairs where either value is missing (NaN) are left out. ``better`` says which way is
    better; ``words`` are how the text says A beat B in that direction ("faster"/"slower",
    "higher"/"lower"); ``scale`` multiplies the printed difference (100 for accuracy points).
    """
    a = np.asarray(a_values, dtype=np.float64)
    b = np.asarray(b_values, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a paired comparison needs as many seeds on both sides ({a.size} vs {b.size})")
    both = np.isfinite(a) & np.isfinite(b)
    diff = mean_interval(a[both] - b[both], level)
    ia, ib = runners
    n_seeds = int(a.size)
    if not diff.excludes_zero():
        if diff.n < 2:
            text = f"{names[0]} vs {names[1]}: too few seeds with a value on both sides ({diff.n}) to compare"
        else:
            text = f"no clear difference with {n_seeds} seeds — try more"
        return Verdict(ia, ib, measure, diff, None, text)
    a_better = (diff.mean > 0) == (better == "max")
    win, lose = (names[0], names[1]) if a_better else (names[1], names[0])
    size = abs(diff.mean) * scale
    text = f"{win} {words[0]} than {lose} by {fmt.format(size)} ± {fmt.format(diff.half * scale)}"
    text += f" {unit}" if unit else ""
    return Verdict(ia, ib, measure, diff, ia if a_better else ib, text)
