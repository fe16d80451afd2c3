"""Tools > Gradient check: the engine's finite-difference check of the window's networks, as a table.

The check (:func:`optiscope.engine.gradcheck.gradient_check`) runs as a background job of the
window's :class:`~.worker.JobRunner` on the window's experiment (every run with its own
network, data or penalty; runs that differ only in the optimizer share one gradient). It
compares, per layer, the gradient Optiscope trains with -- alone (autograd) and batched
(the hand-written backward pass) -- with central differences in float64. The table shows
each layer's max and mean relative error and its verdict against the usual thresholds.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from .tools import ToolDialog, ToolHost
from .worker import JobContext

__all__ = ["GradCheckDialog", "COLUMNS"]

JOB_KEY = "gradcheck"
COLUMNS = (
    "run",
    "engine",
    "layer",
    "checked",
    "at ReLU kink",
    "too small",
    "max rel. error",
    "mean rel. error",
    "verdict",
)
_VERDICT_COLOURS = {"fine": "#1e9e4a", "acceptable": "#1e9e4a", "doubtful": "#e8710a", "WRONG": "#e0342b"}


def _check_job(runs: list[Any], batch: int, samples: int) -> Any:
    def job(context: JobContext) -> list[tuple[int, Any]]:
        import torch
        from optiscope.engine.gradcheck import gradient_check

        torch.set_num_threads(1)
        seen: set[str] = set()
        reports = []
        for i, cfg in enumerate(runs):
            if context.cancelled:
                break
            key = cfg.model_copy(update={"label": "", "optimizer": runs[0].optimizer}).model_dump_json()
            if key in seen:  # same network, data and penalty: the same gradient
                continue
            seen.add(key)
            reports.append((i, gradient_check(cfg, batch=batch, samples=samples)))
        return reports

    return job


def _fmt(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2e}"


class GradCheckDialog(ToolDialog):
    """Settings, a Check button, the per-layer table and the verdict."""

    title = "Gradient check"
    object_name = "gradient-check"
    job_keys = (JOB_KEY,)
    start_on_open = True
    initial_size = (980, 460)
    start_buttons = ("check_button",)
    status_label, failure = "verdict", "The check failed: {first_line}"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host)
        self.reports: list[tuple[int, Any]] = []
        layout = QtWidgets.QVBoxLayout(self)
        form = QtWidgets.QHBoxLayout()
        self.batch_box = QtWidgets.QSpinBox()
        self.batch_box.setRange(1, 512)
        self.batch_box.setValue(16)
        self.samples_box = QtWidgets.QSpinBox()
        self.samples_box.setRange(1, 1000)
        self.samples_box.setValue(200)
        self.samples_box.setToolTip(
            "weight and bias tensors of up to 4096 entries are checked entry by entry"
        )
        for text, box in (
            ("training examples", self.batch_box),
            ("entries sampled per large tensor", self.samples_box),
        ):
            form.addWidget(QtWidgets.QLabel(text))
            form.addWidget(box)
        self.check_button = QtWidgets.QPushButton("Check")
        self.check_button.clicked.connect(self.start)
        form.addWidget(self.check_button)
        form.addStretch(1)
        layout.addLayout(form)
        from optiscope.engine.gradcheck import (
            ACCEPTABLE,
            FINE,
            NOTES,
            WRONG,
        )  # torch: the engine is loaded by now

        self.notes = QtWidgets.QLabel(
            "Central finite differences against the gradient Optiscope trains with, alone and batched. "
            + "; ".join(NOTES)
            + f".\nThresholds on the relative error: below {FINE:g} fine; below {ACCEPTABLE:g} acceptable "
            f"(a ReLU kink near the point); from {WRONG:g} on the gradient is wrong."
        )
        self.notes.setWordWrap(True)
        layout.addWidget(self.notes)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        self.verdict = QtWidgets.QLabel(
            "Press Check to compare every layer's gradient with finite differences."
        )
        self.verdict.setObjectName("gradcheck_verdict")
        self.verdict.setWordWrap(True)
        layout.addWidget(self.verdict)

    def start(self) -> bool:
        """Check the window's experiment (False if its settings are invalid)."""
        from .panels import PanelError

        try:
            runs = self.host.experiment_config().runs()
        except (PanelError, ValueError) as exc:
            self.verdict.setText(f"The settings are not valid: {exc}")
            return False
        self.reports = []
        self.table.setRowCount(0)
        self.verdict.setText(f"Checking {len(runs)} run(s) …")
        self.submit(
            JOB_KEY,
            _check_job(runs, self.batch_box.value(), self.samples_box.value()),
            on_done=self._on_done,
        )
        return True

    def _on_done(self, reports: list[tuple[int, Any]]) -> None:
        self.reports = reports
        rows = [(i, c) for i, report in reports for c in report.layers]
        self.table.setRowCount(len(rows))
        for r, (i, c) in enumerate(rows):
            cells = (
                str(i),
                c.engine,
                c.layer,
                str(c.checked),
                str(c.at_kink),
                str(c.too_small),
                _fmt(c.max_error),
                _fmt(c.mean_error),
                c.verdict,
            )
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if col == len(cells) - 1:
                    item.setForeground(QtGui.QBrush(QtGui.QColor(_VERDICT_COLOURS.get(text, "#000000"))))
                if col >= 3:
                    item.setTextAlignment(
                        QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, col, item)
        failed = [f"{c.layer} ({c.engine}, run {i})" for i, c in rows if not c.passed]
        if failed:
            self.verdict.setText("FAIL: a wrong gradient in " + ", ".join(failed) + ".")
        else:
            self.verdict.setText(f"PASS: every layer's gradient agrees ({len(rows)} layer checks).")

    @property
    def passed(self) -> bool | None:
        """Whether every checked layer passed (None before a check finished)."""
        return all(r.passed for _, r in self.reports) if self.reports else None
