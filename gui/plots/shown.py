"""Read-only views of what the live plots show, for tests and tools (``LivePlots.shown``).

Every answer is read from the plot items on screen (the data handed to them, the titles
and labels drawn), so a check through these views checks what a user sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from optiscope.gui import pg_adapter
from PySide6 import QtCore, QtGui

if TYPE_CHECKING:
    from optiscope.gui.plots.arrangement import Arrangement
    from optiscope.gui.plots.frame import PlotFrame
    from optiscope.gui.plots.part import PlotPart

__all__ = ["Shown"]


class Shown:
    """What the plots of a :class:`~optiscope.gui.plots.frame.PlotFrame` show now."""

    def __init__(self, frame: PlotFrame, arrangement: Arrangement) -> None:
        self._frame = frame
        self._arrangement = arrangement

    def part(self, name: str) -> PlotPart:
        """The plot part ``name`` (ValueError naming the plots if there is none)."""
        part = self._frame.parts.get(name)
        if part is None:
            raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(self._frame.parts)}")
        return part

    def plot(self, name: str, run_id: int | None = None) -> pg.PlotItem:
        """The plot showing ``name``: the overlay plot, or with ``run_id`` that run's grid cell
        (KeyError if it has none yet); a plot without cells is one plot in both modes."""
        part = self.part(name)
        if run_id is None or not part.has_cells:
            return part.plot
        return self._frame.runs[run_id].cells[name]

    def title(self, name: str, run_id: int | None = None) -> list[str]:
        """The lines of the title shown on :meth:`plot` ``(name, run_id)`` (plain text)."""
        return pg_adapter.title_text(self.plot(name, run_id).titleLabel).split("\n")

    def curve(self, run_id: int, key: str) -> pg.PlotDataItem:
        """The curve ``key`` of ``run_id`` in the current mode ("lr", "raw", "smooth",
        "val_loss", "acc_train", "acc_val"; see :meth:`series`)."""
        run = self._frame.runs[run_id]
        for part in self._frame.parts.values():
            item = part.items(run).get(key)
            if isinstance(item, pg.PlotDataItem):
                return item
        raise KeyError(key)

    def series(self, run_id: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The (x, y) data each curve of ``run_id`` draws in the current mode (copies)."""
        run = self._frame.runs[run_id]
        out = {}
        for part in self._frame.parts.values():
            for key, item in part.items(run).items():
                if isinstance(item, pg.PlotDataItem):
                    x, y = item.getOriginalDataset()
                    if x is not None:
                        out[key] = (np.array(x), np.array(y))
        return out

    def point_counts(self) -> dict[str, dict[int, int]]:
        """Plot name -> run id -> points drawn in the current mode.

        Counted from the data handed to the plot items: finite LR points ("lr"), finite
        raw-loss points ("loss"), finite train-accuracy points, one per epoch
        ("accuracy"), and heatmap cells (grid columns x rows) of the decision boundary
        drawn for the run ("boundary"; in overlay mode only the run shown has them).
        """
        parts = self._frame.parts
        return {
            name: {rid: part.count(run) for rid, run in self._frame.runs.items()}
            for name, part in parts.items()
        }

    def markers(self, run_id: int) -> dict[str, list[tuple[float, float, str]]]:
        """The run's markers per plot: (x, y in data units, symbol); "t" ▼, "star" ★, "x" ✕."""
        run = self._frame.runs[run_id]
        return {name: part.spots(run) for name, part in self._frame.parts.items() if part.marked}

    def drawn_markers(self, name: str, run_id: int | None = None) -> list[tuple[float, float, str, str]]:
        """The markers drawn on plot ``name``: (x, y in axis units, i.e. log10 on a log axis
        and clamped to the axis' top, symbol, edge colour). Without ``run_id`` the overlay
        plot's (every run); with it, that run's grid cell."""
        part = self.part(name)
        if run_id is None or not part.has_cells:
            return [] if part.marks is None else pg_adapter.scatter_spots(part.marks)
        scatter = part.items(self._frame.runs[run_id], "grid").get("marks")
        return [] if scatter is None else pg_adapter.scatter_spots(scatter)

    def guide_lines(self, run_id: int) -> dict[str, tuple[float, str]]:
        """The run's dashed guide lines shown in the current mode: key ("loss_best",
        "acc_best", "loss_div") -> (x, label text)."""
        run, out = self._frame.runs[run_id], {}
        for part in self._frame.parts.values():
            for key, item in part.items(run).items():
                if isinstance(item, pg.InfiniteLine) and item.isVisible():
                    out[key] = (float(item.value()), item.label.toPlainText())
        return out

    def hover_text(self, name: str, run_id: int | None = None) -> str | None:
        """The plain text of the hover readout shown on :meth:`plot` ``(name, run_id)``, or None."""
        plot = self.plot(name, run_id)
        return next((t for h in self._frame.hovers if (t := h.text(plot)) is not None), None)

    def hover_rect(self, name: str, run_id: int | None = None) -> QtCore.QRectF | None:
        """The scene rectangle of the hover readout shown on :meth:`plot`, or None."""
        plot = self.plot(name, run_id)
        return next((r for h in self._frame.hovers if (r := h.scene_rect(plot)) is not None), None)

    def legend_lines(self) -> list[str]:
        """The legend strip's lines as wrapped at its width (plain text)."""
        return self._frame.legend.lines()

    @property
    def legend_text(self) -> str:
        """The legend strip above the plots, as plain text."""
        return self._frame.legend.plain_text()

    def annotations(self) -> list[tuple[str, float, float, str]]:
        """The lesson annotations shown: (plot name, x, y in axis units, caption)."""
        return [s[:4] for s in self._frame.annotations.shown]

    def caption_layout(self, name: str) -> tuple[QtCore.QRectF, list[QtCore.QRectF], list[str]]:
        """Overlay plot ``name``'s data area, its shown captions' rectangles (scene pixels)
        and the captions hidden for want of room."""
        annotations = self._frame.annotations
        rects, hidden = annotations.caption_rects(name), annotations.hidden_captions(name)
        return self.part(name).plot.vb.sceneBoundingRect(), rects, hidden

    def overlapping(self, name: str = "lr") -> list[list[int]]:
        """Groups of runs (ids) whose curves on plot ``name`` are identical and drawn in turn
        (only the LR plot is checked: equal learning rates are the common case)."""
        return [list(g) for g in self.part(name).overlapping]

    def color_for(self, run_id: int) -> QtGui.QColor:
        """The colour of ``run_id`` in every plot and legend (a copy)."""
        return self._frame.color_of(run_id)  # type: ignore[return-value]

    @property
    def spotlit(self) -> int | None:
        """The spotlighted run, or None."""
        return self._frame.look.spotlight

    @property
    def boundary_folded(self) -> bool:
        """True while the loss plot has the decision boundary's room (presenting, no 2D data)."""
        return "boundary" in self._arrangement.folded

    def boundary_image(self, run_id: int | None = None) -> tuple[np.ndarray, QtCore.QRectF] | None:
        """See :meth:`BoundaryPlot.image <optiscope.gui.plots.boundary_plot.BoundaryPlot.image>`."""
        return self.part("boundary").image(run_id)  # type: ignore[attr-defined]

    def boundary_point_count(self, run_id: int | None = None) -> int:
        """Training points drawn over the overlay boundary, or with ``run_id`` its grid cell."""
        return self.part("boundary").point_count(run_id)  # type: ignore[attr-defined]

    def warmup_regions(self) -> list[tuple[float, float, list[str]]]:
        """The shaded warm-up phases on the LR plot: (start, end, label colours)."""
        return self.part("lr").warmup_regions()  # type: ignore[attr-defined]
