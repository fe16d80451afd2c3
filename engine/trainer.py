"""Training one run: one :class:`~engine.config.RunConfig` in, events out.

:func:`train` runs synchronously in the calling thread (the GUI calls it from its worker
thread, the CLI and tests directly): it builds the run (:func:`prepare`) and hands it to
the one training loop, :func:`engine.loop.drive`, with a :class:`~engine.kernels.TorchKernel`
(any architecture, ``torch.optim``). It is steered through a :class:`RunControl` (stop,
pause, resume, advance N steps, change the LR, slow motion) that another thread may use
at any time, and it reports through an :class:`~engine.events.EventBus`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import events as ev
from .config import RunConfig
from .control import RunControl
from .data import Dataset, load_dataset
from .kernels import TorchKernel, evaluate, flat_params
from .loop import Boundaries, DriveSettings, RunResult, RunState, boundary_grid, drive, failed_result
from .models import build_model, count_params
from .optim import ConstantRate, LRSchedule, build_optimizer
from .optimizers import part_for as optimizer_part
from .outcome import steps_per_epoch
from .rules import Rule, default_rules, diverge_limit

__all__ = [
    "RunControl",
    "RunResult",
    "Prepared",
    "prepare",
    "train",
    "resolve_device",
    "evaluate",
    "flat_params",
    "diverge_limit",
    "dataset_boundary_grid",
]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU. Asking for a missing one fails clearly."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device = 'cuda' but no CUDA GPU is available; use 'auto' or 'cpu'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("training.device = 'mps' but Apple MPS is not available; use 'auto' or 'cpu'")
    return torch.device(name)


@dataclass
class Prepared:
    """A run's built pieces: dataset tensors on the device, model, optimizer, schedule."""

    cfg: RunConfig
    dataset: Dataset
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    steps_per_epoch: int


def prepare(cfg: RunConfig, dataset: Dataset | None = None, device: torch.device | None = None) -> Prepared:
    """Build data, model (initialised from ``training.seed``), optimizer and schedule."""
    ds = dataset if dataset is not None else load_dataset(cfg.dataset)
    dev = device if device is not None else resolve_device(cfg.training.device)
    torch.manual_seed(cfg.training.seed)
    model = build_model(cfg.model, ds.n_features, ds.n_classes, ds.image_shape).to(dev)
    opt = build_optimizer(model.parameters(), cfg.optimizer, fused=dev.type in ("cpu", "cuda"))
    n = len(ds.y_train)
    spe = steps_per_epoch(n, cfg.training.batch_size)
    sched = LRSchedule(opt, cfg.schedule, spe, cfg.training.epochs)
    return Prepared(
        cfg,
        ds,
        dev,
        model,
        opt,
        sched,
        torch.as_tensor(ds.x_train, device=dev),
        torch.as_tensor(ds.y_train, device=dev),
        torch.as_tensor(ds.x_val, device=dev),
        torch.as_tensor(ds.y_val, device=dev),
        spe,
    )


def dataset_boundary_grid(ds: Dataset, resolution: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Grid axes covering all of a 2D dataset's points with a margin."""
    return boundary_grid(ds.x_train, ds.x_val, resolution)


BOUNDARY_PICTURES = 40  # per run: smooth enough to watch, cheap for the engine


def boundary_every(runs: Sequence[RunConfig], pictures: int = BOUNDARY_PICTURES) -> int:
    """Epochs between decision-boundary pictures: the longest of ``runs`` gets about
    ``pictures`` of them (at least one per epoch); 0 when no run trains on 2D data."""
    if not any(r.dataset.is_2d for r in runs):
        return 0
    return max(1, max(r.training.epochs for r in runs) // max(int(pictures), 1))


def boundaries_for(
    ds: Dataset, every: int, device: torch.device, runs: Iterable[int] | None = None
) -> Boundaries | None:
    """Decision-boundary pictures every ``every`` epochs, for 2D sets (None otherwise), of
    the run ids ``runs`` (None: every run)."""
    if not every or not ds.is_2d:
        return None
    xs, ys = dataset_boundary_grid(ds)
    gx, gy = np.meshgrid(xs, ys)
    grid = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), device=device)
    return Boundaries(every, xs, ys, grid, None if runs is None else frozenset(runs))


def per_update(schedule: LRSchedule | ConstantRate) -> bool:
    """Whether a schedule changes the rate between updates (it must be stepped each one)."""
    return schedule.main is not None or schedule.warmup is not None


def train(
    cfg: RunConfig,
    *,
    run_id: int = 0,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    dataset: Dataset | None = None,
    prepared: Prepared | None = None,
    boundary_every: int = 0,
    boundary_runs: Iterable[int] | None = None,
    weights_every: int = 0,
    weights_runs: Iterable[int] | None = None,
    on_step: Callable[[int], None] | None = None,
    keep_model: bool = True,
    stats_every: int | None = None,
    extra_rules: Callable[[int, RunConfig], list[Rule]] | None = None,
) -> RunResult:
    """Train one run to completion, a stop, early stopping or divergence.

    Errors in the run become a :class:`~engine.events.Failed` then a ``Finished('failed')``
    event; they are not raised. ``boundary_every`` (epochs) emits decision-boundary grids
    for 2D sets (only if ``run_id`` is in ``boundary_runs``, when given); ``weights_every`` (updates) emits parameter vectors for trajectories,
    the last one always the returned model's weights. ``stats_every`` (updates; None: the
    default cadence, 0: off) emits per-layer :class:`~engine.events.LayerStats`.
    """
    bus = bus if bus is not None else ev.EventBus()
    control = control if control is not None else RunControl()
    t0 = time.perf_counter()
    try:
        p = prepared if prepared is not None else prepare(cfg, dataset)
    except Exception as exc:  # bad data, missing device, ...
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError | RuntimeError) else str(exc)
        bus.emit(ev.Failed(run_id, msg))
        bus.emit(ev.Finished(run_id, "failed", 0, 0, time.perf_counter() - t0))
        return failed_result(run_id, cfg, msg, time.perf_counter() - t0)
    kernel = TorchKernel(
        cfg, p.dataset, p.model, p.optimizer, (p.x_train, p.y_train, p.x_val, p.y_val), p.device
    )
    rules = default_rules(cfg, per_update(p.schedule), n_classes=p.dataset.n_classes)
    if extra_rules is not None:  # after the default ones (see engine.sweep.train_batched)
        rules += extra_rules(run_id, cfg)
    run = RunState(cfg, run_id, 0, p.schedule, rules, kernel, bus)
    part = optimizer_part(cfg.optimizer.kind)
    if part.has_modes:  # e.g. schedule-free: trained at one set of weights, evaluated at another
        run.optimizer_mode = functools.partial(part.set_mode, p.optimizer)
    settings = DriveSettings(
        n_train=len(p.y_train),
        batch_size=cfg.training.batch_size,
        device=p.device,
        n_params=count_params(p.model),
        n_classes=p.dataset.n_classes,
        eval_train=cfg.training.eval_train,
        boundaries=boundaries_for(p.dataset, boundary_every, p.device, boundary_runs),
        weights_every=weights_every,
        weights_runs=None if weights_runs is None else frozenset(weights_runs),
        on_step=on_step,
        keep_models=True,
        t0=t0,
        stats_every=stats_every,
    )
    (result,) = drive(kernel, [run], settings, bus=bus, control=control)
    if not keep_model:
        result.model = None
    elif result.model is None:
        result.model = p.model
    return result
