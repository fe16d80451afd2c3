"""Inside a run: per-layer statistics for :class:`~engine.events.LayerStats` events.

Both step kernels (:mod:`engine.kernels`) answer ``layer_stats(lrs, rows)`` with the same
computation, :func:`compute_layer_stats`, on rows of flat ``(R, D)`` tensors (a lone run is
one row): the weights before and after the last update, its gradient, each parameter's
effective learning rate and the layers' outputs on a fixed probe batch. The loop
(:mod:`engine.loop`) asks every ``stats_every`` updates (:func:`default_stats_every`).

The effective learning rate of a parameter is the factor its step applies to the
gradient estimate the optimizer steps along: ``lr`` divided by the optimizer's running
scale, bias-corrected as the optimizer applies it (Adam: ``lr / (sqrt(v / (1 - b2^t)) +
eps)``, the rate on the bias-corrected first moment). For torch.optim it is read from
``optimizer.state`` (:func:`torch_effective_lr`); the batched twins answer
``effective_lr(lrs)`` from their own state (:mod:`engine.batched_optim`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .optimizers import REGISTRY, OptimizerPart

__all__ = [
    "BINS",
    "PROBE_SIZE",
    "QUANTILES",
    "LayerSpec",
    "default_stats_every",
    "model_layers",
    "torch_effective_lr",
    "torch_step_multiplier",
    "sequential_outputs",
    "compute_layer_stats",
]

BINS = 30  # histogram bins
PROBE_SIZE = 128  # training examples the activations are measured on (dead ReLU units)
HIST_VALUES = 2048  # about this many activation values per layer go into its histogram
QUANTILES = (0.05, 0.5, 0.95)
STATS_POINTS = 40  # about this many LayerStats per run by default
STATS_MIN_EVERY = 32  # and at most one every this many updates
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU)
_LAYERS = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)


def default_stats_every(total_steps: int) -> int:
    """The default cadence: about :data:`STATS_POINTS` points per run, no more often than every
    :data:`STATS_MIN_EVERY` updates (one LayerStats costs about as much as ~8 small updates;
    ``bench/bench_inside.py`` holds the slowdown of the studies' runs under 15 %)."""
    return max(STATS_MIN_EVERY, math.ceil(total_steps / STATS_POINTS))


@dataclass(frozen=True)
class LayerSpec:
    """One layer with parameters: its name, where its parameters lie in the flat vector
    (``params``: weight and bias; ``weight``: the weight alone), the position of its
    output in the model's output list, and whether a ReLU makes that output."""

    name: str
    params: slice
    weight: slice
    output: int
    relu: bool


def model_layers(model: nn.Sequential) -> list[LayerSpec]:
    """The layers with parameters of a :func:`engine.models.build_model` network, in order.

    ``output`` indexes :func:`sequential_outputs`: the activation after the layer if
    one follows it, else the layer itself.
    """
    mods = list(model)
    offset = 0
    counts: dict[str, int] = {}
    specs = []
    n_linear = sum(isinstance(m, nn.Linear) for m in mods)
    seen_linear = 0
    for i, m in enumerate(mods):
        sizes = [p.numel() for p in m.parameters(recurse=False)]
        if not isinstance(m, _LAYERS):
            offset += sum(sizes)
            continue
        if isinstance(m, nn.Linear):
            seen_linear += 1
            kind = "output" if seen_linear == n_linear else "dense"
            shape = f"{m.in_features}\u2192{m.out_features}"
        elif isinstance(m, nn.Conv2d):
            kind = "conv"
            shape = f"{m.in_channels}\u2192{m.out_channels}"
        else:
            kind = "batchnorm"
            shape = str(m.num_features)
        counts[kind] = counts.get(kind, 0) + 1
        label = "output" if kind == "output" else f"{kind} {counts[kind]}"
        after = mods[i + 1] if i + 1 < len(mods) else None
        act = after if isinstance(after, _ACTIVATIONS) else None
        total = sum(sizes)
        specs.append(
            LayerSpec(
                f"{label} ({shape})",
                slice(offset, offset + total),
                slice(offset, offset + sizes[0]),
                i + 1 if act is not None else i,
                isinstance(act, nn.ReLU),
            )
        )
        offset += total
    return specs


def sequential_outputs(model: nn.Sequential, x: torch.Tensor, wanted: set[int]) -> list[torch.Tensor | None]:
    """The ``wanted`` modules' outputs on ``x`` as ``(1, units or channels, N)`` (no grad, eval
    mode); None for the others."""
    was_training = model.training
    model.eval()
    outs: list[torch.Tensor | None] = []
    with torch.no_grad():
        h = x
        for i, m in enumerate(model):
            h = m(h)
            if i not in wanted:
                outs.append(None)
                continue
            flat = h.reshape(h.shape[0], h.shape[1], -1).transpose(0, 1).reshape(h.shape[1], -1)
            outs.append(flat[None].float())
    model.train(was_training)
    return outs


# --------------------------------------------------------------------------- torch.optim's state
def torch_step_multiplier(optimizer: torch.optim.Optimizer) -> float:
    """Momentum's long-run gain on the step, as the optimizer's part reads it from the
    parameter group: ``(1 - dampening) / (1 - momentum)`` for SGD (Nesterov adds one),
    ``1 / (1 - momentum)`` for RMSprop's momentum; 1 otherwise."""
    part = _part(optimizer)
    return 1.0 if part is None else part.step_multiplier(optimizer.param_groups[0])


def torch_effective_lr(
    optimizer: torch.optim.Optimizer, lr: float, params: list[torch.Tensor] | None = None
) -> torch.Tensor:
    """Every parameter's effective rate, flat in parameter order ``(1, D)``, from the
    optimizer's state after an update made at rate ``lr`` (each optimizer part's reading,
    :meth:`engine.optimizers.base.OptimizerPart.effective_lr`). ``params``: the model's
    parameters in its flat order (default: the optimizer's groups' order, which a part that
    splits its parameters between optimizers, as Muon + AdamW, changes)."""
    group = optimizer.param_groups[0]
    part = _part(optimizer)
    parts = []
    order = params if params is not None else [q for g in optimizer.param_groups for q in g["params"]]
    for p in order:
        state = optimizer.state.get(p, {})
        if part is None or not state:  # before the first update: the rate itself
            rate = torch.ones_like(p, dtype=torch.float64) * lr
        else:
            rate = part.effective_lr(group, state, p, lr)
        parts.append(rate.reshape(-1))
    return torch.cat(parts)[None].float()


def _part(optimizer: torch.optim.Optimizer) -> type[OptimizerPart] | None:
    """The registered part whose ``torch.optim`` class built ``optimizer`` (None: not one of ours)."""
    for part in REGISTRY.values():
        if part.owns(optimizer):
            return part
    return None


# --------------------------------------------------------------------------- the statistics
def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _quantiles(values: np.ndarray) -> np.ndarray:
    """:data:`QUANTILES` of each row of ``values`` (R, n), as ``np.quantile``'s default
    (linear) method computes them, in one sort: ``(R, len(QUANTILES))``."""
    s = np.sort(values, axis=1)
    pos = np.asarray(QUANTILES) * (s.shape[1] - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, s.shape[1] - 1)
    frac = pos - lo
    return s[:, lo] * (1 - frac) + s[:, hi] * frac


def _histograms(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts ``(R, BINS)`` of each row of ``values`` (R, n) over its own ``[lo, hi]`` range."""
    R = values.shape[0]
    lo = values.min(1, keepdims=True)
    hi = values.max(1, keepdims=True)
    hi = np.where(hi > lo, hi, lo + 1.0)
    idx = ((values - lo) * (BINS / (hi - lo))).astype(np.int64)
    # in place, cheaper than np.clip's dispatch on these small arrays; NaN became a large
    # negative integer: bin 0, as np.clip would
    np.maximum(idx, 0, out=idx)
    np.minimum(idx, BINS - 1, out=idx)
    idx += BINS * np.arange(R)[:, None]
    counts = np.bincount(idx.ravel(), minlength=R * BINS).reshape(R, BINS).astype(np.float64)
    return counts, np.concatenate([lo, hi], 1)


def compute_layer_stats(
    layers: list[LayerSpec],
    before: torch.Tensor | None,
    after: torch.Tensor,
    grads: torch.Tensor,
    effective: torch.Tensor,
    outputs: list[torch.Tensor | None] | list[torch.Tensor],
) -> list[dict[str, Any]]:
    """The :class:`~engine.events.LayerStats` fields of every row (layer arrays; see there).

    ``before`` / ``after`` / ``grads`` / ``effective`` are ``(R, D)``; ``before`` is None
    when the update was not observed; ``outputs[i]`` is module/op ``i``'s output ``(R, U, N)``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # rows of finished runs are all zero
        return _layer_stats(layers, before, after, grads, effective, outputs)


def _layer_stats(layers, before, after, grads, effective, outputs) -> list[dict[str, Any]]:
    A, G, E = _numpy(after), _numpy(grads), _numpy(effective)
    B = _numpy(before) if before is not None else None
    R, L = A.shape[0], len(layers)
    eff = np.zeros((R, L, len(QUANTILES)))
    wn, gn, ratio, dead, zero = (np.full((R, L), math.nan) for _ in range(5))
    w_hist, a_hist = np.zeros((R, L, BINS)), np.zeros((R, L, BINS))
    w_range, a_range = np.zeros((R, L, 2)), np.zeros((R, L, 2))
    for j, spec in enumerate(layers):
        w = A[:, spec.weight]
        eff[:, j] = _quantiles(E[:, spec.params])
        wn[:, j] = np.sqrt((w * w).sum(1))
        g = G[:, spec.weight]
        gn[:, j] = np.sqrt((g * g).sum(1))
        zero[:, j] = (w == 0).mean(1)
        if B is not None:
            b = B[:, spec.weight]
            d = w - b
            ratio[:, j] = np.sqrt((d * d).sum(1) / (b * b).sum(1))
        w_hist[:, j], w_range[:, j] = _histograms(w)
        out = outputs[spec.output]
        assert out is not None
        act = out.detach().cpu().numpy()  # float32: only the histogram's sample is widened
        if spec.relu:
            dead[:, j] = (act == 0).all(2).mean(1)
        examples = max(1, HIST_VALUES // act.shape[1])
        a_hist[:, j], a_range[:, j] = _histograms(act[:, :, :examples].reshape(R, -1).astype(np.float64))
    names = tuple(s.name for s in layers)
    return [
        {
            "layers": names,
            "effective_lr": eff[r],
            "weight_norm": wn[r],
            "grad_norm": gn[r],
            "update_ratio": ratio[r],
            "dead_fraction": dead[r],
            "zero_fraction": zero[r],
            "weight_hist": w_hist[r],
            "weight_range": w_range[r],
            "activation_hist": a_hist[r],
            "activation_range": a_range[r],
        }
        for r in range(R)
    ]
