"""Render the Optiscope window during a run, for the README (offscreen, no display needed).

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_screenshots.py

Loads the 'adaptive-optimizers' lesson (4 optimizers racing on the studies' blobs), runs it
with 60 epochs, pauses while the last runner is half-way, and saves
docs/screenshot-1280x720.png and docs/screenshot-1920x1080.png.
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

    def wait(pred, timeout=300.0):
        shots.wait(app, pred, timeout)

    wait(lambda: win.engine_loaded)
    exp = get_preset(sys.argv[1] if len(sys.argv) > 1 else "adaptive-optimizers").with_overrides(epochs=60)
    win.set_experiment(exp)
    n = len(exp.runs())
    win.run()
    wait(lambda: any(e.run == n - 1 and e.epoch >= 30 for e in win.runs.epoch_events))
    win.transport.toggle_pause()
    win.flush_plots()
    for size in ((1280, 720), (1920, 1080)):
        win.resize(*size)
        wait(lambda s=size: (win.width(), win.height()) == s, 10)
        if win.lesson_box.toPlainText():
            win.lesson_dock.show_lesson(exp)  # placed for this width: a tab at 1280, beside the plots at 1920
        end = time.perf_counter() + 0.5
        wait(lambda e=end: time.perf_counter() > e)  # let layouts and plots settle
        path = HERE / f"screenshot-{size[0]}x{size[1]}.png"
        win.grab().save(str(path))
        print(f"wrote {path}")
    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
