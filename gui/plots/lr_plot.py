"""The learning-rate plot: every run's rate per step on a log axis, the warm-up shaded.

Runs with identical rates (a momentum sweep at one LR) are drawn dashed in turn, so each
stays visible, and the legend says "LR same as ..." (:mod:`.overlap`). One plot in both
view modes: the rates of a sweep read best on shared axes.
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from optiscope.gui import pg_adapter
from optiscope.gui.plots import hover, items, overlap
from optiscope.gui.plots.legend import SameAs
from optiscope.gui.plots.part import Pen, PlotPart, PlotRun

__all__ = ["LRPlot"]


class LRPlot(PlotPart):
    """Learning rate per step (log y), ▼ plateau drops and ✕ divergence."""

    name = "lr"
    title = "Learning rate"
    subtitles = ("▼ plateau drop · ✕ diverged", "▼ plateau · ✕ diverged")
    axis_labels = ("step (update)", "learning rate (log scale)")
    short_axis_labels = (("step",), ("learning rate", "LR"))
    place = (0, 0)
    x_range, y_range = "steps", "lr"
    pens = {"lr": Pen(2.0, per_run=True, shared=True)}
    marked = True
    counted = "lr"
    series = {"lr": ("steps", "lr")}
    banded = ("lr",)  # the mean of the seeds' rates as they are: the LR is never smoothed

    def setup(self) -> None:
        self.plot.setYRange(-4, -1, padding=0.03)  # empty: three decades, not 1..10 in minor ticks
        self.warmups: dict[int, pg.LinearRegionItem] = {}

    def log_y(self) -> bool:
        return True

    def create(self, plot: pg.PlotItem, run: PlotRun) -> dict[str, Any]:
        lr = items.curve(pg.mkPen(run.color, width=2), antialias=False, method="subsample")
        items.add_curve(plot, lr)
        return {"lr": lr}

    def draw(self, run: PlotRun, its: dict[str, Any], flags: set[str]) -> None:
        if "all" in flags or "steps" in flags:
            its["lr"].setData(run.steps.view(), run.lr.view())

    def readout(self, run_id: int | None, x: float, y: float, tol: float) -> str | None:
        return hover.readout_lr(self.frame.runs_for(run_id), x, tol)

    def start_run(self, run: PlotRun) -> None:
        """Shade the warm-up phase (warm-up steps, or one-cycle's rising part)."""
        sched = run.config.get("schedule") or {}
        end = int(sched.get("warmup_steps") or 0)
        label = "warm-up"
        if sched.get("kind") == "one_cycle":
            end = max(end, int(float(sched.get("pct_start", 0.0)) * run.total_steps))
            label = "one-cycle warm-up"
        if end <= 0 or end in self.warmups:
            return
        region = pg.LinearRegionItem(
            values=self._span(end), movable=False, brush=pg.mkBrush(128, 128, 128, 40), pen=pg.mkPen(None)
        )
        region.setZValue(-10)
        position = 0.95 - 0.09 * (len(self.warmups) % 4)  # stagger labels of nearby regions
        pg.InfLineLabel(
            region.lines[1],
            text=label,
            position=position,
            anchors=[(1, 0), (1, 0)],
            color=self.frame.theme["muted"],
        )
        self.plot.addItem(region, ignoreBounds=True)
        self.warmups[end] = region

    def batch_done(self, events: Any, dirty: dict[int, set[str]]) -> None:
        runs = self.frame.runs
        # only leads' rates are compared (a runner's seeds share one schedule)
        if any(flags & {"steps", "all"} and rid in runs and runs[rid].lead for rid, flags in dirty.items()):
            self.find_shared()

    def forget_run(self, run: PlotRun) -> None:
        self.find_shared()

    def _span(self, end: int) -> tuple[float, float]:
        """A warm-up of ``end`` steps in view units (log10 of the step on a log x axis)."""
        return (0.0, math.log10(end)) if self.log_x() else (0.0, float(end))

    def axes_changed(self) -> None:
        for end, region in getattr(self, "warmups", {}).items():
            region.setRegion(self._span(end))

    def reset(self) -> None:
        for region in self.warmups.values():
            self.plot.removeItem(region)
        self.warmups.clear()

    def restyle(self) -> None:
        for region in self.warmups.values():
            pg_adapter.recolour_region_labels(region, self.frame.theme["muted"])

    def warmup_regions(self) -> list[tuple[float, float, list[str]]]:
        """The shaded warm-up phases: (start, end in view units, label colours)."""
        return [(*r.getRegion(), pg_adapter.region_label_colours(r)) for r in self.warmups.values()]

    def find_shared(self) -> None:
        """Find the runs whose LR curves are identical; if that changed, draw each group's
        curves dashed in turn (see :mod:`.overlap`) and note it in the legend."""
        frame, look = self.frame, self.frame.look
        # a runner of several seeds is its lead's (its seeds share one schedule)
        groups = overlap.identical_groups({r.id: r.lr.view() for r in frame.runs.values() if r.lead})
        shared = {rid: (i, len(g)) for g in groups for i, rid in enumerate(g)}
        if shared == look.shared:
            return
        changed = set(shared) ^ set(look.shared) | {r for r in shared if shared[r] != look.shared.get(r)}
        look.shared, self.overlapping = shared, groups
        # the dashes show it on the plot: a note that gives way before a run's name is shortened
        frame.legend.set_notes("lr", {rid: SameAs("LR", g[0]) for g in groups for rid in g[1:]}, drop=1)
        for rid in changed:
            if rid in frame.runs:
                frame.style_run(frame.runs[rid])
        frame.update_legend()
