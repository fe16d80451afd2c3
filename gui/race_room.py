"""The race room of the window: the runners raced together, as a list beside the panels.

:class:`RaceRoom` shows the document's race (:class:`~.document.ExperimentDocument`) as an
editable list on a page of the panels' tool box and holds the race commands: Compare adds
the panels' settings as a runner, Clear race forgets it, a double-click shows a runner in
the panels (edits then change it: :meth:`apply_panel_edit`), F2 renames one. It also keeps
the Training panel's "Seeds" box and the document's seeds per runner in step (every runner
is trained that many times: :class:`optiscope.engine.seeds.SeedPlan`).
"""

from __future__ import annotations

from typing import Any

from optiscope.engine.config import RunConfig, format_validation_error
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Qt, Slot

from .panels import PanelError
from .widgets import signals_blocked

__all__ = ["RaceRoom"]


class RaceRoom(QtCore.QObject):
    """The race page of ``experiment.toolbox`` and the race commands.

    Parameters
    ----------
    document
        The open experiment; its race is what the list shows.
    experiment
        The panels (:class:`~.experiment_panels.ExperimentPanels`): Compare takes their run,
        a chosen runner is shown in them.
    report, notify
        A status line kept in the window's messages; a passing status-bar note.
    """

    def __init__(self, document: Any, experiment: Any, report: Any, notify: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.document = document
        self.experiment = experiment
        self._report = report
        self._notify = notify
        self.page = QtWidgets.QWidget()
        self.page.setObjectName("racePage")
        rg = QtWidgets.QVBoxLayout(self.page)
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
        for button in (self.race_rename, self.race_remove, self.race_clear):
            row.addWidget(button)
        row.addStretch(1)
        rg.addLayout(row)
        self.race_list.setToolTip(
            "double-click a runner to show its settings in the panels; F2 or Rename to name it "
            "(the name is used in the legend, the exports and the run store)"
        )
        self.race_list.itemDoubleClicked.connect(self._on_double_click)
        self.race_list.itemChanged.connect(self._on_item_renamed)
        self.race_rename.clicked.connect(self._rename_current)
        self.race_remove.clicked.connect(self._remove_current)
        self.race_clear.clicked.connect(self.clear_race)
        self.toolbox = experiment.toolbox
        self.race_index = self.toolbox.addItem(self.page, "Race")
        document.race_changed.connect(self._show_race)
        document.selected_changed.connect(self._show_selection)
        document.meta_changed.connect(self._show_seeds)
        self.seeds_box = experiment.training_panel.seeds_box
        experiment.training_panel.seeds_chosen.connect(self._on_seeds_chosen)
        self._show_race(document.race)
        self._show_seeds(document.meta)

    # ------------------------------------------------------------------ commands
    def compare(self) -> None:
        """Add the current settings to the race."""
        try:
            run = self.experiment.current_run_config()
        except PanelError as exc:
            self._report(f"Cannot add to the race: {exc}", error=True)
            return
        self.document.add_runner(run)
        n = len(self.document.race)
        self._report(f"Added '{self.document.labels()[-1]}' to the race ({n} runs); press Run to race them.")

    def clear_race(self) -> None:
        """Forget the race: Run trains the panels' settings alone."""
        if self.document.race:
            self.document.clear_race()
            self._report("Race cleared: Run trains the panels' settings.")

    def edit_race_entry(self, row: int) -> None:
        """Show runner ``row`` of the race in the panels (Compare then adds a variant of it)."""
        race = self.document.race
        if not 0 <= row < len(race):
            return
        self.experiment.show_run(race[row])
        self.document.selected = row
        self._report(f"The panels show runner {row + 1}, '{self.document.labels()[row]}': edits change it.")

    def rename_race_entry(self, row: int, label: str) -> None:
        """Name runner ``row`` (empty: a label generated from what differs again)."""
        self.document.rename_runner(row, label)

    def apply_panel_edit(self, key: str) -> None:
        """Panel ``key`` was edited while a race is set up: change the runner the panels show
        (a section every runner shares changes for all), or say that the race is unchanged."""
        from pydantic import ValidationError

        doc, n = self.document, len(self.document.race)
        index = doc.selected
        if index is None:
            self._notify(
                f"The race ({n} runs) is unchanged: Compare (Ctrl+K) adds these settings to it, "
                "Clear race (Ctrl+Shift+K) runs them alone.",
                8000,
            )
            return
        try:
            section = self.experiment.panels[key].config()
        except PanelError:
            return
        old = doc.race[index]
        if getattr(old, key) == section:
            return
        shared = n > 1 and all(getattr(r, key) == getattr(old, key) for r in doc.race)
        targets = range(n) if shared else (index,)
        race, old_labels = list(doc.race), doc.labels()
        try:
            for i in targets:
                # a given name ("fixed lr=0.01") may no longer say what the runner trains: the
                # changed runners get generated labels, which describe their settings
                race[i] = RunConfig(**{**dict(race[i]), key: section, "label": ""})
        except ValidationError as exc:
            self._report(f"Not applied to the race: {format_validation_error(exc)}", error=True)
            return
        doc.race = tuple(race)
        title = self.experiment.panels[key].title or key
        renamed = [f"'{a}' is now '{b}'" for a, b in zip(old_labels, doc.labels(), strict=True) if a != b]
        if shared:
            msg = f"{title}: changed for all {n} runners of the race (they share it)"
            msg += f"; renamed: {', '.join(renamed)}." if renamed else "."
        else:
            msg = f"Runner {index + 1} of the race is now '{doc.labels()[index]}'."
        self._notify(msg + " Run trains the race; Clear race runs the panels alone.", 8000)

    # ------------------------------------------------------------------ seeds
    @Slot(int)
    def _on_seeds_chosen(self, n: int) -> None:
        self.document.seeds = n
        runners = max(len(self.document.race), 1)
        if n > 1:
            self._notify(
                f"Run trains {runners} runner{'s' if runners != 1 else ''} × {n} seeds ({runners * n} runs): "
                "the plots show each runner's mean and 95 % band.",
                6000,
            )

    @Slot(object)
    def _show_seeds(self, meta: Any) -> None:
        self.experiment.training_panel.show_seeds(meta.seeds)
        self._show_selection(self.document.selected)

    # ------------------------------------------------------------------ the list
    @Slot(QtWidgets.QListWidgetItem)
    def _on_double_click(self, item: QtWidgets.QListWidgetItem) -> None:
        self.edit_race_entry(self.race_list.row(item))

    @Slot()
    def _remove_current(self) -> None:
        self.document.remove_runner(self.race_list.currentRow())

    @Slot()
    def _rename_current(self) -> None:
        item = self.race_list.currentItem()
        if item is not None:
            self.race_list.editItem(item)

    @Slot(QtWidgets.QListWidgetItem)
    def _on_item_renamed(self, item: QtWidgets.QListWidgetItem) -> None:
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
        for button in (self.race_rename, self.race_remove, self.race_clear):
            button.setEnabled(bool(n))
        self._show_selection(self.document.selected)

    @Slot(object)
    def _show_selection(self, index: int | None) -> None:
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
        n = self.document.seeds
        if n > 1:
            self.race_state.setText(
                f"{self.race_state.text()} Each runner is trained with {n} seeds (Training panel)."
            )
