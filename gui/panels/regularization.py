"""The Regularisation panel: L1/L2 penalties, gradient clipping, early stopping, augmentation."""

from __future__ import annotations

from typing import Any

from optiscope.engine.config import Augmentation, DatasetConfig, EarlyStopping, RegularizationConfig
from PySide6 import QtWidgets

from ..widgets import FieldForm, MiniPlot
from . import Panel

__all__ = ["RegularizationPanel", "augmentation_samples"]


def augmentation_samples(data: DatasetConfig, aug: Augmentation, count: int = 8) -> dict[str, Any]:
    """A few training examples before and after augmentation (torch; background only)."""
    import torch
    from optiscope.engine.augment import Augmenter
    from optiscope.engine.data import load_dataset

    ds = load_dataset(data)
    k = min(count, len(ds.y_train))
    x = torch.as_tensor(ds.x_train[:k])
    y = torch.as_tensor(ds.y_train[:k])
    xa, _ = Augmenter(aug, ds, seed=0)(x, y)
    out: dict[str, Any] = {
        "before": x.numpy().copy(),
        "after": xa.numpy().copy(),
        "image_shape": ds.image_shape,
        "y": y.numpy().copy(),
    }
    return out


class RegularizationPanel(Panel):
    """Penalties, early stopping and augmentation, with a preview of augmented samples."""

    title = "Regularisation"

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        self.form = FieldForm(
            RegularizationConfig,
            skip=("early_stopping", "augmentation"),
            labels={"l1": "L1 penalty", "l2": "L2 penalty", "grad_clip": "Clip gradient norm"},
            none_texts={"grad_clip": "off"},
        )
        layout.addWidget(self.form)
        hint = QtWidgets.QLabel("Dropout is a layer: add it in the Model panel (p ≈ 0.5 for hidden layers).")
        hint.setWordWrap(True)
        hint.setObjectName("hint")
        layout.addWidget(hint)
        self.es_group = QtWidgets.QGroupBox("Early stopping")
        g = QtWidgets.QVBoxLayout(self.es_group)
        self.es_form = FieldForm(
            EarlyStopping, labels={"enabled": "Enabled", "restore_best": "Restore best weights"}
        )
        g.addWidget(self.es_form)
        layout.addWidget(self.es_group)
        self.aug_group = QtWidgets.QGroupBox("Augmentation")
        a = QtWidgets.QVBoxLayout(self.aug_group)
        self.aug_form = FieldForm(
            Augmentation,
            labels={
                "jitter": "Feature jitter",
                "shift": "Shift (px)",
                "rotate": "Rotate (°)",
                "cutout": "Cutout (px)",
                "mixup": "Mixup α",
                "noise": "Pixel noise",
            },
        )
        a.addWidget(self.aug_form)
        self.aug_preview = MiniPlot(height=130)
        self.aug_preview.setObjectName("augmentation_preview")
        self.aug_preview.show_message("Turn on an augmentation to preview it.")
        a.addWidget(self.aug_preview)
        layout.addWidget(self.aug_group)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        for f in (self.form, self.es_form, self.aug_form):
            f.changed.connect(self._emit_changed)
        self.es_form.widgets["enabled"].toggled.connect(self._enable_es)
        self._enable_es()

    def _enable_es(self) -> None:
        on = self.es_form.widgets["enabled"].isChecked()
        for name, w in self.es_form.widgets.items():
            if name != "enabled":
                w.setEnabled(on)

    def config(self) -> RegularizationConfig:
        data = {
            **self.form.values(),
            "early_stopping": self.es_form.values(),
            "augmentation": self.aug_form.values(),
        }
        return self._validated(RegularizationConfig, data, "regularization.")

    def set_config(self, cfg: RegularizationConfig) -> None:
        self._setting = True
        try:
            self.form.set_values(cfg)
            self.es_form.set_values(cfg.early_stopping)
            self.aug_form.set_values(cfg.augmentation)
            self._enable_es()
        finally:
            self._setting = False
        self.error_label.show_message(self.problem())

    def show_augmentation(self, result: dict[str, Any] | None) -> None:
        """Draw :func:`augmentation_samples` (None: augmentation is off)."""
        import numpy as np

        if not result:
            self.aug_preview.show_message("Turn on an augmentation to preview it.")
            return
        shape = result["image_shape"]
        if shape is not None:
            _, h, w = shape
            before = result["before"].reshape(-1, h, w)
            after = result["after"].reshape(-1, h, w)
            k = min(6, len(before))
            imgs = np.concatenate([before[:k], after[:k]])
            labels = ["orig"] * k + ["aug"] * k
            self.aug_preview.set_images(imgs, labels, title="originals, then augmented")
        else:
            x = np.concatenate([result["before"], result["after"]])[:, :2]
            y = np.concatenate([np.zeros(len(result["before"])), np.ones(len(result["after"]))]).astype(int)
            self.aug_preview.set_scatter(
                x, y, title="originals (blue) and jittered (orange), first 2 features"
            )

    def show_preview_error(self, message: str) -> None:
        self.aug_preview.show_message(f"No preview: {message}")
