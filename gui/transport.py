"""The transport room of the window: Run, Pause, Step, Stop, Reset, the speed and live-rate keys.

:class:`Transport` turns the run commands of the toolbar and the Run menu into calls on the
:class:`~.run_controller.RunController` (the live run), with what the window must say about
them; it owns the toolbar's speed control (slow motion for a classroom).
"""

from __future__ import annotations

from typing import Any

from optiscope.engine.config import ConfigError
from optiscope.engine.labels import describe_run
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Qt, Slot

from .panels import PanelError
from .run_controller import SPEEDS

__all__ = ["Transport"]


class Transport(QtCore.QObject):
    """The run commands of ``window`` (its ``runs``, ``experiment``, ``document``, status bar)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.runs = window.runs
        self._panel_lr = 0.01  # the Optimizer panel's rate the live run's scale is relative to
        self.speed_slider: QtWidgets.QSlider | None = None
        self.speed_label: QtWidgets.QLabel | None = None
        #: the live run was started by the user (Run, Step, Epoch), not by a lesson starting itself
        self.by_hand = False

    @property
    def running(self) -> bool:
        return self.runs.running

    # ------------------------------------------------------------------ run, step, stop
    def run(self, by_hand: bool = True) -> bool:
        """Start what the Run button names: the race if one is set up, else the panels' settings.

        While a run is live Run never restarts it: a paused run resumes, a running one goes
        on, and the status bar says how to start over (Stop or Reset first). Returns True
        when a new run started. ``by_hand=False``: a lesson starting by itself (``--lesson``).
        """
        w = self.window
        if not self.running and w.classroom.search_lesson():  # a search lesson: Run starts its search
            return w.classroom.start_search_lesson()
        if self.running:
            if self.runs.paused:
                self.runs.toggle_pause()
                w.report("Resumed. Run does not restart a live run: Stop (Esc) or Reset first.")
            else:
                w.report(
                    "A run is in progress: Run does not restart it. Stop (Esc) or Reset (Ctrl+Shift+R) "
                    "first to start again."
                )
            return False
        return self._start(paused=False, by_hand=by_hand)

    def _start(self, paused: bool, by_hand: bool = True) -> bool:
        w = self.window
        if not w.engine_loaded:
            w.report("The engine is still loading; Run is possible in a moment.", error=True)
            return False
        from optiscope.engine.seeds import SeedPlan

        try:
            exp = w.experiment_config()
            runners = exp.runs()
            if len(runners) == 1 and not runners[0].label:
                runners = [runners[0].model_copy(update={"label": describe_run(runners[0])})]
                exp = exp.model_copy(update={"base": runners[0]})
            plan = SeedPlan.of(exp)  # run r: runner r // N, its seed k = r % N
        except (PanelError, ConfigError, ValueError) as exc:
            w.report(f"Cannot run: {exc}", error=True)
            w.experiment.update_derived()
            return False
        self._panel_lr = runners[0].optimizer.lr
        self.runs.start(plan.runs, paused=paused, experiment=exp.name, plan=plan)
        self.by_hand = by_hand
        w.report(self.start_text(plan, race=bool(w.document.race)))
        return True

    @staticmethod
    def start_text(plan: Any, race: bool) -> str:
        """What the status bar says when ``plan`` starts: "Training the race: 3 runners × 10
        seeds (30 runs)." (one seed: the runners' labels, as before seeds)."""
        labels = plan.labels
        n, k = len(labels), plan.n_seeds
        if k > 1:
            what = "the race" if race else f"the current settings ({labels[0]})"
            return f"Training {what}: {n} runner{'s' if n != 1 else ''} × {k} seeds ({n * k} runs)."
        if race:
            return f"Training the race: {n} runs ({', '.join(labels)})."
        return f"Training the current settings: {labels[0]}."

    def stop(self) -> None:
        """Ask the run to stop at its next update; ``run_finished`` follows."""
        if self.runs.stop():
            self.window.statusBar().showMessage("Stopping…", 2000)

    def toggle_pause(self) -> None:
        self.runs.toggle_pause()

    def step_once(self) -> None:
        """One optimizer update, then pause (starts a paused run if none is live)."""
        self._advance(1)

    def step_epoch(self) -> None:
        """Run to the end of the current epoch, then pause."""
        self._advance(self.runs.steps_to_epoch_end(self.window.experiment.planned_steps_per_epoch()))

    def _advance(self, steps: int) -> None:
        if not self.running and not self._start(paused=True):
            return
        self.runs.advance(steps)

    def reset(self) -> None:
        """Stop the run and clear the plots and counters (the settings stay)."""
        self.runs.end()
        self.runs.clear()
        plots = self.window.plots
        if plots is not None:
            plots.clear()
        self.window.refresh()

    # ------------------------------------------------------------------ speed
    def add_speed_control(self, tb: QtWidgets.QToolBar) -> None:
        """The toolbar's speed slider and its label."""
        tb.addWidget(QtWidgets.QLabel(" Speed "))
        slider = self.speed_slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        slider.setObjectName("speed")
        slider.setRange(0, len(SPEEDS) - 1)
        slider.setInvertedAppearance(True)
        slider.setFixedWidth(110)
        slider.setToolTip("slow motion for the classroom: right is faster (Ctrl+[ slower, Ctrl+] faster)")
        slider.valueChanged.connect(self._on_speed)
        tb.addWidget(slider)
        self.speed_label = QtWidgets.QLabel(SPEEDS[0][1])
        self.speed_label.setMinimumWidth(90)
        tb.addWidget(self.speed_label)

    def change_speed(self, steps: int) -> None:
        """Move the speed control ``steps`` notches (positive: slower)."""
        self.set_speed_index(self.speed_slider.value() + steps)

    def set_speed_index(self, index: int) -> None:
        self.speed_slider.setValue(min(max(index, 0), len(SPEEDS) - 1))

    @Slot(int)
    def _on_speed(self, index: int) -> None:
        delay, text = SPEEDS[index]
        self.speed_label.setText(text)
        self.speed_label.setToolTip("")  # a lesson's pace note no longer applies
        self.runs.set_delay(delay)

    # ------------------------------------------------------------------ the live rate
    def scale_lr(self, factor: float) -> None:
        """Ctrl+Up / Ctrl+Down. While a run is live: every rate of its schedule (every
        runner's) times ``factor`` from the next update; the Optimizer panel keeps the rate
        the next Run starts from. With no live run: the panel's learning rate times ``factor``."""
        if self.running:
            if self.runs.scale_live_lr(factor):
                self._report_live_lr(factor)
            return
        box = self.window.experiment.optimizer_panel.lr_box()
        box.setValue(min(max(box.value() * factor, box.minimum()), box.maximum()))
        self.window.report(f"Optimizer panel: learning rate {box.value():g} (for the next Run).")

    def send_live_lr(self) -> bool:
        """The Optimizer panel's rate was edited while one run (not a race) is live: scale
        its schedule by the same factor from the next update. True if it was sent."""
        if not self.running or len(self.runs.live_runs) != 1:
            return False
        try:
            lr = self.window.experiment.optimizer_panel.config().lr
        except PanelError:
            return False
        factor, self._panel_lr = lr / self._panel_lr, lr
        if self.runs.scale_live_lr(factor):
            self._report_live_lr(factor)
        return True

    def _report_live_lr(self, factor: float) -> None:
        runs = self.runs.live_runs
        kinds = sorted({r.schedule.kind for r in runs})
        what = "learning rate" if kinds == ["constant"] else f"whole {'/'.join(kinds)} schedule"
        who = "every runner's" if len(runs) > 1 else "the"
        total = self.runs.live_lr_scale
        self.window.statusBar().showMessage(
            f"Live run: {who} {what} ×{factor:.3g} from the next update (now ×{total:.3g} the rates "
            "set at Run). The Optimizer panel is unchanged: the next Run starts from its rate.",
            8000,
        )
