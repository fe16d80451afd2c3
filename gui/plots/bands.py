"""A plot part's runner bands: a runner's mean curve and 95 % band over its seeds, and its
seeds' own curves shown or hidden ("Every seed"). One :class:`RunnerBands` per
:class:`~optiscope.gui.plots.part.PlotPart` (its ``bands``), for the part's ``banded`` curves;
the band statistics are :func:`optiscope.gui.plots.seeds.band_data`'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from optiscope.gui import pg_adapter
from optiscope.gui.plots import items, seeds

if TYPE_CHECKING:
    from optiscope.gui.plots.part import PlotPart, PlotRun

__all__ = ["RunnerBands", "BAND_KEYS"]

BAND_KEYS = ("mean", "lo", "hi", "fill")  # a banded curve's items: "mean:<key>", "lo:<key>", ...


class RunnerBands:
    """The bands of one plot part (see the module docstring)."""

    def __init__(self, part: PlotPart) -> None:
        self.part = part

    def create(
        self, plot: pg.PlotItem, its: dict[str, Any], keys: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """A runner's mean curve and 95 % band for each ``banded`` curve of ``its`` on ``plot``
        (or those of ``keys``): "mean:<key>" (styled as the curve), "lo:<key>"/"hi:<key>" (the
        interval's ends, invisible) and "fill:<key>" (the translucent band between them)."""
        out: dict[str, Any] = {}
        for key in self.part.banded if keys is None else keys:
            own = its.get(key)
            if own is None:
                continue
            reduce = own.property("optiscope_reduce")
            clip = reduce is not None
            method, per_pixel = reduce if clip else ("mean", 0.5)
            ends = []
            for end in ("lo", "hi"):
                # no pen: a PlotDataItem without one hands no data to its curve; a clear one draws nothing
                item = items.curve(pg.mkPen(0, 0, 0, 0), antialias=False, clip=clip, method="mean")
                items.add_curve(plot, item, ignore_bounds=True)
                item.hide()  # it holds the end's data for the fill (which draws it), painting nothing
                out[f"{end}:{key}"] = item
                ends.append(item)
            fill = pg_adapter.BandFill(ends[0], ends[1], brush=pg.mkBrush(0, 0, 0, 0))
            fill.setZValue(-2)  # under every curve: the means and seeds read through it
            plot.addItem(fill)
            out[f"fill:{key}"] = fill
            mean = items.curve(
                own.opts["pen"], antialias=False, clip=clip, method=method, per_pixel=per_pixel
            )
            items.add_curve(plot, mean)
            out[f"mean:{key}"] = mean
        return out

    def seed_curves_shown(self, run: PlotRun) -> bool:
        """Whether the run's own curves (and markers, guide lines) show: always for a run
        that is not one of several seeds, else with "Show every seed"."""
        return not run.seeded or self.part.frame.show_seeds or bool(self.part.one_seed)

    def show_seed_curves(self, run: PlotRun) -> None:
        """Show or hide the run's own items (not its runner's band) in both modes."""
        shown = self.seed_curves_shown(run)
        for mode in ("overlay", "grid"):
            for key, item in self.part.items(run, mode).items():
                if key.split(":", 1)[0] not in BAND_KEYS and hasattr(item, "setVisible"):
                    if not shown or not isinstance(item, pg.InfiniteLine):  # guides show when placed
                        item.setVisible(shown)

    def keys(self, flags: set[str]) -> tuple[str, ...]:
        """The ``banded`` curves whose data change with ``flags`` (see :meth:`draw`): the
        per-step ones with new steps, the per-epoch ones with new epochs, all otherwise."""
        if "all" in flags or "smooth" in flags:
            return self.part.banded
        steps, epochs = "steps" in flags, "epochs" in flags
        if steps and epochs:
            return self.part.banded
        return (
            tuple(key for key in self.part.banded if (self.part.series[key][0] == "steps") == steps)
            if steps or epochs
            else ()
        )

    def draw(self, run: PlotRun, keys: Sequence[str] | None = None) -> None:
        """Hand the runner of lead ``run`` its mean and band over its seeds (shown mode), for
        the ``banded`` curves ``keys`` (None: all)."""
        its = self.part.items(run)
        if not self.part.banded or not its or not run.seeded:
            return
        frame = self.part.frame
        members = [frame.runs[r] for r in range(run.id, run.id + run.n_seeds) if r in frame.runs]
        log = self.part.log_y()
        for key in self.part.banded if keys is None else keys:
            mean = its.get(f"mean:{key}")
            if mean is None:
                continue
            xs, ys = self.part.series[key]
            x, m, low, high, _n = seeds.band_data(
                [getattr(r, xs).view() for r in members], [getattr(r, ys).view() for r in members], log
            )
            mean.setData(x, m)
            lo = its[f"lo:{key}"]
            lo.blockSignals(True)  # the band's path is rebuilt once, when its high end is set
            try:
                lo.setData(x, low)
            finally:
                lo.blockSignals(False)
            its[f"hi:{key}"].setData(x, high)
