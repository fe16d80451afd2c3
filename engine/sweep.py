"""Batched sweeps: K runs that share data and architecture trained as one computation.

The K models' weights live side by side in one ``(K, D)`` tensor (each row is one run's
parameters in ``model.parameters()`` order); the forward pass uses batched matmuls
(``torch.baddbmm``), one backward of the summed per-run losses gives every run its own
exact gradient (run ``k``'s loss depends on row ``k`` only), and the optimizers are
vectorised twins of ``torch.optim``'s single-tensor updates with per-run
hyperparameters held as ``(K, 1)`` tensors. Learning rates come from one real
:class:`~engine.optim.LRSchedule` per run, driven on a one-parameter dummy optimizer, so
every schedule (warm-up and plateau included) is exactly torch's.

Fair race by default: every run starts from the weights ``build_model`` makes under
``torch.manual_seed(training.seed)`` and sees the minibatch order of a
``torch.Generator`` seeded with ``training.seed`` -- exactly as :func:`engine.trainer.train`
does. Runs with different seeds (``independent_seeds``) get their own initial weights and
their own batch order: each distinct seed draws its permutation once an epoch, and the runs
of one seed (consecutive rows) share that shuffled data -- when every seed has as many runs
(8 runners x 16 seeds), each seed's block of runs computes its first layer as one product on
its one minibatch. Dropout masks come from one generator per run holding the
global RNG state the run would have had alone, and input jitter from one generator per
run seeded as :class:`~engine.augment.Augmenter` seeds its own, so those runs match too.

What batches: dense, dropout and batch-norm layers with any activation (dense + dropout
networks with relu/leaky_relu/tanh/sigmoid/linear use hand-written gradients, fewer ops
per step than autograd; batch norm and gelu use autograd), every optimizer and schedule,
L1/L2, gradient clipping, early stopping, jitter, different epochs and seeds. What runs
alone (:func:`unbatchable_reason`): conv/maxpool/flatten layers, image augmentation or
mixup, mixed precision, and Muon unless its run asks for the twin (``batched = true``).

:func:`batch_key` says whether a run can be batched (and with which others);
:func:`train_batched` trains one such group through the one training loop
(:func:`engine.loop.drive`) with a :class:`~engine.kernels.BatchedKernel`, and returns the
same :class:`~engine.loop.RunResult` objects and events as :func:`engine.trainer.train`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Sequence

import torch

from . import events as ev
from .batched_optim import BATCHED_OPTIMIZERS, optimizer_group_key, trains_alone_reason
from .config import Dropout, RunConfig
from .control import RunControl
from .data import Dataset, load_dataset
from .kernels import BatchedKernel
from .loop import DriveSettings, RunResult, RunState, drive, failed_result
from .models import build_model, count_params
from .optim import ConstantRate, LRSchedule, build_optimizer
from .optimizers import part_for as optimizer_part
from .outcome import steps_per_epoch
from .rules import Rule, default_rules
from .trainer import boundaries_for, per_update, resolve_device

__all__ = ["batch_key", "unbatchable_reason", "train_batched", "BATCHABLE_OPTIMIZERS"]

BATCHABLE_OPTIMIZERS = frozenset(BATCHED_OPTIMIZERS)


# --------------------------------------------------------------------------- planning
def unbatchable_reason(cfg: RunConfig) -> str | None:
    """Why ``cfg`` must run on its own (None when it can join a batch)."""
    if cfg.model.has_conv or any(layer.type == "flatten" for layer in cfg.model.layers):
        return "conv2d/maxpool/flatten layers (only dense, dropout and batchnorm are batched)"
    aug = cfg.regularization.augmentation
    if aug.active and aug.model_copy(update={"jitter": 0.0}).active:
        return "image augmentation or mixup (only jitter is batched)"
    if cfg.training.mixed_precision:
        return (
            "mixed precision (autocast trains one torch model at a time; the batched engine's "
            "hand-written float32 backward has no reduced-precision path)"
        )
    return trains_alone_reason(cfg.optimizer)  # the optimizer part's own declaration


def batch_key(cfg: RunConfig) -> str | None:
    """Runs with equal keys can share one batched computation; None: not batchable.

    The key holds the dataset, the layer structure (initialisers and dropout rates may
    differ), batch size, device and the evaluation mode. Epochs, seeds, optimizers,
    schedules, penalties, clipping and early stopping may all differ.
    """
    if unbatchable_reason(cfg) is not None:
        return None
    layers = []
    for layer in cfg.model.layers:
        d = layer.model_dump(mode="json")
        d.pop("init", None)
        if isinstance(layer, Dropout):
            d.pop("p")
        layers.append(d)
    key = {
        "dataset": cfg.dataset.model_dump(mode="json"),
        "layers": layers,
        "batch_size": cfg.training.batch_size,
        "device": _device_name(cfg.training.device),
        "eval_train": cfg.training.eval_train,
    }
    return json.dumps(key, sort_keys=True)


def _device_name(name: str) -> str:
    """'auto' and the device it picks batch together; an unavailable one keeps its name
    (the run then fails with the trainer's message)."""
    try:
        return str(resolve_device(name))
    except RuntimeError:
        return name


def _dummy_schedule(cfg: RunConfig, spe: int) -> LRSchedule | ConstantRate:
    """The run's real schedule, driving a one-parameter optimizer: its ``lr`` is the run's rate
    (a constant rate needs no scheduler, nor an optimizer)."""
    if cfg.schedule.kind == "constant" and cfg.schedule.warmup_steps == 0:
        return ConstantRate(cfg.optimizer.lr)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg.optimizer)
    sched = LRSchedule(opt, cfg.schedule, spe, cfg.training.epochs)
    opt.step()  # no gradient: a no-op that tells the schedulers the optimizer has stepped
    return sched


def train_batched(
    cfgs: Sequence[RunConfig],
    run_ids: Sequence[int] | None = None,
    *,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    dataset: Dataset | None = None,
    boundary_every: int = 0,
    boundary_runs: Iterable[int] | None = None,
    weights_every: int = 0,
    weights_runs: Iterable[int] | None = None,
    keep_models: bool = True,
    stats_every: int | None = None,
    extra_rules: Callable[[int, RunConfig], list[Rule]] | None = None,
) -> list[RunResult]:
    """Train runs that share one :func:`batch_key` as one batched computation.

    Emits the same events as :func:`engine.trainer.train` for every run (tagged with its
    id) and returns one :class:`~engine.loop.RunResult` per run, in the given order.
    A run whose loss turns non-finite stops at that step (``Diverged``) and is masked
    out; the others carry on unchanged. Errors become ``Failed`` + ``Finished('failed')``
    events for every run of the group. ``extra_rules(run_id, cfg)`` gives rules each run
    follows after its default ones (a search's pruning, say). Decision boundaries (every
    ``boundary_every`` epochs) are computed only for the run ids in ``boundary_runs`` when given.
    """
    cfgs = list(cfgs)
    run_ids = list(run_ids) if run_ids is not None else list(range(len(cfgs)))
    bus = bus if bus is not None else ev.EventBus()
    control = control if control is not None else RunControl()
    t0 = time.perf_counter()
    keys = {batch_key(c) for c in cfgs}
    if None in keys or len(keys) != 1:
        raise ValueError("train_batched needs runs that share one batch_key (see engine.sweep.batch_key)")
    # rows ordered so every optimizer group is a contiguous block of rows, and within it the
    # runs of one seed (one minibatch order: BatchedKernel shares their first layer's input)
    order = sorted(
        range(len(cfgs)), key=lambda i: (optimizer_group_key(cfgs[i].optimizer), cfgs[i].training.seed, i)
    )
    try:
        ds = dataset if dataset is not None else load_dataset(cfgs[0].dataset)
        dev = resolve_device(cfgs[0].training.device)
        models, generators = [], []
        for i in order:
            _seed_weights(cfgs[i].training.seed, dev)
            models.append(build_model(cfgs[i].model, ds.n_features, ds.n_classes, ds.image_shape))
            generators.append(_dropout_generator(dev))
        rows = [cfgs[i] for i in order]
        kernel = BatchedKernel(rows, ds, models, generators, dev)
    except Exception as exc:  # errors become events, not crashes
        msg = f"{type(exc).__name__}: {exc}"
        out = []
        for c, rid in zip(cfgs, run_ids, strict=True):
            bus.emit(ev.Failed(rid, msg))
            bus.emit(ev.Finished(rid, "failed", 0, 0, time.perf_counter() - t0))
            out.append(failed_result(rid, c, msg, time.perf_counter() - t0))
        return out
    spe = steps_per_epoch(len(ds.y_train), cfgs[0].training.batch_size)
    runs = []
    for row, i in enumerate(order):
        sched = _dummy_schedule(cfgs[i], spe)
        rules = default_rules(cfgs[i], per_update(sched), n_classes=ds.n_classes)
        if extra_rules is not None:
            rules += extra_rules(run_ids[i], cfgs[i])
        run = RunState(cfgs[i], run_ids[i], row, sched, rules, kernel, bus)
        if optimizer_part(cfgs[i].optimizer.kind).has_modes:  # schedule-free: y to train, x to judge
            run.optimizer_mode = functools.partial(kernel.set_mode, row)
        runs.append(run)
    settings = DriveSettings(
        n_train=len(ds.y_train),
        batch_size=cfgs[0].training.batch_size,
        device=dev,
        n_params=count_params(models[0]),
        n_classes=ds.n_classes,
        eval_train=cfgs[0].training.eval_train,
        boundaries=boundaries_for(ds, boundary_every, dev, boundary_runs),
        weights_every=weights_every,
        weights_runs=None if weights_runs is None else frozenset(weights_runs),
        keep_models=keep_models,
        t0=t0,
        stats_every=stats_every,
    )
    results = drive(kernel, runs, settings, bus=bus, control=control)
    by_index = dict(zip(order, results, strict=True))
    return [by_index[i] for i in range(len(cfgs))]


def _seed_weights(seed: int, dev: torch.device) -> None:
    """Seed the random streams a run's initial weights and dropout are drawn from, as
    ``torch.manual_seed(seed)`` does for the trainer. On the CPU that is the CPU generator
    alone: ``torch.manual_seed`` also queues a seed for every accelerator torch knows, and
    records the Python stack for each while none is initialised (~0.2 ms a call, 26 ms for
    128 runs), for streams a CPU run never draws from."""
    if dev.type == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def _dropout_generator(dev: torch.device) -> torch.Generator:
    """The random stream dropout would use alone: a copy of the device's default generator."""
    if dev.type == "cuda":
        g = torch.Generator(device=dev)
        g.set_state(torch.cuda.get_rng_state(dev))
    else:  # CPU (other devices draw on the CPU and move the masks)
        g = torch.Generator()
        g.set_state(torch.get_rng_state())
    return g
