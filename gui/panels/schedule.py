"""The Schedule panel: the learning-rate schedule and a preview of it over the planned run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optiscope.engine import config as C
from optiscope.engine import schedules as schedule_parts
from PySide6 import QtWidgets

from ..widgets import MiniPlot
from .optimizer import KindPanel

__all__ = ["SchedulePanel", "plateau_rule"]


def plateau_rule(cfg: C.Plateau) -> str:
    """ReduceLROnPlateau's rule in words (its LR depends on the run, so it has no preview)."""
    return schedule_parts.part_for("plateau").rule(cfg, 1)


class SchedulePanel(KindPanel):
    """Schedule kind and parameters, warm-up, and the planned LR curve."""

    title = "Schedule"
    classes = C.SCHEDULE_CLASSES
    kind_titles = schedule_parts.panel_titles()
    labels = schedule_parts.panel_labels()
    none_texts = {"t_max_steps": "whole run", "milestones": "at 50 % and 75 % of the run"}
    prefix = "schedule."

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan = (16, 200)
        self.preview = MiniPlot(height=150)
        self.preview.setObjectName("lr_preview")
        self.preview.show_message("The LR preview appears when the engine has loaded…")
        self.layout().addWidget(self.preview)
        self.rule = QtWidgets.QLabel()
        self.rule.setWordWrap(True)
        self.rule.setObjectName("hint")
        self.layout().addWidget(self.rule)
        self.layout().addStretch(1)
        self.changed.connect(self._update_rule)
        self._update_rule()

    def set_config(self, cfg: Any) -> None:
        super().set_config(cfg)
        self._update_rule()

    def set_plan(self, steps_per_epoch: int, epochs: int) -> None:
        """The run the preview covers: updates per epoch and epochs."""
        self.plan = (max(int(steps_per_epoch), 1), max(int(epochs), 1))
        self._update_rule()

    def show_lr_preview(self, lrs: Sequence[float], note: str = "") -> None:
        spe, epochs = self.plan
        if schedule_parts.part_for(self.kind).metric_driven:
            self.preview.show_message("Reduce-on-plateau depends on the run: see the rule below.")
            return
        self.preview.set_line(
            lrs,
            log=True,
            title=f"Planned LR, log scale{note}",
            xlabel=f"{len(lrs):,} updates ({epochs} epochs × {spe})",
        )

    def show_preview_error(self, message: str) -> None:
        self.preview.show_message(f"No preview: {message}")

    def _update_rule(self) -> None:
        try:
            cfg: Any = self.config()
        except ValueError:
            self.rule.setText("")
            return
        spe, _ = self.plan
        part = schedule_parts.part_for(cfg.kind)  # its rule in words, and whether it has a curve
        self.rule.setText(part.rule(cfg, spe))
        if part.metric_driven:
            self.preview.show_message("Reduce-on-plateau depends on the run: see the rule below.")
