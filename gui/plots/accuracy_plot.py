"""The accuracy plot: train (solid) and validation (dashed) accuracy per epoch, with ★ at
the best epoch early stopping reported."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from optiscope.gui.plots import hover, items
from optiscope.gui.plots.part import Pen, PlotPart, PlotRun
from PySide6.QtCore import Qt

__all__ = ["AccuracyPlot"]


class AccuracyPlot(PlotPart):
    """Accuracy per epoch: train solid, validation dashed."""

    name = "accuracy"
    title = "Accuracy"
    subtitles = ("solid: train · dashed: validation", "solid: train · dashed: val.")
    axis_labels = ("epoch", "accuracy (fraction correct)")
    short_axis_labels = ((), ("accuracy", "acc."))
    cell_labels = ("epoch", "accuracy")
    place = (0, 1)
    x_range, y_range = "epochs", "accuracy"
    pens = {"acc_train": Pen(2.5), "acc_val": Pen(2.5, Qt.PenStyle.DashLine)}
    dotted = ("acc_train", "acc_val")
    guides = ("acc_best",)
    marked = True
    counted = "acc_train"
    series = {"acc_train": ("epoch", "train_acc"), "acc_val": ("epoch", "val_acc")}
    banded = ("acc_train", "acc_val")
    close_series = ("acc_val", "accuracy")

    def create(self, plot: pg.PlotItem, run: PlotRun) -> dict[str, Any]:
        return items.accuracy_items(plot, run.color)

    def draw(self, run: PlotRun, its: dict[str, Any], flags: set[str]) -> None:
        if "all" in flags or "epochs" in flags:
            epochs = run.epoch.view()
            its["acc_train"].setData(epochs, run.train_acc.view())
            its["acc_val"].setData(epochs, run.val_acc.view())

    def readout(self, run_id: int | None, x: float, y: float, tol: float) -> str | None:
        return hover.readout_accuracy(self.frame.runs_for(run_id), x)
