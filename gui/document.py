"""The open experiment as one evented model: its file, its lesson and its race.

The window observes an :class:`ExperimentDocument` instead of keeping ``path``, ``race`` and
the lesson in attributes set from many methods (CONVENTIONS rule 15, after napari's
``EventedModel``): every field has a change signal, emitted only when the value really
changes, and :meth:`ExperimentDocument.load` replaces all of them at once and says so.
The panels' settings are not part of the document: the panels own them (rule 9).
"""

from __future__ import annotations

from pathlib import Path

from optiscope.engine.config import ExperimentConfig, RunConfig, race_experiment
from PySide6 import QtCore
from PySide6.QtCore import Signal

__all__ = ["ExperimentDocument"]


class ExperimentDocument(QtCore.QObject):
    """Path, name/description/lesson and race list of the experiment the window shows.

    Signals
    -------
    path_changed(object)
        The file it was opened from or saved to (a ``Path``, or None).
    meta_changed(object)
        Name, description, lesson and seed policy (seeds per runner, independent seeds; an
        ``ExperimentConfig`` without runs).
    race_changed(tuple)
        The runners of the race (a tuple of ``RunConfig``; empty: no race).
    selected_changed(object)
        The runner the panels show and edit (an index into the race), or None: the panels
        are a draft that Compare adds to the race.
    loaded(object)
        A whole experiment was loaded (after the field signals).
    """

    path_changed = Signal(object)
    meta_changed = Signal(object)
    race_changed = Signal(tuple)
    selected_changed = Signal(object)
    loaded = Signal(object)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._path: Path | None = None
        self._meta = ExperimentConfig()
        self._race: tuple[RunConfig, ...] = ()
        self._selected: int | None = None
        self._saved_race: tuple[RunConfig, ...] = ()

    # -- fields
    @property
    def path(self) -> Path | None:
        return self._path

    @path.setter
    def path(self, value: str | Path | None) -> None:
        value = Path(value) if value is not None else None
        if value != self._path:
            self._path = value
            self.path_changed.emit(value)

    @property
    def meta(self) -> ExperimentConfig:
        return self._meta

    @meta.setter
    def meta(self, exp: ExperimentConfig) -> None:
        meta = exp.model_copy(update={"base": RunConfig(), "variations": ()})
        if meta != self._meta:
            self._meta = meta
            self.meta_changed.emit(meta)

    @property
    def race(self) -> tuple[RunConfig, ...]:
        return self._race

    @race.setter
    def race(self, runs: tuple[RunConfig, ...] | list[RunConfig]) -> None:
        runs = tuple(runs)
        if runs != self._race:
            self._race = runs
            if self._selected is not None and self._selected >= len(runs):
                self.selected = None
            self.race_changed.emit(runs)

    @property
    def selected(self) -> int | None:
        return self._selected

    @selected.setter
    def selected(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self._race):
            index = None
        if index != self._selected:
            self._selected = index
            self.selected_changed.emit(index)

    def labels(self) -> list[str]:
        """The runners' labels: the user's, else generated from what differs between them."""
        from optiscope.engine.labels import race_labels

        return race_labels(self._race)

    # -- race editing
    def add_runner(self, run: RunConfig) -> None:
        """Add ``run``; the panels become a draft for the next runner."""
        self.race = (*self._race, run)
        self.selected = None

    def replace_runner(self, index: int, run: RunConfig) -> None:
        if 0 <= index < len(self._race):
            self.race = self._race[:index] + (run,) + self._race[index + 1 :]

    def rename_runner(self, index: int, label: str) -> None:
        """Give runner ``index`` the user's ``label`` (empty: a generated label again)."""
        if 0 <= index < len(self._race):
            self.replace_runner(index, self._race[index].model_copy(update={"label": label.strip()}))

    def remove_runner(self, index: int) -> None:
        if 0 <= index < len(self._race):
            selected = self._selected
            self.race = self._race[:index] + self._race[index + 1 :]
            if selected is not None:
                self.selected = None if selected == index else selected - (selected > index)

    def clear_race(self) -> None:
        self.race = ()

    @property
    def race_unsaved(self) -> bool:
        """A race is set up and differs from the one last opened or saved."""
        return bool(self._race) and self._race != self._saved_race

    def mark_saved(self) -> None:
        """The race as it is now is in a file."""
        self._saved_race = self._race

    # -- whole experiments
    def load(self, exp: ExperimentConfig, path: str | Path | None = None) -> None:
        """Take ``exp``'s lesson and race (its base run goes to the panels) and its file."""
        self.race = tuple(exp.runs()) if exp.variations else ()
        self.selected = 0 if self._race else None
        self.meta = exp
        self.path = path
        self._saved_race = self._race
        self.loaded.emit(exp)

    @property
    def seeds(self) -> int:
        """Seeds per runner (``ExperimentConfig.seeds``): every runner is trained this many times."""
        return self._meta.seeds

    @seeds.setter
    def seeds(self, n: int) -> None:
        self.meta = self._meta.model_copy(update={"seeds": int(n)})

    def experiment(self, panels_run: RunConfig) -> ExperimentConfig:
        """The experiment to run or save: the race if one is set up, else ``panels_run`` alone,
        with the document's seed policy (seeds per runner, independent seeds, data per seed).

        Raises ValueError when the runners times the seeds are more than are trained at once."""
        meta = self._meta
        seeds = {"seeds": meta.seeds, "seeds_vary_data": meta.seeds_vary_data}
        if self._race:
            labelled = [
                r.model_copy(update={"label": lab}) for r, lab in zip(self._race, self.labels(), strict=True)
            ]
            exp = race_experiment(labelled, name=meta.name, description=meta.description, lesson=meta.lesson)
            data = exp.model_dump(mode="python") | seeds | {"independent_seeds": meta.independent_seeds}
            return ExperimentConfig.model_validate(data)  # validated: runners x seeds has a bound
        return ExperimentConfig(
            name=meta.name, description=meta.description, lesson=meta.lesson, base=panels_run, **seeds
        )
