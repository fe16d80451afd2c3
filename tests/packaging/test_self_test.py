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
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OPTISCOPE_HOME=str(tmp_path / "home"))
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
    assert "  Run store: " + str(tmp_path / "home" / "data" / "runs.sqlite3") in lines
    assert not (tmp_path / "home" / "settings.ini").exists()  # settings went to a temporary file
    assert "Destroyed while thread" not in out.stderr


def test_unknown_app_argument_is_one_clear_line():
    code = "import sys; from optiscope.gui.app import main; sys.exit(main(['--selftest']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == "optiscope-app: error: unknown argument '--selftest' (only --self-test)"
