"""Render the Inside tab and the gradient check for the docs (offscreen, no display needed).

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_inside_screenshots.py

Trains the 'effective-lr' preset (Adagrad, RMSprop and Adam racing) and the 'l1-vs-l2'
preset in the window at 1280x720, shows the Inside tab and saves
docs/inside-effective-lr-1280x720.png (Adagrad's falling effective rate),
docs/inside-rmsprop-1280x720.png, docs/inside-l1-1280x720.png (zero weights under L1)
docs/gradient-check-1280x720.png (Tools > Gradient check on the same window),
docs/tuning-recipe-1280x720.png (Tools > Tuning recipe on the studies' blobs run after
steps 1 to 5, its runs stored in a throw-away run store) and docs/tuning-recipe-summary.png
(the one-page summary step 6 exports, 1000 px wide).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import shots  # offscreen, a throwaway settings file; the window and the wait (docs/shots.py)

HERE = Path(__file__).resolve().parent


def main() -> int:
    from optiscope.engine.presets import get_preset

    app, win = shots.open_window(1280, 720, record=False)

    def wait(pred, timeout=600.0):
        shots.wait(app, pred, timeout)

    def settle(seconds: float = 0.5) -> None:
        end = time.perf_counter() + seconds
        wait(lambda: time.perf_counter() > end)

    def shoot(name: str) -> None:
        settle()
        path = HERE / f"{name}-1280x720.png"
        win.grab().save(str(path))
        print(f"wrote {path}")

    wait(lambda: win.engine_loaded)
    inside = win.inside
    for preset, views in (
        ("effective-lr", (("inside-effective-lr", 0, 0), ("inside-rmsprop", 1, 1))),
        ("l1-vs-l2", (("inside-l1", 2, 1),)),
    ):
        exp = get_preset(preset).with_overrides(epochs=40)
        win.set_experiment(exp)
        win.run()
        wait(lambda: not win.runs.running)
        win.views.setCurrentWidget(inside)
        for name, run, layer in views:
            inside.set_run(run)
            inside.set_layer(layer)
            shoot(name)
    from optiscope.gui.gradcheck_dialog import JOB_KEY

    dialog = win.tools.open("gradcheck")
    wait(lambda: not win.jobs.busy(JOB_KEY))
    dialog.resize(1280, 720)
    settle()
    path = HERE / "gradient-check-1280x720.png"
    dialog.grab().save(str(path))
    print(f"wrote {path}")
    dialog.close()
    from optiscope.gui import recipe_panel

    win.set_experiment(get_preset("blobs-sgd"))  # the studies' single run
    win.runs.record = True  # into a throw-away store: the recipe shows where its runs went
    win.runs.store_path = Path(tempfile.mkdtemp()) / "runs.sqlite3"
    panel = win.tools.open("recipe")
    panel.check_basics()
    wait(lambda: not win.jobs.busy(recipe_panel.JOB_KEY))
    panel.check_lr()
    wait(lambda: panel.lr_check is not None and not win.jobs.busy(recipe_panel.LR_JOB_KEY))
    panel.train()
    wait(lambda: panel.gap is not None and not win.runs.running)
    panel.check_schedule()
    wait(lambda: panel.schedule_check is not None and not win.jobs.busy(recipe_panel.SCHEDULE_JOB_KEY))
    wait(lambda: not win.jobs.busy(recipe_panel.STORE_JOB_KEY))
    panel.resize(1280, 720)
    settle()
    path = HERE / "tuning-recipe-1280x720.png"
    panel.grab().save(str(path))
    print(f"wrote {path}")
    with tempfile.TemporaryDirectory() as tmp:
        panel.export_summary(Path(tmp) / "summary.html")
        (HERE / "tuning-recipe-summary.png").write_bytes((Path(tmp) / "summary.png").read_bytes())
    print(f"wrote {HERE / 'tuning-recipe-summary.png'}")
    panel.close()
    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
