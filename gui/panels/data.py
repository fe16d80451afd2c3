"""The Data panel: which dataset, how much, how it is split, CSV import, and a preview."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from optiscope.engine.config import BUNDLED_DATASETS, DATASET_NAMES, SYNTHETIC_DATASETS, DatasetConfig
from optiscope.engine.data import dataset_shape
from optiscope.engine.tabular import sniff_dialect
from PySide6 import QtWidgets

from ..widgets import ErrorLabel, FieldForm, MiniPlot, compact_combo, signals_blocked
from . import Panel, PanelError

__all__ = ["DataPanel", "preview_summary", "csv_columns"]

DATASET_TITLES = {
    "blobs": "Blobs (the studies' set)",
    "moons": "Two moons",
    "circles": "Circles",
    "xor": "XOR",
    "spiral": "Spiral",
    "gaussians": "Two Gaussians",
    "digits": "Digits 8×8 images",
    "breast_cancer": "Breast cancer (table)",
    "wine": "Wine (table)",
    "iris": "Iris (table)",
    "csv": "CSV file…",
}


def csv_columns(path: str | Path) -> list[str]:
    """The header names of a CSV file; ValueError in words if it has none."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            head = fh.read(64 * 1024)
    except FileNotFoundError:
        raise ValueError(f"{p}: no such file; choose another file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: cannot be read as text ({exc})") from None
    if not head.strip():
        raise ValueError(f"{p}: the file is empty; a CSV needs a header row and data rows")
    row = next(csv.reader(head.splitlines(), sniff_dialect(head)))  # as the loader reads it
    cols = [c.strip() for c in row]
    if len(cols) < 2:
        raise ValueError(
            f"{p}: found only {len(cols)} column; a CSV needs feature columns and a target column"
        )
    return cols


# images shown by the preview: few enough to be drawn large (about 48 px each in the panel)
PREVIEW_IMAGES = 8


def preview_summary(cfg: DatasetConfig) -> dict[str, Any]:
    """Load the dataset (slow: scikit-learn) and keep what the preview draws. Background only."""
    import numpy as np
    from optiscope.engine.data import load_dataset

    ds = load_dataset(cfg)
    out: dict[str, Any] = {
        "name": ds.name,
        "n_train": len(ds.y_train),
        "n_val": len(ds.y_val),
        "n_features": ds.n_features,
        "n_classes": ds.n_classes,
        "class_names": list(ds.class_names),
        "note": ds.note,
        "rows": len(ds.y_train) + len(ds.y_val),
    }
    if ds.image_shape is not None:
        _, h, w = ds.image_shape
        k = min(PREVIEW_IMAGES, len(ds.y_train))
        out["kind"] = "images"
        out["images"] = ds.x_train[:k].reshape(k, h, w).copy()
        out["labels"] = [ds.class_names[i] for i in ds.y_train[:k]]
    elif ds.is_2d:
        k = min(600, len(ds.y_train))
        out["kind"] = "scatter"
        out["x"] = ds.x_train[:k].copy()
        out["y"] = ds.y_train[:k].copy()
    else:
        out["kind"] = "bars"
        out["counts"] = np.bincount(ds.y_train, minlength=ds.n_classes).tolist()
    return out


class DataPanel(Panel):
    """Dataset choice, sizes, split and seed; CSV file and target column; a preview."""

    title = "Data"

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.csv_info: dict[str, Any] | None = None
        layout = QtWidgets.QVBoxLayout(self)
        top = QtWidgets.QFormLayout()
        self.name_box = compact_combo()
        self.name_box.setObjectName("dataset")
        # generated sets, bundled sets, then CSV, with a separator between the groups
        group = {**dict.fromkeys(SYNTHETIC_DATASETS, 0), **dict.fromkeys(BUNDLED_DATASETS, 1)}
        previous = None
        for name in DATASET_NAMES:
            if previous is not None and group.get(name, 2) != previous:
                self.name_box.insertSeparator(self.name_box.count())
            self.name_box.addItem(DATASET_TITLES.get(name, name), name)
            previous = group.get(name, 2)
        top.addRow("&Dataset", self.name_box)
        layout.addLayout(top)

        self.csv_group = QtWidgets.QGroupBox("CSV file")
        g = QtWidgets.QFormLayout(self.csv_group)
        row = QtWidgets.QHBoxLayout()
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setPlaceholderText("choose a .csv file")
        self.path_edit.setObjectName("csv_path")
        self.browse_button = QtWidgets.QPushButton("Browse…")
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        g.addRow("File", row)
        self.target_box = compact_combo()
        self.target_box.setObjectName("csv_target")
        self.target_box.setToolTip("the column that holds the class labels")
        g.addRow("Target column", self.target_box)
        self.drop_missing = QtWidgets.QCheckBox("drop rows with missing values")
        g.addRow(self.drop_missing)
        self.csv_error = ErrorLabel()
        g.addRow(self.csv_error)
        layout.addWidget(self.csv_group)

        self.form = FieldForm(
            DatasetConfig,
            skip=("name", "path", "target", "drop_missing"),
            labels={
                "n_samples": "Samples",
                "noise": "Noise / spread",
                "centers": "Classes",
                "train_fraction": "Training fraction",
                "standardize": "Standardise",
                "subsample": "Use only first N train",
            },
            none_texts={"noise": "default", "standardize": "dataset default", "subsample": "all"},
        )
        layout.addWidget(self.form)
        layout.addWidget(self.error_label)
        self.preview = MiniPlot(height=170)
        self.preview.setObjectName("data_preview")
        self.preview.show_message("Preview appears when the engine has loaded…")
        layout.addWidget(self.preview)
        self.note = QtWidgets.QLabel()
        self.note.setWordWrap(True)
        self.note.setObjectName("hint")
        layout.addWidget(self.note)
        layout.addStretch(1)

        self.name_box.currentIndexChanged.connect(self._on_name)
        self.form.changed.connect(self._emit_changed)
        self.path_edit.editingFinished.connect(self._on_path_edited)
        self.browse_button.clicked.connect(self.browse_csv)
        self.target_box.currentIndexChanged.connect(self._emit_changed)
        self.drop_missing.toggled.connect(self._emit_changed)
        self._update_visibility()

    # -- config
    def config(self) -> DatasetConfig:
        data = self.form.values()
        data["name"] = self.name_box.currentData()
        if data["name"] == "csv":
            data["path"] = self.path_edit.text().strip() or None
            data["target"] = self.target_box.currentData()
            data["drop_missing"] = self.drop_missing.isChecked()
            if not data["path"] or not data["target"]:
                raise PanelError("CSV data needs a file and its target column: press Browse… and pick both")
        return self._validated(DatasetConfig, data, "dataset.")

    def set_config(self, cfg: DatasetConfig) -> None:
        self._setting = True
        try:
            with signals_blocked(self.name_box, self.path_edit, self.target_box, self.drop_missing):
                self.name_box.setCurrentIndex(max(self.name_box.findData(cfg.name), 0))
                self.form.set_values(cfg)
                self.path_edit.setText(cfg.path or "")
                self.drop_missing.setChecked(cfg.drop_missing)
                self._fill_targets(cfg.path, cfg.target)
            self._update_visibility()
        finally:
            self._setting = False
        self.error_label.show_message(self.problem())

    # -- CSV
    def browse_csv(self) -> None:
        start = self.path_edit.text() or str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open a CSV file", start, "CSV files (*.csv *.tsv *.txt);;All files (*)"
        )
        if path:
            self.set_csv_path(path)

    def set_csv_path(self, path: str) -> None:
        """Use this CSV file: read its header and offer its columns as targets."""
        self.path_edit.setText(path)
        self._on_path_edited()

    def _on_path_edited(self) -> None:
        self._fill_targets(self.path_edit.text().strip() or None, None)
        self._emit_changed()

    def _fill_targets(self, path: str | None, target: str | None) -> None:
        with signals_blocked(self.target_box):
            self.target_box.clear()
            self.csv_error.show_message(None)
            cols: list[str] = []
            if path:
                try:
                    cols = csv_columns(path)
                except ValueError as exc:
                    self.csv_error.show_message(str(exc))
            for c in cols:
                self.target_box.addItem(c, c)
            if target is not None and target not in cols:
                self.target_box.addItem(f"{target} (not in file)", target)
            if target is not None:
                self.target_box.setCurrentIndex(self.target_box.findData(target))
            elif cols:
                # the usual convention: the label is the last column
                self.target_box.setCurrentIndex(len(cols) - 1)

    # -- preview
    def show_preview(self, summary: dict[str, Any]) -> None:
        """Draw a :func:`preview_summary` result."""
        kind = summary.get("kind")
        n_tr, n_va = summary.get("n_train", 0), summary.get("n_val", 0)
        title = f"{n_tr} train / {n_va} validation, {summary.get('n_classes')} classes"
        if kind == "scatter":
            self.preview.set_scatter(summary["x"], summary["y"], title=title)
        elif kind == "images":
            self.preview.set_images(summary["images"], summary.get("labels", ()), title=title)
        else:
            self.preview.set_bars(
                summary["counts"], summary["class_names"], title=f"{title} (training classes)"
            )
        self.note.setText(summary.get("note", ""))
        if summary.get("name") == "csv":
            self.csv_info = summary
            self.csv_error.show_message(None)

    def show_preview_error(self, message: str) -> None:
        """A dataset that cannot be built: say why, in the panel."""
        self.preview.show_message("No preview: see the message above.")
        if self.name_box.currentData() == "csv":
            self.csv_error.show_message(message)
            self.csv_info = None
        else:
            self.error_label.show_message(message)

    # -- helpers
    def _on_name(self) -> None:
        self._update_visibility()
        self.csv_info = None
        self._emit_changed()

    def _update_visibility(self) -> None:
        name = self.name_box.currentData()
        synthetic = name in SYNTHETIC_DATASETS
        self.csv_group.setVisible(name == "csv")
        self.form.set_field_visible("n_samples", synthetic)
        self.form.set_field_visible("noise", synthetic)
        self.form.set_field_visible("centers", name in ("blobs", "spiral"))
        self.preview.setVisible(True)
        if name == "csv":
            self.preview.show_message("Choose a CSV file and its target column.")

    def shape(self) -> dict[str, Any]:
        """Features, classes, image shape and training rows of the current choice."""
        try:
            cfg = self.config()
        except PanelError:
            cfg = DatasetConfig()
        return dataset_shape(cfg, self.csv_info)
