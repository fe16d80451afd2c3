"""Titles and text that fit: the longest wording that fits the room, run labels elided.

Overlay plots and small-multiples cells choose among title candidates, longest first;
when none fits, the run label inside the title is elided with "…" (the full text stays
in the title's tooltip), so nothing is cut at 1280x720 beside the side panels.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from optiscope.gui import pg_adapter
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.style import CELL_TITLE_PT, TICK_PT, TITLE_PT, Theme, escape, font, pt
from PySide6 import QtGui
from PySide6.QtCore import Qt

__all__ = [
    "fit_text",
    "set_title",
    "overlay_title",
    "cell_titles",
    "fit_overlay_title",
    "fit_cell_title",
    "fit_axis_label",
]

# Overlay plot titles and legends-in-subtitle, longest first: the first that fits is shown.
OVERLAY_TITLES = {"lr": "Learning rate", "loss": "Loss", "accuracy": "Accuracy"}
OVERLAY_SUBTITLES = {
    "lr": ("▼ plateau drop · ✕ diverged", "▼ plateau · ✕ diverged"),
    "loss": (
        "faint: raw · solid: smoothed · dashed: validation · ★ best epoch",
        "faint: raw · solid: smoothed · dashed: val. · ★ best",
        "faint: raw · solid: smooth · dashed: val.",
    ),
    "accuracy": ("solid: train · dashed: validation", "solid: train · dashed: val."),
}
TITLE_PAD = 20  # the plot's layout margins (2 + 10) and a little air
CELL_TITLE_PAD = 14
MIN_LABEL_CHARS = 6  # an elided run label keeps at least this many characters
Parts = tuple[str, str, str]  # (prefix, run label, suffix) of a title whose label may be elided


def fit_text(font: QtGui.QFont, candidates: Sequence[str], width: float, parts: Parts | None = None) -> str:
    """The first of ``candidates`` (longest first) that fits ``width`` pixels in ``font``; else
    ``prefix + label + suffix`` from ``parts`` with the label elided ("…") to no fewer than
    ``MIN_LABEL_CHARS`` characters, dropping the suffix if need be; else the last candidate elided."""
    metrics = QtGui.QFontMetrics(font)
    width = max(int(width), 1)
    for text in candidates:
        if metrics.horizontalAdvance(text) <= width:
            return text
    if parts is not None:
        prefix, label, suffix = parts
        for tail in dict.fromkeys((suffix, "")):  # a label cut to a stub: the suffix goes first
            room = width - metrics.horizontalAdvance(prefix + tail)
            shown = metrics.elidedText(label, Qt.TextElideMode.ElideRight, room) if room > 0 else ""
            if len(shown.rstrip("…")) >= min(len(label), MIN_LABEL_CHARS):
                return prefix + shown + tail
    return metrics.elidedText(candidates[-1], Qt.TextElideMode.ElideRight, width) or "…"


def set_title(plot: pg.PlotItem, html: str, points: float, color: str, shrink: bool = False) -> None:
    """Set a bold title (lines centred); ``shrink`` lets the plot be narrower than the text."""
    if not html:
        plot.setTitle(None)
        return
    plot.setTitle(html, size=f"{points:g}pt", color=color, bold=True)
    label = plot.titleLabel
    pg_adapter.centre_title(label)
    if shrink:
        pg_adapter.allow_narrow_title(label)
    label.updateMin()
    pg_adapter.fit_title_row(plot)
    label.resizeEvent(None)
    label.updateGeometry()


def overlay_title(name: str, shown_boundary: RunData | None) -> tuple[list[str], Parts | None, Sequence[str]]:
    """Title candidates of overlay plot ``name`` (longest first), the parts to elide the run
    label in when none fits, and the subtitle candidates; the boundary plot names the run
    whose boundary it shows (``shown_boundary``)."""
    if name != "boundary":
        return [OVERLAY_TITLES[name]], None, OVERLAY_SUBTITLES[name]
    run = shown_boundary
    if run is None or run.boundary is None:
        return ["Decision boundary"], None, ()
    label, epoch = run.label, run.boundary.epoch
    titles = [f"Decision boundary — {label}, epoch {epoch}", f"Boundary · {label} · ep {epoch}"]
    return titles, ("Boundary · ", label, f" · ep {epoch}"), ()


def cell_titles(name: str, run: RunData) -> tuple[list[str], Parts]:
    """A grid cell's title candidates, longest first, and the parts to elide the label in."""
    if name == "boundary" and run.boundary is not None:
        epoch = run.boundary.epoch
        return [f"{run.label} · epoch {epoch}", f"{run.label} · ep {epoch}"], (
            "",
            run.label,
            f" · ep {epoch}",
        )
    return [run.title, run.label], ("", run.label, "")  # the status is in the legend and tooltip


def fit_overlay_title(
    plot: pg.PlotItem,
    width: float,
    candidates: tuple[list[str], Parts | None, Sequence[str]],
    theme: Theme,
    shown: tuple[str, str] | None,
    one_line: bool = False,
) -> tuple[str, str]:
    """Title ``plot`` with the longest wording of ``candidates`` (see :func:`overlay_title`)
    that fits ``width`` pixels, subtitle in the muted colour; the full title is the tooltip.

    ``one_line``: put the subtitle beside the title where both fit (presentation mode,
    where height is scarce). ``shown`` is what the previous call returned: when the wording is unchanged the title
    is left alone (nothing to re-lay out). Returns what to pass as ``shown`` next time.
    """
    titles, parts, subtitles = candidates
    width -= TITLE_PAD
    title = fit_text(font(TITLE_PT, bold=True), titles, width, parts)
    html = escape(title)
    if subtitles:
        subtitle = fit_text(font(TICK_PT), subtitles, width)
        joint = "<br>"
        if one_line:  # the subtitle beside the title when both fit: a row of height saved
            room = width - QtGui.QFontMetrics(font(TITLE_PT, bold=True)).horizontalAdvance(title + "  ")
            beside = fit_text(font(TICK_PT), subtitles, room)
            if QtGui.QFontMetrics(font(TICK_PT)).horizontalAdvance(beside) <= room:
                subtitle, joint = beside, "&nbsp;&nbsp;"
        html += (
            f'{joint}<span style="font-size:{pt(TICK_PT):g}pt; font-weight:normal; color:{theme["muted"]}">'
            f"{escape(subtitle)}</span>"
        )
    key = (html, theme["fg"])
    if shown == key:
        return key
    set_title(plot, html, pt(TITLE_PT), theme["fg"], shrink=True)
    plot.titleLabel.setToolTip("\n".join([titles[0], *subtitles[:1]]))
    return key


def fit_cell_title(cell: pg.PlotItem, width: float, name: str, run: RunData, color: QtGui.QColor) -> None:
    """Title a grid cell in the run colour, elided to ``width`` pixels (the cell's width)."""
    axis = cell.getAxis("left")
    axis_width = axis.width() if axis.isVisible() and axis.width() > 0 else 40
    titles, parts = cell_titles(name, run)
    text = fit_text(font(CELL_TITLE_PT, bold=True), titles, width - axis_width - CELL_TITLE_PAD, parts)
    set_title(cell, escape(text), pt(CELL_TITLE_PT), color.name(), shrink=True)
    cell.titleLabel.setToolTip(titles[0])


AXIS_LABEL_AIR = 6  # pixels kept free along an axis beside its label


def fit_axis_label(axis: pg.AxisItem, choices: Sequence[str], css: dict[str, str]) -> str:
    """Label ``axis`` with the longest of ``choices`` (longest first) whose text fits the
    axis's length, measured on the label drawn; the full wording is the label's tooltip.
    Returns the wording shown (the last choice when none fits)."""
    vertical = axis.orientation in ("left", "right")
    length = (axis.size().height() if vertical else axis.size().width()) - AXIS_LABEL_AIR
    for text in choices:
        if axis.labelText != text:
            axis.setLabel(text, **css)
        if axis.label.boundingRect().width() <= length:
            break
    axis.label.setToolTip(choices[0])
    axis.resizeEvent(None)  # re-centre the label on the axis
    return str(axis.labelText)
