"""The training loop: determinism, divergence, early stopping, control from another thread,
mixed precision, augmentation and conv models. Small runs only."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import (
    SGD,
    Adam,
    Augmentation,
    Conv2d,
    DatasetConfig,
    Dense,
    EarlyStopping,
    Flatten,
    MaxPool,
    ModelConfig,
    RegularizationConfig,
    RunConfig,
    TrainingConfig,
)
from optiscope.engine.trainer import RunControl, evaluate, prepare, train

torch.set_num_threads(1)


def cfg_blobs(epochs: int = 3, **kw) -> RunConfig:
    training = TrainingConfig(epochs=epochs, device="cpu", **kw.pop("training", {}))
    return RunConfig(training=training, **kw)


def collect(*types: type[ev.Event]) -> tuple[ev.EventBus, list[ev.Event]]:
    bus, got = ev.EventBus(), []
    bus.subscribe(got.append, *types)
    return bus, got


def metrics(res) -> list[tuple[float, ...]]:
    return [(e.train_loss, e.train_acc, e.val_loss, e.val_acc, e.lr) for e in res.epochs]


def test_same_seed_identical_different_seed_differs():
    cfg = cfg_blobs(3, optimizer=SGD(lr=0.05, momentum=0.5))
    a, b = train(cfg), train(cfg)
    assert a.reason == b.reason == "completed"
    assert metrics(a) == metrics(b)
    np.testing.assert_array_equal(a.step_loss, b.step_loss)
    other = train(cfg.model_copy(update={"training": cfg.training.model_copy(update={"seed": 7})}))
    assert metrics(other) != metrics(a)
    assert not np.array_equal(other.step_loss, a.step_loss)


def test_events_carry_plain_values_and_run_id():
    bus, got = collect()
    res = train(cfg_blobs(2), run_id=5, bus=bus)
    kinds = [type(e) for e in got]
    assert kinds[0] is ev.RunStarted and kinds[-1] is ev.Finished
    assert all(e.run == 5 for e in got)
    steps = ev.step_rows(got)
    assert len(steps) == len(res.step_loss) == 2 * 16  # 500 points, batch 32
    assert [s.step for s in steps] == list(range(1, 33))
    assert all(isinstance(s.loss, float) and isinstance(s.lr, float) for s in steps)
    epochs = [e for e in got if isinstance(e, ev.EpochEnd)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert got[-1].reason == "completed" and got[-1].epochs == 2


@pytest.mark.parametrize("opt", [SGD(lr=10.0), SGD(lr=10.0, momentum=0.9), SGD(lr=100.0)])
def test_huge_lr_diverges_without_exception(opt):
    """LR 10 on the studies' blobs: the loss explodes past 1e6 x its first value (or to
    NaN/Inf); the run stops there with a Diverged event naming the step, never an exception."""
    bus, got = collect(ev.Diverged, ev.Finished, ev.Failed)
    res = train(cfg_blobs(30, optimizer=opt), bus=bus)
    assert res.reason == "diverged"
    assert res.error is None
    div = [e for e in got if isinstance(e, ev.Diverged)]
    assert len(div) == 1
    first = res.step_loss[0]
    assert not math.isfinite(div[0].loss) or div[0].loss > 1e6 * max(first, 1.0)
    assert div[0].step == res.diverged_step == len(res.step_loss)  # the run stopped at that step
    # every earlier loss was finite and under the limit: it stopped at the first bad one
    assert np.all(np.isfinite(res.step_loss[:-1])) and res.step_loss[:-1].max() <= 1e6 * max(first, 1.0)
    assert isinstance(got[-1], ev.Finished) and got[-1].reason == "diverged"
    assert not any(isinstance(e, ev.Failed) for e in got)


def test_diverge_factor_none_counts_only_nan_and_inf():
    """With the explosion rule off, plain SGD at LR 10 blows up (loss > 1e6) and then kills its
    ReLUs, but its loss stays finite: the run is not stopped on the way. It ends at chance
    level, so it is reported as not having learned (issue 26.1), not as an explosion."""
    bus, got = collect(ev.Finished, ev.Failed, ev.Diverged)
    cfg = cfg_blobs(5, optimizer=SGD(lr=10.0))
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"diverge_factor": None})})
    res = train(cfg, bus=bus)
    assert res.step_loss.max() > 1e6  # it did blow up
    assert len(res.epochs) == 5 and np.isfinite(res.step_loss).all()  # trained to the end
    assert [type(e) for e in got] == [ev.Diverged, ev.Finished]
    assert got[0].epoch == 5 and got[0].detail.startswith("did not learn")
    assert res.reason == "diverged"


def test_early_stopping_restores_best_weights():
    es = EarlyStopping(enabled=True, monitor="val_loss", patience=3, restore_best=True)
    cfg = cfg_blobs(
        60, optimizer=SGD(lr=0.5, momentum=0.9), regularization=RegularizationConfig(early_stopping=es)
    )
    bus, got = collect(ev.EarlyStopped)
    res = train(cfg, bus=bus)
    assert res.reason == "early_stopped"
    stop = got[0]
    assert stop.restored and stop.best_epoch == res.best_epoch
    best = next(e for e in res.epochs if e.epoch == res.best_epoch)
    assert res.epochs[-1].epoch == res.best_epoch + es.patience
    assert best.val_loss == min(e.val_loss for e in res.epochs)
    assert res.epochs[-1].val_loss > best.val_loss  # the last epoch was worse ...
    p = prepare(cfg)
    val_loss, val_acc = evaluate(res.model, p.x_val, p.y_val)
    assert val_loss == pytest.approx(best.val_loss, rel=1e-6)  # ... but the model is the best one
    assert val_acc == pytest.approx(best.val_acc)


def test_mixed_precision_bf16_on_cpu_runs():
    cfg = cfg_blobs(2, training={"mixed_precision": True})
    res = train(cfg)
    assert res.reason == "completed" and res.error is None
    assert all(math.isfinite(e.val_loss) for e in res.epochs)
    full = train(cfg_blobs(2))
    assert not np.array_equal(res.step_loss, full.step_loss)  # bf16 autocast really took effect


class WatchedControl(RunControl):
    """A RunControl that tells the test which checkpoint the training thread has reached
    (the loop calls :meth:`checkpoint` before every update), so the test waits on a
    condition instead of sleeping."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.reached = 0
        self._seen = threading.Condition()

    def checkpoint(self) -> bool:
        with self._seen:
            self.reached += 1
            self._seen.notify_all()
        return super().checkpoint()

    def wait_reached(self, n: int) -> None:
        """Until the training thread has entered its ``n``-th checkpoint (60 s at most)."""
        with self._seen:
            assert self._seen.wait_for(lambda: self.reached >= n, timeout=60), f"checkpoint {n} never reached"


def test_pause_advance_and_stop_from_another_thread():
    control = WatchedControl(start_paused=True)
    bus, got = collect(ev.Steps, ev.Finished)
    done: list = []
    th = threading.Thread(target=lambda: done.append(train(cfg_blobs(50), bus=bus, control=control)))
    th.start()

    def steps() -> int:
        return len(ev.step_rows(got))

    try:
        control.wait_reached(1)  # waiting before the first update
        assert steps() == 0
        control.advance(5)
        # five updates, then the sixth checkpoint, where the thread waits again
        control.wait_reached(6)
        assert steps() == 5 and control.paused
        control.advance(3)
        control.wait_reached(9)
        assert steps() == 8
    finally:
        control.stop()
        th.join(60)
    assert not th.is_alive()
    res = done[0]
    assert res.reason == "stopped"
    assert len(res.step_loss) == 8
    assert isinstance(got[-1], ev.Finished) and got[-1].reason == "stopped"


def test_resume_runs_to_completion():
    control = WatchedControl(start_paused=True)
    done: list = []
    th = threading.Thread(target=lambda: done.append(train(cfg_blobs(2), control=control)))
    th.start()
    control.wait_reached(1)  # paused before its first update
    control.resume()
    th.join(60)
    assert done[0].reason == "completed" and len(done[0].step_loss) == 32


def test_set_lr_takes_effect_at_next_step():
    control = RunControl()

    def on_step(step: int) -> None:
        if step == 3:
            control.set_lr(0.5)

    res = train(cfg_blobs(1), control=control, on_step=on_step)
    assert res.step_lr[:3].tolist() == [0.01, 0.01, 0.01]
    assert res.step_lr[3:].tolist() == [0.5] * (len(res.step_lr) - 3)
    with pytest.raises(ValueError, match="positive finite"):
        control.set_lr(float("nan"))


DIGITS = DatasetConfig(name="digits")


@pytest.mark.parametrize(
    "aug",
    [
        Augmentation(shift=1),
        Augmentation(rotate=15.0),
        Augmentation(cutout=3),
        Augmentation(mixup=0.4),
        Augmentation(noise=0.1),
        Augmentation(jitter=0.05),
        Augmentation(shift=1, rotate=10.0, cutout=2, noise=0.05, mixup=0.2),
    ],
)
def test_augmentation_runs_on_digits(aug):
    cfg = RunConfig(
        dataset=DIGITS,
        model=ModelConfig(layers=(Dense(units=32),)),
        optimizer=Adam(lr=0.01),
        regularization=RegularizationConfig(augmentation=aug),
        training=TrainingConfig(epochs=2, batch_size=64, device="cpu"),
    )
    res = train(cfg)
    assert res.reason == "completed", res.error
    assert np.isfinite(res.step_loss).all()
    assert res.final.val_acc > 0.3  # ten classes: chance is 0.1


def test_augmentation_changes_training():
    base = RunConfig(dataset=DIGITS, training=TrainingConfig(epochs=1, batch_size=64, device="cpu"))
    aug = base.model_copy(update={"regularization": RegularizationConfig(augmentation=Augmentation(shift=2))})
    assert not np.array_equal(train(base).step_loss, train(aug).step_loss)


def test_conv_model_on_digits_trains():
    cfg = RunConfig(
        dataset=DIGITS,
        model=ModelConfig(layers=(Conv2d(filters=8), MaxPool(), Flatten(), Dense(units=32))),
        optimizer=Adam(lr=0.01),
        training=TrainingConfig(epochs=3, batch_size=64, device="cpu"),
    )
    res = train(cfg)
    assert res.reason == "completed", res.error
    assert res.epochs[-1].train_loss < res.epochs[0].train_loss
    assert res.final.val_acc > 0.8


def test_bad_data_becomes_failed_event_not_exception(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    cfg = RunConfig(dataset=DatasetConfig(name="csv", path=str(tmp_path / "nope.csv"), target="y"))
    bus, got = collect(ev.Failed, ev.Finished)
    res = train(cfg, bus=bus)
    assert res.reason == "failed" and "no such file" in res.error
    assert [type(e) for e in got] == [ev.Failed, ev.Finished]
