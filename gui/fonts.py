"""Readable text on any machine: the bundled DejaVu Sans, and a check that glyphs are drawn.

An offline install must not depend on the fonts a machine happens to have: on a minimal
Linux system without fonts (or without fontconfig's configuration) Qt draws every character
as the same empty box. :func:`use_readable_font` registers the fonts in
``optiscope.resources/fonts`` (DejaVu Sans, with its licence) and makes DejaVu Sans the
application font when the system's default font does not draw letters. :func:`text_problems`
is the self-test's check that text is readable: letters have ink, different letters have
different shapes, and ``iiii`` and ``WWWW`` have different widths (empty boxes are all alike).
"""

from __future__ import annotations

from importlib import resources

__all__ = ["BUNDLED_FAMILY", "draws_boxes", "register_bundled_fonts", "text_problems", "use_readable_font"]

BUNDLED_FAMILY = "DejaVu Sans"
_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
# letters whose shapes differ in every font that has them; a box font draws them all alike
_PROBE_LETTERS = ("O", "i", "W", "x", "g")
_NARROW, _WIDE = "iiiiii", "WWWWWW"
_registered: list[str] | None = None  # families added by this process (once per process)


def register_bundled_fonts() -> list[str]:
    """Add the bundled font files to Qt's font database; returns the families they provide
    (empty when a file is missing or Qt cannot read it). Needs a QGuiApplication."""
    global _registered
    from PySide6 import QtGui

    if _registered is not None:
        return list(_registered)
    families: list[str] = []
    folder = resources.files("optiscope.resources").joinpath("fonts")
    for name in _FONT_FILES:
        try:
            data = folder.joinpath(name).read_bytes()
        except OSError:
            continue
        font_id = QtGui.QFontDatabase.addApplicationFontFromData(data)
        if font_id >= 0:
            families += [f for f in QtGui.QFontDatabase.applicationFontFamilies(font_id) if f not in families]
    _registered = families
    return list(families)


def _label_image(text: str, font):  # (str, QtGui.QFont) -> QtGui.QImage
    """``text`` as a QLabel draws it with ``font``: a greyscale image, dark text on white."""
    from PySide6 import QtGui, QtWidgets

    label = QtWidgets.QLabel(text)
    label.setFont(font)
    label.setStyleSheet("QLabel { color: black; background: white; }")
    label.adjustSize()
    image = label.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    label.deleteLater()
    return image


def _ink(image) -> tuple[int, bytes]:  # QtGui.QImage -> (dark pixel count, their mask)
    """How many pixels are dark, and where (one byte per pixel), ignoring row padding."""
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    data = bytes(image.constBits())[: stride * height]
    mask = bytes(1 if data[y * stride + x] < 128 else 0 for y in range(height) for x in range(width))
    return sum(mask), mask


def text_problems(font=None, render=None) -> list[str]:
    """Why text drawn with ``font`` (default: the application font) is unreadable; empty when
    letters are drawn as letters. ``render(text, font) -> QImage`` draws a label (tests pass a
    fake one). Needs a QApplication."""
    from PySide6 import QtGui, QtWidgets

    app_font = QtWidgets.QApplication.font()
    font = QtGui.QFont(app_font) if font is None else font
    render = render or _label_image
    family = QtGui.QFontInfo(font).family() or "(none)"
    problems = []
    if draws_boxes(font):
        width = QtGui.QFontMetrics(font).horizontalAdvance(_NARROW)
        problems.append(
            f"text is not readable: '{_NARROW}' and '{_WIDE}' are both {width} px wide in font "
            f"'{family}' (every letter drawn as the same box?)"
        )
    letters = {}
    for letter in _PROBE_LETTERS:
        image = render(letter, font)
        count, mask = _ink(image)
        letters[letter] = (count, image.width(), image.height(), mask)
    blank = [letter for letter, (count, *_rest) in letters.items() if count == 0]
    if blank:
        problems.append(f"text is not readable: no ink drawn for {blank} in font '{family}'")
    shapes = {shape for shape in letters.values() if shape[0]}
    if len(letters) > 1 and len(shapes) < len(letters) - len(blank):
        alike = [letter for letter in letters if letters[letter][0]]
        problems.append(
            f"text is not readable: letters {alike} are drawn with identical shapes in font "
            f"'{family}' (boxes instead of glyphs)"
        )
    return problems


def draws_boxes(font) -> bool:  # (QtGui.QFont) -> bool
    """True when ``font`` gives ``iiiiii`` and ``WWWWWW`` the same width: every letter is the same
    box (the quick test used at every start; :func:`text_problems` also looks at the ink)."""
    from PySide6 import QtGui

    metrics = QtGui.QFontMetrics(font)
    return metrics.horizontalAdvance(_NARROW) == metrics.horizontalAdvance(_WIDE)


def use_readable_font(app) -> str:  # (QtWidgets.QApplication) -> str
    """Register the bundled fonts; where the default font draws boxes (a system without fonts),
    make DejaVu Sans the application font. Returns the family in use."""
    from PySide6 import QtGui

    families = register_bundled_fonts()
    font = app.font()
    if BUNDLED_FAMILY in families and draws_boxes(font):
        font.setFamily(BUNDLED_FAMILY)
        app.setFont(font)
    return QtGui.QFontInfo(app.font()).family()
