"""Every place where Optiscope relies on pyqtgraph's internals, in one module.

Written against pyqtgraph 0.14. Each function below works around one behaviour of
pyqtgraph (or reads one of its private fields) and says why; nothing else in the GUI
touches private attributes or ``opts[...]`` of pyqtgraph items, so an upgrade of
pyqtgraph is checked (and fixed) here.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt

__all__ = [
    "plain_tick_values",
    "tick_value_scale",
    "add_reduced_curve",
    "curve_reduction",
    "curve_pen",
    "set_curve_cached",
    "curve_cached",
    "centre_title",
    "allow_narrow_title",
    "fit_title_row",
    "title_text",
    "title_text_width",
    "set_text_box_style",
    "text_item_text",
    "recolour_region_labels",
    "region_label_colours",
    "scatter_spots",
    "export_mode",
    "render_widget",
    "set_log_axis_line",
    "decade_tick_labels",
    "count_log_tick_labels",
    "recolour_legend",
    "resize_legend_text",
    "GraphicsLayoutWithResize",
    "BandFill",
]

_NO_CACHE = QtWidgets.QGraphicsItem.CacheMode.NoCache
_DEVICE_CACHE = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache


# ---------------------------------------------------------------- axes: SI prefixes
def plain_tick_values(axis: pg.AxisItem) -> None:
    """Tick values as they are: no SI-prefix rescaling (0.85 shown as "850" with an "m"
    only in a units label we do not have), and no label re-layout on every range change."""
    axis.enableAutoSIPrefix(False)
    # Workaround: enableAutoSIPrefix(False) itself computes a prefix for the current range
    # (pyqtgraph 0.14) and then never updates it again; reset the scale and the unit
    # prefix it may have left behind, and drop the cached picture drawn with them.
    axis.autoSIPrefixScale = 1.0
    axis.labelUnitPrefix = ""
    axis.picture = None
    axis.update()


def tick_value_scale(axis: pg.AxisItem) -> float:
    """The factor the axis multiplies its tick values by before writing them (1: plain).

    Reads the private ``autoSIPrefixScale`` that ``AxisItem.generateDrawSpecs`` applies.
    """
    return float(axis.autoSIPrefixScale * axis.scale)


def decade_tick_labels(axis: pg.AxisItem) -> None:
    """On a log axis, write numbers at the powers of ten only (the other ticks stay, unlabelled).

    With a single power of ten in view its 2x and 5x neighbours are written too (one
    number alone does not show the scale); with none, every tick keeps its number.
    """

    # Workaround: when a log axis spans few decades, pyqtgraph (0.14) adds the 2..9
    # multiples as a tick level and labels each of them ("0.0009, 0.0008, ..."), which
    # crowds the axis; it has no option to label only some levels' values. ``axis.range``
    # is the visible range in log10 units (AxisItem's own attribute).
    original = axis.logTickStrings
    kept = (0.0, math.log10(2), math.log10(5))

    def strings(values: list[float], scale: float, spacing: float) -> list[str]:
        out = original(values, scale, spacing)
        lo, hi = sorted(axis.range)
        decades = math.floor(hi) - math.ceil(lo) + 1
        if decades < 1:  # no power of ten in view
            return out
        wanted = kept if decades == 1 else kept[:1]
        return [
            text
            if any(abs(v - math.floor(v) - k) < 1e-6 or abs(v - math.ceil(v) - k) < 1e-6 for k in wanted)
            else ""
            for v, text in zip(values, out, strict=True)
        ]

    axis.logTickStrings = strings
    axis.picture = None
    axis.update()


def count_log_tick_labels(axis: pg.AxisItem) -> None:
    """On a log axis of counts (steps, epochs), write 1, 2, 5, 10, 20, 50, ... as plain
    numbers (the other ticks stay, unlabelled); a linear axis is unchanged."""

    # Workaround: pyqtgraph (0.14) writes log-axis ticks as "2·10¹" and labels every 2..9
    # multiple when few decades show, which piles the labels of a step axis on each other.
    # ``axis.range`` is the visible range in log10 units (AxisItem's own attribute)
    def strings(values: list[float], scale: float, spacing: float) -> list[str]:
        lo, hi = sorted(axis.range)
        out = []
        for v in values:
            n = 10.0**v
            lead = n / 10.0 ** math.floor(math.log10(n) + 1e-9) if n > 0 else 0.0
            whole = abs(n - round(n)) < 1e-6 * max(n, 1.0)
            # within one decade every whole number is written (epochs 1..8), else 1, 2, 5 x 10^k
            keep = whole if hi - lo <= 1.0 else any(abs(lead - k) < 1e-6 for k in (1.0, 2.0, 5.0))
            out.append((f"{n:.0f}" if n < 1e5 else f"{n:.0e}") if keep and n >= 1 - 1e-9 else "")
        return out

    axis.logTickStrings = strings
    axis.picture = None


def recolour_legend(legend: pg.LegendItem, color: str) -> None:
    """Set the text colour of a legend's entries, those already in it included."""
    legend.setLabelTextColor(color)
    # Workaround: setLabelTextColor only stores the colour on each entry's LabelItem;
    # the entry is drawn in it once its text is set again.
    for _sample, label in legend.items:
        label.setText(label.text)


def resize_legend_text(legend: pg.LegendItem, size: str) -> None:
    """Set the text size (CSS, e.g. "14pt") of a legend's entries, those already in it included."""
    legend.setLabelTextSize(size)
    # Workaround: as setLabelTextColor, setLabelTextSize only stores the size on each entry;
    # the entry is drawn at it once its text is set again (and the legend re-laid out).
    for _sample, label in legend.items:
        label.setText(label.text)
    legend.updateSize()


# ---------------------------------------------------------------- curves
def add_reduced_curve(
    plot: pg.PlotItem, item: pg.PlotDataItem, method: str, per_pixel: float, ignore_bounds: bool = False
) -> None:
    """Add ``item`` to ``plot``, clipped to the view and downsampled to ``per_pixel`` samples
    per pixel column with ``method`` ('peak', 'mean' or 'subsample')."""
    plot.addItem(item, ignoreBounds=ignore_bounds)
    # Workaround: PlotItem.addItem overwrites an item's clip-to-view and downsampling with
    # the plot's own context-menu settings (off by default), so they are applied after it.
    item.setClipToView(True)
    item.setDownsampling(auto=True, method=method)
    # Workaround: the auto-downsampling density (samples per pixel) has no setter.
    item.opts["autoDownsampleFactor"] = per_pixel


def curve_reduction(item: pg.PlotDataItem) -> tuple[bool, bool, str]:
    """(clip to view, auto downsampling, downsampling method) of a curve, read from ``opts``."""
    return (
        bool(item.opts["clipToView"]),
        bool(item.opts["autoDownsample"]),
        str(item.opts["downsampleMethod"]),
    )


def curve_pen(item: pg.PlotDataItem) -> QtGui.QPen:
    """The pen a curve is drawn with (PlotDataItem has no getter; read from ``opts``)."""
    return pg.mkPen(item.opts["pen"])


def set_curve_cached(item: pg.PlotDataItem, cached: bool) -> None:
    """Cache the drawn curve as a pixmap (``cached``) or redraw it on every paint."""
    # Workaround: the cache mode must be set on the PlotDataItem's inner PlotCurveItem
    # (its ``curve`` child), which does the drawing.
    item.curve.setCacheMode(_DEVICE_CACHE if cached else _NO_CACHE)


def curve_cached(item: pg.PlotDataItem) -> bool:
    """Whether the curve is drawn from a pixmap cache (see :func:`set_curve_cached`)."""
    return item.curve.cacheMode() != _NO_CACHE


def set_log_axis_line(plot: pg.PlotItem, line: pg.InfiniteLine, value: float) -> None:
    """Add a horizontal ``line`` at data value ``value`` to ``plot`` whose y axis is logarithmic."""
    # Workaround: in log mode only PlotDataItems transform their data; an InfiniteLine's
    # position is in view coordinates, which are log10 of the data there.
    plot.addItem(line)  # its value counts in the auto range: a guide stays in view
    line.setPos(math.log10(value) if plot.ctrl.logYCheck.isChecked() else value)


# ---------------------------------------------------------------- titles and text
def centre_title(label: pg.LabelItem) -> None:
    """Centre every line of a (multi-line) LabelItem and size it to its longest line."""
    # Workaround: LabelItem left-aligns the lines of its QGraphicsTextItem (``item``) and
    # offers no alignment option; set it on the text document and fit the text width.
    text = label.item
    text.setTextWidth(-1)  # measure the new text unwrapped
    doc = text.document()
    option = doc.defaultTextOption()
    option.setAlignment(Qt.AlignmentFlag.AlignHCenter)
    doc.setDefaultTextOption(option)
    text.setTextWidth(doc.idealWidth())


def fit_title_row(plot: pg.PlotItem) -> None:
    """Make the title row of ``plot`` as tall as its (possibly two-line, large) title."""
    # Workaround: PlotItem.setTitle pins the title row and the label to 30 px, so a
    # two-line title at projector size spills over the top edge and into the data area.
    label = plot.titleLabel
    m = label.item.document().documentMargin()
    height = max(30, math.ceil(label.item.boundingRect().height() - m))
    label.setMaximumHeight(height)
    plot.layout.setRowFixedHeight(0, height)


def allow_narrow_title(label: pg.LabelItem) -> None:
    """Let a LabelItem (a plot title) be laid out narrower than its text."""
    if "updateMin" in vars(label):
        return
    # Workaround: LabelItem pins its minimum width to its text on every resize (updateMin
    # writes the private ``_sizeHint``); a small-multiples cell must be allowed to get
    # narrower than its (elided) title.

    def update_min(label: pg.LabelItem = label) -> None:
        pg.LabelItem.updateMin(label)
        label.setMinimumWidth(0)
        label._sizeHint[Qt.SizeHint.MinimumSize] = (0, label._sizeHint[Qt.SizeHint.MinimumSize][1])

    label.updateMin = update_min


def title_text(label: pg.LabelItem) -> str:
    """The plain text a LabelItem (a plot title) shows, lines separated by newlines."""
    # Reads the LabelItem's inner QGraphicsTextItem (``item``): LabelItem keeps only HTML.
    return label.item.toPlainText()


def title_text_width(label: pg.LabelItem) -> float:
    """The width, in pixels, of a LabelItem's text as laid out (its longest line)."""
    return float(label.item.document().idealWidth())


def set_text_box_style(item: pg.TextItem, border: QtGui.QPen, fill: QtGui.QBrush) -> None:
    """Restyle a TextItem's frame and background after creation."""
    # Workaround: TextItem takes border and fill only in its constructor; paint() reads
    # these attributes, so they are replaced directly.
    item.border = border
    item.fill = fill
    item.update()


def text_item_text(item: pg.TextItem) -> str:
    """The plain text a TextItem shows."""
    return item.toPlainText()


def _region_labels(region: pg.LinearRegionItem) -> list[pg.InfLineLabel]:
    # Workaround: a LinearRegionItem keeps its edge lines in ``lines``, and an InfLineLabel
    # attached to a line is only reachable as one of the line's child items.
    return [i for line in region.lines for i in line.childItems() if isinstance(i, pg.InfLineLabel)]


def recolour_region_labels(region: pg.LinearRegionItem, color: str) -> None:
    """Recolour the labels attached to the edges of ``region`` (e.g. after a theme change)."""
    for label in _region_labels(region):
        label.setColor(color)


def region_label_colours(region: pg.LinearRegionItem) -> list[str]:
    """The colours (``#rrggbb``) of the labels on the edges of ``region``."""
    return [label.color.name() for label in _region_labels(region)]


def scatter_spots(item: pg.ScatterPlotItem) -> list[tuple[float, float, str, str]]:
    """(x, y, symbol, edge colour ``#rrggbb``) of every spot a ScatterPlotItem holds."""
    # Workaround: read the record array ``data`` in one go instead of one SpotItem per point.
    data = item.data
    return [(float(r["x"]), float(r["y"]), str(r["symbol"]), pg.mkPen(r["pen"]).color().name()) for r in data]


# ---------------------------------------------------------------- export
@contextlib.contextmanager
def export_mode(scene: QtWidgets.QGraphicsScene, curves: Iterable[pg.PlotDataItem]) -> Iterator[None]:
    """Paint ``scene`` for export: antialiased vector curves and symbols (no 1x pixmap caches)."""
    # Workaround: pyqtgraph's own exporters switch items into export mode through the
    # semi-private ``setExportMode``; rendering the widget ourselves (its SVG exporter
    # fails with PySide6) needs the same switch, and pixmap-cached curves would be
    # pasted as low-resolution bitmaps.
    scene_items = [i for i in scene.items() if hasattr(i, "setExportMode")]
    for item in scene_items:
        item.setExportMode(True, {"antialias": True})
    cached = []
    for item in curves:
        inner = getattr(item, "curve", None)
        if inner is not None and inner.cacheMode() != _NO_CACHE:
            cached.append((inner, inner.cacheMode()))
            inner.setCacheMode(_NO_CACHE)
    try:
        yield
    finally:
        for inner, mode in cached:
            inner.setCacheMode(mode)
        for item in scene_items:
            item.setExportMode(False)


def render_widget(widget: QtWidgets.QWidget, painter: QtGui.QPainter) -> None:
    """Draw ``widget`` as it looks on screen with ``painter``."""
    # Workaround: a pyqtgraph view is a QGraphicsView, whose render() maps the scene, not
    # the widget (axes and margins come out shifted); call QWidget.render explicitly.
    QtWidgets.QWidget.render(widget, painter, QtCore.QPoint(0, 0))


class GraphicsLayoutWithResize(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget that calls ``on_resize()`` after every resize."""

    def __init__(self, on_resize: object = None) -> None:
        # Workaround: GraphicsView.__init__ already calls resizeEvent, before a subclass
        # could set its own attributes; the callback is set to None first.
        self._on_resize = None
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event: QtGui.QResizeEvent | None) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._on_resize is not None:
            self._on_resize()


class BandFill(pg.FillBetweenItem):
    """A ``FillBetweenItem`` between two curves that share their x values (a runner's band
    between its interval's low and high ends), its path built in one step.

    Workaround: pyqtgraph 0.14's ``FillBetweenItem.updatePath`` takes both curves'
    QPainterPaths apart into polygons (``toSubpathPolygons``) and joins them point by point
    through Python objects: 2-3 ms for an 800-point band, redone for every band of every
    runner as a run goes on. Here the same polygons -- each finite stretch of the first
    curve, then the second curve's stretch backwards -- are made from the curves' drawn data
    with numpy, in one ``arrayToQPath`` call. Curves whose drawn x values differ are left to
    pyqtgraph's own method.
    """

    def updatePath(self) -> None:  # noqa: N802 (pyqtgraph API)
        curves = self.curves
        if curves is None:
            super().updatePath()
            return
        (x1, y1), (x2, y2) = (
            c.curve.getData() if isinstance(c, pg.PlotDataItem) else c.getData() for c in curves
        )
        if x1 is None or x2 is None or len(x1) != len(x2) or not np.array_equal(x1, x2):
            super().updatePath()
            return
        path = QtGui.QPainterPath()
        path.setFillRule(self.fillRule())
        ok = np.isfinite(x1) & np.isfinite(y1) & np.isfinite(y2)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.view(np.int8), [0]))))
        if len(edges):
            xs, ys, joined = [], [], []
            for start, end in zip(edges[::2], edges[1::2], strict=True):
                xs += [x1[start:end], x1[start:end][::-1]]
                ys += [y1[start:end], y2[start:end][::-1]]
                link = np.ones(2 * (end - start), dtype=np.int32)
                link[-1] = 0  # the next stretch is a polygon of its own
                joined.append(link)
            path = pg.arrayToQPath(np.concatenate(xs), np.concatenate(ys), connect=np.concatenate(joined))
            path.setFillRule(self.fillRule())
        self.setPath(path)
