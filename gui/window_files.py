"""The files room of the window: open and save experiments, lessons from the menu, exports.

:class:`FileCommands` holds the File menu's commands (open, save, export the metrics CSV or a
plot) and the Lessons menu; :func:`export_text` is the one way the window writes a text
export and says how it went (the classroom's results table uses it too).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optiscope.engine.config import ConfigError, ExperimentConfig, dump_toml, load_toml
from optiscope.engine.formats import METRIC_COLUMNS, METRIC_VALUES, format_csv
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Slot

from .panels import PanelError
from .take_home import TakeHome

__all__ = ["FileCommands", "export_text"]


def export_text(path: str | Path, text: str, report: Callable[..., None], what: str, done: str) -> bool:
    """Write ``text`` to ``path`` atomically and report it: ``done`` (``{name}`` is the file's
    name), or "<what> not exported: <why>" as an error. True when written."""
    from optiscope.engine.files import atomic_write_text

    path = Path(path)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        report(f"{what} not exported: {exc}", error=True)
        return False
    report(done.format(name=path.name))
    return True


def _save_name(parent: QtWidgets.QWidget, title: str, start: Path, filters: str, suffix: str = "") -> str:
    """The file the user chose to write (``suffix`` added when missing), or ""."""
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, title, str(start), filters)
    if path and suffix and not path.lower().endswith(suffix):
        path += suffix
    return path


class FileCommands(QtCore.QObject):
    """Open/save/export for ``window`` (its ``document``, ``experiment``, ``runs``, ``plots``)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.export_menu: QtWidgets.QMenu | None = None
        self.lessons_menu: QtWidgets.QMenu | None = None
        #: the script, weights, share-code and bundle commands (:mod:`.take_home`)
        self.home = TakeHome(window, self)

    def save_name(self, title: str, start: Path, filters: str, suffix: str = "") -> str:
        """The file the user chose to write (``suffix`` added when missing), or ""."""
        return _save_name(self.window, title, start, filters, suffix)

    # ------------------------------------------------------------------ experiments
    def open_dialog(self) -> None:
        path = self.window.document.path
        start = str(path.parent) if path else str(Path.home())
        chosen, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Open experiment", start, "Experiments (*.toml);;All files (*)"
        )
        if chosen:
            self.open_experiment(chosen)

    def open_experiment(self, path: str | Path, quiet: bool = False) -> bool:
        """Load an experiment TOML; a bad file is reported (a dialog unless ``quiet``) and changes
        nothing (see :meth:`open_with`)."""
        return self.open_with(lambda: load_toml(path), str(path), path, quiet)

    def open_with(
        self, load: Callable[[], ExperimentConfig], where: str, path: str | Path | None, quiet: bool = False
    ) -> bool:
        """Open the experiment ``load()`` reads from ``where`` (a file at ``path``, or a share
        code); anything wrong is reported (a dialog unless ``quiet``) and changes nothing: the
        experiment is read, every run resolved and every panel value tried on scratch panels
        before the window's panels are touched."""
        w = self.window
        try:
            exp = load()
            shown = exp.runs()[0]  # every variation resolves (and the one the panels show)
            w.experiment.check_takes(shown if exp.variations else exp.base)
        except ConfigError as exc:
            msg = str(exc)
        except RecursionError:
            msg = f"{where}: the file nests tables or arrays too deeply to be an experiment."
        except Exception as exc:  # noqa: BLE001 - any bad file is a message, never a crash
            msg = f"{where}: not a usable experiment file ({type(exc).__name__}: {exc})."
        else:
            msg = ""
        if msg:
            w.report(f"Could not open {where}: {msg.splitlines()[0]}", error=True)
            if not quiet:
                QtWidgets.QMessageBox.warning(w, "Cannot open experiment", msg)
            return False
        name = Path(path).name if path is not None else f"the shared experiment '{exp.name}'"
        if not self.make_room_for(name):
            return False
        w.set_experiment(exp, path)
        w.report(f"Opened {name}")
        return True

    def save(self) -> bool:
        path = self.window.document.path
        return self.save_as() if path is None else self.save_to(path)

    def save_as(self) -> bool:
        doc = self.window.document
        start = doc.path if doc.path else Path.home() / f"{doc.meta.name}.toml"
        path = _save_name(self.window, "Save experiment", start, "Experiments (*.toml)", ".toml")
        return self.save_to(path) if path else False

    def save_to(self, path: str | Path) -> bool:
        """Write the experiment atomically; problems are reported, nothing half-written."""
        w = self.window
        try:
            exp = w.experiment_config()
        except PanelError as exc:
            w.report(f"Not saved: {exc}", error=True)
            QtWidgets.QMessageBox.warning(w, "Cannot save", f"The settings are not valid:\n{exc}")
            return False
        try:
            dump_toml(exp, path)
        except OSError as exc:
            w.report(f"Not saved: {exc}", error=True)
            QtWidgets.QMessageBox.warning(w, "Cannot save", f"{path} could not be written:\n{exc}")
            return False
        w.document.path = path
        w.document.mark_saved()
        w.report(f"Saved {Path(path).name}")
        return True

    def make_room_for(self, what: str) -> bool:
        """Before another experiment or lesson opens: stop a live run (asking first when the user
        started it), clear the plots of the old curves and be ready to Run. False: the user
        kept the run, and nothing is opened."""
        w = self.window
        if not w.running and w.plots is None:
            return True  # starting up (the last experiment reopened): nothing drawn to clear
        if w.running and w.transport.by_hand:
            buttons = QtWidgets.QMessageBox.StandardButton
            answer = QtWidgets.QMessageBox.question(
                w,
                "Stop the run?",
                f"A run you started is still training. Stop it and open {what}?",
                buttons.Yes | buttons.No,
                buttons.No,
            )
            if answer != buttons.Yes:
                w.report(f"Kept the run going; {what} was not opened.")
                return False
        w.transport.reset()  # stops the run, forgets its counts, clears the plots
        if w.plots is not None:
            w.past.redraw()  # past runs stay until removed, as when a run starts
        return True

    def may_discard_race(self) -> bool:
        """Ask before an unsaved race is lost: Save (then go on if it was saved), Discard, Cancel."""
        doc = self.window.document
        if not doc.race_unsaved:
            return True
        buttons = QtWidgets.QMessageBox.StandardButton
        n = len(doc.race)
        answer = QtWidgets.QMessageBox.question(
            self.window,
            "Unsaved race",
            f"The race of {n} run{'s' if n != 1 else ''} is not saved. Save it before quitting?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    # ------------------------------------------------------------------ metrics and plots
    def metrics_csv(self) -> str:
        """Every epoch received, with the CLI's metrics.csv columns."""
        runs = self.window.runs
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(METRIC_COLUMNS)
        for e in sorted(runs.epoch_events, key=lambda e: (e.run, e.epoch)):
            values = (format_csv(float(getattr(e, k))) for k in METRIC_VALUES)
            runner, seed = self._runner_seed(e.run)
            w.writerow([e.run, format_csv(runs.label(e.run)), e.epoch, *values, runner, seed])
        return buf.getvalue()

    def _runner_seed(self, run: int) -> tuple[int, int | str]:
        """The runner and seed cells of a run: the last run's seed plan's when it has one, else
        each run its own runner, the seed its config's."""
        plan = self.window.runs.plan  # engine.seeds.SeedPlan of the last run (None: one seed per run)
        if plan is not None and 0 <= run < len(plan.runs):
            return plan.runner_of[run], plan.seed_of[run]
        info = self.window.runs.run_info.get(run)
        training = getattr(info, "config", {}).get("training", {}) if info is not None else {}
        seed = training.get("seed", "") if isinstance(training, dict) else ""
        return run, seed

    def export_metrics(self, path: str | Path) -> bool:
        n = len(self.window.runs.epoch_events)
        return export_text(
            path, self.metrics_csv(), self.window.report, "Metrics", f"Exported {n} epochs to {{name}}"
        )

    def export_metrics_dialog(self) -> None:
        if not self.window.runs.epoch_events:
            self.window.report("Nothing to export yet: run an experiment first.", error=True)
            return
        path = _save_name(self.window, "Export metrics", Path.home() / "metrics.csv", "CSV (*.csv)")
        if path:
            self.export_metrics(path)

    def export_plot(self, name: str, path: str | Path) -> bool:
        """Write plot ``name`` as PNG or SVG (by the file's suffix)."""
        w = self.window
        if w.plots is None:
            w.report("The plots are not ready yet.", error=True)
            return False
        from optiscope.engine.files import new_file_mode

        w.flush_plots()
        path = Path(path)
        mode = new_file_mode(path)  # the exporter writes through a 0o600 temporary
        try:
            if path.suffix.lower() == ".svg":
                w.plots.export_svg(name, path)
            else:
                w.plots.export_png(name, path)
            os.chmod(path, mode)
        except Exception as exc:  # an exporter problem is reported, never a crash
            w.report(f"Plot not exported: {exc}", error=True)
            return False
        w.report(f"Exported the {name} plot to {path.name}")
        return True

    def plot_names(self) -> list[str]:
        plots = self.window.plots
        return list(plots.plot_items()) if plots is not None else []

    def add_export_menu(self, menu: QtWidgets.QMenu) -> None:
        """File → Export plot: one entry per plot and format, listed when it opens."""
        self.export_menu = menu.addMenu("Export &plot")
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        self.export_menu.triggered.connect(self._on_export_chosen)

    @Slot()
    def _fill_export_menu(self) -> None:
        menu = self.export_menu
        menu.clear()
        names = self.plot_names()
        if not names:
            menu.addAction("(no plots yet)").setEnabled(False)
        for name in names:
            for fmt in ("PNG", "SVG"):
                menu.addAction(f"{name.capitalize()} as {fmt}…").setData((name, fmt.lower()))

    @Slot(QtGui.QAction)
    def _on_export_chosen(self, act: QtGui.QAction) -> None:
        if act.data():
            name, fmt = act.data()
            start = Path.home() / f"{name}.{fmt}"
            path = _save_name(
                self.window, f"Export the {name} plot", start, f"{fmt.upper()} (*.{fmt})", f".{fmt}"
            )
            if path:
                self.export_plot(name, path)

    # ------------------------------------------------------------------ lessons menu
    def add_lessons_menu(self, menu: QtWidgets.QMenu) -> None:
        """The Lessons menu: the bundled presets, listed when it opens."""
        self.lessons_menu = menu
        menu.setToolTipsVisible(True)
        menu.aboutToShow.connect(self._fill_lessons_menu)
        menu.triggered.connect(self._on_lesson_chosen)

    @Slot()
    def _fill_lessons_menu(self) -> None:
        from optiscope.engine.presets import all_presets

        menu = self.lessons_menu
        menu.clear()
        try:
            presets = all_presets()
        except ConfigError as exc:
            menu.addAction(f"(presets unreadable: {exc})").setEnabled(False)
            return
        for name, exp in presets.items():
            act = menu.addAction(name)
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
            self.window.report(str(exc), error=True)
            return
        if not self.make_room_for(f"the lesson '{name}'"):
            return
        self.window.set_experiment(exp)
        self.window.report(f"Lesson '{name}' loaded: press Run (F5).")
