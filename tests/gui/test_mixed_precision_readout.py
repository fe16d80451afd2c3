"""The mixed-precision readout in the window's status bar (issue 9): the two runs' measured numbers."""

from __future__ import annotations

import re

import pytest
from optiscope.engine.presets import get_preset


def test_the_status_bar_compares_the_run_with_its_twin_without_mixed_precision(qtbot, make_window) -> None:
    w = make_window()
    label = w.mixed_precision.label
    exp = get_preset("mixed-precision").with_overrides(epochs=2)
    w.set_experiment(exp)
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    # while a status message shows ("Run complete") the readout waits, never drawn under it
    assert w.statusBar().currentMessage() and not label.isVisible()
    w.statusBar().clearMessage()
    assert label.isVisible()
    text = label.text()
    epochs = {run: [e for e in w.runs.epoch_events if e.run == run] for run in (0, 1)}
    spe = {run: sum(e.seconds for e in ev) / len(ev) for run, ev in epochs.items()}
    acc = {run: 100 * ev[-1].val_acc for run, ev in epochs.items()}
    labels = [r.label for r in exp.runs()]
    assert text.startswith(f"{labels[1]}: mixed precision {spe[1]:.3g} s/epoch, val acc {acc[1]:.1f} %")
    assert f"without ({labels[0]}): {spe[0]:.3g} s/epoch, val acc {acc[0]:.1f} %" in text
    ratio = float(re.search(r"→ ([0-9.]+)× the time \(both trained alone\)", text).group(1))
    assert ratio == pytest.approx(spe[1] / spe[0], abs=0.006)
    assert ("slower" in text) == (spe[1] / spe[0] > 1)
    assert "trained alone: mixed precision" in text  # why it was not batched with the other run
    # a run without mixed precision: no readout
    w.set_experiment(
        get_preset("mixed-precision").with_overrides(epochs=1).model_copy(update={"variations": []})
    )
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    assert not label.isVisible() and label.text() == ""
