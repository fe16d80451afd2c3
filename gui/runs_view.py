"""The Runs tab: every run kept in the run store, from the window or the command line.

Lists past runs (label, dataset, optimizer, schedule, final metrics, date, experiment: a tuning
recipe's runs share one), newest first. The seeds of one runner (runs of one experiment whose
configs differ only in their seeds, :func:`engine.stored_seeds.runner_key`) are one row, its
final validation accuracy and loss the seeds' mean ± half of the 95 % interval; expanding it
lists each seed's run, to overlay, load or save one seed (a runner's row loads its first seed's
settings). A seed stored again (the same race run twice) starts a runner row of its own.
Selected runs can be drawn over the live plots (:attr:`RunsView.overlay_requested`),
have their settings loaded into the panels (:attr:`RunsView.settings_requested`) or, when
trained in this window, their weights saved (:attr:`RunsView.weights_requested`), or be
saved as a reproducibility bundle (:attr:`RunsView.bundle_requested`); the window does these. The store is read by a background job of the window's
:class:`~.worker.JobRunner` (TensorBoard's and the Optuna dashboard's run tables are the
models).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Qt, Signal, Slot

from .worker import JobRunner

__all__ = ["RunsView", "read_store", "COLUMNS"]

COLUMNS = (
    "Label",
    "Dataset",
    "Optimizer",
    "Schedule",
    "Val acc",
    "Val loss",
    "Epochs",
    "Status",
    "Date",
    "Experiment",
)
MAX_LISTED = 500  # the newest runs; older ones stay in the store ('optiscope runs list')


def _describe_config(config: dict[str, Any]) -> tuple[str, str, str]:
    """Dataset, optimizer and schedule of a stored config, in words (old configs included)."""
    data = config.get("dataset") or {}
    dataset = str(data.get("name", "?"))
    if dataset == "csv" and data.get("path"):
        dataset = f"csv {Path(str(data['path'])).name}"
    optimizer = str((config.get("optimizer") or {}).get("kind", "?"))
    try:
        from optiscope.engine.config import RunConfig
        from optiscope.engine.labels import RATE_SETTING_SCHEDULES, run_facets, schedule_text

        run = RunConfig.model_validate(config)
    except Exception:  # a config written by another version: its kinds still say enough
        return dataset, optimizer, str((config.get("schedule") or {}).get("kind", "?"))
    facets = run_facets(run)
    optimizer = " ".join(
        text
        for key, (text, default) in facets.items()
        if key.startswith("opt.") and (not default or key in ("opt.kind", "opt.lr"))
    )
    dataset = facets["data"][0]
    schedule = schedule_text(run.schedule)
    if run.schedule.kind in RATE_SETTING_SCHEDULES:
        schedule += " (sets the rates)"
    return dataset, optimizer, schedule


def read_store(path: Path | None, limit: int = MAX_LISTED) -> tuple[list[Any], str | None]:
    """The newest ``limit`` runs of the store at ``path`` (``StoredRun``, newest first), and
    a problem in words (the store could not be opened), or None."""
    import sqlite3

    from optiscope.engine.store import RunStore, StoreError

    try:
        store = RunStore(path)
    except (StoreError, sqlite3.Error, OSError) as exc:
        return [], f"The run store cannot be read: {exc}"
    try:
        summaries = store.list_runs()[-limit:]
        runs = [store.load_run(s.id) for s in reversed(summaries)]
    except sqlite3.Error as exc:
        return [], f"The run store cannot be read: {exc}"
    finally:
        store.close()
    return runs, None


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


#: where a runner's row keeps its seeds' store ids (a run's row keeps its id under UserRole)
MEMBERS_ROLE = Qt.ItemDataRole.UserRole + 1


def runner_rows(runs: list[Any]) -> list[list[Any]]:
    """``runs`` (``StoredRun``) grouped into runners, newest first: each group one runner's
    seeds, ordered by seed (a group of one: a run of its own). A seed already in a runner's group
    starts a new group (the same race stored twice)."""
    from optiscope.engine.stored_seeds import runner_key

    groups: list[list[Any]] = []
    current: dict[str, list[Any]] = {}
    for stored in sorted(runs, key=lambda r: r.id):
        key = runner_key(stored) if stored.seed is not None else f"run {stored.id}"
        group = current.get(key)
        if group is None or stored.seed in {m.seed for m in group}:
            group = current[key] = []
            groups.append(group)
        group.append(stored)
    groups.sort(key=lambda g: -max(m.id for m in g))
    return [sorted(g, key=lambda m: (m.seed, m.id)) for g in groups]


class RunsView(QtWidgets.QWidget):
    """A table of the stored runs with Refresh, Overlay and Load settings.

    Signals
    -------
    overlay_requested(list)
        Draw these stored runs (``StoredRun``) over the live plots.
    overlays_cleared()
        Remove every past run from the plots.
    settings_requested(object)
        Load this stored run's settings into the panels.
    weights_requested(object)
        Save this stored run's trained weights (possible when :attr:`has_weights` says so).
    bundle_requested(list)
        Save these stored runs as a reproducibility bundle (``runs export --bundle``).
    """

    overlay_requested = Signal(list)
    overlays_cleared = Signal()
    settings_requested = Signal(object)
    weights_requested = Signal(object)
    bundle_requested = Signal(list)

    def __init__(self, jobs: JobRunner, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runsView")
        self._jobs = jobs
        self.store_path: Path | None = None
        self.runs: list[Any] = []
        #: whether a stored run's trained weights are at hand (the window keeps those it trained)
        self.has_weights: Callable[[int], bool] = lambda _stored_id: False
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.note = QtWidgets.QLabel(
            "Every run is kept as it trains, from this window or the command line "
            "('optiscope runs'). Select runs to overlay them on the Training plots, to load "
            "their settings into the panels, or to save the weights of one trained in this window."
        )
        self.note.setWordWrap(True)
        self.note.setObjectName("hint")
        lay.addWidget(self.note)
        self.table = QtWidgets.QTreeWidget()
        self.table.setObjectName("runsTable")
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setUniformRowHeights(True)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(self._on_double_click)
        header = self.table.header()
        header.setStretchLastSection(True)
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.Interactive)
        # the label and schedule can be long: a fixed share, the rest fits its contents
        # (the metrics wide enough for a runner's "0.744 ± 0.021")
        for col, chars in ((0, 24), (1, 15), (2, 18), (3, 22), (4, 13), (5, 13), (6, 6), (7, 12), (8, 16)):
            header.resizeSection(col, header.fontMetrics().horizontalAdvance("x" * chars))
        lay.addWidget(self.table, 1)
        row = QtWidgets.QHBoxLayout()
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.overlay_button = QtWidgets.QPushButton("Overlay on plots")
        self.overlay_button.setToolTip(
            "draw the selected runs' curves over the live plots (their names start with 'past')"
        )
        self.clear_overlay_button = QtWidgets.QPushButton("Remove overlays")
        self.load_button = QtWidgets.QPushButton("Load settings")
        self.load_button.setToolTip("show the selected run's settings in the panels (double-click does too)")
        self.weights_button = QtWidgets.QPushButton("Save weights…")
        self.bundle_button = QtWidgets.QPushButton("Save bundle…")
        self.bundle_button.setToolTip(
            "the selected runs' settings, metrics, PyTorch script and versions in one zip that "
            "'optiscope run --bundle ZIP --check' re-runs and compares"
        )
        self.bundle_button.clicked.connect(self._on_bundle)
        self.refresh_button.clicked.connect(self.refresh)
        self.weights_button.clicked.connect(self._on_weights)
        self.overlay_button.clicked.connect(self._on_overlay)
        self.clear_overlay_button.clicked.connect(self.overlays_cleared)
        self.load_button.clicked.connect(self._on_load)
        buttons = (
            self.refresh_button,
            self.overlay_button,
            self.clear_overlay_button,
            self.load_button,
            self.weights_button,
            self.bundle_button,
        )
        for b in buttons:
            row.addWidget(b)
        row.addStretch(1)
        self.count_label = QtWidgets.QLabel()
        row.addWidget(self.count_label)
        lay.addLayout(row)
        self._update_buttons()

    # ------------------------------------------------------------------ reading the store
    def refresh(self) -> None:
        """Read the store again (a background job); the table fills when it is done."""
        path = self.store_path
        self._jobs.submit("runs_list", lambda _context: read_store(path), on_done=self._fill)

    def _run_item(self, stored: Any, seed_row: bool = False) -> QtWidgets.QTreeWidgetItem:
        s = stored.summary
        dataset, optimizer, schedule = _describe_config(stored.config)
        planned = s.epochs_planned if s.epochs_planned is not None else "?"
        item = QtWidgets.QTreeWidgetItem(
            [
                f"seed {stored.seed}" if seed_row else s.label or f"run {s.id}",
                dataset,
                optimizer,
                schedule,
                _fmt(s.val_acc, ".3f"),
                _fmt(s.val_loss, ".4g"),
                f"{s.epochs_done}/{planned}",
                s.status,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created)),
                s.experiment,  # a tuning recipe's runs share one: "recipe <time> · <experiment>"
            ]
        )
        item.setData(0, Qt.ItemDataRole.UserRole, s.id)
        item.setToolTip(0, f"stored run {s.id}, experiment '{s.experiment}'")
        for col in (4, 5, 6):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return item

    def _runner_item(self, group: list[Any]) -> QtWidgets.QTreeWidgetItem:
        """A runner's row: its seeds' mean ± half of the 95 % interval, its seeds' rows under it."""
        from optiscope.engine import stats

        first, newest = group[0], max(group, key=lambda m: m.id)
        n = len(group)
        item = self._run_item(first)
        item.setData(0, Qt.ItemDataRole.UserRole, None)
        item.setData(0, MEMBERS_ROLE, [m.id for m in group])
        item.setText(0, f"{first.summary.label or f'run {first.id}'} ({n} seeds)")

        def mean(name: str, fmt: str) -> str:
            values = [getattr(m.summary, name) for m in group]
            return stats.mean_interval([v for v in values if v is not None]).text(fmt)

        item.setText(4, mean("val_acc", "{:.3f}"))
        item.setText(5, mean("val_loss", "{:.3g}"))
        statuses = sorted({m.summary.status for m in group})
        item.setText(7, f"{n} {statuses[0]}" if len(statuses) == 1 else ", ".join(statuses))
        item.setText(8, time.strftime("%Y-%m-%d %H:%M", time.localtime(newest.summary.created)))
        seeds = [m.seed for m in group]
        tip = (
            f"{n} seeds ({', '.join(map(str, seeds))}), stored runs {', '.join(str(m.id) for m in group)}; "
            f"val acc and loss: mean ± half of the {stats.METHOD} interval over the seeds. "
            "Expand to pick one seed; Load settings loads the first seed's."
        )
        for col in (0, 4, 5):
            item.setToolTip(col, tip)
        for m in group:
            item.addChild(self._run_item(m, seed_row=True))
        return item

    def _fill(self, result: tuple[list[Any], str | None]) -> None:
        runs, problem = result
        self.runs = runs
        self.table.clear()
        grouped = False
        for group in runner_rows(runs):
            if len(group) == 1:
                self.table.addTopLevelItem(self._run_item(group[0]))
            else:
                grouped = True
                self.table.addTopLevelItem(self._runner_item(group))
        self.table.setRootIsDecorated(grouped)  # the arrows that open a runner's seeds
        if grouped:  # a runner's "(20 seeds)", "0.744 ± 0.021", "20 completed" read whole
            header = self.table.header()
            for col, most in ((0, 40), (4, 16), (5, 16), (7, 16)):
                cap = header.fontMetrics().horizontalAdvance("x" * most)
                wanted = min(self.table.sizeHintForColumn(col) + 8, cap)
                if wanted > header.sectionSize(col):
                    header.resizeSection(col, wanted)
        if problem:
            self.count_label.setText(problem)
        else:
            n = len(runs)
            self.count_label.setText(f"{n} stored run{'s' if n != 1 else ''}" if n else "No stored runs yet")
        self._update_buttons()

    # ------------------------------------------------------------------ selection
    def _items(self) -> list[QtWidgets.QTreeWidgetItem]:
        """Every row: runners' and runs' (a runner's seeds after it)."""
        out = []
        for i in range(self.table.topLevelItemCount()):
            top = self.table.topLevelItem(i)
            out.append(top)
            out += [top.child(j) for j in range(top.childCount())]
        return out

    def selected_runs(self) -> list[Any]:
        """The selected runs (a runner's row: its seeds, by seed), each once."""
        by_id = {r.id: r for r in self.runs}
        ids: list[int] = []
        for item in self.table.selectedItems():
            members = item.data(0, MEMBERS_ROLE)
            for i in members if members else [item.data(0, Qt.ItemDataRole.UserRole)]:
                if i not in ids:
                    ids.append(i)
        return [by_id[i] for i in ids if i in by_id]

    def select_ids(self, ids: list[int]) -> None:
        """Select the rows of these stored runs (a seed's row under its runner's, opened)."""
        self.table.clearSelection()
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole) in ids:
                item.setSelected(True)
                if item.parent() is not None:
                    item.parent().setExpanded(True)

    @Slot()
    def _update_buttons(self) -> None:
        n = len(self.table.selectedItems())
        self.overlay_button.setEnabled(n > 0)
        self.bundle_button.setEnabled(n > 0)
        self.load_button.setEnabled(n == 1)  # a runner's row: its first seed's settings
        runs = self.selected_runs() if n == 1 else []
        kept = len(runs) == 1 and self.has_weights(runs[0].id)  # one run's weights: pick a seed
        self.weights_button.setEnabled(kept)
        self.weights_button.setToolTip(
            "save the selected run's trained weights as a PyTorch state_dict (.pt)"
            if kept
            else "the run store keeps metrics, not weights: the weights of runs trained in this "
            "window since it opened can be saved (select one; of a runner of several seeds, one seed)"
        )

    @Slot()
    def _on_overlay(self) -> None:
        runs = self.selected_runs()
        if runs:
            self.overlay_requested.emit(runs)

    @Slot()
    def _on_load(self) -> None:
        runs = self.selected_runs()
        if runs and len(self.table.selectedItems()) == 1:  # a runner's row: its first seed
            self.settings_requested.emit(runs[0])

    @Slot()
    def _on_weights(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            self.weights_requested.emit(runs[0])

    @Slot()
    def _on_bundle(self) -> None:
        runs = self.selected_runs()
        if runs:
            self.bundle_requested.emit(runs)

    @Slot(QtWidgets.QTreeWidgetItem, int)
    def _on_double_click(self, item: QtWidgets.QTreeWidgetItem, _column: int) -> None:
        self._on_load()

    def showEvent(self, event: QtCore.QEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()
