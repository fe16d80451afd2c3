"""Step kernels: how one minibatch update is computed, for the loop in :mod:`engine.loop`.

:class:`TorchKernel` trains one run of any architecture with its ``torch.optim``
optimizer (mixed precision, augmentation, clipping, L1/L2). :class:`BatchedKernel`
trains K runs that share data and layer structure as one computation: their weights are
the rows of one ``(K, D)`` tensor, the forward pass uses batched matmuls, one backward
gives every run its own exact gradient, and the vectorised optimizers of
:mod:`engine.batched_optim` update each row as ``torch.optim`` would update that run
alone. Both work on *rows* (run ``k`` is row ``k``; a lone run is row 0).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import Augmenter
from .batched_optim import BatchedOptimizer, build_batched_optimizer, column, optimizer_group_key
from .config import BatchNorm, Dense, Dropout, RunConfig
from .data import Dataset
from .inside import (
    PROBE_SIZE,
    compute_layer_stats,
    model_layers,
    sequential_outputs,
    torch_effective_lr,
    torch_step_multiplier,
)

__all__ = ["TorchKernel", "BatchedKernel", "weight_params", "evaluate", "boundary_probs", "flat_params"]


def weight_params(model: nn.Module) -> list[torch.Tensor]:
    """Weights that L1/L2 penalise: matrices and conv kernels, not biases or norm scales."""
    return [p for p in model.parameters() if p.ndim > 1]


def flat_params(model: nn.Module) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).cpu().numpy().copy()


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 8192) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on ``x, y``."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for i in range(0, len(y), chunk):
        logits = model(x[i : i + chunk]).float()
        yb = y[i : i + chunk]
        # summed in float64: the mean does not depend on how a kernel orders the additions
        total_loss += float(F.cross_entropy(logits, yb, reduction="none").sum(dtype=torch.float64))
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    n = max(len(y), 1)
    return total_loss / n, correct / n


@torch.inference_mode()
def boundary_probs(model: nn.Module, points: torch.Tensor) -> np.ndarray:
    """Class probabilities of ``model`` at ``points`` (N, 2), shape (N, classes)."""
    was_training = model.training
    model.eval()
    probs = torch.softmax(model(points).float(), 1).cpu().numpy()
    model.train(was_training)
    return probs


def _penalty(weights: Sequence[torch.Tensor], l1: float, l2: float) -> torch.Tensor | float:
    """The L1/L2 terms added to the loss (the trainer reports the penalised loss)."""
    out: torch.Tensor | float = 0.0
    if l2:
        out = out + l2 * sum((w * w).sum() for w in weights)
    if l1:
        out = out + l1 * sum(w.abs().sum() for w in weights)
    return out


@torch.no_grad()
def soft_threshold_(weight: torch.Tensor, threshold: torch.Tensor) -> None:
    """L1's proximal step, in place: ``sign(w) * max(|w| - threshold, 0)``.

    Applied after the optimizer's update with ``threshold = lr * l1`` (proximal gradient
    descent), it sets weights exactly to zero, which the L1 term's subgradient in the loss
    never does; both kernels use it, so L1 never enters the gradient.
    """
    weight.copy_(weight.sign() * (weight.abs() - threshold).clamp_(min=0.0))


class TorchKernel:
    """One run, any architecture, updated by its ``torch.optim`` optimizer.

    The learning rate lives in the optimizer (its :class:`~engine.optim.LRSchedule`
    sets it), so :meth:`step` ignores ``lrs``.
    """

    def __init__(
        self,
        cfg: RunConfig,
        dataset: Dataset,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
        device: torch.device,
    ) -> None:
        tc, reg = cfg.training, cfg.regularization
        self.model, self.optimizer, self.device = model, optimizer, device
        self.x_train, self.y_train, self.x_val, self.y_val = tensors
        self.augmenter = (
            Augmenter(reg.augmentation, dataset, seed=tc.seed) if reg.augmentation.active else None
        )
        self.l1, self.l2, self.grad_clip = reg.l1, reg.l2, reg.grad_clip
        self.penalised = weight_params(model) if (reg.l1 or reg.l2) else []
        self.use_amp = tc.mixed_precision and device.type in ("cuda", "cpu")
        self.amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp and device.type == "cuda" else None
        # in the model's order, as the layer slices (engine.inside.model_layers) read the flat
        # vector: an optimizer may group them otherwise (Muon + AdamW: the matrices first)
        self.params = list(model.parameters())
        self.perm = torch.zeros(0, dtype=torch.long)
        self.running_metrics = not tc.eval_train  # train metrics from the updates themselves
        self.loss_sum = 0.0
        self.correct = 0
        self._before: torch.Tensor | None = None
        self._layers: list | None = None
        model.train()

    def begin_epoch(self, perms: Sequence[torch.Tensor]) -> None:
        self.perm = perms[0].to(self.device)
        self.loss_sum, self.correct = 0.0, 0

    def step(self, lo: int, hi: int, lrs: list[float]) -> list[float]:
        model, opt = self.model, self.optimizer
        idx = self.perm[lo:hi]
        xb, yb = self.x_train[idx], self.y_train[idx]
        target: torch.Tensor = yb
        if self.augmenter is not None:
            xb, soft = self.augmenter(xb, yb)
            if soft is not None:
                target = soft
        if self.use_amp:
            with torch.autocast(self.device.type, dtype=self.amp_dtype):
                logits = model(xb)
            logits = logits.float()
        else:
            logits = model(xb)
        loss = F.cross_entropy(logits, target)
        if self.l2:
            loss = loss + _penalty(self.penalised, 0.0, self.l2)
        l1_term = 0.0
        if self.l1:  # reported with the loss; applied as a proximal step after the update
            with torch.no_grad():
                l1_term = float(_penalty(self.penalised, self.l1, 0.0))
        for q in self.params:
            q.grad = None
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.grad_clip:
                self.scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
        else:
            loss.backward()
            if self.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
            opt.step()
        if self.l1:
            threshold = torch.tensor(opt.param_groups[0]["lr"] * self.l1, dtype=torch.float32)
            for w in self.penalised:
                soft_threshold_(w, threshold.to(w.device))
        value = loss.item() + l1_term
        if self.running_metrics:
            self.loss_sum += value * len(yb)
            self.correct += int((logits.argmax(1) == yb).sum())
        return [value]

    def epoch_metrics(self, eval_train: bool) -> list[tuple[float, float, float, float]]:
        n = len(self.y_train)
        if eval_train:
            tr_loss, tr_acc = evaluate(self.model, self.x_train, self.y_train)
        else:
            tr_loss, tr_acc = self.loss_sum / n, self.correct / n
        va_loss, va_acc = (
            evaluate(self.model, self.x_val, self.y_val) if len(self.y_val) else (math.nan, math.nan)
        )
        return [(tr_loss, tr_acc, va_loss, va_acc)]

    def boundary(self, grid: torch.Tensor, rows: Sequence[int] | None = None) -> np.ndarray:
        probs = boundary_probs(self.model, grid)[None]
        return probs if rows is None else probs[[0] * len(rows)]

    def weights(self, row: int) -> np.ndarray:
        return flat_params(self.model)

    def snapshot(self, row: int) -> Any:
        return copy.deepcopy(self.model.state_dict())

    def restore(self, row: int, state: Any) -> None:
        self.model.load_state_dict(state)

    def retire(self, row: int) -> None:
        """Nothing to free: the model is the run's result."""

    def final_model(self, row: int) -> nn.Module:
        return self.model

    # -- inside the run (engine.inside)
    def _flat(self, grads: bool = False) -> torch.Tensor:
        with torch.no_grad():
            parts = [
                (q.grad if q.grad is not None else torch.zeros_like(q)) if grads else q for q in self.params
            ]
            return torch.cat([t.detach().reshape(-1).float() for t in parts])[None]

    def mark_update(self) -> None:
        """Remember the weights before the next update (for its update-to-weight ratio)."""
        self._before = self._flat()

    def layer_stats(self, lrs: list[float], rows: list[int], observed: bool) -> list[dict]:
        """Per-layer statistics after the last update at rate ``lrs[0]`` (see :mod:`engine.inside`);
        ``observed``: :meth:`mark_update` was called before that update."""
        if self._layers is None:
            self._layers = model_layers(self.model)  # type: ignore[arg-type]
        wanted = {spec.output for spec in self._layers}
        outputs = sequential_outputs(self.model, self.x_train[:PROBE_SIZE], wanted)  # type: ignore[arg-type]
        effective = torch_effective_lr(self.optimizer, lrs[0], list(self.model.parameters()))
        (stats,) = compute_layer_stats(
            self._layers,
            self._before if observed else None,
            self._flat(),
            self._flat(grads=True),
            effective,
            outputs,
        )
        stats["step_multiplier"] = torch_step_multiplier(self.optimizer)
        return [stats]


# --------------------------------------------------------------------------- the batched MLP
_ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,  # negative_slope 0.01, as nn.LeakyReLU
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": F.gelu,
    "linear": None,
}
#: the same activations computed in place (bit for bit the same values)
_IN_PLACE = {
    "relu": torch.relu_,
    "leaky_relu": F.leaky_relu_,
    "tanh": torch.tanh_,
    "sigmoid": torch.sigmoid_,
}


@dataclass
class _Op:
    kind: str  # "dense" | "act" | "dropout" | "bn"
    weight: int = -1  # leaf index of the weight
    bias: int = -1  # leaf index of the bias
    act: str = "linear"
    layer: int = -1  # dropout / batch-norm index
    momentum: float = 0.1
    units: int = 0


class BatchedNet:
    """K copies of one MLP, weights in the rows of ``params`` (K, D), in ``model.parameters()`` order."""

    def __init__(
        self, cfg: RunConfig, models: Sequence[nn.Module], dropout_ps: list[list[float]], device: torch.device
    ) -> None:
        self.K = K = len(models)
        self.shapes = [tuple(p.shape) for p in models[0].parameters()]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.params = torch.stack(
            [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in models]
        ).to(device)
        self.grads = torch.zeros_like(self.params)
        self.leaves = self.split(self.params)
        self.grad_views = self.split(self.grads)
        self.weight_leaves = [i for i, s in enumerate(self.shapes) if len(s) > 1]
        self.ops: list[_Op] = []
        self.bn_mean: list[torch.Tensor] = []
        self.bn_var: list[torch.Tensor] = []
        self.dropout_keep: list[torch.Tensor] = []
        self.dropout_p = dropout_ps
        self.generators: list[torch.Generator] = []
        leaf = units = n_dropout = 0
        for layer in cfg.model.layers:  # mirrors engine.models.build_model for dense/dropout/batchnorm
            if isinstance(layer, Dense):
                self.ops.append(_Op("dense", leaf, leaf + 1))
                leaf += 2
                units = layer.units
                if _ACTIVATIONS[layer.activation] is not None:
                    self.ops.append(_Op("act", act=layer.activation))
            elif isinstance(layer, Dropout):
                keep = torch.tensor([1.0 - dp[n_dropout] for dp in dropout_ps], device=device).view(-1, 1, 1)
                self.dropout_keep.append(keep)
                self.ops.append(_Op("dropout", layer=n_dropout, units=units))
                n_dropout += 1
            elif isinstance(layer, BatchNorm):
                self.ops.append(
                    _Op("bn", leaf, leaf + 1, layer=len(self.bn_mean), momentum=layer.momentum, units=units)
                )
                leaf += 2
                self.bn_mean.append(torch.zeros(K * units, device=device, dtype=self.params.dtype))
                self.bn_var.append(torch.ones(K * units, device=device, dtype=self.params.dtype))
                if _ACTIVATIONS[layer.activation] is not None:
                    self.ops.append(_Op("act", act=layer.activation))
        self.ops.append(_Op("dense", leaf, leaf + 1))
        # hand-written gradients for dense/dropout and these activations (fewer ops per
        # step than autograd); batch norm and gelu take autograd
        self.manual = all(
            op.kind in ("dense", "dropout") or (op.kind == "act" and op.act != "gelu") for op in self.ops
        )
        if not self.manual:
            for t in self.leaves:
                t.requires_grad_(True)
        self._minus_one = torch.full((1, 1, 1), -1.0, device=device, dtype=self.params.dtype)
        self._minus_ones: dict[int, torch.Tensor] = {}
        # bias columns: views that stay valid while params are updated in place
        self.bias_columns = [t.unsqueeze(2) if t.ndim == 2 else None for t in self.leaves]
        self._scale_key: tuple | None = None
        self._scale = torch.ones(K, 1, 1, device=device, dtype=self.params.dtype)

    def split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views of each parameter, (K, *shape), into a (K, D) tensor."""
        out, off = [], 0
        for shape, size in zip(self.shapes, self.sizes, strict=True):
            out.append(flat[:, off : off + size].view(flat.shape[0], *shape))
            off += size
        return out

    def forward(
        self,
        x: torch.Tensor,
        train: bool,
        alive: list[bool] | None = None,
        saved: list | None = None,
        rows: slice | torch.Tensor | None = None,
        taps: list | None = None,
    ) -> torch.Tensor:
        """Logits (K, C, B) for inputs ``x`` (K, F, B): features down, examples across.

        This column layout makes every dense layer ``W @ h + b`` with the weights in
        their own (out, in) shape and puts the softmax over a short middle axis, both
        faster than the row layout for the small layers of these networks.
        ``saved`` (hand-written gradients) collects what the backward pass needs;
        ``taps`` every op's output (``taps[i]`` is op ``i``'s). ``rows`` (evaluation only)
        computes a block of runs: a slice of consecutive rows, or a tensor of row indices;
        ``x`` then has that block's length, or is one ``(1, F, B)`` input every run of the
        block reads (the first layer is then one product for the block).
        """
        h = x
        leaves, K, bias_columns = self.leaves, self.K, self.bias_columns
        bn_rows = None
        if rows is not None:
            assert not train and saved is None, "a block of rows is for evaluation"
            if isinstance(rows, slice):
                start, stop, _ = rows.indices(self.K)
                K = stop - start
                leaves = [t[start:stop] for t in leaves]
                bias_columns = [c[start:stop] if c is not None else None for c in bias_columns]
            else:  # row indices: copies of those rows' parameters
                K = len(rows)
                leaves = [t.index_select(0, rows) for t in leaves]
                bias_columns = [c.index_select(0, rows) if c is not None else None for c in bias_columns]
            bn_rows = rows
        # an activation may overwrite its input when nothing else holds it: a dense layer's
        # fresh output, not kept as a tap nor saved (leaky_relu's backward needs its input),
        # and no autograd graph to keep it for
        in_place_ok = taps is None and (self.manual or not torch.is_grad_enabled())
        fresh = False  # h is this pass's own intermediate (never the caller's x)
        for i, op in enumerate(self.ops):
            if taps is not None and i:
                taps.append(h)
            kind = op.kind
            if kind == "dense":
                if saved is not None:
                    saved.append(h)
                column = bias_columns[op.bias]
                bias = column if self.manual and column is not None else leaves[op.bias].unsqueeze(2)
                if h.shape[0] == K:
                    h = torch.baddbmm(bias, leaves[op.weight], h)
                else:  # (S, F, B): blocks of K / S runs share this input (BatchedKernel.begin_epoch)
                    w = leaves[op.weight]
                    S, units = h.shape[0], w.shape[1]
                    block = (S, K // S * units, -1)
                    h = torch.baddbmm(bias.reshape(block), w.reshape(block), h).view(K, units, -1)
                fresh = True
            elif kind == "act":
                if saved is not None and op.act == "leaky_relu":
                    saved.append(h)
                if (
                    fresh
                    and in_place_ok
                    and op.act in _IN_PLACE
                    and not (saved is not None and op.act == "leaky_relu")
                ):
                    h = _IN_PLACE[op.act](h)
                else:
                    h = _ACTIVATIONS[op.act](h)  # type: ignore[misc]
                if saved is not None and op.act != "leaky_relu":
                    saved.append(h)
            elif kind == "dropout":
                if not train:
                    if saved is not None:
                        saved.append(None)
                    continue
                B = h.shape[2]
                gen_device = h.device if h.device.type in ("cpu", "cuda") else torch.device("cpu")
                noise = torch.empty(K, B, h.shape[1], device=gen_device)  # drawn as the trainer's (B, H)
                for r in range(K):
                    p = self.dropout_p[r][op.layer]
                    if p == 0.0 or (alive is not None and not alive[r]):
                        noise[r].fill_(1.0)
                    else:
                        noise[r].bernoulli_(1.0 - p, generator=self.generators[r])
                noise = noise.to(h.device).div_(self.dropout_keep[op.layer])
                noise_t = noise.transpose(1, 2)
                h = h * noise_t
                if saved is not None:
                    saved.append(noise_t)
            elif kind == "bn":
                H, B = h.shape[1], h.shape[2]
                flat = h.permute(2, 0, 1).reshape(B, K * H)
                mean, var = self.bn_mean[op.layer], self.bn_var[op.layer]
                if bn_rows is not None:  # running statistics of the block (read only in evaluation)
                    if isinstance(bn_rows, slice):
                        mean, var = mean.view(-1, H)[bn_rows], var.view(-1, H)[bn_rows]
                    else:
                        mean, var = (
                            mean.view(-1, H).index_select(0, bn_rows),
                            var.view(-1, H).index_select(0, bn_rows),
                        )
                    mean, var = mean.reshape(-1), var.reshape(-1)
                flat = F.batch_norm(
                    flat,
                    mean,
                    var,
                    leaves[op.weight].reshape(K * H),
                    leaves[op.bias].reshape(K * H),
                    train,
                    op.momentum,
                    1e-5,
                )
                h = flat.view(B, K, H).permute(1, 2, 0)
        if taps is not None:
            taps.append(h)
        return h

    def penalty(self, l1: torch.Tensor | None, l2: torch.Tensor | None) -> torch.Tensor | float:
        """Per-run L1/L2 terms (K,), on the weight matrices as the trainer's."""
        out: torch.Tensor | float = 0.0
        L = self.leaves
        dims = [tuple(range(1, L[j].ndim)) for j in self.weight_leaves]
        if l2 is not None:
            out = l2 * sum((L[j] * L[j]).sum(d) for j, d in zip(self.weight_leaves, dims, strict=True))
        if l1 is not None:
            out = out + l1 * sum(L[j].abs().sum(d) for j, d in zip(self.weight_leaves, dims, strict=True))
        return out

    def train_step(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        mask: torch.Tensor,
        alive: list[bool],
        l1: torch.Tensor | None,
        l2: torch.Tensor | None,
        train: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one minibatch for all K runs: fills ``grads``.

        ``x`` is (K, F, B), or (S, F + 1, B) for blocks of K / S runs sharing one input (the
        last row all ones: :meth:`BatchedKernel.begin_epoch`); ``y`` (K, B). Returns the per-run losses (K,) (penalties
        included, as the trainer reports them) and the logits (K, C, B). ``mask`` (K,) is
        1 for live runs and 0 for finished ones, whose gradients are then exactly zero.
        L1 is in the loss but not the gradient (its proximal step follows the update);
        ``train=False`` runs dropout and batch norm as in evaluation (the gradient check).
        """
        K, B = self.K, x.shape[2]
        if not self.manual:
            logits = self.forward(x, train, alive)
            loss = F.cross_entropy(logits, y, reduction="none").mean(1) + self.penalty(None, l2)
            (loss * mask).sum().backward()
            torch.cat([t.grad.view(K, -1) for t in self.leaves], 1, out=self.grads)  # type: ignore[union-attr]
            for t in self.leaves:
                t.grad = None
            loss = loss.detach()
            if l1 is not None:
                with torch.no_grad():
                    loss = loss + self.penalty(l1, None)
            return loss, logits.detach()
        saved: list = []
        logits = self.forward(x, train, alive, saved)
        logp = torch.log_softmax(logits, 1)
        # the target's -log p, as nll_loss computes it (its (K, C, B) path is a slow 2D one)
        loss = logp.gather(1, y.unsqueeze(1)).squeeze(1).neg_().mean(1)
        # d(mean CE)/d logits = (softmax - onehot) / B, per run scaled by its mask
        g = logp.exp_()
        ones = self._minus_ones.get(B)
        if ones is None:
            ones = self._minus_ones[B] = self._minus_one.expand(K, 1, B)
        g.scatter_add_(1, y.unsqueeze(1), ones)
        key = (B, mask._version)
        if key != self._scale_key:
            self._scale_key = key
            torch.div(mask.view(K, 1, 1), B, out=self._scale)
        g.mul_(self._scale)
        L = self.leaves
        grads: list = [None] * len(L)
        for i in range(len(self.ops) - 1, -1, -1):
            op = self.ops[i]
            if op.kind == "dense":
                a = saved.pop()
                w = L[op.weight]
                if a.shape[0] != K:  # blocks of runs sharing their input: one product per block
                    S, units, inputs = a.shape[0], w.shape[1], w.shape[2]
                    per_block = torch.bmm(
                        a, g.reshape(S, K // S * units, B).transpose(1, 2)
                    )  # (S, F, R*units)
                    grads[op.weight] = per_block.view(S, inputs, K // S, units).permute(0, 2, 3, 1)
                elif w.shape[2] < w.shape[1]:  # fewer inputs than units: (in, out) is the faster product
                    grads[op.weight] = torch.bmm(a, g.transpose(1, 2)).transpose(1, 2)
                else:
                    grads[op.weight] = torch.bmm(g, a.transpose(1, 2))
                grads[op.bias] = g.sum(2)
                if i > 0:
                    g = torch.bmm(w.transpose(1, 2), g)
            elif op.kind == "act":
                t = saved.pop()
                # g is this pass's own (a product just made), so its gradient overwrites it
                if op.act == "relu":
                    g = torch.ops.aten.threshold_backward.grad_input(g, t, 0.0, grad_input=g)
                elif op.act == "tanh":
                    g = torch.ops.aten.tanh_backward.grad_input(g, t, grad_input=g)
                elif op.act == "sigmoid":
                    g = torch.ops.aten.sigmoid_backward.grad_input(g, t, grad_input=g)
                else:  # leaky_relu
                    g = torch.ops.aten.leaky_relu_backward.grad_input(g, t, 0.01, False, grad_input=g)
            elif op.kind == "dropout":
                noise = saved.pop()
                if noise is not None:
                    g = g * noise
        for view, grad in zip(self.grad_views, grads, strict=True):
            (view if grad.ndim == view.ndim else view.view(grad.shape)).copy_(grad)
        if l2 is not None or l1 is not None:
            loss = loss + self.penalty(l1, l2)
            for j in self.weight_leaves:
                if l2 is not None:
                    self.grad_views[j].addcmul_(L[j], (2.0 * l2 * mask).view(K, 1, 1))
        return loss, logits

    def bn_state(self, r: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for op in self.ops:
            if op.kind == "bn":
                H = op.units
                rows = slice(r * H, (r + 1) * H)
                out.append((self.bn_mean[op.layer][rows].clone(), self.bn_var[op.layer][rows].clone()))
        return out

    def set_bn_state(self, r: int, state: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        bns = [op for op in self.ops if op.kind == "bn"]
        for op, (mean, var) in zip(bns, state, strict=True):
            H = op.units
            self.bn_mean[op.layer][r * H : (r + 1) * H] = mean
            self.bn_var[op.layer][r * H : (r + 1) * H] = var

    def clip(self, max_norms: torch.Tensor) -> None:
        """Per-run ``clip_grad_norm_``: the norm of the per-parameter norms, as torch computes it."""
        norms = torch.stack([v.reshape(self.K, -1).norm(dim=1) for v in self.grad_views], 1)
        total = norms.norm(dim=1, keepdim=True)
        self.grads.mul_((max_norms / (total + 1e-6)).clamp_(max=1.0))


#: activations per evaluation block (2 MiB of float32): small enough for a core's cache
EVAL_BLOCK_FLOATS = 1 << 19


class BatchedKernel:
    """K runs sharing data and layer structure, trained as one computation.

    ``models`` are the runs' initial models (built as :func:`engine.models.build_model`
    builds them under each run's seed), in row order; ``generators`` hold each run's
    dropout stream (the global RNG state the run would have had alone).
    """

    def __init__(
        self,
        cfgs: Sequence[RunConfig],
        dataset: Dataset,
        models: Sequence[nn.Module],
        generators: list[torch.Generator],
        device: torch.device,
    ) -> None:
        self.cfgs = list(cfgs)
        self.models = list(models)
        self.device = device
        K = self.K = len(cfgs)
        self.net = BatchedNet(
            self.cfgs[0],
            models,
            [[layer.p for layer in c.model.layers if isinstance(layer, Dropout)] for c in cfgs],
            device,
        )
        self.net.generators = generators
        self._before: torch.Tensor | None = None
        self._probe: torch.Tensor | None = None
        self._layers: list = []
        self._updates = 0
        self._stats_cache: tuple[tuple[int, bool], list[dict]] | None = None
        self.optimizers: list[BatchedOptimizer] = []
        start = 0
        while start < K:  # rows are ordered so each optimizer group is a contiguous block
            key = optimizer_group_key(self.cfgs[start].optimizer)
            stop = start
            while stop < K and optimizer_group_key(self.cfgs[stop].optimizer) == key:
                stop += 1
            group = [c.optimizer for c in self.cfgs[start:stop]]
            self.optimizers.append(
                build_batched_optimizer(group, start, stop, self.net.params, self.net.shapes)
            )
            start = stop
        self.x_train = torch.as_tensor(dataset.x_train, device=device)
        self.y_train = torch.as_tensor(dataset.y_train, device=device)
        x_val = torch.as_tensor(dataset.x_val, device=device)
        y_val = torch.as_tensor(dataset.y_val, device=device)
        self.n, self.n_val = len(self.y_train), len(y_val)
        # every evaluated point, features down (F, n + n_val): contiguous, so that a product
        # with it writes its output directly (a transposed operand made it a copy more)
        self.xt_all = torch.cat([self.x_train, x_val]).t().contiguous()
        self.y_all = torch.cat([self.y_train, y_val])
        regs = [c.regularization for c in self.cfgs]
        l1, l2 = [r.l1 for r in regs], [r.l2 for r in regs]
        self.l1 = column(l1, device).view(-1) if any(l1) else None
        self.l2 = column(l2, device).view(-1) if any(l2) else None
        self._l1_list: list[float] | None = None
        clips = [r.grad_clip for r in regs]
        self.clip = column([v if v is not None else math.inf for v in clips], device) if any(clips) else None
        # jitter: Gaussian input noise from each run's own stream, as engine.augment.Augmenter
        self.jitter = [
            (row, r.augmentation.jitter, torch.Generator().manual_seed(c.training.seed + 7919))
            for row, (c, r) in enumerate(zip(self.cfgs, regs, strict=True))
            if r.augmentation.jitter > 0
        ]
        self.running_metrics = not self.cfgs[0].training.eval_train  # shared: part of the batch key
        self.alive = [True] * K
        self.mask = torch.ones(K, device=device)
        self.loss_sum = torch.zeros(K, dtype=torch.float64, device=device)
        self.correct = torch.zeros(K, dtype=torch.int64, device=device)
        self.x_epoch = self.y_epoch = self.x_train
        self.widest = max(shape[0] for shape in self.net.shapes)  # the most units in a layer
        self.share = self._input_groups()

    def _input_groups(self) -> int:
        """R > 1 when the rows come in blocks of R consecutive runs with one seed (one minibatch
        order) and the first layer is dense: such a block's first layer is then one product
        ``(R * units, F) @ (F, B)`` on its one minibatch, and its weight gradient one product
        too (:meth:`BatchedNet.forward`). 1 otherwise (jitter gives every run its own input)."""
        K, net = self.K, self.net
        if self.jitter or not net.manual or net.ops[0].kind != "dense" or K < 2:
            return 1
        seeds = [c.training.seed for c in self.cfgs]
        size = 1
        while size < K and seeds[size] == seeds[0]:
            size += 1
        if K % size or any(seeds[r] != seeds[r - r % size] for r in range(K)):
            return 1
        return size

    def begin_epoch(self, perms: Sequence[torch.Tensor]) -> None:
        """The epoch's shuffled data in column layout (K, F, n), or (K / R, F, n) when blocks of
        R rows share one order (:meth:`_input_groups`): each minibatch is a view.

        Rows given the same permutation object share it: one gather per distinct order.
        """
        K, R, dev = self.K, self.share, self.device
        slots: dict[int, int] = {}
        slot = [slots.setdefault(id(p), len(slots)) for p in perms]
        distinct = list({id(p): p for p in perms}.values())
        order = torch.stack(distinct).to(dev)  # (S, n): one row per distinct order
        xs = self.x_train[order].transpose(1, 2)  # (S, F, n)
        ys = self.y_train[order]
        if len(distinct) == 1:  # one order for every row
            self.x_epoch = xs.expand(K // R, -1, -1).contiguous()
            self.y_epoch = ys.expand(K, -1)
        elif R > 1 and all(slot[r] == slot[r - r % R] for r in range(K)):
            pick = torch.tensor(slot[::R], device=dev)  # each block's order
            self.x_epoch = xs.index_select(0, pick)
            self.y_epoch = ys.index_select(0, pick).repeat_interleave(R, 0)
        else:  # a row of its own per run (the forward pass takes either shape)
            pick = torch.tensor(slot, device=dev)
            self.x_epoch = xs.index_select(0, pick)
            self.y_epoch = ys.index_select(0, pick)
        self.loss_sum.zero_()
        self.correct.zero_()

    def step(self, lo: int, hi: int, lrs: list[float]) -> list[float]:
        net = self.net
        xb, yb = self.x_epoch[:, :, lo:hi], self.y_epoch[:, lo:hi]
        B = hi - lo
        if self.jitter:
            xb = xb.contiguous()
            for row, amount, gen in self.jitter:
                if self.alive[row]:
                    noise = torch.randn(B, xb.shape[1], generator=gen).to(self.device)
                    xb[row] += (amount * noise).t()
        self._updates += 1
        loss, logits = net.train_step(xb, yb, self.mask, self.alive, self.l1, self.l2)
        if self.clip is not None:
            net.clip(self.clip)
        for opt in self.optimizers:
            opt.step(net.params, net.grads, lrs[opt.start : opt.stop])
        if self.l1 is not None:
            l1 = self.l1.tolist() if self._l1_list is None else self._l1_list
            self._l1_list = l1
            threshold = column([lr * v for lr, v in zip(lrs, l1, strict=True)], self.device).view(-1, 1, 1)
            for j in net.weight_leaves:
                soft_threshold_(net.leaves[j], threshold)
        if self.running_metrics:
            self.loss_sum.add_(loss.detach().double(), alpha=B)
            self.correct += (logits.max(1).indices == yb).sum(1)
        return loss.tolist()

    @torch.inference_mode()
    def epoch_metrics(self, eval_train: bool) -> list[tuple[float, float, float, float]]:
        """Each live row's (train loss, train accuracy, validation loss, validation accuracy);
        NaN for the rows of finished runs, which are not evaluated."""
        K, n, n_val = self.K, self.n, self.n_val
        first = 0 if eval_train else n  # without eval_train the training rows need no pass
        xt, y = self.xt_all[:, first:], self.y_all[first:]
        # every run reads the same points: with a dense first layer a block's first layer is
        # one product on them (BatchedNet.forward)
        shared = xt[None] if self.net.ops[0].kind == "dense" else None
        # per run: loss sum and hits over the training rows, then the validation rows (float64,
        # as engine.kernels.evaluate); NaN for the rows not evaluated
        sums = torch.full((K, 4), math.nan, dtype=torch.float64)
        cut = n - first
        for rows in self._eval_blocks(self.eval_rows(len(y))):
            k = rows.stop - rows.start if isinstance(rows, slice) else len(rows)
            logits = self.net.forward(xt.expand(k, *xt.shape) if shared is None else shared, False, rows=rows)
            # cross-entropy (k, N) as F.cross_entropy computes it, without its slow (k, C, N) nll path
            logp = torch.log_softmax(logits, 1)
            per = logp.gather(1, y.expand(k, 1, -1)).squeeze(1).neg_()
            hit = logits.max(1).indices == y  # max(1) is ~10x faster than argmax(1) here; same ties
            block = torch.stack(
                [
                    per[:, :cut].sum(1, dtype=torch.float64),
                    hit[:, :cut].sum(1, dtype=torch.float64),
                    per[:, cut:].sum(1, dtype=torch.float64),
                    hit[:, cut:].sum(1, dtype=torch.float64),
                ],
                1,
            )
            sums[rows if isinstance(rows, slice) else rows.cpu()] = block.cpu()
        tr_loss, tr_acc, va_loss, va_acc = (sums / torch.tensor([n, n, n_val, n_val])).t().tolist()
        if not eval_train:
            tr_loss = [v / n for v in self.loss_sum.tolist()]
            tr_acc = [v / n for v in self.correct.tolist()]
        if not n_val:
            va_loss = va_acc = [math.nan] * K
        return list(zip(tr_loss, tr_acc, va_loss, va_acc, strict=True))

    def _eval_blocks(self, size: int) -> list[slice | torch.Tensor]:
        """The live rows in blocks of at most ``size``: slices while every row is live, else
        tensors of the live rows' indices (finished runs are not evaluated)."""
        if all(self.alive):
            return [slice(start, min(start + size, self.K)) for start in range(0, self.K, size)]
        live = [r for r, a in enumerate(self.alive) if a]
        return list(torch.tensor(live, dtype=torch.long, device=self.device).split(size)) if live else []

    def eval_rows(self, n_points: int) -> int:
        """Runs per evaluation block: about :data:`EVAL_BLOCK_FLOATS` activations at a time."""
        return max(1, EVAL_BLOCK_FLOATS // max(1, self.widest * n_points))

    @torch.inference_mode()
    def boundary(self, grid: torch.Tensor, rows: Sequence[int] | None = None) -> np.ndarray:
        """Class probabilities (rows, points, classes) on ``grid`` of every run, or of ``rows``
        in that order: only those rows are computed, in blocks of consecutive rows."""
        if rows is None:
            rows = range(self.K)
        rows = list(rows)
        gt = grid.t()
        out = []
        i = 0
        while i < len(rows):  # a block of consecutive rows is one forward pass
            j = i + 1
            while j < len(rows) and rows[j] == rows[j - 1] + 1:
                j += 1
            start, stop = rows[i], rows[j - 1] + 1
            logits = self.net.forward(gt.expand(stop - start, *gt.shape), False, rows=slice(start, stop))
            out.append(torch.softmax(logits, 1).transpose(1, 2).cpu().numpy())
            i = j
        return np.concatenate(out) if out else np.zeros((0, grid.shape[0], 0), dtype=np.float32)

    def weights(self, row: int) -> np.ndarray:
        return self.net.params[row].detach().cpu().numpy().copy()

    def snapshot(self, row: int) -> Any:
        return (self.net.params[row].detach().clone(), self.net.bn_state(row))

    def restore(self, row: int, state: Any) -> None:
        with torch.no_grad():
            self.net.params[row].copy_(state[0])
        self.net.set_bn_state(row, state[1])

    def retire(self, row: int) -> None:
        """Freeze a finished run's row: zero weights, optimizer state and loss weight, so
        nothing non-finite can reach the others and the row no longer moves."""
        self.alive[row] = False
        with torch.no_grad():
            self.net.params[row].zero_()
        for opt in self.optimizers:
            if opt.start <= row < opt.stop:
                opt.reset_row(row - opt.start)
        self.mask[row] = 0.0

    def set_mode(self, row: int, training: bool) -> None:
        """Switch ``row``'s optimizer between training and evaluation weights (schedule-free:
        ``y`` and the average ``x``; see :meth:`BatchedOptimizer.set_mode`)."""
        for opt in self.optimizers:
            if opt.start <= row < opt.stop:
                opt.set_mode(row - opt.start, training)

    # -- inside the runs (engine.inside)
    def mark_update(self) -> None:
        """Remember the weights before the next update (for its update-to-weight ratio)."""
        self._before = self.net.params.detach().clone()

    @torch.no_grad()
    def layer_stats(self, lrs: list[float], rows: list[int], observed: bool) -> list[dict]:
        """Per-layer statistics of ``rows`` after the last update at rates ``lrs`` (one per row);
        ``observed``: :meth:`mark_update` was called before that update."""
        key = (self._updates, observed)
        if self._stats_cache is None or self._stats_cache[0] != key:  # runs ending together share one
            self._stats_cache = (key, self._all_layer_stats(lrs, observed))
        return [self._stats_cache[1][row] for row in rows]

    def _all_layer_stats(self, lrs: list[float], observed: bool) -> list[dict]:
        net, K = self.net, self.K
        if self._probe is None:
            probe = self.x_train[:PROBE_SIZE].t().contiguous()[None]  # (1, F, N): every run reads it
            # with a dense first layer the forward pass computes it as one product for all rows
            self._probe = probe if net.ops[0].kind == "dense" else probe.expand(K, -1, -1).contiguous()
            self._layers = model_layers(self.models[0])  # type: ignore[arg-type]
        taps: list = []
        net.forward(self._probe, False, taps=taps)
        effective = torch.cat([opt.effective_lr(lrs[opt.start : opt.stop]) for opt in self.optimizers])
        multipliers = [m for opt in self.optimizers for m in opt.step_multiplier()]
        before = self._before if observed else None
        out = compute_layer_stats(self._layers, before, net.params, net.grads, effective, taps)
        for stats, multiplier in zip(out, multipliers, strict=True):
            stats["step_multiplier"] = multiplier
        return out

    def final_model(self, row: int) -> nn.Module:
        """The run's model (a ``torch.nn`` module) holding the row's weights and batch-norm state."""
        model = self.models[row]
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(self.net.params[row].detach().cpu(), model.parameters())
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
        for bn, (mean, var) in zip(bns, self.net.bn_state(row), strict=True):
            assert bn.running_mean is not None and bn.running_var is not None  # track_running_stats
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
        return model.to(self.device)
