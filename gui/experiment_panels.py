"""The experiment room of the window: the six settings panels, what they derive, their previews.

:class:`ExperimentPanels` owns the panels (data, model, optimizer, schedule, regularisation,
training) in a tool box, the problem line under them, and everything derived from them: the
model's input/output sizes, the schedule's plan, the panels' :class:`RunConfig` and the
background previews (data, learning-rate schedule, augmentation). It says ``edited(key)``
after a panel changed (the window decides what that means for a race or a live run) and
:meth:`show_run` puts a run's settings into the panels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from optiscope.engine.config import RunConfig, format_validation_error, steps_per_epoch
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Qt, Signal, Slot

from .panels import Panel, PanelError
from .panels.data import DataPanel, preview_summary
from .panels.model import ModelPanel
from .panels.optimizer import OptimizerPanel
from .panels.regularization import RegularizationPanel, augmentation_samples
from .panels.schedule import SchedulePanel
from .panels.training import TrainingPanel
from .worker import JobContext

__all__ = ["ExperimentPanels", "PREVIEW_MAX_STEPS"]

PREVIEW_MAX_STEPS = 50_000
PREVIEW_KEYS = ("data_preview", "lr_preview", "aug_preview")


def _job(fn: Callable[..., Any], *args: Any) -> Callable[[JobContext], Any]:
    """A background job that calls ``fn(*args)`` (previews: quick, not cancellable midway)."""
    return lambda _context: fn(*args)


def _lr_preview(opt: Any, sched: Any, spe: int, epochs: int) -> tuple[list[float], str]:
    from optiscope.engine.optim import lr_preview

    note = ""
    if spe * epochs > PREVIEW_MAX_STEPS:
        epochs_shown = max(PREVIEW_MAX_STEPS // spe, 1)
        note = f" (first {epochs_shown} of {epochs} epochs)"
        epochs = epochs_shown
    return lr_preview(opt, sched, spe, epochs), note


class ExperimentPanels(QtCore.QObject):
    """The settings panels in :attr:`toolbox` (inside :attr:`side`), and what they derive.

    Signals
    -------
    edited(str)
        A panel was changed by the user (its key: ``"optimizer"``, ...), after the derived
        values and previews were updated.
    """

    edited = Signal(str)

    def __init__(self, jobs: Any, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.previews_on = False  # the engine has loaded (and the window is not closing)
        self.data_panel = DataPanel()
        self.model_panel = ModelPanel()
        self.optimizer_panel = OptimizerPanel()
        self.schedule_panel = SchedulePanel()
        self.regularization_panel = RegularizationPanel()
        self.training_panel = TrainingPanel()
        self.panels: dict[str, Panel] = {
            "dataset": self.data_panel,
            "model": self.model_panel,
            "optimizer": self.optimizer_panel,
            "schedule": self.schedule_panel,
            "regularization": self.regularization_panel,
            "training": self.training_panel,
        }
        self._keys = {panel: key for key, panel in self.panels.items()}
        self.toolbox = QtWidgets.QToolBox()
        self.toolbox.setObjectName("panels")
        for panel in self.panels.values():
            scroll = QtWidgets.QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(panel)
            self.toolbox.addItem(scroll, panel.title)
            panel.changed.connect(self._on_panel_changed)
        self.toolbox.setCurrentIndex(2)  # the optimizer: what Optiscope is about
        self.side = QtWidgets.QWidget()
        self.side.setObjectName("experimentSide")
        lay = QtWidgets.QVBoxLayout(self.side)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.toolbox, 1)
        self.problem_label = QtWidgets.QLabel()
        self.problem_label.setObjectName("errorLabel")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c0392b; font-weight: 600;")
        self.problem_label.hide()
        lay.addWidget(self.problem_label)
        self.side.setMinimumWidth(318)

    # ------------------------------------------------------------------ the run they make
    def current_run_config(self) -> RunConfig:
        """A new RunConfig from the panels (PanelError names every problem)."""
        from pydantic import ValidationError

        parts: dict[str, Any] = {}
        errors = []
        for key, panel in self.panels.items():
            try:
                parts[key] = panel.config()
            except PanelError as exc:
                errors.append(str(exc))
        if errors:
            raise PanelError("\n".join(errors))
        try:
            return RunConfig(**parts)
        except ValidationError as exc:
            raise PanelError(format_validation_error(exc)) from None

    def problems(self) -> list[str]:
        """Everything that stops the current settings from making a valid run, in words."""
        out = [p for p in (panel.problem() for panel in self.panels.values()) if p]
        if not out:
            try:
                self.current_run_config()
            except PanelError as exc:
                out.append(str(exc))
        return out

    def planned_steps_per_epoch(self) -> int:
        try:
            batch_size = self.training_panel.config().batch_size
        except PanelError:
            batch_size = 32
        return steps_per_epoch(self.data_panel.shape()["n_train"], batch_size)

    def check_takes(self, run: RunConfig) -> None:
        """Raise if a panel cannot show ``run`` (a value its field cannot hold), trying it on
        scratch panels so the window's own stay untouched."""
        for key, panel in self.panels.items():
            scratch = type(panel)()
            try:
                scratch.set_config(getattr(run, key))
            except OverflowError:
                raise ValueError(
                    f"a number in [{key}] is too large for Optiscope (integers must stay below 2,147,483,648)"
                ) from None
            finally:
                scratch.deleteLater()

    def show_run(self, run: RunConfig) -> None:
        """Put ``run``'s settings into the panels (and update what they derive)."""
        for key, panel in self.panels.items():
            panel.set_config(getattr(run, key))
        self.update_derived()
        self.request_previews(("data", "schedule", "regularization"))

    # ------------------------------------------------------------------ derived values
    @Slot()
    def _on_panel_changed(self) -> None:
        key = self._keys.get(self.sender())
        self.update_derived()
        if key == "dataset":
            self.request_previews(("data", "schedule", "regularization"))
        elif key in ("optimizer", "schedule", "training"):
            self.request_previews(("schedule",))
        elif key == "regularization":
            self.request_previews(("regularization",))
        self.edited.emit(key or "")

    def update_derived(self) -> None:
        """The model's sizes, the schedule's plan, the steps note and the problem line."""
        shape = self.data_panel.shape()
        self.model_panel.set_data_shape(shape["n_features"], shape["n_classes"], shape["image_shape"])
        spe = self.planned_steps_per_epoch()
        try:
            epochs = self.training_panel.config().epochs
        except PanelError:
            epochs = 1
        self.schedule_panel.set_plan(spe, epochs)
        self.training_panel.set_steps_info(spe, epochs)
        problems = self.problems()
        self.problem_label.setText("\n".join(problems))
        self.problem_label.setVisible(bool(problems))

    # ------------------------------------------------------------------ previews
    def request_previews(self, which: Sequence[str]) -> None:
        """Compute the previews named in ``which`` ("data", "schedule", "regularization")."""
        if not self.previews_on:
            return
        if "data" in which:
            try:
                cfg = self.data_panel.config()
            except PanelError:
                pass
            else:
                self.jobs.submit("data_preview", _job(preview_summary, cfg), on_done=self._show_data_preview)
        if "schedule" in which:
            try:
                opt, sched = self.optimizer_panel.config(), self.schedule_panel.config()
                epochs = self.training_panel.config().epochs
            except PanelError:
                pass
            else:
                spe = self.planned_steps_per_epoch()
                self.jobs.submit(
                    "lr_preview", _job(_lr_preview, opt, sched, spe, epochs), on_done=self._show_lr_preview
                )
        if "regularization" in which:
            self._request_augmentation()

    def _request_augmentation(self) -> None:
        try:
            aug = self.regularization_panel.config().augmentation
            data = self.data_panel.config()
        except PanelError:
            return
        if aug.active:
            self.jobs.submit(
                "aug_preview",
                _job(augmentation_samples, data, aug),
                on_done=self.regularization_panel.show_augmentation,
            )
        else:
            self.jobs.cancel("aug_preview")
            self.regularization_panel.show_augmentation(None)

    def _show_data_preview(self, summary: dict[str, Any]) -> None:
        self.data_panel.show_preview(summary)
        if self.data_panel.name_box.currentData() == "csv":
            self.update_derived()

    def _show_lr_preview(self, result: tuple[list[float], str]) -> None:
        lrs, note = result
        self.schedule_panel.show_lr_preview(lrs, note)

    def show_preview_error(self, key: str, message: str) -> bool:
        """Show a preview job's error on its panel; False if ``key`` is no preview of theirs."""
        panel = {
            "data_preview": self.data_panel,
            "lr_preview": self.schedule_panel,
            "aug_preview": self.regularization_panel,
        }.get(key)
        if panel is None:
            return False
        panel.show_preview_error(message)
        return True
