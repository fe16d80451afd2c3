"""Tools > Hyperparameter search: an Optuna search in the window, live, with its trials at hand.

The user ticks the settings to search (numeric fields of the panels: learning rate,
momentum, weight decay, batch size, layer width, dropout, schedule decay ...), each with a
range and log/linear scale or a list of choices, and picks the sampler, the budget, the
objective and optional pruning. The search (:func:`optiscope.engine.search.run_search`:
ask K trials, train them batched through the one training loop, tell Optuna) runs as a
:class:`~.worker.JobRunner` job in rounds of :data:`ROUND` trials on one stored study, so
the views and the parameter importance (Optuna's evaluators, computed in the engine)
update after every round. Stop (or closing the window) ends the running trials, which the
engine marks failed in the study; the finished ones stay.

Views: each trial as a point, objective against the chosen parameter; the scatter of two
parameters coloured by objective; best-so-far against trial number, one curve per search
of this dialog (a race between samplers); parameter importance as bars; parallel
coordinates (one line per trial across the parameters and the objective). Clicking a trial
(a point or a row of the table) loads its settings into the panels; "Race the top 5" puts
the five best trials in the race list. Diverged trials (told to Optuna as pruned, so
samplers rank them last) are named as such in the table and the summary.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from optiscope.engine import outcome
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt

from . import pg_adapter
from .landscape_common import FitToWidth, key_under
from .tools import ToolDialog, ToolHost
from .worker import JobContext

if TYPE_CHECKING:
    from optiscope.engine.config import RunConfig

__all__ = ["SearchDialog", "candidate_params", "JOB_KEY", "ROUND"]

JOB_KEY = "search"
ROUND = 8  # trials asked, trained batched and told per round (the views update after each)
_CURVE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass
class Candidate:
    """A setting the search may vary, with its default range (or choices)."""

    path: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: str = ""  # comma-separated values: a categorical parameter
    on: bool = False


def candidate_params(cfg: RunConfig) -> list[Candidate]:
    """The numeric settings of ``cfg`` a search can vary, each with a sensible default range.

    Settings the run does not use (:func:`engine.search_space.unused_params`: the optimizer's
    rate under a cyclic or one-cycle schedule, which sets the rates from its own bounds) are
    left out; the schedule's bounds are offered instead."""
    from optiscope.engine.config import MAX_RATE
    from optiscope.engine.search_space import unused_params

    tree = cfg.model_dump(mode="json")
    out: list[Candidate] = []
    opt = tree["optimizer"]
    sched = tree["schedule"]
    out.append(Candidate("optimizer.lr", 1e-4, 1.0, True, on=True))
    if sched["kind"] == "cyclic":
        # ranges that meet between today's bounds: every trial has base_lr <= max_lr, and each
        # end is valid next to the other's current value
        middle = math.sqrt(sched["base_lr"] * sched["max_lr"])
        out.append(Candidate("schedule.base_lr", sched["base_lr"] / 100, middle, True, on=True))
        out.append(Candidate("schedule.max_lr", middle, min(sched["max_lr"] * 10, MAX_RATE), True, on=True))
    elif sched["kind"] == "one_cycle":
        out.append(Candidate("schedule.max_lr", 1e-3, 3.0, True, on=True))
    for key, low, high, log in (
        ("momentum", 0.0, 0.99, False),
        ("beta1", 0.5, 0.99, False),
        ("weight_decay", 1e-6, 1e-2, True),
        ("lr_decay", 0.0, 0.1, False),
    ):
        if key in opt:
            out.append(Candidate(f"optimizer.{key}", low, high, log, on=key == "momentum"))
    out.append(Candidate("training.batch_size", choices="16, 32, 64, 128"))
    for key, low, high, log in (("l2", 1e-6, 1e-2, True), ("l1", 1e-6, 1e-2, True)):
        out.append(Candidate(f"regularization.{key}", low, high, log))
    for key, low, high, log in (("decay", 1e-4, 1.0, True), ("gamma", 0.5, 1.0, False)):
        if key in sched:
            out.append(Candidate(f"schedule.{key}", low, high, log))
    for i, layer in enumerate(tree["model"]["layers"]):
        if layer.get("type") == "dense":
            out.append(Candidate(f"model.layers.{i}.units", 4, 128, True))
        elif layer.get("type") == "dropout":
            out.append(Candidate(f"model.layers.{i}.p", 0.0, 0.7, False))
    unused = unused_params([c.path for c in out], cfg)
    return [c for c in out if c.path not in unused]


def _parse_choice(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _search_job(
    base: RunConfig, space: Any, sampler: str, trials: int, storage: str | None, study_name: str
) -> Any:
    """The background job: the search in rounds on one study, reporting each trial and,
    after each round, the parameter importance."""

    def job(context: JobContext) -> Any:
        from optiscope.engine import events as ev
        from optiscope.engine.control import RunControl
        from optiscope.engine.search import close_study, importances, run_search
        from optiscope.engine.search_space import grid_points

        control = RunControl()
        bus = ev.EventBus()

        def on_epoch(_e: ev.EpochEnd) -> None:
            if context.cancelled:
                control.stop()  # the running trials end; the engine marks them failed

        bus.subscribe(on_epoch, ev.EpochEnd)
        budget = trials
        if sampler == "grid":
            budget = min(budget, math.prod(len(grid_points(p)) for p in space.params.values()))
        done, last = 0, None
        while done < budget and not context.cancelled:
            n = min(ROUND, budget - done)
            last = run_search(
                base,
                space,
                sampler=sampler,
                trials=n,
                storage=storage,
                study_name=study_name,
                batch=n,
                bus=bus,
                control=control,
                log=lambda text: context.emit(("log", text)),
                on_trial=lambda rec: context.emit(("trial", rec)),
            )
            done += len(last.trials)
            context.emit(("importance", importances(last.study)))
            close_study(last.study)
            if not last.trials:
                break
        return {"done": done, "stopped": context.cancelled or control.stopped}

    return job


class SearchDialog(ToolDialog):
    """The search panel: what to search, how, and the live views of its trials."""

    title = "Hyperparameter search (Optuna)"
    object_name = "search"
    job_keys = (JOB_KEY,)
    finish_on_close = True  # finished trials stay in the study; the engine marks the running ones failed
    start_buttons, stop_buttons = ("start_button",), ("stop_button",)
    status_label, failure = "summary", "The search failed: {error}"
    initial_size = (1200, 720)

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self.base: RunConfig | None = None
        self.space: Any = None
        self.trials: list[Any] = []  # TrialRecords of the current search
        self.importance: dict[str, Any] = {}
        self.curves: list[tuple[str, list[float]]] = []  # (label, best so far) per search
        self.study_name = ""
        self.storage: str | None = None
        self.messages: list[str] = []
        self.lesson_points: dict[str, list[float]] = {}  # a lesson's own grid points, by setting
        self.queued: list[str] = []  # samplers still to search in a race of samplers
        layout = QtWidgets.QHBoxLayout(self)
        layout.addWidget(self._build_settings(), 0)
        self.plots: list[pg.PlotWidget] = []  # every plot of the panel, in the order made (_plot)
        layout.addWidget(self._build_views(), 1)
        self.reload_candidates()
        self._presented = False

    # ------------------------------------------------------------------ building
    def _build_settings(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(QtWidgets.QLabel("Settings to search (tick, then a range or choices):"))
        self.params_table = QtWidgets.QTableWidget(0, 5)
        self.params_table.setHorizontalHeaderLabels(["setting", "low", "high", "log", "choices"])
        self.params_table.verticalHeader().setVisible(False)
        self.params_table.setMinimumWidth(420)
        col.addWidget(self.params_table, 1)
        form = QtWidgets.QFormLayout()
        self.sampler_box = QtWidgets.QComboBox()
        for name, text in (("random", "random"), ("grid", "grid"), ("tpe", "TPE"), ("qmc", "quasi-random")):
            self.sampler_box.addItem(text, name)
        self.trials_box = QtWidgets.QSpinBox()
        self.trials_box.setRange(1, 10_000)
        self.trials_box.setValue(16)
        self.grid_points_box = QtWidgets.QSpinBox()
        self.grid_points_box.setRange(2, 50)
        self.grid_points_box.setValue(4)
        self.grid_points_box.setToolTip(
            "grid search: values tried per continuous range (log-spaced on a log scale)"
        )
        self.objective_box = QtWidgets.QComboBox()
        for name in ("best_val_loss", "final_val_loss", "best_val_acc", "final_val_acc"):
            self.objective_box.addItem(name.replace("_", " ").replace("val", "validation"), name)
        self.pruning_box = QtWidgets.QCheckBox("stop unpromising trials at epoch ends (median rule)")
        from optiscope.engine.schema import MAX_SEEDS

        self.seeds_box = QtWidgets.QSpinBox()
        self.seeds_box.setRange(1, MAX_SEEDS)
        self.seeds_box.setValue(1)
        self.seeds_box.setToolTip(
            "train each trial with this many seeds (batched together); Optuna is told their mean "
            "and pruning compares mean curves"
        )
        self.storage_edit = QtWidgets.QLineEdit()
        self.storage_edit.setPlaceholderText("default: studies.sqlite3 in the user data folder")
        form.addRow("sampler", self.sampler_box)
        form.addRow("trials", self.trials_box)
        form.addRow("grid points", self.grid_points_box)
        form.addRow("objective", self.objective_box)
        form.addRow("pruning", self.pruning_box)
        form.addRow("seeds per trial", self.seeds_box)
        form.addRow("storage", self.storage_edit)
        col.addLayout(form)
        row = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start search")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.samplers_button = QtWidgets.QPushButton("Random vs grid")
        self.samplers_button.setToolTip(
            "search with the random sampler, then the grid, on the same budget: "
            "both best-so-far curves race on one plot"
        )
        self.samplers_button.clicked.connect(lambda: self.race_samplers(("random", "grid")))
        self.race_button = QtWidgets.QPushButton("Race the top 5")
        self.race_button.clicked.connect(self.race_top)
        self.race_button.setEnabled(False)
        for b in (self.start_button, self.samplers_button, self.stop_button, self.race_button):
            row.addWidget(b)
        col.addLayout(row)
        self.progress = QtWidgets.QProgressBar()
        col.addWidget(self.progress)
        self.summary = QtWidgets.QLabel("Tick settings and press Start search.")
        self.summary.setWordWrap(True)
        self.summary.setMinimumHeight(4 * self.summary.fontMetrics().lineSpacing())
        col.addWidget(self.summary)
        return box

    def _plot(self, x: str, y: str) -> pg.PlotWidget:
        from .plots.style import THEMES

        plot = pg.PlotWidget()
        plot.setBackground(THEMES["light"]["bg"])
        plot.setLabel("bottom", x)
        plot.setLabel("left", y)
        for side in ("bottom", "left"):
            plot.getAxis(side).enableAutoSIPrefix(False)  # no "(x0.001)" on a rate or a loss
        self.plots.append(plot)
        return plot

    def _build_views(self) -> QtWidgets.QWidget:
        split = QtWidgets.QSplitter(Qt.Orientation.Vertical)
        self.tabs = QtWidgets.QTabWidget()
        # each trial: objective against one parameter
        page = QtWidgets.QWidget()
        v = QtWidgets.QVBoxLayout(page)
        self.param_x = QtWidgets.QComboBox()
        self.param_x.currentIndexChanged.connect(self._draw_trials)
        v.addWidget(self.param_x)
        self.trial_plot = self._plot("parameter", "objective")
        self.trial_points = pg.ScatterPlotItem(size=9, pen=None, brush=pg.mkBrush("#1f77b4"))
        self.trial_points.sigClicked.connect(self._on_point_clicked)
        self.trial_plot.addItem(self.trial_points)
        v.addWidget(self.trial_plot, 1)
        self.tabs.addTab(page, "Trials")
        # two parameters coloured by objective
        page = QtWidgets.QWidget()
        v = QtWidgets.QVBoxLayout(page)
        row = QtWidgets.QHBoxLayout()
        self.scatter_x, self.scatter_y = QtWidgets.QComboBox(), QtWidgets.QComboBox()
        for label, combo in (("x", self.scatter_x), ("y", self.scatter_y)):
            row.addWidget(QtWidgets.QLabel(label))
            row.addWidget(combo, 1)
            combo.currentIndexChanged.connect(self._draw_scatter)
        v.addLayout(row)
        self.scatter_plot = self._plot("x", "y")
        self.scatter_points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#333333", width=0.5))
        self.scatter_points.sigClicked.connect(self._on_point_clicked)
        self.scatter_plot.addItem(self.scatter_points)
        v.addWidget(self.scatter_plot, 1)
        self.scatter_note = QtWidgets.QLabel("colour: objective, dark = better")
        v.addWidget(self.scatter_note)
        self.tabs.addTab(page, "Scatter")
        # best so far, one curve per search (a race between samplers)
        self.best_plot = self._plot("trial", "best objective so far")
        # the key under the x axis: inside the plot it covered the curves' start
        self.best_key = key_under(self.best_plot.getPlotItem(), labelTextColor="#111111")
        self.best_fit = FitToWidth(self.best_plot, self.best_key, max_columns=4)
        self.best_curves: list[Any] = []
        self.tabs.addTab(self.best_plot, "Best so far")
        # importance
        self.importance_plot = self._plot("importance (share)", "")
        self.importance_bars: Any = None
        page = QtWidgets.QWidget()
        v = QtWidgets.QVBoxLayout(page)
        v.addWidget(self.importance_plot, 1)
        self.importance_note = QtWidgets.QLabel("computed after each round (Optuna's evaluator)")
        v.addWidget(self.importance_note)
        self.tabs.addTab(page, "Importance")
        # parallel coordinates: one line per finished trial across every parameter and the objective
        self.parallel_plot = self._plot("", "position in its range (0 = low, 1 = high)")
        self.parallel_lines: list[Any] = []
        self.tabs.addTab(self.parallel_plot, "Parallel coordinates")
        split.addWidget(self.tabs)
        self.trial_table = QtWidgets.QTableWidget(0, 0)
        self.trial_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.trial_table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.trial_table.verticalHeader().setVisible(False)
        self.trial_table.cellClicked.connect(lambda row, _col: self.load_trial(self._row_trial(row)))
        split.addWidget(self.trial_table)
        split.setSizes([460, 220])
        return split

    def reload_candidates(self) -> None:
        """Fill the parameter table from the panels' current settings."""
        from .panels import PanelError

        try:
            cfg = self.host.run_config()
        except PanelError:
            return
        self.candidates = candidate_params(cfg)
        t = self.params_table
        t.setRowCount(len(self.candidates))
        for r, c in enumerate(self.candidates):
            name = QtWidgets.QTableWidgetItem(c.path)
            name.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            name.setCheckState(Qt.CheckState.Checked if c.on else Qt.CheckState.Unchecked)
            t.setItem(r, 0, name)
            t.setItem(r, 1, QtWidgets.QTableWidgetItem("" if c.choices else f"{c.low:g}"))
            t.setItem(r, 2, QtWidgets.QTableWidgetItem("" if c.choices else f"{c.high:g}"))
            log = QtWidgets.QTableWidgetItem()
            log.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            log.setCheckState(Qt.CheckState.Checked if c.log else Qt.CheckState.Unchecked)
            t.setItem(r, 3, log)
            t.setItem(r, 4, QtWidgets.QTableWidgetItem(c.choices))
        t.resizeColumnsToContents()

    def set_param(
        self,
        path: str,
        low: float | None = None,
        high: float | None = None,
        log: bool | None = None,
        choices: str | None = None,
        on: bool = True,
    ) -> None:
        """Tick ``path`` in the parameter table and set its range (what a click does; tests use it)."""
        t = self.params_table
        for r in range(t.rowCount()):
            if t.item(r, 0).text() == path:
                break
        else:
            raise KeyError(path)
        t.item(r, 0).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        if low is not None:
            t.item(r, 1).setText(f"{low:g}")
        if high is not None:
            t.item(r, 2).setText(f"{high:g}")
        if log is not None:
            t.item(r, 3).setCheckState(Qt.CheckState.Checked if log else Qt.CheckState.Unchecked)
        if choices is not None:
            t.item(r, 4).setText(choices)

    # ------------------------------------------------------------------ the space
    def space_dict(self) -> dict[str, Any]:
        """The search section the table and controls describe (validated by :meth:`start`)."""
        params: dict[str, Any] = {}
        t = self.params_table
        sampler = self.sampler_box.currentData()
        for r in range(t.rowCount()):
            if t.item(r, 0).checkState() != Qt.CheckState.Checked:
                continue
            path = t.item(r, 0).text()
            choices = t.item(r, 4).text().strip()
            if choices:
                params[path] = {"choices": [_parse_choice(v) for v in choices.split(",") if v.strip()]}
                continue
            try:
                low, high = float(t.item(r, 1).text()), float(t.item(r, 2).text())
            except ValueError:
                raise ValueError(
                    f"search parameter {path!r}: low and high must be numbers "
                    f"(got {t.item(r, 1).text()!r}, {t.item(r, 2).text()!r})"
                ) from None
            log = t.item(r, 3).checkState() == Qt.CheckState.Checked
            spec: dict[str, Any] = {"low": low, "high": high, "log": log}
            lesson = self.lesson_points.get(path)
            if sampler == "grid" and lesson and (low, high) == (min(lesson), max(lesson)):
                spec["points"] = list(lesson)  # the lesson's grid, as the command line runs it
            elif sampler == "grid" and low < high and (low > 0 or not log):
                n = self.grid_points_box.value()
                pts = np.geomspace(low, high, n) if log else np.linspace(low, high, n)
                spec["points"] = [float(f"{p:.6g}") for p in pts]
            params[path] = spec
        return {
            "params": params,
            "objective": self.objective_box.currentData(),
            "sampler": sampler,
            "trials": self.trials_box.value(),
            "pruning": self.pruning_box.isChecked(),
            "seeds": self.seeds_box.value(),
            "seed": 0,
        }

    def load_space(self, space: Any) -> None:
        """Set the panel to an experiment's search section (a search lesson): its settings
        ticked with their ranges (the others unticked), sampler, budget and objective; the
        search is then ready to start."""
        from optiscope.engine.search_schema import Choice

        self.reload_candidates()
        t = self.params_table
        for r in range(t.rowCount()):
            t.item(r, 0).setCheckState(Qt.CheckState.Unchecked)
        self.lesson_points = {}
        for path, p in space.params.items():
            if isinstance(p, Choice):
                self.set_param(path, choices=", ".join(str(c) for c in p.choices))
                continue
            self.set_param(path, p.low, p.high, p.log, "")
            if p.points:
                self.lesson_points[path] = [float(v) for v in p.points]
                self.grid_points_box.setValue(len(p.points))
        for box, value in (
            (self.sampler_box, space.sampler),
            (self.objective_box, space.objective),
        ):
            box.setCurrentIndex(box.findData(value))
        self.trials_box.setValue(space.trials)
        self.pruning_box.setChecked(space.pruning)
        self.show_message(
            f"The lesson's search is set: {', '.join(space.params)}, {space.trials} trials each. "
            "Random vs grid (or Run, F5) races the two samplers on the Best so far plot."
        )
        self.tabs.setCurrentWidget(self.best_plot)

    def race_samplers(self, samplers: tuple[str, ...]) -> bool:
        """Search once per sampler, one after another, on the same budget: their best-so-far
        curves race on one plot (earlier curves are cleared first)."""
        if self.busy():
            self.show_message("A search is running: stop it first.")
            return False
        self.best_plot.clear()
        self.best_key.clear()
        self.best_curves, self.curves = [], []
        self.queued = list(samplers)
        return self._next_sampler()

    def stop(self) -> None:
        """Stop the running search (and the samplers still to come in a race)."""
        self.queued = []
        super().stop()

    def race_summary(self) -> str:
        """Each search's best objective, e.g. ``random 0.42 · grid 0.45`` (empty before any)."""
        parts = []
        for label, ys in self.curves:
            best = [y for y in ys if math.isfinite(y)]
            if best:
                parts.append(f"{label.split(' (')[0]} {best[-1]:.4g}")
        return " · ".join(parts)

    def _next_sampler(self) -> bool:
        if not self.queued:
            return False
        sampler = self.queued.pop(0)
        self.sampler_box.setCurrentIndex(self.sampler_box.findData(sampler))
        started = self.start()
        if not started:
            self.queued = []
        return started

    # ------------------------------------------------------------------ running
    def start(self) -> bool:
        """Start a search on the panels' settings; False (and a message) if it cannot start."""
        from optiscope.engine.search_space import SearchSpaceError, check_space, parse_space, unused_params

        from .panels import PanelError

        try:
            base = self.host.run_config()
            data = self.space_dict()
            space = check_space(parse_space(data, "the search"), base, data["sampler"])
            unused = unused_params(space.params, base)  # ticked before the panels changed
            if unused:
                name, why = next(iter(unused.items()))
                raise SearchSpaceError(f"{name} does not change these runs: {why}")
        except (PanelError, SearchSpaceError, ValueError) as exc:
            self.show_message(f"Cannot search: {exc}")
            return False
        self.base, self.space = base, space
        self.trials, self.importance, self.messages = [], {}, []
        sampler = data["sampler"]
        self.storage = self.storage_edit.text().strip() or None
        # unique per start: two windows (or tests) starting within one second must not share a
        # study in the common storage, or each would count and race the other's trials
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.study_name = f"window-{sampler}-{stamp}-{len(self.curves)}-{uuid.uuid4().hex[:6]}"
        self.curves.append((f"{self.sampler_box.currentText()} ({len(self.curves) + 1})", []))
        self._setup_views(list(space.params))
        self.progress.setRange(0, data["trials"])
        self.progress.setValue(0)
        self.race_button.setEnabled(False)
        each = f", {space.seeds} seeds per trial" if (space.seeds or 1) > 1 else ""
        self.show_message(f"Searching {', '.join(space.params)} with the {sampler} sampler{each} …")
        self.submit(
            JOB_KEY,
            _search_job(base, space, sampler, data["trials"], self.storage, self.study_name),
            on_events=self._on_events,
            on_done=self._on_done,
            on_finished=self._on_finished,
        )
        return True

    def present(self) -> None:
        """Show the panel; opened again while idle, it reloads the settings to search."""
        if self._presented and not self.busy():
            self.reload_candidates()
        self._presented = True
        super().present()

    def show_message(self, text: str) -> None:
        self.summary.setText(text)

    def set_text_size(self, points: float | None) -> None:
        """The panel's text, its plots' ticks, axis titles and legend, and its tables' rows at
        ``points`` pt at least (presentation mode), or back to normal (None)."""
        super().set_text_size(points)
        size = f"{self.font().pointSizeF():g}pt"
        for plot in self.plots:
            for side in ("bottom", "left"):
                axis = plot.getAxis(side)
                axis.setTickFont(None if points is None else QtGui.QFont(self.font()))
                axis.setLabel(axis.labelText, **{"font-size": size})
        pg_adapter.resize_legend_text(self.best_key, size)
        self.best_fit.fit()
        for table in (self.params_table, self.trial_table):
            table.verticalHeader().setDefaultSectionSize(QtGui.QFontMetrics(self.font()).height() + 8)
            table.resizeRowsToContents()
            table.resizeColumnsToContents()
        self.summary.setMinimumHeight(4 * self.summary.fontMetrics().lineSpacing())

    @QtCore.Slot(object)
    def _on_events(self, items: list) -> None:
        for kind, payload in items:
            if kind == "trial":
                self.trials.append(payload)
            elif kind == "importance":
                self.importance = payload
            elif kind == "log":
                self.messages.append(payload)
        self._refresh()

    def _on_done(self, result: Any) -> None:
        self._refresh()
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
        best = self.best_trial()
        parts = ", ".join(f"{n} {k}" for k, n in counts.items())
        text = f"{'Stopped' if result['stopped'] else 'Done'}: {len(self.trials)} trials ({parts})."
        if counts.get("diverged"):
            text += " Diverged trials are told to Optuna as pruned (ranked below every finished trial)."
        if best is not None:
            over = f" (mean of {self.space.seeds} seeds)" if (self.space.seeds or 1) > 1 else ""
            text += f" Best: trial {best.number}, {self.space.objective} = {best.value:.4g}{over}."
        text += f" Study {self.study_name!r} is kept in the storage."
        if len(self.curves) > 1:  # a race of samplers: the answer first
            text = f"Best {self.space.objective} by search: {self.race_summary()}. " + text
        self.show_message(text)

    def _on_finished(self, _job: Any) -> None:
        self.race_button.setEnabled(any(t.outcome == "complete" for t in self.trials))
        if self.queued:  # a race of samplers: the next one (after this job has let go)
            QtCore.QTimer.singleShot(0, self, self._next_sampler)

    # ------------------------------------------------------------------ views
    def _setup_views(self, names: list[str]) -> None:
        for combo in (self.param_x, self.scatter_x, self.scatter_y):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.blockSignals(False)
        self.scatter_y.setCurrentIndex(min(1, len(names) - 1))
        t = self.trial_table
        t.clear()
        t.setRowCount(0)
        t.setColumnCount(3 + len(names))
        seeds = getattr(self.space, "seeds", None) or 1
        value = f"objective, mean of {seeds} seeds" if seeds > 1 else "objective"
        t.setHorizontalHeaderLabels(["trial", "outcome", *names, value][: 3 + len(names)])
        self.trial_plot.setLogMode(x=False, y=False)
        self.trial_points.setData([])
        self.scatter_points.setData([])
        curve = self.best_plot.plot(
            [],
            [],
            pen=pg.mkPen(_CURVE_COLORS[(len(self.curves) - 1) % len(_CURVE_COLORS)], width=2),
            symbol="o",
            symbolSize=5,
        )
        self.best_key.addItem(curve, self.curves[-1][0])
        self.best_fit.fit()
        self.best_curves.append(curve)

    def _log_param(self, name: str) -> bool:
        p = self.space.params.get(name) if self.space is not None else None
        return bool(getattr(p, "log", False))

    def _numeric(self, t: Any, name: str) -> float | None:
        v = t.params.get(name)
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        return math.log10(v) if self._log_param(name) and v > 0 else float(v)

    def finished_trials(self) -> list[Any]:
        return [t for t in self.trials if t.outcome == "complete" and t.value is not None]

    def best_trial(self) -> Any:
        done = self.finished_trials()
        if not done:
            return None
        maximize = outcome.maximize(self.space.objective)
        return (max if maximize else min)(done, key=lambda t: t.value)

    def _refresh(self) -> None:
        self.progress.setValue(len(self.trials))
        self._draw_trials()
        self._draw_scatter()
        self._draw_best()
        self._draw_importance()
        self._draw_parallel()
        self._fill_table()

    def _draw_trials(self) -> None:
        name = self.param_x.currentText()
        if not name:
            return
        spots = []
        for t in self.finished_trials():
            x = self._numeric(t, name)
            if x is not None:
                spots.append({"pos": (x, t.value), "data": t.number})
        self.trial_points.setData(spots)
        self.trial_plot.setLabel("bottom", f"{name}{' (log10)' if self._log_param(name) else ''}")
        self.trial_plot.setLabel("left", self.space.objective if self.space is not None else "objective")

    def _draw_scatter(self) -> None:
        xn, yn = self.scatter_x.currentText(), self.scatter_y.currentText()
        if not xn or not yn:
            return
        done = [t for t in self.finished_trials() if None not in (self._numeric(t, xn), self._numeric(t, yn))]
        if not done:
            self.scatter_points.setData([])
            return
        values = np.array([t.value for t in done])
        if outcome.maximize(self.space.objective):
            values = -values
        lo, hi = float(values.min()), float(values.max())
        cmap = pg.colormap.get("viridis")
        spots = []
        for t, v in zip(done, values, strict=True):
            share = 0.0 if hi == lo else (v - lo) / (hi - lo)  # 0: best (dark)
            spots.append(
                {
                    "pos": (self._numeric(t, xn), self._numeric(t, yn)),
                    "data": t.number,
                    "brush": pg.mkBrush(cmap.map(share, mode="qcolor")),
                }
            )
        self.scatter_points.setData(spots)
        self.scatter_plot.setLabel("bottom", f"{xn}{' (log10)' if self._log_param(xn) else ''}")
        self.scatter_plot.setLabel("left", f"{yn}{' (log10)' if self._log_param(yn) else ''}")

    def best_so_far(self) -> list[float]:
        """The best objective after each trial of the current search (NaN before the first finished)."""
        maximize = self.space is not None and outcome.maximize(self.space.objective)
        out, best = [], math.nan
        for t in self.trials:
            if t.outcome == "complete" and t.value is not None and math.isfinite(t.value):
                better = math.isnan(best) or (t.value > best if maximize else t.value < best)
                best = t.value if better else best
            out.append(best)
        return out

    def _draw_best(self) -> None:
        if not self.best_curves:
            return
        ys = self.best_so_far()
        self.curves[-1] = (self.curves[-1][0], ys)
        # x is Optuna's trial number (from 0), as in the table and Optuna's optimization history
        xs = np.array([t.number for t in self.trials], dtype=float)
        arr = np.array(ys, dtype=float)
        ok = np.isfinite(arr)
        self.best_curves[-1].setData(xs[ok], arr[ok])

    def _draw_importance(self) -> None:
        if self.importance_bars is not None:
            self.importance_plot.removeItem(self.importance_bars)
            self.importance_bars = None
        values = self.importance.get("importances")
        if not values:
            self.importance_note.setText(
                self.importance.get("error", "computed after each round (Optuna's evaluator)")
            )
            return
        names = list(values)
        self.importance_bars = pg.BarGraphItem(
            x0=0, y=np.arange(len(names)), height=0.6, width=[values[n] for n in names], brush="#1f77b4"
        )
        self.importance_plot.addItem(self.importance_bars)
        self.importance_plot.getAxis("left").setTicks([list(enumerate(names))])
        self.importance_note.setText(
            f"{self.importance.get('evaluator', '')} over {self.importance.get('complete_trials')} finished trials"
        )

    def parallel_rows(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The parallel-coordinates data: axis names (parameters, then the objective), each
        finished trial's position on every axis (0..1 over the values seen; a log-scale
        parameter on its log) and each trial's objective."""
        names = [n for n in (self.space.params if self.space is not None else {}) if not self._is_choice(n)]
        done = [t for t in self.finished_trials() if all(self._numeric(t, n) is not None for n in names)]
        if not done:
            return [*names, "objective"], np.zeros((0, len(names) + 1)), np.zeros(0)
        cols = [[self._numeric(t, n) for t in done] for n in names] + [[t.value for t in done]]
        data = np.array(cols, dtype=float).T
        lo, hi = data.min(axis=0), data.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return [*names, "objective"], (data - lo) / span, data[:, -1]

    def _is_choice(self, name: str) -> bool:
        return self.space is not None and getattr(self.space.params.get(name), "kind", "") == "choice"

    def _draw_parallel(self) -> None:
        for line in self.parallel_lines:
            self.parallel_plot.removeItem(line)
        self.parallel_lines = []
        names, rows, values = self.parallel_rows()
        self.parallel_plot.getAxis("bottom").setTicks([list(enumerate(names))])
        self.parallel_plot.setXRange(-0.4, len(names) - 0.6, padding=0)  # room for the end labels
        if not len(rows):
            return
        scores = -values if outcome.maximize(self.space.objective) else values
        lo, hi = float(scores.min()), float(scores.max())
        cmap = pg.colormap.get("viridis")
        xs = np.arange(len(names), dtype=float)
        for row, score in sorted(zip(rows, scores, strict=True), key=lambda rs: -rs[1]):  # best drawn last
            share = 0.0 if hi == lo else (score - lo) / (hi - lo)
            line = pg.PlotDataItem(xs, row, pen=pg.mkPen(cmap.map(share, mode="qcolor"), width=1.5))
            self.parallel_plot.addItem(line)
            self.parallel_lines.append(line)

    def _fill_table(self) -> None:
        names = list(self.space.params) if self.space is not None else []
        t = self.trial_table
        t.setRowCount(len(self.trials))
        for r, rec in enumerate(self.trials):
            cells = [str(rec.number), rec.outcome]
            for n in names:
                v = rec.params.get(n)
                cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
            cells.append("" if rec.value is None else f"{rec.value:.5g}")
            seeds = getattr(rec, "seed_values", [])
            for c, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if c == 1 and rec.outcome == "diverged":
                    item.setToolTip(
                        " ".join(["the loss blew up; told to Optuna as pruned", rec.message]).strip()
                    )
                if c == len(cells) - 1 and len(seeds) > 1:  # the mean Optuna was told, and its seeds
                    each = ", ".join("—" if v is None else f"{v:.4g}" for v in seeds)
                    item.setToolTip(f"the mean over {len(seeds)} seeds: {each}")
                t.setItem(r, c, item)
        if self.trials:  # every header whole (the last names the seeds), at any text size
            t.resizeColumnsToContents()

    # ------------------------------------------------------------------ using trials
    def _row_trial(self, row: int) -> Any:
        return self.trials[row] if 0 <= row < len(self.trials) else None

    def _on_point_clicked(self, _item: Any, points: Any, *_args: Any) -> None:
        if len(points):
            number = points[0].data()
            self.load_trial(next((t for t in self.trials if t.number == number), None))

    def trial_config(self, rec: Any) -> RunConfig:
        from optiscope.engine.search_space import apply_params

        assert self.base is not None
        label = f"trial {rec.number}: " + ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.params.items()
        )
        return apply_params(self.base, rec.params, label)

    def load_trial(self, rec: Any) -> None:
        """Load a trial's settings into the panels."""
        if rec is None or self.base is None:
            return
        self.host.show_run(self.trial_config(rec))
        text = f"Trial {rec.number} ({rec.outcome}) is in the panels."
        self.host.report(text)
        self.show_message(text)

    def top_trials(self, n: int = 5) -> list[Any]:
        maximize = self.space is not None and outcome.maximize(self.space.objective)
        return sorted(self.finished_trials(), key=lambda t: t.value, reverse=maximize)[:n]

    def race_top(self) -> None:
        """Put the five best trials in the race list (replacing it)."""
        top = self.top_trials(5)
        if not top:
            return
        self.host.document.race = tuple(self.trial_config(t) for t in top)
        text = f"The race list holds the top {len(top)} trials; press Run to race them."
        self.host.report(text)
        self.show_message(text)
