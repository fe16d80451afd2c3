"""Optimizer and schedule values against their formulas, written out independently here."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from optiscope.engine.config import (
    SGD,
    Adam,
    Constant,
    Cosine,
    CosineRestarts,
    Cyclic,
    DatasetConfig,
    Exponential,
    OneCycle,
    Plateau,
    RunConfig,
    Step,
    TimeDecay,
    TrainingConfig,
)
from optiscope.engine.optim import LRSchedule, build_optimizer, lr_preview
from optiscope.engine.trainer import train

torch.set_num_threads(1)


def smith_clr(i: int, base: float, top: float, step: int, mode: str, gamma: float = 1.0) -> float:
    """Smith (2017), 'Cyclical learning rates for training neural networks', section 3.1."""
    cycle = math.floor(1 + i / (2 * step))
    x = abs(i / step - 2 * cycle + 1)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1.0 / (2 ** (cycle - 1))
    else:  # exp_range
        scale = gamma**i
    return base + (top - base) * max(0.0, 1.0 - x) * scale


def test_time_decay_per_update_matches_formula():
    lr0, d = 0.01, 0.1
    lrs = lr_preview(SGD(lr=lr0), TimeDecay(decay=d), steps_per_epoch=16, epochs=200)
    expected = [lr0 / (1 + d * i) for i in range(16 * 200)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    # the studies' figure: decay 0.1 with 16 updates per epoch ends near 3.1e-5
    assert lrs[-1] == pytest.approx(3.1e-5, rel=0.02)
    near = lr_preview(SGD(lr=lr0), TimeDecay(decay=1e-4), 16, 200)[-1]
    assert near == pytest.approx(0.0076, rel=0.01)


def test_time_decay_is_what_training_records():
    cfg = RunConfig(
        schedule=TimeDecay(decay=0.05),
        training=TrainingConfig(epochs=2, batch_size=100, device="cpu"),
    )
    res = train(cfg)
    assert res.reason == "completed"
    n = len(res.step_lr)
    assert n == 10  # 500 training points / 100
    np.testing.assert_allclose(res.step_lr, [0.01 / (1 + 0.05 * i) for i in range(n)], rtol=1e-12)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_modes_match_smith(mode):
    base, top, step, gamma = 0.001, 0.1, 7, 0.97
    sched = Cyclic(mode=mode, base_lr=base, max_lr=top, step_size=step, gamma=gamma)
    lrs = lr_preview(SGD(lr=0.5), sched, steps_per_epoch=10, epochs=6)
    expected = [smith_clr(i, base, top, step, mode, gamma) for i in range(60)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-9, atol=1e-12)
    if mode != "exp_range":  # exp_range's first peak is already scaled by gamma**step
        assert max(lrs) == pytest.approx(top)
    if mode == "triangular2":
        assert max(lrs[2 * step : 4 * step]) == pytest.approx(base + (top - base) / 2)


def _drive_plateau(patience: int, metrics: list[float], **kw) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], SGD(lr=1.0))
    s = LRSchedule(opt, Plateau(patience=patience, factor=0.1, min_delta=0.0, **kw), 10, len(metrics))
    out = []
    for m in metrics:
        s.after_epoch({"val_loss": m, "val_acc": -m, "train_loss": m, "train_acc": -m})
        out.append(s.lr)
    return out


@pytest.mark.parametrize("patience", [1, 2, 5])
def test_plateau_drops_after_exactly_patience_bad_epochs(patience):
    metrics = [1.0] + [2.0] * (3 * patience + 1)  # epoch 1 is the best, then no improvement
    lrs = _drive_plateau(patience, metrics)
    first_drop = next(i for i, lr in enumerate(lrs) if lr < 1.0)
    assert first_drop == patience  # index 0 is the best epoch; bad epochs are 1..patience
    assert lrs[patience] == pytest.approx(0.1)
    # the counter restarts after a drop: the next one comes patience bad epochs later
    assert lrs[2 * patience] == pytest.approx(0.01)
    assert lrs[2 * patience - 1] == pytest.approx(0.1)


def test_plateau_improvement_resets_and_events_in_training():
    lrs = _drive_plateau(2, [1.0, 2.0, 0.5, 2.0, 2.0, 2.0])
    assert lrs == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.1, 0.1])
    # min_lr is a floor
    assert min(_drive_plateau(1, [1.0] + [2.0] * 10, min_lr=1e-3)) == pytest.approx(1e-3)


def test_plateau_on_accuracy_monitors_max():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], SGD(lr=1.0))
    s = LRSchedule(opt, Plateau(monitor="val_acc", patience=1, min_delta=0.0), 10, 5)
    assert s.after_epoch({"val_acc": 0.5}) is None
    assert s.after_epoch({"val_acc": 0.6}) is None  # rising accuracy is improvement
    assert s.after_epoch({"val_acc": 0.6}) == pytest.approx((1.0, 0.1))


def test_warmup_then_main_schedule():
    w, spe = 8, 10
    lrs = lr_preview(SGD(lr=0.1), TimeDecay(decay=0.5, warmup_steps=w, warmup_start_factor=0.1), spe, 3)
    warm = [0.1 * (0.1 + 0.9 * i / w) for i in range(w)]
    np.testing.assert_allclose(lrs[:w], warm, rtol=1e-9)
    # the main schedule starts at lr0 when warm-up ends, its own iteration counter at 0
    np.testing.assert_allclose(lrs[w:], [0.1 / (1 + 0.5 * i) for i in range(3 * spe - w)], rtol=1e-9)


def test_warmup_in_front_of_cosine_ends_at_eta_min():
    lrs = lr_preview(SGD(lr=0.2), Cosine(warmup_steps=5, eta_min=0.0), 10, 4)
    assert lrs[0] == pytest.approx(0.2 * 0.01)
    assert lrs[5] == pytest.approx(0.2)
    assert max(lrs) == pytest.approx(0.2)
    assert lrs[-1] < 0.2 * 0.01


def test_step_and_exponential_shapes():
    step = lr_preview(SGD(lr=1.0), Step(step_epochs=3, gamma=0.5), 4, 9)
    per_epoch = step[::4]
    assert per_epoch == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25])
    assert all(len(set(step[e * 4 : (e + 1) * 4])) == 1 for e in range(9))  # constant within an epoch
    exp = lr_preview(SGD(lr=1.0), Exponential(gamma=0.9), 3, 5)
    assert exp[::3] == pytest.approx([0.9**e for e in range(5)])


def test_cosine_formula_over_the_run():
    spe, epochs, lr0, eta = 5, 4, 0.3, 0.01
    total = spe * epochs
    lrs = lr_preview(SGD(lr=lr0), Cosine(eta_min=eta), spe, epochs)
    expected = [eta + (lr0 - eta) * (1 + math.cos(math.pi * i / total)) / 2 for i in range(total)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-9)


def test_cosine_restarts_period():
    lrs = lr_preview(SGD(lr=1.0), CosineRestarts(t0_steps=6, t_mult=2, eta_min=0.0), 6, 4)
    assert lrs[0] == pytest.approx(1.0)
    assert lrs[6] == pytest.approx(1.0)  # restart after t0
    assert lrs[18] == pytest.approx(1.0)  # then after 2 * t0
    assert lrs[5] == pytest.approx((1 + math.cos(math.pi * 5 / 6)) / 2)


def test_one_cycle_shape():
    sched = OneCycle(max_lr=0.5, pct_start=0.25, div_factor=10, final_div_factor=100)
    lrs = lr_preview(SGD(lr=0.01), sched, 10, 8)
    peak = int(np.argmax(lrs))
    assert lrs[0] == pytest.approx(0.05)  # max_lr / div_factor
    assert max(lrs) == pytest.approx(0.5)
    assert 18 <= peak <= 20  # pct_start of 80 updates
    assert np.all(np.diff(lrs[: peak + 1]) >= 0) and np.all(np.diff(lrs[peak:]) <= 0)
    assert lrs[-1] == pytest.approx(0.05 / 100, rel=0.05)


def test_constant_and_adam_default():
    assert set(lr_preview(Adam(), Constant(), 3, 2)) == {0.001}


def test_set_lr_scales_the_schedule():
    """A user's LR change multiplies the rest of the schedule (time decay keeps its shape)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], SGD(lr=0.1))
    s = LRSchedule(opt, TimeDecay(decay=1.0), 10, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(3):
            s.after_step()
        s.scale(2.0)
        assert s.lr == pytest.approx(2 * 0.1 / 4)
        s.after_step()
    assert s.lr == pytest.approx(2 * 0.1 / 5)


# --------------------------------------------------------------------------- optimizers
def _steps(opt_cfg, grads: list[float], w0: float = 1.0) -> list[float]:
    """Apply ``build_optimizer(opt_cfg)`` to one scalar weight with the given gradients."""
    p = torch.nn.Parameter(torch.tensor([w0], dtype=torch.float64))
    opt = build_optimizer([p], opt_cfg)
    out = []
    for g in grads:
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        out.append(float(p.detach()))
    return out


GRADS = [0.5, -0.2, 0.8, 0.1, -0.4]


def test_sgd_momentum_and_nesterov_formulas():
    lr, mu = 0.1, 0.9
    w, v, plain, nest = 1.0, 0.0, [], []
    wn, vn = 1.0, 0.0
    for i, g in enumerate(GRADS):
        v = g if i == 0 else mu * v + g  # torch's (and Sutskever's) buffer
        w -= lr * v
        plain.append(w)
        vn = g if i == 0 else mu * vn + g
        wn -= lr * (g + mu * vn)
        nest.append(wn)
    assert _steps(SGD(lr=lr, momentum=mu), GRADS) == pytest.approx(plain)
    assert _steps(SGD(lr=lr, momentum=mu, nesterov=True), GRADS) == pytest.approx(nest)
    assert _steps(SGD(lr=lr), GRADS) == pytest.approx(list(1.0 - lr * np.cumsum(GRADS)))


def test_adagrad_effective_rate_only_falls():
    from optiscope.engine.config import Adagrad

    lr, eps = 0.1, 1e-10
    w, c, expected, rates = 1.0, 0.0, [], []
    for g in GRADS:
        c += g * g
        rates.append(lr / (math.sqrt(c) + eps))
        w -= rates[-1] * g
        expected.append(w)
    assert _steps(Adagrad(lr=lr, eps=eps), GRADS) == pytest.approx(expected)
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))  # lr / sqrt(c) never rises


def test_rmsprop_and_adam_formulas():
    from optiscope.engine.config import RMSprop

    lr, a, eps = 0.01, 0.9, 1e-8
    w, s, exp_rms = 1.0, 0.0, []
    for g in GRADS:
        s = a * s + (1 - a) * g * g
        w -= lr * g / (math.sqrt(s) + eps)
        exp_rms.append(w)
    assert _steps(RMSprop(lr=lr, alpha=a, eps=eps), GRADS) == pytest.approx(exp_rms)
    b1, b2 = 0.9, 0.999
    w, m, v, exp_adam = 1.0, 0.0, 0.0, []
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w -= lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        exp_adam.append(w)
    assert _steps(Adam(lr=lr, beta1=b1, beta2=b2, eps=eps), GRADS) == pytest.approx(exp_adam)


def test_every_hyperparameter_reaches_torch():
    from optiscope.engine.config import Adadelta, Adagrad, Adamax, AdamW, NAdam, RMSprop

    p = [torch.nn.Parameter(torch.zeros(2))]
    g = build_optimizer(p, SGD(lr=0.2, momentum=0.5, dampening=0.1, weight_decay=0.01)).param_groups[0]
    assert (g["lr"], g["momentum"], g["dampening"], g["weight_decay"]) == (0.2, 0.5, 0.1, 0.01)
    g = build_optimizer(p, RMSprop(alpha=0.9, momentum=0.3, centered=True)).param_groups[0]
    assert (g["alpha"], g["momentum"], g["centered"]) == (0.9, 0.3, True)
    g = build_optimizer(p, Adagrad(lr_decay=0.01, initial_accumulator_value=0.1)).param_groups[0]
    assert (g["lr_decay"], g["initial_accumulator_value"]) == (0.01, 0.1)
    for cfg, cls in [
        (AdamW(beta1=0.8, beta2=0.99), torch.optim.AdamW),
        (NAdam(momentum_decay=0.01), torch.optim.NAdam),
        (Adamax(beta1=0.7), torch.optim.Adamax),
        (Adadelta(rho=0.8), torch.optim.Adadelta),
    ]:
        opt = build_optimizer(p, cfg)
        assert type(opt) is cls and opt.param_groups[0]["lr"] == cfg.lr
    assert build_optimizer(p, AdamW(beta1=0.8, beta2=0.99)).param_groups[0]["betas"] == (0.8, 0.99)
    assert build_optimizer(p, NAdam(momentum_decay=0.01)).param_groups[0]["momentum_decay"] == 0.01
    assert build_optimizer(p, Adadelta(rho=0.8)).param_groups[0]["rho"] == 0.8


@pytest.mark.parametrize("warmup", [1, 5, 13])
@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_warmup_hands_over_to_cyclic_at_its_base_lr(warmup, mode):
    """After the warm-up, every update follows Smith's CLR from its own iteration 0.

    The update right after the hand-over once used the warm-up's target (the optimizer's
    lr, 0.1 here) instead of the cyclic base_lr.
    """
    base, top, step, gamma = 0.001, 0.01, 20, 0.99
    sched = Cyclic(mode=mode, base_lr=base, max_lr=top, step_size=step, gamma=gamma, warmup_steps=warmup)
    lrs = lr_preview(SGD(lr=0.1), sched, steps_per_epoch=16, epochs=4)
    main = lrs[warmup:]
    expected = [smith_clr(i, base, top, step, mode, gamma) for i in range(len(main))]
    np.testing.assert_allclose(main, expected, rtol=1e-9, atol=1e-12)
    assert max(main) <= top * (1 + 1e-9)


def test_warmup_then_cyclic_in_training_alone_and_batched():
    from optiscope.engine.sweep import train_batched

    sched = Cyclic(base_lr=0.001, max_lr=0.01, step_size=20, warmup_steps=5)
    cfg = RunConfig(
        optimizer=SGD(lr=0.1), schedule=sched, training=TrainingConfig(epochs=2, batch_size=100, seed=3)
    )
    alone = train(cfg).step_lr
    assert len(alone) == 10  # 500 points / 100, 2 epochs
    expected = [smith_clr(i, 0.001, 0.01, 20, "triangular") for i in range(5)]
    np.testing.assert_allclose(alone[5:], expected, rtol=1e-9)
    batched = train_batched([cfg, cfg.model_copy(update={"optimizer": SGD(lr=0.1, momentum=0.9)})])
    for res in batched:
        np.testing.assert_allclose(res.step_lr[5:], expected, rtol=1e-9)


def keras2_plateau(metrics, *, patience, cooldown, factor, min_delta, min_lr, mode, lr=1.0):
    """Keras 2's ``ReduceLROnPlateau.on_epoch_end``, transcribed line by line.

    Pass ``lr=np.float32(...)`` to hold the rate in float32 as Keras's optimizer variable does.
    """
    if mode == "min":
        monitor_op, best = (lambda a, b: np.less(a, b - min_delta)), np.inf
    else:
        monitor_op, best = (lambda a, b: np.greater(a, b + min_delta)), -np.inf
    cooldown_counter, wait, out = 0, 0, []
    for current in metrics:
        if cooldown_counter > 0:
            cooldown_counter -= 1
            wait = 0
        if monitor_op(current, best):
            best = current
            wait = 0
        elif not cooldown_counter > 0:
            wait += 1
            if wait >= patience:
                if lr > np.float32(min_lr):
                    lr = max(lr * factor, min_lr)
                    cooldown_counter = cooldown
                    wait = 0
        out.append(lr)
    return out


@pytest.mark.parametrize("cooldown", [0, 1, 3])
@pytest.mark.parametrize("patience", [0, 1, 2, 5])
@pytest.mark.parametrize("monitor", ["val_loss", "val_acc"])
def test_plateau_matches_keras2_with_and_without_cooldown(cooldown, patience, monitor):
    rng = np.random.default_rng(patience * 10 + cooldown)
    # a noisy, slowly improving metric with long flat stretches, 560 epochs
    steps = rng.normal(0.0, 0.01, 560) - 0.002 * (rng.random(560) < 0.2)
    metrics = 2.0 + np.cumsum(steps)
    if monitor == "val_acc":
        metrics = -metrics
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], SGD(lr=1.0))
    cfg = Plateau(
        monitor=monitor, patience=patience, factor=0.5, min_delta=1e-3, cooldown=cooldown, min_lr=1e-9
    )
    s = LRSchedule(opt, cfg, 10, len(metrics))
    ours = []
    for m in metrics:
        s.after_epoch({monitor: float(m)})
        ours.append(s.lr)
    mode = "max" if monitor == "val_acc" else "min"
    keras = keras2_plateau(
        metrics, patience=patience, cooldown=cooldown, factor=0.5, min_delta=1e-3, min_lr=1e-9, mode=mode
    )
    np.testing.assert_allclose(ours, keras, rtol=1e-12)
    assert len(set(keras)) > 3  # the sequence really exercises several reductions


def test_plateau_patience_preset_follows_keras_rule_down_to_its_floor():
    """The lesson's four runs: each epoch's rate is Keras's rule applied to the run's own
    validation losses; the rate stops at min_lr 1e-5; the lesson text's claims hold."""
    from optiscope.engine.presets import get_preset
    from optiscope.engine.runner import execute

    exp = get_preset("plateau-patience")
    runs = exp.runs()
    assert {r.schedule.min_lr for r in runs} == {1e-5} and "min_lr = 1e-5" in exp.lesson
    results = execute(runs)
    drops, final_acc = {}, {}
    for cfg, res in zip(runs, results, strict=True):
        s = cfg.schedule
        assert res.reason == "completed" and len(res.epochs) == 200
        val_losses = [e.val_loss for e in res.epochs]
        keras = keras2_plateau(
            val_losses,
            patience=s.patience,
            cooldown=s.cooldown,
            factor=s.factor,
            min_delta=s.min_delta,
            min_lr=s.min_lr,
            mode="min",
            lr=np.float32(cfg.optimizer.lr),
        )
        used = [e.lr for e in res.epochs]  # epoch e trains at the rate set after epoch e - 1
        assert used[0] == cfg.optimizer.lr
        np.testing.assert_allclose(used[1:], keras[:-1], rtol=1e-6)
        assert min(used) >= s.min_lr
        drops[s.patience] = sum(b < a for a, b in zip(used, used[1:], strict=False))
        final_acc[s.patience] = res.final.train_acc
        if s.patience <= 10:
            assert used[-1] == s.min_lr, f"patience {s.patience} reaches the floor"
    assert drops == {2: 3, 5: 3, 10: 3, 15: 1}
    # the lesson text: patience 2 freezes at about two-thirds, 5 gets to about 75 %, 10 and 15 better
    assert 0.6 < final_acc[2] < 0.72 and 0.72 < final_acc[5] < 0.8
    assert min(final_acc[10], final_acc[15]) > final_acc[5]


# --------------------------------------------------------------------------- warm-up hand-overs
def _closed_form_after_warmup(kind: str, lr0: float, gamma: float, every: int, warmup: int, spe: int, n: int):
    """Linear warm-up, then a per-epoch schedule whose epoch 0 is the epoch the warm-up ends in.

    Written from the formulas: warm-up ``lr0 * (f + (1 - f) * i / W)``; then ExponentialLR
    ``lr0 * gamma**e`` or StepLR ``lr0 * gamma**(e // every)``, ``e`` counting epochs from the
    one holding update ``W`` (0-based index).
    """
    out = []
    for i in range(n):
        if i < warmup:
            out.append(lr0 * (0.01 + 0.99 * i / warmup))
            continue
        e = i // spe - warmup // spe
        out.append(lr0 * gamma ** (e if kind == "exponential" else e // every))
    return out


@pytest.mark.parametrize("warmup", [32, 40, 16, 1])
@pytest.mark.parametrize("kind", ["exponential", "step"])
def test_warmup_in_front_of_a_per_epoch_schedule_starts_at_the_base_rate(kind, warmup):
    """Issue 18.1: warm-up 32 updates at 16 per epoch then exponential(0.5) trained epochs 3-6 at
    0.05, 0.025, ... (the base rate 0.1 never used); step(3) held the rate 2 epochs."""
    spe, epochs = 16, 10
    sched = (
        Exponential(gamma=0.5, warmup_steps=warmup)
        if kind == "exponential"
        else Step(step_epochs=3, gamma=0.5, warmup_steps=warmup)
    )
    lrs = lr_preview(SGD(lr=0.1), sched, spe, epochs)
    expected = _closed_form_after_warmup(kind, 0.1, 0.5, 3, warmup, spe, spe * epochs)
    np.testing.assert_allclose(lrs, expected, rtol=1e-9)
    if warmup == 32:
        first_main_epoch = lrs[2 * spe : 3 * spe]
        assert set(np.round(first_main_epoch, 12)) == {0.1}
        if kind == "step":  # the base rate held 3 whole epochs
            assert [round(x, 9) for x in lrs[2 * spe :: spe]][:4] == [0.1, 0.1, 0.1, 0.05]


def test_warmup_in_front_of_exponential_matches_torch_sequential_lr_per_epoch():
    """With warm-up in whole epochs, torch's own LinearLR + ExponentialLR chained by SequentialLR
    (stepped per epoch) gives the epoch rates; our per-update warm-up ends at the same base rate."""
    spe, epochs, warm_epochs = 16, 8, 2
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s = torch.optim.lr_scheduler.SequentialLR(
            opt,
            [
                torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=warm_epochs),
                torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5),
            ],
            milestones=[warm_epochs],
        )
        torch_epochs = []
        for _ in range(epochs):
            torch_epochs.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
    ours = lr_preview(SGD(lr=0.1), Exponential(gamma=0.5, warmup_steps=warm_epochs * spe), spe, epochs)
    np.testing.assert_allclose(ours[warm_epochs * spe :: spe], torch_epochs[warm_epochs:], rtol=1e-9)


def test_warmup_then_per_epoch_schedule_in_training_alone_and_batched():
    from optiscope.engine.sweep import train_batched

    sched = Exponential(gamma=0.5, warmup_steps=32)
    cfg = RunConfig(
        optimizer=SGD(lr=0.1),
        schedule=sched,
        dataset=DatasetConfig(n_samples=640),
        training=TrainingConfig(epochs=6, batch_size=20, seed=3, device="cpu"),
    )
    expected = _closed_form_after_warmup("exponential", 0.1, 0.5, 1, 32, 16, 96)
    alone = train(cfg).step_lr
    np.testing.assert_allclose(alone, expected, rtol=1e-9)
    batched = train_batched([cfg, cfg.model_copy(update={"optimizer": SGD(lr=0.1, momentum=0.9)})])
    for res in batched:
        np.testing.assert_allclose(res.step_lr, expected, rtol=1e-6)


def _torch_main_rates(kind: str, cfg, lr0: float, n: int) -> list[float]:
    """torch's CyclicLR / OneCycleLR alone on a dummy optimizer, update by update."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr0)
    if kind == "cyclic":
        s = torch.optim.lr_scheduler.CyclicLR(
            opt, base_lr=cfg.base_lr, max_lr=cfg.max_lr, step_size_up=cfg.step_size, cycle_momentum=False
        )
    else:
        s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.max_lr, total_steps=n, cycle_momentum=False)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if s.last_epoch < n - 1 or kind == "cyclic":
            s.step()
    return out


@pytest.mark.parametrize("kind", ["cyclic", "one_cycle"])
def test_live_change_during_warmup_scales_the_main_schedule_alone_and_batched(kind):
    """Issue 18.2: x2 at update 20 of a 50-update warm-up held until update 49 only."""
    from optiscope.engine import events as ev
    from optiscope.engine.control import RunControl
    from optiscope.engine.sweep import train_batched

    sched = (
        Cyclic(base_lr=1e-3, max_lr=1e-2, step_size=20, warmup_steps=50)
        if kind == "cyclic"
        else OneCycle(max_lr=0.1, warmup_steps=50)
    )
    cfg = RunConfig(
        optimizer=SGD(lr=0.05),
        schedule=sched,
        dataset=DatasetConfig(n_samples=640),
        training=TrainingConfig(epochs=8, batch_size=20, device="cpu"),
    )
    n, w = 128, 50
    warm = [0.05 * (0.01 + 0.99 * i / w) for i in range(w)]
    expected = np.array(warm + _torch_main_rates(kind, sched, 0.05, n - w))
    expected[20:] *= 2

    control = RunControl()

    def on_step(step: int) -> None:
        if step == 20:
            control.scale_lr(2.0)

    alone = train(cfg, control=control, on_step=on_step).step_lr
    np.testing.assert_allclose(alone, expected, rtol=1e-9)

    control2, bus, got = RunControl(), ev.EventBus(step_block_seconds=0), []  # each update at once

    def on_event(e: ev.Steps) -> None:
        for row in e.rows():
            if row.run == 0:
                got.append(row.lr)
                if row.step == 20:
                    control2.scale_lr(2.0)

    bus.subscribe(on_event, ev.Steps)
    train_batched(
        [cfg, cfg.model_copy(update={"optimizer": SGD(lr=0.05, momentum=0.9)})], bus=bus, control=control2
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)
