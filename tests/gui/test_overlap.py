"""Overlap made visible: identical LR curves drawn in turn, grid titles keep what differs."""

from __future__ import annotations

import numpy as np
from optiscope.engine.presets import get_preset
from optiscope.gui.plots import overlap, titles
from PySide6 import QtGui


def _run(qtbot, w, name: str, epochs: int):
    exp = get_preset(name).with_overrides(epochs=epochs)
    w.settings.set_lesson_pace(exp.name, 0)
    w.set_experiment(exp)
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    w.flush_plots()


def _pixels_of(image: QtGui.QImage, color: QtGui.QColor) -> int:
    ptr = image.convertToFormat(QtGui.QImage.Format.Format_RGB32).constBits()
    rgb = np.frombuffer(ptr, dtype=np.uint32)[: image.width() * image.height()] & 0xFFFFFF
    return int((rgb == (color.rgb() & 0xFFFFFF)).sum())


def test_identical_groups_finds_equal_curves_only():
    a, b = np.array([0.1, 0.1, 0.05]), np.array([0.1, 0.1, 0.05])
    c = np.array([0.1, 0.2, 0.05])
    assert overlap.identical_groups({0: a, 1: c, 2: b, 3: a[:2]}) == [[0, 2, 3]]
    assert overlap.identical_groups({0: a, 1: c}) == []
    assert overlap.identical_groups({0: a[:1], 1: a[:1]}) == []  # one point proves nothing


def test_momentum_sweep_lr_curves_are_marked_and_each_is_seen(qtbot, make_window):
    w = make_window()
    w.resize(1280, 720)
    _run(qtbot, w, "momentum-sweep", epochs=2)
    plots = w.plots
    groups = plots.shown.overlapping("lr")
    assert len(groups) == 1 and len(groups[0]) == 4, groups
    pens = [plots.shown.curve(rid, "lr").opts["pen"] for rid in groups[0]]
    assert len({p.dashOffset() for p in pens}) == 4  # each draws its own share of the dashes
    assert all(p.dashPattern() == pens[0].dashPattern() for p in pens)
    legend = plots.shown.legend_text
    assert legend.count("LR same as momentum=0") == 3, legend
    image = plots.shown.plot("lr").getViewWidget().grab().toImage()
    seen = {rid: _pixels_of(image, plots.shown.color_for(rid)) for rid in groups[0]}
    assert min(seen.values()) > 50, seen  # every run's colour is on screen, none hidden


def test_distinct_labels_keep_the_differing_words():
    labels = ["plain lr=0.01", "plain lr=3", "batchnorm lr=0.01", "batchnorm lr=3"]
    assert titles.distinct_labels("batchnorm lr=0.01", labels) == ["batchnorm 0.01"]
    labels = ["sgd momentum=0", "sgd momentum=0.9"]
    assert titles.distinct_labels("sgd momentum=0.9", labels) == ["momentum=0.9", "0.9"]
    assert titles.distinct_labels("alone", ["alone"]) == []


def test_batchnorm_grid_titles_show_what_differs_uncut(qtbot, make_window):
    w = make_window()
    w.classroom.set_presentation(True)
    w.showNormal()
    w.resize(1280, 720)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == (1280, 720))
    _run(qtbot, w, "batchnorm-lr", epochs=1)
    plots = w.plots
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building, timeout=10_000)
    qtbot.wait(50)
    labels = [v["label"] for v in get_preset("batchnorm-lr").variations]
    assert len(labels) == 8
    for rid, label in enumerate(labels):
        kind, lr = label.split()
        shown = plots.shown.title("loss", rid)[0]
        assert "…" not in shown, (label, shown)
        assert kind in shown and lr.split("=")[1] in shown, (label, shown)
        cell = plots.shown.plot("loss", rid)
        view = cell.getViewWidget()
        text = cell.titleLabel.item
        rect = view.mapFromScene(text.mapRectToScene(text.boundingRect())).boundingRect()
        assert (
            view.mapFromScene(cell.sceneBoundingRect()).boundingRect().adjusted(-2, -2, 2, 2).contains(rect)
        ), (label, rect)
    w.classroom.set_presentation(False)
