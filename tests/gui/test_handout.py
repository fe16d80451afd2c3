"""File → Export lesson sheet: a real PDF with the lesson, plots, results and settings."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from optiscope.engine.presets import get_preset

pdftotext = shutil.which("pdftotext")


def _run_lesson(qtbot, w, name: str):
    exp = get_preset(name).with_overrides(epochs=2)
    w.settings.set_lesson_pace(exp.name, 0)
    w.set_experiment(exp)
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    w.flush_plots()
    return exp


def test_lesson_sheet_is_a_pdf_with_lesson_plots_results_and_settings(qtbot, make_window, tmp_path):
    w = make_window()
    w.resize(1280, 720)
    exp = _run_lesson(qtbot, w, "momentum-sweep")
    out = tmp_path / "sheet.pdf"
    assert w.classroom.export_sheet(out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert "lesson sheet" in w.statusBar().currentMessage()
    assert not list(tmp_path.glob(".sheet-*"))  # no temporary file left behind
    plain = tmp_path / "plain.txt"  # the user's umask, as an ordinary file gets (not 0o600)
    plain.write_text("x")
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) not installed: the PDF's text is not checked")
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages == 2, info
    first = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-layout", str(out), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    second = subprocess.run(
        ["pdftotext", "-f", "2", "-l", "2", "-layout", str(out), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "momentum-sweep" in first and "Question:" in first
    assert " ".join(exp.lesson.split()[:6]) in " ".join(first.split())
    assert "Results" in second and "Experiment settings" in second
    for label in ("momentum=0", "momentum=0.5", "momentum=0.9", "momentum=0.99"):
        assert label in second
    for header in w.classroom.table.headers():
        assert " ".join(header.split()[:1]) in second, header
    assert "[base.optimizer]" in second and 'name = "momentum-sweep"' in second
    # the plots are an image on page one
    images = subprocess.run(
        ["pdfimages", "-list", "-f", "1", "-l", "1", str(out)], capture_output=True, text=True
    )
    if images.returncode == 0:
        assert len(images.stdout.strip().splitlines()) >= 3, images.stdout


def test_lesson_sheet_to_an_unwritable_place_is_a_clear_error(qtbot, make_window, tmp_path):
    w = make_window()
    assert not w.classroom.export_sheet(tmp_path / "missing-folder" / "sheet.pdf")
    assert "not exported" in w.statusBar().currentMessage()
