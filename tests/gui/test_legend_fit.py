"""Long run labels and "— stopped" in the legend: it keeps to its lines, shows every run, never
asks for more width than it has, and the plots' axis titles stay inside their views."""

from __future__ import annotations

import numpy as np
import pytest
from optiscope.engine import events as ev
from optiscope.engine.presets import get_preset
from optiscope.gui.plots import LivePlots
from optiscope.gui.plots.legend import MAX_LINES, PRESENTING_LINES, LegendStrip
from PySide6 import QtCore, QtGui, QtWidgets

LONG = [
    "AdamW + warm-up + cosine, lr=0.003",
    "SGD + momentum 0.9 + step decay, lr=0.1",
    "RMSprop (alpha 0.99) + plateau, lr=0.001",
    "Adam, no schedule, lr=0.001",
    "Lion + warm-up + WSD, lr=0.0003",
    "Nesterov 0.9 + one-cycle, lr=0.05",
    "Adagrad + warm-up, lr=0.01",
]


def _events(rid: int, label: str, lr: float, reason: str = "stopped") -> list[ev.Event]:
    out: list[ev.Event] = [ev.RunStarted(rid, label, "cpu", 100, 10, 40, 4, 3, {})]
    for step in range(1, 21):
        out.append(ev.Steps.of(rid, step, 1 + (step - 1) // 10, lr, 1.0 / step))
        if step % 10 == 0:
            out.append(ev.EpochEnd(rid, step // 10, step, lr, 0.5, 0.8, 0.6, 0.75, 0.01))
    out.append(ev.Finished(rid, reason, 2, 20, 1.0))
    return out


def _drawn_width(strip: LegendStrip) -> float:
    """How wide the strip's text is drawn (Qt's own layout of the label's rich text)."""
    doc = QtGui.QTextDocument()
    doc.setDocumentMargin(0)
    doc.setDefaultFont(strip.font())
    doc.setHtml(strip.text())
    return doc.idealWidth()


@pytest.mark.parametrize("presenting", [False, True])
def test_long_labels_keep_the_legend_to_its_lines_and_width(qtbot, presenting):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 600)
    plots.show()
    qtbot.waitExposed(plots)
    # equal rates in pairs: "LR same as ..." notes on long labels, every run stopped
    for i, label in enumerate(LONG):
        plots.add_events(_events(i, label, lr=0.01 * (1 + i // 2)))
    plots.set_presentation(presenting)
    strip = plots.frame.legend
    try:
        for width in (860, 940, 1280, 1580, 1920):
            plots.resize(width, 600)
            qtbot.waitUntil(lambda w=width: plots.width() == w)
            lines = plots.shown.legend_lines()
            assert len(lines) <= (PRESENTING_LINES if presenting else MAX_LINES), (width, lines)
            # the legend asks for no more width than it gets: the plots are not pushed wider
            assert plots.minimumSizeHint().width() <= width, width
            assert strip.minimumSizeHint().width() <= strip.width(), width
            # and what it draws fits in it: nothing is cut at its right edge
            assert _drawn_width(strip) <= strip.contentsRect().width(), (width, lines)
            # every run has its entry, each whole on one line, its status said
            assert sum(line.count("━━") for line in lines) == len(LONG), lines
            text = " ".join(lines)
            assert "stopped" in text
            # the whole wording is one hover away
            for label in LONG:
                assert label in strip.toolTip()
            if width >= 1920:  # room enough for what tells the runs apart, uncut
                assert "…" not in text, (width, lines)
    finally:
        plots.set_presentation(False)  # the run palette and text scale are shared


def test_a_label_is_elided_no_shorter_than_a_readable_stub(qtbot):
    strip = LegendStrip()
    qtbot.addWidget(strip)
    strip.resize(300, 40)
    strip.show()
    runs = []
    from optiscope.gui.plots.buffers import RunData

    for i, label in enumerate(LONG[:4]):
        r = RunData(i, 0.6)
        r.label, r.status = label, "stopped"
        runs.append(r)
    strip.show_runs(runs)
    qtbot.waitUntil(lambda: strip.lines() != [])
    shown = " ".join(strip.lines())
    for label in LONG[:4]:  # at least six characters of each label stay
        assert label.replace(",", "")[:6] in shown.replace(",", ""), (label, shown)


def _on_screen(widget: QtWidgets.QWidget) -> QtCore.QRect:
    """The part of ``widget`` (its own coordinates) that its parents leave on screen."""
    top = widget.window()
    at = widget.mapTo(top, QtCore.QPoint(0, 0))
    shown = QtCore.QRect(at, widget.size())
    parent = widget.parentWidget()
    while parent is not None:
        shown &= QtCore.QRect(parent.mapTo(top, QtCore.QPoint(0, 0)), parent.size())
        parent = parent.parentWidget()
    return shown.translated(-at)


def _axis_titles_inside(plots: LivePlots) -> list[str]:
    """Axis titles of the visible overlay plots whose drawn text is not all on screen: outside
    their view, or in a part of the view its parents cut off (a view taller than its room)."""
    bad = []
    for name, part in plots.frame.parts.items():
        view = part.view
        if not view.isVisible() or part.mode() != "overlay":
            continue
        shown = _on_screen(view)
        for side in ("left", "bottom"):
            axis = part.plot.getAxis(side)
            if not axis.isVisible() or not axis.labelText or not axis.label.isVisible():
                continue
            m = axis.label.document().documentMargin()  # blank room around the text
            rect = axis.label.mapRectToScene(axis.label.boundingRect().adjusted(m, m, -m, -m))
            on_view = view.mapFromScene(rect).boundingRect()
            if not shown.adjusted(-1, -1, 1, 1).contains(on_view):
                bad.append(f"{name}.{side} {axis.labelText!r} {on_view} not in {shown}")
    return bad


@pytest.mark.parametrize(
    ("size", "presenting"),
    [((1280, 720), False), ((1280, 720), True), ((1920, 1080), False), ((1920, 1080), True)],
)
def test_long_labels_leave_the_axis_titles_whole_in_the_window(qtbot, make_window, size, presenting):
    w = make_window()
    exp = get_preset("optimizer-race").with_overrides(epochs=1)
    exp = exp.model_copy(
        update={"variations": tuple({**v, "label": LONG[i]} for i, v in enumerate(exp.variations))}
    )
    w.settings.set_lesson_pace(exp.name, 0)
    w.set_experiment(exp)
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    w.flush_plots()
    # every run then reads "— stopped", as after Stop
    w.plots.add_events([ev.Finished(rid, "stopped", 1, 40, 1.0) for rid in w.plots.frame.runs])
    w.classroom.set_presentation(presenting)
    try:
        w.showNormal()
        w.resize(*size)
        qtbot.waitUntil(lambda: (w.width(), w.height()) == size)
        qtbot.wait(100)
        QtCore.QCoreApplication.processEvents()
        lines = w.plots.shown.legend_lines()
        assert _axis_titles_inside(w.plots) == [], lines
        assert len(lines) <= (PRESENTING_LINES if presenting else MAX_LINES), lines
        assert sum(line.count("━━") for line in lines) == len(LONG), lines
    finally:
        w.classroom.set_presentation(False)


def test_drawn_width_measures_what_is_cut(qtbot):
    """The check above can fail: a label wider than its strip is measured wider."""
    strip = LegendStrip()
    qtbot.addWidget(strip)
    strip.resize(200, 40)
    strip.setText("x" * 200)
    assert _drawn_width(strip) > strip.contentsRect().width()
    assert np.isfinite(_drawn_width(strip))


def test_new_notes_on_the_same_runs_reach_the_legend_and_its_hover_text(qtbot):
    """A race's close-curve notes change while its runs stay (the same ids and labels): the
    next layout shows the new notes (it once kept the old ones until the strip was resized)."""
    from optiscope.gui.plots.buffers import RunData
    from optiscope.gui.plots.legend import SameAs

    strip = LegendStrip()
    qtbot.addWidget(strip)
    strip.resize(900, 60)
    strip.show()
    runs = []
    for i, label in enumerate(["SGD 0.01", "Momentum 0.9", "Nesterov 0.9"]):
        r = RunData(i, 0.6)
        r.label = label
        runs.append(r)
    strip.set_notes("close", {2: [SameAs("loss", 0, close=True)]})
    strip.show_runs(runs)
    assert "Nesterov 0.9 (loss overlaps SGD 0.01)" in strip.toolTip().splitlines()
    assert strip.set_notes("close", {2: [SameAs("loss", 1, close=True)]})
    strip.show_runs(runs)  # the same entries: only the notes changed
    tip = strip.toolTip().splitlines()
    assert "Nesterov 0.9 (loss overlaps Momentum 0.9)" in tip, tip
    assert any("overlaps Momentum 0.9" in line for line in strip.lines()), strip.lines()
    assert not strip.set_notes("close", {2: [SameAs("loss", 1, close=True)]})  # unchanged
