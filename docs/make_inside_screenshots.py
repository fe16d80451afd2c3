"""Render the Inside tab and the gradient check for the docs (offscreen, no display needed).

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_inside_screenshots.py

Trains the 'effective-lr' preset (Adagrad, RMSprop and Adam racing) and the 'l1-vs-l2'
preset in the window at 1280x720, shows the Inside tab and saves
docs/inside-effective-lr-1280x720.png (Adagrad's falling effective rate),
docs/inside-rmsprop-1280x720.png, docs/inside-l1-1280x720.png (zero weights under L1)
docs/gradient-check-1280x720.png (Tools > Gradient check on the same window) and
docs/tuning-recipe-1280x720.png (Tools > Tuning recipe after steps 1, 2 and 4; 900 px wide).
"""

from __future__ import annotations

import sys
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
    from optiscope.gui.gradcheck_dialog import JOB_KEY, open_gradient_check

    dialog = open_gradient_check(win)
    wait(lambda: not win.jobs.busy(JOB_KEY))
    dialog.resize(1280, 720)
    settle()
    path = HERE / "gradient-check-1280x720.png"
    dialog.grab().save(str(path))
    print(f"wrote {path}")
    dialog.close()
    from optiscope.gui.recipe_panel import JOB_KEY as RECIPE_KEY
    from optiscope.gui.recipe_panel import open_recipe

    win.set_experiment(get_preset("effective-lr").with_overrides(epochs=40))
    panel = open_recipe(win)
    panel.check_basics()
    wait(lambda: not win.jobs.busy(RECIPE_KEY))
    panel.train()
    wait(lambda: not win.runs.running)
    panel.resize(900, 720)
    settle()
    path = HERE / "tuning-recipe-1280x720.png"
    panel.grab().save(str(path))
    print(f"wrote {path}")
    panel.close()
    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
