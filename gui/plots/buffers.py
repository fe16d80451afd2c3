"""The data behind the live plots, without Qt: growing arrays and one run's history.

Pure numpy (plus the engine's light event types and the debiased EMA), so it is tested
alone. :class:`RunData` keeps what a run's curves and markers draw: per-step learning
rate and loss (raw and smoothed), per-epoch accuracy and validation loss, the plateau
drops, early stopping, divergence and the latest decision boundary, and the finite
extent of each quantity for the axis ranges.
"""

from __future__ import annotations

import math

import numpy as np
from optiscope.engine import events as ev
from optiscope.gui.smoothing import DebiasedEMA

__all__ = ["GrowingArray", "Extent", "NO_EXTENT", "extent", "merge_extents", "nearest", "RunData"]

Extent = tuple[float, float, float]  # (min, max, smallest positive) of the finite values
NO_EXTENT: Extent = (math.inf, -math.inf, math.inf)
Spot = tuple[float, float, str]  # marker: x, y (data units), symbol


def extent(a: np.ndarray) -> Extent:
    """(min, max, smallest positive) of the finite values of ``a``; :data:`NO_EXTENT` if none."""
    f = a[np.isfinite(a)]
    if not len(f):
        return NO_EXTENT
    pos = f[f > 0]
    return float(f.min()), float(f.max()), float(pos.min()) if len(pos) else math.inf


def merge_extents(a: Extent, b: Extent) -> Extent:
    """The extent covering both ``a`` and ``b``."""
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2])


def nearest(xs: np.ndarray, x: float, tol: float) -> int | None:
    """Index of the value in sorted ``xs`` nearest ``x``, if within ``tol``."""
    if not len(xs):
        return None
    i = int(np.searchsorted(xs, x))
    j = min((k for k in (i - 1, i) if 0 <= k < len(xs)), key=lambda k: abs(xs[k] - x))
    return j if abs(xs[j] - x) <= tol else None


class GrowingArray:
    """A growing float64 array with amortised doubling; :meth:`view` is the filled part."""

    __slots__ = ("data", "n")

    def __init__(self, capacity: int = 256) -> None:
        self.data = np.empty(max(capacity, 1), dtype=np.float64)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        """Append ``values`` (copied)."""
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)), dtype=np.float64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = values
        self.n = need

    def view(self) -> np.ndarray:
        """The filled part (a view: valid until the next :meth:`extend`)."""
        return self.data[: self.n]

    def __len__(self) -> int:
        return self.n


class RunData:
    """One run's history as the plots draw it.

    Parameters
    ----------
    run_id : int
        The engine's run id.
    beta : float
        Smoothing weight of the loss's debiased EMA.
    """

    def __init__(self, run_id: int, beta: float) -> None:
        self.id = run_id
        #: the runner it belongs to (its colour, line style and legend entry): its own id,
        #: or with several seeds per runner the runner's index (:mod:`.seeds`)
        self.group = run_id
        self.label = f"run {run_id}"
        self.status = ""
        self.finished = False
        self.total_steps = 0
        self.epochs_planned = 0
        self.config: dict = {}
        self.steps, self.lr, self.loss, self.smooth = (
            GrowingArray(),
            GrowingArray(),
            GrowingArray(),
            GrowingArray(),
        )
        self.ema = DebiasedEMA(beta)
        self.epoch, self.epoch_step = GrowingArray(64), GrowingArray(64)
        self.train_acc, self.val_acc, self.val_loss = GrowingArray(64), GrowingArray(64), GrowingArray(64)
        self.drops: list[ev.LRReduced] = []
        self.early: ev.EarlyStopped | None = None
        self.diverged: ev.Diverged | None = None
        self.boundary: ev.Boundary | None = None
        self.loss_ext: Extent = NO_EXTENT  # smoothed + validation loss
        self.acc_ext: Extent = NO_EXTENT
        self.lr_ext: Extent = NO_EXTENT
        self.loss_first = math.nan  # the first finite loss (about ln C at initialisation)

    # -- data
    def start(self, e: ev.RunStarted) -> None:
        """Take the label, planned length and config of a :class:`RunStarted` event."""
        self.label = e.label or self.label
        self.total_steps, self.epochs_planned = e.total_steps, e.epochs
        self.config = e.config or {}

    def append_steps(self, rows: list[tuple[int, float, float]]) -> None:
        """Append (step, lr, loss) rows (see :meth:`append_arrays`)."""
        arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
        self.append_arrays(arr[:, 0], arr[:, 1], arr[:, 2])

    def append_blocks(self, blocks: list[ev.Steps]) -> None:
        """Append the updates of ``Steps`` blocks, in order (see :meth:`append_arrays`)."""
        if len(blocks) == 1:
            b = blocks[0]
            self.append_arrays(b.step, b.lr, b.loss)
        else:
            self.append_arrays(
                np.concatenate([b.step for b in blocks]),
                np.concatenate([b.lr for b in blocks]),
                np.concatenate([b.loss for b in blocks]),
            )

    def append_arrays(self, step: np.ndarray, lr: np.ndarray, loss: np.ndarray) -> None:
        """Append updates ``step`` with rates ``lr`` and losses ``loss`` (copied);
        non-positive or non-finite rates and non-finite losses become NaN (the curves stop
        there)."""
        lr = np.array(lr, dtype=np.float64)
        loss = np.array(loss, dtype=np.float64)
        lr[~(np.isfinite(lr) & (lr > 0))] = np.nan  # log axis: only positive finite rates
        loss[~np.isfinite(loss)] = np.nan
        smooth = self.ema.update(loss)
        if math.isnan(self.loss_first):
            finite = loss[np.isfinite(loss)]
            if len(finite):
                self.loss_first = float(finite[0])
        self.steps.extend(step)
        self.lr.extend(lr)
        self.loss.extend(loss)
        self.smooth.extend(smooth)
        self.loss_ext = merge_extents(self.loss_ext, extent(smooth))
        self.lr_ext = merge_extents(self.lr_ext, extent(lr))

    def append_epochs(self, rows: list[ev.EpochEnd]) -> None:
        """Append the per-epoch values of ``rows`` (non-finite values become NaN)."""
        arr = np.array(
            [(e.epoch, e.step, e.train_acc, e.val_acc, e.val_loss) for e in rows], dtype=np.float64
        ).reshape(-1, 5)
        arr[~np.isfinite(arr)] = np.nan
        self.epoch.extend(arr[:, 0])
        self.epoch_step.extend(arr[:, 1])
        self.train_acc.extend(arr[:, 2])
        self.val_acc.extend(arr[:, 3])
        self.val_loss.extend(arr[:, 4])
        self.loss_ext = merge_extents(self.loss_ext, extent(arr[:, 4]))
        self.acc_ext = merge_extents(self.acc_ext, extent(arr[:, 2:4].ravel()))

    def resmooth(self, beta: float) -> None:
        """Smooth the whole loss history again with weight ``beta``."""
        self.ema.reset(beta)
        self.smooth.view()[:] = self.ema.update(self.loss.view())
        self.loss_ext = merge_extents(extent(self.smooth.view()), extent(self.val_loss.view()))

    # -- look-ups
    def smooth_at(self, step: float) -> float:
        """The smoothed loss at the first recorded step >= ``step`` (the last one beyond)."""
        steps = self.steps.view()
        if not len(steps):
            return math.nan
        return float(self.smooth.view()[min(int(np.searchsorted(steps, step)), len(steps) - 1)])

    def epoch_index(self, epoch: int | None) -> int | None:
        """Index of ``epoch`` in the per-epoch arrays (its last record), or None."""
        if epoch is None:
            return None
        hits = np.flatnonzero(self.epoch.view() == epoch)
        return int(hits[-1]) if len(hits) else None

    def spots(self) -> dict[str, list[Spot]]:
        """Marker positions (x, y in data units, symbol) for the "lr", "loss" and "accuracy" plots.

        ▼ ("t") plateau drops (LR curve at the new rate; smoothed loss), ★ ("star") best
        epoch of early stopping (validation loss; monitored accuracy), ✕ ("x") the last
        finite point of a diverged run.
        """
        out: dict[str, list[Spot]] = {"lr": [], "loss": [], "accuracy": []}
        for d in self.drops:
            out["lr"].append((d.step, d.new_lr, "t"))
            out["loss"].append((d.step, self.smooth_at(d.step), "t"))
        best = self.epoch_index(self.early.best_epoch) if self.early is not None else None
        if best is not None:
            acc = self.train_acc if self.early.monitor == "train_acc" else self.val_acc
            out["loss"].append((self.epoch_step.view()[best], self.val_loss.view()[best], "star"))
            out["accuracy"].append((self.epoch.view()[best], acc.view()[best], "star"))
        if self.diverged is not None:
            for key, buf in (("lr", self.lr), ("loss", self.smooth)):
                ok = np.flatnonzero(np.isfinite(buf.view()))
                if len(ok):
                    out[key].append((self.steps.view()[ok[-1]], buf.view()[ok[-1]], "x"))
        return out

    def guide_lines(self) -> dict[str, tuple[float, str] | None]:
        """Dashed vertical lines: (x, label) at the best epoch on the loss ("loss_best", in
        steps) and accuracy ("acc_best", in epochs) plots, and at the divergence ("loss_div")."""
        best = self.epoch_index(self.best_epoch)
        lines: dict[str, tuple[float, str] | None] = {"loss_best": None, "acc_best": None, "loss_div": None}
        if best is not None:
            text = f"best: epoch {int(self.epoch.view()[best])}"
            lines["loss_best"] = (float(self.epoch_step.view()[best]), text)
            lines["acc_best"] = (float(self.epoch.view()[best]), text)
        if self.diverged is not None:
            lines["loss_div"] = (float(self.diverged.step), f"diverged at step {self.diverged.step}")
        return lines

    @property
    def best_epoch(self) -> int | None:
        """The best epoch reported by early stopping, if it stopped the run."""
        return self.early.best_epoch if self.early is not None else None

    @property
    def title(self) -> str:
        """The label, with the status (e.g. "early stopped") when there is one."""
        return f"{self.label} — {self.status.replace('_', ' ')}" if self.status else self.label
