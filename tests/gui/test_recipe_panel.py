"""Tools > Tuning recipe (issue 9): every step shows the engine's check, the runs are stored as one
recipe, step 6 exports the summary as HTML and PNG."""

from __future__ import annotations

import math

from optiscope.engine.recipe import SCHEDULE_MARGIN, SCHEDULE_SEEDS, lr_range_check, run_recipe, schedule_runs
from optiscope.engine.store import RunStore
from optiscope.engine.trainer import train
from optiscope.gui.recipe_panel import GAP_CLOSED, JOB_KEY, LR_JOB_KEY, SCHEDULE_JOB_KEY, SUMMARY_WIDTH
from PySide6 import QtGui


def test_every_step_checked_stored_as_one_recipe_and_exported(qtbot, make_window, quick_blobs, tmp_path):
    w = make_window()
    w.runs.store_path = tmp_path / "runs.sqlite3"
    w.set_experiment(quick_blobs)
    w.acts["recipe"].trigger()
    panel = w.tools.get("recipe")
    assert panel.group.startswith("recipe ") and panel.group.endswith(" · quick")
    assert panel.group in panel.group_note.text()
    # steps 1-2
    assert panel.check_basics()
    qtbot.waitUntil(lambda: not w.jobs.busy(JOB_KEY), timeout=120_000)
    qtbot.waitUntil(lambda: panel.buttons[0].isEnabled(), timeout=5000)
    cfg = w.current_run_config()
    want = run_recipe(cfg)  # the engine's checks, run again here
    assert [c.message for c in panel.checks] == [c.message for c in want]
    assert [c.passed for c in panel.checks] == [c.passed for c in want]
    for c in want:
        mark = "✔" if c.passed else "✘"  # the blobs set-up's initial loss is ~3x ln 3: step 1 fails
        assert f"{mark} {c.message}" in panel.status[c.step - 1].text()
        assert panel.details[c.step - 1].text() == c.advice
    # step 3: the range test's verdict; a passing suggestion becomes the panels' rate
    assert panel.check_lr()
    qtbot.waitUntil(lambda: panel.lr_check is not None and not w.jobs.busy(LR_JOB_KEY), timeout=120_000)
    check3, _ = lr_range_check(cfg)
    assert panel.lr_check.message == check3.message and panel.lr_check.passed == check3.passed
    assert check3.passed  # Adam on the blobs falls well before it blows up
    assert w.current_run_config().optimizer.lr == check3.numbers["suggested_lr"]
    assert f"✔ {check3.message}" in panel.status[2].text()
    # step 4: the run's train/validation gap at its last epoch
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        panel.train()
    last = [e for e in w.runs.epoch_events if e.run == 0][-1]
    gap = last.train_acc - last.val_acc
    assert panel.gap == gap
    text = panel.status[3].text()
    assert f"gap {100 * gap:.1f} points" in text and (("✔" in text) == (gap <= GAP_CLOSED))
    # step 5: constant against the plateau at the picked rate over 2 seeds, against the four runs
    # trained alone (the default is SCHEDULE_SEEDS)
    assert panel.seeds_box.value() == SCHEDULE_SEEDS
    panel.seeds_box.setValue(2)
    assert panel.check_schedule()
    qtbot.waitUntil(
        lambda: panel.schedule_check is not None and not w.jobs.busy(SCHEDULE_JOB_KEY), timeout=120_000
    )
    cfg = w.current_run_config()
    alone = {
        (name, k): train(
            r.model_copy(update={"training": r.training.model_copy(update={"seed": r.training.seed + k})}),
            keep_model=False,
            stats_every=0,
        ).final.val_acc
        for name, r in zip(
            ("constant", "schedule"), schedule_runs(cfg, check3.numbers["suggested_lr"]), strict=True
        )
        for k in range(2)
    }
    n = panel.schedule_check.numbers
    assert n["seeds"] == 2
    for name in ("constant", "schedule"):
        mean = (alone[name, 0] + alone[name, 1]) / 2
        assert math.isclose(n[f"{name}_final_val_acc"], mean, abs_tol=1e-6)
    diff = [alone["schedule", k] - alone["constant", k] for k in range(2)]
    assert math.isclose(n["difference"]["mean"], sum(diff) / 2, abs_tol=1e-6)
    assert panel.schedule_check.passed == (not n["difference"]["high"] < -SCHEDULE_MARGIN)
    assert "over 2 seeds" in panel.status[4].text() and n["verdict"] in panel.status[4].text()
    # every run of the recipe is stored under the recipe's name: step 2, 3, the window's run, step 5's
    # two contenders x 2 seeds
    qtbot.waitUntil(lambda: not w.jobs.busy("recipe_store"), timeout=30_000)
    store = RunStore(w.runs.store_path)
    mine = [s for s in store.list_runs() if s.experiment == panel.group]
    store.close()
    labels = [s.label for s in mine]
    assert len(mine) == 7 and labels[0].startswith("recipe step 2") and labels[1].startswith("recipe step 3")
    assert labels[2] == w.runs.label(0) and labels[3].startswith("recipe step 4-5: constant")
    # step 6: the one-page summary holds every step's line and the plots, as HTML and as PNG
    out = tmp_path / "summary.html"
    assert panel.export_summary(out)
    page = out.read_text(encoding="utf-8")
    assert want[0].message in page and f"gap {100 * gap:.1f} points" in page
    assert panel.schedule_check.message in page and panel.lr_check.message in page
    assert page.count("data:image/png;base64,") == 2
    picture = QtGui.QImage(str(tmp_path / "summary.png"))
    assert picture.width() == SUMMARY_WIDTH and picture.height() > 600
    assert not (tmp_path / "summary.png.part").exists()
    assert not panel.export_summary(tmp_path / "missing" / "summary.html")
    assert "not written" in panel.status[5].text()
    panel.close()
