"""Render resources/icons/optiscope.svg to PNGs for the installers.

``python packaging/render_icon.py OUT_DIR`` writes optiscope-256.png (the Linux hicolor icon)
and optiscope-1024.png (PyInstaller turns it into the .ico / .icns with Pillow).
Runs with QT_QPA_PLATFORM=offscreen; needs only PySide6 (QtSvg).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


def render(out_dir: Path, sizes: tuple[int, ...] = (256, 1024)) -> list[Path]:
    """Write one PNG per size into ``out_dir``; returns their paths."""
    from PySide6 import QtCore, QtGui, QtSvg

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])  # noqa: F841
    svg = resources.files("optiscope.resources").joinpath("icons/optiscope.svg").read_bytes()
    renderer = QtSvg.QSvgRenderer(QtCore.QByteArray(svg))
    if not renderer.isValid():
        raise SystemExit("render_icon: resources/icons/optiscope.svg is not a valid SVG")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for size in sizes:
        image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32)
        image.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(image)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"optiscope-{size}.png"
        if not image.save(str(path)):
            raise SystemExit(f"render_icon: could not write {path}")
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python packaging/render_icon.py OUT_DIR")
    for p in render(Path(sys.argv[1])):
        print(p)
