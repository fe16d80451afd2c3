"""Tools > Tuning recipe: the current experiment walked through article 001's six steps.

Each step shows its check, its numbers and what to do when it fails:

1. initial loss ~ ln(classes) and 2. overfit 20 examples -- automatic
   (:func:`optiscope.engine.recipe.run_recipe`, a background job of the window's JobRunner);
3. LR range test -- opens Tools > Find learning rate; shows the rate the panels now hold
   and the range test's suggestions once it ran;
4. train on all the data -- Run; the check is the train/validation accuracy gap at the
   last epoch of the last run of a race (closed: at most :data:`GAP_CLOSED`), with what to
   add when it is open;
5. try a schedule -- guidance only (set plateau or cyclical in the Schedule panel, race it
   against the constant rate); not checked automatically;
6. the final run -- the window stores every run in the run store; Export writes a
   one-page HTML summary (these steps' results, the last run's final numbers, the loss and
   accuracy plots as pictures).
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtWidgets

from .worker import JobContext

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["RecipePanel", "GAP_CLOSED", "open_recipe"]

JOB_KEY = "recipe"
GAP_CLOSED = 0.05  # train minus validation accuracy at the last epoch: closed at 5 points or less
_PASS, _FAIL, _OPEN = "#1e9e4a", "#e0342b", "#6f7f94"
TITLES = (
    "1. Initial loss ≈ ln(number of classes)",
    "2. Overfit a tiny subset to 100 %",
    "3. LR range test → pick the learning rate",
    "4. Train on all data, regularise until the gap closes",
    "5. Try a schedule (plateau or cyclical) and compare",
    "6. The final run, stored, with a one-page summary",
)


def _recipe_job(cfg: Any) -> Any:
    def job(context: JobContext) -> list[Any]:
        import torch
        from optiscope.engine.recipe import run_recipe

        torch.set_num_threads(1)
        return run_recipe(cfg)

    return job


class RecipePanel(QtWidgets.QDialog):
    """Six step boxes, each with its status line, numbers/advice and an action button."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Tuning recipe")
        self.setObjectName("tuning-recipe")
        self.window_ = window
        self.checks: list[Any] = []  # engine CheckResults of steps 1-2
        self.gap: float | None = None
        layout = QtWidgets.QVBoxLayout(self)
        self.status: list[QtWidgets.QLabel] = []
        self.details: list[QtWidgets.QLabel] = []
        self.buttons: list[QtWidgets.QPushButton] = []
        actions = (
            ("Check steps 1-2", self.check_basics),
            ("Check steps 1-2", self.check_basics),
            ("Find learning rate…", self.find_lr),
            ("Train (Run)", self.train),
            ("Schedule panel", self.show_schedule),
            ("Export summary…", self.export_dialog),
        )
        for i, title in enumerate(TITLES):
            box = QtWidgets.QGroupBox(title)
            row = QtWidgets.QGridLayout(box)
            status = QtWidgets.QLabel("not checked yet")
            status.setObjectName(f"recipe_status_{i + 1}")
            detail = QtWidgets.QLabel("")
            detail.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            detail.setWordWrap(True)
            detail.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            text, slot = actions[i]
            button = QtWidgets.QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(status, 0, 0)
            row.addWidget(button, 0, 1, QtCore.Qt.AlignmentFlag.AlignRight)
            row.addWidget(detail, 1, 0, 1, 2)
            row.setColumnStretch(0, 1)
            layout.addWidget(box)
            self.status.append(status)
            self.details.append(detail)
            self.buttons.append(button)
        self._set(2, None, "open", "Run the range test, then apply a suggestion (the panels take it).")
        self._set(
            4,
            None,
            "guided (not checked automatically)",
            "Set a ReduceLROnPlateau or cyclical schedule in the Schedule panel, then race it against the "
            "constant rate (Compare) and keep the one with the better final validation accuracy.",
        )
        self._set(5, None, "open", "Every run you train is stored in the run store (Runs tab).")
        window.runs.finished.connect(self._on_run_finished)
        self.resize(760, 720)

    def _set(self, i: int, passed: bool | None, status: str, detail: str) -> None:
        colour = _OPEN if passed is None else _PASS if passed else _FAIL
        mark = "" if passed is None else "✔ " if passed else "✘ "
        self.status[i].setText(f"<b style='color:{colour}'>{mark}{html.escape(status, quote=False)}</b>")
        self.details[i].setText(detail)

    # ------------------------------------------------------------------ steps 1-2
    def check_basics(self) -> bool:
        """Run steps 1 and 2 on the panels' run (False if the settings are invalid)."""
        from .panels import PanelError

        try:
            cfg = self.window_.current_run_config()
        except PanelError as exc:
            self._set(0, False, "the settings are not valid", str(exc))
            return False
        for i in (0, 1):
            self._set(i, None, "checking…", "")
            self.buttons[i].setEnabled(False)
        self.window_.jobs.submit(
            JOB_KEY, _recipe_job(cfg), on_done=self._on_checks, on_finished=self._on_job_end
        )
        return True

    def _on_checks(self, checks: list[Any]) -> None:
        self.checks = checks
        for c in checks:
            self._set(c.step - 1, c.passed, c.message, c.advice)

    def _on_job_end(self, job: Any) -> None:
        for i in (0, 1):
            self.buttons[i].setEnabled(True)
        if job.error is not None:
            self._set(0, False, "the check failed", job.error.splitlines()[0])

    # ------------------------------------------------------------------ step 3
    def find_lr(self) -> None:
        self.window_.find_lr()
        dialog = self.window_._lr_finder
        dialog.finished.connect(self.update_lr_step)  # QDialog.finished: the dialog closed
        self.update_lr_step()

    def update_lr_step(self, *_args: Any) -> None:
        """Show the rate the panels hold and the range test's suggestions."""
        from .panels import PanelError

        try:
            lr = self.window_.current_run_config().optimizer.lr
        except PanelError:
            return
        dialog = getattr(self.window_, "_lr_finder", None)
        result = getattr(dialog, "result", None)
        if result is None:
            self._set(2, None, f"learning rate now {lr:g}", "Run the range test and apply a suggestion.")
            return
        sugg = ", ".join(f"{k} {v:.3g}" for k, v in result.suggestions.items() if v)
        self._set(2, True, f"learning rate now {lr:g}", f"range test suggestions: {sugg}")

    # ------------------------------------------------------------------ step 4
    def train(self) -> None:
        self.window_.run()

    @QtCore.Slot(str)
    def _on_run_finished(self, _reason: str) -> None:
        ends = self.window_.runs.epoch_events
        if not ends:
            return
        run = max(e.run for e in ends)
        last = [e for e in ends if e.run == run][-1]
        self.last_epoch = last
        self.gap = gap = last.train_acc - last.val_acc
        closed = gap <= GAP_CLOSED
        label = self.window_.runs.label(run)
        status = (
            f"'{label}': train {100 * last.train_acc:.1f} %, validation {100 * last.val_acc:.1f} %, "
            f"gap {100 * gap:.1f} points (closed at ≤ {100 * GAP_CLOSED:.0f})"
        )
        if math.isnan(gap):
            self._set(
                3, False, status, "Training accuracy is not evaluated: tick 'evaluate train' in Training."
            )
        elif closed:
            self._set(3, True, status, "The gap is closed: go on to a schedule (step 5).")
        else:
            self._set(
                3,
                False,
                status,
                "The model fits the training set better than new data: add regularisation in the "
                "Regularisation panel (L2, dropout, early stopping, augmentation) and train again.",
            )
        if self.window_.runs.record:
            self._set(5, None, "stored", f"'{label}' is in the run store (Runs tab); export its summary.")
        else:
            self._set(
                5, None, "not stored", "Recording is off for this window: export the summary to keep it."
            )

    # ------------------------------------------------------------------ step 5
    def show_schedule(self) -> None:
        panel = self.window_.panels.get("schedule")
        if panel is not None:
            dock = panel.parentWidget()
            while dock is not None and not isinstance(dock, QtWidgets.QDockWidget):
                dock = dock.parentWidget()
            if dock is not None:
                dock.show()
                dock.raise_()

    # ------------------------------------------------------------------ step 6
    def export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export summary", "summary.html", "HTML (*.html)"
        )
        if path:
            self.export_summary(path)

    def export_summary(self, path: str | Path) -> bool:
        """Write the one-page HTML summary to ``path``; False (with the reason shown) on failure."""
        rows = []
        for i, title in enumerate(TITLES):
            rows.append(
                f"<tr><td>{html.escape(title)}</td><td>{self.status[i].text()}</td>"
                f"<td>{html.escape(self.details[i].text())}</td></tr>"
            )
        pictures = []
        plots = getattr(self.window_, "plots", None)
        names = list(plots.plot_items()) if plots is not None and hasattr(plots, "plot_items") else []
        with tempfile.TemporaryDirectory() as tmp:
            for name in names[:2]:
                target = Path(tmp) / f"{name}.png"
                if self.window_.export_plot(name, target) and target.exists():
                    data = base64.b64encode(target.read_bytes()).decode("ascii")
                    pictures.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
        try:
            cfg_text = self.window_.current_run_config().describe()
        except Exception:  # invalid panels: the summary still gets written
            cfg_text = "(the panels' settings are not valid)"
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Tuning recipe summary</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td{vertical-align:top;"
            "padding:4px 8px;border-bottom:1px solid #ddd}img{max-width:49%}</style></head><body>"
            f"<h1>Tuning recipe summary</h1><p>{html.escape(cfg_text)}</p>"
            f"<table>{''.join(rows)}</table>{''.join(pictures)}</body></html>"
        )
        from optiscope.engine.files import atomic_write_text

        try:
            atomic_write_text(path, page)  # never a half-written page
        except OSError as exc:
            self._set(5, False, "the summary was not written", f"{path}: {exc.strerror or exc}")
            return False
        self._set(5, True, "summary exported", str(path))
        return True

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.window_.jobs.cancel(JOB_KEY)
        super().closeEvent(event)


def open_recipe(window: MainWindow) -> RecipePanel:
    """Show the window's recipe panel (one per window)."""
    panel = getattr(window, "_recipe_panel", None)
    if panel is None:
        panel = window._recipe_panel = RecipePanel(window)
    panel.show()
    panel.raise_()
    return panel
