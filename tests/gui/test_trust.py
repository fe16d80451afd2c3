"""The window does what the user set, visibly (issue 11, section 1)."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


def _wheel(widget: QtWidgets.QWidget, notches: int = -1) -> QtGui.QWheelEvent:
    """Send a mouse-wheel event to ``widget`` (negative: scroll down); returns it."""
    pos = QtCore.QPointF(widget.rect().center())
    event = QtGui.QWheelEvent(
        pos,
        QtCore.QPointF(widget.mapToGlobal(pos.toPoint())),
        QtCore.QPoint(),
        QtCore.QPoint(0, 120 * notches),
        QtCore.Qt.MouseButton.NoButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
        QtCore.Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(widget, event)
    return event


def _value(widget: QtWidgets.QWidget):
    if isinstance(widget, QtWidgets.QComboBox):
        return widget.currentIndex()
    return widget.value()


def test_panel_spin_and_combo_boxes_take_the_wheel_only_when_focused(qtbot, make_window):
    w = make_window(wait_engine=False)
    w.model_panel.add_layer("dropout")  # widgets made later (layer forms) are guarded too
    w.schedule_panel.kind_box.setCurrentIndex(w.schedule_panel.kind_box.findData("cyclic"))
    boxes = [
        box
        for panel in w.panels.values()
        for cls in (QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox)
        for box in panel.findChildren(cls)
        if box.isEnabled()
    ]
    assert len(boxes) > 15
    w.data_panel.setFocus()
    for box in boxes:
        before = _value(box)
        for notches in (-1, 1):  # either way: whichever has room to move
            _wheel(box, notches)
            assert _value(box) == before, f"{box.objectName() or box} changed under an unfocused wheel"
    # a focused box takes the wheel as before
    w.activateWindow()
    box = w.optimizer_panel.lr_box()
    w.toolbox.setCurrentIndex(2)
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=5000)
    before = box.value()
    _wheel(box, 1)
    assert box.value() != before
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
