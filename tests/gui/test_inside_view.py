"""The Inside tab (issue 9): what it draws is the LayerStats events' numbers, per run and layer."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest
from optiscope.engine import events as ev
from optiscope.engine.config import RunConfig
from optiscope.gui.inside_view import GRID_ROWS, UPDATE_RATIO_GUIDE, InsideView
from PySide6 import QtGui, QtWidgets

BASE = {"dataset": {"name": "blobs", "n_samples": 200}, "training": {"epochs": 2, "batch_size": 8, "seed": 3}}


@pytest.fixture(scope="module")
def race_events() -> list[ev.Event]:
    """A real two-run race (Adagrad and SGD with momentum), batched, LayerStats every 5 updates."""
    import torch
    from optiscope.engine.sweep import train_batched

    torch.set_num_threads(1)
    runs = [
        RunConfig.model_validate({**BASE, "optimizer": {"kind": "adagrad", "lr": 0.05}, "label": "adagrad"}),
        RunConfig.model_validate(
            {**BASE, "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9}, "label": "sgd-momentum"}
        ),
    ]
    seen: list[ev.Event] = []
    bus = ev.EventBus()
    bus.subscribe(seen.append, ev.RunStarted, ev.LayerStats)
    train_batched(runs, bus=bus, stats_every=5)
    return seen


@pytest.fixture
def view(qtbot):
    v = InsideView()
    qtbot.addWidget(v)
    v.resize(1280, 680)
    v.show()
    return v


def stats_of(events: list[ev.Event], run: int) -> list[ev.LayerStats]:
    return [e for e in events if isinstance(e, ev.LayerStats) and e.run == run]


def original(item) -> tuple[np.ndarray, np.ndarray]:
    x, y = item.getOriginalDataset()
    return np.asarray(x), np.asarray(y)


def test_the_curves_are_the_events_numbers_for_each_run_and_layer(view, race_events) -> None:
    assert view.hint.isVisible()
    view.add_events(race_events[:3])  # events may arrive in any batches
    view.add_events(race_events[3:])
    assert not view.hint.isVisible()
    assert [view.run_box.itemText(i) for i in range(view.run_box.count())] == ["adagrad", "sgd-momentum"]
    for run in (0, 1):
        view.set_run(run)
        stats = stats_of(race_events, run)
        assert len(stats) == 6  # updates 5, 10, ..., 25 and the last, 26
        assert [view.layer_box.itemText(i) for i in range(view.layer_box.count())] == list(stats[0].layers)
        for layer in range(len(stats[0].layers)):
            view.set_layer(layer)
            steps = np.array([e.step for e in stats], dtype=float)
            q = np.array([e.effective_lr[layer] for e in stats])
            for item, column in ((view.lr_low, 0), (view.lr_median, 1), (view.lr_high, 2)):
                x, y = original(item)
                np.testing.assert_array_equal(x, steps)
                np.testing.assert_allclose(y, q[:, column])
            np.testing.assert_allclose(original(view.lr_nominal)[1], [e.lr for e in stats])
            ratio = np.array([e.update_ratio[layer] for e in stats])
            np.testing.assert_allclose(original(view.ratio_curve)[1], ratio)  # NaN where unobserved
            assert math.isnan(ratio[-1]) and np.isfinite(ratio[:-1]).all()
            for item, name in (
                (view.dead_curve, "dead_fraction"),
                (view.zero_curve, "zero_fraction"),
                (view.weight_norm_curve, "weight_norm"),
                (view.grad_norm_curve, "grad_norm"),
            ):
                want = np.array([getattr(e, name)[layer] for e in stats])
                if name.endswith("norm"):  # a log axis: a zero is a gap
                    want = np.where(want > 0, want, np.nan)
                np.testing.assert_allclose(original(item)[1], want)
    # SGD's effective rate is its nominal rate; momentum's long-run gain is named
    view.set_run(1)
    np.testing.assert_allclose(original(view.lr_median)[1], original(view.lr_nominal)[1])
    assert "10" in view.info.text() and "momentum" in view.info.text()
    # Adagrad's median effective rate never rises (article 001)
    view.set_run(0)
    view.set_layer(0)
    assert np.all(np.diff(original(view.lr_median)[1]) <= 0)


def test_log_axes_and_the_rule_of_thumb_guide(view, race_events) -> None:
    view.add_events(race_events)
    assert view.lr_plot.ctrl.logYCheck.isChecked() and view.ratio_plot.ctrl.logYCheck.isChecked()
    # the guide sits where the ratio curve would draw a value of 1e-3 (its display is log10)
    x, y = original(view.ratio_curve)
    shown = np.asarray(view.ratio_curve.getData()[1])
    finite = np.isfinite(y)
    np.testing.assert_allclose(shown[finite], np.log10(y[finite]))
    assert view.ratio_guide.value() == pytest.approx(math.log10(UPDATE_RATIO_GUIDE))


def test_histograms_over_time_keep_each_events_counts(view, race_events) -> None:
    view.add_events(race_events)
    view.set_run(0)
    stats = stats_of(race_events, 0)
    for layer in (0, 1):
        view.set_layer(layer)
        for kind in ("weight", "activation"):
            image, lo, hi = view.current_series().histogram_image(kind, layer)
            counts = np.array([getattr(e, f"{kind}_hist")[layer] for e in stats])
            ranges = np.array([getattr(e, f"{kind}_range")[layer] for e in stats])
            assert image.shape == (len(stats), GRID_ROWS)
            np.testing.assert_allclose(image.sum(1), counts.sum(1))
            assert lo == ranges[:, 0].min() and hi == ranges[:, 1].max()
            # the mean value read off the grid is the event's (bin centres), within one grid row
            centres_grid = lo + (np.arange(GRID_ROWS) + 0.5) / GRID_ROWS * (hi - lo)
            for i, (c, (a, b)) in enumerate(zip(counts, ranges, strict=True)):
                centres = a + (np.arange(len(c)) + 0.5) / len(c) * (b - a)
                mean_event = (c * centres).sum() / c.sum()
                mean_grid = (image[i] * centres_grid).sum() / image[i].sum()
                assert mean_grid == pytest.approx(mean_event, abs=(hi - lo) / GRID_ROWS)
                assert (image[i] >= -1e-9).all()
            shown = view.hist_images[kind].image
            assert shown.shape == image.shape
            np.testing.assert_allclose((shown**2).sum(1), 1.0)  # shade: sqrt of each row's share


def test_clear_forgets_runs_and_bad_selection_is_a_clear_error(view, race_events) -> None:
    view.add_events(race_events)
    with pytest.raises(ValueError, match="no run 7"):
        view.set_run(7)
    with pytest.raises(ValueError, match="layer must be 0..1"):
        view.set_layer(5)
    view.clear()
    assert view.run_box.count() == 0 and view.hint.isVisible()
    assert view.lr_median.getOriginalDataset()[0] is None  # nothing drawn


def test_the_window_has_the_inside_tab_fed_by_its_runs(qtbot, make_window, quick_blobs) -> None:
    w = make_window()
    titles = [w.views.tabText(i) for i in range(w.views.count())]
    assert "Inside" in titles and w.views.widget(titles.index("Inside")) is w.inside
    w.set_experiment(quick_blobs)
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    series = w.inside.current_series()
    last_update = w.runs.last_step[0].step
    assert series is not None and series.steps == [last_update]  # short run: the final LayerStats
    assert series.layers == ("dense 1 (2\u219250)", "output (50\u21923)")


def _drawn_tick_labels(axis) -> list[str]:
    """The texts the axis draws now (pyqtgraph's draw specs on a throw-away painter)."""
    image = QtGui.QImage(400, 400, QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [t[2] for t in texts]


def _label_value(text: str) -> float:
    """A log axis label as a number: "0.001", "10⁻⁵" or "2·10⁻⁵"."""
    if "10" in text and any(c in text for c in "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"):
        mantissa, _, power = text.rpartition("10")
        exponent = int(power.translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")))
        return float(mantissa.rstrip("·") or 1) * 10.0**exponent
    return float(text)


def _decades(labels: list[str]) -> bool:
    return all(abs(math.log10(_label_value(t)) - round(math.log10(_label_value(t)))) < 1e-9 for t in labels)


def _labels_at(qtbot, plot, lo: float, hi: float) -> list[str]:
    """The left axis's labels once ``plot`` shows ``lo``..``hi`` on its log y axis."""
    plot.setYRange(math.log10(lo), math.log10(hi), padding=0)
    axis = plot.getAxis("left")
    qtbot.waitUntil(
        lambda: axis.range == pytest.approx([math.log10(lo), math.log10(hi)]) and axis.height() > 150,
        timeout=5000,
    )
    _drawn_tick_labels(axis)  # the first drawing may widen the axis for its labels
    qtbot.wait(100)
    return _drawn_tick_labels(axis)


def test_log_axes_write_numbers_at_powers_of_ten_only(qtbot, view) -> None:
    # two decades: pyqtgraph's own log axis labels 0.0002, 0.0003 ... 0.009 as well
    plain = pg.PlotWidget()
    qtbot.addWidget(plain)
    plain.resize(420, 300)
    plain.show()
    plain.getPlotItem().setLogMode(x=False, y=True)
    assert not _decades(_labels_at(qtbot, plain.getPlotItem(), 1.5e-4, 2e-2))
    for plot in (view.lr_plot, view.ratio_plot, view.norm_plot):
        labels = _labels_at(qtbot, plot, 1.5e-4, 2e-2)
        assert sorted(_label_value(t) for t in labels) == pytest.approx([1e-3, 1e-2])
    # one power of ten in view: it and its 2x and 5x neighbours are written, not 3, 4, 6 ...
    labels = _labels_at(qtbot, view.norm_plot, 0.3, 4.0)
    assert sorted(_label_value(t) for t in labels) == pytest.approx([0.5, 1.0, 2.0])
    # inside one decade there is no power of ten to write: the other ticks keep their numbers
    labels = _labels_at(qtbot, view.lr_plot, 2e-4, 8e-4)
    assert len(labels) >= 2 and not _decades(labels)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_plots_follow_the_application_theme(qtbot, theme) -> None:
    from optiscope.gui.plots.style import THEMES

    app = QtWidgets.QApplication.instance()
    before = app.palette()
    try:
        view = InsideView()
        qtbot.addWidget(view)
        palette = QtGui.QPalette(before)
        palette.setColor(
            QtGui.QPalette.ColorRole.Window, QtGui.QColor("#2b2b2b" if theme == "dark" else "#efefef")
        )
        app.setPalette(palette)  # as the window's View > Theme does; the view hears the change
        colours = THEMES[theme]
        qtbot.waitUntil(lambda: view.graphics.backgroundBrush().color().name() == colours["bg"], timeout=5000)
        assert view.theme == theme
        axis = view.ratio_plot.getAxis("left")
        assert axis.textPen().color().name() == colours["fg"]
        assert colours["fg"] in view.lr_plot.titleLabel.text or colours["fg"] in str(
            view.lr_plot.titleLabel.opts
        )
        legend_label = view._legends[0].items[0][1]
        assert QtGui.QColor(legend_label.opts["color"]).name() == colours["fg"]
    finally:
        app.setPalette(before)


def test_muon_run_says_why_its_rate_is_per_matrix(view) -> None:
    """A Muon run's effective rate is one step scale per matrix: the info line says so (the
    note comes from the optimizer's part), and the update/weight ratio is drawn for it."""
    import torch
    from optiscope.engine.trainer import train

    torch.set_num_threads(1)
    run = RunConfig.model_validate({**BASE, "optimizer": {"kind": "muon", "lr": 0.01}, "label": "muon"})
    seen: list[ev.Event] = []
    bus = ev.EventBus()
    bus.subscribe(seen.append, ev.RunStarted, ev.LayerStats)
    train(run, bus=bus, stats_every=5)
    view.add_events(seen)
    view.redraw()
    text = view.info.toolTip()
    assert "Muon has no per-weight rate" in text and "update/weight ratio" in text
    _, ratio = original(view.ratio_curve)
    assert np.isfinite(ratio).any() and (ratio[np.isfinite(ratio)] > 0).all()
    view.grab().save("/tmp/inside_muon.png")


def test_a_seeded_race_lists_each_runner_once_and_the_user_picks_the_seed(view, race_events) -> None:
    """2 runners × 3 seeds: two entries, not six; the runner's first seed is drawn until another
    seed is chosen, and the line above the plots says which seed is shown."""
    import dataclasses

    from optiscope.engine.config import ExperimentConfig
    from optiscope.engine.seeds import SeedPlan

    plan = SeedPlan.expand(
        [ExperimentConfig().base.model_copy(update={"label": name}) for name in ("Adagrad", "SGD")], 3
    )
    source = {0: 0, 1: 1, 2: 0, 3: 1, 4: 0, 5: 1}  # each seed its own numbers: from the real race's runs
    events = []
    for run, src in source.items():
        for e in race_events:
            if e.run == src:
                events.append(dataclasses.replace(e, run=run))
    view.set_plan(plan)
    view.add_events(events)
    assert [view.run_box.itemText(i) for i in range(view.run_box.count())] == [
        "Adagrad (3 seeds)",
        "SGD (3 seeds)",
    ]
    assert view.seed_box.isVisible()
    seeds = [view.seed_box.itemText(i) for i in range(view.seed_box.count())]
    assert seeds == [plan_seed_text(plan, r) for r in (0, 1, 2)]
    assert view.current_run() == 0  # the runner's first seed by default
    view.set_layer(0)

    def drawn_ratio() -> np.ndarray:
        return original(view.ratio_curve)[1]

    np.testing.assert_allclose(drawn_ratio(), [e.update_ratio[0] for e in stats_of(race_events, 0)])
    assert view.info.text().startswith(f"Adagrad, {plan_seed_text(plan, 0)} shown")
    view.seed_box.setCurrentIndex(1)  # the user picks the second seed (run 1: the other numbers)
    assert view.current_run() == 1
    np.testing.assert_allclose(drawn_ratio(), [e.update_ratio[0] for e in stats_of(race_events, 1)])
    assert view.info.text().startswith(f"Adagrad, {plan_seed_text(plan, 1)} shown")
    view.run_box.setCurrentIndex(1)  # another runner: the same seed (its second)
    assert view.current_run() == 4 and view.seed_box.currentText() == plan_seed_text(plan, 4)
    view.set_run(5)
    assert view.run_box.currentIndex() == 1 and view.current_run() == 5
    view.set_plan(None)  # one seed per runner again: every run on its own
    assert view.run_box.count() == 6 and not view.seed_box.isVisible()


def plan_seed_text(plan, run: int) -> str:
    k = plan.seed_index_of[run]
    return f"seed {plan.seed_of[run]} ({k + 1} of {plan.n_seeds})"
