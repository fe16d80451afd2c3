"""The landscape tab: test-function races and the network surface (issue 5), offscreen."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from optiscope.gui.landscape_view import LandscapeView, gl_available
from PySide6 import QtCore, QtGui


@pytest.fixture
def view(qtbot):
    v = LandscapeView()
    qtbot.addWidget(v)
    v.resize(1100, 650)
    v.show()
    yield v
    v.shutdown()


def test_the_tab_builds_without_importing_torch() -> None:
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6 import QtWidgets; app = QtWidgets.QApplication([])\n"
        "from optiscope.gui.landscape_view import LandscapeView\n"
        "v = LandscapeView(); v.resize(800, 500)\n"
        "assert 'torch' not in sys.modules, 'torch imported while building the tab'\n"
        "v.shutdown(); print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_click_sets_the_start_and_one_step_shows_gradient_and_update(view, qtbot) -> None:
    rv = view.race_view
    view.show()
    qtbot.waitExposed(view)
    rv.set_function("rosenbrock")
    assert rv.start_point == (-1.5, 2.0)
    assert len(rv.race.runners) == 4  # SGD, momentum, RMSprop, Adam checked by default
    assert not gl_available()  # no OpenGL offscreen: the 3D view is never offered

    # click on the plot at data point (0.5, -0.25)
    vb = rv.plot.getViewBox()
    scene_pt = vb.mapViewToScene(QtCore.QPointF(0.5, -0.25))
    widget_pt = rv.plot_widget.mapFromScene(scene_pt)
    qtbot.mouseClick(rv.plot_widget.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=widget_pt)
    qtbot.waitUntil(lambda: rv.start_point != (-1.5, 2.0), timeout=3000)
    x0, x1, _, _ = rv.fn.extent
    pixel = (x1 - x0) / vb.width()
    assert rv.start_point == pytest.approx((0.5, -0.25), abs=3 * pixel)
    for r in rv.race.runners:
        np.testing.assert_allclose(r.positions[0], rv.start_point)
        assert r.steps == 0

    # one step: the race advances once (in the background), arrows start at each optimizer's new point
    rv.step_once()
    rv.step_once()
    qtbot.waitUntil(lambda: not rv.busy, timeout=10_000)
    assert rv.race.steps == 2 and not rv.playing
    for i, r in enumerate(rv.race.runners):
        g, u = rv.arrow_data(i)
        assert len(g) == 6 and len(u) == 6
        np.testing.assert_allclose(g[0], r.position)
        np.testing.assert_allclose(u[0], r.position)
        grad, nxt = r.preview()
        gdir, udir = g[1] - g[0], u[1] - u[0]
        assert np.dot(gdir, -grad) / np.linalg.norm(gdir) / np.linalg.norm(grad) == pytest.approx(1.0)
        assert np.dot(udir, nxt) / np.linalg.norm(udir) / np.linalg.norm(nxt) == pytest.approx(1.0)
    # the readout holds every optimizer's step, loss and distance to (1, 1)
    assert rv.readout.rowCount() == 4
    r0 = rv.race.runners[0]
    assert rv.readout.item(0, 1).text() == "2"
    assert float(rv.readout.item(0, 3).text()) == pytest.approx(np.hypot(*(r0.position - 1.0)), rel=6e-3)

    # play animates through the timer and pause stops it cleanly
    rv.speed.setValue(5)
    rv.play()
    assert rv.playing
    qtbot.waitUntil(lambda: rv.race.steps >= 12, timeout=10_000)
    rv.pause()  # returns once the race's job has ended: nothing steps the race any more
    assert not rv.playing and not rv.busy
    assert rv.readout.item(0, 1).text() == str(rv.race.runners[0].steps)  # drawn where it stopped
    img = view.grab().toImage()
    assert img.width() > 0 and not img.isNull()


def test_race_stops_by_itself_at_the_step_limit(view, qtbot) -> None:
    rv = view.race_view
    rv.set_function("quadratic")
    rv.max_steps.setValue(20)
    rv.speed.setValue(20)
    rv.play()
    qtbot.waitUntil(lambda: not rv.playing, timeout=10_000)
    assert rv.race.steps == 20 and rv.race.done
    # every optimizer heads into the bowl
    for r in rv.race.runners:
        assert r.loss < rv.fn.value(*rv.start_point)
    # a schedule from the engine's configs drives every optimizer's rate per update
    rv.schedule_box.setCurrentIndex(rv.schedule_box.findText("time decay 0.01"))
    assert rv.race.steps == 0  # changing the schedule restarts the race
    rv.step_once()
    rv.step_once()
    qtbot.waitUntil(lambda: not rv.busy, timeout=10_000)
    for r, box_row in zip(rv.race.runners, rv.row_of, strict=True):
        lr0 = rv.lr_boxes[box_row].value()
        assert r.lrs == pytest.approx([lr0, lr0 / 1.01])


def test_race_trails_stand_out_on_the_colour_map_and_the_arrows_have_a_key(view, qtbot) -> None:
    from optiscope.gui.colors import run_color

    rv = view.race_view
    qtbot.waitExposed(view)
    rv.set_function("beale")
    for row in range(1, rv.opt_table.rowCount()):  # SGD alone: no other trail on top of it
        rv.opt_table.item(row, 0).setCheckState(QtCore.Qt.CheckState.Unchecked)
    assert len(rv.race.runners) == 1
    rv.race.step(300)
    rv._redraw(arrows=False)
    image = rv.plot_widget.grab().toImage()
    ratio = image.devicePixelRatio()
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    rgb = raw[:, : 4 * image.width()].reshape(image.height(), image.width(), 4)[..., 2::-1].astype(float)
    vb = rv.plot.getViewBox()
    positions = rv.race.runners[0].positions
    colour = np.array(run_color(rv.row_of[0]).getRgb()[:3], dtype=float)
    checked = 0
    for x, y in positions[40:260:20]:  # points along the middle of the trail
        widget = rv.plot_widget.mapFromScene(vb.mapViewToScene(QtCore.QPointF(x, y)))
        px, py = int(widget.x() * ratio), int(widget.y() * ratio)
        patch = rgb[py - 8 : py + 9, px - 8 : px + 9]
        core = np.linalg.norm(patch - colour, axis=2) < 40
        white = (patch > 235).all(axis=2)
        black = (patch < 30).all(axis=2)
        # a 4-px line crosses a 17-px square with 60 or more pixels of its colour (a 2-px one
        # about 40), edged in white and black (the viridis map itself holds neither)
        assert core.sum() >= 55 and white.sum() >= 20 and black.sum() >= 12, (x, y, core.sum())
        checked += 1
    assert checked == 11
    # the key says what the arrows are
    labels = [label.text for _sample, label in rv.key.items]
    assert any("gradient" in t for t in labels) and any("update" in t for t in labels)
    # below the map: on screen, and covering none of it
    key = rv.key.sceneBoundingRect()
    assert key.height() > 20 and QtCore.QRectF(rv.plot_widget.viewport().rect()).contains(key)
    assert not vb.sceneBoundingRect().intersects(key) and key.top() >= vb.sceneBoundingRect().bottom()


def test_the_race_steps_its_optimizers_off_the_gui_thread(view, qtbot) -> None:
    import threading

    rv = view.race_view
    rv.set_function("quadratic")
    race = rv.race
    threads = set()
    step = race.step

    def recording_step(n=1):
        threads.add(threading.current_thread())
        return step(n)

    race.step = recording_step
    frames = []
    rv.stepped.connect(frames.append)
    rv.step_once()
    qtbot.waitUntil(lambda: not rv.busy, timeout=10_000)
    rv.speed.setValue(2)
    rv.play()
    qtbot.waitUntil(lambda: race.steps >= 11, timeout=10_000)
    rv.pause()
    assert threads and threading.main_thread() not in threads
    assert frames[0] == 1 and frames == sorted(frames)  # drawn from the job's frames, in order


def _training_events(n_runs: int = 2) -> list:
    from optiscope.engine import events as ev
    from optiscope.engine.config import RunConfig
    from optiscope.engine.runner import execute

    runs = [
        RunConfig.model_validate(
            {"training": {"epochs": 2, "seed": 1}, "optimizer": {"kind": "sgd", "lr": 0.1}}
        ),
        RunConfig.model_validate(
            {"training": {"epochs": 2, "seed": 1}, "optimizer": {"kind": "adam", "lr": 0.01}}
        ),
    ][:n_runs]
    events: list = []
    bus = ev.EventBus()
    bus.subscribe(events.append)
    execute(runs, bus=bus, weights_every=2)
    return events


def test_network_surface_is_computed_in_the_background_from_weight_events(view, qtbot) -> None:
    from optiscope.engine import events as ev

    events = _training_events()
    sv = view.surface_view
    view.set_mode("network")
    sv.grid_box.setValue(31)
    # the first batches: too few snapshots for a plane
    first = [e for e in events if not isinstance(e, ev.Weights)][:2] + [
        e for e in events if isinstance(e, ev.Weights)
    ][:2]
    import torch

    rng = torch.random.get_rng_state()  # the training thread's generator: the job must not draw from it
    view.add_events(first)
    assert not sv.busy and sv.plane is None
    # the first half of the training: a plane, then the rest of the path drawn live on it
    half = len(events) // 2
    view.add_events(events[:half])
    assert sv.busy  # the job runs in a worker thread; the GUI thread returns at once
    with qtbot.waitSignal(sv.paths_ready, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: not sv.busy, timeout=60_000)
    before = len(sv.run_paths[0].getData()[0])
    early_plane = sv.plane
    more = [e for e in events[half:] if isinstance(e, ev.Weights) and e.run == 0][:3]
    view.add_events(more)
    assert sv.plane is early_plane and len(sv.run_paths[0].getData()[0]) == before + len(more)
    view.add_events([e for e in events[half:] if e not in more])
    with qtbot.waitSignal(sv.paths_ready, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: not sv.busy and sv.plane is not early_plane, timeout=60_000)
    assert sv.surface is not None and sv.surface.final and sv.surface.loss.shape == (31, 31)
    assert not sv.busy
    n_snaps = {r: sum(1 for e in events if isinstance(e, ev.Weights) and e.run == r) for r in (0, 1)}
    # both runs share one plane: two paths drawn, every snapshot projected
    for run in (0, 1):
        x, y = sv.run_paths[run].getData()
        assert len(x) == n_snaps[run]
        np.testing.assert_allclose(np.column_stack([x, y]), sv.path_coords(run))
    np.testing.assert_allclose(sv.path_coords(0)[-1], 0.0, atol=1e-6)  # origin = run 0's final weights
    assert len(sv.reports) == 2 and len(sv.compare_items) == 4
    # runs are named by their labels, as in the training plots, not "run 0/1"
    labels = {e.run: e.label for e in events if isinstance(e, ev.RunStarted)}
    assert all(labels.values()) and len(set(labels.values())) == 2
    names = [item.name() for item in sv.compare_items]
    assert names == [f"{labels[r]} {part}" for r in (0, 1) for part in ("true", "slice")]
    assert [label.text for _sample, label in sv.compare_key.items] == [labels[0], labels[1]]
    assert all(labels[r] in sv.status.text() for r in (0, 1)) and "run 0" not in sv.status.text()
    # the light theme's plots are light (pyqtgraph's own default is black)
    for widget in (sv.plot_widget, sv.compare, view.race_view.plot_widget):
        assert widget.backgroundBrush().color().lightness() > 200
    rep = sv.reports[0]
    assert rep.slice_loss[-1] == pytest.approx(rep.true_loss[-1], rel=1e-4)
    assert "Trajectory variance in the plane" in sv.info.text() and "training set" in sv.info.text()
    assert torch.equal(rng, torch.random.get_rng_state())
    # the 1-D line
    sv.grid_box.setValue(21)
    sv.plane_box.setCurrentIndex(sv.plane_box.findData("interp"))
    with qtbot.waitSignal(sv.paths_ready, timeout=60_000):
        pass
    assert sv.surface.plane.is_line and sv.surface.loss.shape == (1, 21)
    x, _ = sv.line_curve.getData()
    assert len(x) == 21
    view.show()
    img = view.grab().toImage()
    assert not img.isNull()
    # a new experiment (run ids start again) clears the view
    view.add_events([e for e in events if isinstance(e, ev.RunStarted)][:1])
    assert sv.plane is None and sv.reports == [] and not sv.run_paths


def test_surface_errors_are_reported_not_raised(view, qtbot) -> None:
    from optiscope.engine import events as ev

    sv = view.surface_view
    view.set_mode("network")  # the surface is computed only while its tab is in view
    sv.grid_box.setValue(11)
    bad_config = {"dataset": {"name": "blobs"}, "model": {"layers": []}}  # 2 -> 3 logits: 9 params
    vec = np.zeros(7)  # but the snapshots carry 7 numbers
    events = [ev.RunStarted(0, "x", "cpu", 9, 1, 1, 1, 3, bad_config)]
    events += [ev.Weights(0, k, 1, vec + k) for k in range(4)]
    view.add_events(events)
    qtbot.waitUntil(lambda: not sv.busy, timeout=30_000)
    assert sv.error is not None and "could not be computed" in sv.status.text()


def test_render_to_image_paints(view, qtbot) -> None:
    view.race_view.ensure_ready()
    image = QtGui.QImage(800, 500, QtGui.QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QtGui.QPainter(image)
    view.render(painter, QtCore.QPoint())
    painter.end()
    assert image.pixelColor(400, 250).alpha() > 0


def test_the_window_shows_the_landscape_tab_and_feeds_it_events(qtbot, make_window, quick_blobs) -> None:
    w = make_window()
    view = w.landscape
    titles = [w.views.tabText(i) for i in range(w.views.count())]
    assert "Landscape" in titles and w.views.widget(titles.index("Landscape")) is view
    w.set_experiment(quick_blobs)
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        assert w.run()
    sv = view.surface_view
    assert 0 in sv.configs  # the run's events reached the view
    assert len(sv.snapshots.get(0, [])) >= 3  # the window asks the engine for weight snapshots
    # while the Training tab is in front the hidden surface view computes nothing ...
    assert sv.surface is None and not sv.busy
    # ... and once the user opens it, the surface appears
    w.views.setCurrentWidget(view)
    view.tabs.setCurrentWidget(sv)
    qtbot.waitUntil(lambda: sv.surface is not None and not sv.busy, timeout=60_000)
    assert sv.surface.final
    w.close()
    assert not sv.busy and not view.race_view.busy


def _inside(widget, item) -> bool:
    """Whether ``item``'s drawn box (scene) lies within ``widget``'s viewport."""
    box = QtCore.QRectF(widget.viewport().rect()).adjusted(-0.5, -0.5, 0.5, 0.5)
    return box.contains(widget.mapFromScene(item.sceneBoundingRect()).boundingRect().toRectF())


def _text_inside(widget, label) -> bool:
    """Whether a LabelItem's text (less its blank margin) lies within ``widget``'s viewport."""
    m = label.item.document().documentMargin()
    rect = label.item.mapRectToScene(label.item.boundingRect().adjusted(m, m, -m, -m))
    box = QtCore.QRectF(widget.viewport().rect()).adjusted(-0.5, -0.5, 0.5, 0.5)
    return box.contains(widget.mapFromScene(rect).boundingRect().toRectF())


@pytest.mark.parametrize("width", [940, 1280, 1920])
def test_landscape_titles_keys_and_axes_stay_on_screen(view, qtbot, width) -> None:
    """At the width the tab has at 1280x720 beside the lesson panel (940 px), at 1280 and at
    1920: the race's key and the surface comparison's title, key and x axis are drawn within
    their plots (they were cut at the right edge), and the keys cover no curve."""
    import dataclasses

    from optiscope.engine import events as ev

    longs = {
        0: "SGD + momentum 0.9 + warm-up + cosine, lr=0.1",
        1: "AdamW + warm-up + WSD, lr=0.01 — stopped",
    }
    events = [
        dataclasses.replace(e, label=longs[e.run]) if isinstance(e, ev.RunStarted) else e
        for e in _training_events()
    ]
    view.resize(width, 650)
    qtbot.waitUntil(lambda: view.width() == width)
    rv, sv = view.race_view, view.surface_view
    view.set_mode("functions")
    rv.set_function("rosenbrock")
    qtbot.wait(50)
    assert rv.plot.sceneBoundingRect().width() <= rv.plot_widget.viewport().width() + 0.5
    assert _inside(rv.plot_widget, rv.key)
    for _sample, label in rv.key.items:
        assert _text_inside(rv.plot_widget, label), (width, label.text)
    view.set_mode("network")
    sv.grid_box.setValue(11)
    view.add_events(events)
    qtbot.waitUntil(lambda: sv.surface is not None and sv.surface.final and not sv.busy, timeout=120_000)
    qtbot.waitUntil(lambda: len(sv.compare_key.items) == 2)
    qtbot.wait(50)
    widget, plot = sv.compare, sv.compare_plot
    assert plot.sceneBoundingRect().width() <= widget.viewport().width() + 0.5, width
    assert _text_inside(widget, plot.titleLabel), (width, plot.titleLabel.text)
    assert _inside(widget, plot.getAxis("bottom"))
    assert _inside(widget, sv.compare_key)
    for _sample, label in sv.compare_key.items:
        assert _text_inside(widget, label), (width, label.text)
        assert label.text.rstrip("…")[:6] in " ".join(longs.values())  # at least a readable stub
    # the key is under the plot: it covers no curve
    assert sv.compare_key.sceneBoundingRect().top() >= plot.vb.sceneBoundingRect().bottom()
