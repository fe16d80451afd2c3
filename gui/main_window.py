"""The Optiscope window: a composition of rooms, each with one job.

* :class:`~.document.ExperimentDocument` (``document``): the open experiment (file, lesson,
  race list), an evented model the window observes.
* :class:`~.experiment_panels.ExperimentPanels` (``experiment``): the settings panels, what
  they derive and their previews; it builds a new
  :class:`~optiscope.engine.config.RunConfig` on every Run (the run never reads a widget).
* :class:`~.race_room.RaceRoom` (``race``): the race list and its commands.
* :class:`~.run_controller.RunController` (``runs``): the live run (a background job), its
  pace of drawing and the status numbers; :class:`~.transport.Transport` (``transport``):
  Run, Pause, Step, Stop, Reset, the speed control and the live-rate keys.
* :class:`~.window_files.FileCommands` (``files``): open, save, exports, the Lessons menu;
  its :class:`~.take_home.TakeHome` (``files.home``): PyTorch script, weights, share codes, bundles.
* :class:`~.past_runs.PastRuns` (``past``): stored runs over the live plots.
* :class:`~.tools.ToolRegistry` (``tools``): the Tools menu's dialogs, each given a narrow
  :class:`~.tools.ToolHost`, never the window.
* :class:`~.classroom.Classroom` (``classroom``): lessons, results table, pace, presentation.
* :class:`~.actions.ActionTable` (``acts``): every command once, bound to a room's method;
  menus, toolbar and the F1 list are generated from it.
* :class:`~.worker.JobRunner` (``jobs``): the background jobs of the window itself (loading
  the engine, previews, tools), one error path for all of them.

The engine itself (torch, scikit-learn) loads as a background job behind the visible window.
"""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.engine.config import ExperimentConfig, RunConfig
from optiscope.engine.labels import describe_run
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal, Slot

from .actions import ActionTable
from .document import ExperimentDocument
from .experiment_panels import ExperimentPanels
from .expose import ExposeWatcher
from .lesson_dock import LessonDock
from .panels import PanelError
from .past_runs import PastRuns
from .race_room import RaceRoom
from .run_controller import SPEEDS, RunController
from .runs_view import RunsView
from .settings import AppSettings
from .tools import ToolHost, ToolRegistry
from .transport import Transport
from .window_files import FileCommands
from .window_theme import WindowThemes
from .worker import JobRunner, collect_garbage_on_gui_thread, freeze_long_lived, load_engine, thaw_long_lived

if TYPE_CHECKING:
    from .plots import LivePlots  # pyqtgraph: loaded after the window is shown

__all__ = ["MainWindow", "SPEEDS"]

STATUS_TEMPLATES = {  # widths fixed from templates: changing numbers never re-lay out the status bar
    "epoch": "Epoch 9999/9999",
    "step": "Step 999,999/999,999",
    "rate": "99,999 steps/s",
    "lr": "LR 0.000123",
    "device": "Device cuda:0",
    "elapsed": "99:99",
}


def _default_plots_factory(parent: QtWidgets.QWidget) -> LivePlots:
    from .plots import LivePlots  # pyqtgraph: imported after the window is shown

    return LivePlots(parent)


class MainWindow(QtWidgets.QMainWindow):
    """Experiment panels on the left, live plots in the middle, the lesson on the right."""

    engine_ready = Signal()
    run_started = Signal()
    run_finished = Signal(str)
    events_received = Signal(object)  # a list of events, passed as is (not converted item by item)

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        plots_factory: Callable[[QtWidgets.QWidget], LivePlots] | None = None,
        restore_last: bool = True,
    ) -> None:
        super().__init__()
        self.setObjectName("OptiscopeMainWindow")
        self.setWindowTitle("Optiscope")
        self.settings = settings if settings is not None else AppSettings()
        self.messages: list[str] = []
        self._plots_factory = plots_factory or _default_plots_factory
        self._restore_last = restore_last
        self._started = False
        self._expose_watcher: ExposeWatcher | None = None
        self._closing = False
        self.engine_loaded = False
        self.engine_info: dict[str, Any] = {}
        self.plots: LivePlots | None = None
        self.landscape: QtWidgets.QWidget | None = None
        self.inside: QtWidgets.QWidget | None = None
        self.theme = "light"  # the theme shown (WindowThemes.apply sets it)
        self.themes = WindowThemes(self)
        collect_garbage_on_gui_thread()  # Qt objects must never be collected by a worker thread

        # the rooms; every connection below goes to a bound method (held weakly by Qt)
        self.document = ExperimentDocument(self)
        self.runs = RunController(self)
        self.jobs = JobRunner(self, name="optiscope-background")
        self.experiment = ExperimentPanels(self.jobs, self)
        self.race = RaceRoom(self.document, self.experiment, self.report, self.statusBar().showMessage, self)
        self.transport = Transport(self)
        self.files = FileCommands(self)
        self.past = PastRuns(self)
        self.tools = ToolRegistry(
            ToolHost(
                parent=self,
                document=self.document,
                jobs=self.jobs,
                runs=self.runs,
                run_config=self.experiment.current_run_config,
                experiment_config=self.experiment_config,
                show_run=self.experiment.show_run,
                report=self.report,
                start_run=self.run,
                export_plot=self.files.export_plot,
                plot_names=self.files.plot_names,
            )
        )
        self.panels = self.experiment.panels  # the panels by config section, and each by name
        self.data_panel, self.model_panel = self.experiment.data_panel, self.experiment.model_panel
        self.optimizer_panel, self.schedule_panel = (
            self.experiment.optimizer_panel,
            self.experiment.schedule_panel,
        )
        self.regularization_panel = self.experiment.regularization_panel
        self.training_panel = self.experiment.training_panel
        self.document.race_changed.connect(self._update_actions)
        self.document.path_changed.connect(self._on_path_changed)
        self.document.meta_changed.connect(self._update_title)
        self.document.meta_changed.connect(self._update_actions)  # the seeds per runner
        self.experiment.edited.connect(self._on_panel_edited)
        self.runs.started.connect(self._on_run_started)
        self.runs.events_ready.connect(self.events_received)
        self.runs.draw_ready.connect(self._draw_events)
        self.runs.status_changed.connect(self._update_status)
        self.runs.state_changed.connect(self._update_actions)
        self.runs.finished.connect(self._on_run_finished)
        self.runs.report.connect(self.report)
        self.jobs.errored.connect(self._on_job_errored)
        atexit.register(_shutdown_at_exit, weakref.ref(self))
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

        self._build_docks()
        self._build_central()
        self.acts = ActionTable(self, tools=self.tools.specs.values())
        self.optimizer_panel.find_lr_button.setDefaultAction(self.acts["find_lr"])
        self.acts["overlay"].setChecked(True)
        self._build_menus()
        self._build_toolbar()
        self._build_status()
        self.themes.apply(self.settings.theme())
        self._restore_window()
        from .classroom import Classroom

        self.classroom = Classroom(self)  # lessons, results table, pace, presentation mode
        for problem in self.settings.problems:
            self.report(problem, error=True)
        self.experiment.update_derived()
        self._update_actions()

    # ------------------------------------------------------------------ building
    def _build_docks(self) -> None:
        self.toolbox = self.experiment.toolbox
        self.experiment_dock = QtWidgets.QDockWidget("Experiment", self)
        self.experiment_dock.setObjectName("experimentDock")
        self.experiment_dock.setWidget(self.experiment.side)
        self.experiment_dock.setFeatures(
            QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.experiment_dock)
        self.lesson_dock = LessonDock(self, beside=self.experiment_dock)
        self.lesson_box = self.lesson_dock.lesson_box
        self.document.loaded.connect(self.lesson_dock.show_lesson)

    def _build_central(self) -> None:
        self.views = QtWidgets.QTabWidget()
        self.views.setObjectName("views")
        self.views.setDocumentMode(True)
        self.plots_holder = QtWidgets.QWidget()
        hl = QtWidgets.QVBoxLayout(self.plots_holder)
        hl.setContentsMargins(0, 0, 0, 0)
        self._plots_placeholder = QtWidgets.QLabel("Loading plots…")
        self._plots_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hl.addWidget(self._plots_placeholder)
        self.views.addTab(self.plots_holder, "Training")
        self.runs_view = RunsView(self.jobs)
        self.runs_view.overlay_requested.connect(self.past.overlay)
        self.runs_view.overlays_cleared.connect(self.past.clear)
        self.runs_view.settings_requested.connect(self.past.load_settings)
        self.runs_view.weights_requested.connect(self.files.home.save_stored_weights)
        self.runs_view.bundle_requested.connect(self.files.home.save_stored_bundle)
        self.runs_view.has_weights = self.files.home.has_weights
        self.views.addTab(self.runs_view, "Runs")
        self.setCentralWidget(self.views)

    def _build_menus(self) -> None:
        def add_dock_toggles(menu: QtWidgets.QMenu) -> None:
            menu.addAction(self.experiment_dock.toggleViewAction())
            menu.addAction(self.lesson_dock.toggleViewAction())

        places = {"export_plot": self.files.add_export_menu, "lessons": self.files.add_lessons_menu}
        places.update(docks=add_dock_toggles, theme=self.themes.add_menu)
        self.menus = self.acts.build_menus(self.menuBar(), places)
        self.lessons_menu = self.menus["Lessons"]

    def _build_toolbar(self) -> None:
        tb = QtWidgets.QToolBar("Run controls")
        tb.setObjectName("runToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setMovable(False)
        self.acts.build_toolbar(tb, {"speed": self.transport.add_speed_control})
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.engine_label = QtWidgets.QLabel("Loading engine…")
        self.engine_label.setObjectName("engineState")
        self.status_labels: dict[str, QtWidgets.QLabel] = {}
        for key, template in STATUS_TEMPLATES.items():
            lab = QtWidgets.QLabel()
            lab.setObjectName(f"status_{key}")
            lab.setMinimumWidth(lab.fontMetrics().horizontalAdvance(template) + 12)
            self.status_labels[key] = lab
            sb.addPermanentWidget(lab)
        sb.addPermanentWidget(self.engine_label)
        sb.messageChanged.connect(self._on_status_message)
        self._update_status()

    # ------------------------------------------------------------------ start-up
    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._started and self._expose_watcher is None and self.windowHandle() is not None:
            # once the window is on screen and painted: plots (pyqtgraph) and the engine load
            queued = Qt.ConnectionType.QueuedConnection
            self._expose_watcher = ExposeWatcher(
                lambda: QtCore.QMetaObject.invokeMethod(self, "start", queued)
            )
            self.windowHandle().installEventFilter(self._expose_watcher)

    @Slot()
    def start(self) -> None:
        """Create the plots and start loading the engine (idempotent; runs after show)."""
        if self._started or self._closing:
            return
        self._started = True
        self._expose_watcher = None  # its callback holds the window
        self.jobs.submit("engine", load_engine, on_done=self._on_engine_loaded)
        self._create_plots()
        try:  # the landscape tab adds itself with add_view and takes the run's events
            from .landscape_view import install as install_landscape

            self.landscape = install_landscape(self)
        except Exception as exc:  # the landscape tab must never stop the app
            self.report(f"Loss landscape unavailable: {exc}", error=True)
        try:  # the Inside tab: per-layer statistics of the runs (LayerStats events)
            from .inside_view import install as install_inside

            self.inside = install_inside(self)
        except Exception as exc:  # the tab must never stop the app
            self.report(f"Inside tab unavailable: {exc}", error=True)
        from .mixed_precision import install as install_mixed_precision

        self.mixed_precision = install_mixed_precision(self)  # its measured effect, after a run
        if self._restore_last:
            last = self.settings.last_experiment()
            if last and Path(last).exists():
                self.files.open_experiment(last, quiet=True)

    def _create_plots(self) -> None:
        try:
            plots = self._plots_factory(self.plots_holder)
        except Exception as exc:  # the plots module missing or broken must not stop the app
            self._plots_placeholder.setText(f"The live plots could not be created:\n{exc}")
            self.report(f"Live plots unavailable: {exc}", error=True)
            return
        self._plots_placeholder.hide()
        # the window must fit a 1280-pixel projector next to the side panels: let the plots'
        # control row give up a little width rather than widen the whole window
        plots.setMinimumWidth(min(plots.minimumSizeHint().width(), 640))
        self.plots_holder.layout().addWidget(plots)
        self.plots = plots
        self.classroom.attach_plots(plots)
        plots.set_mode("grid" if self.acts["grid"].isChecked() else "overlay")
        plots.set_theme(self.theme)
        plots.mode_changed.connect(self._on_plots_mode)

    def add_view(self, title: str, widget: QtWidgets.QWidget) -> int:
        """Add a tab next to the training plots (e.g. the loss landscape); returns its index."""
        return self.views.addTab(widget, title)

    def show_plots(self) -> None:
        """Bring the Training tab (the live plots) to the front."""
        self.views.setCurrentWidget(self.plots_holder)

    # ------------------------------------------------------------------ background jobs
    def _on_engine_loaded(self, info: dict[str, Any]) -> None:
        if not self._closing:  # the imports' objects are never garbage: no collection walks them
            freeze_long_lived()
        self.engine_loaded = True
        self.engine_info = info
        self.training_panel.set_devices(info.get("devices", ["cpu"]))
        self.engine_label.setText(f"Engine ready (torch {info.get('torch', '?')})")
        self.experiment.previews_on = not self._closing
        self.experiment.request_previews(("data", "schedule", "regularization"))
        self._update_actions()
        self.engine_ready.emit()

    @Slot(str, str)
    def _on_job_errored(self, key: str, message: str) -> None:
        """Every background job's error, shown where the user looks for that job."""
        if key == "engine":
            self.engine_label.setText("Engine failed to load")
            self.report(f"The training engine could not be loaded: {message}", error=True)
        elif not self.experiment.show_preview_error(key, message):
            self.report(message, error=True)

    # ------------------------------------------------------------------ the experiment
    def current_run_config(self) -> RunConfig:
        """A new RunConfig from the panels (PanelError names every problem)."""
        return self.experiment.current_run_config()

    def experiment_config(self) -> ExperimentConfig:
        """The experiment the window shows: the race if one is set up, else the panels' run."""
        if self.document.race:
            return self.document.experiment(RunConfig())
        return self.document.experiment(self.experiment.current_run_config())

    def set_experiment(self, exp: ExperimentConfig, path: str | Path | None = None) -> None:
        """Fill the panels with ``exp`` (its base run, or a race's first runner, which the
        panels then edit); the document takes its race and lesson."""
        shown = exp.runs()[0] if exp.variations else exp.base
        for key, panel in self.panels.items():
            panel.set_config(getattr(shown, key))
        self.document.load(exp, path)
        self.experiment.update_derived()
        self.experiment.request_previews(("data", "schedule", "regularization"))

    def reset_settings(self) -> None:
        self.set_experiment(ExperimentConfig())

    @Slot(str)
    def _on_panel_edited(self, key: str) -> None:
        """A panel changed: it edits the race's shown runner, or the live run's rate, or waits."""
        if key and self.document.race:
            self.race.apply_panel_edit(key)
        elif key == "optimizer" and self.transport.send_live_lr():
            pass
        elif self.running:
            self.statusBar().showMessage("Settings changed: they apply to the next Run.", 4000)
        self._update_actions()

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.runs.running

    def run(self) -> bool:
        """What Run does (:meth:`.transport.Transport.run`): True when a new run started."""
        return self.transport.run()

    def flush_plots(self) -> None:
        """Draw every event received so far now (the end of a run, exports, tests)."""
        self.runs.flush()
        if self.plots is not None:
            self.plots.flush()  # and what paced drawing left for the next turns

    @Slot()
    def _on_run_started(self) -> None:
        if self.plots is not None:
            self.plots.clear()
            self.plots.set_seed_plan(self.runs.plan)  # which run is which runner's seed
            self.past.redraw()  # past runs stay until removed
        self.run_started.emit()

    @Slot(str)
    def _on_run_finished(self, reason: str) -> None:
        if self.runs.recording is not None and self.runs.recording.stored_ids:
            ids = self.runs.recording.stored_ids
            shown = str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
            self.messages.append(f"Kept as stored run {shown} (the Runs tab lists it).")
        if self.runs_view.isVisible():
            self.runs_view.refresh()
        self.run_finished.emit(reason)

    @Slot(object)
    def _draw_events(self, events: list) -> None:
        if self.plots is not None:
            # a live run's batches are drawn a few runs per turn, its last batch at once; what
            # the last batch's turns took sets the drawing pace with the frames' own cost
            self.runs.add_draw_work(self.plots.slices.take_seconds())
            self.plots.add_events(events, paced=self.runs.running)

    def set_plot_mode(self, mode: str) -> None:
        self.acts["grid" if mode == "grid" else "overlay"].setChecked(True)
        if self.plots is not None:
            self.plots.set_mode(mode)

    @Slot(str)
    def _on_plots_mode(self, mode: str) -> None:
        self.acts["grid" if mode == "grid" else "overlay"].setChecked(True)

    # ------------------------------------------------------------------ status and actions
    def refresh(self) -> None:
        """Bring the actions and the status numbers up to date."""
        self._update_actions()
        self._update_status()

    @Slot()
    def _update_actions(self) -> None:
        ready = self.engine_loaded
        a = self.acts
        a["run"].setEnabled(ready)
        n = len(self.document.race)
        seeds = self.document.seeds
        each = f" × {seeds} seeds" if seeds > 1 else ""  # every runner trained with each seed
        if not ready:
            text = "Run (loading engine…)"
        elif n:
            text = f"Run race ({n} run{'s' if n != 1 else ''}{each})"
        elif getattr(self, "classroom", None) is not None and self.classroom.search_lesson():
            text = "Run search (random vs grid)"  # a search lesson's Run starts its search
        else:
            text = f"Run current settings{each}"
        a["run"].setText(text)
        a["run"].setToolTip(f"{self._run_tip()} ({a.keys_text(a['run'])})")
        if "clear_race" in a.actions:
            a["clear_race"].setEnabled(bool(n))
        for name in ("step", "step_epoch", "reset"):
            a[name].setEnabled(ready)
        a["compare"].setEnabled(True)
        a["pause"].setEnabled(self.runs.controllable)
        a["pause"].setText("Resume" if self.runs.paused else "Pause")
        a["stop"].setEnabled(self.runs.controllable)

    def _run_tip(self) -> str:
        """What Run trains, in words (the Run button's tooltip)."""
        if self.document.race:
            labels = self.document.labels()
            return (
                f"Run trains the race, {len(labels)} runs: {', '.join(labels)}. Not the panels alone: "
                "Clear race (Ctrl+Shift+K) to train the panels' settings"
            )
        try:
            return f"Run trains the current settings: {describe_run(self.experiment.current_run_config())}"
        except PanelError:
            return "Run trains the current settings (fix the problems shown under the panels first)"

    @Slot()
    def _update_status(self) -> None:
        for key, text in self.runs.status_texts().items():
            self.status_labels[key].setText(text)

    @Slot(str, bool)
    def report(self, text: str, error: bool = False) -> None:
        """Show a message in the status bar and keep it in :attr:`messages`. A message too
        long for the room the run's numbers leave it (1280 px) has the whole bar while it
        shows: the numbers step aside and come back when it goes."""
        self.messages.append(text)
        self.statusBar().setToolTip(text)
        self.statusBar().showMessage(text, 10_000 if error else 5000)

    def _message_room(self) -> int:
        """Pixels a status message has beside the run's numbers (their labels' widths)."""
        labels = [*self.status_labels.values(), self.engine_label]
        taken = sum(max(lab.minimumWidth(), lab.sizeHint().width()) + 8 for lab in labels)
        return self.statusBar().width() - taken - 16

    @Slot(str)
    def _on_status_message(self, text: str) -> None:
        """A message too long for the room beside the numbers hides them while it shows;
        a shorter one, or none, shows them again."""
        sb = self.statusBar()
        fits = sb.fontMetrics().horizontalAdvance(text) <= self._message_room()
        for lab in (*self.status_labels.values(), self.engine_label):
            lab.setVisible(fits)
        if not text:
            sb.setToolTip("")

    @Slot(object)
    def _on_path_changed(self, path: Path | None) -> None:
        self._update_title()
        if path is not None:
            self.settings.set_last_experiment(str(path))

    @Slot()
    def _update_title(self) -> None:
        """The open file's (or lesson's) name; Qt adds " — Optiscope" (the display name)."""
        path, name = self.document.path, self.document.meta.name
        self.setWindowTitle(path.stem if path else (name if name != "experiment" else "Optiscope"))

    def show_about(self) -> None:
        from .about import show_about

        show_about(self)

    # ------------------------------------------------------------------ theme, window state
    def set_theme(self, theme: str) -> None:
        """Use ``theme`` (one of :data:`~.settings.THEMES`) and remember it."""
        self.themes.apply(theme)
        self.settings.set_theme(theme)

    def _restore_window(self) -> None:
        geo = self.settings.geometry()
        restored = False
        if geo:
            restored = self.restoreGeometry(QtCore.QByteArray(geo))
            if not restored:
                self.report("The saved window size could not be used; the default is shown.", error=True)
        if not restored:
            self.resize(1280, 720)
        state = self.settings.window_state()
        if state and not self.restoreState(QtCore.QByteArray(state)):
            self.report("The saved panel layout could not be used; the default is shown.", error=True)
            state = None
        if not state:
            # narrow side panels by default: the plots need ~930 pixels on a 1280 projector
            self.resizeDocks([self.experiment_dock], [330], Qt.Orientation.Horizontal)

    @Slot()
    def shutdown(self) -> None:
        """Stop a live run and every background job and wait for them (idempotent)."""
        self._closing = True
        self.experiment.previews_on = False
        self.classroom.stop()
        self.runs.shutdown()
        self.jobs.shutdown()
        thaw_long_lived()  # this window's objects were frozen with the engine's: collectable again

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Ask before an unsaved race is lost; stop a live run and every background job, and
        remember the window."""
        if not self._closing and not self.files.may_discard_race():
            event.ignore()
            return
        self.shutdown()
        try:
            self.settings.set_window(self.saveGeometry(), self.saveState())
            self.settings.sync()
        except Exception:  # pragma: no cover - settings must never block closing
            pass
        super().closeEvent(event)


def _shutdown_at_exit(ref: weakref.ref) -> None:
    """Last resort when a script ends without closing the window: join its threads so Qt
    never destroys a running QThread (which aborts the process)."""
    window = ref()
    if window is not None:
        try:
            window.shutdown()
        except RuntimeError:  # the C++ side is already gone: so are its threads
            pass
