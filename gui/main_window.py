"""The Optiscope window: a composition of rooms, each with one job.

* :class:`~.document.ExperimentDocument`: the open experiment (file, lesson, race list), an
  evented model the window observes.
* :class:`~.run_controller.RunController`: the live run (a background job), its pace of
  drawing and the status numbers.
* :class:`~.actions.ActionTable`: every command once; menus, toolbar and the F1 list are
  generated from it.
* :class:`~.worker.JobRunner`: the background jobs of the window itself (loading the engine,
  previews), one error path for all of them.

The window builds a new :class:`~optiscope.engine.config.ExperimentConfig` from the panels
on every Run; the run never reads a widget. The engine itself (torch, scikit-learn) loads as
a background job behind the visible window.
"""

from __future__ import annotations

import atexit
import csv
import io
import weakref
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.engine.config import (
    ConfigError,
    ExperimentConfig,
    RunConfig,
    dump_toml,
    format_validation_error,
    load_toml,
    steps_per_epoch,
)
from optiscope.engine.formats import METRIC_COLUMNS, format_csv
from optiscope.engine.labels import describe_run
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal, Slot

from .actions import ActionTable
from .document import ExperimentDocument
from .panels import Panel, PanelError
from .panels.data import DataPanel, preview_summary
from .panels.model import ModelPanel
from .panels.optimizer import OptimizerPanel
from .panels.regularization import RegularizationPanel, augmentation_samples
from .panels.schedule import SchedulePanel
from .panels.training import TrainingPanel
from .run_controller import SPEEDS, RunController
from .runs_view import RunsView
from .settings import THEMES, AppSettings
from .widgets import signals_blocked
from .worker import JobContext, JobRunner, collect_garbage_on_gui_thread, load_engine

if TYPE_CHECKING:
    from .plots import LivePlots  # pyqtgraph: loaded after the window is shown

__all__ = ["MainWindow", "SPEEDS"]

PREVIEW_MAX_STEPS = 50_000
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


def _job(fn: Callable[..., Any], *args: Any) -> Callable[[JobContext], Any]:
    """A background job that calls ``fn(*args)`` (previews: quick, not cancellable midway)."""
    return lambda _context: fn(*args)


def _lr_preview(opt: Any, sched: Any, spe: int, epochs: int) -> tuple[list[float], str]:
    from optiscope.engine.optim import lr_preview

    note = ""
    if spe * epochs > PREVIEW_MAX_STEPS:
        epochs_shown = max(PREVIEW_MAX_STEPS // spe, 1)
        note = f" (first {epochs_shown} of {epochs} epochs)"
        epochs = epochs_shown
    return lr_preview(opt, sched, spe, epochs), note


class _ExposeWatcher(QtCore.QObject):
    """Calls ``callback`` once, when the window is first exposed (really on screen)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._callback: Callable[[], None] | None = callback

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if self._callback is not None and event.type() == QtCore.QEvent.Type.Expose:
            window = obj if isinstance(obj, QtGui.QWindow) else None
            if window is None or window.isExposed():
                cb, self._callback = self._callback, None
                cb()
        return False


class MainWindow(QtWidgets.QMainWindow):
    """Experiment panels on the left, live plots in the middle, the lesson on the right."""

    engine_ready = Signal()
    run_started = Signal()
    run_finished = Signal(str)
    events_received = Signal(list)

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
        self._expose_watcher: _ExposeWatcher | None = None
        self._closing = False
        self.engine_loaded = False
        self.engine_info: dict[str, Any] = {}
        self.plots: LivePlots | None = None
        self.landscape: QtWidgets.QWidget | None = None
        self.inside: QtWidgets.QWidget | None = None
        self.theme = "light"
        self._panel_lr = 0.01  # the Optimizer panel's rate the live run's scale is relative to
        collect_garbage_on_gui_thread()  # Qt objects must never be collected by a worker thread

        # the rooms; every connection below goes to a bound method (held weakly by Qt)
        self.document = ExperimentDocument(self)
        self.runs = RunController(self)
        self.jobs = JobRunner(self, name="optiscope-background")
        self.document.race_changed.connect(self._show_race)
        self.document.race_changed.connect(self._update_actions)
        self.document.selected_changed.connect(self._show_race_selection)
        self.document.path_changed.connect(self._on_path_changed)
        self.document.meta_changed.connect(self._update_title)
        self.document.loaded.connect(self.show_lesson)
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

        self._build_panels()
        self._build_central()
        self._build_lesson_dock()
        self.acts = ActionTable(self)
        self.optimizer_panel.find_lr_button.setDefaultAction(self.acts["find_lr"])
        self.acts["overlay"].setChecked(True)
        self._build_menus()
        self._build_toolbar()
        self._build_status()
        self._apply_theme(self.settings.theme())
        self._restore_window()
        from .classroom import Classroom

        self.classroom = Classroom(self)  # lessons, results table, pace, presentation mode
        for problem in self.settings.problems:
            self.report(problem, error=True)
        self._update_derived()
        self._update_actions()

    # ------------------------------------------------------------------ building
    def _build_panels(self) -> None:
        self.data_panel = DataPanel()
        self.model_panel = ModelPanel()
        self.optimizer_panel = OptimizerPanel()
        self.schedule_panel = SchedulePanel()
        self.regularization_panel = RegularizationPanel()
        self.training_panel = TrainingPanel()
        self.panels: dict[str, Panel] = {
            "dataset": self.data_panel,
            "model": self.model_panel,
            "optimizer": self.optimizer_panel,
            "schedule": self.schedule_panel,
            "regularization": self.regularization_panel,
            "training": self.training_panel,
        }
        self._panel_keys = {panel: key for key, panel in self.panels.items()}
        self.toolbox = QtWidgets.QToolBox()
        self.toolbox.setObjectName("panels")
        for panel in self.panels.values():
            scroll = QtWidgets.QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(panel)
            self.toolbox.addItem(scroll, panel.title)
            panel.changed.connect(self._on_panel_changed)
        self.toolbox.setCurrentIndex(2)  # the optimizer: what Optiscope is about

        side = QtWidgets.QWidget()
        side.setObjectName("experimentSide")
        lay = QtWidgets.QVBoxLayout(side)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.toolbox, 1)
        self.problem_label = QtWidgets.QLabel()
        self.problem_label.setObjectName("errorLabel")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c0392b; font-weight: 600;")
        self.problem_label.hide()
        lay.addWidget(self.problem_label)
        self.race_group = QtWidgets.QWidget()
        self.race_group.setObjectName("racePage")
        rg = QtWidgets.QVBoxLayout(self.race_group)
        note = QtWidgets.QLabel(
            "Compare (Ctrl+K) adds the panels' settings as another runner. Run then races every "
            "runner from the same initial weights and batch order. Double-click a runner to show "
            "it in the panels: edits then change that runner (a setting every runner shares "
            "changes for all). Clear race (Ctrl+Shift+K) to run the panels' settings alone."
        )
        note.setWordWrap(True)
        note.setObjectName("hint")
        rg.addWidget(note)
        self.race_list = QtWidgets.QListWidget()
        self.race_list.setObjectName("race")
        self.race_list.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed)
        rg.addWidget(self.race_list, 1)
        self.race_state = QtWidgets.QLabel()
        self.race_state.setObjectName("raceState")
        self.race_state.setWordWrap(True)
        rg.addWidget(self.race_state)
        row = QtWidgets.QHBoxLayout()
        self.race_rename = QtWidgets.QPushButton("Rename")
        self.race_remove = QtWidgets.QPushButton("Remove")
        self.race_clear = QtWidgets.QPushButton("Clear race")
        row.addWidget(self.race_rename)
        row.addWidget(self.race_remove)
        row.addWidget(self.race_clear)
        row.addStretch(1)
        rg.addLayout(row)
        self.race_list.setToolTip(
            "double-click a runner to show its settings in the panels; F2 or Rename to name it "
            "(the name is used in the legend, the exports and the run store)"
        )
        self.race_list.itemDoubleClicked.connect(self._on_race_double_click)
        self.race_list.itemChanged.connect(self._on_race_item_renamed)
        self.race_rename.clicked.connect(self._rename_race_entry)
        self.race_remove.clicked.connect(self._remove_race_entry)
        self.race_clear.clicked.connect(self.clear_race)
        self.race_index = self.toolbox.addItem(self.race_group, "Race")
        self._show_race(self.document.race)
        self.experiment_dock = QtWidgets.QDockWidget("Experiment", self)
        self.experiment_dock.setObjectName("experimentDock")
        self.experiment_dock.setWidget(side)
        self.experiment_dock.setFeatures(
            QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        side.setMinimumWidth(318)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.experiment_dock)

    def _build_central(self) -> None:
        self.views = QtWidgets.QTabWidget()
        self.views.setObjectName("views")
        self.views.setDocumentMode(True)
        self._plots_holder = QtWidgets.QWidget()
        hl = QtWidgets.QVBoxLayout(self._plots_holder)
        hl.setContentsMargins(0, 0, 0, 0)
        self._plots_placeholder = QtWidgets.QLabel("Loading plots…")
        self._plots_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hl.addWidget(self._plots_placeholder)
        self.views.addTab(self._plots_holder, "Training")
        self.runs_view = RunsView(self.jobs)
        self.runs_view.overlay_requested.connect(self.overlay_past_runs)
        self.runs_view.overlays_cleared.connect(self.clear_past_overlays)
        self.runs_view.settings_requested.connect(self.load_stored_settings)
        self.views.addTab(self.runs_view, "Runs")
        self._past_overlays: dict[int, list[Any]] = {}  # plot run id -> the events drawn
        self.setCentralWidget(self.views)

    def _build_lesson_dock(self) -> None:
        self.lesson_box = QtWidgets.QTextBrowser()
        self.lesson_box.setObjectName("lesson")
        self.lesson_box.setOpenExternalLinks(False)
        self.lesson_dock = QtWidgets.QDockWidget("Lesson", self)
        self.lesson_dock.setObjectName("lessonDock")
        self.lesson_dock.setWidget(self.lesson_box)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.lesson_dock)
        self.lesson_dock.hide()

    def _build_menus(self) -> None:
        self.menus = self.acts.build_menus(
            self.menuBar(),
            {
                "export_plot": self._add_export_menu,
                "lessons": self._add_lessons_menu,
                "docks": self._add_dock_toggles,
                "theme": self._add_theme_menu,
            },
        )
        self.lessons_menu = self.menus["Lessons"]

    def _add_export_menu(self, menu: QtWidgets.QMenu) -> None:
        self.export_menu = menu.addMenu("Export &plot")
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        self.export_menu.triggered.connect(self._on_export_chosen)

    def _add_lessons_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.setToolTipsVisible(True)
        menu.aboutToShow.connect(self._fill_lessons_menu)
        menu.triggered.connect(self._on_lesson_chosen)

    def _add_dock_toggles(self, menu: QtWidgets.QMenu) -> None:
        menu.addAction(self.experiment_dock.toggleViewAction())
        menu.addAction(self.lesson_dock.toggleViewAction())

    def _add_theme_menu(self, menu: QtWidgets.QMenu) -> None:
        theme_menu = menu.addMenu("Theme")
        self.theme_actions: dict[str, QtGui.QAction] = {}
        group = QtGui.QActionGroup(self)
        for theme in THEMES:
            act = theme_menu.addAction(theme.capitalize())
            act.setCheckable(True)
            act.setData(theme)
            group.addAction(act)
            self.theme_actions[theme] = act
        theme_menu.triggered.connect(self._on_theme_chosen)

    def _build_toolbar(self) -> None:
        tb = QtWidgets.QToolBar("Run controls")
        tb.setObjectName("runToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setMovable(False)
        self.acts.build_toolbar(tb, {"speed": self._add_speed_control})
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def _add_speed_control(self, tb: QtWidgets.QToolBar) -> None:
        tb.addWidget(QtWidgets.QLabel(" Speed "))
        self.speed_slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setObjectName("speed")
        self.speed_slider.setRange(0, len(SPEEDS) - 1)
        self.speed_slider.setInvertedAppearance(True)
        self.speed_slider.setFixedWidth(110)
        self.speed_slider.setToolTip(
            "slow motion for the classroom: right is faster (Ctrl+[ slower, Ctrl+] faster)"
        )
        self.speed_slider.valueChanged.connect(self._on_speed)
        tb.addWidget(self.speed_slider)
        self.speed_label = QtWidgets.QLabel(SPEEDS[0][1])
        self.speed_label.setMinimumWidth(90)
        tb.addWidget(self.speed_label)

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
        self._update_status()

    # ------------------------------------------------------------------ start-up
    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._started and self._expose_watcher is None and self.windowHandle() is not None:
            # once the window is on screen and painted: plots (pyqtgraph) and the engine load
            self._expose_watcher = _ExposeWatcher(self._start_queued)
            self.windowHandle().installEventFilter(self._expose_watcher)

    def _start_queued(self) -> None:
        QtCore.QMetaObject.invokeMethod(self, "start", Qt.ConnectionType.QueuedConnection)

    @Slot()
    def start(self) -> None:
        """Create the plots and start loading the engine (idempotent; runs after show)."""
        if self._started or self._closing:
            return
        self._started = True
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
                self.open_experiment(last, quiet=True)

    def _create_plots(self) -> None:
        try:
            plots = self._plots_factory(self._plots_holder)
        except Exception as exc:  # the plots module missing or broken must not stop the app
            self._plots_placeholder.setText(f"The live plots could not be created:\n{exc}")
            self.report(f"Live plots unavailable: {exc}", error=True)
            return
        self._plots_placeholder.hide()
        # the window must fit a 1280-pixel projector next to the side panels: let the plots'
        # control row give up a little width rather than widen the whole window
        plots.setMinimumWidth(min(plots.minimumSizeHint().width(), 640))
        self._plots_holder.layout().addWidget(plots)
        self.plots = plots
        self.classroom.attach_plots(plots)
        plots.set_mode("grid" if self.acts["grid"].isChecked() else "overlay")
        plots.set_theme(self.theme)
        plots.mode_changed.connect(self._on_plots_mode)

    def add_view(self, title: str, widget: QtWidgets.QWidget) -> int:
        """Add a tab next to the training plots (e.g. the loss landscape); returns its index."""
        return self.views.addTab(widget, title)

    # ------------------------------------------------------------------ background jobs
    def _on_engine_loaded(self, info: dict[str, Any]) -> None:
        self.engine_loaded = True
        self.engine_info = info
        self.training_panel.set_devices(info.get("devices", ["cpu"]))
        self.engine_label.setText(f"Engine ready (torch {info.get('torch', '?')})")
        self._request_previews(("data", "schedule", "regularization"))
        self._update_actions()
        self.engine_ready.emit()

    @Slot(str, str)
    def _on_job_errored(self, key: str, message: str) -> None:
        """Every background job's error, shown where the user looks for that job."""
        if key == "engine":
            self.engine_label.setText("Engine failed to load")
            self.report(f"The training engine could not be loaded: {message}", error=True)
        elif key == "data_preview":
            self.data_panel.show_preview_error(message)
        elif key == "lr_preview":
            self.schedule_panel.show_preview_error(message)
        elif key == "aug_preview":
            self.regularization_panel.show_preview_error(message)
        else:
            self.report(message, error=True)

    def _show_data_preview(self, summary: dict[str, Any]) -> None:
        self.data_panel.show_preview(summary)
        if self.data_panel.name_box.currentData() == "csv":
            self._update_derived()

    def _show_lr_preview(self, result: tuple[list[float], str]) -> None:
        lrs, note = result
        self.schedule_panel.show_lr_preview(lrs, note)

    def _request_previews(self, which: Sequence[str]) -> None:
        if not self.engine_loaded or self._closing:
            return
        if "data" in which:
            try:
                cfg = self.data_panel.config()
            except PanelError:
                pass
            else:
                self.jobs.submit("data_preview", _job(preview_summary, cfg), on_done=self._show_data_preview)
        if "schedule" in which:
            try:
                opt, sched = self.optimizer_panel.config(), self.schedule_panel.config()
                epochs = self.training_panel.config().epochs
            except PanelError:
                pass
            else:
                spe = self._planned_steps_per_epoch()
                self.jobs.submit(
                    "lr_preview", _job(_lr_preview, opt, sched, spe, epochs), on_done=self._show_lr_preview
                )
        if "regularization" in which:
            try:
                aug = self.regularization_panel.config().augmentation
                data = self.data_panel.config()
            except PanelError:
                return
            if aug.active:
                self.jobs.submit(
                    "aug_preview",
                    _job(augmentation_samples, data, aug),
                    on_done=self.regularization_panel.show_augmentation,
                )
            else:
                self.jobs.cancel("aug_preview")
                self.regularization_panel.show_augmentation(None)

    # ------------------------------------------------------------------ panels
    def _planned_steps_per_epoch(self) -> int:
        try:
            batch_size = self.training_panel.config().batch_size
        except PanelError:
            batch_size = 32
        return steps_per_epoch(self.data_panel.shape()["n_train"], batch_size)

    @Slot()
    def _on_panel_changed(self) -> None:
        key = self._panel_keys.get(self.sender())
        self._update_derived()
        if key == "dataset":
            self._request_previews(("data", "schedule", "regularization"))
        elif key in ("optimizer", "schedule", "training"):
            self._request_previews(("schedule",))
        elif key == "regularization":
            self._request_previews(("regularization",))
        if key is not None and self.document.race:
            self._apply_panels_to_race(key)
        elif key == "optimizer" and self._send_live_lr():
            pass
        elif self.running:
            self.statusBar().showMessage("Settings changed: they apply to the next Run.", 4000)
        self._update_actions()

    def _update_derived(self) -> None:
        shape = self.data_panel.shape()
        self.model_panel.set_data_shape(shape["n_features"], shape["n_classes"], shape["image_shape"])
        spe = self._planned_steps_per_epoch()
        try:
            epochs = self.training_panel.config().epochs
        except PanelError:
            epochs = 1
        self.schedule_panel.set_plan(spe, epochs)
        self.training_panel.set_steps_info(spe, epochs)
        problems = self.problems()
        self.problem_label.setText("\n".join(problems))
        self.problem_label.setVisible(bool(problems))

    def problems(self) -> list[str]:
        """Everything that stops the current settings from making a valid run, in words."""
        out = [p for p in (panel.problem() for panel in self.panels.values()) if p]
        if not out:
            try:
                self.current_run_config()
            except PanelError as exc:
                out.append(str(exc))
        return out

    def current_run_config(self) -> RunConfig:
        """A new RunConfig from the panels (PanelError names every problem)."""
        from pydantic import ValidationError

        parts: dict[str, Any] = {}
        errors = []
        for key, panel in self.panels.items():
            try:
                parts[key] = panel.config()
            except PanelError as exc:
                errors.append(str(exc))
        if errors:
            raise PanelError("\n".join(errors))
        try:
            return RunConfig(**parts)
        except ValidationError as exc:
            raise PanelError(format_validation_error(exc)) from None

    def experiment_config(self) -> ExperimentConfig:
        """The experiment the window shows: the race if one is set up, else the panels' run."""
        if self.document.race:
            return self.document.experiment(RunConfig())
        return self.document.experiment(self.current_run_config())

    def _check_panels_take(self, run: RunConfig) -> None:
        """Raise if a panel cannot show ``run`` (a value its field cannot hold), trying it on
        scratch panels so the window's own stay untouched."""
        for key, panel in self.panels.items():
            scratch = type(panel)()
            try:
                scratch.set_config(getattr(run, key))
            except OverflowError:
                raise ValueError(
                    f"a number in [{key}] is too large for Optiscope (integers must stay below 2,147,483,648)"
                ) from None
            finally:
                scratch.deleteLater()

    def _show_run_in_panels(self, run: RunConfig) -> None:
        for key, panel in self.panels.items():
            panel.set_config(getattr(run, key))
        self._update_derived()
        self._request_previews(("data", "schedule", "regularization"))

    def set_experiment(self, exp: ExperimentConfig, path: str | Path | None = None) -> None:
        """Fill the panels with ``exp`` (its base run, or a race's first runner, which the
        panels then edit); the document takes its race and lesson."""
        shown = exp.runs()[0] if exp.variations else exp.base
        for key, panel in self.panels.items():
            panel.set_config(getattr(shown, key))
        self.document.load(exp, path)
        self._update_derived()
        self._request_previews(("data", "schedule", "regularization"))

    @Slot(object)
    def show_lesson(self, exp: ExperimentConfig) -> None:
        """Show the experiment's description and lesson (what to look for) next to the panels."""
        if exp.lesson.strip() or exp.description.strip():
            html = f"<h3>{_esc(exp.name)}</h3>"
            if exp.description:
                html += f"<p><i>{_esc(exp.description)}</i></p>"
            for para in exp.lesson.strip().split("\n\n"):
                if para.strip():
                    html += f"<p>{_esc(' '.join(para.split()))}</p>"
            runs = exp.runs()
            if len(runs) > 1:
                html += "<p><b>Runs:</b> " + ", ".join(_esc(r.describe()) for r in runs) + "</p>"
            self.lesson_box.setHtml(html)
            self._place_lesson_dock()
            self.lesson_dock.show()
            self.lesson_dock.raise_()
        else:
            self.lesson_box.clear()
            self.lesson_dock.hide()

    def _place_lesson_dock(self) -> None:
        """Wide windows: the lesson beside the plots; narrow ones (a 1280 projector): a tab
        next to the experiment panels, so the plots keep their width."""
        wide = self.width() >= 1600
        area = self.dockWidgetArea(self.lesson_dock)
        if wide and area != Qt.DockWidgetArea.RightDockWidgetArea:
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.lesson_dock)
        elif not wide and not self.tabifiedDockWidgets(self.experiment_dock):
            self.tabifyDockWidget(self.experiment_dock, self.lesson_dock)
        if wide:
            self.resizeDocks([self.lesson_dock], [320], Qt.Orientation.Horizontal)

    def reset_settings(self) -> None:
        self.set_experiment(ExperimentConfig())

    # ------------------------------------------------------------------ race
    def compare(self) -> None:
        """Add the current settings to the race."""
        try:
            run = self.current_run_config()
        except PanelError as exc:
            self.report(f"Cannot add to the race: {exc}", error=True)
            return
        self.document.add_runner(run)
        n = len(self.document.race)
        self.report(f"Added '{self.document.labels()[-1]}' to the race ({n} runs); press Run to race them.")

    def clear_race(self) -> None:
        """Forget the race: Run trains the panels' settings alone."""
        if self.document.race:
            self.document.clear_race()
            self.report("Race cleared: Run trains the panels' settings.")

    def _apply_panels_to_race(self, key: str) -> None:
        """A panel was edited while a race is set up: change the runner the panels show (a
        section every runner shares changes for all), or say that the race is unchanged."""
        from pydantic import ValidationError

        doc, n = self.document, len(self.document.race)
        index = doc.selected
        if index is None:
            self.statusBar().showMessage(
                f"The race ({n} runs) is unchanged: Compare (Ctrl+K) adds these settings to it, "
                "Clear race (Ctrl+Shift+K) runs them alone.",
                8000,
            )
            return
        try:
            section = self.panels[key].config()
        except PanelError:
            return
        old = doc.race[index]
        if getattr(old, key) == section:
            return
        shared = n > 1 and all(getattr(r, key) == getattr(old, key) for r in doc.race)
        targets = range(n) if shared else (index,)
        race = list(doc.race)
        try:
            for i in targets:
                fields = {**dict(race[i]), key: section}
                if not shared:
                    fields["label"] = ""  # a lesson's name may no longer say what it is
                race[i] = RunConfig(**fields)
        except ValidationError as exc:
            self.report(f"Not applied to the race: {format_validation_error(exc)}", error=True)
            return
        doc.race = tuple(race)
        title = self.panels[key].title or key
        if shared:
            msg = f"{title}: changed for all {n} runners of the race (they share it)."
        else:
            msg = f"Runner {index + 1} of the race is now '{doc.labels()[index]}'."
        self.statusBar().showMessage(msg + " Run trains the race; Clear race runs the panels alone.", 8000)

    def edit_race_entry(self, row: int) -> None:
        """Show runner ``row`` of the race in the panels (Compare then adds a variant of it)."""
        race = self.document.race
        if not 0 <= row < len(race):
            return
        self._show_run_in_panels(race[row])
        self.document.selected = row
        self.report(f"The panels show runner {row + 1}, '{self.document.labels()[row]}': edits change it.")

    @Slot(QtWidgets.QListWidgetItem)
    def _on_race_double_click(self, item: QtWidgets.QListWidgetItem) -> None:
        self.edit_race_entry(self.race_list.row(item))

    def _remove_race_entry(self) -> None:
        self.document.remove_runner(self.race_list.currentRow())

    def _rename_race_entry(self) -> None:
        item = self.race_list.currentItem()
        if item is not None:
            self.race_list.editItem(item)

    def rename_race_entry(self, row: int, label: str) -> None:
        """Name runner ``row`` (empty: a label generated from what differs again)."""
        self.document.rename_runner(row, label)

    @Slot(QtWidgets.QListWidgetItem)
    def _on_race_item_renamed(self, item: QtWidgets.QListWidgetItem) -> None:
        row = self.race_list.row(item)
        if 0 <= row < len(self.document.race) and item.text() != self.document.labels()[row]:
            self.rename_race_entry(row, item.text())

    @Slot(tuple)
    def _show_race(self, race: tuple[RunConfig, ...]) -> None:
        with signals_blocked(self.race_list):
            current = self.race_list.currentRow()
            self.race_list.clear()
            for label in self.document.labels():
                item = QtWidgets.QListWidgetItem(label)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.race_list.addItem(item)
            if 0 <= current < len(race):
                self.race_list.setCurrentRow(current)
        n = len(race)
        self.toolbox.setItemText(self.race_index, f"Race: {n} runner{'s' if n != 1 else ''}" if n else "Race")
        self.race_rename.setEnabled(bool(n))
        self.race_remove.setEnabled(bool(n))
        self.race_clear.setEnabled(bool(n))
        self._show_race_selection(self.document.selected)

    @Slot(object)
    def _show_race_selection(self, index: int | None) -> None:
        """Bold: the runner the panels show and edit."""
        for row in range(self.race_list.count()):
            item = self.race_list.item(row)
            font = item.font()
            font.setBold(row == index)
            item.setFont(font)
        if not self.document.race:
            self.race_state.setText("No race: Run trains the panels' settings.")
        elif index is None:
            self.race_state.setText("The panels are a draft: Compare adds them as a runner.")
        else:
            self.race_state.setText(f"The panels show runner {index + 1} (bold): edits change it.")

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.runs.running

    def run(self) -> bool:
        """Start what the Run button names: the race if one is set up, else the panels' settings.

        While a run is live Run never restarts it: a paused run resumes, a running one goes
        on, and the status bar says how to start over (Stop or Reset first). Returns True
        when a new run started.
        """
        if self.running:
            if self.runs.paused:
                self.runs.toggle_pause()
                self.report("Resumed. Run does not restart a live run: Stop (Esc) or Reset first.")
            else:
                self.report(
                    "A run is in progress: Run does not restart it. Stop (Esc) or Reset (Ctrl+Shift+R) "
                    "first to start again."
                )
            return False
        return self._start(paused=False)

    def _start(self, paused: bool) -> bool:
        if not self.engine_loaded:
            self.report("The engine is still loading; Run is possible in a moment.", error=True)
            return False
        try:
            exp = self.experiment_config()
            runs = exp.runs()
        except (PanelError, ConfigError, ValueError) as exc:
            self.report(f"Cannot run: {exc}", error=True)
            self._update_derived()
            return False
        if len(runs) == 1 and not runs[0].label:
            runs = [runs[0].model_copy(update={"label": describe_run(runs[0])})]
        self._panel_lr = runs[0].optimizer.lr
        self.runs.start(runs, paused=paused, experiment=exp.name)
        if self.document.race:
            self.report(f"Training the race: {len(runs)} runs ({', '.join(r.label for r in runs)}).")
        else:
            self.report(f"Training the current settings: {runs[0].label}.")
        return True

    @Slot()
    def _on_run_started(self) -> None:
        if self.plots is not None:
            self.plots.clear()
            for events in self._past_overlays.values():  # past runs stay until removed
                self.plots.add_events(events)
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

    # ------------------------------------------------------------------ past runs (the store)
    PAST_RUN_ID_BASE = 100_000  # plot ids of past runs: never those of live runs (0, 1, ...)

    def overlay_past_runs(self, stored_runs: Sequence[Any]) -> None:
        """Draw stored runs' per-epoch curves over the live plots (named 'past: <label>');
        they stay across new runs until :meth:`clear_past_overlays`."""
        from optiscope.engine import events as ev

        if self.plots is None:
            self.report("The plots are not ready yet.", error=True)
            return
        for stored in stored_runs:
            rid = self.PAST_RUN_ID_BASE + stored.id
            s, metrics = stored.summary, stored.metrics
            if rid in self._past_overlays or not metrics:
                continue
            steps = int(metrics[-1]["step"]) if metrics[-1]["step"] == metrics[-1]["step"] else len(metrics)
            spe = max(1, steps // max(len(metrics), 1))
            events: list[Any] = [
                ev.RunStarted(
                    rid,
                    f"past: {s.label or f'run {s.id}'}",
                    stored.device or "?",
                    int(stored.n_params or 0),
                    spe,
                    steps,
                    int(s.epochs_planned or len(metrics)),
                    0,
                    stored.config,
                )
            ]
            for m in metrics:  # the store keeps epochs: one point per epoch on the step plots
                step = int(m["step"]) if m["step"] == m["step"] else int(m["epoch"]) * spe
                events.append(ev.Step(rid, step, int(m["epoch"]), m["lr"], m["train_loss"]))
                events.append(
                    ev.EpochEnd(
                        rid,
                        int(m["epoch"]),
                        step,
                        m["lr"],
                        m["train_loss"],
                        m["train_acc"],
                        m["val_loss"],
                        m["val_acc"],
                        m["seconds"],
                    )
                )
            events.append(ev.Finished(rid, "completed", len(metrics), steps, float(s.seconds or 0.0)))
            self._past_overlays[rid] = events
            self.plots.add_events(events)
        self.views.setCurrentWidget(self._plots_holder)
        self.report(
            f"Overlaid {len(stored_runs)} past run{'s' if len(stored_runs) != 1 else ''} on the plots."
        )

    def clear_past_overlays(self) -> None:
        """Remove every past run from the plots (the live runs stay)."""
        if self.plots is not None:
            for rid in self._past_overlays:
                self.plots.remove_run(rid)
        self._past_overlays.clear()

    def load_stored_settings(self, stored: Any) -> None:
        """Show a stored run's settings in the panels (a race, if any, is left as it is)."""
        try:
            run = stored.run_config()
            self._check_panels_take(run)
        except Exception as exc:  # noqa: BLE001 - a run stored by another version
            self.report(f"The settings of stored run {stored.id} cannot be loaded: {exc}", error=True)
            return
        self._show_run_in_panels(run)
        self.document.selected = None
        note = ""
        if self.document.race:
            note = f" The race ({len(self.document.race)} runs) is unchanged: Clear race to run them alone."
        self.report(f"The panels show stored run {stored.id}, '{stored.summary.label}'.{note}")
        self._update_actions()

    @Slot(list)
    def _draw_events(self, events: list) -> None:
        if self.plots is not None:
            self.plots.add_events(events)

    def flush_plots(self) -> None:
        """Draw every event received so far now (the end of a run, exports, tests)."""
        self.runs.flush()

    def stop(self) -> None:
        """Ask the run to stop at its next update; ``run_finished`` follows."""
        if self.runs.stop():
            self.statusBar().showMessage("Stopping…", 2000)

    def toggle_pause(self) -> None:
        self.runs.toggle_pause()

    def step_once(self) -> None:
        """One optimizer update, then pause (starts a paused run if none is live)."""
        self._advance(1)

    def step_epoch(self) -> None:
        """Run to the end of the current epoch, then pause."""
        self._advance(self.runs.steps_to_epoch_end(self._planned_steps_per_epoch()))

    def _advance(self, steps: int) -> None:
        if not self.running and not self._start(paused=True):
            return
        self.runs.advance(steps)

    def reset(self) -> None:
        """Stop the run and clear the plots and counters (the settings stay)."""
        self.runs.end()
        self.runs.clear()
        if self.plots is not None:
            self.plots.clear()
        self._update_actions()
        self._update_status()

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

    def find_lr(self) -> None:
        """Tools > Find learning rate: the range test on the panels' settings (gui/lrfind_dialog.py)."""
        from .lrfind_dialog import open_lr_finder

        open_lr_finder(self)

    def gradient_check(self) -> None:
        """Tools > Gradient check: every layer's gradient against finite differences."""
        from .gradcheck_dialog import open_gradient_check

        open_gradient_check(self)

    def tuning_recipe(self) -> None:
        """Tools > Tuning recipe: the six steps on the current settings."""
        from .recipe_panel import open_recipe

        open_recipe(self)

    def hyperparameter_search(self) -> None:
        """Tools > Hyperparameter search: an Optuna search on the panels' settings (gui/search_view.py)."""
        from .search_view import open_search

        open_search(self)

    def scale_lr(self, factor: float) -> None:
        """Ctrl+Up / Ctrl+Down. While a run is live: every rate of its schedule (every
        runner's) times ``factor`` from the next update; the Optimizer panel keeps the rate
        the next Run starts from. With no live run: the panel's learning rate times ``factor``."""
        if self.running:
            if self.runs.scale_live_lr(factor):
                self._report_live_lr(factor)
            return
        box = self.optimizer_panel.lr_box()
        box.setValue(min(max(box.value() * factor, box.minimum()), box.maximum()))
        self.report(f"Optimizer panel: learning rate {box.value():g} (for the next Run).")

    def _send_live_lr(self) -> bool:
        """The Optimizer panel's rate was edited while one run (not a race) is live: scale
        its schedule by the same factor from the next update. True if it was sent."""
        if not self.running or len(self.runs.live_runs) != 1:
            return False
        try:
            lr = self.optimizer_panel.config().lr
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
        self.statusBar().showMessage(
            f"Live run: {who} {what} ×{factor:.3g} from the next update (now ×{total:.3g} the rates "
            "set at Run). The Optimizer panel is unchanged: the next Run starts from its rate.",
            8000,
        )

    def set_plot_mode(self, mode: str) -> None:
        self.acts["grid" if mode == "grid" else "overlay"].setChecked(True)
        if self.plots is not None:
            self.plots.set_mode(mode)

    @Slot(str)
    def _on_plots_mode(self, mode: str) -> None:
        self.acts["grid" if mode == "grid" else "overlay"].setChecked(True)

    # ------------------------------------------------------------------ status and actions
    @Slot()
    def _update_actions(self) -> None:
        ready = self.engine_loaded
        a = self.acts
        a["run"].setEnabled(ready)
        n = len(self.document.race)
        a["run"].setText(
            "Run (loading engine…)" if not ready else f"Run race ({n} runs)" if n else "Run current settings"
        )
        a["run"].setToolTip(f"{self._run_tip()} ({a.keys_text(a['run'])})")
        if "clear_race" in a.actions:
            a["clear_race"].setEnabled(bool(n))
        a["step"].setEnabled(ready)
        a["step_epoch"].setEnabled(ready)
        a["compare"].setEnabled(True)
        a["pause"].setEnabled(self.running)
        a["pause"].setText("Resume" if self.runs.paused else "Pause")
        a["stop"].setEnabled(self.running)
        a["reset"].setEnabled(ready)

    def _run_tip(self) -> str:
        """What Run trains, in words (the Run button's tooltip)."""
        if self.document.race:
            labels = self.document.labels()
            return (
                f"Run trains the race, {len(labels)} runs: {', '.join(labels)}. Not the panels alone: "
                "Clear race (Ctrl+Shift+K) to train the panels' settings"
            )
        try:
            return f"Run trains the current settings: {describe_run(self.current_run_config())}"
        except PanelError:
            return "Run trains the current settings (fix the problems shown under the panels first)"

    @Slot()
    def _update_status(self) -> None:
        for key, text in self.runs.status_texts().items():
            self.status_labels[key].setText(text)

    @Slot(str, bool)
    def report(self, text: str, error: bool = False) -> None:
        """Show a message in the status bar and keep it in :attr:`messages`."""
        self.messages.append(text)
        self.statusBar().showMessage(text, 10_000 if error else 5000)

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        path = self.document.path
        start = str(path.parent) if path else str(Path.home())
        chosen, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open experiment", start, "Experiments (*.toml);;All files (*)"
        )
        if chosen:
            self.open_experiment(chosen)

    def open_experiment(self, path: str | Path, quiet: bool = False) -> bool:
        """Load an experiment TOML; a bad file is reported (a dialog unless ``quiet``) and changes
        nothing: the file is read, every run resolved and every panel value tried on scratch
        panels before the window's panels are touched."""
        try:
            exp = load_toml(path)
            shown = exp.runs()[0]  # every variation resolves (and the one the panels show)
            self._check_panels_take(shown if exp.variations else exp.base)
        except ConfigError as exc:
            msg = str(exc)
        except RecursionError:
            msg = f"{path}: the file nests tables or arrays too deeply to be an experiment."
        except Exception as exc:  # noqa: BLE001 - any bad file is a message, never a crash
            msg = f"{path}: not a usable experiment file ({type(exc).__name__}: {exc})."
        else:
            msg = ""
        if msg:
            self.report(f"Could not open {path}: {msg.splitlines()[0]}", error=True)
            if not quiet:
                QtWidgets.QMessageBox.warning(self, "Cannot open experiment", msg)
            return False
        self.set_experiment(exp, path)
        self.report(f"Opened {Path(path).name}")
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        doc = self.document
        start = str(doc.path) if doc.path else str(Path.home() / f"{doc.meta.name}.toml")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save experiment", start, "Experiments (*.toml)"
        )
        if not path:
            return False
        if not path.endswith(".toml"):
            path += ".toml"
        return self.save_to(path)

    def save_to(self, path: str | Path) -> bool:
        """Write the experiment atomically; problems are reported, nothing half-written."""
        try:
            exp = self.experiment_config()
        except PanelError as exc:
            self.report(f"Not saved: {exc}", error=True)
            QtWidgets.QMessageBox.warning(self, "Cannot save", f"The settings are not valid:\n{exc}")
            return False
        try:
            dump_toml(exp, path)
        except OSError as exc:
            self.report(f"Not saved: {exc}", error=True)
            QtWidgets.QMessageBox.warning(self, "Cannot save", f"{path} could not be written:\n{exc}")
            return False
        self.document.path = path
        self.report(f"Saved {Path(path).name}")
        return True

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

    def metrics_csv(self) -> str:
        """Every epoch received, with the CLI's metrics.csv columns."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(METRIC_COLUMNS)
        for e in sorted(self.runs.epoch_events, key=lambda e: (e.run, e.epoch)):
            values = (format_csv(float(getattr(e, k))) for k in METRIC_COLUMNS[3:])
            w.writerow([e.run, format_csv(self.runs.label(e.run)), e.epoch, *values])
        return buf.getvalue()

    def export_metrics(self, path: str | Path) -> bool:
        from optiscope.engine.files import atomic_write_text

        path = Path(path)
        try:
            atomic_write_text(path, self.metrics_csv())
        except OSError as exc:
            self.report(f"Metrics not exported: {exc}", error=True)
            return False
        self.report(f"Exported {len(self.runs.epoch_events)} epochs to {path.name}")
        return True

    def export_metrics_dialog(self) -> None:
        if not self.runs.epoch_events:
            self.report("Nothing to export yet: run an experiment first.", error=True)
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export metrics", str(Path.home() / "metrics.csv"), "CSV (*.csv)"
        )
        if path:
            self.export_metrics(path)

    def export_plot(self, name: str, path: str | Path) -> bool:
        """Write plot ``name`` as PNG or SVG (by the file's suffix)."""
        if self.plots is None:
            self.report("The plots are not ready yet.", error=True)
            return False
        self.flush_plots()
        path = Path(path)
        try:
            if path.suffix.lower() == ".svg":
                self.plots.export_svg(name, path)
            else:
                self.plots.export_png(name, path)
        except Exception as exc:  # an exporter problem is reported, never a crash
            self.report(f"Plot not exported: {exc}", error=True)
            return False
        self.report(f"Exported the {name} plot to {path.name}")
        return True

    @Slot()
    def _fill_export_menu(self) -> None:
        self.export_menu.clear()
        names = list(self.plots.plot_items()) if self.plots is not None else []
        if not names:
            self.export_menu.addAction("(no plots yet)").setEnabled(False)
        for name in names:
            for fmt in ("PNG", "SVG"):
                act = self.export_menu.addAction(f"{name.capitalize()} as {fmt}…")
                act.setData((name, fmt.lower()))

    @Slot(QtGui.QAction)
    def _on_export_chosen(self, act: QtGui.QAction) -> None:
        if act.data():
            name, fmt = act.data()
            self._export_plot_dialog(name, fmt)

    def _export_plot_dialog(self, name: str, fmt: str) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, f"Export the {name} plot", str(Path.home() / f"{name}.{fmt}"), f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            if not path.lower().endswith(f".{fmt}"):
                path += f".{fmt}"
            self.export_plot(name, path)

    # ------------------------------------------------------------------ lessons
    @Slot()
    def _fill_lessons_menu(self) -> None:
        from optiscope.engine.presets import all_presets

        self.lessons_menu.clear()
        try:
            presets = all_presets()
        except ConfigError as exc:
            self.lessons_menu.addAction(f"(presets unreadable: {exc})").setEnabled(False)
            return
        for name, exp in presets.items():
            act = self.lessons_menu.addAction(name)
            act.setToolTip(exp.description)
            act.setStatusTip(exp.description)
            act.setData(name)

    @Slot(QtGui.QAction)
    def _on_lesson_chosen(self, act: QtGui.QAction) -> None:
        if act.data():
            self.load_preset(act.data())

    def load_preset(self, name: str) -> None:
        """Fill the panels from a bundled preset and show its lesson."""
        from optiscope.engine.presets import get_preset

        try:
            exp = get_preset(name)
        except ConfigError as exc:
            self.report(str(exc), error=True)
            return
        self.set_experiment(exp)
        self.report(f"Lesson '{name}' loaded: press Run (F5).")

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{_esc(keys)}</b></td><td>{_esc(text)}</td></tr>"
            for keys, text in self.acts.shortcut_rows()
        )
        QtWidgets.QMessageBox.information(self, "Keyboard shortcuts", f"<table cellpadding=3>{rows}</table>")

    def show_about(self) -> None:
        from .about import show_about

        show_about(self)

    # ------------------------------------------------------------------ theme, window state
    def _apply_theme(self, theme: str) -> None:
        app = QtWidgets.QApplication.instance()
        if app is None:
            return
        try:
            qss = (
                resources.files("optiscope.resources")
                .joinpath(f"style-{theme}.qss")
                .read_text(encoding="utf-8")
            )
        except (OSError, FileNotFoundError) as exc:
            self.report(f"Theme '{theme}' could not be loaded ({exc}).", error=True)
            qss = ""
        palette = _dark_palette() if theme == "dark" else app.style().standardPalette()
        app.setPalette(palette)
        self.setStyleSheet(qss)
        self.acts.tint_icons(palette if theme == "dark" else None)  # dark pictograms vanish on dark
        if self.plots is not None:
            self.plots.set_theme(theme)
        if theme in self.theme_actions:
            self.theme_actions[theme].setChecked(True)
        self.theme = theme

    def set_theme(self, theme: str) -> None:
        """Use ``theme`` (one of :data:`~.settings.THEMES`) and remember it."""
        self._apply_theme(theme)
        self.settings.set_theme(theme)

    @Slot(QtGui.QAction)
    def _on_theme_chosen(self, act: QtGui.QAction) -> None:
        self.set_theme(act.data())

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
        self.runs.shutdown()
        self.jobs.shutdown()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Stop a live run and every background job, and remember the window."""
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


def _dark_palette() -> QtGui.QPalette:
    """A dark palette for the Fusion style (readable on a dim projector)."""
    P = QtGui.QPalette.ColorRole
    pal = QtGui.QPalette()
    colours = {
        P.Window: "#1e2227",
        P.WindowText: "#e6e6e6",
        P.Base: "#2a2f36",
        P.AlternateBase: "#323840",
        P.ToolTipBase: "#2a2f36",
        P.ToolTipText: "#f0f0f0",
        P.Text: "#f0f0f0",
        P.Button: "#2c333b",
        P.ButtonText: "#e6e6e6",
        P.BrightText: "#ff6b6b",
        P.Highlight: "#0b5c8c",
        P.HighlightedText: "#ffffff",
        P.Link: "#56B4E9",
        P.PlaceholderText: "#8a929a",
        P.Mid: "#444b55",
        P.Dark: "#15181c",
        P.Light: "#3a414a",
    }
    for role, colour in colours.items():
        pal.setColor(role, QtGui.QColor(colour))
    for role in (P.WindowText, P.Text, P.ButtonText):
        pal.setColor(QtGui.QPalette.ColorGroup.Disabled, role, QtGui.QColor("#6b737b"))
    return pal


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
