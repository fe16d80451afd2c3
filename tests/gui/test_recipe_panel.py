"""Tools > Tuning recipe (issue 9): steps 1-2 show the engine's checks, step 4 the run's gap, step 6 exports."""

from __future__ import annotations

from optiscope.engine.recipe import run_recipe
from optiscope.gui.recipe_panel import GAP_CLOSED, JOB_KEY


def test_steps_one_two_four_and_six(qtbot, make_window, quick_blobs, tmp_path) -> None:
    w = make_window()
    w.set_experiment(quick_blobs)
    w.acts["recipe"].trigger()
    panel = w._recipe_panel
    assert panel.check_basics()
    qtbot.waitUntil(lambda: not w.jobs.busy(JOB_KEY), timeout=120_000)
    qtbot.waitUntil(lambda: panel.buttons[0].isEnabled(), timeout=5000)
    want = run_recipe(w.current_run_config())  # the engine's checks, run again here
    assert [c.message for c in panel.checks] == [c.message for c in want]
    assert [c.passed for c in panel.checks] == [c.passed for c in want]
    for c in want:
        mark = "✔" if c.passed else "✘"  # the blobs set-up's initial loss is ~3x ln 3: step 1 fails
        assert f"{mark} {c.message}" in panel.status[c.step - 1].text()
        assert panel.details[c.step - 1].text() == c.advice
    # step 4: the run's train/validation gap at its last epoch
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        panel.train()
    last = [e for e in w.runs.epoch_events if e.run == 0][-1]
    gap = last.train_acc - last.val_acc
    assert panel.gap == gap
    text = panel.status[3].text()
    assert f"gap {100 * gap:.1f} points" in text and (("✔" in text) == (gap <= GAP_CLOSED))
    # step 6: the one-page summary holds every step's line and the plots
    out = tmp_path / "summary.html"
    assert panel.export_summary(out)
    page = out.read_text(encoding="utf-8")
    assert want[0].message in page and f"gap {100 * gap:.1f} points" in page
    assert page.count("data:image/png;base64,") == 2
    assert not panel.export_summary(tmp_path / "missing" / "summary.html")
    assert "not written" in panel.status[5].text()
    panel.close()
