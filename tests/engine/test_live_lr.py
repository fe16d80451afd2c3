"""A live learning-rate change under a schedule scales the whole schedule (issue 11, 1.3)."""

from __future__ import annotations

import numpy as np
import pytest
from optiscope.engine import events as ev
from optiscope.engine.config import (
    SGD,
    Cyclic,
    DatasetConfig,
    RunConfig,
    TrainingConfig,
)
from optiscope.engine.control import RunControl
from optiscope.engine.sweep import train_batched
from optiscope.engine.trainer import train


def _cfg(base_lr: float = 1e-3, max_lr: float = 0.01) -> RunConfig:
    return RunConfig(
        dataset=DatasetConfig(n_samples=200),
        optimizer=SGD(lr=0.05),
        schedule=Cyclic(base_lr=base_lr, max_lr=max_lr, step_size=5),
        training=TrainingConfig(epochs=3, batch_size=32, device="cpu"),
    )


def test_scale_lr_doubles_a_cyclic_schedule_from_the_next_update(torch_cyclic):
    control = RunControl()

    def on_step(step: int) -> None:
        if step == 7:  # mid-cycle, the rate rising
            control.scale_lr(2.0)

    res = train(_cfg(), control=control, on_step=on_step)
    assert res.reason == "completed" and len(res.step_lr) == 3 * 4
    ref = torch_cyclic(1e-3, 0.01, 5, len(res.step_lr))
    np.testing.assert_allclose(res.step_lr[:7], ref[:7], rtol=1e-9)
    np.testing.assert_allclose(res.step_lr[7:], 2 * ref[7:], rtol=1e-9)  # still cycling, x2
    with pytest.raises(ValueError, match="positive finite"):
        control.scale_lr(0.0)


def test_scale_lr_scales_each_runner_of_a_race_by_the_same_factor(torch_cyclic):
    control = RunControl()
    cfgs = [_cfg(), _cfg(2e-3, 0.02)]
    lrs: dict[int, list[float]] = {0: [], 1: []}
    bus = ev.EventBus(step_block_seconds=0)  # each update reported at once

    def on_step(e: ev.Steps) -> None:
        for row in e.rows():
            lrs[row.run].append(row.lr)
            if row.run == 1 and row.step == 4:
                control.scale_lr(0.5)

    bus.subscribe(on_step, ev.Steps)
    train_batched(cfgs, bus=bus, control=control)
    for run, (lo, hi) in enumerate(((1e-3, 0.01), (2e-3, 0.02))):
        got = np.array(lrs[run])
        assert len(got) == 3 * 4  # every update of 3 epochs (100 training rows, batch 32)
        ref = torch_cyclic(lo, hi, 5, len(got))
        np.testing.assert_allclose(got[:4], ref[:4], rtol=1e-6)
        np.testing.assert_allclose(got[4:], 0.5 * ref[4:], rtol=1e-6)
