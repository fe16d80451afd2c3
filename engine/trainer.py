"""The training loop: one :class:`~engine.config.RunConfig` in, events out.

:func:`train` runs synchronously in the calling thread (the GUI calls it from its worker
thread, the CLI and tests directly). It is steered through a :class:`RunControl`
(stop, pause, resume, advance N steps, change the LR, slow motion) that another thread
may use at any time, and it reports through an :class:`~engine.events.EventBus`.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import events as ev
from .augment import Augmenter
from .config import RunConfig
from .data import Dataset, load_dataset
from .models import build_model, count_params
from .optim import LRSchedule, build_optimizer

__all__ = ["RunControl", "RunResult", "Prepared", "prepare", "train", "resolve_device", "evaluate"]


class RunControl:
    """Cooperative control of a run, safe to call from any thread.

    The training thread calls :meth:`checkpoint` before every update; it returns False
    once :meth:`stop` was called, and blocks while paused (unless :meth:`advance`
    granted steps).
    """

    def __init__(self, *, start_paused: bool = False) -> None:
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._paused = start_paused
        self._budget = 0
        self._pending_lr: float | None = None
        self.delay = 0.0

    # -- called from the controlling thread
    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._budget = 0

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._budget = 0
            self._cond.notify_all()

    def advance(self, steps: int = 1) -> None:
        """While paused, let exactly ``steps`` more updates run, then pause again."""
        with self._cond:
            self._paused = True
            self._budget += max(int(steps), 0)
            self._cond.notify_all()

    def set_lr(self, lr: float) -> None:
        """Use ``lr`` from the next update on (the schedule is rescaled to match)."""
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"learning rate must be a positive finite number, got {lr}")
        self._pending_lr = float(lr)

    def set_delay(self, seconds: float) -> None:
        """Slow motion: wait this long before every update (0 is full speed)."""
        self.delay = max(float(seconds), 0.0)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return self._paused

    # -- called from the training thread
    def checkpoint(self) -> bool:
        """Block while paused; False once a stop was requested."""
        if self._stop.is_set():
            return False
        if self._paused:
            with self._cond:
                while self._paused and self._budget == 0 and not self._stop.is_set():
                    self._cond.wait(0.05)
                if self._paused and self._budget > 0:
                    self._budget -= 1
        if self.delay > 0:
            self._stop.wait(self.delay)
        return not self._stop.is_set()

    def take_lr(self) -> float | None:
        lr, self._pending_lr = self._pending_lr, None
        return lr


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
class RunResult:
    """What a finished run leaves behind (besides its events)."""

    run: int
    label: str
    reason: ev.FinishReason
    epochs: list[ev.EpochEnd]
    step_lr: np.ndarray
    step_loss: np.ndarray
    seconds: float
    best_epoch: int | None
    model: nn.Module | None = field(repr=False, default=None)
    error: str | None = None
    diverged_step: int | None = None
    steps_per_epoch: int = 0

    @property
    def final(self) -> ev.EpochEnd | None:
        return self.epochs[-1] if self.epochs else None


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
    spe = math.ceil(n / cfg.training.batch_size)
    sched = LRSchedule(opt, cfg.schedule, spe, cfg.training.epochs)
    return Prepared(
        cfg, ds, dev, model, opt, sched,
        torch.as_tensor(ds.x_train, device=dev), torch.as_tensor(ds.y_train, device=dev),
        torch.as_tensor(ds.x_val, device=dev), torch.as_tensor(ds.y_val, device=dev), spe,
    )  # fmt: skip


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 8192) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on ``x, y``."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for i in range(0, len(y), chunk):
        logits = model(x[i : i + chunk]).float()
        yb = y[i : i + chunk]
        total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    n = max(len(y), 1)
    return total_loss / n, correct / n


def boundary_grid(ds: Dataset, resolution: int = 80, pad: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Grid axes covering all of a 2D dataset's points with a margin."""
    pts = np.concatenate([ds.x_train, ds.x_val])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span * 0.2, hi + pad * span * 0.2
    return (
        np.linspace(lo[0], hi[0], resolution, dtype=np.float32),
        np.linspace(lo[1], hi[1], resolution, dtype=np.float32),
    )


@torch.inference_mode()
def boundary_probs(model: nn.Module, xs: np.ndarray, ys: np.ndarray, device: torch.device) -> np.ndarray:
    """Class probabilities on the grid, shape (len(ys), len(xs), classes)."""
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), device=device)
    was_training = model.training
    model.eval()
    probs = torch.softmax(model(pts).float(), 1).cpu().numpy()
    model.train(was_training)
    return probs.reshape(len(ys), len(xs), -1)


def _weight_params(model: nn.Module) -> list[torch.Tensor]:
    """Weights that L1/L2 penalise: matrices and conv kernels, not biases or norm scales."""
    return [p for name, p in model.named_parameters() if p.ndim > 1]


def diverge_limit(first_loss: float, factor: float | None) -> float:
    """The loss above which a run counts as diverged (``math.inf``: NaN/Inf only)."""
    if factor is None or not math.isfinite(first_loss):
        return math.inf
    return factor * max(abs(first_loss), 1.0)


def flat_params(model: nn.Module) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).cpu().numpy().copy()


def train(
    cfg: RunConfig,
    *,
    run_id: int = 0,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    dataset: Dataset | None = None,
    prepared: Prepared | None = None,
    boundary_every: int = 0,
    weights_every: int = 0,
    on_step: Callable[[int], None] | None = None,
    keep_model: bool = True,
) -> RunResult:
    """Train one run to completion, a stop, early stopping or divergence.

    Errors in the run become a :class:`~engine.events.Failed` then a ``Finished('failed')``
    event; they are not raised. ``boundary_every`` (epochs) emits decision-boundary grids
    for 2D sets; ``weights_every`` (updates) emits parameter vectors for trajectories.
    """
    bus = bus if bus is not None else ev.EventBus()
    control = control if control is not None else RunControl()
    t0 = time.perf_counter()
    lrs: list[float] = []
    losses: list[float] = []
    epochs_done: list[ev.EpochEnd] = []
    step = 0
    epoch = 0
    try:
        p = prepared if prepared is not None else prepare(cfg, dataset)
    except Exception as exc:  # bad data, missing device, ...
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError | RuntimeError) else str(exc)
        bus.emit(ev.Failed(run_id, msg))
        bus.emit(ev.Finished(run_id, "failed", 0, 0, time.perf_counter() - t0))
        return RunResult(run_id, cfg.describe(), "failed", [], np.zeros(0), np.zeros(0),
                         time.perf_counter() - t0, None, None, msg, None, 0)  # fmt: skip
    tc, reg = cfg.training, cfg.regularization
    model, opt, sched = p.model, p.optimizer, p.schedule
    dev = p.device
    x_tr, y_tr, x_va, y_va = p.x_train, p.y_train, p.x_val, p.y_val
    n, bs, spe = len(y_tr), tc.batch_size, p.steps_per_epoch
    gen = torch.Generator().manual_seed(tc.seed)
    augmenter = Augmenter(reg.augmentation, p.dataset, seed=tc.seed) if reg.augmentation.active else None
    weights = _weight_params(model) if (reg.l1 or reg.l2) else []
    use_amp = tc.mixed_precision and dev.type in ("cuda", "cpu")
    amp_dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if use_amp and dev.type == "cuda" else None
    es = reg.early_stopping
    es_sign = -1.0 if es.monitor.endswith("acc") else 1.0
    best_val, best_epoch, best_state, bad_epochs = math.inf, None, None, 0
    reason: ev.FinishReason = "completed"
    diverged_step = None
    xs = ys = None
    if boundary_every and p.dataset.is_2d:
        xs, ys = boundary_grid(p.dataset)
    bus.emit(ev.RunStarted(
        run_id, cfg.describe(), str(dev), count_params(model), spe, spe * tc.epochs, tc.epochs,
        p.dataset.n_classes, cfg.model_dump(mode="json"),
    ))  # fmt: skip
    if xs is not None:
        bus.emit(ev.Boundary(run_id, 0, xs, ys, boundary_probs(model, xs, ys, dev)))
    if weights_every:
        bus.emit(ev.Weights(run_id, 0, 0, flat_params(model)))
    group0 = opt.param_groups[0]
    loss_limit: float | None = None
    params = [q for g in opt.param_groups for q in g["params"]]
    model.train()
    try:
        for epoch in range(1, tc.epochs + 1):
            te = time.perf_counter()
            perm = torch.randperm(n, generator=gen).to(dev)
            run_loss, run_correct = 0.0, 0
            for b in range(spe):
                if not control.checkpoint():
                    reason = "stopped"
                    break
                new_lr = control.take_lr()
                if new_lr is not None:
                    sched.scale(new_lr / group0["lr"])
                idx = perm[b * bs : (b + 1) * bs]
                xb, yb = x_tr[idx], y_tr[idx]
                lr = group0["lr"]
                if augmenter is not None:
                    xb, yb_soft = augmenter(xb, yb)
                else:
                    yb_soft = None
                if use_amp:
                    with torch.autocast(dev.type, dtype=amp_dtype):
                        logits = model(xb)
                    logits = logits.float()
                else:
                    logits = model(xb)
                loss = F.cross_entropy(logits, yb if yb_soft is None else yb_soft)
                if weights:
                    if reg.l2:
                        loss = loss + reg.l2 * sum((w * w).sum() for w in weights)
                    if reg.l1:
                        loss = loss + reg.l1 * sum(w.abs().sum() for w in weights)
                for q in params:
                    q.grad = None
                if scaler is not None:
                    scaler.scale(loss).backward()
                    if reg.grad_clip:
                        scaler.unscale_(opt)
                        nn.utils.clip_grad_norm_(model.parameters(), reg.grad_clip)
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    if reg.grad_clip:
                        nn.utils.clip_grad_norm_(model.parameters(), reg.grad_clip)
                    opt.step()
                sched.after_step()
                loss_v = loss.item()
                step += 1
                lrs.append(lr)
                losses.append(loss_v)
                if loss_limit is None:
                    loss_limit = diverge_limit(loss_v, tc.diverge_factor)
                if not math.isfinite(loss_v) or loss_v > loss_limit:
                    reason = "diverged"
                    diverged_step = step
                    bus.emit(ev.Step(run_id, step, epoch, lr, loss_v))
                    bus.emit(ev.Diverged(run_id, step, epoch, loss_v))
                    break
                run_loss += loss_v * len(yb)
                if not tc.eval_train:
                    run_correct += int((logits.argmax(1) == yb).sum())
                if bus:
                    bus.emit(ev.Step(run_id, step, epoch, lr, loss_v))
                if weights_every and step % weights_every == 0:
                    bus.emit(ev.Weights(run_id, step, epoch, flat_params(model)))
                if on_step is not None:
                    on_step(step)
            if reason in ("stopped", "diverged"):
                if reason == "stopped" and b == 0:
                    epoch -= 1  # nothing of this epoch ran
                break
            if tc.eval_train:
                tr_loss, tr_acc = evaluate(model, x_tr, y_tr)
            else:
                tr_loss, tr_acc = run_loss / n, run_correct / n
            va_loss, va_acc = evaluate(model, x_va, y_va) if len(y_va) else (math.nan, math.nan)
            metrics = {"train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss, "val_acc": va_acc}
            epoch_event = ev.EpochEnd(
                run_id, epoch, step, lr, tr_loss, tr_acc, va_loss, va_acc, time.perf_counter() - te
            )
            epochs_done.append(epoch_event)
            bus.emit(epoch_event)
            if not math.isfinite(tr_loss):
                reason, diverged_step = "diverged", step
                bus.emit(ev.Diverged(run_id, step, epoch, tr_loss))
                break
            reduced = sched.after_epoch(metrics)
            if reduced is not None:
                bus.emit(ev.LRReduced(run_id, epoch, step, reduced[0], reduced[1]))
            if xs is not None and epoch % boundary_every == 0:
                bus.emit(ev.Boundary(run_id, epoch, xs, ys, boundary_probs(model, xs, ys, dev)))
            if es.enabled:
                value = es_sign * metrics[es.monitor]
                if value < best_val - es.min_delta:
                    best_val, best_epoch, bad_epochs = value, epoch, 0
                    if es.restore_best:
                        best_state = copy.deepcopy(model.state_dict())
                else:
                    bad_epochs += 1
                    if bad_epochs >= es.patience:
                        reason = "early_stopped"
                        if es.restore_best and best_state is not None:
                            model.load_state_dict(best_state)
                        bus.emit(ev.EarlyStopped(
                            run_id, epoch, best_epoch, es_sign * best_val, es.monitor,
                            es.restore_best and best_state is not None,
                        ))  # fmt: skip
                        break
    except Exception as exc:  # errors become events, not crashes
        msg = f"{type(exc).__name__}: {exc}"
        bus.emit(ev.Failed(run_id, msg))
        seconds = time.perf_counter() - t0
        bus.emit(ev.Finished(run_id, "failed", len(epochs_done), step, seconds))
        return RunResult(run_id, cfg.describe(), "failed", epochs_done, np.asarray(lrs),
                         np.asarray(losses), seconds, best_epoch, model if keep_model else None,
                         msg, None, spe)  # fmt: skip
    if best_epoch is None and epochs_done:
        key = "val_loss" if es.monitor == "val_loss" else es.monitor
        vals = [getattr(e, key) for e in epochs_done]
        finite = [v if math.isfinite(v) else (math.inf if es_sign > 0 else -math.inf) for v in vals]
        best_epoch = epochs_done[int(np.argmin(np.asarray(finite) * es_sign))].epoch
    seconds = time.perf_counter() - t0
    bus.emit(ev.Finished(run_id, reason, len(epochs_done), step, seconds))
    return RunResult(
        run_id, cfg.describe(), reason, epochs_done, np.asarray(lrs, dtype=np.float64),
        np.asarray(losses, dtype=np.float64), seconds, best_epoch,
        model if keep_model else None, None, diverged_step, spe,
    )  # fmt: skip
