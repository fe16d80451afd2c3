"""``optiscope-app --self-test``: the install check the frozen-app smoke test relies on."""

from __future__ import annotations

import os
import subprocess
import sys


def test_qt_problems_is_empty_here_and_names_a_missing_plugin(qapp, monkeypatch):
    from optiscope.gui import app

    app.create_app()
    assert app.qt_problems() == []
    monkeypatch.setattr(app, "_COMMON_PLUGINS", [*app._COMMON_PLUGINS, ("imageformats", "qnosuch", "a test")])
    (problem,) = app.qt_problems()
    assert "imageformats/qnosuch" in problem and "a test" in problem


def test_qt_problems_names_a_missing_resource(qapp, monkeypatch):
    from optiscope.gui import app

    app.create_app()
    monkeypatch.setattr(app, "_RESOURCES", (*app._RESOURCES, "icons/missing.svg"))
    assert app.qt_problems() == ["bundled resource icons/missing.svg is missing"]


def test_self_test_trains_a_run_in_the_window_and_exits_0(tmp_path):
    """The source install's self-test, in a fresh process, as the smoke test runs the bundle's."""
    shot = tmp_path / "window.png"
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        OPTISCOPE_HOME=str(tmp_path / "home"),
        OPTISCOPE_SELF_TEST_SHOT=str(shot),
    )
    env.pop("OPTISCOPE_SETTINGS", None)
    code = "import sys; from optiscope.gui.app import main; sys.exit(main(['--self-test']))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "OPTISCOPE_SELF_TEST ok"
    shown = [float(x.split()[1]) for x in lines if x.startswith("OPTISCOPE_SHOWN ")]
    ready = [float(x.split()[1]) for x in lines if x.startswith("OPTISCOPE_ENGINE_READY ")]
    assert len(shown) == 1 and len(ready) == 1
    assert "  Installed as: source install at " in "\n".join(lines)
    # the window it trained in, saved for an install test to look at: a real picture, not blank
    from PIL import Image

    with Image.open(shot) as img:
        assert img.width >= 640 and img.height >= 400
        assert len(img.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50
    assert "  Run store: " + str(tmp_path / "home" / "data" / "runs.sqlite3") in lines
    assert not (tmp_path / "home" / "settings.ini").exists()  # settings went to a temporary file
    assert "Destroyed while thread" not in out.stderr


def test_unknown_app_argument_is_one_clear_line():
    code = "import sys; from optiscope.gui.app import main; sys.exit(main(['--selftest']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "optiscope-app: error: unknown argument '--selftest' (allowed: --lesson, --presentation, --self-test)"
    )


def test_self_test_fails_fast_when_the_window_reports_a_problem(tmp_path):
    """A window that reports a problem at start-up (here: the landscape tab failing) fails the
    self-test at once with the window's words, instead of waiting for the deadline."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OPTISCOPE_HOME=str(tmp_path / "home"))
    code = (
        "import sys\n"
        "import optiscope.gui.main_window as mw\n"
        "original = mw.MainWindow.start\n"
        "def start(self):\n"
        "    original(self)\n"
        "    self.report('Loss landscape unavailable: broken on purpose')\n"
        "mw.MainWindow.start = start\n"
        "from optiscope.gui.app import main\n"
        "sys.exit(main(['--self-test']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    last = out.stdout.splitlines()[-1]
    assert last.startswith("OPTISCOPE_SELF_TEST failed: the window reported: Loss landscape unavailable")
    assert "no finished run" not in last
