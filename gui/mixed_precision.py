"""The mixed-precision readout next to the window's runs (issue 9): its measured effect, in words.

When a run trained with mixed precision finishes, the status bar says how fast its epochs
were and how accurate it ended, beside the same numbers of a run that differs from it only
in mixed precision (the engine pairs them: :func:`optiscope.engine.runner.mixed_precision_effect`,
the pairing ``summary.json`` reports), and why it was not batched with the others. On a CPU
bfloat16 autocast is often slower: the readout says so with the numbers.

With several seeds per runner the readout speaks per runner, not per seed: each number is the
mean ± half of its 95 % interval over the runner's seeds (:func:`engine.stats.mean_interval`),
the time ratio taken seed by seed against the same seed of the twin runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6 import QtCore, QtWidgets

__all__ = ["MixedPrecisionReadout", "readout", "install"]


def readout(runs: Sequence[Any], results: Sequence[Any], labels: dict[int, str], plan: Any = None) -> str:
    """The status-bar text for the window's finished ``runs`` (configs, run id = index) from
    what the engine reported of them (``RunResult``, in the same order); empty when no run
    used mixed precision. With ``plan`` (an ``engine.seeds.SeedPlan`` of several seeds per
    runner): one part per runner, its seeds' means and intervals (:func:`seeded_readout`)."""
    if plan is not None and plan.n_seeds > 1 and len(results) == len(runs) == len(plan.runner_of):
        return seeded_readout(runs, results, plan)
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


def _mean(values: Sequence[float | None], fmt: str, scale: float = 1.0) -> str:
    from optiscope.engine.stats import mean_interval

    return mean_interval([v for v in values if v is not None]).text(fmt, scale)


def seeded_readout(runs: Sequence[Any], results: Sequence[Any], plan: Any) -> str:
    """:func:`readout` for several seeds per runner: per runner with mixed precision, its seconds
    per epoch, final accuracy and time ratio to its twin runner (seed for seed), each as mean ±
    half of its 95 % interval over the seeds."""
    from optiscope.engine.runner import mixed_precision_effect, seconds_per_epoch
    from optiscope.engine.sweep import unbatchable_reason

    pairs = {p["with"]: p for p in mixed_precision_effect(list(runs), results)}
    parts = []
    for i, label in enumerate(plan.labels):
        members = plan.members(i)
        if not runs[members[0]].training.mixed_precision:
            continue
        mine = [results[r] for r in members]
        spe = [seconds_per_epoch(r) for r in mine]
        if all(v is None for v in spe):
            continue
        acc = [r.final.val_acc if r.final else None for r in mine]
        text = (
            f"{label} ({plan.n_seeds} seeds): mixed precision {_mean(spe, '{:.3g}')} s/epoch, "
            f"val acc {_mean(acc, '{:.1f}', 100.0)} %"
        )
        found = [pairs[r] for r in members if r in pairs]
        if found:
            twin = plan.labels[plan.runner_of[found[0]["without"]]]
            off = [p["seconds_per_epoch"]["without"] for p in found]
            off_acc = [p["final_val_acc"]["without"] for p in found]
            ratios = [p["seconds_per_epoch"]["ratio"] for p in found]
            text += f" · without ({twin}): {_mean(off, '{:.3g}')} s/epoch, val acc {_mean(off_acc, '{:.1f}', 100.0)} %"
            shown = [r for r in ratios if r]
            if shown:
                mean = sum(shown) / len(shown)
                text += f" → {_mean(shown, '{:.2f}')}× the time ({found[0]['timing']})" + (
                    " (slower: no fast low-precision path here)" if mean > 1 else ""
                )
        else:
            text += " · no runner without it to compare (race one that differs only there)"
        why = unbatchable_reason(runs[members[0]])
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
        text = readout(ctl.live_runs, ctl.results, labels, ctl.plan)
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
