"""Render lessons in presentation mode (offscreen, no display needed), for docs/.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_presentation_shots.py [LESSON ...]

Runs each lesson (default: every bundled lesson of the Lessons menu) to its end in
presentation mode and saves docs/presentation-<lesson>-1280x720.png and -1920x1080.png;
momentum-sweep is saved once more at 1280x720 in the dark theme
(docs/presentation-momentum-sweep-dark-1280x720.png, which shows the toolbar's icons). A
search lesson (random-vs-grid) is shot as its search panel after Run has raced its samplers.
The toolbar shows each lesson's own pace, as in class, but the runs go at full speed (the
picture, not the pace). Offscreen there is no real full screen, so the window is sized instead.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import shots  # offscreen, a throwaway settings file; the window and the wait (docs/shots.py)

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    from optiscope.engine.presets import preset_names

    app, win = shots.open_window(1280, 720, record=False)

    def wait(pred, timeout=900.0):
        shots.wait(app, pred, timeout)

    def save(name: str, size: tuple[int, int], suffix: str = "") -> None:
        win.showNormal()  # offscreen has no real full screen: size the window instead
        win.resize(*size)
        wait(lambda s=size: (win.width(), win.height()) == s, 10)
        end = time.perf_counter() + 0.5
        wait(lambda e=end: time.perf_counter() > e)  # let layouts and plots settle
        path = HERE / f"presentation-{name}{suffix}-{size[0]}x{size[1]}.png"
        win.grab().save(str(path))
        print(f"wrote {path}", flush=True)

    def search_lesson(name: str) -> None:
        """Run races the lesson's samplers in its search panel: the panel is the picture."""
        import tempfile

        from optiscope.gui.search_view import JOB_KEY

        dialog = win.tools.get("search")
        dialog.storage_edit.setText(f"sqlite:///{Path(tempfile.mkdtemp()) / 'studies.sqlite3'}")
        win.run()
        wait(lambda: len(dialog.curves) == 2 and not win.jobs.busy(JOB_KEY) and not dialog.queued)
        for size in ((1280, 720), (1920, 1080)):
            dialog.resize(*size)
            wait(lambda s=size: (dialog.width(), dialog.height()) == s, 10)
            end = time.perf_counter() + 0.5
            wait(lambda e=end: time.perf_counter() > e)
            path = HERE / f"presentation-{name}-{size[0]}x{size[1]}.png"
            dialog.grab().save(str(path))
            print(f"wrote {path}", flush=True)
        dialog.close()

    wait(lambda: win.engine_loaded)
    win.classroom.set_presentation(True)
    for name in names or preset_names():
        win.files.load_preset(name)
        if win.classroom.search_lesson():
            search_lesson(name)
            continue
        done: list[str] = []
        win.run_finished.connect(done.append)
        win.run()  # the lesson's pace goes to the toolbar...
        win.runs.set_delay(0.0)  # ...but the run goes at full speed
        wait(lambda d=done: bool(d))
        win.run_finished.disconnect(done.append)
        win.flush_plots()
        save(name, (1280, 720))
        save(name, (1920, 1080))
        if name == "momentum-sweep":
            win.set_theme("dark")
            save(name, (1280, 720), "-dark")
            win.set_theme("light")
    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
