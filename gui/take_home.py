"""Taking an experiment home from the window: a PyTorch script, trained weights, a share code, a bundle.

:class:`TakeHome` is the files room's ``home`` (:class:`~.window_files.FileCommands`): File →
Export as PyTorch script, Save weights, Copy experiment, Open from text and Save run bundle,
and the Runs tab's Save weights. The engine does the work (``engine.export_script``,
``engine.weights``, ``engine.share``, ``engine.bundle``); every file is written atomically
(``engine.files``) and every problem is one message (a dialog where the user asked for
something), never a traceback or half a file.

The run store keeps per-epoch metrics, not weights: the trained models of the runs finished
in this window are kept (the newest :data:`MODELS_KEPT`) so that the File menu and the Runs
tab can save them.
"""

from __future__ import annotations

import re
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from optiscope.engine.config import ConfigError, ExperimentConfig
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Slot

from .panels import PanelError

__all__ = ["TakeHome", "MODELS_KEPT"]

#: how many finished runs' trained models the window keeps for Save weights (newest first)
MODELS_KEPT = 32


def _file_stem(text: str) -> str:
    """``text`` as a file name's stem (letters, digits, ``-_.=``)."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-.") or "run"


class TakeHome(QtCore.QObject):
    """The take-home commands of ``window`` (its ``runs``, ``document``, ``report``), through
    ``files`` (the files room: its save-name dialog and the one way an experiment is opened)."""

    def __init__(self, window: Any, files: Any) -> None:
        super().__init__(files)
        self.window = window
        self.files = files
        #: stored run id -> the engine's result of a run finished in this window (with its model)
        self.kept: OrderedDict[int, Any] = OrderedDict()
        window.runs.finished.connect(self._keep_models)

    # ------------------------------------------------------------------ what a command works on
    def _warn(self, title: str, text: str) -> None:
        self.window.report(text.splitlines()[0], error=True)
        QtWidgets.QMessageBox.warning(self.window, title, text)

    def _experiment(self, title: str) -> ExperimentConfig | None:
        """The experiment the window shows (what Run would train), or None (said in a dialog)."""
        try:
            return self.window.experiment_config()
        except (PanelError, ConfigError, ValueError) as exc:
            self._warn(title, f"The settings are not valid:\n{exc}")
            return None

    def _finished_runs(self, what: str) -> list[Any] | None:
        """The results of the window's last run, or None (said in the status bar)."""
        w = self.window
        if w.running:
            w.report(f"A run is in progress: {what} when it has finished (or after Stop).", error=True)
            return None
        if not w.runs.results:
            w.report(f"Nothing to save yet: run an experiment first, then {what}.", error=True)
            return None
        return list(w.runs.results)

    @Slot(str)
    def _keep_models(self, _reason: str) -> None:
        """Keep the trained models of the run that just ended, by their stored run ids."""
        runs = self.window.runs
        recording = runs.recording
        ids = dict(recording.recorder.ids) if recording is not None and recording.recorder is not None else {}
        for result in runs.results:
            stored = ids.get(result.run)
            if stored is not None and result.model is not None:
                self.kept[stored] = result
                self.kept.move_to_end(stored)
        while len(self.kept) > MODELS_KEPT:
            self.kept.popitem(last=False)

    def has_weights(self, stored_id: int) -> bool:
        """Whether the trained weights of stored run ``stored_id`` are at hand (it finished in
        this window and did not fail or diverge)."""
        result = self.kept.get(stored_id)
        return result is not None and result.reason not in ("failed", "diverged")

    # ------------------------------------------------------------------ script
    def export_script_dialog(self) -> None:
        """File → Export as PyTorch script: every run the window shows, one standalone script."""
        exp = self._experiment("Cannot export")
        if exp is None:
            return
        start = Path.home() / f"{_file_stem(exp.name)}.py"
        path = self.files.save_name("Export as PyTorch script", start, "Python (*.py)", ".py")
        if path:
            self.export_script(exp, path)

    def export_script(self, exp: ExperimentConfig, path: str | Path) -> bool:
        """Write ``exp``'s runs as one standalone PyTorch script at ``path``."""
        from importlib.metadata import PackageNotFoundError, version

        from optiscope.engine.dataset import DataError
        from optiscope.engine.export_script import NotExportable, csv_shapes, export_script
        from optiscope.engine.files import atomic_write_text

        indices = list(range(len(exp.runs())))
        doc_path = self.window.document.path
        source = Path(doc_path).name if doc_path else f"the Optiscope window ({exp.name})"
        try:
            ver = version("optiscope")
        except PackageNotFoundError:  # pragma: no cover - a frozen build without metadata
            ver = ""
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            text = export_script(
                exp, indices, source=source, csv_shapes=csv_shapes(exp, indices), version=ver
            )
            atomic_write_text(path, text)
        except NotExportable as exc:
            self._warn("Cannot export", f"This experiment cannot be exported as a script: {exc}")
            return False
        except (ConfigError, DataError) as exc:
            self._warn("Cannot export", f"The data cannot be read: {exc}")
            return False
        except OSError as exc:
            self._warn("Cannot export", f"{path} could not be written:\n{exc}")
            return False
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        n = len(indices)
        self.window.report(
            f"Exported {n} run{'s' if n != 1 else ''} as {Path(path).name}: run it with 'python {Path(path).name}' "
            "(torch, numpy and scikit-learn only)."
        )
        return True

    # ------------------------------------------------------------------ weights
    def save_weights_dialog(self) -> None:
        """File → Save weights: one run of the last run's (chosen when there are several)."""
        results = self._finished_runs("save its weights")
        if results is None:
            return
        usable = [r for r in results if r.model is not None and r.reason not in ("failed", "diverged")]
        if not usable:
            self.window.report(
                "No run of the last run has weights to save (each failed or diverged).", error=True
            )
            return
        chosen = usable[0]
        if len(usable) > 1:
            items = [f"run {r.run}: {r.label}" for r in usable]
            item, ok = QtWidgets.QInputDialog.getItem(
                self.window, "Save weights", "Whose trained weights?", items, 0, False
            )
            if not ok:
                return
            chosen = usable[items.index(item)]
        self._save_weights_of(chosen)

    def save_stored_weights(self, stored: Any) -> bool:
        """The Runs tab's Save weights: stored run ``stored``'s weights, if trained in this window."""
        if not self.has_weights(stored.id):
            self.window.report(
                f"Stored run {stored.id} has no weights at hand: the run store keeps metrics only. "
                "Load its settings and Run to train it again, then save its weights.",
                error=True,
            )
            return False
        return self._save_weights_of(self.kept[stored.id], stored.id)

    def _save_weights_of(self, result: Any, stored_id: int | None = None) -> bool:
        name = f"{_file_stem(result.label)}.pt" if result.label else f"run-{result.run}.pt"
        path = self.files.save_name("Save weights", Path.home() / name, "PyTorch weights (*.pt)", ".pt")
        return bool(path) and self.save_weights(result, path, stored_id)

    def save_weights(self, result: Any, path: str | Path, stored_id: int | None = None) -> bool:
        """Write ``result``'s trained ``state_dict`` (``torch.save``) atomically at ``path``."""
        from optiscope.engine.files import atomic_write_bytes
        from optiscope.engine.weights import state_dict_bytes

        try:
            atomic_write_bytes(path, state_dict_bytes(result.model))
        except OSError as exc:
            self._warn("Cannot save weights", f"{path} could not be written:\n{exc}")
            return False
        which = f"stored run {stored_id}" if stored_id is not None else f"run {result.run}"
        how = {
            "early_stopped": " (the best epoch's, restored by early stopping)"
            if result.best_epoch is not None
            else " (where early stopping ended it)",
            "stopped": f" (stopped at epoch {len(result.epochs)})",
        }.get(result.reason, "")
        self.window.report(
            f"Saved the weights of {which}, '{result.label}'{how}, as {Path(path).name}: "
            "they load into the exported script's model class (model.load_state_dict(torch.load(path)))."
        )
        return True

    # ------------------------------------------------------------------ share codes
    def copy_code(self) -> str:
        """File → Copy experiment: the share code of what the window shows, on the clipboard."""
        from optiscope.engine.share import encode

        exp = self._experiment("Cannot copy the experiment")
        if exp is None:
            return ""
        code = encode(exp)
        QtGui.QGuiApplication.clipboard().setText(code)
        n = len(exp.runs())
        note = (
            " (it holds the CSV file's path, not its data)"
            if any(r.dataset.name == "csv" for r in exp.runs())
            else ""
        )
        self.window.report(
            f"Copied '{exp.name}' ({n} run{'s' if n != 1 else ''}) as a {len(code):,}-character code{note}: "
            "paste it into File → Open from text, or 'optiscope run --from-code CODE'."
        )
        return code

    def open_code_dialog(self) -> None:
        """File → Open from text: paste a share code (the clipboard's, if it holds one)."""
        clip = QtGui.QGuiApplication.clipboard().text().strip()
        text, ok = QtWidgets.QInputDialog.getMultiLineText(
            self.window,
            "Open from text",
            "Paste a share code (optiscope:…, from File → Copy experiment or 'optiscope share'):",
            clip if clip.startswith("optiscope:") else "",
        )
        if ok and text.strip():
            self.open_code(text)

    def open_code(self, code: str, quiet: bool = False) -> bool:
        """Open the experiment of a share code; a bad or tampered code is reported as a bad file
        is (a dialog unless ``quiet``) and changes nothing."""
        from optiscope.engine.share import decode

        return self.files.open_with(lambda: decode(code), "the share code", None, quiet)

    # ------------------------------------------------------------------ bundle
    def save_bundle_dialog(self) -> None:
        """File → Save run bundle: the last run as a zip that 'optiscope run --bundle --check' re-runs."""
        results = self._finished_runs("save its bundle")
        if results is None:
            return
        problem = self.bundle_problem(results)
        if problem:
            self._warn("Cannot save the bundle", problem)
            return
        name = _file_stem(self.window.runs.live_experiment or "experiment")
        path = self.files.save_name(
            "Save run bundle", Path.home() / f"{name}-bundle.zip", "Zip (*.zip)", ".zip"
        )
        if path:
            self.save_bundle(path)

    def save_stored_bundle(self, stored: list[Any]) -> bool:
        """The Runs tab's Save bundle: stored runs as ``optiscope runs export ID... --bundle`` writes
        them (their per-epoch metrics: the store keeps no steps or weights)."""
        n = len(stored)
        start = Path.home() / (f"run-{stored[0].id}-bundle.zip" if n == 1 else f"{n}-runs-bundle.zip")
        path = self.files.save_name("Save bundle of stored runs", start, "Zip (*.zip)", ".zip")
        return bool(path) and self.save_stored_bundle_to(stored, path)

    def save_stored_bundle_to(self, stored: list[Any], path: str | Path) -> bool:
        from optiscope.engine.bundle import bundle_stored_runs

        try:
            bundle_stored_runs(path, stored)
        except ConfigError as exc:
            self._warn("Cannot save the bundle", str(exc))
            return False
        except OSError as exc:
            self._warn("Cannot save the bundle", f"{path} could not be written:\n{exc}")
            return False
        ids = ", ".join(str(s.id) for s in stored)
        self.window.report(
            f"Saved stored run{'s' if len(stored) != 1 else ''} {ids} as {Path(path).name}: re-check it "
            f"with 'optiscope run --bundle {Path(path).name} --check --out FOLDER'."
        )
        return True

    def bundle_problem(self, results: list[Any]) -> str:
        """Why the last run cannot be bundled faithfully, or ""."""
        runs = self.window.runs
        stopped = [r for r in results if r.reason == "stopped"]
        if stopped:
            return (
                f"Run '{stopped[0].label}' was stopped before its end: a bundle holds finished runs, "
                "which 'optiscope run --bundle --check' re-runs in full. Run it to the end first."
            )
        if abs(runs.live_lr_scale - 1.0) > 1e-12:
            return (
                f"The learning rate was changed while the run trained (×{runs.live_lr_scale:g}): its "
                "settings no longer describe it, so its bundle could not be re-checked. Run it again "
                "without changing the rate."
            )
        return ""

    def save_bundle(self, path: str | Path) -> bool:
        """Write the last run's bundle (config, metrics, steps, layers, weights, script, versions,
        README) at ``path``."""
        from optiscope.engine.bundle import stored_experiment
        from optiscope.engine.cli.bundle import save_run_bundle
        from optiscope.engine.runner import write_outputs

        runs = self.window.runs
        results = list(runs.results)
        exp = stored_experiment(runs.live_runs, runs.live_experiment or "experiment")
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            with tempfile.TemporaryDirectory(prefix="optiscope-bundle-") as tmp:
                out = write_outputs(tmp, exp, exp.runs(), results)
                save_run_bundle(Path(path), exp, results, out)
        except OSError as exc:
            self._warn("Cannot save the bundle", f"{path} could not be written:\n{exc}")
            return False
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        self.window.report(
            f"Saved the bundle {Path(path).name} ({len(results)} run{'s' if len(results) != 1 else ''}): "
            f"re-check it with 'optiscope run --bundle {Path(path).name} --check --out FOLDER'."
        )
        return True
