"""The QApplication with Optiscope's name, icon and font (the window, the self-test and the
headless recorder share it)."""

from __future__ import annotations

import sys

__all__ = ["create_app"]


def create_app(argv: list[str] | None = None):  # -> QtWidgets.QApplication
    """The QApplication, with Optiscope's name, icon and a readable font (the bundled DejaVu
    Sans where the system has no fonts that draw letters, see :mod:`.fonts`) of at least 10 pt."""
    from importlib import resources

    from PySide6 import QtGui, QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Optiscope")
    app.setOrganizationName("Optiscope")
    app.setApplicationDisplayName("Optiscope")
    app.setStyle("Fusion")
    try:
        icon_data = resources.files("optiscope.resources").joinpath("icons/optiscope.svg").read_bytes()
        pix = QtGui.QPixmap()
        if pix.loadFromData(icon_data):
            app.setWindowIcon(QtGui.QIcon(pix))
    except OSError:
        pass
    from .fonts import use_readable_font

    use_readable_font(app)  # the bundled DejaVu Sans where the system's fonts draw boxes
    font = app.font()
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
        app.setFont(font)
    return app
