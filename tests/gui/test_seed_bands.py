"""Seeds on the live plots: each runner of several seeds is drawn as the mean over its seeds
with a 95 % Student t band (checked against scipy.stats), in one colour with one legend entry;
"Every seed" shows each seed's thin curve; "Log x" puts steps/epochs on a log axis on every
plot part. The registry walk makes sure no part skips one of these."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
import scipy.stats
from optiscope.engine import events as ev
from optiscope.engine.config import RunConfig, race_experiment
from optiscope.engine.seeds import SeedPlan
from optiscope.gui.plots import PLOT_PARTS, LivePlots

N_SEEDS = 4


def seed_events(run, *, runner, k, epochs=4, spe=10, label="r"):
    """A run whose loss and accuracy differ from seed to seed (k) and runner to runner."""
    rng = np.random.default_rng(100 * runner + k)
    out = [ev.RunStarted(run, label, "cpu", 100, spe, spe * epochs, epochs, 3, {})]
    step = 0
    for e in range(1, epochs + 1):
        for _ in range(spe):
            step += 1
            loss = float((1.0 + 0.1 * runner) * np.exp(-step / 30) + 0.2 * rng.random())
            out.append(ev.Steps.of(run, step, e, 0.01 * (1 + runner), loss))
        acc = float(1 - 0.6 * np.exp(-e / 2) - 0.05 * runner + 0.04 * rng.standard_normal())
        val = float(acc - 0.02 * e + 0.03 * rng.standard_normal())
        out.append(ev.EpochEnd(run, e, step, 0.01, 0.5, acc, 0.6 / e + 0.05 * k, val, 0.01))
    out.append(ev.Finished(run, "completed", epochs, step, 1.0))
    return out


def race_plan(runners=3, seeds=N_SEEDS):
    exp = race_experiment([RunConfig(label=f"runner {i}") for i in range(runners)])
    return SeedPlan.of(exp.model_copy(update={"seeds": seeds}))


@pytest.fixture
def seeded(qtbot):
    """Plots showing a 3-runner x 4-seed race (run id = plan index)."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 720)
    plots.show()
    plan = race_plan()
    plots.set_seed_plan(plan)
    events = []
    for r in range(len(plan.runs)):
        events += seed_events(
            r, runner=plan.runner_of[r], k=plan.seed_index_of[r], label=plan.labels[plan.runner_of[r]]
        )
    for i in range(0, len(events), 53):
        plots.add_events(events[i : i + 53])
    return plots, plan


def _t_band(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scipy.stats' 95 % t interval per column of a seeds x points array."""
    n = columns.shape[0]
    mean = columns.mean(axis=0)
    sem = columns.std(axis=0, ddof=1) / np.sqrt(n)
    half = scipy.stats.t.ppf(0.975, n - 1) * sem  # t.interval's half width (sem 0: no width)
    return mean, mean - half, mean + half


def test_each_band_is_the_t_interval_over_the_runners_seeds(seeded):
    plots, plan = seeded
    frame = plots.frame
    for runner in range(len(plan.runners)):
        lead = frame.runs[plan.members(runner)[0]]
        for part in frame.parts.values():
            its = part.items(lead)
            for key in part.banded:
                xs, ys = part.series[key]
                seeds_y = np.array([getattr(frame.runs[r], ys).view() for r in plan.members(runner)])
                mean, lo, hi = _t_band(seeds_y)
                x_mean, y_mean = its[f"mean:{key}"].getOriginalDataset()
                np.testing.assert_allclose(x_mean, getattr(lead, xs).view())
                np.testing.assert_allclose(y_mean, mean, rtol=1e-9)
                np.testing.assert_allclose(its[f"lo:{key}"].getOriginalDataset()[1], lo, rtol=1e-9)
                np.testing.assert_allclose(its[f"hi:{key}"].getOriginalDataset()[1], hi, rtol=1e-9)
                fill = its[f"fill:{key}"]
                assert isinstance(fill, pg.FillBetweenItem)
                assert fill.curves == [its[f"lo:{key}"], its[f"hi:{key}"]]
                assert not fill.path().isEmpty(), f"{part.name}:{key} band drew nothing"
                assert fill.brush().color().alpha() < 255  # translucent: the curves read through it


def test_a_runner_is_one_colour_and_one_legend_entry(seeded):
    plots, plan = seeded
    text = plots.shown.legend_text
    for label in plan.labels:
        assert text.count(label) == 1
    assert f"({N_SEEDS} seeds)" in text
    for runner in range(len(plan.runners)):
        colours = {plots.shown.color_for(r).name() for r in plan.members(runner)}
        assert len(colours) == 1
    assert len({plots.shown.color_for(plan.members(i)[0]).name() for i in range(3)}) == 3


def _visible_own_curves(plots, part, run_id, key):
    item = part.items(plots.frame.runs[run_id]).get(key)
    return item is not None and item.isVisible()


def test_every_seed_toggle_shows_n_thin_curves_per_runner(seeded):
    plots, plan = seeded
    lr = plots.frame.parts["lr"]
    for runner in range(len(plan.runners)):
        assert not any(_visible_own_curves(plots, lr, r, "lr") for r in plan.members(runner))
    plots.controls.seeds_box.setChecked(True)  # the user's toggle
    assert plots.show_seeds
    for part in plots.frame.parts.values():
        for key in part.banded:
            for runner in range(len(plan.runners)):
                members = plan.members(runner)
                shown = [r for r in members if _visible_own_curves(plots, part, r, key)]
                assert len(shown) == N_SEEDS, (part.name, key, runner)
                for r in members:  # each seed's own data, drawn thin
                    item = part.items(plots.frame.runs[r])[key]
                    x, y = item.getOriginalDataset()
                    np.testing.assert_array_equal(y, getattr(plots.frame.runs[r], part.series[key][1]).view())
                    assert item.opts["pen"].widthF() <= 1.0
    plots.set_show_seeds(False)
    assert not any(_visible_own_curves(plots, lr, r, "lr") for r in range(len(plan.runs)))


def test_every_plot_part_supports_bands_seed_curves_and_log_x(seeded):
    """The registry walk: no part may skip the seeds' band, the seed curves or log-x."""
    plots, plan = seeded
    frame = plots.frame
    assert [type(p) for p in frame.parts.values()] == list(PLOT_PARTS)
    lead = frame.runs[0]
    for part in frame.parts.values():
        if part.one_seed:  # a picture that cannot be averaged says which seed it shows
            assert not part.banded
            continue
        assert part.banded, f"{part.name} draws no band for a runner of several seeds"
        assert set(part.banded) <= set(part.series) <= set(part.pens)
        for key in part.banded:
            assert {f"mean:{key}", f"lo:{key}", f"hi:{key}", f"fill:{key}"} <= set(part.items(lead))
    plots.set_log_x(True)
    for part in frame.parts.values():
        want = part.x_range is not None  # steps or epochs
        assert part.plot.vb.state["logMode"][0] == want, part.name
    plots.set_mode("grid")
    plots.set_show_seeds(True)

    def cells_built():
        return all(n in frame.runs[0].cells for n, p in frame.parts.items() if p.has_cells)

    for _ in range(200):
        frame.cells.fill()
        if cells_built():
            break
        pg.QtWidgets.QApplication.processEvents()
    for part in frame.parts.values():
        if not part.has_cells:
            continue
        cell = frame.runs[0].cells.get(part.name)
        if cell is None:
            continue
        assert cell.vb.state["logMode"][0] == (part.x_range is not None), part.name
        if part.banded:  # the grid cell draws the band and the seeds too
            its = part.items(frame.runs[0])
            assert f"fill:{part.banded[0]}" in its
            for r in plan.members(0)[1:]:
                assert part.items(frame.runs[r]).get(part.banded[0]) is not None
    # the runners' other seeds get no cells of their own
    assert all(not frame.runs[r].cells for r in range(len(plan.runs)) if plan.seed_index_of[r])
    plots.set_log_x(False)
    assert not any(p.plot.vb.state["logMode"][0] for p in frame.parts.values())


def test_log_x_control_toggles_every_plot(seeded):
    plots, _plan = seeded
    plots.controls.log_x_box.setChecked(True)
    assert plots.log_x
    assert all(p.log_x() == (p.x_range is not None) for p in plots.frame.parts.values())


def test_one_seed_draws_as_before(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plan = race_plan(runners=2, seeds=1)
    plots.set_seed_plan(plan)
    for r in range(2):
        plots.add_events(seed_events(r, runner=r, k=0, label=plan.labels[r]))
    for part in plots.frame.parts.values():
        for run in plots.frame.runs.values():
            assert not any(k.startswith(("mean:", "fill:")) for k in part.items(run))
            for key in part.pens:
                item = part.items(run).get(key)
                if item is not None:
                    assert item.isVisible()
    assert "seeds" not in plots.shown.legend_text
    assert plots.controls.seeds_box.isHidden()


def test_bands_follow_the_smoothing(seeded):
    plots, plan = seeded
    plots.set_smoothing(0.9)
    loss = plots.frame.parts["loss"]
    lead = plots.frame.runs[0]
    seeds_y = np.array([plots.frame.runs[r].smooth.view() for r in plan.members(0)])
    np.testing.assert_allclose(loss.items(lead)["mean:smooth"].getOriginalDataset()[1], seeds_y.mean(axis=0))


def test_the_png_export_draws_the_bands(seeded, tmp_path):
    plots, _plan = seeded
    from PySide6 import QtGui

    plots.export_png("accuracy", tmp_path / "acc.png", scale=1.0)
    image = QtGui.QImage(str(tmp_path / "acc.png"))
    band = pg.mkColor(plots.shown.color_for(0))
    # a translucent band over white: the runner's hue, lighter than the curve itself
    arr = np.array(
        [
            [QtGui.QColor(image.pixel(x, y)).getRgb()[:3] for x in range(0, image.width(), 3)]
            for y in range(0, image.height(), 3)
        ]
    )
    want = np.array(band.getRgb()[:3], dtype=float)
    light = 255 - (255 - want) * (60 / 255)  # BAND_ALPHA over a white background
    close = np.abs(arr - light).max(axis=2) < 14
    assert close.sum() > 50, "no band-coloured pixels in the exported plot"


def test_the_boundary_shows_one_seed_per_runner_and_says_which(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 720)
    plan = race_plan(runners=2, seeds=3)
    plots.set_seed_plan(plan)
    xs, ys = np.linspace(-2, 2, 7, dtype=np.float32), np.linspace(-1, 1, 5, dtype=np.float32)
    probs = np.full((len(ys), len(xs), 3), 1 / 3, dtype=np.float32)
    events = []
    for r in range(len(plan.runs)):
        events += seed_events(
            r, runner=plan.runner_of[r], k=plan.seed_index_of[r], label=plan.labels[plan.runner_of[r]]
        )
        events.append(ev.Boundary(r, 4, xs, ys, probs))
    plots.add_events(events)
    box = plots.controls.boundary_box
    offered = [box.itemData(i) for i in range(1, box.count())]
    assert offered == [0, 3]  # each runner's first seed, none of the others
    boundary = plots.frame.parts["boundary"]
    assert boundary.overlay.shown == 3  # the latest runner's first seed, not its last
    title = plots.shown.title("boundary")[0]
    assert f"seed {plan.seed_of[3]}" in title, title


def test_the_hover_reads_each_runners_mean_and_log_x_steps(seeded, qtbot):
    from PySide6 import QtCore
    from PySide6.QtTest import QTest

    plots, plan = seeded

    def hover(name, x, y):
        view = plots.plot_items()[name]
        scene_pos = plots.shown.plot(name).vb.mapViewToScene(QtCore.QPointF(x, y))
        QTest.mouseMove(view.viewport(), view.mapFromScene(scene_pos))

    qtbot.wait(20)
    hover("loss", 20, 0.5)
    qtbot.waitUntil(lambda: plots.shown.hover_text("loss") is not None, timeout=2000)
    text = plots.shown.hover_text("loss")
    assert "step 20" in text
    for runner, label in enumerate(plan.labels):
        assert f"{label} (mean of {N_SEEDS} seeds)" in text
        mean = np.mean([plots.frame.runs[r].smooth.view()[19] for r in plan.members(runner)])
        assert f"{mean:.4g}" in text
    plots.set_log_x(True)  # the view's x is log10 of the step: the readout names the step itself
    hover("loss", np.log10(20), 0.5)
    qtbot.waitUntil(lambda: "step 20" in (plots.shown.hover_text("loss") or ""), timeout=2000)
    qtbot.wait(400)  # let the SignalProxy's timer finish (the fixture fails on live timers)


def test_lesson_marks_follow_the_log_axes(seeded):
    """A mark at (epoch 4, 60 %) sits at log10(4) on a log x axis and back at 4 without it;
    one at a loss sits at log10 of it on the log loss axis."""
    plots, _plan = seeded
    plots.annotate("accuracy", 0, 4.0, 0.6, "here")
    plots.annotate("loss", 0, 20.0, 0.5, "there")
    assert plots.shown.annotations() == [("accuracy", 4.0, 0.6, "here"), ("loss", 20.0, 0.5, "there")]
    plots.set_log_x(True)
    plots.set_log_loss(True)
    (_, ax, ay, _), (_, lx, ly, _) = plots.shown.annotations()
    assert (ax, ay) == pytest.approx((np.log10(4.0), 0.6))
    assert (lx, ly) == pytest.approx((np.log10(20.0), np.log10(0.5)))
    plots.set_log_x(False)
    plots.set_log_loss(False)
    assert plots.shown.annotations() == [("accuracy", 4.0, 0.6, "here"), ("loss", 20.0, 0.5, "there")]


def test_the_warm_up_shading_follows_the_log_x_axis(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    config = {"schedule": {"kind": "constant", "warmup_steps": 15}}
    plots.add_events([ev.RunStarted(0, "warm", "cpu", 100, 10, 40, 4, 3, config)])
    assert [r[:2] for r in plots.shown.warmup_regions()] == [(0, 15)]
    plots.set_log_x(True)
    assert [r[:2] for r in plots.shown.warmup_regions()] == [pytest.approx((0, np.log10(15)))]
    plots.set_log_x(False)
    assert [r[:2] for r in plots.shown.warmup_regions()] == [(0, 15)]


def test_bands_left_over_a_batchs_budget_are_drawn_in_the_next_turns(qtbot, monkeypatch):
    from optiscope.gui.plots import live

    monkeypatch.setattr(live, "BAND_BUDGET_S", 0.0)  # one part's bands per turn of the event loop
    plots = LivePlots()
    qtbot.addWidget(plots)
    plan = race_plan()
    plots.set_seed_plan(plan)
    events = []
    for r in range(len(plan.runs)):  # still training: no Finished, which would draw every band at once
        run = seed_events(r, runner=plan.runner_of[r], k=plan.seed_index_of[r])
        events += [e for e in run if type(e) is not ev.Finished]
    plots.add_events(events)
    assert plots.frame.band_dirty  # most runners wait
    # the runners' items and their bands take turns (a runner's band is drawn once its items
    # are made): every one is drawn once neither waits
    qtbot.waitUntil(lambda: not plots.frame.band_dirty and not plots.frame.items_due, timeout=5000)
    acc = plots.frame.parts["accuracy"]
    for runner in range(len(plan.runners)):
        lead = plots.frame.runs[plan.members(runner)[0]]
        seeds_y = np.array([plots.frame.runs[r].val_acc.view() for r in plan.members(runner)])
        np.testing.assert_allclose(
            acc.items(lead)["mean:acc_val"].getOriginalDataset()[1], seeds_y.mean(axis=0)
        )
