"""The classroom room of the window: lessons, their observations, pace and presentation mode.

:class:`Classroom` watches the window (its document, its run's events, its speed control)
and owns what a teacher in front of a class uses:

* the **results table** under the plots (:mod:`.results_table`), filled live from an
  :class:`~optiscope.engine.lessons.ObservationDetector`, and the plot **annotations** at
  the moment each observation happens;
* the lesson's **pace**: a lesson's ``pace_seconds`` sets slow motion so the lesson takes
  about that long; moving the speed control while a lesson is open is remembered for that
  lesson (settings ``pace/<lesson>``); Replay reruns at the same pace;
* **lesson files**: File → Open lesson, and :func:`resolve_lesson` for ``--lesson FILE|NAME``;
* **presentation mode** (View → Presentation, F11): full screen, side panels folded away,
  the plots' projector look (:mod:`.plots.presentation`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.engine.config import ConfigError, ExperimentConfig, load_toml
from optiscope.engine.lessons import Classroom as LessonSection
from optiscope.engine.lessons import ObservationDetector
from optiscope.engine.seed_captions import seeded_moments
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Slot

from .results_table import ResultsTable
from .run_controller import SPEEDS
from .window_files import export_text
from .window_recorder import PlotRecorder

if TYPE_CHECKING:
    from .plots import LivePlots

#: how long a window manager gets to honour full screen before the window sizes itself
FULL_SCREEN_WAIT_MS = 400

__all__ = ["Classroom", "resolve_lesson", "pace_delay"]

# the results table's share of the plots' room at most (it scrolls past that; the splitter
# handle between them moves it, and dragged down to the bottom it folds away). Presenting,
# the rows are the lesson's answer: every bundled lesson's rows show whole at 1280x720 (up
# to 8 runs), and the plots give up the room
TABLE_SHARE = 0.3
PRESENTING_TABLE_SHARE = 0.5
# while runs train the table is rebuilt at most this often (a many-seed race rebuilds every
# runner's intervals and verdicts, 10-40 ms of the GUI thread); when the run ends, at once
TABLE_REFRESH_MS = 300


def resolve_lesson(spec: str) -> tuple[ExperimentConfig, Path | None]:
    """A lesson by file path or bundled name (``momentum-sweep``); ConfigError says which
    files and names were tried."""
    from optiscope.engine.presets import get_preset, preset_names

    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        return load_toml(path), path
    try:
        return get_preset(spec), None
    except ConfigError:
        raise ConfigError(
            f"no lesson file or bundled lesson named {spec!r}; give a .toml file or one of: "
            + ", ".join(preset_names())
        ) from None


def pace_delay(runs: list[Any], pace_seconds: float) -> float:
    """Slow-motion delay per update so ``runs`` take about ``pace_seconds`` in all.

    Runs that train batched together share their updates (``runner.plan_batches``); the
    others run one after another. Needs the engine (torch) loaded.
    """
    from optiscope.engine.config import steps_per_epoch
    from optiscope.engine.data import dataset_shape
    from optiscope.engine.runner import plan_batches

    def updates(i: int) -> int:
        r = runs[i]
        return r.training.epochs * steps_per_epoch(dataset_shape(r.dataset)["n_train"], r.training.batch_size)

    groups, alone = plan_batches(runs) if len(runs) > 1 else ([], {0: ""})
    total = sum(max(updates(i) for i in g) for g in groups) + sum(updates(i) for i in alone)
    return pace_seconds / max(total, 1)


class Classroom(QtCore.QObject):
    """Lessons, results table, annotations, pace and presentation mode for ``window``."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.lesson: LessonSection | None = None
        self.lesson_name = ""
        self.detector = ObservationDetector()
        self.table = ResultsTable()
        self.table.hide()
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.splitter.setObjectName("plotsAndResults")
        self.splitter.addWidget(self.table)
        self.splitter.installEventFilter(self)  # resized (a projector's size): the table's share again
        window.plots_holder.layout().addWidget(self.splitter)
        self.presenting = False
        self._docks_before: dict[Any, bool] = {}
        self._was_maximized = False
        self._geometry_before: QtCore.QRect | None = None
        self._filled_screen = False  # presentation sized the window itself (no window manager)
        self.pace_note = ""
        self._pace_on = False  # a lesson's own pace is applied (not one of the control's speeds)
        self._rows_shared = 0
        self._table_timer = QtCore.QTimer(self)
        self._table_timer.setObjectName("optiscope-results-table")
        self._table_timer.setSingleShot(True)
        self._table_timer.setInterval(TABLE_REFRESH_MS)
        self._table_timer.timeout.connect(self.refresh_table)
        self._captioned: set[int] = set()  # runners of several seeds whose captions are drawn
        self.recorder = PlotRecorder(
            lambda: window.plots, lambda text, error: window.report(text, error), self
        )
        window.document.meta_changed.connect(self._on_meta)
        window.document.loaded.connect(self._on_loaded)
        window.run_started.connect(self._on_run_started)
        window.events_received.connect(self._on_events)
        window.run_finished.connect(self.refresh_table)
        window.transport.speed_slider.valueChanged.connect(self._on_user_speed)
        self._on_meta(window.document.meta)

    # ------------------------------------------------------------------ lesson
    def attach_plots(self, plots: LivePlots) -> None:
        """The plots exist now: they and the table share a splitter; presentation applies to them."""
        self.window.plots_holder.layout().removeWidget(plots)
        self.splitter.insertWidget(0, plots)
        self.splitter.setCollapsible(0, False)
        self.splitter.setCollapsible(1, True)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.share_table()
        if self.presenting:
            plots.set_presentation(True)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt API)
        # a closed window's collection clears this object's attributes while Qt still sends
        # the splitter's last events: nothing to share out then
        splitter = self.__dict__.get("splitter")
        if splitter is not None and watched is splitter and event.type() == QtCore.QEvent.Type.Resize:
            # after the splitter has shared out its new size itself (it would undo ours)
            QtCore.QTimer.singleShot(0, self, self.share_table)
        return False

    @Slot(object)
    def _on_meta(self, meta: ExperimentConfig) -> None:
        self.lesson = meta.classroom
        self.lesson_name = meta.name
        observe = self.lesson.observe if self.lesson is not None else ()
        self.table.set_lesson(observe, self.lesson.question if self.lesson is not None else "")
        self.table.show_outcomes([])
        self.table.setVisible(self.lesson is not None)
        self.share_table()

    def share_table(self) -> None:
        """Give the table the height of its rows, at most its share of the room; rows that
        scroll show whole."""
        if "splitter" not in self.__dict__:  # collected meanwhile (see eventFilter)
            return
        if self.splitter.count() < 2 or not self.table.isVisibleTo(self.window):
            return
        total = sum(self.splitter.sizes()) or self.splitter.height()
        width = self.splitter.width()
        share = PRESENTING_TABLE_SHARE if self.presenting else TABLE_SHARE
        self.table.fit_columns(width)  # long headers may take two lines: the header's height
        wanted = self.table.wanted_height(width)
        plots = self.splitter.widget(0)
        least = plots.minimumSizeHint().height() if plots is not self.table else 0  # the plots' least
        table = min(wanted, int(total * share), total - least)
        if table < wanted:  # it scrolls: whole rows only, never a row cut through its text
            table -= (table - (wanted - self.table.rows_height())) % self.table.row_height()
        self.splitter.setSizes([total - table, table])

    @Slot(object)
    def _on_loaded(self, exp: ExperimentConfig) -> None:
        """A lesson opened while presenting: its text waits in the folded side panels. A
        search lesson opens its search, ready to start."""
        if self.presenting:
            self._docks_before[self.window.lesson_dock] = self.window.lesson_dock.isVisible()
            self.window.lesson_dock.hide()
        if exp.search is not None and not exp.variations:
            self.window.tools.open("search").load_space(exp.search)

    def search_lesson(self) -> bool:
        """The open lesson is a search (its Run races the samplers, not a training run)."""
        doc = self.window.document
        return doc.meta.search is not None and not doc.race

    def start_search_lesson(self) -> bool:
        """Run for a search lesson: its search panel races random search against the grid."""
        dialog = self.window.tools.open("search")
        if not dialog.busy():
            dialog.load_space(self.window.document.meta.search)
        return dialog.race_samplers(("random", "grid"))

    @Slot()
    def _on_run_started(self) -> None:
        self._table_timer.stop()
        self.detector = ObservationDetector(self.lesson.observe if self.lesson is not None else ())
        self.table.set_plan(self.window.runs.plan)  # several seeds: a row per runner
        self._captioned = set()
        self.table.show_outcomes([])
        self.table.show()
        self._apply_pace()
        # the table takes its height now, with the run's start (its rows are known: one per run,
        # or per runner of several seeds), not mid-run: a height change re-lays out and repaints
        # every plot, a stall of 10-40 ms while the curves are drawn
        self._rows_shared = self._table_shape()
        self.share_table()

    @Slot(object)
    def _on_events(self, events: list) -> None:
        from optiscope.engine import events as ev

        moments = self.detector.feed(events)
        plan = self.window.runs.plan
        if plan is not None and plan.n_seeds > 1:
            # several seeds: no seed speaks for its runner; once all its seeds have finished, the
            # runner's captions state their mean ± interval on its mean curve
            ended = [e.run for e in events if type(e) is ev.Finished]
            moments = seeded_moments(plan, self.detector, self._captioned, ended) if ended else []
        plots = self.window.plots
        if plots is not None and moments:
            # the curves first, so the marks sit on drawn points (only then: every batch drawn
            # at once would undo the run controller's pacing of the plots)
            self.window.flush_plots()
            for m in moments:
                plots.annotate(m.plot, m.run, m.x, m.y, m.caption)
        if not self._table_timer.isActive() and any(
            type(e) in (ev.EpochEnd, ev.Finished, ev.RunStarted) for e in events
        ):
            self._table_timer.start()  # the outcomes changed: the table follows (paced)

    @Slot()
    def refresh_table(self) -> None:
        """Show the detector's outcomes in the results table now (it follows the runs paced,
        at most every :data:`TABLE_REFRESH_MS`, and at once when the run ends)."""
        self._table_timer.stop()
        if "detector" not in self.__dict__:  # collected meanwhile (see eventFilter)
            return
        outcomes = self.detector.outcomes()
        self.table.show_outcomes(outcomes)
        # a row more, or a header grown to two lines (a runner's row of several seeds
        # fills in as its seeds train): the table's height again, once
        shape = self._table_shape()
        if shape != self._rows_shared:
            self._rows_shared = shape
            self.share_table()

    def _table_shape(self) -> int:
        return hash((self.table.table.rowCount(), self.table.wanted_height()))

    def stop(self) -> None:
        """The window closes: no table refresh is left waiting."""
        self._table_timer.stop()

    def open_lesson_dialog(self) -> None:
        """File → Open lesson: a lesson (experiment) file."""
        doc = self.window.document
        start = str(doc.path.parent) if doc.path else str(Path.home())
        chosen, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Open lesson", start, "Lessons (*.toml);;All files (*)"
        )
        if chosen:
            self.window.files.open_experiment(chosen)

    def export_results_dialog(self) -> None:
        if not self.detector.outcomes():
            self.window.report("No results yet: run the lesson first.", error=True)
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Export results", str(Path.home() / f"{self.lesson_name}-results.csv"), "CSV (*.csv)"
        )
        if path:
            self.export_results(path)

    def export_results(self, path: str | Path) -> bool:
        text = self.table.csv_text()
        return export_text(path, text, self.window.report, "Results", "Exported the results table to {name}")

    def export_sheet_dialog(self) -> None:
        """File → Export lesson sheet: a PDF handout of the lesson as it ended."""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window,
            "Export lesson sheet",
            str(Path.home() / f"{self.lesson_name}-sheet.pdf"),
            "PDF (*.pdf)",
        )
        if path:
            self.export_sheet(path)

    def export_sheet(self, path: str | Path) -> bool:
        """Write the lesson sheet (lesson text, the plots now, the results table, the
        experiment's settings) as a PDF to ``path``; reports the outcome in the status bar."""
        from optiscope.engine.config import dumps_toml
        from optiscope.gui.handout import LessonSheet, write_lesson_sheet
        from optiscope.gui.panels import PanelError

        window = self.window
        try:
            exp = window.experiment_config()
        except PanelError as exc:  # a panel holding an invalid value: say which, write nothing
            window.report(f"Lesson sheet not exported: {exc}", error=True)
            return False
        plots = window.plots
        window.flush_plots()
        image = plots.grab().toImage() if plots is not None else QtGui.QImage()
        sheet = LessonSheet(
            exp.name,
            exp.description,
            exp.lesson,
            self.lesson.question if self.lesson is not None else "",
            image,
            self.table.headers() if self.detector.outcomes() else [],
            self.table.rows() if self.detector.outcomes() else [],
            dumps_toml(exp),
        )
        try:
            pages = write_lesson_sheet(sheet, path)
        except OSError as exc:
            window.report(f"Lesson sheet not exported: {exc}", error=True)
            return False
        window.report(f"Exported the lesson sheet to {Path(path).name} ({pages} pages)")
        return True

    def replay(self) -> None:
        """Run the lesson again from the start, at the same pace."""
        self.window.run()

    # ------------------------------------------------------------------ recording
    def toggle_recording(self) -> None:
        """File → Record: start (asks for a .gif/.mp4 file) or stop and write the recording."""
        if self.recorder.recording:
            self.stop_recording()
            return
        name = self.lesson_name or "optiscope"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Record the plots", str(Path.home() / f"{name}.gif"), "GIF (*.gif);;MP4 (*.mp4)"
        )
        if not path or not self.start_recording(path):
            self._check_record_action(False)

    def start_recording(self, path: str | Path) -> bool:
        started = self.recorder.start(path)
        self._check_record_action(started)
        return started

    def stop_recording(self) -> Path | None:
        written = self.recorder.stop()
        self._check_record_action(False)
        return written

    def _check_record_action(self, on: bool) -> None:
        act = self.window.acts.actions.get("record")
        if act is not None:
            act.setChecked(on)

    # ------------------------------------------------------------------ pace
    def _apply_pace(self) -> None:
        """A lesson's remembered speed, else its own pace; nothing without a lesson pace, nor
        once the user has left the lesson's race (Clear race: Run trains the panels)."""
        if self.lesson is None or self.lesson.pace_seconds is None or not self.window.document.race:
            self.pace_note = ""
            if self._pace_on:  # an earlier lesson's pace: back to the speed control's own speed
                index = self.window.transport.speed_slider.value()
                self._set_slider(index)
                self.window.runs.set_delay(SPEEDS[index][0])
            return
        remembered = self.window.settings.lesson_pace(self.lesson_name)
        if remembered is not None and remembered < len(SPEEDS):
            self._set_slider(remembered)
            self.window.runs.set_delay(SPEEDS[remembered][0])
            self.pace_note = f"remembered speed: {SPEEDS[remembered][1]}"
            return
        try:
            runs = self.window.experiment_config().runs()
            delay = pace_delay(runs, self.lesson.pace_seconds)
        except Exception as exc:  # a pace that cannot be worked out leaves the speed alone
            self.window.report(f"Lesson pace not applied: {exc}", error=True)
            return
        nearest = min(range(len(SPEEDS)), key=lambda i: abs(math.log((SPEEDS[i][0] or 1e-4) / delay)))
        self._set_slider(nearest)
        self.window.runs.set_delay(delay)
        self._pace_on = True
        rate = 1 / delay
        rate_text = f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"
        label = self.window.transport.speed_label  # short: the toolbar is full at 1280 px
        label.setText(f"lesson: {rate_text}/s")
        label.setToolTip(
            f"the lesson's own pace: {rate_text} updates a second, about {self.lesson.pace_seconds:g} s "
            "in all; the speed control changes it (remembered for this lesson)"
        )
        self.pace_note = (
            f"lesson pace: {delay * 1000:.1f} ms per update, about {self.lesson.pace_seconds:g} s"
        )

    def _set_slider(self, index: int) -> None:
        slider = self.window.transport.speed_slider
        blocked = slider.blockSignals(True)
        slider.setValue(index)
        slider.blockSignals(blocked)
        self.window.transport.speed_label.setText(SPEEDS[index][1])
        self.window.transport.speed_label.setToolTip("")
        self._pace_on = False

    @Slot(int)
    def _on_user_speed(self, index: int) -> None:
        """The user moved the speed control: remember it for the open lesson."""
        self._pace_on = False
        if self.lesson is not None and self.lesson.pace_seconds is not None:
            self.window.settings.set_lesson_pace(self.lesson_name, index)

    # ------------------------------------------------------------------ presentation
    @Slot()
    def _fill_screen(self) -> None:
        """Without a window manager (a kiosk, Xvfb alone) nobody honours full screen: size the
        window to its screen ourselves (setGeometry drops the full-screen state: set it again)."""
        w = self.window
        screen = w.screen() or QtGui.QGuiApplication.primaryScreen()
        if not self.presenting or not w.isFullScreen() or screen is None:
            return  # left presentation, or put back to normal meanwhile
        if w.geometry() == screen.geometry():
            return
        w.setGeometry(screen.geometry())
        w.setWindowState(w.windowState() | QtCore.Qt.WindowState.WindowFullScreen)
        self._filled_screen = True

    def toggle_presentation(self) -> None:
        self.set_presentation(not self.presenting)

    def set_presentation(self, on: bool) -> None:
        """Full screen, side panels folded, the projector look of the plots and table."""
        w = self.window
        if on == self.presenting:
            return
        self.presenting = on
        docks = (w.experiment_dock, w.lesson_dock)
        if on:
            # not isVisible(): with --presentation the window is not shown yet, and every dock
            # would read as hidden and never come back; isHidden() is the dock's own state
            self._docks_before = {d: not d.isHidden() for d in docks}
            self._was_maximized = w.isMaximized()
            self._geometry_before = w.geometry() if w.isVisible() else None
            for d in docks:
                d.hide()
            w.showFullScreen()
            # a window manager resizes the window soon after; where none does, size it ourselves
            QtCore.QTimer.singleShot(FULL_SCREEN_WAIT_MS, w, self._fill_screen)
        else:
            for d, visible in self._docks_before.items():
                d.setVisible(visible)
            w.showMaximized() if self._was_maximized else w.showNormal()
            if self._filled_screen and not self._was_maximized and self._geometry_before is not None:
                w.setGeometry(self._geometry_before)  # no window manager gives it back
            self._filled_screen = False
        self.table.set_presentation(on)
        self.share_table()
        if w.plots is not None:
            w.plots.set_presentation(on)
        from .plots import presentation  # pyqtgraph: the plots (and the table's fonts) have it

        w.tools.set_text_size(presentation.PROJECTOR_PT if on else None)  # the tool dialogs too
        if "presentation" in w.acts.actions:
            w.acts["presentation"].setChecked(on)
