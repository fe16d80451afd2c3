"""The lesson sheet: a PDF handout of a lesson as it ended (File → Export lesson sheet).

One A4 document printed by Qt's PDF writer: the lesson's name, description, text and
question with the plots as they were at the end of the run on the first page; the results
table and the experiment's settings (its TOML file) from the second page on.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from optiscope.engine.files import publish
from PySide6 import QtCore, QtGui

__all__ = ["LessonSheet", "write_lesson_sheet"]

PAGE_MARGIN_MM = 15
RESOLUTION_DPI = 150


class LessonSheet:
    """What a lesson sheet shows (plain text and one image), before it is laid out."""

    def __init__(
        self,
        name: str,
        description: str,
        lesson: str,
        question: str,
        plots: QtGui.QImage,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        settings_toml: str,
    ) -> None:
        self.name, self.description, self.lesson, self.question = name, description, lesson, question
        self.plots, self.headers, self.rows, self.settings_toml = plots, headers, rows, settings_toml

    def html(self, image_width: float) -> str:
        """The sheet as rich text; the plots are the ``plots.png`` resource, ``image_width`` wide."""
        e = html.escape
        parts = [f"<h1>{e(self.name or 'Optiscope lesson')}</h1>"]
        if self.description.strip():
            parts.append(f"<p><i>{e(self.description.strip())}</i></p>")
        parts += [f"<p>{e(' '.join(p.split()))}</p>" for p in self.lesson.strip().split("\n\n") if p.strip()]
        if self.question.strip():
            parts.append(f"<p><b>Question:</b> {e(self.question.strip())}</p>")
        if not self.plots.isNull():
            parts.append(f'<p align="center"><img src="plots.png" width="{int(image_width)}"></p>')
        parts.append('<h2 style="page-break-before: always">Results</h2>')
        if self.rows:
            head = "".join(f"<th>{e(h)}</th>" for h in self.headers)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in self.rows)
            parts.append(
                f'<table border="1" cellspacing="0" cellpadding="4" width="100%"><tr>{head}</tr>{body}</table>'
            )
        else:
            parts.append("<p>No results: the lesson was not run.</p>")
        parts.append("<h2>Experiment settings</h2>")
        parts.append(f'<pre style="font-size:8pt; white-space:pre-wrap">{e(self.settings_toml)}</pre>')
        return "\n".join(parts)


def write_lesson_sheet(sheet: LessonSheet, path: str | Path) -> int:
    """Write ``sheet`` as an A4 PDF to ``path`` (whole or not at all); returns the page count.

    Raises OSError when the file cannot be written.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".sheet-", suffix=".pdf", dir=path.parent)
    os.close(fd)
    try:
        writer = QtGui.QPdfWriter(tmp)
        writer.setResolution(RESOLUTION_DPI)
        writer.setTitle(f"{sheet.name} — Optiscope lesson sheet")
        writer.setCreator("Optiscope")
        writer.setPageSize(QtGui.QPageSize(QtGui.QPageSize.PageSizeId.A4))
        writer.setPageMargins(QtCore.QMarginsF(*[PAGE_MARGIN_MM] * 4), QtGui.QPageLayout.Unit.Millimeter)
        page = writer.pageLayout().paintRectPixels(writer.resolution())
        doc = QtGui.QTextDocument()
        font = QtGui.QFont()
        font.setPointSizeF(10)
        doc.setDefaultFont(font)
        doc.setPageSize(QtCore.QSizeF(page.width(), page.height()))
        doc.addResource(QtGui.QTextDocument.ResourceType.ImageResource, QtCore.QUrl("plots.png"), sheet.plots)
        # print_ lays the document out on its page size (the page in device pixels) and scales
        doc.setHtml(sheet.html((page.width() - 2 * doc.documentMargin()) * 0.98))
        doc.print_(writer)
        pages = doc.pageCount()
        del writer  # finishes the file
        publish(tmp, path)  # the user's umask, not mkstemp's 0o600
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return pages
