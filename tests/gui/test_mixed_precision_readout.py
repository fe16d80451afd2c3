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


def test_a_seeded_race_reads_out_per_runner_with_intervals(qapp) -> None:
    """3 seeds per runner: one part for the mixed-precision runner (not one per seed), each number
    its seeds' mean ± half of scipy's 95 % t interval, the ratio taken seed for seed."""
    import numpy as np
    import scipy.stats
    import torch
    from optiscope.engine.runner import execute
    from optiscope.engine.seeds import SeedPlan
    from optiscope.gui.mixed_precision import readout

    torch.set_num_threads(1)
    n = 3
    exp = get_preset("mixed-precision").with_overrides(epochs=1).model_copy(update={"seeds": n})
    plan = SeedPlan.of(exp)
    results = execute(plan.runs)
    text = readout(plan.runs, results, {i: r.label for i, r in enumerate(results)}, plan)

    def t_text(values, fmt, scale=1.0):
        v = np.asarray(values, dtype=float)
        low, high = scipy.stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=scipy.stats.sem(v))
        return f"{fmt.format(v.mean() * scale)} ± {fmt.format((high - low) / 2 * scale)}"

    mixed = [i for i, cfg in enumerate(plan.runners) if cfg.training.mixed_precision]
    assert len(mixed) == 1 and text.count(" | ") == 0  # one runner with it: one part, not one per seed
    (runner,) = mixed
    twin = 1 - runner
    spe = {r.run: np.mean([e.seconds for e in r.epochs]) for r in results}
    acc = {r.run: r.final.val_acc for r in results}
    on, off = plan.members(runner), plan.members(twin)
    label = plan.labels[runner]
    assert text.startswith(
        f"{label} ({n} seeds): mixed precision {t_text([spe[r] for r in on], '{:.3g}')} s/epoch, "
        f"val acc {t_text([acc[r] for r in on], '{:.1f}', 100.0)} %"
    )
    assert f"without ({plan.labels[twin]}): {t_text([spe[r] for r in off], '{:.3g}')} s/epoch" in text
    ratios = [spe[a] / spe[b] for a, b in zip(on, off, strict=True)]  # seed k with seed k
    assert f"→ {t_text(ratios, '{:.2f}')}× the time" in text
