"""Help -> About reports the versions, where the runs are kept, and how Optiscope is installed."""

from __future__ import annotations

import html
from importlib import metadata


def test_about_text_reports_versions_store_and_install_kind(qapp, monkeypatch, tmp_path):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    import PySide6
    import torch
    from optiscope.gui.about import about_text
    from PySide6 import QtCore

    text = about_text()
    lines = text.splitlines()
    assert lines[0] == f"Optiscope {metadata.version('optiscope')}"
    assert f"torch {torch.__version__}" in lines
    assert f"Qt {QtCore.qVersion()} (PySide6 {PySide6.__version__})" in lines
    # the store path is the engine's, moved by OPTISCOPE_HOME
    assert f"Run store: {tmp_path / 'home' / 'data' / 'runs.sqlite3'}" in lines
    assert any(line.startswith("Installed as: source install at ") for line in lines)


def test_about_text_reads_torch_version_without_importing_torch(qapp):
    """Before the engine loads, the About box must not import torch (seconds on the GUI thread)."""
    import subprocess
    import sys

    code = (
        "import sys; from optiscope.gui.about import about_text; t = about_text();"
        "print('torch' in sys.modules); print([l for l in t.splitlines() if l.startswith('torch ')][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    imported, line = out.stdout.splitlines()
    assert imported == "False"
    assert line == f"torch {metadata.version('torch')}"


def test_frozen_install_kind_names_the_bundle_folder(monkeypatch, tmp_path):
    import sys

    from optiscope.gui.about import install_kind

    exe = tmp_path / "bundle" / "optiscope"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert install_kind() == f"frozen bundle at {exe.parent.resolve()}"


def test_show_about_opens_a_box_with_the_text(qapp, qtbot, monkeypatch):
    from optiscope.gui import about
    from PySide6 import QtWidgets

    shown = []
    monkeypatch.setattr(
        QtWidgets.QMessageBox, "about", lambda parent, title, body: shown.append((title, body))
    )
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    about.show_about(parent)
    ((title, body),) = shown
    assert title == "About Optiscope"
    for line in about.about_text().splitlines():
        assert html.escape(line) in body
