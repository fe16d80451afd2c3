"""TEMPORARY stand-in for the engine's number formats (the facts branch owns this file).

Only the two functions the GUI calls, so the plots branch runs its tests before the
facts branch lands; this commit is reverted before the branch is handed in.
"""

from __future__ import annotations

import math

__all__ = ["format_csv", "format_short"]


def _non_finite(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def format_csv(v: object) -> str:
    """The CSV/export form: ``repr`` for finite floats, "nan"/"inf"/"-inf", ``str`` otherwise."""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else _non_finite(v)
    return str(v)


def format_short(v: float) -> str:
    """The display form: 4 significant digits, "nan"/"inf"/"-inf"."""
    v = float(v)
    return f"{v:.4g}" if math.isfinite(v) else _non_finite(v)
