"""The window's entry points exist and its bundled resources load through importlib.resources
(as they must once frozen into an installer)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import metadata, resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_gui_entry_points_are_declared_and_installed():
    project = _pyproject()["project"]
    assert project["gui-scripts"]["optiscope-app"] == "optiscope.gui.app:main"
    assert project["scripts"]["optiscope"] == "optiscope.engine.cli:main"
    installed = {e.name: e.value for e in metadata.entry_points(group="gui_scripts")}
    assert installed.get("optiscope-app") == "optiscope.gui.app:main"
    from optiscope.gui.app import main

    assert callable(main)


def test_the_cli_without_a_command_opens_the_window(monkeypatch):
    """`optiscope` alone calls optiscope.gui.app:main."""
    import optiscope.gui.app as app
    from optiscope.engine import cli

    called = []
    monkeypatch.setattr(app, "main", lambda argv=None: called.append(argv) or 0)
    assert cli.main([]) == 0
    assert cli.main(["--self-test"]) == 0
    assert called == [[], ["--self-test"]]


def test_every_gui_package_is_listed_for_installation():
    packages = set(_pyproject()["tool"]["setuptools"]["packages"])
    for init in (ROOT / "gui").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT / "gui")
        name = ".".join(("optiscope.gui", *rel.parts)) if rel.parts else "optiscope.gui"
        assert name in packages, f"{name} is missing from [tool.setuptools] packages"


def test_bundled_gui_resources_load_via_importlib_resources():
    root = resources.files("optiscope.resources")
    icon = root.joinpath("icons/optiscope.svg").read_bytes()
    assert icon.lstrip().startswith(b"<svg")
    for theme in ("light", "dark"):
        qss = root.joinpath(f"style-{theme}.qss").read_text(encoding="utf-8")
        assert "QToolBox::tab" in qss
    presets = [p.name for p in root.joinpath("presets").iterdir() if p.name.endswith(".toml")]
    assert presets


def test_the_icon_and_styles_are_usable_by_qt(qapp):
    from optiscope.gui.app import create_app
    from PySide6 import QtGui

    app = create_app()
    assert not app.windowIcon().isNull()
    pix = QtGui.QPixmap()
    assert pix.loadFromData(
        resources.files("optiscope.resources").joinpath("icons/optiscope.svg").read_bytes()
    )


def test_the_app_opens_its_window_and_exits_cleanly(tmp_path):
    """The real entry point in a fresh process: the window is shown, then closed, exit code 0."""
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        OPTISCOPE_LAUNCH_TIMING="1",
        OPTISCOPE_EXIT_AFTER_SHOW="1",
        OPTISCOPE_SETTINGS=str(tmp_path / "settings.ini"),
    )
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from optiscope.gui.app import main; sys.exit(main())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "OPTISCOPE_SHOWN" in out.stdout
    assert "Destroyed while thread" not in out.stderr
    assert (tmp_path / "settings.ini").exists()  # the window remembered its geometry


def test_no_display_gives_one_clear_line_not_a_qt_abort():
    """On a headless Linux box `optiscope` must say what is wrong and exit 2 (Qt alone aborts)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from optiscope.engine.cli import main; sys.exit(main([]))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if sys.platform.startswith("linux"):
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "no display" in lines[0] and "optiscope run" in lines[0]


def test_no_display_reason_rules():
    from optiscope.gui.app import no_display_reason

    assert no_display_reason({}, "linux") is not None
    assert no_display_reason({"DISPLAY": ":0"}, "linux") is None
    assert no_display_reason({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert no_display_reason({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    # naming the X11 or Wayland platform does not make a display: Qt would abort
    assert no_display_reason({"QT_QPA_PLATFORM": "xcb"}, "linux") is not None
    assert no_display_reason({"QT_QPA_PLATFORM": "wayland"}, "linux") is not None
    assert no_display_reason({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"}, "linux") is None
    assert no_display_reason({}, "win32") is None and no_display_reason({}, "darwin") is None
