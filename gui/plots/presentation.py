"""Presentation mode for the live plots, and the spotlight on one run.

Presentation mode (for a projector): larger plot text (x1.3: tick labels >= 18 px at 96
dpi), curves at least 3 px wide, the black-on-white ``contrast`` theme, the colour-blind
safe Okabe-Ito run colours and, as a second cue besides colour, one line style per run on
the curves whose :class:`~optiscope.gui.plots.part.Pen` says ``per_run`` (the learning-rate
and smoothed-loss curves; accuracy keeps train solid / validation dashed).
The spotlight fades every run but one, in either mode.

In either mode a curve whose colour is faint on the plot background (under 3:1, e.g.
Okabe-Ito yellow on white) is drawn over a slightly wider casing of the same hue made dark
enough to read (:func:`casing_pen`), so the palette itself stays unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from optiscope.gui import colors
from optiscope.gui.plots import overlap, seeds, style
from PySide6 import QtGui
from PySide6.QtCore import Qt

if TYPE_CHECKING:
    from optiscope.gui.plots.part import Pen

__all__ = [
    "Look",
    "TEXT_SCALE",
    "PROJECTOR_PT",
    "MIN_WIDTH",
    "RUN_LINE_STYLES",
    "FADED_OPACITY",
    "casing_pen",
    "CASING_EXTRA",
]

TEXT_SCALE = 1.3
PROJECTOR_PT = style.TICK_PT * TEXT_SCALE  # text beside the plots (table, tools) as large as their ticks
MIN_WIDTH = 3.5
FADED_OPACITY = 0.15
CASING_EXTRA = 2.0  # a casing is this many pixels wider than its line: one each side
RUN_LINE_STYLES = (
    Qt.PenStyle.SolidLine,
    Qt.PenStyle.DashLine,
    Qt.PenStyle.DotLine,
    Qt.PenStyle.DashDotLine,
    Qt.PenStyle.DashDotDotLine,
)


def casing_pen(pen: QtGui.QPen, background: str) -> QtGui.QPen | None:
    """The casing under a curve drawn with ``pen`` on ``background``, or None if the pen's
    colour reads on its own. It has the pen's dash pattern, so dashes stay dashes (Qt counts
    dashes in pen widths: the wider casing's pattern is scaled down to the same lengths)."""
    colour = colors.casing_color(pen.color(), background)
    if colour is None:
        return None
    casing = QtGui.QPen(pen)
    casing.setColor(colour)
    width = max(pen.widthF(), 1.0)
    wider = width + CASING_EXTRA
    casing.setWidthF(wider)
    if pen.style() != Qt.PenStyle.SolidLine:
        scale = width / wider
        casing.setDashPattern([d * scale for d in pen.dashPattern()])
        casing.setDashOffset(pen.dashOffset() * scale)
    return casing


class Look:
    """Whether the plots present, and which run (if any) is spotlighted."""

    def __init__(self) -> None:
        self.presenting = False
        self.spotlight: int | None = None
        self.spotlight_group: int | None = None  # the spotlit run's runner (its seeds stay lit)
        self.shared: dict[int, tuple[int, int]] = {}  # run id -> (place, size) of its identical curves' group

    def set_presenting(self, on: bool) -> None:
        """Switch the shared look (run palette, text scale); the plots then restyle."""
        self.presenting = on
        colors.set_run_palette(colors.OKABE_ITO_RUNS if on else colors.RUN_PALETTE)
        style.set_text_scale(TEXT_SCALE if on else 1.0)

    def line_width(self, width: float) -> float:
        """The width a curve of pen width ``width`` is drawn at in this look (pixels)."""
        return max(width * 1.5, MIN_WIDTH) if self.presenting else width

    def pen(self, spec: Pen, run_id: int, color: Any, background: str) -> QtGui.QPen:
        """The pen of a curve drawn as ``spec`` for run ``run_id`` (its runner) in ``color``."""
        if spec.faint:
            return style.raw_pen(color, background)
        width, line = self.line_width(spec.width), spec.style
        if self.presenting:
            if spec.per_run:
                line = RUN_LINE_STYLES[run_id % len(RUN_LINE_STYLES)]
        if colors.is_past_run(run_id):  # a past run overlaid: grey (its colour), dotted where
            line = (
                Qt.PenStyle.DotLine if spec.style == Qt.PenStyle.SolidLine else spec.style
            )  # a live run is solid
        pen = pg.mkPen(color, width=width, style=line)
        if spec.shared and run_id in self.shared:
            pen = overlap.share_pen(pen, *self.shared[run_id])
        return pen

    def style_items(self, run: Any, its: dict[str, Any], pens: dict[str, Pen], background: str) -> None:
        """Pens (by key, from ``pens``) and opacity of the curves ``its`` of ``run`` (a
        :class:`~optiscope.gui.plots.part.PlotRun`) on ``background``."""
        faded = self.spotlight is not None and self.spotlight_group != run.group
        seeded = getattr(run, "seeded", False)
        for key, item in its.items():
            role, _, curve = key.partition(":")
            if isinstance(item, pg.FillBetweenItem):  # a runner's 95 % band over its seeds
                band = QtGui.QColor(run.color)
                band.setAlpha(seeds.BAND_ALPHA)
                item.setBrush(band)
                item.setOpacity(FADED_OPACITY if faded else 1.0)
                continue
            if not isinstance(item, pg.PlotDataItem) or role in ("lo", "hi"):
                continue
            spec = pens.get(curve if role == "mean" else key)
            if spec is not None:
                if seeded and role != "mean" and not spec.faint:  # one seed's own curve: thin
                    thin = QtGui.QColor(run.color)
                    thin.setAlpha(seeds.SEED_ALPHA)
                    item.setPen(pg.mkPen(thin, width=1.0, style=spec.style))
                    item.setShadowPen(None)
                else:
                    pen = self.pen(spec, run.group, run.color, background)
                    item.setPen(pen)
                    if not spec.faint:
                        item.setShadowPen(casing_pen(pen, background))
            item.setOpacity(FADED_OPACITY if faded else 1.0)
