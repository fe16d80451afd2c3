"""2D test functions and optimizers racing on them (issue 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optiscope.engine.config import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    RMSprop,
    Step,
)
from optiscope.engine.testfunctions import FUNCTIONS, Race, function_grid, get_function, log_levels, race


@pytest.mark.parametrize("key", list(FUNCTIONS))
def test_known_minima_are_minima(key: str) -> None:
    fn = FUNCTIONS[key]
    x0, x1, y0, y1 = fn.extent
    assert x0 < fn.start[0] < x1 and y0 < fn.start[1] < y1
    for mx, my in fn.minima:
        assert x0 < mx < x1 and y0 < my < y1
        assert fn.value(mx, my) == pytest.approx(fn.min_value, abs=1e-8)
        p = torch.tensor([mx, my], dtype=torch.float64, requires_grad=True)
        fn(p[0], p[1]).backward()
        assert np.linalg.norm(p.grad.numpy()) < 1e-3
    _, _, z = function_grid(fn, 81)
    if fn.min_value is not None:
        assert z.min() >= fn.min_value - 1e-9
    else:  # the saddle is unbounded below, and its origin is a stationary point
        assert z.min() < fn.value(0.0, 0.0)


def test_log_levels_crowd_near_the_minimum() -> None:
    _, _, z = function_grid(FUNCTIONS["rosenbrock"], 50)
    levels, offset = log_levels(z, 10, floor=0.0)
    assert offset == 0.0 and len(levels) == 10
    gaps = np.diff(levels)
    assert np.all(gaps > 0) and gaps[-1] > 100 * gaps[0]


# learning rates chosen per optimizer; "reaching the valley" means: after 1000 updates from
# (-1.5, 2) the point lies within 0.05 of the valley floor y = x^2 (the curved term is then
# below 0.25) AND the loss is below 3.0, i.e. the optimizer came down the wall (start loss 12.5)
# and moved along the floor past x = -0.73 towards the minimum (1, 1). It need not reach (1, 1).
VALLEY_CASES = {
    "sgd": SGD(lr=1e-3),
    "momentum": SGD(lr=3e-4, momentum=0.9),
    "nesterov": SGD(lr=3e-4, momentum=0.9, nesterov=True),
    "adagrad": Adagrad(lr=1.0),
    "rmsprop": RMSprop(lr=1e-2),
    "adam": Adam(lr=3e-2),
    "adamw": AdamW(lr=3e-2),
    "nadam": NAdam(lr=3e-2),
    "adamax": Adamax(lr=0.1),
    "adadelta": Adadelta(lr=1.0),
}


def test_every_optimizer_reaches_the_rosenbrock_valley() -> None:
    fn = get_function("rosenbrock")
    assert fn.start == (-1.5, 2.0) and fn.value(*fn.start) == pytest.approx(12.5)
    r = race(fn, list(VALLEY_CASES.values()), steps=1000)
    failures = []
    for name, runner in zip(VALLEY_CASES, r.runners, strict=True):
        x, y = runner.position
        off_floor = abs(y - x * x)
        if runner.steps != 1000 or runner.status != "running" or off_floor > 0.05 or runner.loss > 3.0:
            failures.append(f"{name}: at ({x:.3f}, {y:.3f}), |y-x²|={off_floor:.3f}, loss {runner.loss:.3f}")
    assert not failures, failures


def test_plain_sgd_with_too_large_a_rate_diverges_on_rosenbrock() -> None:
    r = race("rosenbrock", [SGD(lr=0.01)], steps=200)
    assert r.runners[0].status in ("diverged", "left")
    assert r.runners[0].steps < 200


def test_runner_records_the_torch_optim_update_and_gradient() -> None:
    fn = get_function("ill_conditioned")
    r = Race(fn, [SGD(lr=0.01, momentum=0.9), Adam(lr=0.1)], start=(-1.0, 2.0), total_steps=50)
    r.step(20)
    # the same updates by hand with torch.optim
    for runner, make in zip(
        r.runners,
        (lambda p: torch.optim.SGD([p], lr=0.01, momentum=0.9), lambda p: torch.optim.Adam([p], lr=0.1)),
        strict=True,
    ):
        p = torch.nn.Parameter(torch.tensor([-1.0, 2.0], dtype=torch.float64))
        opt = make(p)
        for k in range(3):
            opt.zero_grad()
            fn(p[0], p[1]).backward()
            np.testing.assert_allclose(runner.grads[k], p.grad.numpy())  # gradient at step k
            before = p.detach().clone()
            opt.step()
            np.testing.assert_allclose(runner.updates[k], (p.detach() - before).numpy(), atol=1e-15)
            np.testing.assert_allclose(runner.positions[k + 1], p.detach().numpy())
        a = runner.arrays()
        assert a["positions"].shape == (21, 2) and a["updates"].shape == (20, 2)
        np.testing.assert_allclose(a["distance"], np.linalg.norm(a["positions"], axis=1))
        np.testing.assert_allclose(a["losses"][-1], fn.value(*a["positions"][-1]))
    # once velocity has built up, momentum's update is not along the gradient: the arrows differ
    m = r.runners[0]
    cos = np.dot(-m.grads[15], m.updates[15]) / np.linalg.norm(m.grads[15]) / np.linalg.norm(m.updates[15])
    assert cos < 0.99


def test_preview_shows_the_next_update_without_moving() -> None:
    r = Race("ill_conditioned", [SGD(lr=0.01, momentum=0.9), Adam(lr=0.1), RMSprop(lr=0.05)], total_steps=30)
    r.step(7)
    for runner in r.runners:
        pos = runner.position.copy()
        grad, nxt = runner.preview()
        np.testing.assert_array_equal(runner.position, pos)
        np.testing.assert_array_equal(grad, runner.grads[-1])
        runner.step()
        np.testing.assert_allclose(nxt, runner.updates[-1], rtol=1e-12, atol=1e-15)


def test_schedule_is_applied_per_update() -> None:
    r = Race("quadratic", [SGD(lr=0.1)], schedule=Step(step_epochs=1, gamma=0.5), total_steps=10)
    r.step(10)
    # per-epoch schedules see the whole race as one epoch: the rate stays 0.1 throughout
    assert r.runners[0].lrs == [0.1] * 10
    from optiscope.engine.config import TimeDecay

    r = Race("quadratic", [SGD(lr=0.1)], schedule=TimeDecay(decay=1.0), total_steps=5)
    r.step(5)
    np.testing.assert_allclose(r.runners[0].lrs, [0.1 / (1 + i) for i in range(5)])


def test_himmelblau_distance_uses_the_nearest_of_four_minima() -> None:
    fn = get_function("himmelblau")
    d = fn.distance_to_minimum(np.array([[3.0, 2.0], [-2.8, 3.1], [0.0, 0.0]]))
    assert d[0] == 0.0 and d[1] < 0.05 and d[2] == pytest.approx(np.hypot(3.0, 2.0) - 0, rel=0.2)


def test_bad_input_is_reported() -> None:
    with pytest.raises(ValueError, match="unknown test function 'nope'"):
        get_function("nope")
    with pytest.raises(ValueError, match="start must be two finite numbers"):
        Race("quadratic", [SGD()], start=(float("nan"), 0.0))
    with pytest.raises(ValueError, match="at least one optimizer"):
        Race("quadratic", [])


def test_the_race_offers_the_newer_optimizers() -> None:
    from optiscope.engine.optimizers import race_rows

    names = {name for name, _make, _on in race_rows()}
    assert {"Lion", "Schedule-Free AdamW", "Schedule-Free SGD", "Prodigy"} <= names


@pytest.mark.parametrize("kind", ["lion", "schedulefree_adamw", "prodigy"])
def test_newer_optimizers_race_as_their_authors_packages_step_on_rosenbrock(kind: str) -> None:
    """The race's runner against the reference package driven by hand, for 25 updates."""
    import prodigyopt
    import schedulefree
    from lion_pytorch import Lion as ReferenceLion
    from optiscope.engine.optimizers.lion import Lion
    from optiscope.engine.optimizers.prodigy import Prodigy
    from optiscope.engine.optimizers.schedulefree import ScheduleFreeAdamW

    cfg, make = {
        "lion": (Lion(lr=0.02), lambda p: ReferenceLion([p], lr=0.02)),
        "schedulefree_adamw": (
            ScheduleFreeAdamW(lr=0.05),
            lambda p: schedulefree.AdamWScheduleFree([p], lr=0.05),
        ),
        "prodigy": (Prodigy(), lambda p: prodigyopt.Prodigy([p], lr=1.0)),
    }[kind]
    fn = get_function("rosenbrock")
    r = Race(fn, [cfg], start=fn.start, total_steps=25)
    r.step(25)
    p = torch.nn.Parameter(torch.tensor(fn.start, dtype=torch.float64))
    opt = make(p)
    if hasattr(opt, "train"):
        opt.train()
    for k in range(25):
        opt.zero_grad()
        fn(p[0], p[1]).backward()
        opt.step()
        np.testing.assert_allclose(r.runners[0].positions[k + 1], p.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert r.runners[0].loss < fn.value(*fn.start)  # and it went downhill
