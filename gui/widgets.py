"""Small shared widgets: number entry with log stepping, forms generated from config
models, and a light painter-based mini plot (no pyqtgraph, so panels build fast)."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from optiscope.gui.colors import class_color
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "signals_blocked",
    "compact_combo",
    "SciSpinBox",
    "OptionalIntSpinBox",
    "IntListEdit",
    "FieldForm",
    "MiniPlot",
    "ErrorLabel",
    "LOG_FIELDS",
    "guard_wheel",
]

# fields whose natural scale is logarithmic: entered as 1e-3 and stepped 1-2-5
LOG_FIELDS = frozenset(
    {
        "lr",
        "eps",
        "base_lr",
        "max_lr",
        "min_lr",
        "eta_min",
        "decay",
        "weight_decay",
        "l1",
        "l2",
        "min_delta",
        "lr_decay",
        "initial_accumulator_value",
        "final_div_factor",
        "div_factor",
    }
)


@contextmanager
def signals_blocked(*objs: QtCore.QObject) -> Iterator[None]:
    """Block the signals of ``objs`` inside the block (like superqt's ``signals_blocked``)."""
    previous = [o.blockSignals(True) for o in objs]
    try:
        yield
    finally:
        for o, p in zip(objs, previous, strict=True):
            o.blockSignals(p)


class _WheelGuard(QtCore.QObject):
    """Lets a spin box or combo box take the mouse wheel only while it has the focus: an
    unfocused one passes the wheel on to its parents (the side panel scrolls instead of
    relu becoming gelu under the pointer)."""

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if (
            event.type() == QtCore.QEvent.Type.Wheel
            and isinstance(obj, QtWidgets.QWidget)
            and not obj.hasFocus()
        ):
            event.ignore()  # not accepted: Qt offers it to the parent widgets
            return True
        return False


_wheel_guard: _WheelGuard | None = None


def guard_wheel(widget: QtWidgets.QWidget) -> None:
    """Make ``widget`` take wheel events only when focused (a click or Tab focuses it, the
    wheel never does). Every spin box and combo box of the side panels uses it."""
    global _wheel_guard
    if _wheel_guard is None:
        _wheel_guard = _WheelGuard()
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_wheel_guard)


def compact_combo(min_chars: int = 8) -> QtWidgets.QComboBox:
    """A combo box whose width does not grow with its longest item (narrow side panels);
    it takes the wheel only when focused."""
    box = QtWidgets.QComboBox()
    guard_wheel(box)
    box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(min_chars)
    return box


def _ladder(lo: float, hi: float) -> list[float]:
    vals = [0.0] if lo <= 0.0 else []
    for k in range(-12, 6):
        for m in (1.0, 2.0, 5.0):
            v = float(f"{m}e{k}")
            if lo <= v <= hi:
                vals.append(v)
    return vals


class SciSpinBox(QtWidgets.QDoubleSpinBox):
    """A float entry that shows ``1e-05`` style numbers and accepts any typed float.

    ``log=True`` steps through 1, 2, 5 × 10^k (arrows, wheel, PageUp/Down), the natural
    ladder for learning rates; otherwise it steps linearly by ``singleStep``. With
    ``none_text`` the value ``None`` is shown as that text (e.g. "default").
    """

    def __init__(
        self,
        minimum: float,
        maximum: float,
        *,
        log: bool = False,
        step: float | None = None,
        none_text: str | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        guard_wheel(self)
        self._log = log
        self._lo, self._hi = minimum, maximum
        self._none_text = none_text
        self.setDecimals(20)
        sentinel = minimum - max(1.0, abs(minimum)) if none_text else minimum
        self.setRange(sentinel, maximum)
        if none_text:
            self.setSpecialValueText(none_text)
        self.setSingleStep(step if step is not None else (0.05 if maximum <= 1.0 else 0.1))
        self._ladder = _ladder(minimum, maximum) if log else []
        self.setKeyboardTracking(False)
        self.setAccelerated(True)
        self.setMinimumWidth(90)

    # value with None support
    def get(self) -> float | None:
        v = self.value()
        if self._none_text and v < self._lo:
            return None
        return float(v)

    def put(self, value: float | None) -> None:
        if value is None:
            if not self._none_text:
                raise ValueError("this field needs a number")
            self.setValue(self.minimum())
        else:
            self.setValue(float(value))

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt API)
        if self._none_text and value < self._lo:
            return self._none_text
        return f"{value:.10g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        text = text.strip()
        if self._none_text and text == self._none_text:
            return self.minimum()
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        t = text.strip()
        if self._none_text and self._none_text.startswith(t):
            return (
                QtGui.QValidator.State.Intermediate
                if t != self._none_text
                else QtGui.QValidator.State.Acceptable
            )
        if t in ("", "-", "+", ".", "e", "-.", "+."):
            return QtGui.QValidator.State.Intermediate
        try:
            v = float(t)
        except ValueError:
            if t[-1:] in ("e", "E", "-", "+"):
                return QtGui.QValidator.State.Intermediate
            return QtGui.QValidator.State.Invalid
        if not math.isfinite(v):
            return QtGui.QValidator.State.Invalid
        if self._lo <= v <= self._hi:
            return QtGui.QValidator.State.Acceptable
        return QtGui.QValidator.State.Intermediate

    def fixup(self, text: str) -> str:
        try:
            v = float(text)
        except ValueError:
            return self.textFromValue(self.value())
        return self.textFromValue(min(max(v, self._lo), self._hi))

    def stepBy(self, steps: int) -> None:  # noqa: N802
        if not self._log:
            if self._none_text and self.value() < self._lo and steps > 0:
                self.setValue(self._lo)
                return
            super().stepBy(steps)
            return
        v = self.value()
        if self._none_text and v < self._lo:
            self.setValue(self._ladder[0] if steps > 0 else self.minimum())
            return
        lad = self._ladder
        if steps > 0:
            bigger = [x for x in lad if x > v * (1 + 1e-9) + (1e-300 if v == 0 else 0)]
            idx = min(steps - 1, len(bigger) - 1)
            if idx >= 0:
                self.setValue(bigger[idx])
        elif steps < 0:
            smaller = [x for x in lad if x < v * (1 - 1e-9)]
            if smaller:
                self.setValue(smaller[max(len(smaller) + steps, 0)])
            elif self._none_text:
                self.setValue(self.minimum())


class OptionalIntSpinBox(QtWidgets.QSpinBox):
    """An integer entry; with ``none_text`` the lowest position means ``None``."""

    def __init__(
        self,
        minimum: int,
        maximum: int,
        *,
        none_text: str | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        guard_wheel(self)
        self._none_text = none_text
        self._lo = minimum
        self.setRange(minimum - 1 if none_text else minimum, maximum)
        if none_text:
            self.setSpecialValueText(none_text)
        self.setKeyboardTracking(False)
        self.setAccelerated(True)
        self.setMinimumWidth(90)

    def get(self) -> int | None:
        v = self.value()
        return None if (self._none_text and v < self._lo) else int(v)

    def put(self, value: int | None) -> None:
        if value is None:
            if not self._none_text:
                raise ValueError("this field needs a number")
            self.setValue(self.minimum())
        else:
            self.setValue(int(value))


class IntListEdit(QtWidgets.QLineEdit):
    """A list of whole numbers typed as ``400, 600`` (commas or spaces); empty means ``None``
    (shown as ``none_text``). What is not a whole number is handed on as typed, so the
    config's validation names the field, the position and the value."""

    def __init__(self, *, none_text: str | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._none_text = none_text
        if none_text:
            self.setPlaceholderText(none_text)
        self.setMinimumWidth(90)

    def get(self) -> tuple[Any, ...] | None:
        tokens = self.text().replace(",", " ").split()
        if not tokens:
            return None if self._none_text else ()
        return tuple(int(t) if t.lstrip("+-").isdigit() else t for t in tokens)

    def put(self, value: Sequence[int] | None) -> None:
        self.setText("" if value is None else ", ".join(str(int(v)) for v in value))


class ErrorLabel(QtWidgets.QLabel):
    """A red, word-wrapped message shown next to the fields it is about; hidden when empty."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorLabel")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet("color: #c0392b; font-weight: 600;")
        self.hide()

    def show_message(self, text: str | None) -> None:
        self.setText(text or "")
        self.setVisible(bool(text))


# --------------------------------------------------------------------------- generated forms
def _bounds(info: Any) -> tuple[float | None, float | None, bool, bool]:
    lo = hi = None
    lo_open = hi_open = False
    for m in info.metadata:
        if hasattr(m, "ge"):
            lo = m.ge
        elif hasattr(m, "gt"):
            lo, lo_open = m.gt, True
        elif hasattr(m, "le"):
            hi = m.le
        elif hasattr(m, "lt"):
            hi, hi_open = m.lt, True
    return lo, hi, lo_open, hi_open


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


class FieldForm(QtWidgets.QWidget):
    """A form for the fields of a frozen config model, built from its types and bounds.

    Floats get a :class:`SciSpinBox` (log-stepped for rates and penalties), ints a spin
    box, booleans a check box, ``Literal`` choices a combo box; optional fields show
    ``none_texts[name]`` (default "auto") for ``None``. Field descriptions become tooltips.
    """

    changed = Signal()

    def __init__(
        self,
        model_cls: type,
        *,
        skip: Iterable[str] = (),
        labels: dict[str, str] | None = None,
        none_texts: dict[str, str] | None = None,
        tips: dict[str, str] | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model_cls = model_cls
        skip = set(skip)
        labels = labels or {}
        none_texts = none_texts or {}
        tips = tips or {}
        self.widgets: dict[str, QtWidgets.QWidget] = {}
        self.labels: dict[str, QtWidgets.QLabel] = {}
        self._kinds: dict[str, str] = {}
        layout = QtWidgets.QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name, info in model_cls.model_fields.items():
            if (
                name in skip
                or typing.get_origin(info.annotation) is Literal
                and len(typing.get_args(info.annotation)) == 1
            ):
                continue
            tp, optional = _unwrap_optional(info.annotation)
            none_text = none_texts.get(name, "auto") if optional else None
            lo, hi, lo_open, hi_open = _bounds(info)
            w: QtWidgets.QWidget
            if tp is bool and not optional:
                w = QtWidgets.QCheckBox()
                w.toggled.connect(self._emit)
                kind = "bool"
            elif tp is bool:
                w = compact_combo()
                for text, value in ((none_texts.get(name, "auto"), None), ("yes", True), ("no", False)):
                    w.addItem(text, value)
                w.currentIndexChanged.connect(self._emit)
                kind = "optbool"
            elif typing.get_origin(tp) is Literal:
                w = compact_combo()
                for choice in typing.get_args(tp):
                    w.addItem(str(choice).replace("_", " "), choice)
                w.currentIndexChanged.connect(self._emit)
                kind = "choice"
            elif typing.get_origin(tp) is tuple and typing.get_args(tp)[:1] == (int,):
                w = IntListEdit(none_text=none_text)
                w.editingFinished.connect(self._emit)
                kind = "ints"
            elif tp is int:
                w = OptionalIntSpinBox(
                    int(lo if lo is not None else 0) + (1 if lo_open else 0),
                    int(hi if hi is not None else 1_000_000) - (1 if hi_open else 0),
                    none_text=none_text,
                )
                w.valueChanged.connect(self._emit)
                kind = "int"
            elif tp is float:
                log = name in LOG_FIELDS
                fmin = float(lo) if lo is not None else 0.0
                if lo_open:
                    fmin = fmin + (1e-12 if log else 1e-6)
                fmax = float(hi) if hi is not None else 1e6
                if hi_open:
                    fmax = fmax - 1e-9
                w = SciSpinBox(
                    fmin,
                    fmax,
                    log=log,
                    none_text=none_text,
                    step=0.01 if fmax <= 1.0 else (0.1 if fmax <= 10 else 1.0),
                )
                w.valueChanged.connect(self._emit)
                kind = "float"
            else:  # pragma: no cover - a field type the form does not know
                continue
            w.setObjectName(f"field_{name}")
            tip = tips.get(name) or info.description or ""
            if lo is not None or hi is not None:
                rng = (
                    f"range {'(' if lo_open else '['}{lo if lo is not None else '-inf'}, "
                    f"{hi if hi is not None else 'inf'}{')' if hi_open else ']'}"
                )
                tip = f"{tip} ({rng})" if tip else rng
            if tip:
                w.setToolTip(tip)
            label = QtWidgets.QLabel(labels.get(name, _pretty(name)))
            label.setToolTip(tip)
            label.setBuddy(w)
            layout.addRow(label, w)
            self.widgets[name] = w
            self.labels[name] = label
            self._kinds[name] = kind
        self.set_values(model_cls())

    def _emit(self, *_: Any) -> None:
        self.changed.emit()

    def values(self) -> dict[str, Any]:
        """The entered values by field name (not validated)."""
        out: dict[str, Any] = {}
        for name, w in self.widgets.items():
            kind = self._kinds[name]
            if kind == "bool":
                out[name] = w.isChecked()
            elif kind in ("choice", "optbool"):
                out[name] = w.currentData()
            else:
                out[name] = w.get()
        return out

    def set_values(self, values: Any) -> None:
        """Show ``values`` (a model or a mapping) without emitting ``changed``."""
        get = values.get if isinstance(values, dict) else (lambda n, d=None: getattr(values, n, d))
        with signals_blocked(self, *self.widgets.values()):
            for name, w in self.widgets.items():
                v = get(name)
                kind = self._kinds[name]
                if kind == "bool":
                    w.setChecked(bool(v))
                elif kind in ("choice", "optbool"):
                    idx = next(
                        (
                            i
                            for i in range(w.count())
                            if w.itemData(i) == v and type(w.itemData(i)) is type(v)
                        ),
                        0,
                    )
                    w.setCurrentIndex(idx)
                else:
                    w.put(v)

    def set_field_visible(self, name: str, visible: bool) -> None:
        if name in self.widgets:
            self.widgets[name].setVisible(visible)
            self.labels[name].setVisible(visible)


# --------------------------------------------------------------------------- mini plot
class MiniPlot(QtWidgets.QWidget):
    """A small painter-drawn chart for previews: a line (optionally log y), a class-coloured
    scatter, a grid of small grey images, or bars. Cheap to build and safe offscreen."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, height: int = 150) -> None:
        super().__init__(parent)
        self.setMinimumHeight(height)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.setFixedHeight(height)
        self._mode = "empty"
        self._message = ""
        self._data: dict[str, Any] = {}
        self.title = ""

    # -- content
    def show_message(self, text: str) -> None:
        self._mode, self._message = "message", text
        self.update()

    def set_line(self, y: Sequence[float], *, log: bool = False, title: str = "", xlabel: str = "") -> None:
        import numpy as np

        arr = np.asarray(y, dtype=float)
        self._mode = "line"
        self._data = {"y": arr, "log": log, "xlabel": xlabel}
        self.title = title
        self.update()

    def set_scatter(self, x: np.ndarray, y: np.ndarray, title: str = "") -> None:
        import numpy as np

        self._mode = "scatter"
        self._data = {"x": np.asarray(x, dtype=float), "y": np.asarray(y)}
        self.title = title
        self.update()

    def set_images(self, images: np.ndarray, labels: Sequence[Any] = (), title: str = "") -> None:
        import numpy as np

        self._mode = "images"
        self._data = {"images": np.asarray(images, dtype=float), "labels": list(labels)}
        self.title = title
        self.update()

    def set_bars(self, counts: Sequence[int], names: Sequence[str], title: str = "") -> None:
        self._mode = "bars"
        self._data = {"counts": list(counts), "names": list(names)}
        self.title = title
        self.update()

    @property
    def mode(self) -> str:
        return self._mode

    # -- painting
    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        r = self.rect().adjusted(1, 1, -1, -1)
        p.fillRect(r, pal.color(QtGui.QPalette.ColorRole.Base))
        p.setPen(QtGui.QPen(pal.color(QtGui.QPalette.ColorRole.Mid)))
        p.drawRect(r)
        fm = p.fontMetrics()
        top = r.top() + 4
        if self.title and self._mode not in ("empty", "message"):
            p.setPen(pal.color(QtGui.QPalette.ColorRole.Text))
            p.drawText(
                QtCore.QRect(r.left() + 6, top, r.width() - 12, fm.height()),
                Qt.AlignmentFlag.AlignLeft,
                self.title,
            )
            top += fm.height() + 2
        area = QtCore.QRectF(r.left() + 8, top + 2, r.width() - 16, r.bottom() - top - 8)
        if self._mode in ("empty", "message"):
            p.setPen(pal.color(QtGui.QPalette.ColorRole.PlaceholderText))
            p.drawText(
                r.adjusted(8, 4, -8, -4),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._message or "",
            )
        elif self._mode == "line":
            self._paint_line(p, area, fm)
        elif self._mode == "scatter":
            self._paint_scatter(p, area)
        elif self._mode == "images":
            self._paint_images(p, area, fm)
        elif self._mode == "bars":
            self._paint_bars(p, area, fm)
        p.end()

    def _paint_line(self, p: QtGui.QPainter, area: QtCore.QRectF, fm: QtGui.QFontMetrics) -> None:
        import numpy as np

        y = self._data["y"]
        log = self._data["log"]
        if y.size == 0:
            return
        vals = np.log10(np.clip(y, 1e-300, None)) if log else y
        finite = vals[np.isfinite(vals)]
        if finite.size == 0:
            return
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        text = self.palette().color(QtGui.QPalette.ColorRole.Text)

        # y tick labels: top and bottom values
        def fmt(v: float) -> str:
            return f"{10**v:.3g}" if log else f"{v:.3g}"

        label_w = max(fm.horizontalAdvance(fmt(hi)), fm.horizontalAdvance(fmt(lo))) + 6
        plot = area.adjusted(label_w, 0, 0, -fm.height() - 2)
        p.setPen(text)
        p.drawText(QtCore.QPointF(area.left(), plot.top() + fm.ascent()), fmt(hi))
        p.drawText(QtCore.QPointF(area.left(), plot.bottom()), fmt(lo))
        n = len(vals)
        xlabel = self._data.get("xlabel") or f"{n} updates"
        p.drawText(
            QtCore.QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
            Qt.AlignmentFlag.AlignRight,
            xlabel,
        )
        p.drawText(
            QtCore.QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
            Qt.AlignmentFlag.AlignLeft,
            "0",
        )
        p.setPen(QtGui.QPen(self.palette().color(QtGui.QPalette.ColorRole.Mid)))
        p.drawLine(plot.bottomLeft(), plot.bottomRight())
        p.drawLine(plot.bottomLeft(), plot.topLeft())
        # decimate to at most ~2 points per pixel column, keeping min and max
        cols = max(int(plot.width()), 2)
        xs = np.arange(n)
        if n > 2 * cols:
            edges = np.linspace(0, n, cols + 1).astype(int)
            pts_x, pts_y = [], []
            for a, b in zip(edges[:-1], edges[1:], strict=True):
                seg = vals[a:b]
                if seg.size:
                    pts_x += [a, b - 1]
                    pts_y += [np.nanmin(seg), np.nanmax(seg)]
            xs, vals = np.asarray(pts_x), np.asarray(pts_y)
        px = plot.left() + xs / max(n - 1, 1) * plot.width()
        py = plot.bottom() - (vals - lo) / (hi - lo) * plot.height()
        path = QtGui.QPainterPath()
        started = False
        for xv, yv in zip(px, py, strict=True):
            if not np.isfinite(yv):
                started = False
                continue
            if started:
                path.lineTo(xv, yv)
            else:
                path.moveTo(xv, yv)
                started = True
        p.setPen(QtGui.QPen(class_color(0), 2))
        p.drawPath(path)

    def _paint_scatter(self, p: QtGui.QPainter, area: QtCore.QRectF) -> None:
        import numpy as np

        x, y = self._data["x"], self._data["y"]
        if len(x) == 0:
            return
        lo, hi = x.min(0), x.max(0)
        span = np.maximum(hi - lo, 1e-9)
        side = min(area.width(), area.height())
        ox = area.left() + (area.width() - side) / 2 if area.width() > area.height() * 1.6 else area.left()
        w = side if area.width() > area.height() * 1.6 else area.width()
        px = ox + (x[:, 0] - lo[0]) / span[0] * w
        py = area.bottom() - (x[:, 1] - lo[1]) / span[1] * area.height()
        p.setPen(Qt.PenStyle.NoPen)
        for c in np.unique(y):
            p.setBrush(class_color(int(c)))
            sel = y == c
            for xv, yv in zip(px[sel], py[sel], strict=True):
                p.drawEllipse(QtCore.QPointF(xv, yv), 2.2, 2.2)

    def _paint_images(self, p: QtGui.QPainter, area: QtCore.QRectF, fm: QtGui.QFontMetrics) -> None:
        import numpy as np

        imgs = self._data["images"]
        labels = self._data["labels"]
        n = len(imgs)
        if n == 0:
            return
        h, w = imgs.shape[1], imgs.shape[2]
        label_h = fm.height() if labels else 0
        gap = 4

        def side(cols: int) -> float:  # the images' side with ``cols`` columns, labels below
            rows = math.ceil(n / cols)
            return min(area.width() / cols - gap, area.height() / rows - gap - label_h)

        cols = max(range(1, n + 1), key=side)  # the grid that draws the images largest
        img_side = max(side(cols), 4.0)
        left = area.left() + max(area.width() - cols * (img_side + gap) + gap, 0.0) / 2  # centred
        for i, im in enumerate(imgs):
            r_, c_ = divmod(i, cols)
            x0 = left + c_ * (img_side + gap)
            y0 = area.top() + r_ * (img_side + label_h + gap)
            lo, hi = float(im.min()), float(im.max())
            norm = np.zeros_like(im) if hi - lo < 1e-12 else (im - lo) / (hi - lo)
            g = (255 - norm * 255).astype(np.uint8)
            g = np.ascontiguousarray(g)
            qimg = QtGui.QImage(g.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8).copy()
            p.drawImage(QtCore.QRectF(x0, y0, img_side, img_side), qimg)
            if labels:
                p.setPen(self.palette().color(QtGui.QPalette.ColorRole.Text))
                p.drawText(
                    QtCore.QRectF(x0, y0 + img_side, img_side, label_h),
                    Qt.AlignmentFlag.AlignCenter,
                    str(labels[i]),
                )

    def _paint_bars(self, p: QtGui.QPainter, area: QtCore.QRectF, fm: QtGui.QFontMetrics) -> None:
        counts, names = self._data["counts"], self._data["names"]
        if not counts:
            return
        top = max(counts) or 1
        n = len(counts)
        bw = area.width() / n
        text = self.palette().color(QtGui.QPalette.ColorRole.Text)
        plot_h = area.height() - 2 * fm.height() - 2
        for i, (c, name) in enumerate(zip(counts, names, strict=True)):
            h = c / top * plot_h
            x0 = area.left() + i * bw + bw * 0.15
            y0 = area.top() + fm.height() + plot_h - h
            p.fillRect(QtCore.QRectF(x0, y0, bw * 0.7, h), class_color(i))
            p.setPen(text)
            p.drawText(
                QtCore.QRectF(x0 - bw * 0.15, y0 - fm.height(), bw, fm.height()),
                Qt.AlignmentFlag.AlignCenter,
                str(c),
            )
            short = fm.elidedText(str(name), Qt.TextElideMode.ElideRight, int(bw))
            p.drawText(
                QtCore.QRectF(x0 - bw * 0.15, area.bottom() - fm.height(), bw, fm.height()),
                Qt.AlignmentFlag.AlignCenter,
                short,
            )
