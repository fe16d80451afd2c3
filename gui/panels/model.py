"""The Model panel: an ordered list of hidden layers and the parameter count."""

from __future__ import annotations

from typing import Any

from optiscope.engine.config import INITIALIZERS, LAYER_CLASSES, LAYER_TYPES, ModelConfig
from optiscope.engine.models import param_count
from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from ..widgets import FieldForm, compact_combo, signals_blocked
from . import Panel, PanelError

__all__ = ["ModelPanel", "describe_layer"]

LAYER_TITLES = {
    "dense": "Dense (fully connected)",
    "dropout": "Dropout",
    "batchnorm": "Batch normalisation",
    "conv2d": "Conv 2D (images)",
    "maxpool": "Max pooling (images)",
    "flatten": "Flatten (images)",
}


def describe_layer(layer: Any) -> str:
    t = layer.type
    if t == "dense":
        return f"Dense {layer.units}, {layer.activation}, {layer.init}"
    if t == "dropout":
        return f"Dropout p={layer.p:g}"
    if t == "batchnorm":
        act = "" if layer.activation == "linear" else f", then {layer.activation}"
        return f"BatchNorm (momentum {layer.momentum:g}{act})"
    if t == "conv2d":
        return f"Conv2D {layer.filters}×{layer.kernel}×{layer.kernel}, {layer.activation}"
    if t == "maxpool":
        return f"MaxPool {layer.size}×{layer.size}"
    return "Flatten"


class ModelPanel(Panel):
    """Hidden layers (add, remove, reorder, edit) and the output layer's initialiser."""

    title = "Model"

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._layers: list[Any] = []
        self._shape: tuple[int, int, tuple[int, int, int] | None] = (2, 3, None)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel("Hidden layers, input to output:"))
        self.layer_list = QtWidgets.QListWidget()
        self.layer_list.setObjectName("layers")
        self.layer_list.setMinimumHeight(110)
        self.layer_list.setMaximumHeight(170)
        layout.addWidget(self.layer_list)
        buttons = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QToolButton()
        self.add_button.setText("Add layer")
        self.add_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QtWidgets.QMenu(self.add_button)
        for kind in LAYER_TYPES:
            act = menu.addAction(LAYER_TITLES.get(kind, kind))
            act.triggered.connect(lambda _=False, k=kind: self.add_layer(k))
        self.add_button.setMenu(menu)
        self.remove_button = QtWidgets.QToolButton()
        self.remove_button.setText("Remove")
        self.up_button = QtWidgets.QToolButton()
        self.up_button.setText("Up")
        self.up_button.setArrowType(Qt.ArrowType.UpArrow)
        self.up_button.setToolTip("move the selected layer towards the input")
        self.down_button = QtWidgets.QToolButton()
        self.down_button.setText("Down")
        self.down_button.setArrowType(Qt.ArrowType.DownArrow)
        self.down_button.setToolTip("move the selected layer towards the output")
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        self.editor_box = QtWidgets.QGroupBox("Selected layer")
        ed = QtWidgets.QVBoxLayout(self.editor_box)
        self.editors = QtWidgets.QStackedWidget()
        self.forms: dict[str, FieldForm] = {}
        for kind, cls in LAYER_CLASSES.items():
            form = FieldForm(cls, skip=("type",), labels={"p": "Drop probability", "init": "Initialiser"})
            if kind == "flatten":
                lab = QtWidgets.QLabel("Flatten has no settings: it turns image feature maps into a vector.")
                lab.setWordWrap(True)
                form.layout().addRow(lab)
            form.changed.connect(self._on_layer_edited)
            self.forms[kind] = form
            self.editors.addWidget(form)
        ed.addWidget(self.editors)
        layout.addWidget(self.editor_box)

        out = QtWidgets.QFormLayout()
        self.output_init = compact_combo()
        for v in INITIALIZERS:
            self.output_init.addItem(v, v)
        out.addRow("Output layer initialiser", self.output_init)
        layout.addLayout(out)
        self.count_label = QtWidgets.QLabel()
        self.count_label.setObjectName("paramCount")
        self.count_label.setWordWrap(True)
        layout.addWidget(self.count_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

        self.layer_list.currentRowChanged.connect(self._on_select)
        self.remove_button.clicked.connect(self.remove_layer)
        self.up_button.clicked.connect(lambda: self.move_layer(-1))
        self.down_button.clicked.connect(lambda: self.move_layer(1))
        self.output_init.currentIndexChanged.connect(self._emit_changed)
        self.set_config(ModelConfig())

    # -- config
    def config(self) -> ModelConfig:
        data = {
            "layers": [layer.model_dump() for layer in self._layers],
            "output_init": self.output_init.currentData(),
        }
        return self._validated(ModelConfig, data, "model.")

    def set_config(self, cfg: ModelConfig) -> None:
        self._setting = True
        try:
            self._layers = list(cfg.layers)
            with signals_blocked(self.output_init, self.layer_list):
                self.output_init.setCurrentIndex(max(self.output_init.findData(cfg.output_init), 0))
            self._refresh_list(0 if self._layers else -1)
        finally:
            self._setting = False
        self._update_count()
        self.error_label.show_message(self.problem())

    # -- editing
    def add_layer(self, kind: str) -> None:
        row = self.layer_list.currentRow()
        at = row + 1 if row >= 0 else len(self._layers)
        self._layers.insert(at, LAYER_CLASSES[kind]())
        self._refresh_list(at)
        self._emit_changed()

    def remove_layer(self) -> None:
        row = self.layer_list.currentRow()
        if 0 <= row < len(self._layers):
            del self._layers[row]
            self._refresh_list(min(row, len(self._layers) - 1))
            self._emit_changed()

    def move_layer(self, delta: int) -> None:
        row = self.layer_list.currentRow()
        new = row + delta
        if 0 <= row < len(self._layers) and 0 <= new < len(self._layers):
            self._layers[row], self._layers[new] = self._layers[new], self._layers[row]
            self._refresh_list(new)
            self._emit_changed()

    def _refresh_list(self, select: int) -> None:
        with signals_blocked(self.layer_list):
            self.layer_list.clear()
            for i, layer in enumerate(self._layers):
                self.layer_list.addItem(f"{i + 1}. {describe_layer(layer)}")
            self.layer_list.setCurrentRow(select)
        self._on_select(select)

    def _on_select(self, row: int) -> None:
        has = 0 <= row < len(self._layers)
        self.editor_box.setEnabled(has)
        self.remove_button.setEnabled(has)
        self.up_button.setEnabled(has and row > 0)
        self.down_button.setEnabled(has and row < len(self._layers) - 1)
        if has:
            layer = self._layers[row]
            form = self.forms[layer.type]
            form.set_values(layer)
            self.editors.setCurrentWidget(form)
            self.editor_box.setTitle(f"Layer {row + 1}: {LAYER_TITLES.get(layer.type, layer.type)}")
        else:
            self.editor_box.setTitle("Selected layer")

    def _on_layer_edited(self) -> None:
        row = self.layer_list.currentRow()
        if not 0 <= row < len(self._layers):
            return
        layer = self._layers[row]
        values = self.forms[layer.type].values()
        self._layers[row] = LAYER_CLASSES[layer.type](**values)
        item = self.layer_list.item(row)
        if item is not None:
            item.setText(f"{row + 1}. {describe_layer(self._layers[row])}")
        self._emit_changed()

    def _emit_changed(self, *_: Any) -> None:
        self._update_count()
        super()._emit_changed()

    # -- parameter count
    def set_data_shape(
        self, n_features: int, n_classes: int, image_shape: tuple[int, int, int] | None
    ) -> None:
        """The dataset's input and output sizes, for the parameter count."""
        self._shape = (n_features, n_classes, image_shape)
        self._update_count()

    def _update_count(self) -> None:
        feats, classes, image = self._shape
        try:
            n = param_count(self.config(), feats, classes, image)
        except PanelError:
            self.count_label.setText("Parameters: —")
            return
        except ValueError as exc:
            self.count_label.setText(f"Parameters: — ({exc})")
            return
        src = "8×8 image" if image else f"{feats} features"
        self.count_label.setText(f"<b>Parameters: {n:,}</b> &nbsp;({src} → {classes} classes)")
