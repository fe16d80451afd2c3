"""The lesson dock: an experiment's description and lesson text beside the panels or the plots."""

from __future__ import annotations

import html
from typing import Any

from PySide6 import QtWidgets
from PySide6.QtCore import Qt, Slot

__all__ = ["LessonDock", "lesson_html"]


def lesson_html(exp: Any) -> str:
    """The experiment's name, description, lesson paragraphs and (for a race) its runs."""
    out = f"<h3>{html.escape(exp.name, quote=False)}</h3>"
    if exp.description:
        out += f"<p><i>{html.escape(exp.description, quote=False)}</i></p>"
    for para in exp.lesson.strip().split("\n\n"):
        if para.strip():
            out += f"<p>{html.escape(' '.join(para.split()), quote=False)}</p>"
    runs = exp.runs()
    if len(runs) > 1:
        out += "<p><b>Runs:</b> " + ", ".join(html.escape(r.describe(), quote=False) for r in runs) + "</p>"
    return out


class LessonDock(QtWidgets.QDockWidget):
    """The "Lesson" dock of ``window``, shown when an experiment has a lesson to read."""

    def __init__(self, window: QtWidgets.QMainWindow, beside: QtWidgets.QDockWidget) -> None:
        super().__init__("Lesson", window)
        self.window_ = window
        self.beside = beside  # the dock it shares as a tab on a narrow screen
        self.setObjectName("lessonDock")
        self.lesson_box = QtWidgets.QTextBrowser()
        self.lesson_box.setObjectName("lesson")
        self.lesson_box.setOpenExternalLinks(False)
        self.setWidget(self.lesson_box)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        self.hide()

    @Slot(object)
    def show_lesson(self, exp: Any) -> None:
        """Show the experiment's description and lesson (what to look for) next to the panels."""
        if exp.lesson.strip() or exp.description.strip():
            self.lesson_box.setHtml(lesson_html(exp))
            self.place()
            self.show()
            self.raise_()
        else:
            self.lesson_box.clear()
            self.hide()

    def place(self) -> None:
        """Wide windows: the lesson beside the plots; narrow ones (a 1280 projector): a tab
        next to the experiment panels, so the plots keep their width."""
        w = self.window_
        wide = w.width() >= 1600
        area = w.dockWidgetArea(self)
        if wide and area != Qt.DockWidgetArea.RightDockWidgetArea:
            w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        elif not wide and not w.tabifiedDockWidgets(self.beside):
            w.tabifyDockWidget(self.beside, self)
        if wide:
            w.resizeDocks([self], [320], Qt.Orientation.Horizontal)
