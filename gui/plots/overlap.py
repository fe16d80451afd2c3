"""Runs whose curves are identical, drawn so each one stays visible.

Equal learning rates (a momentum sweep at one LR) give identical LR curves: drawn plainly,
the last run hides the others. Each run of such a group is drawn as a dash pattern that
leaves room for the others: run ``i`` of ``n`` draws every ``n``-th dash, offset by ``i``
dashes, so the shared curve alternates the colours of every run on it; the legend says
"same as ...".
"""

from __future__ import annotations

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
    tolerance is at least the smaller of their noise levels (their typical second difference).

    Every curve is read at the same :data:`CLOSE_POINTS` x values (a run between them or
    past its end has none there), so a sweep of many runs costs one array operation per run."""
    out: dict[int, int] = {}
    if not tol > 0:
        return out
    clean = {}
    for rid in sorted(curves):
        x, y = curves[rid]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= MIN_POINTS:
            clean[rid] = (x[ok], y[ok])
    if len(clean) < 2:
        return out
    ids = list(clean)
    lo = min(float(x[0]) for x, _y in clean.values())
    hi = max(float(x[-1]) for x, _y in clean.values())
    n = min(CLOSE_POINTS, max(len(x) for x, _y in clean.values()))
    grid = np.linspace(lo, hi, n)
    ys = np.array([np.interp(grid, x, y, left=np.nan, right=np.nan) for x, y in clean.values()])
    # the noise of a curve, not its trend: its typical second difference (about 1.6 sigma)
    jitter = np.array(
        [float(np.median(np.abs(np.diff(y, 2)))) if len(y) > 2 else 0.0 for _x, y in clean.values()]
    )
    for b in range(1, len(ids)):
        gap = np.abs(ys[:b] - ys[b])
        count = np.isfinite(gap).sum(axis=1)  # x values both runs have
        if not (count >= MIN_POINTS).any():
            continue
        # the gap CLOSE_SHARE of the shared x values are within (np.nanquantile, row by row, is slow)
        ordered = np.sort(np.where(np.isfinite(gap), gap, np.inf), axis=1)
        at = np.clip(np.ceil(CLOSE_SHARE * count).astype(int) - 1, 0, gap.shape[1] - 1)
        typical = np.where(
            count >= MIN_POINTS, np.take_along_axis(ordered, at[:, None], axis=1)[:, 0], np.inf
        )
        allowed = np.maximum(tol, np.minimum(jitter[:b], jitter[b]))
        near = np.flatnonzero(typical <= allowed)
        if len(near):
            out[ids[b]] = ids[int(near[np.argmin(typical[near])])]
    return out
