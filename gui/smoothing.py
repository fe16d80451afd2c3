"""Debiased exponential moving average, as TensorBoard smooths scalar curves.

The average is the engine's (:mod:`engine.outcome`, one moving average for the engine and
the window); this module keeps the names the plots import::

    acc_t      = beta * acc_{t-1} + (1 - beta) * x_t,   acc_0 = 0
    smoothed_t = acc_t / (1 - beta ** t)

Non-finite inputs (a diverging loss) are skipped: they leave the accumulator untouched and
come out as NaN, so a plot drawn with ``connect='finite'`` simply stops there.
"""

from __future__ import annotations

from optiscope.engine.outcome import DebiasedEMA, check_smoothing, debiased_ema

__all__ = ["DebiasedEMA", "debiased_ema", "check_smoothing"]
