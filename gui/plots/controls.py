"""The controls row above the plots: view mode, loss smoothing, log loss axis, log step/epoch
axis, every seed's own curve (runners of several seeds), and which run's decision boundary
the overlay shows."""

from __future__ import annotations

from optiscope.gui.widgets import signals_blocked
from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

__all__ = ["PlotControls", "shrinkable"]

CONTROL_MIN_CHARS = 10  # a combo box in the controls row may shrink to about this many characters
CONTROL_MAX_W = 320  # ... and grows to fit its longest item, up to this width


class PlotControls(QtWidgets.QWidget):
    """The controls row. Its signals report what the user chose; the ``show_*`` methods
    reflect a change made from code without emitting them.

    Signals
    -------
    mode_chosen(str)
        "overlay" or "grid".
    smoothing_chosen(float)
        The smoothing weight, 0 to 0.999.
    log_loss_toggled(bool)
        The log loss axis box.
    log_x_toggled(bool)
        The log x axis box (steps and epochs on every plot).
    show_seeds_toggled(bool)
        The "Every seed" box: each seed's thin curve besides its runner's mean and band.
    boundary_chosen(object)
        The run id whose boundary the overlay shows, or None for the latest run.
    """

    mode_chosen = Signal(str)
    smoothing_chosen = Signal(float)
    log_loss_toggled = Signal(bool)
    log_x_toggled = Signal(bool)
    show_seeds_toggled = Signal(bool)
    boundary_chosen = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode_box = QtWidgets.QComboBox()
        self.mode_box.addItem("Overlay: all runs together", "overlay")
        self.mode_box.addItem("Grid: one cell per run", "grid")
        self.mode_box.setToolTip(
            "Overlay compares runs directly; the grid shows each run of a sweep on its own"
        )
        self.mode_box.currentIndexChanged.connect(lambda i: self.mode_chosen.emit(self.mode_box.itemData(i)))
        self.smoothing_slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 999)
        self.smoothing_slider.setValue(600)
        self.smoothing_slider.setMinimumWidth(80)
        self.smoothing_slider.setToolTip(
            "Loss smoothing: debiased exponential moving average (0 = raw, 0.999 = very smooth)"
        )
        self.smoothing_slider.valueChanged.connect(lambda v: self.smoothing_chosen.emit(v / 1000.0))
        self._smooth_label = QtWidgets.QLabel("0.6")
        self._smooth_label.setMinimumWidth(QtGui.QFontMetrics(self.font()).horizontalAdvance("0.000 "))
        self.log_box = QtWidgets.QCheckBox("Log loss")
        self.log_box.setToolTip("Show the loss on a logarithmic axis (useful when a run diverges)")
        self.log_box.toggled.connect(self.log_loss_toggled)
        self.log_x_box = QtWidgets.QCheckBox("Log x")
        self.log_x_box.setToolTip(
            "Show steps and epochs on a logarithmic axis on every plot (early training spread out)"
        )
        self.log_x_box.toggled.connect(self.log_x_toggled)
        self.seeds_box = QtWidgets.QCheckBox("Every seed")
        self.seeds_box.setToolTip(
            "Show every seed: each seed's thin curve besides its runner's mean and 95 % band "
            "(for runs trained with several seeds)"
        )
        self.seeds_box.setVisible(False)  # shown while runners have several seeds
        self.seeds_box.toggled.connect(self.show_seeds_toggled)
        self.boundary_box = QtWidgets.QComboBox()
        self.boundary_box.addItem("latest run", None)
        self.boundary_box.setToolTip("Which run's decision boundary the overlay view shows")
        self.boundary_box.currentIndexChanged.connect(
            lambda i: self.boundary_chosen.emit(self.boundary_box.itemData(i))
        )
        self._boundary_label = QtWidgets.QLabel("Boundary of:")
        # the combo boxes shrink (eliding their text) before the row makes the window wider:
        # the plots must fit beside the side panels at 1280x720 (CONTROL_MIN_CHARS)
        shrinkable(self.mode_box)
        shrinkable(self.boundary_box)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 2)
        # spare width goes mostly to the view box, whose items are the longest
        for widget, space, stretch in (
            (QtWidgets.QLabel("View:"), 0, 0),
            (self.mode_box, 12, 4),
            (QtWidgets.QLabel("Smoothing:"), 0, 0),
            (self.smoothing_slider, 0, 0),
            (self._smooth_label, 12, 0),
            (self.log_box, 6, 0),
            (self.log_x_box, 6, 0),
            (self.seeds_box, 12, 0),
            (self._boundary_label, 0, 0),
            (self.boundary_box, 0, 1),
        ):
            row.addWidget(widget, stretch)
            if space:
                row.addSpacing(space)
        row.addStretch(1)
        self.setLayout(row)

    # -- reflecting changes made from code
    def show_mode(self, mode: str) -> None:
        with signals_blocked(self.mode_box):
            self.mode_box.setCurrentIndex(0 if mode == "overlay" else 1)
        self.boundary_box.setEnabled(mode == "overlay")
        self._boundary_label.setEnabled(mode == "overlay")

    def show_smoothing(self, beta: float) -> None:
        self._smooth_label.setText(f"{beta:.3g}" if beta else "off")
        with signals_blocked(self.smoothing_slider):
            self.smoothing_slider.setValue(round(beta * 1000))

    def show_log_loss(self, on: bool) -> None:
        with signals_blocked(self.log_box):
            self.log_box.setChecked(on)

    def show_log_x(self, on: bool) -> None:
        with signals_blocked(self.log_x_box):
            self.log_x_box.setChecked(on)

    def show_seed_choice(self, seeded: bool, on: bool) -> None:
        """The "Every seed" box: shown when runners have several seeds; checked if ``on``."""
        self.seeds_box.setVisible(seeded)
        with signals_blocked(self.seeds_box):
            self.seeds_box.setChecked(on)

    # -- the runs with a boundary
    def add_boundary_run(self, run_id: int, label: str) -> None:
        """Offer ``run_id`` in the boundary choice (once)."""
        if self.boundary_box.findData(run_id) < 0:
            self.boundary_box.addItem(label, run_id)

    def rename_boundary_run(self, run_id: int, label: str) -> None:
        i = self.boundary_box.findData(run_id)
        if i > 0:
            self.boundary_box.setItemText(i, label)

    def remove_boundary_run(self, run_id: int) -> None:
        i = self.boundary_box.findData(run_id)
        if i > 0:
            self.boundary_box.removeItem(i)

    def clear_boundary_runs(self) -> None:
        """Back to "latest run" only (without emitting ``boundary_chosen``)."""
        with signals_blocked(self.boundary_box):
            while self.boundary_box.count() > 1:
                self.boundary_box.removeItem(1)
            self.boundary_box.setCurrentIndex(0)


def shrinkable(box: QtWidgets.QComboBox) -> None:
    """Let a combo box shrink to about ``CONTROL_MIN_CHARS`` characters (eliding its text)
    and grow, when the row has room, to fit its longest item (at most ``CONTROL_MAX_W``)."""

    def longest() -> int:
        metrics = box.fontMetrics()
        return max((metrics.horizontalAdvance(box.itemText(i)) for i in range(box.count())), default=0)

    padding = box.sizeHint().width() - longest()  # frame and arrow, measured while it fits its items

    def fit_items() -> None:
        box.setMaximumWidth(max(box.minimumSizeHint().width(), min(padding + longest(), CONTROL_MAX_W)))

    box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(CONTROL_MIN_CHARS)
    box.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
    model = box.model()
    for signal in (model.rowsInserted, model.rowsRemoved, model.dataChanged):
        signal.connect(fit_items)
    fit_items()
