"""Where the plots sit: the controls row, the legend, then the plot parts in two columns.

Each part sits at its ``place`` (or the next free one); a part with grid cells sits in a
stack of its overlay plot and its grid canvas, switched with the view mode. Presenting,
a part with nothing to show for the runs (:meth:`PlotPart.idle`, e.g. the decision
boundary without a 2D dataset) gives its room to its left neighbour: an empty
placeholder tells a class nothing, a wider plot does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtWidgets

if TYPE_CHECKING:
    from optiscope.gui.plots.frame import PlotFrame
    from optiscope.gui.plots.part import PlotPart

__all__ = ["Arrangement", "COLUMNS"]

COLUMNS = 2
HEADER_ROWS = 2  # the controls row and the legend


class Arrangement:
    """Lays the frame's parts out on ``layout`` and keeps the rooms they are given."""

    def __init__(self, frame: PlotFrame, layout: QtWidgets.QGridLayout) -> None:
        self.frame = frame
        self.layout = layout
        self.folded: set[str] = set()  # parts whose room their left neighbour has
        self.places: dict[str, tuple[int, int]] = {}
        self.widgets: dict[str, QtWidgets.QWidget] = {}
        taken = {p.place for p in frame.parts.values() if p.place is not None}
        free = (divmod(i, COLUMNS) for i in range(10_000))
        for part in frame.parts.values():
            place = part.place
            if place is None:
                place = next(p for p in free if p not in taken)
                taken.add(place)
            self.places[part.name] = place
            widget: QtWidgets.QWidget = part.view
            if part.has_cells:
                stack = QtWidgets.QStackedWidget()
                stack.addWidget(part.view)
                stack.addWidget(frame.grid.views[part.name])
                widget = stack
            self.widgets[part.name] = widget
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(frame.controls, 0, 0, 1, COLUMNS)
        layout.addWidget(frame.legend, 1, 0, 1, COLUMNS)
        for name, (row, col) in self.places.items():
            layout.addWidget(self.widgets[name], HEADER_ROWS + row, col)
        for row in {r for r, _ in self.places.values()}:
            layout.setRowStretch(HEADER_ROWS + row, 1)
        for col in range(COLUMNS):
            layout.setColumnStretch(col, 1)

    def show_mode(self, mode: str) -> None:
        """Show the overlay plots or the grid canvases."""
        for widget in self.widgets.values():
            if isinstance(widget, QtWidgets.QStackedWidget):
                widget.setCurrentIndex(0 if mode == "overlay" else 1)

    def widget(self, part: PlotPart) -> QtWidgets.QWidget:
        """The widget showing ``part`` now (what an export renders)."""
        return self.frame.grid.views[part.name] if part.mode() == "grid" else part.view

    def fit_rooms(self) -> None:
        """Presenting, idle parts give their room to their left neighbour; between runs
        (cleared, the next not started yet) the rooms stay as they were: no jump."""
        frame = self.frame
        at = {place: name for name, place in self.places.items()}
        for name, (row, col) in self.places.items():
            left = frame.parts.get(at.get((row, col - 1), ""))
            if left is None:
                continue
            was = name in self.folded
            fold = frame.look.presenting and (frame.parts[name].idle() if frame.runs else was)
            if fold == was:
                continue
            self.folded ^= {name}
            self.layout.removeWidget(self.widgets[left.name])
            self.layout.addWidget(self.widgets[left.name], HEADER_ROWS + row, col - 1, 1, 2 if fold else 1)
            self.widgets[name].setVisible(not fold)
            if left.x_link:
                # linked views line up their ranges on screen: twice as wide, the plot would show
                # twice its leader's range; unlinked, it takes the range itself (range_targets)
                left.plot.setXLink(None if fold else frame.parts[left.x_link].plot)
                frame.unlinked ^= {left.name}
            if left.x_range:
                frame.ranges.forget(f"x:{left.x_range}")
            frame.ranges.update()
