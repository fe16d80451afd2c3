"""The legend strip above the plots (one entry per run, in its colour) and its export twin."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from optiscope.gui.colors import readable_color, run_color
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.style import TEXT_PT, font
from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

__all__ = ["legend_html", "legend_document", "LegendStrip"]

EMPTY_TEXT = "Each run keeps one colour in every plot."


def legend_html(
    runs: Iterable[RunData],
    text_color: str | None = None,
    links: bool = False,
    faded: Iterable[int] = (),
    notes: Mapping[int, str] | None = None,
    background: str | None = None,
) -> str:
    """One entry per run (by id): a line in its colour and its title; text in ``text_color``
    (None: the widget's own palette). ``links``: each entry is a ``run:<id>`` link (click to
    spotlight); runs in ``faded`` are greyed; ``notes`` adds a note (in brackets) to a run;
    on ``background`` a faint run colour's line is darkened (lightened) to read."""
    faded = set(faded)
    notes = notes or {}
    entries = []
    for r in sorted(runs, key=lambda r: r.id):
        colour = run_color(r.group)  # the runner's colour (every seed of it shares it)
        colour = (readable_color(colour, background) if background else colour).name()
        # a run's name is never broken over two lines (its note may be)
        name = html.escape(r.title, quote=False).replace(" ", "&nbsp;")
        entry = f'<span style="color:{colour}; font-weight:bold">━━</span>&nbsp;{name}'
        if r.id in notes:
            entry += f" <i>({html.escape(notes[r.id], quote=False)})</i>"
        if r.id in faded:
            entry = f'<span style="color:#a0a0a0">{entry.replace(colour, "#c8c8c8")}</span>'
        if links:
            fg = text_color or "palette(window-text)"
            entry = f'<a href="run:{r.id}" style="text-decoration:none; color:{fg}">{entry}</a>'
        entries.append(entry)
    body = " &nbsp;&nbsp; ".join(entries)
    return f'<span style="color:{text_color}">{body}</span>' if text_color else body


def legend_document(
    runs: Iterable[RunData],
    width: int,
    text_color: str,
    notes: Mapping[int, str] | None = None,
    background: str | None = None,
) -> QtGui.QTextDocument:
    """The legend as a text document ``width`` pixels wide, to draw under an exported plot
    on ``background``."""
    doc = QtGui.QTextDocument()
    doc.setDefaultFont(font(TEXT_PT))
    doc.setHtml(legend_html(runs, text_color, notes=notes, background=background))
    doc.setTextWidth(max(width - 16, 100))
    return doc


class LegendStrip(QtWidgets.QLabel):
    """The legend above the plots; always one line tall at least, so it appearing never
    re-lays out the plots. Clicking a run's entry emits ``run_clicked(run_id)``."""

    run_clicked = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.faded: set[int] = set()
        self.notes: dict[int, str] = {}
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.linkActivated.connect(self._on_link)
        self.setWordWrap(True)
        self.setFont(font(TEXT_PT + 1))
        self.setContentsMargins(6, 0, 6, 0)
        self.setToolTip("One colour per run in every plot; click a run to spotlight it, again to show all")
        self.setMinimumHeight(QtGui.QFontMetrics(self.font()).lineSpacing() + 4)
        self.show_runs([])

    def show_runs(self, runs: Iterable[RunData]) -> None:
        """One entry per run in ``runs``; a hint when there are none."""
        runs = list(runs)
        fg = self.palette().color(QtGui.QPalette.ColorRole.WindowText).name()
        bg = self.palette().color(QtGui.QPalette.ColorRole.Window).name()
        self.setText(
            legend_html(runs, None, links=True, faded=self.faded, notes=self.notes, background=bg).replace(
                "palette(window-text)", fg
            )
            if runs
            else EMPTY_TEXT
        )

    def _on_link(self, link: str) -> None:
        if link.startswith("run:"):
            self.run_clicked.emit(int(link[4:]))

    def plain_text(self) -> str:
        """The legend as plain text (what a reader sees)."""
        doc = QtGui.QTextDocument()
        doc.setHtml(self.text())
        return doc.toPlainText().replace("\xa0", " ")

    def lines(self) -> list[str]:
        """The legend's lines as the strip wraps them at its width (plain text)."""
        doc = QtGui.QTextDocument()
        doc.setDefaultFont(self.font())
        doc.setHtml(self.text())
        doc.setTextWidth(self.contentsRect().width())
        doc.size()  # lays the text out
        out = []
        block = doc.begin()
        while block.isValid():
            layout = block.layout()
            for i in range(layout.lineCount()):
                line = layout.lineAt(i)
                out.append(block.text()[line.textStart() : line.textStart() + line.textLength()])
            block = block.next()
        return [line.replace("\xa0", " ").strip() for line in out]
