"""The Optiscope window: experiment panels, run controls, live plots, files and lessons.

The window builds a new :class:`~optiscope.engine.config.ExperimentConfig` from the panels
on every Run; the run never reads a widget. Training runs in a :class:`~.worker.RunSession`
(one worker on a parentless QThread); the engine itself (torch, scikit-learn) is loaded by
:class:`~.worker.Background` behind the visible window.
"""

from __future__ import annotations

import atexit
import csv
import io
import math
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from optiscope.engine.config import (
    ConfigError,
    ExperimentConfig,
    RunConfig,
    dump_toml,
    format_validation_error,
    load_toml,
)
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal, Slot

from .panels import Panel, PanelError
from .panels.data import DataPanel, preview_summary
from .panels.model import ModelPanel
from .panels.optimizer import OptimizerPanel
from .panels.regularization import RegularizationPanel, augmentation_samples
from .panels.schedule import SchedulePanel
from .panels.training import TrainingPanel
from .settings import THEMES, AppSettings
from .worker import Background, RunSession, collect_garbage_on_gui_thread, load_engine

__all__ = ["MainWindow", "SPEEDS", "METRIC_COLUMNS", "race_experiment"]

# slow motion: seconds of delay before every update, and how the speed control names them
SPEEDS: tuple[tuple[float, str], ...] = (
    (0.0, "full speed"), (0.002, "fast"), (0.01, "100 steps/s"), (0.05, "20 steps/s"),
    (0.1, "10 steps/s"), (0.25, "4 steps/s"), (0.5, "2 steps/s"), (1.0, "1 step/s"),
)  # fmt: skip
# the CLI's metrics.csv columns (optiscope.engine.runner.METRIC_COLUMNS; copied to stay torch-free)
METRIC_COLUMNS = ("run", "label", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
PREVIEW_MAX_STEPS = 50_000
MIN_DRAW_INTERVAL = 1.0 / 25.0  # plots redraw at most ~25 times a second (events arrive <= 30/s)
DRAW_BUSY_FRACTION = 0.25  # and slower when one redraw is expensive (a slow machine, many runs)
# While training runs next to the GUI thread both need the GIL; a short switch interval
# (Python's default is 5 ms) keeps the plots' many small Python->Qt calls from queueing
# behind the training thread: event-loop stalls roughly halve, training loses ~1 %.
RUN_SWITCH_INTERVAL = 0.0005
STATUS_INTERVAL = 0.25  # the status bar's numbers change at most 4 times a second


def _fmt(v: float) -> str:
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return str(v)


def _diff(base: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The overrides that turn ``base`` into ``run`` (a changed ``kind`` replaces the section)."""
    out: dict[str, Any] = {}
    for key, value in run.items():
        b = base.get(key)
        if isinstance(value, dict) and isinstance(b, dict):
            if "kind" in value and value.get("kind") != b.get("kind"):
                out[key] = {k: v for k, v in value.items() if v is not None}
            else:
                inner = _diff(b, value)
                if inner:
                    out[key] = inner
        elif value != b and value is not None:
            out[key] = value
    return out


def race_experiment(
    runs: Sequence[RunConfig], *, name: str = "race", description: str = "", lesson: str = ""
) -> ExperimentConfig:
    """An experiment whose variations are ``runs`` (the first is the base), each labelled."""
    base = runs[0].model_copy(update={"label": ""})
    base_d = base.model_dump(mode="python")
    variations = []
    seen: dict[str, int] = {}
    for run in runs:
        label = run.describe()
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        var = _diff(base_d, run.model_dump(mode="python", exclude={"label"}))
        var["label"] = label
        variations.append(var)
    return ExperimentConfig(name=name, description=description, lesson=lesson, base=base,
                            variations=tuple(variations))  # fmt: skip


def _default_plots_factory(parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
    from .plots import LivePlots  # pyqtgraph: imported after the window is shown

    return LivePlots(parent)


def _lr_preview_job(opt: Any, sched: Any, spe: int, epochs: int) -> tuple[list[float], str]:
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



# training-set sizes of the bundled sets (the synthetic ones use n_samples)
_BUNDLED_ROWS = {"digits": 1797, "breast_cancer": 569, "wine": 178, "iris": 150}


def weights_every_for(runs: Sequence[Any], snapshots: int = 200) -> int:
    """Updates between weight snapshots, so the landscape view gets ~``snapshots`` per run.

    Estimated from the configs (the data is not loaded on the GUI thread); a CSV counts as
    1000 rows. Each snapshot is a copy of the parameter vector: cheap for these models.
    """
    most = 1
    for r in runs:
        d = r.dataset
        rows = d.n_samples if d.is_2d else _BUNDLED_ROWS.get(d.name, 1000)
        n_train = max(1, round(rows * d.train_fraction))
        if d.subsample is not None:
            n_train = min(n_train, d.subsample)
        steps = r.training.epochs * -(-n_train // r.training.batch_size)
        most = max(most, steps)
    return max(1, most // snapshots)


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
        plots_factory: Callable[[QtWidgets.QWidget], QtWidgets.QWidget] | None = None,
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
        self.session: RunSession | None = None
        self._generation = 0
        self._delay = 0.0
        self._live_lr: float | None = None
        self.race: list[RunConfig] = []
        self.path: Path | None = None
        self.meta = ExperimentConfig()
        self.plots: QtWidgets.QWidget | None = None
        self._reset_run_state()
        collect_garbage_on_gui_thread()  # Qt objects must never be collected by a worker thread
        self.background = Background()
        atexit.register(_shutdown_at_exit, weakref.ref(self))
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.background.done.connect(self._on_job_done)
        self.background.failed.connect(self._on_job_failed)
        # drawing is paced on the GUI side too: batches that arrive while the plots are still
        # busy are merged, so drawing takes at most ~DRAW_BUSY_FRACTION of the GUI thread
        self._pending_draw: list[Any] = []
        self._frame_cost = 0.0
        self._last_draw = 0.0
        self._draw_started = 0.0
        self._last_status = 0.0
        self._draw_timer = QtCore.QTimer(self)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw)
        self._elapsed_timer = QtCore.QTimer(self)
        self._elapsed_timer.setInterval(500)
        self._elapsed_timer.timeout.connect(self._update_status)

        self._build_panels()
        self._build_central()
        self._build_lesson_dock()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status()
        self._apply_theme(self.settings.theme())
        self._restore_window()
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
            "dataset": self.data_panel, "model": self.model_panel, "optimizer": self.optimizer_panel,
            "schedule": self.schedule_panel, "regularization": self.regularization_panel,
            "training": self.training_panel,
        }  # fmt: skip
        self.toolbox = QtWidgets.QToolBox()
        self.toolbox.setObjectName("panels")
        for key, panel in self.panels.items():
            scroll = QtWidgets.QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(panel)
            self.toolbox.addItem(scroll, panel.title)
            panel.changed.connect(partial(self._on_panel_changed, key))
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
            "runner from the same initial weights and batch order. Clear the race to run the "
            "panels' settings alone."
        )
        note.setWordWrap(True)
        note.setObjectName("hint")
        rg.addWidget(note)
        self.race_list = QtWidgets.QListWidget()
        self.race_list.setObjectName("race")
        rg.addWidget(self.race_list, 1)
        row = QtWidgets.QHBoxLayout()
        self.race_remove = QtWidgets.QPushButton("Remove")
        self.race_clear = QtWidgets.QPushButton("Clear race")
        row.addWidget(self.race_remove)
        row.addWidget(self.race_clear)
        row.addStretch(1)
        rg.addLayout(row)
        self.race_list.setToolTip("double-click a runner to show its settings in the panels")
        self.race_list.itemDoubleClicked.connect(
            lambda _item: self.edit_race_entry(self.race_list.currentRow())
        )
        self.race_remove.clicked.connect(self._remove_race_entry)
        self.race_clear.clicked.connect(self.clear_race)
        self.race_index = self.toolbox.addItem(self.race_group, "Race")
        self._refresh_race()
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

    def _action(
        self,
        text: str,
        slot: Callable[..., Any],
        shortcuts: Sequence[str] = (),
        tip: str = "",
        icon: QtWidgets.QStyle.StandardPixmap | None = None,
        checkable: bool = False,
    ) -> QtGui.QAction:
        act = QtGui.QAction(text, self)
        if shortcuts:
            act.setShortcuts([QtGui.QKeySequence(s) for s in shortcuts])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        keys = ", ".join(
            QtGui.QKeySequence(s).toString(QtGui.QKeySequence.SequenceFormat.NativeText) for s in shortcuts
        )
        full_tip = f"{tip} ({keys})" if keys and tip else (tip or keys)
        act.setToolTip(full_tip)
        act.setStatusTip(tip)
        if icon is not None:
            act.setIcon(self.style().standardIcon(icon))
        act.setCheckable(checkable)
        act.triggered.connect(lambda *_: slot())
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        SP = QtWidgets.QStyle.StandardPixmap
        self.act_run = self._action(
            "Run",
            self.run,
            ("F5", "Ctrl+R"),
            "train with the current settings (a race if one is set up)",
            SP.SP_MediaPlay,
        )
        self.act_pause = self._action(
            "Pause", self.toggle_pause, ("F6", "Ctrl+P"), "pause or resume the run", SP.SP_MediaPause
        )
        self.act_step = self._action(
            "Step", self.step_once, ("F10",), "one optimizer update, then pause", SP.SP_MediaSeekForward
        )
        self.act_step_epoch = self._action(
            "Epoch",
            self.step_epoch,
            ("Shift+F10",),
            "run to the end of this epoch, then pause",
            SP.SP_MediaSkipForward,
        )
        self.act_stop = self._action("Stop", self.stop, ("Esc", "Shift+F5"), "stop the run", SP.SP_MediaStop)
        self.act_reset = self._action(
            "Reset",
            self.reset,
            ("Ctrl+Shift+R",),
            "stop and clear the plots, keep the settings",
            SP.SP_BrowserReload,
        )
        self.act_compare = self._action(
            "Compare",
            self.compare,
            ("Ctrl+K",),
            "add the current settings as another runner of the race",
            SP.SP_FileDialogNewFolder,
        )
        self.act_slower = self._action(
            "Slower",
            lambda: self.set_speed_index(self.speed_slider.value() + 1),
            ("Ctrl+[",),
            "slow motion: wait longer before each update",
        )
        self.act_faster = self._action(
            "Faster",
            lambda: self.set_speed_index(self.speed_slider.value() - 1),
            ("Ctrl+]",),
            "less slow motion",
        )
        self.act_lr_up = self._action(
            "LR × 2",
            lambda: self.scale_lr(2.0),
            ("Ctrl+Up",),
            "double the learning rate (takes effect at the next update while running)",
        )
        self.act_lr_down = self._action(
            "LR ÷ 2",
            lambda: self.scale_lr(0.5),
            ("Ctrl+Down",),
            "halve the learning rate (takes effect at the next update while running)",
        )
        self.act_open = self._action(
            "&Open experiment…",
            self.open_dialog,
            (QtGui.QKeySequence.StandardKey.Open,),
            "open an experiment TOML file",
        )
        self.act_save = self._action(
            "&Save experiment",
            self.save,
            (QtGui.QKeySequence.StandardKey.Save,),
            "save the experiment as TOML",
        )
        self.act_save_as = self._action(
            "Save experiment &as…", self.save_as, ("Ctrl+Shift+S",), "save the experiment under another name"
        )
        self.act_export_csv = self._action(
            "Export metrics as &CSV…",
            self.export_metrics_dialog,
            ("Ctrl+E",),
            "every epoch's metrics of every run, as the CLI's metrics.csv",
        )
        self.act_quit = self._action(
            "&Quit", self.close, (QtGui.QKeySequence.StandardKey.Quit,), "close Optiscope"
        )
        self.act_overlay = self._action(
            "Overlay runs",
            lambda: self.set_plot_mode("overlay"),
            ("Ctrl+1",),
            "draw every run on the same axes",
            checkable=True,
        )
        self.act_grid = self._action(
            "Small multiples",
            lambda: self.set_plot_mode("grid"),
            ("Ctrl+2",),
            "one small plot per run, shared axes",
            checkable=True,
        )
        group = QtGui.QActionGroup(self)
        group.addAction(self.act_overlay)
        group.addAction(self.act_grid)
        self.act_overlay.setChecked(True)
        self.act_defaults = self._action(
            "Reset settings to defaults", self.reset_settings, (), "the reading list's blobs + SGD set-up"
        )
        self.act_shortcuts = self._action(
            "Keyboard shortcuts", self.show_shortcuts, ("F1",), "list the keyboard shortcuts"
        )

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_save, self.act_save_as):
            m.addAction(a)
        m.addSeparator()
        self.export_menu = m.addMenu("Export &plot")
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        m.addAction(self.act_export_csv)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Run")
        for a in self._run_actions():
            m.addAction(a)
        m.addSeparator()
        for a in (self.act_compare, self.act_lr_up, self.act_lr_down, self.act_faster, self.act_slower):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_defaults)
        self.lessons_menu = mb.addMenu("&Lessons")
        self.lessons_menu.setToolTipsVisible(True)
        self.lessons_menu.aboutToShow.connect(self._fill_lessons_menu)
        m = mb.addMenu("&View")
        m.addAction(self.act_overlay)
        m.addAction(self.act_grid)
        m.addSeparator()
        m.addAction(self.experiment_dock.toggleViewAction())
        m.addAction(self.lesson_dock.toggleViewAction())
        theme_menu = m.addMenu("Theme")
        self.theme_actions: dict[str, QtGui.QAction] = {}
        tg = QtGui.QActionGroup(self)
        for theme in THEMES:
            act = theme_menu.addAction(theme.capitalize())
            act.setCheckable(True)
            act.triggered.connect(partial(self._set_theme, theme))
            tg.addAction(act)
            self.theme_actions[theme] = act
        m = mb.addMenu("&Help")
        m.addAction(self.act_shortcuts)

    def _run_actions(self) -> tuple[QtGui.QAction, ...]:
        """Run, Pause, Step, Epoch, Stop, Reset: in this order in the menu and the toolbar."""
        return (self.act_run, self.act_pause, self.act_step, self.act_step_epoch, self.act_stop, self.act_reset)

    def _build_toolbar(self) -> None:
        tb = QtWidgets.QToolBar("Run controls")
        tb.setObjectName("runToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setMovable(False)
        for a in self._run_actions():
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_compare)
        tb.addSeparator()
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
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.engine_label = QtWidgets.QLabel("Loading engine…")
        self.engine_label.setObjectName("engineState")
        self.status_labels: dict[str, QtWidgets.QLabel] = {}
        # widths fixed from templates: changing numbers never re-lay out the status bar
        templates = {"epoch": "Epoch 9999/9999", "step": "Step 999,999/999,999", "rate": "99,999 steps/s",
                     "lr": "LR 0.000123", "device": "Device cuda:0", "elapsed": "99:99"}  # fmt: skip
        for key, template in templates.items():
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
            self._expose_watcher = _ExposeWatcher(
                lambda: QtCore.QMetaObject.invokeMethod(self, "start", Qt.ConnectionType.QueuedConnection)
            )
            self.windowHandle().installEventFilter(self._expose_watcher)

    @Slot()
    def start(self) -> None:
        """Create the plots and start loading the engine (idempotent; runs after show)."""
        if self._started or self._closing:
            return
        self._started = True
        self.background.submit("engine", load_engine)
        self._create_plots()
        # >>> landscape tab (issue 5): gui/landscape_view.py adds the tab and takes the run's events
        try:
            from .landscape_view import install as install_landscape

            self.landscape = install_landscape(self)
        except Exception as exc:  # the landscape tab must never stop the app
            self.report(f"Loss landscape unavailable: {exc}", error=True)
        # <<< landscape tab
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
        mode = "grid" if self.act_grid.isChecked() else "overlay"
        if hasattr(plots, "set_mode"):
            plots.set_mode(mode)
        if hasattr(plots, "set_theme"):
            plots.set_theme(self.theme)
        if hasattr(plots, "mode_changed"):
            plots.mode_changed.connect(self._on_plots_mode)

    def add_view(self, title: str, widget: QtWidgets.QWidget) -> int:
        """Add a tab next to the training plots (e.g. the loss landscape); returns its index."""
        return self.views.addTab(widget, title)

    # ------------------------------------------------------------------ background jobs
    @Slot(str, int, object)
    def _on_job_done(self, key: str, seq: int, result: object) -> None:
        if seq != self.background.latest(key):
            return
        if key == "engine":
            self._on_engine_loaded(result)  # type: ignore[arg-type]
        elif key == "data_preview":
            self.data_panel.show_preview(result)  # type: ignore[arg-type]
            if self.data_panel.name_box.currentData() == "csv":
                self._update_derived()
        elif key == "lr_preview":
            lrs, note = result  # type: ignore[misc]
            self.schedule_panel.show_lr_preview(lrs, note)
        elif key == "aug_preview":
            self.regularization_panel.show_augmentation(result)  # type: ignore[arg-type]

    @Slot(str, int, str)
    def _on_job_failed(self, key: str, seq: int, message: str) -> None:
        if seq != self.background.latest(key):
            return
        if key == "engine":
            self.engine_label.setText("Engine failed to load")
            self.report(f"The training engine could not be loaded: {message}", error=True)
        elif key == "data_preview":
            self.data_panel.show_preview_error(message)
        elif key == "lr_preview":
            self.schedule_panel.show_preview_error(message)
        elif key == "aug_preview":
            self.regularization_panel.show_preview_error(message)

    def _on_engine_loaded(self, info: dict[str, Any]) -> None:
        self.engine_loaded = True
        self.engine_info = info
        self.training_panel.set_devices(info.get("devices", ["cpu"]))
        self.engine_label.setText(f"Engine ready (torch {info.get('torch', '?')})")
        self._request_previews(("data", "schedule", "regularization"))
        self._update_actions()
        self.engine_ready.emit()

    def _request_previews(self, which: Sequence[str]) -> None:
        if not self.engine_loaded or self._closing:
            return
        if "data" in which:
            try:
                cfg = self.data_panel.config()
            except PanelError:
                pass
            else:
                self.background.submit("data_preview", partial(preview_summary, cfg))
        if "schedule" in which:
            try:
                opt, sched = self.optimizer_panel.config(), self.schedule_panel.config()
                epochs = self.training_panel.config().epochs
            except PanelError:
                pass
            else:
                spe = self._planned_steps_per_epoch()
                self.background.submit("lr_preview", partial(_lr_preview_job, opt, sched, spe, epochs))
        if "regularization" in which:
            try:
                aug = self.regularization_panel.config().augmentation
                data = self.data_panel.config()
            except PanelError:
                return
            if aug.active:
                self.background.submit("aug_preview", partial(augmentation_samples, data, aug))
            else:
                self.regularization_panel.show_augmentation(None)

    # ------------------------------------------------------------------ panels
    def _planned_steps_per_epoch(self) -> int:
        shape = self.data_panel.shape()
        try:
            bs = self.training_panel.config().batch_size
        except PanelError:
            bs = 32
        return max(math.ceil(shape["n_train"] / bs), 1)

    def _on_panel_changed(self, key: str) -> None:
        self._update_derived()
        if key == "dataset":
            self._request_previews(("data", "schedule", "regularization"))
        elif key in ("optimizer", "schedule", "training"):
            self._request_previews(("schedule",))
        elif key == "regularization":
            self._request_previews(("regularization",))
        if key == "optimizer":
            self._send_live_lr()
        if self.running and key != "optimizer":
            self.statusBar().showMessage("Settings changed: they apply to the next Run.", 4000)

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
        out = []
        for panel in self.panels.values():
            p = panel.problem()
            if p:
                out.append(p)
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
        meta = self.meta
        if self.race:
            exp = race_experiment(self.race, name=meta.name, description=meta.description, lesson=meta.lesson)
            if meta.independent_seeds:
                exp = exp.model_copy(update={"independent_seeds": True})
            return exp
        return ExperimentConfig(name=meta.name, description=meta.description, lesson=meta.lesson,
                                base=self.current_run_config())  # fmt: skip

    def set_experiment(self, exp: ExperimentConfig) -> None:
        """Fill the panels with ``exp`` (its base run), its race and its lesson."""
        base = exp.base
        self.data_panel.set_config(base.dataset)
        self.model_panel.set_config(base.model)
        self.optimizer_panel.set_config(base.optimizer)
        self.schedule_panel.set_config(base.schedule)
        self.regularization_panel.set_config(base.regularization)
        self.training_panel.set_config(base.training)
        self.meta = exp.model_copy(update={"base": RunConfig(), "variations": ()})
        self.race = list(exp.runs()) if exp.variations else []
        self._refresh_race()
        self.show_lesson(exp)
        self._update_derived()
        self._request_previews(("data", "schedule", "regularization"))

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
        self.path = None
        self.set_experiment(ExperimentConfig())
        self._update_title()

    # ------------------------------------------------------------------ race
    def compare(self) -> None:
        """Add the current settings to the race (the first Compare also adds nothing else)."""
        try:
            run = self.current_run_config()
        except PanelError as exc:
            self.report(f"Cannot add to the race: {exc}", error=True)
            return
        self.race.append(run)
        self._refresh_race()
        self.report(f"Added '{run.describe()}' to the race ({len(self.race)} runs); press Run to race them.")

    def clear_race(self) -> None:
        self.race = []
        self._refresh_race()

    def edit_race_entry(self, row: int) -> None:
        """Show runner ``row`` of the race in the panels (Compare then adds a variant of it)."""
        if not 0 <= row < len(self.race):
            return
        run = self.race[row]
        for key, panel in self.panels.items():
            panel.set_config(getattr(run, key))
        self._update_derived()
        self._request_previews(("data", "schedule", "regularization"))
        self.report(f"The panels show runner {row + 1}, '{run.describe()}'.")

    def _remove_race_entry(self) -> None:
        row = self.race_list.currentRow()
        if 0 <= row < len(self.race):
            del self.race[row]
            self._refresh_race()

    def _refresh_race(self) -> None:
        self.race_list.clear()
        for i, run in enumerate(self.race):
            self.race_list.addItem(f"{i + 1}. {run.describe()}")
        n = len(self.race)
        self.toolbox.setItemText(self.race_index, f"Race: {n} runner{'s' if n != 1 else ''}" if n else "Race")
        self.race_remove.setEnabled(bool(n))
        self.race_clear.setEnabled(bool(n))

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.session is not None and self.session.running

    def _reset_run_state(self) -> None:
        self._pending_draw = []
        self.run_ids: frozenset[int] = frozenset()
        self.run_info: dict[int, Any] = {}
        self.epoch_events: list[Any] = []
        self.last_step: dict[int, Any] = {}
        self.finished_reasons: dict[int, str] = {}
        self.total_steps_seen = 0
        self._rate_samples: list[tuple[float, int]] = []
        self._t_start: float | None = None
        self._t_end: float | None = None
        self.last_reason: str | None = None

    def run(self) -> bool:
        """Start the experiment from the panels (stopping a live one first)."""
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
        from optiscope.engine.trainer import RunControl

        sys.setswitchinterval(RUN_SWITCH_INTERVAL)
        self._end_session()
        # each experiment is one generation; its runs are 0..n-1 (so each keeps its palette
        # colour); events of an older generation are dropped however late they arrive
        self._generation += 1
        ids = range(len(runs))
        control = RunControl(start_paused=paused)
        control.set_delay(self._delay)
        two_d = any(r.dataset.is_2d for r in runs)
        # ~40 decision-boundary pictures per run: smooth enough to watch, cheap for the engine
        boundary_every = max(1, max(r.training.epochs for r in runs) // 40) if two_d else 0
        session = RunSession(
            runs, run_ids=ids, control=control, boundary_every=boundary_every,
            weights_every=weights_every_for(runs),
        )  # fmt: skip
        session.generation = self._generation
        session.events_ready.connect(partial(self._on_events, session))
        session.errored.connect(partial(self._on_errored, session))
        session.finished.connect(partial(self._on_finished, session))
        self.session = session
        self._reset_run_state()
        self._draw_timer.stop()
        self.run_ids = session.run_ids
        self.planned_runs = runs
        self._live_lr = runs[0].optimizer.lr
        if self.plots is not None and hasattr(self.plots, "clear"):
            self.plots.clear()
        self._t_start = time.perf_counter()
        session.start()
        self._elapsed_timer.start()
        self._update_actions()
        self._update_status()
        self.run_started.emit()
        return True

    def _end_session(self, timeout_ms: int = 15_000) -> None:
        """Stop the live run (if any) and wait for its thread."""
        s = self.session
        if s is None:
            return
        if not s.join(timeout_ms):  # pragma: no cover - a step that takes > 15 s
            self.report("The previous run did not stop in time; it will end on its own.", error=True)
        if self.session is s:
            self.session = None
        self._elapsed_timer.stop()

    def stop(self) -> None:
        """Ask the run to stop at its next update; ``run_finished`` follows."""
        if self.session is not None and self.session.running:
            self.session.stop()
            self.statusBar().showMessage("Stopping…", 2000)

    def toggle_pause(self) -> None:
        if not self.running:
            return
        control = self.session.control
        if control.paused:
            control.resume()
        else:
            control.pause()
        self._update_actions()

    def step_once(self) -> None:
        """One optimizer update, then pause (starts a paused run if none is live)."""
        self._advance(1)

    def step_epoch(self) -> None:
        """Run to the end of the current epoch, then pause."""
        spe = None
        if self.last_step:
            run = max(self.last_step)
            info = self.run_info.get(run)
            spe = info.steps_per_epoch if info is not None else None
            done = self.last_step[run].step
        else:
            done = 0
        spe = spe or self._planned_steps_per_epoch()
        remaining = spe - (done % spe)
        self._advance(remaining)

    def _advance(self, steps: int) -> None:
        if not self.running and not self._start(paused=True):
            return
        self.session.control.advance(steps)
        self._update_actions()

    def reset(self) -> None:
        """Stop the run and clear the plots and counters (the settings stay)."""
        self._end_session()
        self._reset_run_state()
        self._draw_timer.stop()
        if self.plots is not None and hasattr(self.plots, "clear"):
            self.plots.clear()
        self._update_actions()
        self._update_status()

    def set_speed_index(self, index: int) -> None:
        self.speed_slider.setValue(min(max(index, 0), len(SPEEDS) - 1))

    def _on_speed(self, index: int) -> None:
        self._delay, text = SPEEDS[index]
        self.speed_label.setText(text)
        if self.session is not None:
            self.session.control.set_delay(self._delay)

    def scale_lr(self, factor: float) -> None:
        """Multiply the optimizer panel's learning rate (sent to a live run as a command)."""
        box = self.optimizer_panel.lr_box()
        box.setValue(min(max(box.value() * factor, box.minimum()), box.maximum()))

    def _send_live_lr(self) -> None:
        if not self.running:
            return
        try:
            lr = self.optimizer_panel.config().lr
        except PanelError:
            return
        if self._live_lr is not None and math.isclose(lr, self._live_lr, rel_tol=1e-12):
            return
        self.session.control.set_lr(lr)
        self._live_lr = lr
        self.statusBar().showMessage(f"Learning rate set to {lr:g} from the next update.", 4000)

    def set_plot_mode(self, mode: str) -> None:
        (self.act_grid if mode == "grid" else self.act_overlay).setChecked(True)
        if self.plots is not None and hasattr(self.plots, "set_mode"):
            self.plots.set_mode(mode)

    def _on_plots_mode(self, mode: str) -> None:
        (self.act_grid if mode == "grid" else self.act_overlay).setChecked(True)

    # -- session signals
    def _on_events(self, session: RunSession, events: list) -> None:
        if session is not self.session or getattr(session, "generation", None) != self._generation:
            return  # a late batch of an older experiment
        from optiscope.engine import events as ev

        kept = [e for e in events if e.run in self.run_ids]
        if not kept:
            return
        for e in kept:
            t = type(e)
            if t is ev.Step:
                self.last_step[e.run] = e
                self.total_steps_seen += 1
            elif t is ev.EpochEnd:
                self.epoch_events.append(e)
            elif t is ev.RunStarted:
                self.run_info[e.run] = e
            elif t is ev.Finished:
                self.finished_reasons[e.run] = e.reason
            elif t is ev.Failed:
                self.report(f"Run '{self._label(e.run)}' failed: {e.message}", error=True)
            elif t is ev.Diverged:
                self.report(
                    f"Run '{self._label(e.run)}' diverged at update {e.step} (loss {e.loss}).", error=True
                )
            elif t is ev.EarlyStopped:
                self.report(
                    f"Run '{self._label(e.run)}' stopped early at epoch {e.epoch}; best epoch {e.best_epoch}."
                )
        now = time.perf_counter()
        self._rate_samples.append((now, self.total_steps_seen))
        while len(self._rate_samples) > 2 and now - self._rate_samples[0][0] > 1.5:
            self._rate_samples.pop(0)
        self._pending_draw.extend(kept)
        self.events_received.emit(kept)
        if not self._draw_timer.isActive():
            gap = max(MIN_DRAW_INTERVAL, self._frame_cost / DRAW_BUSY_FRACTION)
            self._draw_timer.start(max(int((self._last_draw + gap - now) * 1000), 0))

    def _draw(self) -> None:
        """Hand the pending events to the plots and refresh the status bar."""
        self._draw_timer.stop()
        batch, self._pending_draw = self._pending_draw, []
        self._draw_started = self._last_draw = time.perf_counter()
        if batch and self.plots is not None:
            self.plots.add_events(batch)
        if self._draw_started - self._last_status >= STATUS_INTERVAL:
            self._last_status = self._draw_started
            self._update_status()
        # time add_events plus the repaint it causes: the zero timer fires after the paint
        QtCore.QTimer.singleShot(0, self._measure_frame)

    def _measure_frame(self) -> None:
        cost = time.perf_counter() - self._draw_started
        self._frame_cost = cost if self._frame_cost == 0.0 else 0.7 * self._frame_cost + 0.3 * cost

    def flush_plots(self) -> None:
        """Draw every event received so far now (the end of a run, exports, tests)."""
        if self._pending_draw:
            self._draw()

    def _on_errored(self, session: RunSession, message: str) -> None:
        if session is self.session:
            self.report(f"The run failed: {message.splitlines()[0]}", error=True)

    def _on_finished(self, session: RunSession, reason: str) -> None:
        if session is not self.session:
            return
        self.session = None
        self.last_reason = reason
        self._t_end = time.perf_counter()
        self._elapsed_timer.stop()
        self._update_actions()
        words = {"completed": "Run complete", "stopped": "Run stopped", "early_stopped": "Stopped early",
                 "diverged": "The run diverged", "failed": "The run failed"}  # fmt: skip
        self.statusBar().showMessage(words.get(reason, reason), 5000)
        try:
            self.run_finished.emit(reason)
        finally:
            self.flush_plots()  # the last events are drawn before control returns to Qt
            self._update_status()

    def _label(self, run: int) -> str:
        info = self.run_info.get(run)
        return info.label if info is not None else str(run)

    # ------------------------------------------------------------------ status and actions
    def _update_actions(self) -> None:
        live = self.running
        paused = live and self.session.control.paused
        self.act_run.setEnabled(self.engine_loaded)
        self.act_run.setText("Run" if self.engine_loaded else "Run (loading engine…)")
        self.act_step.setEnabled(self.engine_loaded)
        self.act_step_epoch.setEnabled(self.engine_loaded)
        self.act_compare.setEnabled(True)
        self.act_pause.setEnabled(live)
        self.act_pause.setText("Resume" if paused else "Pause")
        self.act_stop.setEnabled(live)
        self.act_reset.setEnabled(self.engine_loaded)

    def _update_status(self) -> None:
        lab = self.status_labels
        if not self.last_step:
            lab["epoch"].setText("Epoch –")
            lab["step"].setText("Step –")
        else:
            run = max(self.last_step)
            s = self.last_step[run]
            info = self.run_info.get(run)
            total_epochs = info.epochs if info is not None else "?"
            total_steps = f"{info.total_steps:,}" if info is not None else "?"
            lab["epoch"].setText(f"Epoch {s.epoch}/{total_epochs}")
            lab["step"].setText(f"Step {s.step:,}/{total_steps}")
            lab["lr"].setText(f"LR {s.lr:.3g}")
        rate = 0.0
        if len(self._rate_samples) >= 2:
            (t0, n0), (t1, n1) = self._rate_samples[0], self._rate_samples[-1]
            if t1 > t0:
                rate = (n1 - n0) / (t1 - t0)
        lab["rate"].setText(f"{rate:,.0f} steps/s" if self.running else "– steps/s")
        device = next(iter(self.run_info.values())).device if self.run_info else "–"
        lab["device"].setText(f"Device {device}")
        if self._t_start is None:
            lab["elapsed"].setText("0:00")
        else:
            end = self._t_end if self._t_end is not None else time.perf_counter()
            secs = int(end - self._t_start)
            lab["elapsed"].setText(f"{secs // 60}:{secs % 60:02d}")

    def report(self, text: str, error: bool = False) -> None:
        """Show a message in the status bar and keep it in :attr:`messages`."""
        self.messages.append(text)
        self.statusBar().showMessage(text, 10_000 if error else 5000)

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        start = str(self.path.parent) if self.path else str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open experiment", start, "Experiments (*.toml);;All files (*)"
        )
        if path:
            self.open_experiment(path)

    def open_experiment(self, path: str | Path, quiet: bool = False) -> bool:
        """Load an experiment TOML; a bad file is reported (a dialog unless ``quiet``) and changes nothing."""
        try:
            exp = load_toml(path)
        except ConfigError as exc:
            msg = str(exc)
            self.report(f"Could not open {path}: {msg.splitlines()[0]}", error=True)
            if not quiet:
                QtWidgets.QMessageBox.warning(self, "Cannot open experiment", msg)
            return False
        self.set_experiment(exp)
        self.path = Path(path)
        self.settings.set_last_experiment(str(self.path))
        self._update_title()
        self.report(f"Opened {self.path.name}")
        return True

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self.save_to(self.path)

    def save_as(self) -> bool:
        start = str(self.path) if self.path else str(Path.home() / f"{self.meta.name}.toml")
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
        self.path = Path(path)
        self.settings.set_last_experiment(str(self.path))
        self._update_title()
        self.report(f"Saved {self.path.name}")
        return True

    def _update_title(self) -> None:
        self.setWindowTitle(f"Optiscope — {self.path.name}" if self.path else "Optiscope")

    def metrics_csv(self) -> str:
        """Every epoch received, with the CLI's metrics.csv columns."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(METRIC_COLUMNS)
        for e in sorted(self.epoch_events, key=lambda e: (e.run, e.epoch)):
            w.writerow(
                [
                    e.run,
                    self._label(e.run),
                    e.epoch,
                    *(_fmt(float(getattr(e, k))) for k in METRIC_COLUMNS[3:]),
                ]
            )
        return buf.getvalue()

    def export_metrics(self, path: str | Path) -> bool:
        from optiscope.engine.files import atomic_write_text

        path = Path(path)
        try:
            atomic_write_text(path, self.metrics_csv())
        except OSError as exc:
            self.report(f"Metrics not exported: {exc}", error=True)
            return False
        self.report(f"Exported {len(self.epoch_events)} epochs to {path.name}")
        return True

    def export_metrics_dialog(self) -> None:
        if not self.epoch_events:
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

    def _fill_export_menu(self) -> None:
        self.export_menu.clear()
        names = list(self.plots.plot_items()) if self.plots is not None else []
        if not names:
            self.export_menu.addAction("(no plots yet)").setEnabled(False)
        for name in names:
            for fmt in ("PNG", "SVG"):
                act = self.export_menu.addAction(f"{name.capitalize()} as {fmt}…")
                act.triggered.connect(partial(self._export_plot_dialog, name, fmt.lower()))

    def _export_plot_dialog(self, name: str, fmt: str) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, f"Export the {name} plot", str(Path.home() / f"{name}.{fmt}"), f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            if not path.lower().endswith(f".{fmt}"):
                path += f".{fmt}"
            self.export_plot(name, path)

    # ------------------------------------------------------------------ lessons
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
            act.triggered.connect(partial(self.load_preset, name))

    def load_preset(self, name: str) -> None:
        """Fill the panels from a bundled preset and show its lesson."""
        from optiscope.engine.presets import get_preset

        try:
            exp = get_preset(name)
        except ConfigError as exc:
            self.report(str(exc), error=True)
            return
        self.set_experiment(exp)
        self.path = None
        self._update_title()
        self.report(f"Lesson '{name}' loaded: press Run (F5).")

    def show_shortcuts(self) -> None:
        rows = []
        for act in (self.act_run, self.act_pause, self.act_step, self.act_step_epoch, self.act_stop,
                    self.act_reset, self.act_compare, self.act_lr_up, self.act_lr_down, self.act_faster,
                    self.act_slower, self.act_open, self.act_save, self.act_save_as, self.act_export_csv,
                    self.act_overlay, self.act_grid):  # fmt: skip
            keys = ", ".join(
                s.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for s in act.shortcuts()
            )
            rows.append(f"<tr><td><b>{_esc(keys)}</b></td><td>{_esc(act.text().replace('&', ''))}</td></tr>")
        QtWidgets.QMessageBox.information(
            self, "Keyboard shortcuts", "<table cellpadding=3>" + "".join(rows) + "</table>"
        )

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
        app.setPalette(_dark_palette() if theme == "dark" else app.style().standardPalette())
        self.setStyleSheet(qss)
        if self.plots is not None and hasattr(self.plots, "set_theme"):
            self.plots.set_theme(theme)
        if theme in self.theme_actions:
            self.theme_actions[theme].setChecked(True)
        self.theme = theme

    def _set_theme(self, theme: str, *_: Any) -> None:
        self._apply_theme(theme)
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

    def shutdown(self) -> None:
        """Stop a live run and every helper thread and wait for them (idempotent)."""
        self._closing = True
        self._end_session()
        self._elapsed_timer.stop()
        self._draw_timer.stop()
        self.background.shutdown()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Stop a live run and every helper thread, and remember the window."""
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
        P.Window: "#1e2227", P.WindowText: "#e6e6e6", P.Base: "#2a2f36", P.AlternateBase: "#323840",
        P.ToolTipBase: "#2a2f36", P.ToolTipText: "#f0f0f0", P.Text: "#f0f0f0", P.Button: "#2c333b",
        P.ButtonText: "#e6e6e6", P.BrightText: "#ff6b6b", P.Highlight: "#0b5c8c", P.HighlightedText: "#ffffff",
        P.Link: "#56B4E9", P.PlaceholderText: "#8a929a", P.Mid: "#444b55", P.Dark: "#15181c", P.Light: "#3a414a",
    }  # fmt: skip
    for role, colour in colours.items():
        pal.setColor(role, QtGui.QColor(colour))
    for role in (P.WindowText, P.Text, P.ButtonText):
        pal.setColor(QtGui.QPalette.ColorGroup.Disabled, role, QtGui.QColor("#6b737b"))
    return pal


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
