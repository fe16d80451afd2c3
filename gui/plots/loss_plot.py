"""The loss plot: raw loss per step (faint), its debiased moving average, and the
validation loss per epoch (dashed), with ★ at the best epoch and ✕ at a divergence."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from optiscope.gui.plots import hover, items
from optiscope.gui.plots.part import Pen, PlotPart, PlotRun
from optiscope.gui.plots.style import raw_pen
from PySide6.QtCore import Qt

__all__ = ["LossPlot"]


class LossPlot(PlotPart):
    """Loss per step: raw (faint), smoothed (solid) and validation (dashed); log axis optional."""

    name = "loss"
    title = "Loss"
    subtitles = (
        "faint: raw · solid: smoothed · dashed: validation · ★ best epoch",
        "faint: raw · solid: smoothed · dashed: val. · ★ best",
        "faint: raw · solid: smooth · dashed: val.",
    )
    axis_labels = ("step (update)", "loss (cross-entropy)")
    short_axis_labels = (("step",), ("loss",))
    cell_labels = ("step", "loss")
    place = (1, 0)
    x_range, y_range, x_link = "steps", "loss", "lr"
    pens = {
        "raw": Pen(1.0, faint=True),
        "smooth": Pen(2.0, per_run=True),
        "val_loss": Pen(2.0, Qt.PenStyle.DashLine),
    }
    dotted = ("val_loss",)
    guides = ("loss_best", "loss_div")
    marked = True
    counted = "raw"
    series = {"raw": ("steps", "loss"), "smooth": ("steps", "smooth"), "val_loss": ("epoch_step", "val_loss")}
    banded = ("smooth", "val_loss")  # raw losses stay each seed's own (Show every seed)
    close_series = ("smooth", "loss")

    def log_y(self) -> bool:
        return self.frame.log_loss

    def create(self, plot: pg.PlotItem, run: PlotRun) -> dict[str, Any]:
        return items.loss_items(plot, run.color, raw_pen(run.color, self.frame.theme["bg"]))

    def draw(self, run: PlotRun, its: dict[str, Any], flags: set[str]) -> None:
        everything, steps = "all" in flags, run.steps.view()
        if everything or "steps" in flags:
            its["raw"].setData(steps, run.loss.view())
        if everything or flags & {"steps", "smooth"}:
            its["smooth"].setData(steps, run.smooth.view())
        if everything or "epochs" in flags:
            its["val_loss"].setData(run.epoch_step.view(), run.val_loss.view())

    def readout(self, run_id: int | None, x: float, y: float, tol: float) -> str | None:
        return hover.readout_loss(self.frame.runs_for(run_id), x, tol, self.frame.theme["muted"])
