"""LivePlots fed with synthetic event sequences (no training): counts, smoothing, NaN/Inf,
markers, overlay and grid modes, hover readout, exports."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from optiscope.engine import events as ev
from optiscope.gui import pg_adapter
from optiscope.gui.colors import CLASS_PALETTE, RUN_PALETTE, class_color, run_color
from optiscope.gui.plots import PLOT_NAMES, THEMES, LivePlots
from optiscope.gui.widgets import MiniPlot
from PySide6 import QtCore, QtGui
from PySide6.QtTest import QTest


def run_events(run, *, epochs=4, spe=10, lr=0.01, seed=0, boundary=False, label=None, config=None):
    """A plausible run: RunStarted, Steps, EpochEnds (and Boundary grids), Finished."""
    rng = np.random.default_rng(seed + run)
    out = [ev.RunStarted(run, label or f"run {run}", "cpu", 100, spe, spe * epochs, epochs, 3, config or {})]
    step = 0
    xs, ys = np.linspace(-2, 2, 7, dtype=np.float32), np.linspace(-1, 1, 5, dtype=np.float32)
    for e in range(1, epochs + 1):
        for _ in range(spe):
            step += 1
            out.append(ev.Steps.of(run, step, e, lr, float(1.1 * math.exp(-step / 30) + 0.1 * rng.random())))
        acc = 1 - 0.6 * math.exp(-e / 2)
        out.append(ev.EpochEnd(run, e, step, lr, 0.5, acc, 0.6 / e, acc - 0.05, 0.01))
        if boundary:
            probs = rng.dirichlet(np.ones(3), size=(len(ys), len(xs))).astype(np.float32)
            out.append(ev.Boundary(run, e, xs, ys, probs))
    out.append(ev.Finished(run, "completed", epochs, step, 1.0))
    return out


def feed(plots, events, batch=37):
    for i in range(0, len(events), batch):
        plots.add_events(events[i : i + batch])


@pytest.fixture
def plots(qtbot):
    w = LivePlots()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_point_counts_per_plot_and_run(plots, qtbot):
    feed(plots, run_events(0, epochs=4, spe=10, boundary=True) + run_events(1, epochs=3, spe=12))
    counts = plots.shown.point_counts()
    assert set(counts) == set(PLOT_NAMES)
    assert counts["lr"] == {0: 40, 1: 36}
    assert counts["loss"] == {0: 40, 1: 36}
    assert counts["accuracy"] == {0: 4, 1: 3}
    assert counts["boundary"] == {0: 7 * 5, 1: 0}  # the overlay shows run 0's 7 x 5 grid
    s = plots.shown.series(1)
    np.testing.assert_array_equal(s["lr"][0], np.arange(1, 37))
    np.testing.assert_array_equal(s["val_loss"][0], [12, 24, 36])  # drawn at the epoch's last step
    np.testing.assert_array_equal(s["acc_train"][0], [1, 2, 3])


def test_batching_does_not_change_what_is_drawn(qtbot):
    events = run_events(0, epochs=5, spe=40) + run_events(1, epochs=5, spe=40)
    one, many = LivePlots(), LivePlots()
    qtbot.addWidget(one)
    qtbot.addWidget(many)
    one.add_events(events)
    feed(many, events, batch=7)  # also exercises the buffers' amortised growth past 256
    for rid in (0, 1):
        a, b = one.shown.series(rid), many.shown.series(rid)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key][1], b[key][1], err_msg=key)
    assert one.shown.point_counts() == many.shown.point_counts()


def test_smoothing_is_the_debiased_ema(plots, qtbot, reference_ema):
    events = run_events(0, epochs=3, spe=20)
    feed(plots, events, batch=11)
    raw = np.array([row.loss for row in ev.step_rows(events)])
    smooth = plots.shown.series(0)["smooth"][1]
    assert plots.smoothing == 0.6
    np.testing.assert_allclose(smooth, reference_ema(raw, 0.6), rtol=1e-10)
    assert smooth[0] == pytest.approx(raw[0])  # debiased: starts at the first raw value
    with qtbot.waitSignal(plots.smoothing_changed) as signal:
        plots.set_smoothing(0.95)
    assert signal.args == [0.95]
    np.testing.assert_allclose(plots.shown.series(0)["smooth"][1], reference_ema(raw, 0.95), rtol=1e-10)
    more = [ev.Steps.of(0, 61 + i, 4, 0.01, 0.2 + 0.01 * i) for i in range(20)]
    plots.add_events(more)  # new steps continue the accumulator at the new weight
    both = np.concatenate([raw, [row.loss for row in ev.step_rows(more)]])
    np.testing.assert_allclose(plots.shown.series(0)["smooth"][1], reference_ema(both, 0.95), rtol=1e-10)
    plots.set_smoothing(0)
    np.testing.assert_allclose(plots.shown.series(0)["smooth"][1][: len(raw)], raw)
    for bad in (-0.5, 1.0, float("nan")):
        with pytest.raises(ValueError, match="smoothing"):
            plots.set_smoothing(bad)


def test_slider_drives_the_smoothing(plots, qtbot):
    feed(plots, run_events(0))
    with qtbot.waitSignal(plots.smoothing_changed) as signal:
        plots.controls.smoothing_slider.setValue(900)
    assert signal.args == [0.9]
    assert plots.smoothing == 0.9


def test_nan_and_inf_never_raise_and_the_run_is_drawn_to_its_last_finite_point(plots, qtbot):
    events = run_events(0, epochs=2, spe=10)[:-1]  # no Finished yet
    events += [
        ev.Steps.of(0, 21, 3, 0.5, 3.0),
        ev.Steps.of(0, 22, 3, 0.5, float("inf")),
        ev.Steps.of(0, 23, 3, float("nan"), float("nan")),
        ev.Diverged(0, 23, 3, float("nan")),
        ev.EpochEnd(0, 3, 23, 0.5, float("nan"), float("nan"), float("inf"), float("nan"), 0.1),
        ev.Finished(0, "diverged", 3, 23, 1.0),
    ]
    feed(plots, events, batch=5)
    plots.set_log_loss(True)  # log10 of non-finite values must not warn (warnings are errors)
    plots.set_mode("grid")
    plots.set_mode("overlay")
    plots.grab()  # paints every plot with the non-finite data present
    s = plots.shown.series(0)
    x, raw = s["raw"]
    finite = np.isfinite(raw)
    assert x[finite][-1] == 21 and not finite[-2:].any()
    assert np.isfinite(s["smooth"][1]).sum() == 21
    assert plots.shown.point_counts()["loss"][0] == 21
    assert plots.shown.point_counts()["lr"][0] == 22  # the NaN rate is left out
    assert plots.shown.point_counts()["accuracy"][0] == 2
    marks = plots.shown.markers(0)
    assert marks["loss"] == [(21.0, pytest.approx(s["smooth"][1][20]), "x")]
    assert marks["lr"] == [(22.0, 0.5, "x")]
    x, text = plots.shown.guide_lines(0)["loss_div"]
    assert x == 23 and "diverged at step 23" in text


def test_diverging_loss_does_not_flatten_the_linear_axis(plots):
    events = run_events(0, epochs=2, spe=10) + run_events(1, epochs=1, spe=10)[:-1]
    events += [ev.Steps.of(1, 10 + i, 2, 1.0, 10.0**i) for i in range(1, 12)]
    feed(plots, events)
    lo, hi = plots.shown.plot("loss").vb.viewRange()[1]
    assert hi < 10  # not 1e11: the runs that train stay readable
    assert plots.shown.markers(1)["loss"] == []  # no Diverged event yet: no divergence mark
    plots.add_events([ev.Diverged(1, 21, 2, math.inf)])
    ((x, y, symbol),) = plots.shown.markers(1)["loss"]
    assert symbol == "x" and y > hi  # the ✕ is drawn at the axis' top edge
    ((_, drawn_y, _, _),) = plots.shown.drawn_markers("loss")
    assert drawn_y <= hi


def test_plateau_drops_and_early_stopping_are_marked(plots):
    events = run_events(0, epochs=6, spe=10)[:-1]
    events.insert(34, ev.LRReduced(0, 3, 30, 0.01, 0.001))  # after epoch 3's EpochEnd
    events += [ev.EarlyStopped(0, 6, 4, 0.15, "val_loss", True), ev.Finished(0, "early_stopped", 6, 60, 1.0)]
    feed(plots, events, batch=9)
    marks = plots.shown.markers(0)
    assert (30.0, 0.001, "t") in marks["lr"]
    assert any(m[0] == 30.0 and m[2] == "t" for m in marks["loss"])
    assert (40.0, pytest.approx(0.6 / 4), "star") in marks["loss"]  # val loss at epoch 4, at its step
    assert (4.0, pytest.approx(1 - 0.6 * math.exp(-2) - 0.05), "star") in marks["accuracy"]
    ((_, drawn_y, _, _),) = plots.shown.drawn_markers("lr")
    assert drawn_y == pytest.approx(-3.0)  # log10 on the log axis
    assert plots.shown.guide_lines(0)["acc_best"] == (4.0, "best: epoch 4")
    assert plots.shown.guide_lines(0)["loss_best"] == (40.0, "best: epoch 4")
    assert "early stopped" in plots.shown.legend_text
    feed(plots, run_events(1, epochs=6, spe=10))  # a later run's curves: still under the label
    for name in ("loss", "accuracy"):
        plot_items = plots.shown.plot(name).items
        lines = [i for i in plot_items if isinstance(i, pg.InfiniteLine)]
        curves = [i for i in plot_items if isinstance(i, pg.PlotDataItem)]
        assert lines and min(i.zValue() for i in lines) > max(c.zValue() for c in curves), name


def test_grid_mode_has_one_cell_per_run_with_shared_axes(plots, qtbot):
    feed(plots, run_events(0, boundary=True) + run_events(1, epochs=6) + run_events(2, boundary=True))
    with qtbot.waitSignal(plots.mode_changed) as signal:
        plots.set_mode("grid")
    assert signal.args == ["grid"] and plots.mode == "grid"
    qtbot.waitUntil(lambda: not plots.building)  # cells fill in over a few frames
    grids = plots.plot_items()
    for name, n in (("loss", 3), ("accuracy", 3), ("boundary", 2)):
        cells = list(grids[name].ci.items)
        assert len(cells) == n, name
    for name in ("loss", "accuracy"):  # tick values as they are: no hidden SI rescaling
        for rid in (0, 1, 2):
            for side in ("left", "bottom"):
                assert pg_adapter.tick_value_scale(plots.shown.plot(name, rid).getAxis(side)) == 1.0
    counts = plots.shown.point_counts()
    assert counts["loss"] == {0: 40, 1: 60, 2: 40}
    assert counts["accuracy"] == {0: 4, 1: 6, 2: 4}
    assert counts["boundary"] == {0: 35, 1: 0, 2: 35}
    qtbot.wait(10)
    loss_cells = [plots.shown.plot("loss", r) for r in (0, 1, 2)]
    ranges = {tuple(np.round(c.vb.viewRange()[0], 6)) for c in loss_cells}
    assert len(ranges) == 1  # shared x axis: the longest planned run (60 steps)
    assert max(ranges.pop()) >= 60
    assert len({tuple(np.round(c.vb.viewRange()[1], 6)) for c in loss_cells}) == 1
    # filling in live: a new run gets its cells
    feed(plots, run_events(3, epochs=2))
    qtbot.waitUntil(lambda: not plots.building)
    assert len(list(plots.plot_items()["loss"].ci.items)) == 4
    assert plots.shown.point_counts()["loss"][3] == 20
    plots.set_mode("overlay")
    assert plots.shown.point_counts()["loss"] == {0: 40, 1: 60, 2: 40, 3: 20}
    with pytest.raises(ValueError, match="mode"):
        plots.set_mode("mosaic")


def test_clear_and_a_reused_run_id(plots, qtbot):
    feed(plots, run_events(0) + run_events(1))
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building)
    assert "run 1" in plots.shown.legend_text
    plots.clear()
    assert plots.shown.point_counts() == {name: {} for name in PLOT_NAMES}
    assert "run 1" not in plots.shown.legend_text
    assert list(plots.plot_items()["loss"].ci.items) == []
    feed(plots, run_events(0, epochs=2))
    feed(plots, run_events(0, epochs=3))  # the id is reused without clear(): start afresh
    qtbot.waitUntil(lambda: not plots.building)
    assert plots.shown.point_counts()["loss"] == {0: 30}
    assert len(list(plots.plot_items()["loss"].ci.items)) == 1


def test_events_it_does_not_draw_are_ignored(plots):
    plots.add_events(
        [ev.Weights(0, 0, 0, np.zeros(3)), ev.Failed(5, "boom"), ev.Finished(5, "failed", 0, 0, 0.0)]
    )
    assert plots.shown.point_counts()["loss"] == {5: 0}
    assert "failed" in plots.shown.legend_text


def test_one_consistent_readable_colour_per_run(plots):
    feed(plots, run_events(3) + run_events(12))
    assert plots.shown.color_for(3) == QtGui.QColor(RUN_PALETTE[3]) == run_color(3)
    # past the palette: golden-angle hues, distinct from every palette colour
    assert plots.shown.color_for(12) == QtGui.QColor.fromHslF((12 * 0.61803398875) % 1.0, 0.65, 0.45)
    assert plots.shown.color_for(12).name() not in RUN_PALETTE
    for rid in (3, 12):
        for key in ("lr", "smooth", "acc_train"):
            assert pg_adapter.curve_pen(plots.shown.curve(rid, key)).color() == run_color(rid), (rid, key)

    def luminance(c):
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c.getRgbF()[:3]]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]

    for i in range(len(RUN_PALETTE)):
        lum = luminance(run_color(i))
        for bg in (THEMES["light"]["bg"], THEMES["dark"]["bg"]):
            other = luminance(QtGui.QColor(bg))
            ratio = (max(lum, other) + 0.05) / (min(lum, other) + 0.05)
            assert ratio >= 3.0, (RUN_PALETTE[i], bg, ratio)


def _hover_over(plots, name, x, y, run_id=None):
    """Move the mouse to data point (x, y) of a plot (a grid cell with ``run_id``)."""
    view = plots.plot_items()[name]
    scene_pos = plots.shown.plot(name, run_id).vb.mapViewToScene(QtCore.QPointF(x, y))
    QTest.mouseMove(view.viewport(), view.mapFromScene(scene_pos))


def test_hover_readout_shows_step_and_values(plots, qtbot):
    feed(plots, run_events(0, label="adam lr=0.01") + run_events(1, label="sgd lr=0.1"))
    qtbot.wait(20)
    assert plots.shown.hover_text("loss") is None
    _hover_over(plots, "loss", 20, 0.5)
    qtbot.waitUntil(lambda: plots.shown.hover_text("loss") is not None, timeout=2000)
    text = plots.shown.hover_text("loss")
    assert "step 20" in text and "adam lr=0.01" in text and "sgd lr=0.1" in text
    expected = plots.shown.series(0)["smooth"][1][19]
    assert f"{expected:.4g}" in text  # four significant digits, as everywhere in the window
    # accuracy readout in epochs
    _hover_over(plots, "accuracy", 3, 0.7)
    qtbot.waitUntil(lambda: plots.shown.hover_text("accuracy") is not None, timeout=2000)
    text = plots.shown.hover_text("accuracy")
    assert "epoch 3" in text and "%" in text
    # a grid cell reads out its own run only
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building)
    qtbot.wait(20)
    _hover_over(plots, "loss", 10, 0.5, run_id=1)
    qtbot.waitUntil(lambda: plots.shown.hover_text("loss", 1) is not None, timeout=2000)
    text = plots.shown.hover_text("loss", 1)
    assert "step 10" in text and "sgd lr=0.1" in text and "adam" not in text
    qtbot.wait(400)  # let the SignalProxy's timer finish (the fixture fails on live timers)


def _readout_step(text):
    """The step a loss readout names, or None."""
    match = re.search(r"step (\d+)", text or "")
    return int(match.group(1)) if match else None


def test_hover_readout_stays_inside_the_plot_near_its_edges(plots, qtbot):
    # long run names make the readout wider than half the plot: anchored at the mouse it
    # would reach past the plot's left edge when the mouse is just right of the middle
    names = ["momentum=0.99 lr=0.001", "momentum=0.9 lr=0.001", "plain SGD lr=0.001"]
    feed(plots, [e for i, name in enumerate(names) for e in run_events(i, epochs=8, label=name)])
    plots.resize(1000, 640)
    qtbot.wait(50)
    vb = plots.shown.plot("loss").vb
    (x0, x1), (y0, y1) = vb.viewRange()
    box = vb.sceneBoundingRect()
    checked = 0
    for fx in (0.03, 0.52, 0.6, 0.97):
        for fy in (0.05, 0.5, 0.95):
            x, y = x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)
            step = min(max(round(x), 1), 80)
            qtbot.wait(40)  # the readout's rate limit lets the next move through
            _hover_over(plots, "loss", step, y)
            # the mouse lands on a whole pixel: the readout names the step within one of ``step``
            qtbot.waitUntil(lambda s=step: _readout_step(plots.shown.hover_text("loss")) in (s - 1, s, s + 1))
            rect = plots.shown.hover_rect("loss")
            assert rect.width() > 0.5 * box.width()  # wide enough to be clipped where it was
            assert box.adjusted(-0.5, -0.5, 0.5, 0.5).contains(rect), (fx, fy, rect, box)  # 1/2 px: rounding
            checked += 1
    assert checked == 12
    qtbot.wait(400)  # let the SignalProxy's timer finish (the fixture fails on live timers)


def test_legend_wraps_between_runs_never_inside_a_run_name(plots, qtbot):
    names = ["SGD 0.01", "Momentum 0.9", "Nesterov 0.9", "Adagrad 0.01", "RMSprop 0.001", "Adam 0.001"]
    # equal rates give "(LR same as ...)" notes: long entries, as in the optimizer race
    lrs = [0.01, 0.01, 0.01, 0.01, 0.001, 0.001]
    feed(
        plots,
        [e for i, (n, lr) in enumerate(zip(names, lrs, strict=True)) for e in run_events(i, lr=lr, label=n)],
    )
    plots.set_presentation(True)
    try:
        checked = 0
        for width in range(900, 1281, 20):
            plots.resize(width, 700)
            qtbot.waitUntil(lambda w=width: plots.width() == w)
            lines = plots.shown.legend_lines()
            assert len(lines) >= 2, lines  # wrapped at these widths
            for name in names:
                assert any(name in line for line in lines), (width, name, lines)
                checked += 1
        assert checked == 20 * len(names)
    finally:
        plots.set_presentation(False)  # the run palette and text scale are shared


def test_set_points_draws_the_training_points(plots, qtbot):
    rng = np.random.default_rng(0)
    plots.set_points(rng.normal(size=(50, 2)), rng.integers(0, 3, 50), 3)
    feed(plots, run_events(0, boundary=True))
    assert plots.shown.boundary_point_count() == 50
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building)
    assert plots.shown.boundary_point_count(0) == 50
    with pytest.raises(ValueError, match="shape"):
        plots.set_points(np.zeros((4, 3)), np.zeros(4, int))
    with pytest.raises(ValueError, match="integer"):
        plots.set_points(np.zeros((4, 2)), np.full(4, 0.5))


def test_boundary_points_come_from_the_run_config(plots, qtbot):
    config = {"dataset": {"name": "blobs", "n_samples": 120, "train_fraction": 0.5, "seed": 2}}
    feed(plots, run_events(0, boundary=True, config=config))
    # built just after the frame that starts the run, then drawn over the heatmap
    qtbot.waitUntil(lambda: plots.shown.boundary_point_count() == 60, timeout=10_000)
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building)
    assert plots.shown.boundary_point_count(0) == 60


def test_boundary_image_blends_class_colours(plots):
    xs, ys = np.linspace(0, 1, 4, dtype=np.float32), np.linspace(0, 2, 3, dtype=np.float32)
    probs = np.zeros((3, 4, 2), np.float32)
    probs[..., 0] = 1.0
    probs[0, 3] = (0.0, 1.0)  # bottom-right corner: class 1
    plots.add_events([ev.Boundary(7, 1, xs, ys, probs)])
    img, rect = plots.shown.boundary_image()
    assert img.shape == (4, 3, 3) and img.dtype == np.uint8  # (x, y, rgb)
    assert tuple(img[3, 0]) != tuple(img[0, 0]) and tuple(img[0, 0]) == tuple(img[1, 2])
    assert rect.left() == pytest.approx(-1 / 6) and rect.right() == pytest.approx(1 + 1 / 6)
    assert rect.top() == pytest.approx(-0.5) and rect.bottom() == pytest.approx(2.5)


def _not_blank(image: QtGui.QImage) -> int:
    """How many distinct colours the image holds (a blank export has one)."""
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), np.uint32).reshape(image.height(), image.bytesPerLine() // 4)
    return len(np.unique(arr[:, : image.width()] & 0xFFFFFF))


@pytest.mark.parametrize("mode", ["overlay", "grid"])
def test_exports_write_valid_png_and_svg(plots, qtbot, tmp_path, mode):
    feed(plots, run_events(0, boundary=True) + run_events(1, boundary=True))
    plots.set_mode(mode)
    qtbot.waitUntil(lambda: not plots.building)
    for name in PLOT_NAMES:
        png, svg = tmp_path / f"{name}.png", tmp_path / f"{name}.svg"
        plots.export_png(name, png)
        plots.export_svg(name, svg)
        image = QtGui.QImage(str(png))
        assert not image.isNull() and image.width() > 200
        assert _not_blank(image) > 10, name  # axes, curves, text: many colours
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")
        assert len(list(root.iter())) > 20, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{n}.png" for n in PLOT_NAMES] + [f"{n}.svg" for n in PLOT_NAMES]
    )  # no temporary files left behind


def test_export_errors_are_clear(plots, tmp_path):
    with pytest.raises(ValueError, match="unknown plot 'losses'"):
        plots.export_png("losses", tmp_path / "x.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plots.export_svg("loss", tmp_path / "missing" / "x.svg")
    assert list(tmp_path.iterdir()) == []


def test_warmup_phase_is_shaded_on_the_lr_plot(plots):
    config = {"schedule": {"kind": "constant", "warmup_steps": 15}}
    feed(plots, run_events(0, config=config) + run_events(1, config=config))
    assert [r[:2] for r in plots.shown.warmup_regions()] == [(0, 15)]


def test_theme_switch_restyles(plots):
    feed(plots, run_events(0, boundary=True))
    plots.set_theme("dark")
    assert plots.theme == "dark"
    for name, widget in plots.plot_items().items():
        assert widget.backgroundBrush().color() == QtGui.QColor(THEMES["dark"]["bg"]), name
    plots.set_theme("light")
    with pytest.raises(ValueError, match="theme"):
        plots.set_theme("sepia")


def test_step_curves_clip_and_downsample_and_finished_runs_are_cached(plots, qtbot):
    live = run_events(1, epochs=2, spe=2000)[:-1]  # 4000 steps, not finished
    feed(plots, run_events(0, epochs=2, spe=2000) + live, batch=500)
    for mode in ("grid", "overlay"):
        plots.set_mode(mode)
        qtbot.waitUntil(lambda: not plots.building)
        for rid, cached in ((0, True), (1, False)):
            for key in ("lr", "raw", "smooth"):
                item = plots.shown.curve(rid, key)
                # PlotItem.addItem resets these to the plot's own settings; they must survive it
                clip, auto, method = pg_adapter.curve_reduction(item)
                assert clip and auto, (mode, rid, key)
                assert len(item.getData()[0]) < 4000 / 2, (mode, rid, key)  # fewer points than data
            assert pg_adapter.curve_reduction(plots.shown.curve(rid, "raw"))[2] == "peak"
            assert pg_adapter.curve_cached(plots.shown.curve(rid, "smooth")) == cached, (mode, rid)
            assert pg_adapter.curve_cached(plots.shown.curve(rid, "raw")) == cached, (mode, rid)
            assert len(plots.shown.series(rid)["raw"][0]) == 4000  # all the data is kept


def test_a_sweep_starting_in_grid_mode_fills_in_over_several_frames(plots, qtbot):
    plots.set_mode("grid")
    plots.add_events([e for r in range(8) for e in run_events(r, epochs=2, spe=5)])
    built = len(list(plots.plot_items()["loss"].ci.items))
    assert 1 <= built < 8 and plots.building  # no single long freeze building 16 plots
    qtbot.waitUntil(lambda: not plots.building, timeout=10_000)
    assert len(list(plots.plot_items()["loss"].ci.items)) == 8
    assert plots.shown.point_counts()["loss"] == {r: 10 for r in range(8)}
    assert plots.shown.point_counts()["accuracy"] == {r: 2 for r in range(8)}
    # the second row restyles the first one after its ranges are set: values must stay plain
    # (pyqtgraph's enableAutoSIPrefix(False) would leave 0.85 drawn as "850")
    for r in range(8):
        for name in ("loss", "accuracy"):
            for side in ("left", "bottom"):
                axis = plots.shown.plot(name, r).getAxis(side)
                assert pg_adapter.tick_value_scale(axis) == 1.0, (r, name, side)


LONG = "SGD 0.01 momentum 0.9 nesterov, cosine warm restarts, weight decay 5e-4"


def title_fits(plots, name, run_id=None):
    """Whether the title's text, as laid out, is no wider than the column it is centred in."""
    plot = plots.shown.plot(name, run_id)
    return pg_adapter.title_text_width(plot.titleLabel) <= plot.vb.width() + 1


def test_titles_fit_their_plot_eliding_long_run_labels(plots, qtbot):
    feed(plots, run_events(0, boundary=True, label=LONG))
    plots.resize(944, 560)  # the plots' room beside the side panels in a 1280x720 window
    qtbot.wait(50)
    for name in PLOT_NAMES:
        assert title_fits(plots, name), plots.shown.title(name)
    boundary = plots.shown.title("boundary")[0]
    assert boundary.startswith("Boundary · SGD 0.01") and boundary.endswith("… · ep 4")
    tooltip = plots.shown.plot("boundary").titleLabel.toolTip()
    assert LONG in tooltip and "epoch 4" in tooltip
    assert "★ best" in plots.shown.title("loss")[1]
    assert "★ best epoch" in plots.shown.plot("loss").titleLabel.toolTip()
    # with room to spare the full wording comes back
    feed(plots, run_events(1, boundary=True, label="SGD 0.01"))
    plots.resize(1900, 1000)
    qtbot.wait(50)
    assert plots.shown.title("boundary") == ["Decision boundary — SGD 0.01, epoch 4"]
    assert plots.shown.title("loss")[1] == "faint: raw · solid: smoothed · dashed: validation · ★ best epoch"
    assert all(title_fits(plots, name) for name in PLOT_NAMES)


def test_live_plots_fit_in_900_px(plots, qtbot):
    feed(plots, [e for r in range(4) for e in run_events(r, boundary=True, label=f"RMSprop 0.001 #{r}")])
    feed(plots, run_events(4, boundary=True, label=LONG))
    # beside the side panels at 1280x720 the tab holding the plots is ~940 px wide with its
    # frame; the controls row alone used to ask for 884-932 px
    assert plots.minimumSizeHint().width() <= 860
    plots.resize(900, 560)
    qtbot.wait(50)
    assert plots.width() == 900
    right = plots.rect().right()
    for child in (plots.controls, *plots.plot_items().values()):
        assert child.mapTo(plots, child.rect().topRight()).x() <= right, child
    assert title_fits(plots, "boundary")


def test_grid_cell_titles_keep_what_differs_with_the_label_as_tooltip(plots, qtbot):
    labels = [f"{LONG} #{r}" for r in range(3)]
    feed(plots, [e for r in range(3) for e in run_events(r, boundary=True, label=labels[r])])
    plots.resize(944, 560)
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building)
    qtbot.wait(50)
    for r in range(3):
        for name in ("loss", "accuracy", "boundary"):
            text = plots.shown.title(name, r)[0]  # the runs differ only in "#r": that is shown whole
            assert f"#{r}" in text and text != labels[r], (r, name, text)
            assert labels[r] in plots.shown.plot(name, r).titleLabel.toolTip()
            assert title_fits(plots, name, r), (r, name, text)
    plots.resize(1900, 1000)  # wider cells: more of the label, and the boundary's epoch
    qtbot.wait(50)
    for r in range(3):
        text = plots.shown.title("boundary", r)[0]
        assert text.endswith(f"… #{r} · ep 4") and title_fits(plots, "boundary", r), text
        assert LONG.startswith(text.split("…")[0]) and len(text) > 20


def test_theme_change_recolours_markers_and_warmup_labels(plots, qtbot):
    config = {"schedule": {"kind": "constant", "warmup_steps": 15}}
    events = run_events(0, epochs=6, spe=10, config=config)[:-1]
    events.insert(34, ev.LRReduced(0, 3, 30, 0.01, 0.001))
    events += [ev.EarlyStopped(0, 6, 4, 0.15, "val_loss", True), ev.Finished(0, "early_stopped", 6, 60, 1.0)]
    feed(plots, events, batch=9)
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building)
    plots.set_theme("light")

    def edges():
        drawn = [plots.shown.drawn_markers("loss", 0), plots.shown.drawn_markers("accuracy", 0)]
        drawn += [plots.shown.drawn_markers(name) for name in ("lr", "loss", "accuracy")]  # overlay ones too
        assert all(drawn)
        return {edge for spots in drawn for _, _, symbol, edge in spots if symbol != "x"}  # ✕: run colour

    def warmup_colours():
        return {c for _, _, colours in plots.shown.warmup_regions() for c in colours}

    assert edges() == {THEMES["light"]["fg"]} and warmup_colours() == {THEMES["light"]["muted"]}
    plots.set_theme("dark")
    assert edges() == {THEMES["dark"]["fg"]}
    assert warmup_colours() == {THEMES["dark"]["muted"]}


def test_one_palette_per_class_in_the_data_preview_and_the_boundary(plots, qtbot):
    """Class c is the same colour in the dataset preview and in the boundary heatmap."""
    n = len(CLASS_PALETTE)
    xs, ys = np.linspace(0, n - 1, n, dtype=np.float32), np.zeros(1, np.float32)
    probs = np.eye(n, dtype=np.float32)[None, :, :]  # cell c: certainly class c
    plots.add_events([ev.Boundary(0, 1, xs, ys, probs)])
    img, _ = plots.shown.boundary_image()
    bg = np.array(QtGui.QColor(THEMES["light"]["bg"]).getRgbF()[:3])
    for c in range(n):
        colour = np.array(QtGui.QColor(CLASS_PALETTE[c]).getRgbF()[:3])
        expected = np.round(255 * (bg + 0.62 * (colour - bg)))  # the heatmap's documented blend
        np.testing.assert_allclose(img[c, 0], expected, atol=1, err_msg=f"class {c}")
    preview = MiniPlot()
    qtbot.addWidget(preview)
    preview.resize(300, 200)
    rng = np.random.default_rng(0)
    preview.set_scatter(rng.normal(size=(40, 2)), np.full(40, 3))
    image = preview.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), np.uint32).reshape(image.height(), -1)
    assert (arr & 0xFFFFFF == class_color(3).rgb() & 0xFFFFFF).sum() > 40  # dots in class 3's colour
    assert class_color(3) == QtGui.QColor(CLASS_PALETTE[3]) and class_color(n + 3) == class_color(3)


def _luminance(rgb) -> float:
    """WCAG relative luminance from 8-bit sRGB (the sRGB transfer function, written here
    independently of gui.colors)."""
    lin = [(v / 255) / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a, b) -> float:
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


@pytest.mark.parametrize("look", ["light", "dark", "presentation"])
def test_every_run_curve_reads_on_the_plot_background(plots, qtbot, look):
    """Rendered pixels: across each run's LR curve (a horizontal line) some pixel reaches
    3:1 contrast (WCAG, graphics) against the plot background, for the palette's runs and
    golden-angle runs past it -- Okabe-Ito yellow on white included."""
    if look == "presentation":
        plots.set_presentation(True)
    else:
        plots.set_theme(look)
    try:
        bg = QtGui.QColor(THEMES["contrast" if look == "presentation" else look]["bg"]).getRgb()
        for rid in range(14):
            plots.clear()
            feed(plots, run_events(rid, lr=0.01))
            plot = plots.shown.plot("lr")
            plot.setYRange(-3, -1, padding=0)  # log axis: the line in the middle of the view
            qtbot.wait(10)
            view = plots.plot_items()["lr"]
            image = view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
            pixels = (
                np.frombuffer(image.constBits(), np.uint8)
                .reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()]
                .reshape(image.height(), image.width(), 3)
            )
            rect = plot.vb.sceneBoundingRect()
            top_left = view.mapFromScene(rect.topLeft().toPoint())
            middle = top_left.x() + int(rect.width() / 2)
            # 40 columns: dotted and dashed runs have gaps; rows clear of the axes
            area = pixels[
                top_left.y() + 10 : top_left.y() + int(rect.height()) - 10, middle - 20 : middle + 20
            ]
            colours = np.unique(area.reshape(-1, 3), axis=0)
            drawn = [tuple(int(v) for v in c) for c in colours if tuple(c) != bg[:3]]
            assert drawn, (look, rid, "no curve drawn")
            best = max(_contrast(c, bg) for c in drawn)
            assert best >= 3.0, (look, rid, run_color(rid).name(), round(best, 2))
    finally:
        plots.set_presentation(False)
        plots.set_theme("light")


def test_text_in_a_run_colour_is_made_readable_keeping_its_hue():
    """Captions and legend lines use readable_color: >= 3:1 on each theme's background
    (luminance computed here), same hue; colours that already read are left alone."""
    from optiscope.gui.colors import OKABE_ITO_RUNS, readable_color

    for bg in {t["bg"] for t in THEMES.values()}:
        bg_rgb = QtGui.QColor(bg).getRgb()
        for hex_colour in RUN_PALETTE + OKABE_ITO_RUNS:
            original = QtGui.QColor(hex_colour)
            made = readable_color(original, bg)
            assert _contrast(made.getRgb(), bg_rgb) >= 3.0, (hex_colour, bg)
            if _contrast(original.getRgb(), bg_rgb) >= 3.0:
                assert made == original
            elif original.saturation() > 0:
                assert abs(made.hslHue() - original.hslHue()) <= 2, (hex_colour, made.name())
    # each pair is worked out once (legends lay out often): every call still gets a colour of
    # its own, and a readable colour's alpha is kept
    first = readable_color("#E69F00", "#ffffff")
    first.setRed(1)
    assert readable_color("#E69F00", "#ffffff").red() != 1
    translucent = QtGui.QColor(0, 0, 0, 100)
    assert readable_color(translucent, "#ffffff") == translucent


def test_exported_step_plots_fit_the_data_and_the_screen_keeps_its_ranges(plots, tmp_path, monkeypatch):
    """On screen the loss plot is x-linked to the LR plot, whose wider tick labels (1e-07)
    make the loss view wider: it shows steps before 0. An exported LR or loss plot spans
    the data: step 0 to the last step seen (here an early-stopped run, planned for 2000
    steps, ended at 1000), padded 2 % a side; afterwards the screen is as it was."""
    stopped = [e for e in run_events(0, lr=1e-7, epochs=4, spe=250) if getattr(e, "step", 0) <= 500]
    stopped = [e for e in stopped if not isinstance(e, ev.Finished)] + [
        ev.Finished(0, "early_stopped", 2, 500, 1.0)
    ]
    feed(plots, stopped + run_events(1, lr=1.0, epochs=4, spe=250)[: 2 * 251 + 1])
    last = 500.0
    on_screen = {n: plots.shown.plot(n).vb.viewRange()[0] for n in ("lr", "loss")}
    assert on_screen["loss"][0] < -0.03 * last or on_screen["lr"][1] > 1.03 * last  # the defect's setting
    rendered: list[tuple[str, list[float]]] = []
    original = pg_adapter.render_widget

    def render_and_record(widget, painter):
        for n in ("lr", "loss"):
            if widget is plots.plot_items()[n]:
                rendered.append((n, list(plots.shown.plot(n).vb.viewRange()[0])))
        original(widget, painter)

    monkeypatch.setattr(pg_adapter, "render_widget", render_and_record)
    plots.export_png("loss", tmp_path / "loss.png")
    plots.export_svg("loss", tmp_path / "loss.svg")
    plots.export_png("lr", tmp_path / "lr.png")
    assert [n for n, _ in rendered] == ["loss", "loss", "lr"]
    for name, (lo, hi) in rendered:
        assert lo == pytest.approx(-0.02 * last, abs=1.0), name
        assert hi == pytest.approx(1.02 * last, abs=1.0), name
    for n, shown in on_screen.items():
        assert plots.shown.plot(n).vb.viewRange()[0] == pytest.approx(shown, abs=0.5), n


def test_a_guide_label_drawn_after_a_caption_moves_the_caption(plots, qtbot):
    """Early stopping draws its "best: epoch N" line when the run ends, after the lesson's
    captions were placed: a caption where the label goes makes way for it."""
    from optiscope.gui.plots import lesson_marks

    events = run_events(0, epochs=6, spe=10)[:-1]
    ending = [ev.EarlyStopped(0, 6, 4, 0.15, "val_loss", True), ev.Finished(0, "early_stopped", 6, 60, 1.0)]
    feed(plots, events + ending)
    qtbot.wait(10)
    (label,) = lesson_marks.guide_label_rects(plots.shown.plot("accuracy"))
    plots.clear()
    feed(plots, events)
    qtbot.wait(10)
    assert not lesson_marks.guide_label_rects(plots.shown.plot("accuracy"))
    # a ring just under the label's left end: its caption's first spot is where the label goes
    at = plots.shown.plot("accuracy").vb.mapSceneToView(label.bottomLeft() + QtCore.QPointF(0, 12))
    plots.annotate("accuracy", 0, at.x(), at.y(), "≥ 90 % at epoch 4")
    (before,) = plots.shown.caption_layout("accuracy")[1]
    assert before.intersects(label)
    feed(plots, ending)
    (now_label,) = lesson_marks.guide_label_rects(plots.shown.plot("accuracy"))
    assert now_label == label
    (after,) = plots.shown.caption_layout("accuracy")[1]
    assert not after.intersects(now_label), (after, now_label)


def test_guide_labels_sit_on_the_theme_fill(plots):
    """Curves do not cross the "best: epoch N" text: its label has the theme's fill, and a
    theme change refills it."""
    events = run_events(0, epochs=6, spe=10)[:-1]
    events += [ev.EarlyStopped(0, 6, 4, 0.15, "val_loss", True), ev.Finished(0, "early_stopped", 6, 60, 1.0)]
    feed(plots, events)
    lines = [
        i for i in plots.shown.plot("accuracy").vb.childGroup.childItems() if isinstance(i, pg.InfiniteLine)
    ]
    labelled = [line for line in lines if getattr(line, "label", None) is not None and line.isVisible()]
    assert labelled
    for theme in ("dark", "light"):
        plots.set_theme(theme)
        for line in labelled:
            assert line.label.fill.color() == QtGui.QColor(*THEMES[theme]["fill"]), theme


@pytest.mark.parametrize("mode", ["overlay", "grid"])
def test_only_short_runs_get_a_dot_on_every_per_epoch_value(plots, qtbot, mode):
    """Up to 40 epochs the per-epoch curves show each value as a dot; a long run's hundreds
    of values would blur into a thick line, so it gets none."""
    plots.set_mode(mode)
    feed(plots, run_events(0, epochs=6, spe=2) + run_events(1, epochs=60, spe=2))
    qtbot.waitUntil(lambda: not plots.building)
    for key in ("val_loss", "acc_train", "acc_val"):
        assert plots.shown.curve(0, key).opts["symbol"] == "o", key
        assert plots.shown.curve(1, key).opts["symbol"] is None, key


def test_hover_readout_shows_a_run_label_with_markup_characters_as_written(plots, qtbot):
    feed(plots, run_events(0, label="lr<0.1 & wd>0"))
    qtbot.wait(20)
    _hover_over(plots, "loss", 20, 0.5)
    qtbot.waitUntil(lambda: plots.shown.hover_text("loss") is not None, timeout=2000)
    assert "lr<0.1 & wd>0" in plots.shown.hover_text("loss")
    qtbot.wait(400)  # let the SignalProxy's timer finish (the fixture fails on live timers)


def test_log_loss_axis_in_both_modes_ranges_the_loss_in_decades(plots, qtbot):
    feed(plots, run_events(0) + run_events(1))
    plots.set_log_loss(True)
    smooth = np.concatenate([plots.shown.series(r)["smooth"][1] for r in (0, 1)])
    lo, hi = plots.shown.plot("loss").vb.viewRange()[1]  # log10 units on a log axis
    assert plots.shown.plot("loss").getAxis("left").logMode
    assert lo <= math.log10(smooth.min()) and math.log10(smooth.max()) <= hi and hi - lo < 3
    assert not plots.shown.plot("accuracy").getAxis("left").logMode  # only the loss axis
    plots.set_mode("grid")
    qtbot.waitUntil(lambda: not plots.building)
    assert all(plots.shown.plot("loss", r).getAxis("left").logMode for r in (0, 1))
    plots.set_log_loss(False)
    assert not plots.shown.plot("loss", 1).getAxis("left").logMode
    assert plots.shown.plot("loss", 1).vb.viewRange()[1][0] <= 0.0  # a linear axis from 0


def test_removing_a_longer_past_run_gives_the_axes_back_to_the_runs_that_stay(plots, qtbot):
    """A 40-epoch past run overlaid on a 4-epoch run stretches the axes; removing it ranges
    them on the 4-epoch run again (epochs 1-4, its 40 updates, its accuracies), as the
    live run alone would be, instead of squashing it into a tenth of the plot."""
    past_id = 100_000
    feed(plots, run_events(0, epochs=4, spe=10))
    past = run_events(past_id, epochs=40, spe=10, lr=1.0, label="past: long")
    feed(plots, past)
    acc, loss, lr = (plots.shown.plot(n) for n in ("accuracy", "loss", "lr"))
    assert acc.vb.viewRange()[0][1] >= 40 and loss.vb.viewRange()[0][1] >= 400
    plots.remove_run(past_id)
    qtbot.wait(10)
    (x0, x1), (y0, y1) = acc.vb.viewRange()
    pad = 0.03 * (4 - 1)  # the ranges' padding (2 %) and a rounding margin
    assert 1 - pad <= x0 <= 1 and 4 <= x1 <= 4 + pad, (x0, x1)
    assert loss.vb.viewRange()[0][1] == pytest.approx(40, rel=0.05)
    assert lr.vb.viewRange()[1][1] <= np.log10(0.01) + 2.5  # the past run's lr = 1 left the axis
    # the accuracy axis spans the run that stays: 1 - 0.6 e^(-e/2) over epochs 1-4, minus 0.05
    accs = [1 - 0.6 * math.exp(-e / 2) for e in range(1, 5)] + [
        1 - 0.6 * math.exp(-e / 2) - 0.05 for e in range(1, 5)
    ]
    assert y0 <= min(accs) and y1 >= max(accs) and y0 >= min(accs) - 0.15
    # and every run gone: the plots range themselves again
    plots.remove_run(0)
    assert all(plots.shown.plot(n).vb.state["autoRange"][0] for n in ("accuracy", "loss", "lr"))


def test_a_past_run_overlay_is_grey_and_dotted_never_a_live_runs_colour(plots, qtbot):
    """A past run (Runs tab → Overlay) next to live runs 0 and 1: its curves are grey (no
    saturation) and its solid curves dotted, in the normal look and presenting."""
    from optiscope.gui.colors import PAST_RUN_ID_BASE

    past = PAST_RUN_ID_BASE + 1
    feed(plots, run_events(0) + run_events(1) + run_events(past, label="past: run 1"))
    for presenting in (False, True):
        plots.set_presentation(presenting)
        live_colors = {plots.frame.runs[r].color.name() for r in (0, 1)}
        run = plots.frame.runs[past]
        assert run.color.hslSaturationF() < 0.02 and run.color.name() not in live_colors
        for name in ("loss", "accuracy"):
            its = plots.frame.parts[name].items(run, "overlay")
            for key, item in its.items():
                if not isinstance(item, pg.PlotDataItem) or key.startswith("raw"):
                    continue
                pen = item.opts["pen"]
                assert pen.color().hslSaturationF() < 0.02, (presenting, name, key)
                assert pen.style() != QtCore.Qt.PenStyle.SolidLine, (presenting, name, key)
    plots.set_presentation(False)


def test_lesson_captions_take_the_run_colours_of_presentation_and_back(plots, qtbot):
    """F11 switches the run palette (Okabe-Ito) and the background: a lesson caption drawn
    before follows its run's curve colour, and comes back with it."""
    from optiscope.gui.colors import contrast_ratio

    feed(plots, run_events(0) + run_events(1))
    plots.annotate("accuracy", 1, 3.0, 0.8, "≥ 80 % at epoch 3")
    marks = plots.frame.annotations
    for presenting in (True, False):
        plots.set_presentation(presenting)
        curve = plots.frame.runs[1].color  # the run's colour in this look
        (caption,) = marks.colors("accuracy")
        bg = plots.frame.theme["bg"]
        # the run's own colour, or its darkened/lightened twin where it would not read
        assert caption == curve.name() or (
            QtGui.QColor(caption).hue() == curve.hue() and contrast_ratio(caption, bg) >= 3
        ), (presenting, caption, curve.name())
        assert contrast_ratio(caption, bg) >= 3


def test_a_tall_boundary_fills_a_wide_plot_and_a_new_lesson_forgets_its_axes(plots, qtbot):
    """A boundary grid three times taller than wide in a wide plot spans the plot on both axes
    (within a cell and the padding), instead of an aspect-locked sliver in a wide empty range;
    clearing the plots (a new lesson) puts the axes back to the hint's."""
    xs, ys = np.linspace(-1, 1, 5, dtype=np.float32), np.linspace(-3, 3, 7, dtype=np.float32)
    probs = np.full((7, 5, 3), 1 / 3, np.float32)
    plots.add_events([ev.Boundary(0, 1, xs, ys, probs)])
    qtbot.wait(20)
    plot = plots.shown.plot("boundary")
    view = plot.getViewWidget()
    assert view.width() > view.height()  # a wide plot
    (x0, x1), (y0, y1) = plot.vb.viewRange()
    _img, rect = plots.shown.boundary_image()  # the heatmap's cells: half a step past the grid
    for lo, hi, a, b in ((x0, x1, rect.left(), rect.right()), (y0, y1, rect.top(), rect.bottom())):
        assert lo <= a and hi >= b and (hi - lo) <= 1.1 * (b - a), ((lo, hi), (a, b))
    plots.clear()
    assert plot.vb.viewRange() == [[-1, 1], [-1, 1]]
