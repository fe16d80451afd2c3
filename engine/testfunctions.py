"""2D test functions and optimizers racing on them.

The parameters are one 2-vector ``nn.Parameter`` per optimizer, trained by the very same
``torch.optim`` optimizers and learning-rate schedules as the networks
(:func:`~engine.optim.build_optimizer`, :class:`~engine.optim.LRSchedule`), built from the
same :data:`~engine.config.OptimizerConfig` / :data:`~engine.config.ScheduleConfig` models.

:class:`Race` advances several optimizers from one start point and records, per step,
position, loss, gradient, the update actually taken and the distance to the nearest
minimum. No Qt here: the GUI draws what these arrays hold.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .config import Constant, OptimizerConfig, ScheduleConfig
from .optim import LRSchedule, build_optimizer

__all__ = [
    "TestFunction",
    "FUNCTIONS",
    "get_function",
    "function_grid",
    "log_levels",
    "Runner",
    "Race",
    "race",
]

Tensor = torch.Tensor


@dataclass(frozen=True)
class TestFunction:
    """A 2D objective with its known minima, a plotting extent and a standard start.

    ``fn`` takes two tensors of any (equal) shape and returns ``f(x, y)`` elementwise.
    ``extent`` is ``(xmin, xmax, ymin, ymax)``. ``minima`` lists the global minima
    (Himmelblau has four; the saddle has none, it is unbounded below).
    """

    key: str
    name: str
    fn: Callable[[Tensor, Tensor], Tensor] = field(repr=False)
    minima: tuple[tuple[float, float], ...]
    extent: tuple[float, float, float, float]
    start: tuple[float, float]
    min_value: float | None
    description: str = ""

    __test__ = False  # not a pytest class, despite the name

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        return self.fn(x, y)

    def value(self, x: float, y: float) -> float:
        """``f(x, y)`` as a Python float (float64)."""
        t = torch.tensor([x, y], dtype=torch.float64)
        return float(self.fn(t[0], t[1]))

    def distance_to_minimum(self, points: np.ndarray) -> np.ndarray:
        """Euclidean distance of each ``(x, y)`` row to the nearest known minimum (NaN if none)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if not self.minima:
            return np.full(len(pts), np.nan)
        mins = np.asarray(self.minima, dtype=np.float64)
        d = np.linalg.norm(pts[:, None, :] - mins[None, :, :], axis=2)
        return d.min(axis=1)


def _rosenbrock(x: Tensor, y: Tensor) -> Tensor:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(x: Tensor, y: Tensor) -> Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(x: Tensor, y: Tensor) -> Tensor:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _rastrigin(x: Tensor, y: Tensor) -> Tensor:
    two_pi = 2 * math.pi
    return 20 + x**2 - 10 * torch.cos(two_pi * x) + y**2 - 10 * torch.cos(two_pi * y)


def _saddle(x: Tensor, y: Tensor) -> Tensor:
    return x**2 - y**2


_COS, _SIN = math.cos(math.radians(30)), math.sin(math.radians(30))
ILL_CONDITION = 50.0


def _ill_conditioned(x: Tensor, y: Tensor) -> Tensor:
    # a quadratic with condition number 50, its axes turned by 30 degrees: a long narrow
    # valley that is not aligned with the coordinates (so per-coordinate scaling cannot
    # simply undo it)
    u = _COS * x + _SIN * y
    v = -_SIN * x + _COS * y
    return 0.5 * (u**2 + ILL_CONDITION * v**2)


def _quadratic(x: Tensor, y: Tensor) -> Tensor:
    return 0.5 * (x**2 + y**2)


FUNCTIONS: dict[str, TestFunction] = {
    f.key: f
    for f in (
        TestFunction(
            "rosenbrock",
            "Rosenbrock",
            _rosenbrock,
            ((1.0, 1.0),),
            (-2.0, 2.0, -1.0, 3.0),
            (-1.5, 2.0),
            0.0,
            "A curved, flat-bottomed valley along y = x²: easy to find, slow to follow to (1, 1).",
        ),
        TestFunction(
            "beale",
            "Beale",
            _beale,
            ((3.0, 0.5),),
            (-4.5, 4.5, -4.5, 4.5),
            (1.0, 1.5),
            0.0,
            "Sharp ridges and flat plateaus; the minimum (3, 0.5) sits in a narrow curved trough.",
        ),
        TestFunction(
            "himmelblau",
            "Himmelblau",
            _himmelblau,
            ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
            (-5.0, 5.0, -5.0, 5.0),
            (0.0, 0.0),
            0.0,
            "Four equal minima: which one an optimizer ends in depends on its path.",
        ),
        TestFunction(
            "rastrigin",
            "Rastrigin",
            _rastrigin,
            ((0.0, 0.0),),
            (-5.12, 5.12, -5.12, 5.12),
            (2.8, -3.3),
            0.0,
            "A bowl covered in local minima: small steps get stuck in the nearest dimple.",
        ),
        TestFunction(
            "saddle",
            "Saddle x² − y²",
            _saddle,
            (),
            (-2.0, 2.0, -2.0, 2.0),
            (-1.5, 0.01),
            None,
            "No minimum: the point (0, 0) is a saddle. Started almost on the ridge, plain SGD "
            "lingers near the saddle; momentum and adaptive methods escape sooner.",
        ),
        TestFunction(
            "ill_conditioned",
            "Ill-conditioned quadratic",
            _ill_conditioned,
            ((0.0, 0.0),),
            (-3.0, 3.0, -3.0, 3.0),
            (-2.5, 1.0),
            0.0,
            f"A long narrow valley (condition number {ILL_CONDITION:g}, turned 30°): SGD zig-zags "
            "across it, momentum smooths the zig-zag.",
        ),
        TestFunction(
            "quadratic",
            "Convex quadratic",
            _quadratic,
            ((0.0, 0.0),),
            (-2.0, 2.0, -2.0, 2.0),
            (-1.5, 1.5),
            0.0,
            "A round bowl: every sensible optimizer heads straight for (0, 0).",
        ),
    )
}


def get_function(key: str) -> TestFunction:
    """The test function called ``key``; ValueError lists the known keys otherwise."""
    try:
        return FUNCTIONS[key]
    except KeyError:
        raise ValueError(f"unknown test function {key!r}; known: {', '.join(FUNCTIONS)}") from None


def function_grid(
    fn: TestFunction, resolution: int = 200, extent: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``xs, ys, z`` with ``z[iy, ix] = f(xs[ix], ys[iy])`` over the extent (float64)."""
    x0, x1, y0, y1 = extent if extent is not None else fn.extent
    xs = torch.linspace(x0, x1, resolution, dtype=torch.float64)
    ys = torch.linspace(y0, y1, resolution, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    with torch.no_grad():
        z = fn(gx, gy)
    return xs.numpy(), ys.numpy(), z.numpy()


def log_levels(z: np.ndarray, n: int = 12, floor: float | None = None) -> tuple[np.ndarray, float]:
    """``n`` log-spaced contour levels for ``z`` and the offset they are relative to.

    Levels are ``offset + 10**k`` for log-spaced ``k`` between a small height above the
    lowest value and the highest value, so the contours crowd where the function is flat
    (near minima) instead of on its steep walls. ``offset`` is ``floor`` if given (the known
    minimum value) else the grid's minimum.
    """
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return np.zeros(0), 0.0
    offset = float(finite.min()) if floor is None else float(floor)
    span = float(finite.max()) - offset
    if span <= 0:
        return np.asarray([offset]), offset
    lo = max(span * 1e-4, 1e-12)
    return offset + np.logspace(math.log10(lo), math.log10(span), n), offset


class Runner:
    """One optimizer walking on a test function: parameter, optimizer, schedule, history."""

    def __init__(
        self,
        fn: TestFunction,
        optimizer: OptimizerConfig,
        start: Sequence[float],
        *,
        schedule: ScheduleConfig | None = None,
        total_steps: int = 1000,
        label: str | None = None,
        bound: float | None = None,
    ) -> None:
        self.fn = fn
        self.config = optimizer
        self.label = label or f"{optimizer.kind} lr={optimizer.lr:g}"
        self.param = torch.nn.Parameter(torch.tensor(list(start), dtype=torch.float64))
        self.optimizer = build_optimizer([self.param], optimizer)
        # one "epoch" of total_steps updates, so per-update and per-epoch schedules both run
        self.schedule = LRSchedule(self.optimizer, schedule or Constant(), max(total_steps, 1), 1)
        x0, x1, y0, y1 = fn.extent
        self.bound = bound if bound is not None else 10.0 * max(x1 - x0, y1 - y0)
        self.status = "running"  # running | diverged | left
        loss, grad = self._loss_grad()
        self.positions: list[np.ndarray] = [self.param.detach().numpy().copy()]
        self.losses: list[float] = [loss]
        self.grads: list[np.ndarray] = [grad]
        self.updates: list[np.ndarray] = []
        self.lrs: list[float] = []

    def _loss_grad(self) -> tuple[float, np.ndarray]:
        self.param.grad = None
        loss = self.fn(self.param[0], self.param[1])
        loss.backward()
        grad = self.param.grad
        assert grad is not None  # backward() filled it
        return float(loss.detach()), grad.detach().numpy().copy()

    @property
    def steps(self) -> int:
        return len(self.updates)

    @property
    def done(self) -> bool:
        return self.status != "running"

    def step(self) -> bool:
        """One update; False (and nothing recorded) once the runner has stopped."""
        if self.done:
            return False
        lr = float(self.optimizer.param_groups[0]["lr"])
        before = self.positions[-1]
        # the gradient at the current point is already in param.grad (from _loss_grad)
        self.optimizer.step()
        self.schedule.after_step()
        loss, grad = self._loss_grad()
        pos = self.param.detach().numpy().copy()
        self.positions.append(pos)
        self.losses.append(loss)
        self.grads.append(grad)
        self.updates.append(pos - before)
        self.lrs.append(lr)
        if not (math.isfinite(loss) and np.isfinite(pos).all()):
            self.status = "diverged"
        elif np.abs(pos).max() > self.bound:
            self.status = "left"
        return True

    def arrays(self) -> dict[str, np.ndarray]:
        """History as arrays: ``positions`` (n+1, 2), ``losses`` (n+1), ``grads`` (n+1, 2),
        ``updates`` (n, 2), ``lrs`` (n) and ``distance`` (n+1) to the nearest minimum."""
        pos = np.asarray(self.positions)
        return {
            "positions": pos,
            "losses": np.asarray(self.losses),
            "grads": np.asarray(self.grads),
            "updates": np.asarray(self.updates).reshape(-1, 2),
            "lrs": np.asarray(self.lrs),
            "distance": self.fn.distance_to_minimum(pos),
        }

    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        """The gradient at the current point and the update the optimizer would take next.

        The next update is found by a dry run on copies of the parameter, optimizer and
        schedule (momentum buffers and Adam moments included); the runner does not move.
        """
        if self.done:
            return self.grads[-1], np.zeros(2)
        p, opt = copy.deepcopy((self.param, self.optimizer))
        if opt.param_groups[0]["params"][0] is not p:  # pragma: no cover - torch internals
            raise RuntimeError("optimizer copy does not hold the copied parameter")
        grad = self.param.grad
        assert grad is not None  # every step computes it
        p.grad = grad.detach().clone()
        before = p.detach().clone()
        opt.step()
        return self.grads[-1], (p.detach() - before).numpy()

    @property
    def position(self) -> np.ndarray:
        return self.positions[-1]

    @property
    def loss(self) -> float:
        return self.losses[-1]

    @property
    def distance(self) -> float:
        return float(self.fn.distance_to_minimum(self.position)[0])


class Race:
    """Several optimizers started from one point on one function, advanced together."""

    def __init__(
        self,
        fn: TestFunction | str,
        optimizers: Sequence[OptimizerConfig],
        start: Sequence[float] | None = None,
        *,
        schedule: ScheduleConfig | Sequence[ScheduleConfig] | None = None,
        total_steps: int = 1000,
        labels: Sequence[str] | None = None,
    ) -> None:
        self.fn = get_function(fn) if isinstance(fn, str) else fn
        self.start = tuple(float(v) for v in (start if start is not None else self.fn.start))
        if len(self.start) != 2 or not all(math.isfinite(v) for v in self.start):
            raise ValueError(f"start must be two finite numbers (x, y), got {start!r}")
        if not optimizers:
            raise ValueError("a race needs at least one optimizer")
        schedules: list[Any] = (
            list(schedule) if isinstance(schedule, (list, tuple)) else [schedule] * len(optimizers)
        )
        if len(schedules) != len(optimizers):
            raise ValueError(f"{len(schedules)} schedules for {len(optimizers)} optimizers")
        self.total_steps = total_steps
        self.runners = [
            Runner(
                self.fn,
                opt,
                self.start,
                schedule=sch,
                total_steps=total_steps,
                label=(labels[i] if labels else None),
            )
            for i, (opt, sch) in enumerate(zip(optimizers, schedules, strict=True))
        ]

    @property
    def steps(self) -> int:
        return max(r.steps for r in self.runners)

    @property
    def done(self) -> bool:
        return all(r.done for r in self.runners) or self.steps >= self.total_steps

    def step(self, n: int = 1) -> int:
        """Advance every still-running optimizer by up to ``n`` updates; returns updates done."""
        done = 0
        for _ in range(n):
            if self.steps >= self.total_steps:
                break
            moved = [r.step() for r in self.runners]
            if not any(moved):
                break
            done += 1
        return done


def race(
    fn: TestFunction | str,
    optimizers: Sequence[OptimizerConfig],
    start: Sequence[float] | None = None,
    steps: int = 500,
    schedule: ScheduleConfig | None = None,
) -> Race:
    """Run a whole race of ``steps`` updates and return it (histories in ``race.runners``)."""
    r = Race(fn, optimizers, start, schedule=schedule, total_steps=steps)
    r.step(steps)
    return r
