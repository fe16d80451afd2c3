"""What a class at the back of the room must be able to read, measured on rendered pixels:
the toolbar's icons in the dark theme. (The race trails, hover readout, digits preview and
pace label are measured beside their own tests: test_landscape_view, test_plots,
test_panels, test_classroom.)"""

from __future__ import annotations

import numpy as np
from PySide6 import QtGui, QtWidgets


def _rgb(image: QtGui.QImage) -> np.ndarray:
    """An (h, w, 3) float array of ``image``'s colours in 0..1."""
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : 4 * w]
    return raw.reshape(h, w, 4)[..., 2::-1].astype(float) / 255.0


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2 relative luminance of sRGB colours (last axis)."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def _contrast(a: np.ndarray, b: float) -> np.ndarray:
    """WCAG contrast ratio between luminances ``a`` (array) and ``b``."""
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    return (hi + 0.05) / (lo + 0.05)


def test_dark_theme_toolbar_icons_stand_out_from_the_toolbar(make_window, qtbot):
    w = make_window()  # Run is enabled once the engine is loaded
    w.set_theme("dark")
    checked = []
    for name in ("run", "step", "step_epoch", "reset", "compare"):
        act = w.acts[name]
        button = w.toolbar.widgetForAction(act)
        assert act.isEnabled() and isinstance(button, QtWidgets.QToolButton), name
        rgb = _rgb(button.grab().toImage())
        ratio = button.devicePixelRatioF()
        background = float(np.median(_luminance(rgb[:, -2:].reshape(-1, 3))))  # right edge: no text
        side = int(round(button.iconSize().width() * ratio))
        top = (rgb.shape[0] - side) // 2
        strip = rgb[top : top + side, : side + int(8 * ratio)]  # the icon, left of the text
        contrast = _contrast(_luminance(strip), background)
        # WCAG asks 3:1 for graphical objects; a fifth of the icon's square must reach it
        # (the style's own dark pictograms on the dark toolbar reach about 1.4:1)
        assert (contrast >= 3.0).sum() >= 0.2 * side * side, (name, float(contrast.max()))
        checked.append(name)
    assert len(checked) == 5
    w.set_theme("light")  # the style's own icons again
    assert w.acts["run"].icon().cacheKey() == w.acts._standard_icons["run"].cacheKey()
