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

__all__ = ["identical_groups", "share_pen", "DASH"]

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
