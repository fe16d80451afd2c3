"""The live plots, one row each: the only list of them.

A new live plot is one module with a :class:`~optiscope.gui.plots.part.PlotPart` subclass
and one row here (docs/extending.md, "Adding a live plot"). Everything that shows plots
(:class:`~optiscope.gui.plots.live.LivePlots`, its overlay and grid views, exports, the
recipe panel's figure list) walks this table.
"""

from __future__ import annotations

from optiscope.gui.plots.accuracy_plot import AccuracyPlot
from optiscope.gui.plots.boundary_plot import BoundaryPlot
from optiscope.gui.plots.loss_plot import LossPlot
from optiscope.gui.plots.lr_plot import LRPlot
from optiscope.gui.plots.part import PlotPart

__all__ = ["PLOT_PARTS", "PLOT_NAMES"]

PLOT_PARTS: tuple[type[PlotPart], ...] = (
    LRPlot,
    LossPlot,
    AccuracyPlot,
    BoundaryPlot,
)
PLOT_NAMES: tuple[str, ...] = tuple(part.name for part in PLOT_PARTS)
