"""The legend strip above the plots (one entry per run, in its colour) and its export twin."""

from __future__ import annotations

from collections.abc import Iterable

from optiscope.gui.colors import run_color
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.style import TEXT_PT, escape, font
from PySide6 import QtGui, QtWidgets

__all__ = ["legend_html", "legend_document", "LegendStrip"]

EMPTY_TEXT = "Each run keeps one colour in every plot."


def legend_html(runs: Iterable[RunData], text_color: str | None = None) -> str:
    """One entry per run (by id): a line in its colour and its title; text in ``text_color``
    (None: the widget's own palette)."""
    entries = [
        f'<span style="color:{run_color(r.id).name()}; font-weight:bold">━━</span>&nbsp;{escape(r.title)}'
        for r in sorted(runs, key=lambda r: r.id)
    ]
    body = " &nbsp;&nbsp; ".join(entries)
    return f'<span style="color:{text_color}">{body}</span>' if text_color else body


def legend_document(runs: Iterable[RunData], width: int, text_color: str) -> QtGui.QTextDocument:
    """The legend as a text document ``width`` pixels wide, to draw under an exported plot."""
    doc = QtGui.QTextDocument()
    doc.setDefaultFont(font(TEXT_PT))
    doc.setHtml(legend_html(runs, text_color))  # drawn on the plot background
    doc.setTextWidth(max(width - 16, 100))
    return doc


class LegendStrip(QtWidgets.QLabel):
    """The legend above the plots; always one line tall at least, so it appearing never
    re-lays out the plots."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setFont(font(TEXT_PT + 1))
        self.setContentsMargins(6, 0, 6, 0)
        self.setToolTip("One colour per run in every plot")
        self.setMinimumHeight(QtGui.QFontMetrics(self.font()).lineSpacing() + 4)
        self.show_runs([])

    def show_runs(self, runs: Iterable[RunData]) -> None:
        """One entry per run in ``runs``; a hint when there are none."""
        runs = list(runs)
        self.setText(legend_html(runs) if runs else EMPTY_TEXT)

    def plain_text(self) -> str:
        """The legend as plain text (what a reader sees)."""
        doc = QtGui.QTextDocument()
        doc.setHtml(self.text())
        return doc.toPlainText()
