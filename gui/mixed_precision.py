"""The mixed-precision readout next to the window's runs (issue 9): its measured effect, in words.

When a run trained with mixed precision finishes, the status bar says how fast its epochs
were and how accurate it ended, beside the same numbers of a run that differs from it only
in mixed precision (the engine pairs them: :func:`optiscope.engine.runner.mixed_precision_effect`,
the pairing ``summary.json`` reports), and why it was not batched with the others. On a CPU
bfloat16 autocast is often slower: the readout says so with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6 import QtCore, QtWidgets

__all__ = ["MixedPrecisionReadout", "readout", "install"]


def readout(runs: Sequence[Any], results: Sequence[Any], labels: dict[int, str]) -> str:
    """The status-bar text for the window's finished ``runs`` (configs, run id = index) from
    what the engine reported of them (``RunResult``, in the same order); empty when no run
    used mixed precision."""
    from optiscope.engine.runner import mixed_precision_effect, seconds_per_epoch
    from optiscope.engine.sweep import unbatchable_reason

    mixed = [i for i, c in enumerate(runs) if c.training.mixed_precision]
    if not mixed:
        return ""
    if len(results) != len(runs):  # the job failed before the engine reported
        return ""
    pairs = {p["with"]: p for p in mixed_precision_effect(list(runs), results)}
    parts = []
    for i in mixed:
        name = labels.get(i, f"run {i}")
        mine = results[i]
        spe = seconds_per_epoch(mine)
        if spe is None:
            continue
        text = f"{name}: mixed precision {spe:.3g} s/epoch, val acc {100 * mine.final.val_acc:.1f} %"
        pair = pairs.get(i)
        if pair is not None:
            other = results[pair["without"]]
            ratio = pair["seconds_per_epoch"]["ratio"]
            acc = pair["final_val_acc"]["without"]
            text += (
                f" · without ({labels.get(other.run, f'run {other.run}')}): "
                f"{pair['seconds_per_epoch']['without']:.3g} s/epoch, val acc {100 * acc:.1f} %"
            )
            if ratio:
                text += f" → {ratio:.2f}× the time ({pair['timing']})" + (
                    " (slower: no fast low-precision path here)" if ratio > 1 else ""
                )
        else:
            text += " · no run without it to compare (race one that differs only there)"
        why = unbatchable_reason(runs[i])
        if why and len(runs) > 1:
            text += f" · trained alone: {why}"
        parts.append(text)
    return "   |   ".join(parts)


class MixedPrecisionReadout(QtCore.QObject):
    """A status-bar label of ``window`` (a MainWindow) showing :func:`readout` after each run
    (hidden while no run used mixed precision)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.label = QtWidgets.QLabel()
        self.label.setObjectName("status_mixed_precision")
        self.label.hide()
        window.statusBar().addWidget(self.label, 1)
        window.statusBar().messageChanged.connect(self._show_or_hide)
        window.runs.started.connect(self._on_started)
        window.runs.finished.connect(self._on_finished)

    @QtCore.Slot()
    def _on_started(self) -> None:
        self.label.clear()
        self.label.hide()

    @QtCore.Slot(str)
    def _on_finished(self, _reason: str) -> None:
        ctl = self.window.runs
        labels = {i: info.label for i, info in ctl.run_info.items()}
        text = readout(ctl.live_runs, ctl.results, labels)
        self.label.setText(text)
        self.label.setToolTip(text)
        self._show_or_hide()

    @QtCore.Slot()
    def _show_or_hide(self) -> None:
        """Shown when there is a readout and no status message is on top of it (the two
        would be drawn over each other)."""
        message = self.window.statusBar().currentMessage()
        self.label.setVisible(bool(self.label.text()) and not message)


def install(window: Any) -> MixedPrecisionReadout:
    """Add the readout to ``window``'s status bar."""
    return MixedPrecisionReadout(window)
