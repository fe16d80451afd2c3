"""Live training plots (:class:`LivePlots`) and the parts it is composed of.

Each live plot is a part: a :class:`~.part.PlotPart` subclass in its own module
(:mod:`.lr_plot`, :mod:`.loss_plot`, :mod:`.accuracy_plot`, :mod:`.boundary_plot`) and one
row in :mod:`.registry`. The frame serves every part alike: :mod:`.frame` (the parts'
table and shared state), :mod:`.arrangement` (where they sit), :mod:`.cells` (grid cells),
:mod:`.shown` (read-only views) and :mod:`.live` (:class:`LivePlots`, the router). Helpers:
:mod:`.buffers` (run data, no Qt), :mod:`.ranges` (axis-range policy, no Qt),
:mod:`.style`, :mod:`.titles` (text that fits), :mod:`.items` (fast curves and markers),
:mod:`.boundary` (decision-boundary drawing), :mod:`.hover` (readouts), :mod:`.legend`,
:mod:`.export` (PNG/SVG), :mod:`.grid` (small multiples), :mod:`.presentation`,
:mod:`.lesson_marks` and :mod:`.controls`.

Names are loaded on first use, so the Qt-free modules import without Qt or pyqtgraph.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optiscope.gui.colors import CLASS_PALETTE, RUN_PALETTE, run_color
    from optiscope.gui.plots.live import LivePlots
    from optiscope.gui.plots.registry import PLOT_NAMES, PLOT_PARTS
    from optiscope.gui.plots.style import THEMES

__all__ = ["LivePlots", "PLOT_NAMES", "PLOT_PARTS", "RUN_PALETTE", "CLASS_PALETTE", "THEMES", "run_color"]

_HOMES = {
    "LivePlots": "optiscope.gui.plots.live",
    "PLOT_NAMES": "optiscope.gui.plots.registry",
    "PLOT_PARTS": "optiscope.gui.plots.registry",
    "THEMES": "optiscope.gui.plots.style",
    "RUN_PALETTE": "optiscope.gui.colors",
    "CLASS_PALETTE": "optiscope.gui.colors",
    "run_color": "optiscope.gui.colors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
