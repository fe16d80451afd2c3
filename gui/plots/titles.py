"""Titles and text that fit: the longest wording that fits the room, run labels elided.

Overlay plots and small-multiples cells choose among title candidates, longest first;
when none fits, the run label inside the title is elided with "…" (the full text stays
in the title's tooltip), so nothing is cut at 1280x720 beside the side panels.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import NamedTuple

import pyqtgraph as pg
from optiscope.gui import pg_adapter
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.style import CELL_TITLE_PT, TICK_PT, TITLE_PT, Theme, font, pt
from PySide6 import QtGui
from PySide6.QtCore import Qt

__all__ = [
    "fit_text",
    "set_title",
    "cell_titles",
    "fit_overlay_title",
    "fit_cell_title",
    "fit_axis_label",
    "distinct_labels",
]

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


def _tokens(label: str) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", label) if t]


def distinct_labels(label: str, labels: Sequence[str]) -> list[str]:
    """Shorter wordings of run ``label`` that keep what tells it from the other ``labels``
    (every run's label), longest first: the words all labels share dropped, then of each
    ``key=value`` word whose key every label has, only the value ("plain lr=0.1" among
    "batchnorm lr=0.1", "plain lr=3": "plain 0.1"). Empty when nothing can be dropped."""
    others = [_tokens(o) for o in labels if o]
    words = _tokens(label)
    if len(others) < 2 or not words:
        return []
    shared = set.intersection(*(set(t) for t in others))
    differing = [w for w in words if w not in shared] or words
    keys = [{t.split("=", 1)[0] for t in o if "=" in t} for o in others]
    shared_keys = set.intersection(*keys)
    values = [w.split("=", 1)[1] if "=" in w and w.split("=", 1)[0] in shared_keys else w for w in differing]
    out = [" ".join(differing), " ".join(values)]
    return [c for c in dict.fromkeys(out) if c and c != label]


class CellTitles(NamedTuple):
    """A grid cell's title wordings, in the order they are tried (see :func:`fit_cell_title`)."""

    full: list[str]  # the whole label (and status or epoch), longest first
    cut_head: tuple[str, str] | None  # (words all runs share, what differs): the first may be elided
    short: list[str]  # only what differs from the other runs, longest first
    parts: Parts  # the last resort: the shortest wording's label elided


def cell_titles(run: RunData, labels: Sequence[str] = (), epoch: int | None = None) -> CellTitles:
    """A grid cell's title wordings; with every run's ``labels``, the ones that keep what
    differs between the runs (:func:`distinct_labels`) come before any cut there. With
    ``epoch`` (a picture of that epoch, e.g. the decision boundary) it follows the label."""
    short = distinct_labels(run.label, labels)
    core = short[-1] if short else run.label
    words = _tokens(run.label)
    differing = short[0].split() if short else []
    head = None
    if differing and len(differing) < len(words) and words[-len(differing) :] == differing:
        head = (" ".join(words[: -len(differing)]), " " + " ".join(differing))
    if epoch is not None:
        tail = f" · ep {epoch}"
        return CellTitles(
            [f"{run.label} · epoch {epoch}", f"{run.label}{tail}"],
            (head[0], head[1] + tail) if head else None,
            [*(w + tail for w in short), *short[-1:]],
            ("", core, tail),
        )
    # the status is in the legend and tooltip
    return CellTitles([run.title, run.label], head, short, ("", core, ""))


def fit_overlay_title(
    plot: pg.PlotItem,
    width: float,
    candidates: tuple[list[str], Parts | None, Sequence[str]],
    theme: Theme,
    shown: tuple[str, str] | None,
    one_line: bool = False,
) -> tuple[str, str]:
    """Title ``plot`` with the longest wording of ``candidates`` (title wordings longest
    first, the parts to elide a run label in when none fits, subtitle wordings)
    that fits ``width`` pixels, subtitle in the muted colour; the full title is the tooltip.

    ``one_line``: put the subtitle beside the title where both fit (presentation mode,
    where height is scarce). ``shown`` is what the previous call returned: when the wording is unchanged the title
    is left alone (nothing to re-lay out). Returns what to pass as ``shown`` next time.
    """
    titles, parts, subtitles = candidates
    width -= TITLE_PAD
    title = fit_text(font(TITLE_PT, bold=True), titles, width, parts)
    shown_html = html.escape(title, quote=False)
    if subtitles:
        subtitle = fit_text(font(TICK_PT), subtitles, width)
        joint = "<br>"
        if one_line:  # the subtitle beside the title when both fit: a row of height saved
            room = width - QtGui.QFontMetrics(font(TITLE_PT, bold=True)).horizontalAdvance(title + "  ")
            beside = fit_text(font(TICK_PT), subtitles, room)
            if QtGui.QFontMetrics(font(TICK_PT)).horizontalAdvance(beside) <= room:
                subtitle, joint = beside, "&nbsp;&nbsp;"
        shown_html += (
            f'{joint}<span style="font-size:{pt(TICK_PT):g}pt; font-weight:normal; color:{theme["muted"]}">'
            f"{html.escape(subtitle, quote=False)}</span>"
        )
    key = (shown_html, theme["fg"])
    if shown == key:
        return key
    set_title(plot, shown_html, pt(TITLE_PT), theme["fg"], shrink=True)
    plot.titleLabel.setToolTip("\n".join([titles[0], *subtitles[:1]]))
    return key


CELL_TITLE_MIN_SCALE = 0.6  # a cell title shrinks to this share of its size before it is cut


def _elide_head(metrics: QtGui.QFontMetrics, head: str, tail: str, width: float) -> str | None:
    """``head`` elided so ``head + tail`` fits ``width``, if the head keeps ``MIN_LABEL_CHARS``."""
    room = width - metrics.horizontalAdvance(tail)
    shown = metrics.elidedText(head, Qt.TextElideMode.ElideRight, int(room)) if room > 0 else ""
    return shown + tail if len(shown.rstrip("…")) >= min(len(head), MIN_LABEL_CHARS) else None


def fit_cell_title(
    cell: pg.PlotItem,
    width: float,
    wordings: CellTitles,
    color: QtGui.QColor,
) -> None:
    """Title a grid cell in the run colour within ``width`` pixels (the cell's width).

    Tried in turn: the whole label; the words every run shares cut short, keeping what
    differs whole; only what differs from the other runs' ``labels``; the same in a
    smaller font (down to ``CELL_TITLE_MIN_SCALE``); and only then the label elided."""
    axis = cell.getAxis("left")
    axis_width = axis.width() if axis.isVisible() and axis.width() > 0 else 40
    room = width - axis_width - CELL_TITLE_PAD
    if cell.vb.width() > 0:  # laid out: its own view box (boundary cells keep their aspect)
        room = min(room, cell.vb.width() - 8)  # (a title row changes an aspect-locked width)
    points, text = CELL_TITLE_PT, None
    while text is None:
        metrics = QtGui.QFontMetrics(font(points, bold=True))
        text = next((t for t in wordings.full if metrics.horizontalAdvance(t) <= room), None)
        if text is None and wordings.cut_head is not None:
            text = _elide_head(metrics, *wordings.cut_head, room)
        if text is None:
            text = next((t for t in wordings.short if metrics.horizontalAdvance(t) <= room), None)
        if text is None and points <= CELL_TITLE_PT * CELL_TITLE_MIN_SCALE:
            text = fit_text(font(points, bold=True), wordings.full[-1:], room, wordings.parts)
        if text is None:
            points = max(points - 0.5, CELL_TITLE_PT * CELL_TITLE_MIN_SCALE)
    set_title(cell, html.escape(text, quote=False), pt(points), color.name(), shrink=True)
    cell.titleLabel.setToolTip(wordings.full[0])


AXIS_LABEL_AIR = 6  # pixels kept free along an axis beside its label


def fit_axis_label(axis: pg.AxisItem, choices: Sequence[str], css: dict[str, str]) -> str:
    """Label ``axis`` with the longest of ``choices`` (longest first) whose text fits the
    axis's length, measured on the label drawn; the full wording is the label's tooltip.
    When not even the last fits (a plot squeezed to make room for a lesson's answer), it is
    set in type down to 70 % of the size. Returns the wording shown (the last choice when
    none fits)."""
    vertical = axis.orientation in ("left", "right")
    length = (axis.size().height() if vertical else axis.size().width()) - AXIS_LABEL_AIR
    fits = False
    for text in choices:
        if axis.labelText != text or axis.labelStyle != css:
            axis.setLabel(text, **css)
        fits = axis.label.boundingRect().width() <= length
        if fits:
            break
    size = css.get("font-size", "")
    if not fits and size.endswith("pt"):  # a very short axis: the shortest wording in smaller type
        points = float(size[:-2])
        for scale in (0.9, 0.8, 0.7):
            axis.setLabel(axis.labelText, **{**css, "font-size": f"{points * scale:g}pt"})
            if axis.label.boundingRect().width() <= length:
                break
    axis.label.setToolTip(choices[0])
    axis.resizeEvent(None)  # re-centre the label on the axis
    return str(axis.labelText)
