"""Render the window after a race of 3 runners x 10 seeds, for the README (offscreen).

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_seeds_screenshot.py

The 'adaptive-optimizers' lesson cut to three runners (SGD, RMSprop, Adam) and 40 epochs,
every runner trained with 10 seeds: each runner's mean with its 95 % band on every plot and
the results table's mean ± interval and verdicts. Saves docs/seeds-1280x720.png (and, with
``--every-seed``, docs/seeds-every-seed-1280x720.png with each seed's thin curve too).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import shots  # offscreen, a throwaway settings file; the window and the wait (docs/shots.py)

HERE = Path(__file__).resolve().parent


def seeds_race(epochs: int = 40, seeds: int = 10):
    from optiscope.engine.presets import get_preset

    exp = get_preset("adaptive-optimizers").with_overrides(epochs=epochs, seeds=seeds)
    keep = [v for v in exp.variations if v.get("label") in ("SGD 0.01", "RMSprop 0.001", "Adam 0.001")]
    return type(exp).model_validate({**exp.model_dump(mode="python"), "variations": keep})


def main() -> int:
    app, win = shots.open_window(1280, 720, record=False)

    def wait(pred, timeout=600.0):
        shots.wait(app, pred, timeout)

    wait(lambda: win.engine_loaded)
    exp = seeds_race()
    win.settings.set_lesson_pace(exp.name, 0)  # full speed: the picture is of the finished race
    win.set_experiment(exp)
    finished: list[str] = []
    win.run_finished.connect(finished.append)
    win.run()
    wait(lambda: bool(finished))
    win.flush_plots()
    shots_taken = [("seeds-1280x720.png", False)]
    if "--every-seed" in sys.argv:
        shots_taken.append(("seeds-every-seed-1280x720.png", True))
    for name, every in shots_taken:
        win.plots.set_show_seeds(every)
        end = time.perf_counter() + 0.5
        wait(lambda e=end: time.perf_counter() > e)  # let layouts and plots settle
        path = HERE / name
        win.grab().save(str(path))
        print(f"wrote {path}")
    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
