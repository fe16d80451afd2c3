"""The Training panel: epochs, batch size, device, seed (and seeds per runner), mixed precision.

The seeds box is the experiment's (``ExperimentConfig.seeds``), not the run's: it sits under
"Seed", where a user looks for it, but :meth:`TrainingPanel.config` leaves it out; it reports
with its own ``seeds_chosen`` signal and the race room keeps it in the document.
"""

from __future__ import annotations

from collections.abc import Sequence

from optiscope.engine.config import MAX_SEEDS, TrainingConfig
from PySide6 import QtWidgets
from PySide6.QtCore import Signal

from ..widgets import FieldForm, guard_wheel, signals_blocked
from . import Panel

__all__ = ["TrainingPanel"]

DEVICE_TITLES = {"auto": "auto (best available)", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple MPS"}


class TrainingPanel(Panel):
    """How long and where to train. Devices list only those found once the engine loaded."""

    title = "Training"
    #: seeds per runner, chosen by the user (not part of :meth:`config`: the experiment's)
    seeds_chosen = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.devices: list[str] = ["cpu"]
        self._detected = False
        layout = QtWidgets.QVBoxLayout(self)
        self.form = FieldForm(
            TrainingConfig,
            labels={
                "batch_size": "Batch size",
                "mixed_precision": "Mixed precision",
                "eval_train": "Full train eval",
            },
        )
        self.form.widgets["eval_train"].setToolTip(
            "evaluate the whole training set after each epoch (off: the running average of the batches)"
        )
        layout.addWidget(self.form)
        self.seeds_box = QtWidgets.QSpinBox()
        self.seeds_box.setObjectName("seeds")
        self.seeds_box.setRange(1, MAX_SEEDS)
        guard_wheel(self.seeds_box)  # the wheel scrolls the panel unless the box has the focus
        self.seeds_box.setToolTip(
            "Train every runner with this many seeds (Seed, Seed+1, …): the plots show each "
            "runner's mean with a 95 % band and the results table mean ± interval and a verdict"
        )
        form_layout = self.form.layout()
        assert isinstance(form_layout, QtWidgets.QFormLayout)
        row, _role = form_layout.getWidgetPosition(self.form.widgets["seed"])
        form_layout.insertRow(row + 1, "Seeds", self.seeds_box)
        self.seeds_box.valueChanged.connect(self.seeds_chosen)
        self.device_box: QtWidgets.QComboBox = self.form.widgets["device"]  # type: ignore[assignment]
        self.device_note = QtWidgets.QLabel("Detecting devices while the engine loads…")
        self.device_note.setObjectName("hint")
        self.device_note.setWordWrap(True)
        layout.addWidget(self.device_note)
        self.steps_label = QtWidgets.QLabel()
        self.steps_label.setObjectName("hint")
        self.steps_label.setWordWrap(True)
        layout.addWidget(self.steps_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        self.form.changed.connect(self._emit_changed)
        self._fill_devices("auto")

    def set_devices(self, devices: Sequence[str]) -> None:
        """The devices this machine has (from the loaded engine)."""
        self.devices = [d for d in devices if d in DEVICE_TITLES and d != "auto"]
        self._detected = True
        current = self.device_box.currentData()
        with signals_blocked(self.device_box):
            self._fill_devices(current)
        names = ", ".join(DEVICE_TITLES[d] for d in self.devices)
        self.device_note.setText(f"Devices found: {names}.")

    def _fill_devices(self, selected: str) -> None:
        box = self.device_box
        with signals_blocked(box):
            box.clear()
            for d in ("auto", *self.devices):
                box.addItem(DEVICE_TITLES[d], d)
            if box.findData(selected) < 0:
                box.addItem(f"{DEVICE_TITLES.get(selected, selected)} (not found here)", selected)
            box.setCurrentIndex(box.findData(selected))

    def set_steps_info(self, steps_per_epoch: int, epochs: int) -> None:
        self.steps_label.setText(f"{steps_per_epoch} updates per epoch, {steps_per_epoch * epochs:,} in all.")

    def show_seeds(self, n: int) -> None:
        """Show ``n`` seeds per runner (from the document) without emitting ``seeds_chosen``."""
        with signals_blocked(self.seeds_box):
            self.seeds_box.setValue(n)

    def config(self) -> TrainingConfig:
        return self._validated(TrainingConfig, self.form.values(), "training.")

    def set_config(self, cfg: TrainingConfig) -> None:
        self._setting = True
        try:
            self.form.set_values(cfg.model_copy(update={"device": "auto"}))
            self._fill_devices(cfg.device)
        finally:
            self._setting = False
        self.error_label.show_message(self.problem())
