"""Tools > Find learning rate: a live range test in the window, and its suggestions applied."""

from __future__ import annotations

import numpy as np
import pytest
from optiscope.engine.lrfind import lr_find, suggest


@pytest.fixture
def window(make_window, quick_blobs):
    w = make_window()
    w.set_experiment(quick_blobs)
    return w


def test_range_test_runs_live_and_applies_each_suggestion(window, qtbot, tmp_path):
    from optiscope.gui.lrfind_dialog import JOB_KEY

    assert window.acts["find_lr"].shortcut().toString() == "Ctrl+L"
    cfg = window.current_run_config()
    window.acts["find_lr"].trigger()
    dialog = window.tools.get("find_lr")
    dialog.iterations_box.setValue(60)
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=60_000)
    dialog.start()  # again with 60 updates: the live curve fills as the test runs
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=60_000)
    res = dialog.result
    # the live points are the test's own updates, and the same settings give the same curve
    assert len(dialog.lrs) == len(res.lrs) and np.allclose(dialog.lrs, res.lrs)
    again = lr_find(cfg, start_lr=1e-7, end_lr=10.0, iterations=60)
    np.testing.assert_allclose(res.losses, again.losses, rtol=1e-6)
    assert res.suggestions == suggest(again.lrs, again.smoothed)
    xs, _ = dialog.smooth_curve.getData()
    assert len(xs) == len(res.lrs)
    assert len(dialog.markers) == len({v for v in res.suggestions.values() if v is not None})
    dialog.grab().save(str(tmp_path / "lr-finder.png"))

    # "Use as learning rate" with the chosen suggestion
    dialog.choice.setCurrentIndex(dialog.choice.findData("valley"))
    dialog.apply_learning_rate()
    assert window.current_run_config().optimizer.lr == pytest.approx(res.suggestions["valley"], rel=1e-3)

    # "Use as cyclical bounds": triangular CLR, step size shown first, 2-10 x updates per epoch
    dialog.step_factor.setValue(6)
    spe = res.settings["iterations_per_epoch"]
    assert f"step size {6 * spe} updates (6 × {spe} updates per epoch)" in dialog.cyclic_text.text()
    dialog.apply_cyclical_bounds()
    sched = window.current_run_config().schedule
    assert (sched.kind, sched.mode, sched.step_size) == ("cyclic", "triangular", 6 * spe)
    assert sched.base_lr == pytest.approx(res.suggestions["clr_base_lr"], rel=1e-3)
    assert sched.max_lr == pytest.approx(res.suggestions["clr_max_lr"], rel=1e-3)

    # "Use as one-cycle maximum"
    dialog.apply_one_cycle()
    sched = window.current_run_config().schedule
    assert sched.kind == "one_cycle" and sched.max_lr == pytest.approx(dialog.one_cycle_max(), rel=1e-3)
    dialog.close()


def test_stop_ends_the_test_and_keeps_what_it_measured(window, qtbot):
    from optiscope.gui.lrfind_dialog import JOB_KEY

    dialog = window.tools.open("find_lr")
    dialog.iterations_box.setValue(3000)
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=60_000)
    dialog.start()
    qtbot.waitUntil(lambda: len(dialog.lrs) > 5, timeout=60_000)
    dialog.stop()
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=60_000)
    assert dialog.result is not None and 5 < len(dialog.result.lrs) < 3000
    assert dialog.run_button.isEnabled() and not dialog.stop_button.isEnabled()
    dialog.close()


def test_clr_vs_fixed_lesson_runs_in_the_window(make_window, qtbot):
    """The clr-vs-fixed lesson without the command line: the Optimizer panel's Find LR
    button runs the range test, its cyclical bounds go into the panels, and the race of
    fixed LR against CLR shows CLR getting going sooner (the lesson's claim: 90 % validation
    accuracy at epoch 2 against 8)."""
    from optiscope.gui.lrfind_dialog import JOB_KEY

    w = make_window()
    w.files.load_preset("clr-vs-fixed")
    w.race.clear_race()
    assert w.current_run_config().schedule.kind == "constant"
    w.acts["compare"].trigger()  # runner 1: SGD at the fixed 0.01
    assert w.optimizer_panel.find_lr_button.defaultAction() is w.acts["find_lr"]
    w.optimizer_panel.find_lr_button.click()
    dialog = w.tools.get("find_lr")
    qtbot.waitUntil(lambda: not w.jobs.busy(JOB_KEY), timeout=60_000)
    dialog.start_box.setValue(1e-4)  # the lesson's settings: 1e-4 -> 10 over 200 updates
    dialog.iterations_box.setValue(200)
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None and not w.jobs.busy(JOB_KEY), timeout=60_000)
    sugg = dialog.result.suggestions
    # the bounds the preset recorded from the command line's range test (0.0495 and 0.198)
    assert sugg["clr_base_lr"] == pytest.approx(0.0495, rel=0.1)
    assert sugg["clr_max_lr"] == pytest.approx(0.198, rel=0.1)
    dialog.step_factor.setValue(4)
    dialog.use_cyclic.click()
    sched = w.current_run_config().schedule
    assert (sched.kind, sched.step_size) == ("cyclic", 60)  # 4 x 15 updates per epoch
    dialog.close()
    w.acts["compare"].trigger()  # runner 2: the same with the range test's CLR
    assert [r.schedule.kind for r in w.document.race] == ["constant", "cyclic"]
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    first_above = {}
    for e in w.runs.epoch_events:
        if e.val_acc >= 0.9 and e.run not in first_above:
            first_above[e.run] = e.epoch
    assert first_above == {1: 2, 0: 8}, first_above


def test_suggestion_labels_never_print_on_top_of_each_other(window, qtbot):
    """blobs: five suggestions within a decade or so; each one's name and value is a line of
    its own (the legend's rows), none overlapping another."""
    from optiscope.gui.lrfind_dialog import JOB_KEY, SUGGESTION_NAMES

    window.acts["find_lr"].trigger()
    dialog = window.tools.get("find_lr")
    dialog.resize(900, 600)
    dialog.show()
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=60_000)
    dialog.iterations_box.setValue(60)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None and not window.jobs.busy(JOB_KEY), timeout=60_000)
    qtbot.wait(50)
    values = {v for v in dialog.result.suggestions.values() if v is not None}
    assert len(values) >= 3
    legend = dialog.plot.getPlotItem().legend
    labels = [label for _sample, label in legend.items if label.text not in ("loss", "smoothed")]
    assert len(labels) == len(values)
    for v in values:  # every value named, with a suggestion's name
        assert any(
            f"{v:.3g}" in lab.text and any(n in lab.text for n in SUGGESTION_NAMES.values()) for lab in labels
        )
    rects = [lab.sceneBoundingRect() for lab in labels]
    for i, r in enumerate(rects):
        assert not any(r.intersects(o) for o in rects[i + 1 :]), rects


def test_a_flat_loss_gets_a_readable_axis(window, qtbot):
    """A range test whose smoothed loss is still flat (the clr-vs-fixed start: 0.6010446 to
    0.6010454) shows at least 5 % of the loss level, not a sliver a millionth tall."""
    window.acts["find_lr"].trigger()
    dialog = window.tools.get("find_lr")
    flat = 0.601045 + 4e-7 * np.sin(np.arange(40))
    lrs = np.geomspace(1e-7, 1e-5, 40)
    dialog._draw_curves(lrs, flat, flat)
    lo, hi = dialog.plot.getPlotItem().vb.viewRange()[1]
    assert hi - lo >= 0.05 * 0.601 and lo < flat.min() and hi > flat.max(), (lo, hi)
