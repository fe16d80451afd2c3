"""Axis-range policy of the live plots.

:func:`wanted_ranges` (pure, no Qt) turns the planned run lengths and every run's finite
data into round axis ranges that change rarely: each change redraws every cached curve,
while an unchanged range lets the curves of runs that are not growing be blitted.
:class:`RangeKeeper` applies them to the plots, except to a plot the user zoomed, which
keeps its range until its "A" (auto-range) button is pressed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from optiscope.gui.plots.buffers import NO_EXTENT, RunData, merge_extents

if TYPE_CHECKING:
    import pyqtgraph as pg

__all__ = ["LOSS_AXIS_CAP", "nice_ceil", "wanted_ranges", "grid_tick_spacing", "RangeKeeper"]

LOSS_AXIS_CAP = 3.0  # linear loss axis: at most this times the largest initial loss
Range = tuple[float, float]


def nice_ceil(v: float, steps: Sequence[float] = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)) -> float:
    """The smallest 'round' number (one of ``steps`` x 10^k) >= ``v`` (1 for ``v <= 0``)."""
    if not v > 0:
        return 1.0
    decade = 10.0 ** math.floor(math.log10(v))
    return next(m * decade for m in steps if m * decade >= v * (1 - 1e-12))


def grid_tick_spacing(lo: float, hi: float) -> float:
    """Major tick spacing of a small-multiples cell's x axis: three round values at most."""
    return nice_ceil((hi - lo) / 3.2, (1, 1.5, 2, 2.5, 5, 10))


def wanted_ranges(
    runs: Iterable[RunData], planned_steps: int, planned_epochs: int, log_loss: bool, log_x: bool = False
) -> dict[str, Range]:
    """The axis ranges the plots should show, by key.

    Keys: "x:steps" and "x:epochs" (the planned length, or what was seen beyond it),
    "y:lr" (whole decades, log10 units, at least three of them), "y:loss" (half decades
    on a log axis; on a linear axis from 0 to a round value at most
    :data:`LOSS_AXIS_CAP` times the largest initial loss, so a diverging run leaves
    through the top instead of flattening every other curve) and "y:accuracy".
    A key is missing while there is nothing to range it on. With ``log_x`` the x ranges
    are log10 units, from the first step or epoch (1) to the last.
    """
    runs = list(runs)
    if not runs:
        return {}
    seen_steps = max((r.steps.view()[-1] for r in runs if len(r.steps)), default=0.0)
    seen_epochs = max((r.epoch.view()[-1] for r in runs if len(r.epoch)), default=0.0)
    loss = acc = lr = NO_EXTENT
    for r in runs:
        loss = merge_extents(loss, r.loss_ext)
        acc = merge_extents(acc, r.acc_ext)
        lr = merge_extents(lr, r.lr_ext)
    first = [r.loss_first for r in runs if math.isfinite(r.loss_first)]
    loss_cap = LOSS_AXIS_CAP * max(first) if first else math.inf
    want: dict[str, Range] = {}
    steps, epochs = max(planned_steps, seen_steps), max(planned_epochs, seen_epochs)
    if steps:
        want["x:steps"] = (0.0, math.log10(max(steps, 10))) if log_x else (0.0, float(steps))
    if epochs:
        want["x:epochs"] = (
            (0.0, math.log10(max(epochs, 2))) if log_x else (min(1.0, float(epochs)), float(max(epochs, 2)))
        )
    if math.isfinite(lr[2]):
        lo, hi = math.floor(math.log10(lr[2]) - 0.25), math.ceil(math.log10(lr[1]) + 0.25)
        # at least three decades: over fewer, pyqtgraph labels every minor tick and the
        # labels of a constant LR pile up on each other
        short = max(0, 3 - (hi - lo))
        want["y:lr"] = (lo - (short + 1) // 2, hi + short // 2)
    if log_loss and math.isfinite(loss[2]):
        lo, hi = math.floor(2 * math.log10(loss[2])) / 2, math.ceil(2 * math.log10(loss[1])) / 2
        want["y:loss"] = (lo, max(hi, lo + 0.5))
    elif math.isfinite(loss[0]):
        want["y:loss"] = (0.0 if loss[0] >= 0 else -nice_ceil(-loss[0]), nice_ceil(min(loss[1], loss_cap)))
    if math.isfinite(acc[0]):
        lo = max(0.0, math.floor(acc[0] * 10) / 10)
        want["y:accuracy"] = (lo, max(min(1.0, math.ceil(acc[1] * 20) / 20), lo + 0.1))
    return want


class RangeKeeper:
    """Applies wanted ranges to plots, remembering what it last set and what the user zoomed.

    Parameters
    ----------
    targets : callable
        ``targets(key)`` -> the (zoom key, plot) pairs that range ``key`` sets.
    on_grid_x : callable
        ``on_grid_x(name, major)``: give the x axes of grid ``name``'s cells this tick spacing.
    on_auto : callable
        Called after the user pressed a plot's "A" button (the ranges were re-applied).
    """

    def __init__(
        self,
        targets: Callable[[str], list[tuple[str, pg.PlotItem]]],
        on_grid_x: Callable[[str, float], None],
        on_auto: Callable[[], None],
    ) -> None:
        self._targets = targets
        self._on_grid_x = on_grid_x
        self._on_auto = on_auto
        self._last: dict[str, Range] = {}
        self._user_zoomed: set[str] = set()
        self._want: Callable[[], dict[str, Range]] = dict

    def set_policy(self, want: Callable[[], dict[str, Range]]) -> None:
        """``want()`` -> the ranges wanted now (see :func:`wanted_ranges`)."""
        self._want = want

    def last(self, key: str) -> Range | None:
        """The range last applied for ``key``."""
        return self._last.get(key)

    def forget(self, key: str | None = None) -> None:
        """Re-apply range ``key`` (every range if None) at the next :meth:`update`."""
        if key is None:
            self._last.clear()
        else:
            self._last.pop(key, None)

    def reset(self) -> None:
        """Forget the ranges and the user's zooms (a new experiment)."""
        self._last.clear()
        self._user_zoomed.clear()

    def update(self) -> bool:
        """Apply the wanted ranges that changed; returns whether the loss's y range changed."""
        changed = False
        for key, value in self._want().items():
            if self._last.get(key) != value:
                self._last[key] = value
                self._apply(key, value)
                changed |= key == "y:loss"
        return changed

    def _apply(self, key: str, value: Range) -> None:
        axis = key[0]
        for zoom_key, plot in self._targets(key):
            if zoom_key in self._user_zoomed:
                continue
            plot.enableAutoRange(**{axis: False})
            if axis == "x":
                plot.setXRange(*value, padding=0.02)
                if zoom_key.startswith("grid:"):  # small cells: three round tick values at most
                    self._on_grid_x(zoom_key[5:], grid_tick_spacing(*value))
            else:
                plot.setYRange(*value, padding=0.03)

    def watch(self, plot: pg.PlotItem, zoom_key: str) -> None:
        """Stop ranging ``plot`` once the user pans/zooms it; its "A" button hands it back."""
        plot.vb.sigRangeChangedManually.connect(lambda *_: self._user_zoomed.add(zoom_key))

        def auto_pressed() -> None:
            self._user_zoomed.discard(zoom_key)
            self._last.clear()
            self.update()
            self._on_auto()

        plot.autoBtn.clicked.connect(auto_pressed)
