"""Help -> About: what is running (versions, where the runs are kept, frozen or source).

:func:`about_text` imports no torch: when the engine has not loaded yet, torch's version is read
from the installed package metadata (the frozen bundle carries it), so the dialog opens at once.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["about_text", "show_about", "install_kind"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _torch_version() -> str:
    torch = sys.modules.get("torch")  # already loaded by the engine: the exact build string
    version = getattr(torch, "__version__", None)
    return str(version) if version else _version("torch")


def install_kind() -> str:
    """'frozen bundle at DIR' for a PyInstaller build, 'source install at DIR' otherwise."""
    if getattr(sys, "frozen", False):
        return f"frozen bundle at {Path(sys.executable).resolve().parent}"
    package = Path(__file__).resolve().parent.parent
    return f"source install at {package}"


def about_text() -> str:
    """Plain-text lines: Optiscope, torch, Qt/PySide6 and Python versions, run store, install."""
    import PySide6
    from optiscope.engine.store import default_store_path
    from PySide6 import QtCore

    return "\n".join(
        [
            f"Optiscope {_version('optiscope')}",
            f"torch {_torch_version()}",
            f"Qt {QtCore.qVersion()} (PySide6 {PySide6.__version__})",
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
            f"Run store: {default_store_path()}",
            f"Installed as: {install_kind()}",
        ]
    )


def show_about(parent) -> None:  # parent: QtWidgets.QWidget | None
    """The About box (modal), with :func:`about_text` as its content."""
    from html import escape

    from PySide6 import QtWidgets

    lines = about_text().splitlines()
    body = f"<h3>{escape(lines[0])}</h3>" + "<br>".join(escape(line) for line in lines[1:])
    body += "<p>See how optimizers and learning-rate schedules shape neural-network training.</p>"
    QtWidgets.QMessageBox.about(parent, "About Optiscope", body)
