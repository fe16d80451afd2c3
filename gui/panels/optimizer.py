"""The Optimizer panel: which ``torch.optim`` optimizer and every hyperparameter."""

from __future__ import annotations

from typing import Any

from optiscope.engine import config as C
from optiscope.engine import optimizers as optimizer_parts
from PySide6 import QtWidgets

from ..widgets import FieldForm, compact_combo, signals_blocked
from . import Panel

__all__ = ["OptimizerPanel", "KindPanel"]


class KindPanel(Panel):
    """A panel for a config union tagged by ``kind``: a kind chooser over one form per kind.

    Each kind keeps its own values while you switch, so flipping between SGD and Adam
    does not lose what you typed; "Defaults" resets the shown kind.
    """

    classes: dict[str, type] = {}
    kind_titles: dict[str, str] = {}
    labels: dict[str, str] = {}
    none_texts: dict[str, str] = {}
    prefix = ""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        self.kind_box = compact_combo(12)
        self.kind_box.setObjectName("kind")
        for kind in self.classes:
            self.kind_box.addItem(self.kind_titles.get(kind, kind), kind)
        label = QtWidgets.QLabel("&Kind")
        label.setBuddy(self.kind_box)
        row.addWidget(label)
        row.addWidget(self.kind_box, 1)
        self.defaults_button = QtWidgets.QToolButton()
        self.defaults_button.setText("Defaults")
        self.defaults_button.setToolTip("reset this kind's settings to their defaults")
        row.addWidget(self.defaults_button)
        layout.addLayout(row)
        self.about = QtWidgets.QLabel()
        self.about.setWordWrap(True)
        self.about.setObjectName("hint")
        layout.addWidget(self.about)
        self.stack = QtWidgets.QStackedWidget()
        self.forms: dict[str, FieldForm] = {}
        for kind, cls in self.classes.items():
            form = FieldForm(cls, skip=("kind",), labels=self.labels_for(kind), none_texts=self.none_texts)
            form.changed.connect(self._emit_changed)
            self.forms[kind] = form
            self.stack.addWidget(form)
        layout.addWidget(self.stack)
        layout.addWidget(self.error_label)
        self.kind_box.currentIndexChanged.connect(self._on_kind)
        self.defaults_button.clicked.connect(self.reset_kind)
        self._on_kind()

    def labels_for(self, kind: str) -> dict[str, str]:
        """The field labels of ``kind``'s form (the same for every kind unless overridden)."""
        return self.labels

    @property
    def kind(self) -> str:
        return self.kind_box.currentData()

    def current_form(self) -> FieldForm:
        return self.forms[self.kind]

    def config(self) -> Any:
        kind = self.kind
        data = {"kind": kind, **self.forms[kind].values()}
        return self._validated(self.classes[kind], data, self.prefix)

    def set_config(self, cfg: Any) -> None:
        self._setting = True
        try:
            with signals_blocked(self.kind_box):
                self.kind_box.setCurrentIndex(max(self.kind_box.findData(cfg.kind), 0))
            self.forms[cfg.kind].set_values(cfg)
            self._show_kind()
        finally:
            self._setting = False
        self.error_label.show_message(self.problem())

    def reset_kind(self) -> None:
        self.forms[self.kind].set_values(self.classes[self.kind]())
        self._emit_changed()

    def _on_kind(self) -> None:
        self._show_kind()
        self._emit_changed()

    def _show_kind(self) -> None:
        cls = self.classes[self.kind]
        shown = self.forms[self.kind]
        # the stack takes the height of the shown form only (not of the largest one)
        for form in self.forms.values():
            policy = (
                QtWidgets.QSizePolicy.Policy.Preferred
                if form is shown
                else QtWidgets.QSizePolicy.Policy.Ignored
            )
            form.setSizePolicy(policy, policy)
        self.stack.setCurrentWidget(shown)
        self.stack.adjustSize()
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        self.about.setText(" ".join(doc.replace("``", "").split()))
        self.about.setVisible(bool(self.about.text()))


class OptimizerPanel(KindPanel):
    """Optimizer kind and hyperparameters (learning rate entered on a log scale)."""

    title = "Optimizer"
    classes = C.OPTIMIZER_CLASSES
    kind_titles = optimizer_parts.panel_titles()
    labels = optimizer_parts.panel_labels()
    prefix = "optimizer."

    def labels_for(self, kind: str) -> dict[str, str]:
        return optimizer_parts.panel_labels(kind)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        # the window gives it the Tools > Find learning rate action (one command, two places)
        self.find_lr_button = QtWidgets.QToolButton()
        self.find_lr_button.setObjectName("find_lr")
        self.find_lr_button.setText("Find LR…")
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.find_lr_button)
        layout = self.layout()
        assert isinstance(layout, QtWidgets.QVBoxLayout)
        layout.insertLayout(layout.indexOf(self.stack) + 1, row)

    def lr_box(self) -> QtWidgets.QDoubleSpinBox:
        """The learning-rate entry of the shown kind."""
        return self.current_form().widgets["lr"]  # type: ignore[return-value]
