"""Runs whose curves are identical, drawn so each one stays visible.

Equal learning rates (a momentum sweep at one LR) give identical LR curves: drawn plainly,
the last run hides the others. Each run of such a group is drawn as a dash pattern that
leaves room for the others: run ``i`` of ``n`` draws every ``n``-th dash, offset by ``i``
dashes, so the shared curve alternates the colours of every run on it; the legend says
"same as ...".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from PySide6 import QtGui

__all__ = ["identical_groups", "close_pairs", "share_pen", "DASH", "CLOSE_AIR", "CLOSE_SHARE"]

DASH = 4.0  # length of one run's dash, in pen widths
MIN_POINTS = 2  # fewer points in common prove nothing


def identical_groups(curves: Mapping[int, np.ndarray]) -> list[list[int]]:
    """Groups (of two runs or more, by run id) whose curves are equal over the points they
    have in common (at least ``MIN_POINTS``; relative tolerance 1e-9, NaN equal to NaN)."""
    groups: list[list[int]] = []
    for rid in sorted(curves):
        y = curves[rid]
        if len(y) < MIN_POINTS:
            continue
        for group in groups:
            ref = curves[group[0]]
            n = min(len(ref), len(y))
            if n >= MIN_POINTS and np.allclose(ref[:n], y[:n], rtol=1e-9, atol=0.0, equal_nan=True):
                group.append(rid)
                break
        else:
            groups.append([rid])
    return [g for g in groups if len(g) > 1]


def share_pen(pen: QtGui.QPen, position: int, size: int) -> QtGui.QPen:
    """``pen`` dashed so run ``position`` of ``size`` identical curves draws its own share:
    one dash of ``DASH`` pen widths, then room for the other runs' dashes."""
    pen = QtGui.QPen(pen)
    pen.setDashPattern([DASH, DASH * (size - 1)])
    pen.setDashOffset(DASH * ((size - position) % size))
    return pen


CLOSE_AIR = 1.0  # curves whose centres are closer than their line's width plus this (pixels)
CLOSE_SHARE = 0.5  # ... over at least this share of their common length hide each other
CLOSE_POINTS = 200  # curves are compared at this many x values at most (cheap at every epoch)


def close_pairs(curves: Mapping[int, tuple[np.ndarray, np.ndarray]], tol: float) -> dict[int, int]:
    """For each run (by id) whose curve ``(x, y)`` lies within ``tol`` (y units) of an earlier
    run's curve over at least :data:`CLOSE_SHARE` of their common x range (drawn on one plot,
    they hide each other), the earlier run it lies closest to. Two noisy curves tangle: their
    tolerance is at least the smaller of their noise levels (their typical second difference)."""
    out: dict[int, int] = {}
    if not tol > 0:
        return out
    clean = {}
    for rid in sorted(curves):
        x, y = curves[rid]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= MIN_POINTS:
            clean[rid] = (x[ok], y[ok])
    ids = list(clean)
    # the noise of a curve, not its trend: its typical second difference (about 1.6 sigma)
    jitter = {
        rid: float(np.median(np.abs(np.diff(y, 2)))) if len(y) > 2 else 0.0 for rid, (_x, y) in clean.items()
    }
    for i, b in enumerate(ids):
        gaps = {a: _typical_gap(clean[a], clean[b]) for a in ids[:i]}
        near = [(g, a) for a, g in gaps.items() if g <= max(tol, min(jitter[a], jitter[b]))]
        if near:
            out[b] = min(near)[1]
    return out


def _typical_gap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """The gap between two curves that :data:`CLOSE_SHARE` of their common length is within
    (infinite when they share no x range)."""
    (xa, ya), (xb, yb) = a, b
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        return math.inf
    grid = np.linspace(lo, hi, min(CLOSE_POINTS, max(len(xa), len(xb))))
    gap = np.abs(np.interp(grid, xa, ya) - np.interp(grid, xb, yb))
    return float(np.quantile(gap, CLOSE_SHARE))
