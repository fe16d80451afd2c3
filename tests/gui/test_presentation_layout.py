"""Presentation mode at 1280x720 and 1920x1080, measured: every bundled lesson's axis labels and titles lie
inside their plots, lesson captions overlap nothing, the results table leaves the plots room."""

from __future__ import annotations

import pytest
from optiscope.engine.presets import get_preset
from optiscope.gui.plots import lesson_marks
from PySide6 import QtCore

LESSONS = ("momentum-sweep", "optimizer-race", "adaptive-optimizers", "plateau-patience", "overfitting-cures")
PLOTS = ("lr", "loss", "accuracy", "boundary")


def short_lesson(name: str, epochs: int):
    """A bundled lesson cut to a few epochs, its thresholds lowered so they are crossed."""
    exp = get_preset(name).with_overrides(epochs=epochs)
    data = exp.model_dump(mode="python")
    for obs in data["classroom"]["observe"]:
        if obs["kind"] == "threshold":
            obs["value"] = 0.5
    return type(exp).model_validate(data)


def run_to_end(qtbot, w) -> None:
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    w.flush_plots()


def _in_view(view, item) -> QtCore.QRect:
    """``item``'s text rectangle in ``view``'s widget pixels: its bounding rectangle less the
    empty margin a QGraphicsTextItem keeps around its text (the document margin)."""
    m = item.document().documentMargin()
    text = item.mapRectToScene(item.boundingRect().adjusted(m, m, -m, -m))
    return view.mapFromScene(text).boundingRect()


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_every_lesson_fits_a_projector(qtbot, make_window, size):
    w = make_window()
    w.classroom.set_presentation(True)
    w.showNormal()  # offscreen has no real full screen: the projector's size instead
    w.resize(*size)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size)
    plots = w.plots
    for name in LESSONS:
        exp = short_lesson(name, epochs=3)
        w.settings.set_lesson_pace(exp.name, 0)
        w.set_experiment(exp)
        run_to_end(qtbot, w)
        qtbot.wait(50)  # the layout settles (splitter, axis labels fitted on resize)
        # a race without a 2D dataset gives the boundary's room to the loss plot
        assert plots.shown.boundary_folded == (name == "optimizer-race"), name
        assert plots.shown.plot("boundary").getViewWidget().isVisible() != plots.shown.boundary_folded
        for plot_name in PLOTS:
            if plot_name == "boundary" and plots.shown.boundary_folded:
                continue
            plot = plots.shown.plot(plot_name)
            view = plot.getViewWidget()
            inside = view.rect()
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                shown = _in_view(view, axis.label)
                assert axis.label.isVisible() and axis.labelText, (name, plot_name, side)
                assert inside.contains(shown), (name, plot_name, side, axis.labelText, shown, inside)
                length = axis.height() if side == "left" else axis.width()
                assert axis.label.boundingRect().width() <= length, (name, plot_name, side)
            title = _in_view(view, plot.titleLabel.item)
            assert inside.contains(title), (name, plot_name, plots.shown.title(plot_name), title, inside)
        for plot_name in ("lr", "loss", "accuracy"):
            area, rects, _hidden = plots.shown.caption_layout(plot_name)
            labels = lesson_marks.guide_label_rects(plots.shown.plot(plot_name))
            for r in rects:  # nor do they hide a guide line's label ("best: epoch N")
                assert not any(r.intersects(g) for g in labels), (name, size, plot_name, r, labels)
            for i, r in enumerate(rects):
                assert area.adjusted(-0.5, -0.5, 0.5, 0.5).contains(r), (name, plot_name, r, area)
                # apart, not merely not overlapping: two touching captions read as one
                apart = r.adjusted(-2, -2, 2, 2)
                assert not any(apart.intersects(o) for o in rects[i + 1 :]), (name, size, plot_name, rects)
        assert any(plots.shown.caption_layout(p)[1] for p in ("lr", "loss", "accuracy")), name
        plots_px, table_px = w.classroom.splitter.sizes()
        assert 0 < table_px <= 0.5 * (plots_px + table_px) + 1, (name, plots_px, table_px)
        if plots.shown.boundary_folded:  # the loss plot spans both columns
            loss, acc = plots.shown.plot("loss").getViewWidget(), plots.shown.plot("accuracy").getViewWidget()
            assert loss.width() > 1.8 * acc.width(), (loss.width(), acc.width())
            # the steps' range, not twice it (linked views line up on screen)
            loss_x, lr_x = (
                plots.shown.plot("loss").vb.viewRange()[0],
                plots.shown.plot("lr").vb.viewRange()[0],
            )
            assert loss_x == pytest.approx(lr_x, rel=0.02), (loss_x, lr_x)
    w.classroom.set_presentation(False)
    assert not plots.shown.boundary_folded and plots.shown.plot("boundary").getViewWidget().isVisible()
    qtbot.wait(50)  # linked again: the loss plot's steps line up with the LR plot's on screen
    loss_x, lr_x = plots.shown.plot("loss").vb.viewRange()[0], plots.shown.plot("lr").vb.viewRange()[0]
    assert loss_x[1] == pytest.approx(lr_x[1], rel=0.02), (loss_x, lr_x)


def test_captions_take_free_spots_and_hide_when_there_is_none(qtbot):
    import pyqtgraph as pg
    from PySide6 import QtGui

    view = pg.PlotWidget()
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    plot = view.getPlotItem()
    plot.setXRange(0, 10, padding=0)
    plot.setYRange(0, 1, padding=0)
    marks = lesson_marks.Annotations()
    for i in range(24):  # 24 captions at one point: they cannot all fit (12 spots)
        marks.add("accuracy", plot, 5.0, 0.5, f"caption number {i}", QtGui.QColor("red"), False)
    rects = marks.caption_rects("accuracy")
    hidden = marks.hidden_captions("accuracy")
    assert len(rects) == 12 and len(hidden) == 12
    area = plot.vb.sceneBoundingRect()
    for i, r in enumerate(rects):
        assert area.adjusted(-0.5, -0.5, 0.5, 0.5).contains(r)
        assert not any(r.adjusted(-2, -2, 2, 2).intersects(o) for o in rects[i + 1 :])
    # the view narrows: the captions are placed again, still apart and inside
    view.resize(300, 200)
    qtbot.waitUntil(lambda: plot.vb.sceneBoundingRect().width() < area.width())
    rects = marks.caption_rects("accuracy")
    area = plot.vb.sceneBoundingRect()
    for i, r in enumerate(rects):
        assert area.adjusted(-0.5, -0.5, 0.5, 0.5).contains(r)
        assert not any(r.adjusted(-2, -2, 2, 2).intersects(o) for o in rects[i + 1 :])
    marks.clear()
    assert not marks.caption_rects("accuracy")


def test_results_table_text_is_projector_sized_and_rows_are_never_cut(qtbot, make_window):
    """Presenting, the table's text is as large as the plots' (>= 18 px) at 1920x1080, and
    in a window too short for every row (1280x560), where its rows scroll, it shows whole rows
    only, each tall enough for its text."""
    from PySide6 import QtGui

    w = make_window()
    w.classroom.set_presentation(True)
    w.showNormal()
    results = w.classroom.table
    table = results.table
    # optimizer-race: 7 runs, at 1280x560 the rows scroll; momentum-sweep: a long header;
    # seeds-matter (3 seeds): a runner per row, its verdict in words and eight columns, wider
    # than 1280 px: the last columns give way (named in the tooltip), no row breaks in two
    for name, size in (
        ("optimizer-race", (1920, 1080)),
        ("optimizer-race", (1280, 560)),
        ("momentum-sweep", (1280, 720)),
        ("seeds-matter", (1280, 720)),
    ):
        exp = short_lesson(name, epochs=2)
        if name == "seeds-matter":
            exp = exp.with_overrides(seeds=3)
        w.settings.set_lesson_pace(exp.name, 0)
        w.set_experiment(exp)
        run_to_end(qtbot, w)
        w.resize(*size)
        qtbot.waitUntil(lambda s=size: (w.width(), w.height()) == s)
        qtbot.wait(50)
        for widget in (table, table.horizontalHeader(), results.question):
            assert QtGui.QFontInfo(widget.font()).pixelSize() >= 18, (size, widget)
        # as drawn (a style sheet may draw header sections in its own font): the capital R
        # of the "Run" header is >= 0.65 of an 18 px em tall
        header = table.horizontalHeader()
        shot = header.grab(QtCore.QRect(0, 0, header.sectionSize(0), header.height())).toImage()
        inked = [
            y
            for y in range(shot.height())
            if any(shot.pixelColor(x, y).lightness() < 110 for x in range(2, shot.width() - 2))
        ]
        assert inked and inked[-1] - inked[0] + 1 >= 0.65 * 18, (size, inked)
        text_px = QtGui.QFontMetrics(table.font()).height()
        shown = table.viewport().height()
        assert table.rowCount() == len(exp.runs())  # one row per run, or per runner of several seeds
        hidden = [
            table.horizontalHeaderItem(c).text()
            for c in range(table.columnCount())
            if table.isColumnHidden(c)
        ]
        if name == "seeds-matter":
            assert results.seeded and 0 < len(hidden) <= table.columnCount() - 3, hidden
            assert not any(table.isColumnHidden(c) for c in range(3))  # runner, verdict, first measure
            for header in hidden:
                assert header.replace("\n", " ") in table.toolTip(), (header, table.toolTip())
            assert all(
                h == text_px + 4 or h == table.verticalHeader().defaultSectionSize()
                for h in (table.rowHeight(r) for r in range(table.rowCount()))
            )  # one line each
            assert len(results.rows()[0]) == table.columnCount()  # the texts keep every column
        else:
            assert not hidden, (name, size, hidden)
        if name == "optimizer-race" and size == (1280, 560):
            assert shown < results.rows_height()  # scrolls: the case where a row could be cut
        # every column whole: no cell cut nor scrolled out of sight
        assert not table.horizontalScrollBar().isVisible(), (name, size)
        for c in range(table.columnCount()):
            if not table.isColumnHidden(c):
                assert table.columnWidth(c) >= table.sizeHintForColumn(c), (name, size, c)
        for r in range(table.rowCount()):
            assert table.rowHeight(r) >= text_px, (size, r)
            top = table.rowViewportPosition(r)
            if top < shown:  # a row that shows shows whole
                assert top + table.rowHeight(r) <= shown, (size, r, top, table.rowHeight(r), shown)
    w.classroom.set_presentation(False)
    assert QtGui.QFontInfo(table.font()).pixelSize() < 18


def test_captions_leave_guide_line_labels_readable(qtbot):
    """A caption whose first spot would cover a guide line's "best: epoch N" label takes
    another spot."""
    import pyqtgraph as pg
    from optiscope.gui.plots import items
    from PySide6 import QtGui

    view = pg.PlotWidget()
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    plot = view.getPlotItem()
    plot.setXRange(0, 10, padding=0)
    plot.setYRange(0, 1, padding=0)
    line = items.vline(QtGui.QColor("purple"))
    line.setValue(3.0)
    line.label.setFormat("best: epoch 3")
    plot.addItem(line)
    qtbot.wait(10)
    labels = lesson_marks.guide_label_rects(plot)
    assert len(labels) == 1
    # the ring just below the label's left end: the first spot (above, right) is the label's
    at = plot.vb.mapSceneToView(labels[0].bottomLeft() + QtCore.QPointF(0, 12))
    marks = lesson_marks.Annotations()
    marks.add("accuracy", plot, at.x(), at.y(), "≥ 90 % at epoch 3", QtGui.QColor("red"), False)
    rects = marks.caption_rects("accuracy")
    assert len(rects) == 1 and not rects[0].intersects(labels[0]), (rects, labels)
    marks.clear()


def _race_lessons() -> list[str]:
    from optiscope.engine.presets import preset_names

    return [n for n in preset_names() if get_preset(n).search is None]


def test_every_lesson_shows_its_whole_answer_without_scrolling(qtbot, make_window):
    """Presenting at 1280x720 and 1920x1080, each bundled lesson run to its end shows its
    question and every row of its results table inside the window (no row scrolled away or
    cut, nothing under the status bar)."""
    w = make_window()
    w.classroom.set_presentation(True)
    w.showNormal()
    results = w.classroom.table
    table = results.table
    names = _race_lessons()
    assert len(names) >= 12
    for name in names:
        exp = get_preset(name)
        exp = exp.with_overrides(epochs=min(2, exp.base.training.epochs))
        w.settings.set_lesson_pace(exp.name, 0)
        w.set_experiment(exp)
        run_to_end(qtbot, w)
        assert table.rowCount() == len(exp.runs()), name
        for size in ((1280, 720), (1920, 1080)):
            w.resize(*size)
            qtbot.waitUntil(lambda s=size: (w.width(), w.height()) == s)

            def settled() -> bool:  # the splitter has shared out the new size, the header its lines
                last = table.rowCount() - 1
                bottom = table.rowViewportPosition(last) + table.rowHeight(last)
                return table.verticalScrollBar().maximum() == 0 and bottom <= table.viewport().height()

            qtbot.waitUntil(settled, timeout=5_000)
            window = w.rect().adjusted(0, 0, 0, -w.statusBar().height())  # above the status bar
            for widget in (results.question, table.viewport()):
                shown = QtCore.QRect(widget.mapTo(w, QtCore.QPoint(0, 0)), widget.size())
                assert widget.isVisible() and window.contains(shown), (name, size, widget, shown, window)
            viewport = table.viewport().rect()
            for r in range(table.rowCount()):
                row = QtCore.QRect(0, table.rowViewportPosition(r), viewport.width(), table.rowHeight(r))
                assert viewport.contains(row), (name, size, r, row, viewport)
            assert results.question.text() == exp.classroom.question, name
            # the lesson's captions were placed at the size it ran at: they moved inside
            for plot_name in ("lr", "loss", "accuracy"):
                area, rects, _hidden = w.plots.shown.caption_layout(plot_name)
                for r in rects:
                    assert area.adjusted(-0.5, -0.5, 0.5, 0.5).contains(r), (name, size, plot_name, r, area)
    w.classroom.set_presentation(False)  # the run palette and text scale are shared
