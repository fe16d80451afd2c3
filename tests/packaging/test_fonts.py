"""Readable text on a machine without fonts: the bundled DejaVu Sans is registered at start and
the self-test fails when letters are drawn as boxes (gui/fonts.py).

"A machine without fonts" is fontconfig with a configuration that lists no font folder
(``FONTCONFIG_FILE``), as on a minimal Debian 12 without fontconfig-config and fonts-dejavu-core:
Qt then draws every character as the same empty box.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

NO_FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><cachedir>{cache}</cachedir></fontconfig>
"""
WITHOUT_BUNDLED_FONTS = "import optiscope.gui.fonts as f; f.register_bundled_fonts = lambda: []\n"


@pytest.fixture(scope="module")
def no_fonts_env(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("no-fonts")
    conf = folder / "fonts.conf"
    conf.write_text(NO_FONTS_CONF.format(cache=folder / "fc-cache"), encoding="utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FONTCONFIG_FILE=str(conf))
    env["OPTISCOPE_HOME"] = str(folder / "home")
    return env


def _python(code: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )


PROBE = """
import json
from optiscope.gui.app import create_app
from optiscope.gui.fonts import text_problems
from PySide6 import QtGui
app = create_app()
metrics = QtGui.QFontMetrics(app.font())
print(json.dumps({
    "family": QtGui.QFontInfo(app.font()).family(),
    "problems": text_problems(),
    "narrow": metrics.horizontalAdvance("iiiiii"),
    "wide": metrics.horizontalAdvance("WWWWWW"),
    "pixel_size": QtGui.QFontInfo(app.font()).pixelSize(),
}))
"""


def test_the_bundled_fonts_and_their_licence_are_resources():
    folder = resources.files("optiscope.resources").joinpath("fonts")
    faces = sorted(p.name for p in folder.iterdir() if p.name.endswith(".ttf"))
    assert faces == ["DejaVuSans-Bold.ttf", "DejaVuSans.ttf"]
    assert sum(len(folder.joinpath(f).read_bytes()) for f in faces) < 2_000_000  # two faces, small
    licence = folder.joinpath("LICENSE").read_text(encoding="utf-8")
    assert "Bitstream Vera" in licence and "Permission is hereby granted" in licence


@pytest.fixture(scope="module")
def without_bundled_fonts(no_fonts_env) -> tuple[dict[str, object], subprocess.CompletedProcess]:
    """One process without system fonts and with the bundled ones left out: PROBE's
    measurements, then the self-test (both make the app with create_app; two tests read it)."""
    code = (
        WITHOUT_BUNDLED_FONTS
        + PROBE
        + "import sys\nfrom optiscope.gui.app import main\nsys.exit(main(['--self-test']))\n"
    )
    out = _python(code, no_fonts_env)
    probe = [line for line in out.stdout.splitlines() if line.startswith('{"family"')]
    assert probe, out.stdout + out.stderr
    return json.loads(probe[0]), out


def test_without_system_fonts_the_app_uses_the_bundled_font_and_draws_letters(no_fonts_env):
    out = _python(PROBE, no_fonts_env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["family"] == "DejaVu Sans"
    assert result["problems"] == []
    # independent check: FreeType through Pillow measures the same font file
    from PIL import ImageFont

    ttf = resources.files("optiscope.resources").joinpath("fonts/DejaVuSans.ttf")
    pil = ImageFont.truetype(str(ttf), result["pixel_size"])
    expected = pil.getlength("WWWWWW") / pil.getlength("iiiiii")
    assert result["wide"] / result["narrow"] == pytest.approx(expected, rel=0.1)


def test_without_system_fonts_and_without_the_bundled_ones_text_is_boxes(without_bundled_fonts):
    """What a clean system showed before the fonts were bundled: the check must see it."""
    result, _ = without_bundled_fonts
    assert result["family"] != "DejaVu Sans"
    assert result["narrow"] == result["wide"]  # every letter the same box
    assert result["problems"] and all(p.startswith("text is not readable") for p in result["problems"])


def test_self_test_fails_when_letters_are_boxes(without_bundled_fonts):
    _, out = without_bundled_fonts
    assert out.returncode == 1, out.stdout + out.stderr
    last = out.stdout.splitlines()[-1]
    assert last.startswith("OPTISCOPE_SELF_TEST failed: text is not readable"), last


def test_text_problems_sees_identical_boxes_and_blank_letters(qapp):
    from optiscope.gui.fonts import text_problems
    from PySide6 import QtGui

    def box(text, font):  # every letter the same hollow box
        image = QtGui.QImage(8, 14, QtGui.QImage.Format.Format_Grayscale8)
        image.fill(255)
        painter = QtGui.QPainter(image)
        painter.drawRect(1, 2, 5, 10)
        painter.end()
        return image

    def blank(text, font):
        image = QtGui.QImage(8, 14, QtGui.QImage.Format.Format_Grayscale8)
        image.fill(255)
        return image

    assert text_problems() == []  # the real rendering of this machine's app font
    (problem,) = text_problems(render=box)
    assert "identical shapes" in problem
    (problem,) = text_problems(render=blank)
    assert "no ink drawn" in problem


def test_the_gif_recorder_draws_with_the_bundled_font_on_a_system_without_fonts(no_fonts_env, tmp_path):
    code = (
        "import json\n"
        "from optiscope.engine.presets import get_preset\n"
        "from optiscope.gui.recorder import record_experiment\n"
        "from optiscope.gui.fonts import text_problems\n"
        "from PySide6 import QtGui, QtWidgets\n"
        "exp = get_preset('blobs-sgd').with_overrides(epochs=2)\n"
        f"path, frames = record_experiment(exp, {str(tmp_path / 'r.gif')!r}, size=(320, 240), seconds=0.2)\n"
        "app = QtWidgets.QApplication.instance()\n"
        "print(json.dumps([frames, QtGui.QFontInfo(app.font()).family(), text_problems()]))\n"
    )
    out = _python(code, no_fonts_env)
    assert out.returncode == 0, out.stderr
    frames, family, problems = json.loads(out.stdout.splitlines()[-1])
    assert frames >= 2 and family == "DejaVu Sans" and problems == []
    assert Path(tmp_path / "r.gif").stat().st_size > 0
