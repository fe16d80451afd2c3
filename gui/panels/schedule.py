"""The Schedule panel: the learning-rate schedule and a preview of it over the planned run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optiscope.engine import config as C
from PySide6 import QtWidgets

from ..widgets import MiniPlot
from .optimizer import KindPanel

__all__ = ["SchedulePanel", "plateau_rule"]


def plateau_rule(cfg: C.Plateau) -> str:
    """ReduceLROnPlateau's rule in words (its LR depends on the run, so it has no preview)."""
    better = "rise" if cfg.monitor.endswith("acc") else "fall"
    metric = cfg.monitor.replace("_", " ").replace("val", "validation").replace("acc", "accuracy")
    text = (
        f"Depends on the run: after every epoch, if the {metric} has not {'risen' if better == 'rise' else 'fallen'} "
        f"by more than {cfg.min_delta:g} for {cfg.patience} epoch{'s' if cfg.patience != 1 else ''}, "
        f"the learning rate is multiplied by {cfg.factor:g}"
    )
    if cfg.cooldown:
        text += f", then it waits {cfg.cooldown} epochs before watching again"
    text += f"; it never goes below {cfg.min_lr:g}."
    if cfg.warmup_steps:
        text = f"Linear warm-up over {cfg.warmup_steps} updates first. " + text
    return text


class SchedulePanel(KindPanel):
    """Schedule kind and parameters, warm-up, and the planned LR curve."""

    title = "Schedule"
    classes = C.SCHEDULE_CLASSES
    kind_titles = {
        "constant": "Constant",
        "time_decay": "Time-based decay",
        "step": "Step decay",
        "exponential": "Exponential decay",
        "cosine": "Cosine annealing",
        "cosine_restarts": "Cosine with warm restarts",
        "cyclic": "Cyclical (CLR)",
        "one_cycle": "One-cycle",
        "plateau": "Reduce on plateau",
    }
    labels = {
        "warmup_steps": "Warm-up (updates)",
        "warmup_start_factor": "Warm-up start factor",
        "step_epochs": "Every (epochs)",
        "gamma": "γ (factor)",
        "t_max_steps": "Period (updates)",
        "eta_min": "Minimum LR",
        "t0_steps": "First period (updates)",
        "t_mult": "Period multiplier",
        "base_lr": "Base LR",
        "max_lr": "Max LR",
        "step_size": "Half cycle (updates)",
        "pct_start": "Rising part",
        "min_delta": "Min improvement",
        "min_lr": "Minimum LR",
    }
    none_texts = {"t_max_steps": "whole run"}
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
        if self.kind == "plateau":
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
        if cfg.kind == "plateau":
            self.rule.setText(plateau_rule(cfg))
            self.preview.show_message("Reduce-on-plateau depends on the run: see the rule below.")
        elif cfg.kind == "cyclic":
            ratio = cfg.step_size / spe
            self.rule.setText(
                f"Half a cycle is {cfg.step_size} updates = {ratio:.1f} epochs at {spe} updates per epoch "
                "(Smith advises 2–10 epochs)."
            )
        else:
            self.rule.setText("")
