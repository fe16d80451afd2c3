"""Tools > Tuning recipe: the current experiment walked through article 001's six steps.

Each step shows its check, its numbers and what to do when it fails; the checks are the
engine's (:mod:`optiscope.engine.recipe`), run as background jobs of the window's JobRunner:

1. initial loss ~ ln(classes) and 2. overfit 20 examples -- automatic;
3. LR range test -- the range test on the panels' run; passes when the loss falls by a
   meaningful fraction before it rises and the suggestion (valley) lies inside the tested
   range; a passing suggestion is put into the panels as the learning rate;
4. train on all the data -- Run; the check is the train/validation accuracy gap at the
   last epoch of the last run (closed: at most :data:`GAP_CLOSED`);
5. try a schedule -- the panels' run at its rate, constant and with a plateau (or the run's
   own plateau/cyclical) schedule, each over N seeds (the step's seeds box, default
   :data:`~optiscope.engine.recipe.SCHEDULE_SEEDS`), all trained side by side; compares final
   and best validation accuracy and loss as mean ± 95 % interval with the paired verdict,
   passes unless the schedule is clearly worse by more than
   :data:`~optiscope.engine.recipe.SCHEDULE_MARGIN` and says which to keep;
6. the final run -- every run of the recipe is stored in the run store under one
   experiment name (:attr:`RecipePanel.group`, the Runs tab's Experiment column); Export
   writes the one-page summary as HTML and PNG (these steps' results and the loss and
   accuracy plots).
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from pathlib import Path
from typing import Any

from optiscope.engine.recipe import GAP_CLOSED, STEP_TITLES, recipe_group, summary_html
from PySide6 import QtCore, QtGui, QtWidgets

from .tools import ToolDialog, ToolHost
from .worker import JobContext

__all__ = ["RecipePanel", "GAP_CLOSED", "render_summary_png"]

JOB_KEY = "recipe"
LR_JOB_KEY = "recipe_lr"
SCHEDULE_JOB_KEY = "recipe_schedule"
STORE_JOB_KEY = "recipe_store"
SUMMARY_WIDTH = 1000  # pixels: the PNG summary's page width
SUMMARY_PLOTS = ("loss", "accuracy")  # the plots the summary shows (step 4's run)
PICTURE_WIDTH = 440  # pixels: each plot in the PNG summary, two side by side
_PASS, _FAIL, _OPEN = "#1e9e4a", "#e0342b", "#6f7f94"
TITLES = STEP_TITLES


def _recording(runs: Any, group: str) -> Any:
    """Where the recipe's runs are kept (None when the window does not record runs)."""
    from .run_controller import Recording

    return Recording(runs.store_path, group) if runs.record else None


def _stopping_bus(context: JobContext, recording: Any) -> tuple[Any, Any]:
    """An event bus recording into the store, and a control stopped when the job is cancelled."""
    from optiscope.engine import events as ev
    from optiscope.engine.control import RunControl

    control = RunControl()
    bus = ev.EventBus()

    def on_event(_e: Any) -> None:
        if context.cancelled:
            control.stop()

    bus.subscribe(on_event)
    recorder = recording.open() if recording is not None else None
    if recorder is not None:
        bus.subscribe(recorder, *recorder.EVENT_TYPES)
    return bus, control


def _recipe_job(cfg: Any, recording: Any) -> Any:
    def job(context: JobContext) -> list[Any]:
        import torch
        from optiscope.engine.recipe import run_recipe

        torch.set_num_threads(1)
        bus, control = _stopping_bus(context, recording)
        return run_recipe(cfg, (1, 2), bus=bus, control=control)

    return job


def _range_test_job(cfg: Any, recording: Any) -> Any:
    def job(context: JobContext) -> Any:
        import torch
        from optiscope.engine.recipe import lr_range_check

        torch.set_num_threads(1)
        bus, control = _stopping_bus(context, recording)
        check, _result = lr_range_check(cfg, bus=bus, control=control, run_id=1)
        return check

    return job


def _schedule_job(cfg: Any, recording: Any, seeds: int = 1) -> Any:
    def job(context: JobContext) -> Any:
        import torch
        from optiscope.engine.recipe import schedule_check, train_schedules

        torch.set_num_threads(1)
        bus, control = _stopping_bus(context, recording)
        _runs, results = train_schedules(
            cfg, cfg.optimizer.lr, bus=bus, control=control, first_run_id=2, seeds=seeds
        )
        return schedule_check(results[:seeds], results[seeds:])

    return job


def _regroup_job(store_path: Path | None, ids: list[int], group: str) -> Any:
    def job(_context: JobContext) -> None:
        from optiscope.engine.store import RunStore

        store = RunStore(store_path)
        try:
            store.set_experiment(ids, group)
        finally:
            store.close()

    return job


def render_summary_png(page: str, images: dict[str, QtGui.QImage], path: str | Path) -> bool:
    """Render the summary page (its ``<img src>`` naming ``images``) to a PNG at ``path``."""
    doc = QtGui.QTextDocument()
    for name, image in images.items():
        doc.addResource(QtGui.QTextDocument.ResourceType.ImageResource, QtCore.QUrl(name), image)
    doc.setDefaultStyleSheet("body{font-family:sans-serif} td{vertical-align:top}")
    doc.setHtml(page)
    doc.setTextWidth(SUMMARY_WIDTH)
    size = doc.size().toSize()
    image = QtGui.QImage(size, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("white"))
    painter = QtGui.QPainter(image)
    doc.drawContents(painter)
    painter.end()
    return image.save(str(path), "PNG")


class RecipePanel(ToolDialog):
    """Six step boxes, each with its status line, numbers/advice and an action button."""

    title = "Tuning recipe"
    object_name = "tuning-recipe"
    job_keys = (JOB_KEY, LR_JOB_KEY, SCHEDULE_JOB_KEY)  # the store's regrouping is not cancelled
    initial_size = (760, 760)

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self.checks: list[Any] = []  # engine CheckResults of steps 1-2
        self.lr_check: Any = None  # step 3's CheckResult
        self.schedule_check: Any = None  # step 5's CheckResult
        self.gap: float | None = None
        self._training = False  # the window's run was started here (step 4)
        #: the run store's experiment name of every run of this recipe
        self.group = recipe_group(host.document.meta.name)
        #: per step: passed (None: open), status line, detail -- what the summary shows
        self.state: list[tuple[bool | None, str, str]] = [(None, "", "")] * len(TITLES)
        layout = QtWidgets.QVBoxLayout(self)
        self.group_note = QtWidgets.QLabel()
        self.group_note.setWordWrap(True)
        self.group_note.setObjectName("hint")
        layout.addWidget(self.group_note)
        self.status: list[QtWidgets.QLabel] = []
        self.details: list[QtWidgets.QLabel] = []
        self.buttons: list[QtWidgets.QPushButton] = []
        actions = (
            ("Check steps 1-2", self.check_basics),
            ("Check steps 1-2", self.check_basics),
            ("Run range test", self.check_lr),
            ("Train (Run)", self.train),
            ("Race schedules", self.check_schedule),
            ("Export summary…", self.export_dialog),
        )
        for i, title in enumerate(TITLES):
            box = QtWidgets.QGroupBox(title)
            row = QtWidgets.QGridLayout(box)
            status = QtWidgets.QLabel("not checked yet")
            status.setObjectName(f"recipe_status_{i + 1}")
            status.setWordWrap(True)
            detail = QtWidgets.QLabel("")
            detail.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            detail.setWordWrap(True)
            detail.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            text, slot = actions[i]
            button = QtWidgets.QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(status, 0, 0)
            if i == 4:  # step 5: how many seeds each contender trains
                from optiscope.engine.recipe import SCHEDULE_SEEDS
                from optiscope.engine.schema import MAX_SEEDS

                self.seeds_box = QtWidgets.QSpinBox()
                self.seeds_box.setRange(1, MAX_SEEDS)
                self.seeds_box.setValue(SCHEDULE_SEEDS)
                self.seeds_box.setPrefix("seeds: ")
                self.seeds_box.setToolTip(
                    "each contender trains with this many seeds (batched); the verdict names the "
                    "better one only when the paired difference's 95 % interval excludes zero"
                )
                row.addWidget(self.seeds_box, 0, 1, QtCore.Qt.AlignmentFlag.AlignRight)
            row.addWidget(button, 0, 2, QtCore.Qt.AlignmentFlag.AlignRight)
            row.addWidget(detail, 1, 0, 1, 3)
            row.setColumnStretch(0, 1)
            layout.addWidget(box)
            self.status.append(status)
            self.details.append(detail)
            self.buttons.append(button)
        for i in range(len(TITLES)):
            self._set(i, None, "not checked yet", "")
        self._set(
            2,
            None,
            "open",
            "The range test raises the rate every update; it passes when the loss falls by at least 10 % "
            "before it rises and the suggestion lies inside the tested range. A passing suggestion "
            "becomes the learning rate.",
        )
        self._set(
            4,
            None,
            "open",
            "Trains the panels' run at its rate, constant and with ReduceLROnPlateau (or the run's own "
            "plateau/cyclical schedule), each over the seeds set here, side by side; compares their "
            "validation accuracy and loss (mean ± 95 % interval) and says whether the difference is real.",
        )
        self._set(5, None, "open", "Every run of this recipe is stored in the run store (Runs tab).")
        layout.addStretch(1)  # spare height below the steps, not between them
        self._show_group()
        host.runs.finished.connect(self._on_run_finished)

    def _set(self, i: int, passed: bool | None, status: str, detail: str) -> None:
        colour = _OPEN if passed is None else _PASS if passed else _FAIL
        mark = "" if passed is None else "✔ " if passed else "✘ "
        self.state[i] = (passed, status, detail)
        self.status[i].setText(f"<b style='color:{colour}'>{mark}{html.escape(status, quote=False)}</b>")
        self.details[i].setText(detail)

    def _show_group(self) -> None:
        if self.host.runs.record:
            text = f"This recipe's runs are stored as '{self.group}' (Runs tab, Experiment column)."
        else:
            text = "Recording is off for this window: the recipe's runs are not stored."
        self.group_note.setText(text)

    def _config(self, step: int) -> Any:
        """The panels' run, or None (with the reason shown on ``step``)."""
        from .panels import PanelError

        try:
            return self.host.run_config()
        except PanelError as exc:
            self._set(step, False, "the settings are not valid", str(exc))
            return None

    def _failed_job(self, step: int, job: Any) -> None:
        self.buttons[step].setEnabled(True)
        if job.error is not None:
            self._set(step, False, "the check failed", job.error.splitlines()[0])

    # ------------------------------------------------------------------ steps 1-2
    def check_basics(self) -> bool:
        """Run steps 1 and 2 on the panels' run (False if the settings are invalid)."""
        cfg = self._config(0)
        if cfg is None:
            return False
        for i in (0, 1):
            self._set(i, None, "checking…", "")
            self.buttons[i].setEnabled(False)
        self.submit(
            JOB_KEY,
            _recipe_job(cfg, _recording(self.host.runs, self.group)),
            on_done=self._on_checks,
            on_finished=self._on_job_end,
        )
        return True

    def _on_checks(self, checks: list[Any]) -> None:
        self.checks = checks
        for c in checks:
            self._set(c.step - 1, c.passed, c.message, c.advice)

    def _on_job_end(self, job: Any) -> None:
        self.buttons[1].setEnabled(True)
        self._failed_job(0, job)

    # ------------------------------------------------------------------ step 3
    def check_lr(self) -> bool:
        """Run the range test on the panels' run and check it (False if the settings are invalid)."""
        cfg = self._config(2)
        if cfg is None:
            return False
        self._set(2, None, "running the range test…", "")
        self.buttons[2].setEnabled(False)
        self.submit(
            LR_JOB_KEY,
            _range_test_job(cfg, _recording(self.host.runs, self.group)),
            on_done=self._on_lr_check,
            on_finished=lambda job: self._failed_job(2, job),
        )
        return True

    def _on_lr_check(self, check: Any) -> None:
        self.lr_check = check
        detail = check.advice
        lr = check.numbers.get("suggested_lr")
        if check.passed and lr:
            cfg = self._config(2)
            if cfg is not None:
                self.host.show_run(
                    cfg.model_copy(update={"optimizer": cfg.optimizer.model_copy(update={"lr": float(lr)})})
                )
                detail = f"Learning rate set to {lr:.3g} in the Optimizer panel; steps 4 and 5 train with it."
                self.host.report(f"Tuning recipe: learning rate set to {lr:.3g} (range test valley).")
        self._set(2, check.passed, check.message, detail)

    # ------------------------------------------------------------------ step 4
    def train(self) -> None:
        self._training = True
        self.host.start_run()

    @QtCore.Slot(str)
    def _on_run_finished(self, _reason: str) -> None:
        ends = self.host.runs.epoch_events
        started_here, self._training = self._training, False
        if started_here and self.host.runs.recording is not None:
            ids = self.host.runs.recording.stored_ids
            if ids:  # the window stored them under the experiment: file them under the recipe
                self.host.jobs.submit(STORE_JOB_KEY, _regroup_job(self.host.runs.store_path, ids, self.group))
        if not ends:
            return
        run = max(e.run for e in ends)
        last = [e for e in ends if e.run == run][-1]
        self.last_epoch = last
        self.gap = gap = last.train_acc - last.val_acc
        closed = gap <= GAP_CLOSED
        label = self.host.runs.label(run)
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

    # ------------------------------------------------------------------ step 5
    def check_schedule(self) -> bool:
        """Race the panels' run constant against a schedule (False if the settings are invalid)."""
        cfg = self._config(4)
        if cfg is None:
            return False
        seeds = self.seeds_box.value()
        each = f", {seeds} seeds each" if seeds > 1 else ""
        self._set(4, None, f"training constant and scheduled at lr {cfg.optimizer.lr:.3g}{each}…", "")
        self.buttons[4].setEnabled(False)
        self.submit(
            SCHEDULE_JOB_KEY,
            _schedule_job(cfg, _recording(self.host.runs, self.group), seeds),
            on_done=self._on_schedule_check,
            on_finished=lambda job: self._failed_job(4, job),
        )
        return True

    def _on_schedule_check(self, check: Any) -> None:
        self.schedule_check = check
        n = check.numbers
        detail = f"'{n['schedule_label']}' against '{n['constant_label']}': {check.advice}."
        self._set(4, check.passed, check.message, detail)

    # ------------------------------------------------------------------ step 6
    def export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export summary (HTML; a PNG is written beside it)", "summary.html", "HTML (*.html)"
        )
        if path:
            self.export_summary(path)

    def _plot_images(self) -> list[tuple[str, bytes]]:
        """The loss and accuracy plots as PNG bytes (name, data)."""
        names = self.host.plot_names()
        wanted = [n for n in SUMMARY_PLOTS if n in names] or names[:2]
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            for name in wanted:
                target = Path(tmp) / f"{name}.png"
                if self.host.export_plot(name, target) and target.exists():
                    out.append((name, target.read_bytes()))
        return out

    def export_summary(self, path: str | Path) -> bool:
        """Write the one-page summary to ``path`` (HTML) and beside it as PNG; False (with the
        reason shown) on failure."""
        path = Path(path)
        png_path = path.with_suffix(".png")
        try:
            cfg_text = self.host.run_config().describe()
        except Exception:  # invalid panels: the summary still gets written
            cfg_text = "(the panels' settings are not valid)"
        title = f"{cfg_text} — runs stored as '{self.group}'"
        rows = [(TITLES[i], *self.state[i]) for i in range(len(TITLES) - 1)]
        plots = self._plot_images()
        data_urls = [f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}" for _, data in plots]
        page = summary_html(title, rows, data_urls)
        from optiscope.engine.files import atomic_write_text

        try:
            atomic_write_text(path, page)  # never a half-written page
        except OSError as exc:
            self._set(5, False, "the summary was not written", f"{path}: {exc.strerror or exc}")
            return False
        images = {  # at their drawn size: Qt's text layout does not keep an image's aspect
            f"plot{i}.png": QtGui.QImage.fromData(data).scaledToWidth(
                PICTURE_WIDTH, QtCore.Qt.TransformationMode.SmoothTransformation
            )
            for i, (_, data) in enumerate(plots)
        }
        partial = png_path.with_name(png_path.name + ".part")
        if render_summary_png(summary_html(title, rows, list(images)), images, partial):
            partial.replace(png_path)
            self._set(5, True, "summary exported (HTML and PNG)", f"{path}\n{png_path}")
        else:
            partial.unlink(missing_ok=True)
            self._set(5, True, "summary exported as HTML (the PNG could not be written)", str(path))
        return True
