"""Render lessons in presentation mode (offscreen, no display needed), for docs/.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_presentation_shots.py [LESSON ...]

Runs each lesson (default: the five lessons with observations) to its end at full speed in
presentation mode and saves docs/presentation-<lesson>-1280x720.png; momentum-sweep is also
saved at 1920x1080. Offscreen there is no real full screen, so the window is sized instead.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import shots  # offscreen, a throwaway settings file; the window and the wait (docs/shots.py)

HERE = Path(__file__).resolve().parent
LESSONS = ("momentum-sweep", "optimizer-race", "adaptive-optimizers", "plateau-patience", "overfitting-cures")


def main(names: list[str]) -> int:

    app, win = shots.open_window(1280, 720, record=False)

    def wait(pred, timeout=600.0):
        shots.wait(app, pred, timeout)

    wait(lambda: win.engine_loaded)
    win.classroom.set_presentation(True)
    for name in names:
        win.settings.set_lesson_pace(name, 0)  # full speed: the picture, not the pace
        win.load_preset(name)
        done: list[str] = []
        win.run_finished.connect(done.append)
        win.run()
        wait(lambda d=done: bool(d))
        win.run_finished.disconnect(done.append)
        win.flush_plots()
        sizes = [(1280, 720)] + ([(1920, 1080)] if name == "momentum-sweep" else [])
        for size in sizes:
            win.showNormal()  # offscreen has no real full screen: size the window instead
            win.resize(*size)
            wait(lambda s=size: (win.width(), win.height()) == s, 10)
            end = time.perf_counter() + 0.5
            wait(lambda e=end: time.perf_counter() > e)
            path = HERE / f"presentation-{name}-{size[0]}x{size[1]}.png"
            win.grab().save(str(path))
            print(f"wrote {path}")
    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(LESSONS)))
