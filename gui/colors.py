"""The one owner of Optiscope's colours: one colour per run, one colour per class.

Every view that tells runs apart (live plots, legends, the landscape's race and surface
paths) asks :func:`run_color`; every view that tells classes apart (the data preview,
the decision boundary's heatmap, points and readout) asks :func:`class_color`. Nothing
else keeps a list of colours, so run 12 or class 3 look the same everywhere.
"""

from __future__ import annotations

import functools

from PySide6 import QtGui

__all__ = [
    "RUN_PALETTE",
    "OKABE_ITO_RUNS",
    "CLASS_PALETTE",
    "run_color",
    "PAST_RUN_ID_BASE",
    "PAST_RUN_GREYS",
    "is_past_run",
    "class_color",
    "set_run_palette",
    "run_palette",
    "GUIDE_COLOR",
    "HISTOGRAM_COLORMAP",
    "MIN_CONTRAST",
    "relative_luminance",
    "contrast_ratio",
    "readable_color",
    "casing_color",
]

# WCAG 2's least contrast for graphics (lines, markers) against their background
MIN_CONTRAST = 3.0

# Mid-luminance colours: WCAG contrast >= 3 against both white and #1e1e1e, so the same
# run keeps its colour on a light or a dark projector background. Past the palette, hues
# follow the golden angle (see run_color).
RUN_PALETTE = (
    "#2a7fd4",
    "#e8710a",
    "#1e9e4a",
    "#e0342b",
    "#9b5fd0",
    "#0f9e9e",
    "#d6338a",
    "#8a8f12",
    "#a0632a",
    "#6f7f94",
)
# Okabe-Ito (Okabe & Ito 2008), colour-blind safe, for presentation mode on its white
# background: black moved up and the pale yellow last. Orange, sky blue and yellow are under
# 3:1 on white: their curves get a dark casing (casing_color) rather than darker colours,
# which would make orange and yellow look alike to colour-blind eyes.
OKABE_ITO_RUNS = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#000000",
    "#d55e00",
    "#56b4e9",
    "#f0e442",
)
_palette: tuple[str, ...] = RUN_PALETTE
# guide lines and nominal values (rules of thumb, the schedule's rate): a neutral grey readable
# on light and dark backgrounds
GUIDE_COLOR = "#8c8c8c"
# histograms over time (the Inside tab): perceptually uniform, colour-blind safe
HISTOGRAM_COLORMAP = "viridis"
# Okabe-Ito, colour-blind safe (deliberately not the run colours), without its black so
# points stay visible on a dark background; two more for ten-class sets such as digits.
CLASS_PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#555555",
    "#882255",
    "#999999",
)


def set_run_palette(palette: tuple[str, ...]) -> None:
    """Use ``palette`` for run colours from now on (presentation mode: :data:`OKABE_ITO_RUNS`)."""
    global _palette
    _palette = tuple(palette)


def run_palette() -> tuple[str, ...]:
    """The run colours in use."""
    return _palette


#: plot ids of past runs overlaid from the run store (gui.past_runs): never those of live runs
PAST_RUN_ID_BASE = 100_000
#: past runs are grey (and dotted, see plots.presentation.Look.pen), never a live run's colour
PAST_RUN_GREYS = ("#808080", "#a6a6a6", "#5c5c5c")


def is_past_run(run_id: int) -> bool:
    """Whether plot run ``run_id`` is a past run overlaid from the run store."""
    return run_id >= PAST_RUN_ID_BASE


def run_color(run_id: int) -> QtGui.QColor:
    """The colour of run ``run_id`` (a new QColor): the palette first, then golden-angle hues;
    past runs (:data:`PAST_RUN_ID_BASE` on) in shades of grey."""
    if is_past_run(run_id):
        return QtGui.QColor(PAST_RUN_GREYS[(run_id - PAST_RUN_ID_BASE) % len(PAST_RUN_GREYS)])
    if 0 <= run_id < len(_palette):
        return QtGui.QColor(_palette[run_id])
    hue = (run_id * 0.61803398875) % 1.0
    return QtGui.QColor.fromHslF(hue, 0.65, 0.45)


def class_color(index: int) -> QtGui.QColor:
    """The colour of class ``index`` (a new QColor); the palette repeats past its end."""
    return QtGui.QColor(CLASS_PALETTE[index % len(CLASS_PALETTE)])


def relative_luminance(color: QtGui.QColor | str) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black .. 1 white)."""
    c = QtGui.QColor(color)
    linear = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c.getRgbF()[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: QtGui.QColor | str, b: QtGui.QColor | str) -> float:
    """WCAG 2 contrast ratio of two colours (1 .. 21)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def readable_color(
    color: QtGui.QColor | str, background: QtGui.QColor | str, minimum: float = MIN_CONTRAST
) -> QtGui.QColor:
    """``color`` (a new QColor) with its hue and saturation, its lightness moved just far
    enough (darker on a light background, lighter on a dark one) to reach ``minimum``
    contrast against ``background``; unchanged if it already does."""
    # a legend lays out every entry again as a race is drawn: each pair is worked out once
    argb = QtGui.QColor(color).name(QtGui.QColor.NameFormat.HexArgb)
    return QtGui.QColor(_readable_rgb(argb, QtGui.QColor(background).name(), minimum))


@functools.lru_cache(maxsize=1024)
def _readable_rgb(color: str, background: str, minimum: float) -> str:
    """:func:`readable_color` of ``color`` (``#AARRGGBB``) as a colour name."""
    c = QtGui.QColor(color)
    if contrast_ratio(c, background) >= minimum:
        return color
    hue, sat, light, _ = c.getHslF()
    hue = max(hue, 0.0)  # greys have hue -1
    darker = contrast_ratio("#000000", background) >= contrast_ratio("#ffffff", background)

    # bisect the lightness between the colour's own and black (white): the readable end moves
    def rgb8(lightness: float) -> QtGui.QColor:  # as drawn: 8 bits a channel
        return QtGui.QColor(QtGui.QColor.fromHslF(hue, sat, lightness).name())

    near, far = light, (0.0 if darker else 1.0)
    for _ in range(24):
        mid = (near + far) / 2
        if contrast_ratio(rgb8(mid), background) >= minimum:
            far = mid
        else:
            near = mid
    return rgb8(far).name()


def casing_color(color: QtGui.QColor | str, background: QtGui.QColor | str) -> QtGui.QColor | None:
    """The colour of a thin casing drawn under a ``color`` line that is faint on
    ``background`` (under :data:`MIN_CONTRAST`): the same hue, 4.5:1 against the background,
    so the line's edges read while its own colour stays the palette's; None when the line
    reads on its own."""
    if contrast_ratio(color, background) >= MIN_CONTRAST:
        return None
    return readable_color(color, background, 4.5)
