"""Each training rule of engine/rules.py, tested once, through both step kernels.

``alone`` trains the run with :func:`engine.trainer.train` (TorchKernel, ``torch.optim``);
``batched`` trains it beside a partner run with :func:`engine.sweep.train_batched`
(BatchedKernel). The expected values come from the run's own recorded metrics and a
direct evaluation of the returned model, not from the rule under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import RunConfig
from optiscope.engine.control import RunControl
from optiscope.engine.data import load_dataset
from optiscope.engine.kernels import evaluate, flat_params
from optiscope.engine.sweep import train_batched
from optiscope.engine.trainer import train

torch.set_num_threads(1)
KERNELS = ["alone", "batched"]


def cfg(**sections) -> RunConfig:
    d = {
        "dataset": {"name": "blobs", "n_samples": 200},
        "training": {"epochs": 6, "batch_size": 16, "seed": 2},
    }
    for k, v in sections.items():
        d[k] = {**d.get(k, {}), **v}
    return RunConfig.model_validate(d)


def run(kernel: str, c: RunConfig, control: RunControl | None = None, **kw):
    """Train ``c`` (run id 0) with the given kernel; its result and its events."""
    bus, seen = ev.EventBus(), []
    bus.subscribe(seen.append)
    if kernel == "alone":
        res = train(c, run_id=0, bus=bus, control=control, **kw)
    else:
        partner = c.model_copy(update={"optimizer": c.optimizer.model_copy(update={"lr": 0.003})})
        res = train_batched([c, partner], [0, 1], bus=bus, control=control, keep_models=True, **kw)[0]
    return res, [e for e in seen if e.run == 0]


def kinds(events, kind):
    return [e for e in events if isinstance(e, kind)]


@pytest.mark.parametrize("kernel", KERNELS)
def test_divergence_guard_stops_at_the_first_bad_update(kernel):
    res, events = run(kernel, cfg(optimizer={"kind": "sgd", "lr": 40.0}))
    assert res.reason == "diverged"
    (div,) = kinds(events, ev.Diverged)
    first = res.step_loss[0]
    limit = 1e6 * max(abs(first), 1.0)  # training.diverge_factor's documented rule
    bad = [i for i, v in enumerate(res.step_loss, 1) if not (v <= limit)]
    assert bad and div.step == bad[0] == len(res.step_loss) == res.diverged_step
    assert kinds(events, ev.Finished)[-1].reason == "diverged"
    # the update that diverged is still reported, before its mark
    blocks = kinds(events, ev.Steps)
    assert blocks[-1].step[-1] == div.step and events.index(blocks[-1]) < events.index(div)


@pytest.mark.parametrize("kernel", KERNELS)
def test_early_stopping_restores_the_best_epoch(kernel):
    es = {"enabled": True, "monitor": "val_loss", "patience": 2, "restore_best": True}
    c = cfg(
        optimizer={"kind": "sgd", "lr": 0.8},
        regularization={"early_stopping": es},
        training={"epochs": 60},
    )
    res, events = run(kernel, c)
    assert res.reason == "early_stopped"
    vals = [e.val_loss for e in res.epochs]
    best = int(np.argmin(vals))
    # stopped exactly `patience` epochs after the best one
    assert len(vals) == best + 1 + 2
    (stop,) = kinds(events, ev.EarlyStopped)
    assert stop.best_epoch == res.best_epoch == res.epochs[best].epoch and stop.restored
    ds = load_dataset(c.dataset)
    loss, _ = evaluate(res.model, torch.as_tensor(ds.x_val), torch.as_tensor(ds.y_val))
    assert loss == pytest.approx(vals[best], rel=1e-5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_plateau_reduces_after_patience_bad_epochs_and_says_so(kernel):
    plateau = {"kind": "plateau", "monitor": "val_loss", "patience": 2, "factor": 0.5, "min_delta": 0.01}
    res, events = run(
        kernel, cfg(optimizer={"kind": "sgd", "lr": 0.05}, schedule=plateau, training={"epochs": 30})
    )
    drops = kinds(events, ev.LRReduced)
    assert drops, "the sequence must exercise a reduction"
    # replay the Keras rule on the recorded metric (cooldown 0)
    best, wait, lr, expected = math.inf, 0, 0.05, []
    for e in res.epochs:
        if e.val_loss < best - 0.01:
            best, wait = e.val_loss, 0
        else:
            wait += 1
            if wait >= 2:
                expected.append((e.epoch, lr, lr * 0.5))
                lr, wait = lr * 0.5, 0
    assert [d.epoch for d in drops] == [x[0] for x in expected]
    np.testing.assert_allclose([(d.old_lr, d.new_lr) for d in drops], [x[1:] for x in expected], rtol=1e-9)
    # the next update uses the reduced rate
    spe = res.steps_per_epoch
    for d in drops[:-1]:
        assert res.step_lr[d.epoch * spe] == pytest.approx(d.new_lr)


@pytest.mark.parametrize("kernel", KERNELS)
def test_best_epoch_without_early_stopping(kernel):
    res, _ = run(kernel, cfg(optimizer={"kind": "sgd", "lr": 0.5}))
    vals = [e.val_loss for e in res.epochs]
    assert res.best_epoch == res.epochs[int(np.argmin(vals))].epoch


@pytest.mark.parametrize("kernel", KERNELS)
def test_stop_is_honoured_at_the_next_update(kernel):
    control = RunControl()
    seen_steps = []

    def stop_at_5(e):
        for row in ev.step_rows([e], run=0):
            seen_steps.append(row.step)
            if row.step == 5:
                control.stop()

    c = cfg()
    bus = ev.EventBus(step_block_seconds=0)  # each update reported at once
    bus.subscribe(stop_at_5)
    if kernel == "alone":
        res = train(c, bus=bus, control=control)
    else:
        res = train_batched([c, c.model_copy(update={"label": "twin"})], [0, 1], bus=bus, control=control)[0]
    assert res.reason == "stopped" and len(res.step_loss) == 5 and max(seen_steps) == 5


@pytest.mark.parametrize("kernel", KERNELS)
def test_live_lr_change_scales_the_schedule_from_the_next_update(kernel):
    control = RunControl()
    bus = ev.EventBus(step_block_seconds=0)  # each update reported at once

    def double_at_3(e):
        for row in ev.step_rows([e], run=0):
            if row.step == 3:
                control.set_lr(row.lr * 2)

    bus.subscribe(double_at_3)
    c = cfg(optimizer={"kind": "sgd", "lr": 0.1}, schedule={"kind": "time_decay", "decay": 0.1})
    res = (
        train(c, bus=bus, control=control)
        if kernel == "alone"
        else train_batched([c, c.model_copy(update={"label": "twin"})], [0, 1], bus=bus, control=control)[0]
    )
    # update 4 runs at exactly twice update 3's rate; the schedule goes on scaled by that factor
    factor = (2 * 0.1 / 1.2) / (0.1 / 1.3)
    expected = [0.1 / (1 + 0.1 * i) * (factor if i >= 3 else 1) for i in range(len(res.step_lr))]
    assert res.step_lr[3] == pytest.approx(2 * res.step_lr[2])
    np.testing.assert_allclose(res.step_lr, expected, rtol=1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("early_stop", [False, True])
def test_last_weights_event_is_the_returned_model(kernel, early_stop):
    es = {"enabled": early_stop, "monitor": "val_loss", "patience": 1}
    c = cfg(
        optimizer={"kind": "sgd", "lr": 0.9}, regularization={"early_stopping": es}, training={"epochs": 20}
    )
    res, events = run(kernel, c, weights_every=7)
    snaps = kinds(events, ev.Weights)
    assert snaps[-1].step == len(res.step_loss)
    np.testing.assert_array_equal(snaps[-1].vector, flat_params(res.model))
    if early_stop:
        assert res.reason == "early_stopped"


def test_rules_act_per_run_in_a_batch():
    """One batch, three fates: a run that diverges, one that stops early, one that completes."""
    es = {"enabled": True, "monitor": "val_loss", "patience": 1, "min_delta": 1.0}
    runs = [
        cfg(optimizer={"kind": "sgd", "lr": 40.0}),
        cfg(optimizer={"kind": "sgd", "lr": 0.1}, regularization={"early_stopping": es}),
        cfg(optimizer={"kind": "sgd", "lr": 0.1}),
    ]
    results = train_batched(runs)
    assert [r.reason for r in results] == ["diverged", "early_stopped", "completed"]
    alone = train(runs[2])
    np.testing.assert_allclose(results[2].step_loss, alone.step_loss, rtol=1e-4)
