"""Runners and seeds on the live plots: which plotted run is which runner's which seed, and
the mean and 95 % band a runner's seeds draw.

An experiment with ``seeds = N`` trains every runner N times (:class:`engine.seeds.SeedPlan`:
run ``r`` is runner ``r // N``, seed ``k = r % N``). The plots keep every seed's buffers as
a run of their own; :class:`SeedGroups` says which runs belong together, the first seed of
each runner (its *lead*) carries the runner's colour, legend entry, grid cell and its
mean-and-band items, and :func:`band_data` turns the seeds' curves into what those items
draw -- :func:`engine.seeds.seed_band`'s mean and Student t interval, point by point, never
computed here again. With one seed there are no groups and the plots look as they always did.

Qt-free (numpy and the engine's seeds module only), so it is tested alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optiscope.gui.plots.buffers import RunData

__all__ = ["SeedGroups", "band_data", "mean_run", "BAND_ALPHA", "SEED_ALPHA"]

BAND_ALPHA = 60  # a band's fill: the runner's colour at this alpha (0-255), curves read through it
SEED_ALPHA = 120  # "Show every seed": each seed's thin curve in the runner's colour at this alpha


@dataclass(frozen=True)
class SeedGroups:
    """Which run id is which runner (group) and seed, for ``n_seeds`` > 1.

    Run ids are the plan's indices (the window's runs start at id 0): run ``r`` belongs to
    runner ``runner_of[r]`` as its seed ``seed_index_of[r]``; runs past the plan (past runs
    overlaid from the store) belong to no runner.
    """

    runner_of: tuple[int, ...]
    seed_index_of: tuple[int, ...]
    seed_of: tuple[int, ...]
    n_seeds: int
    labels: tuple[str, ...]

    @classmethod
    def of(cls, plan: Any) -> SeedGroups | None:
        """The groups of an ``engine.seeds.SeedPlan`` (None for none or one seed per runner)."""
        if plan is None or plan.n_seeds < 2:
            return None
        return cls(
            tuple(plan.runner_of),
            tuple(plan.seed_index_of),
            tuple(plan.seed_of),
            plan.n_seeds,
            tuple(plan.labels),
        )

    def group(self, run_id: int) -> int | None:
        """The runner of run ``run_id`` (None: not one of the plan's runs)."""
        return self.runner_of[run_id] if 0 <= run_id < len(self.runner_of) else None

    def lead(self, group: int) -> int:
        """The run id of the runner's first seed (it draws the runner's mean and band)."""
        return group * self.n_seeds

    def members(self, group: int) -> range:
        """The run ids of the runner's seeds, seed by seed."""
        return range(group * self.n_seeds, (group + 1) * self.n_seeds)

    def seed_text(self, run_id: int) -> str:
        """ "seed 3 (2 of 10)": the training seed of run ``run_id`` and its place among the runner's."""
        k = self.seed_index_of[run_id]
        return f"seed {self.seed_of[run_id]} ({k + 1} of {self.n_seeds})"


def band_data(
    xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], log_y: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, mean, low, high and count per point of the seeds' curves ``(xs[k], ys[k])``.

    The seeds of a runner share their x values point for point (same data size, batch
    size and evaluation steps); one that stopped early (diverged, early stopping) is
    shorter, and the longest seed's x is the band's. Mean and interval are
    :func:`engine.seeds.seed_band`'s. On a logarithmic axis (``log_y``) a non-positive
    lower end (a wide interval around a small positive mean) cannot be drawn: it is drawn
    at the smallest seed value there instead, so the band still reaches every seed.
    """
    from optiscope.engine.seeds import seed_band

    if not xs:
        empty = np.zeros(0)
        return empty, empty, empty, empty, np.zeros(0, dtype=int)
    x = max(xs, key=len)
    mean, low, high, n = seed_band(list(ys))
    x = np.asarray(x[: len(mean)], dtype=np.float64)
    if log_y and len(mean):
        bad = ~(low > 0) & np.isfinite(low)
        if bad.any():
            width = len(mean)
            grid = np.full((len(ys), width), np.nan)
            for k, y in enumerate(ys):
                grid[k, : len(y)] = y
            grid[~(grid > 0)] = np.nan
            with np.errstate(all="ignore"):
                floor = np.nanmin(np.where(np.isfinite(grid), grid, math.inf), axis=0)
            floor[~np.isfinite(floor)] = np.nan
            low = np.where(bad, floor, low)
    return x, mean, low, high, n


def mean_run(lead: RunData, members: Sequence[RunData], label: str) -> RunData:
    """A run whose buffers are the mean over ``members`` (a runner's seeds), point by point:
    what the hover readouts read for a runner drawn as its mean and band."""
    out = RunData(lead.id, 0.0)
    out.group, out.label = lead.group, label
    step_x = [m.steps.view() for m in members]
    for name in ("lr", "loss", "smooth"):
        x, mean, *_ = band_data(step_x, [getattr(m, name).view() for m in members])
        getattr(out, name).extend(mean)
    out.steps.extend(x)
    epoch_x = [m.epoch.view() for m in members]
    for name in ("epoch_step", "train_acc", "val_acc", "val_loss"):
        x, mean, *_ = band_data(epoch_x, [getattr(m, name).view() for m in members])
        getattr(out, name).extend(mean)
    out.epoch.extend(x)
    return out
