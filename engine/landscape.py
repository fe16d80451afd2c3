"""Loss surfaces of a network around its weights, on a plane (or line) in weight space.

Three planes, after Li et al. (2018), "Visualizing the loss landscape of neural nets":

* ``pca``: the two leading principal directions of the trajectory ``[w_i - w_final]``
  (centred, as sklearn's PCA does), origin at the final weights;
* ``random``: two Gaussian directions, *filter-normalised* (every filter, i.e. every row of
  a Linear weight or output channel of a Conv kernel, rescaled to the norm of the matching
  filter of the weights; biases and batch-norm parameters zeroed), origin at the final
  weights;
* ``interp``: the 1-D line from the initial weights (alpha 0) to the final ones (alpha 1).

Evaluation is vectorised: many parameter points per call. For ``Sequential`` stacks of
Linear / activation / Dropout / BatchNorm1d layers (every Optiscope MLP) the first layer's
pre-activation on a plane is ``X W0ᵀ + a X D1ᵀ + b X D2ᵀ``: those three products are
computed once per plane, and each grid point costs one combination, the activations and
small matrix products (:class:`PlaneEvaluator`). Other models (conv nets) go through
``torch.func.vmap`` over ``functional_call``; a model vmap cannot handle falls back to a
chunked loop that loads each point's weights. :attr:`SurfaceEvaluator.method` says which.

The loss is the mean cross-entropy (no L1/L2 penalty) in eval mode (dropout off,
batch norm on its running statistics), exactly what :func:`~engine.trainer.evaluate`
reports. No Qt here.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .config import ModelConfig, RunConfig
    from .dataset import Dataset

__all__ = [
    "snapshot_every",
    "PLANE_KINDS",
    "Plane",
    "pca_plane",
    "random_plane",
    "interp_plane",
    "make_plane",
    "filter_normalize",
    "SurfaceEvaluator",
    "PlaneEvaluator",
    "Surface",
    "PathReport",
    "grid_axes",
    "loop_losses",
    "true_losses",
    "surface_stages",
    "path_report",
    "recalibrate_batchnorm",
    "finite_snapshots",
    "flat_weights",
    "end_at_final",
    "model_at",
    "surface_pipeline",
]

PLANE_KINDS = ("pca", "random", "interp")
GRID_MIN, GRID_MAX = 11, 101
# PCA axes are scaled so the trajectory's farthest point reaches this fraction of the
# half-width at extent 1.0 (a margin around the path)
PCA_REACH = 0.8


def snapshot_every(runs: Sequence[RunConfig], snapshots: int = 200) -> int:
    """Updates between weight snapshots so the longest of ``runs`` records about ``snapshots``.

    Estimated from the configs alone (:func:`~engine.data.dataset_shape`; a CSV not yet
    read counts as 1000 rows). Each snapshot is a copy of the parameter vector.
    """
    from .config import steps_per_epoch
    from .data import dataset_shape

    most = 1
    for r in runs:
        n_train = dataset_shape(r.dataset)["n_train"]
        most = max(most, r.training.epochs * steps_per_epoch(n_train, r.training.batch_size))
    return max(1, most // max(int(snapshots), 1))


# --------------------------------------------------------------------------- planes
@dataclass(frozen=True)
class Plane:
    """``origin + a * d1 + b * d2`` in the flat parameter space (``model.parameters()`` order).

    ``d2`` is all zeros for the 1-D ``interp`` line. ``explained`` is the fraction of the
    trajectory's variance that lies in the plane (NaN when no trajectory was given).
    """

    kind: str
    origin: np.ndarray = field(repr=False)
    d1: np.ndarray = field(repr=False)
    d2: np.ndarray = field(repr=False)
    explained: float = math.nan
    axis_labels: tuple[str, str] = ("alpha", "beta")
    note: str = ""

    @property
    def is_line(self) -> bool:
        return not np.any(self.d2)

    def _basis(self) -> np.ndarray:
        return self.d1[:, None] if self.is_line else np.stack([self.d1, self.d2], axis=1)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Least-squares plane coordinates ``(alpha, beta)`` of each weight vector, shape (T, 2)."""
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float64)) - self.origin[None, :]
        basis = self._basis().astype(np.float64)
        gram = basis.T @ basis
        coords = np.linalg.solve(gram, basis.T @ v.T).T
        if self.is_line:
            coords = np.concatenate([coords, np.zeros((len(coords), 1))], axis=1)
        return coords

    def distance_from_plane(self, vectors: np.ndarray) -> np.ndarray:
        """Euclidean distance of each weight vector from the plane (what the slice cannot show)."""
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        c = self.project(v)
        back = self.origin[None, :] + c[:, :1] * self.d1[None, :] + c[:, 1:] * self.d2[None, :]
        return np.linalg.norm(v - back, axis=1)

    def points(self, coords: np.ndarray) -> np.ndarray:
        """Weight vectors at plane coordinates ``coords`` (P, 2)."""
        c = np.asarray(coords, dtype=np.float64)
        return self.origin[None, :] + c[:, :1] * self.d1[None, :] + c[:, 1:2] * self.d2[None, :]

    def explained_variance(self, trajectory: np.ndarray) -> float:
        """Fraction of the (centred) trajectory's variance lying in the plane's span."""
        return explained_fraction(trajectory, self._basis())


def finite_snapshots(steps: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop snapshots with non-finite weights (a diverging run's last ones)."""
    v = np.atleast_2d(np.asarray(vectors))
    ok = np.isfinite(v).all(axis=1)
    return np.asarray(steps)[ok], v[ok]


def explained_fraction(trajectory: np.ndarray, basis: np.ndarray) -> float:
    """``||P (W - mean)||² / ||W - mean||²`` with P the orthogonal projector onto ``basis``."""
    w = np.asarray(trajectory, dtype=np.float64)
    if w.ndim != 2 or len(w) < 2:
        return math.nan
    wc = w - w.mean(axis=0, keepdims=True)
    total = float(np.sum(wc * wc))
    if total <= 0:
        return math.nan
    q, _ = np.linalg.qr(np.asarray(basis, dtype=np.float64))
    inplane = wc @ q
    return float(np.sum(inplane * inplane) / total)


def _as_matrix(trajectories: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(trajectories, np.ndarray):
        trajectories = [trajectories]
    mats = [np.atleast_2d(np.asarray(t, dtype=np.float64)) for t in trajectories]
    dims = {m.shape[1] for m in mats}
    if len(dims) != 1:
        raise ValueError(
            f"trajectories have different parameter counts {sorted(dims)}; runs must share "
            "one model architecture to share a plane"
        )
    return mats


def pca_plane(trajectories: np.ndarray | Sequence[np.ndarray], origin: np.ndarray | None = None) -> Plane:
    """The plane of the trajectory's two leading principal directions (Li et al. 2018).

    ``trajectories`` is one (T, D) array of weight snapshots, or several (a race: all runs
    then share one plane). The origin defaults to the last snapshot of the first run (its
    final weights); PCA runs on ``[w_i - origin]`` of all runs, centred. Each axis is scaled
    so the farthest trajectory point reaches ``PCA_REACH`` (0.8) along it, so extent 1.0
    frames the path with a margin.
    """
    mats = _as_matrix(trajectories)
    if sum(len(m) for m in mats) < 3:
        raise ValueError(
            "a PCA plane needs at least 3 weight snapshots; train longer or record the "
            "weights more often (weights_every)"
        )
    o = np.asarray(origin, dtype=np.float64) if origin is not None else mats[0][-1]
    m = np.concatenate(mats) - o[None, :]
    mc = m - m.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(mc, full_matrices=False)
    var = s**2
    total = float(var.sum())
    if total <= 0:
        raise ValueError("the weights never moved: a trajectory PCA needs a run that trained")
    ratio = var / total
    dirs = []
    scale = 1.0
    for k in range(2):
        # a second component without variance (a straight path) has no reach of its own:
        # give it the first axis' scale (and any unit direction orthogonal to the first)
        u = vt[k] if k < len(vt) else _orthogonal_unit(vt[0])
        if k == 0 or (k < len(ratio) and ratio[k] > 1e-12):
            reach = float(np.abs(m @ u).max())
            scale = reach / PCA_REACH if reach > 0 else scale
        dirs.append(u * scale)
    explained = float(ratio[:2].sum())
    return Plane(
        "pca",
        o,
        dirs[0],
        dirs[1],
        explained,
        (f"PC1 ({100 * ratio[0]:.1f} %)", f"PC2 ({100 * (ratio[1] if len(ratio) > 1 else 0):.1f} %)"),
        f"PCA of {len(m)} weight snapshots; origin = final weights; axes scaled so the path "
        f"reaches {PCA_REACH:g} of extent 1",
    )


def _orthogonal_unit(u: np.ndarray) -> np.ndarray:
    v = np.zeros_like(u)
    v[int(np.argmin(np.abs(u)))] = 1.0
    v -= (v @ u) / (u @ u) * u
    return v / np.linalg.norm(v)


def _param_layout(model: nn.Module) -> list[tuple[str, torch.Size, int]]:
    out, offset = [], 0
    for name, p in model.named_parameters():
        out.append((name, p.shape, offset))
        offset += p.numel()
    return out


def filter_normalize(direction: np.ndarray, weights: np.ndarray, model: nn.Module) -> np.ndarray:
    """Li et al.'s filter normalisation of a flat direction against flat weights.

    Every parameter with two or more dimensions is split into filters along its first
    dimension (a Linear weight's rows, a Conv kernel's output channels); each direction
    filter is rescaled to the norm of the matching weight filter. Parameters with one
    dimension (biases, batch-norm scale and shift) are zeroed.
    """
    d = np.array(direction, dtype=np.float64, copy=True)
    w = np.asarray(weights, dtype=np.float64)
    for _name, shape, off in _param_layout(model):
        n = math.prod(shape)
        if len(shape) <= 1:
            d[off : off + n] = 0.0
            continue
        dv = d[off : off + n].reshape(shape[0], -1)
        wv = w[off : off + n].reshape(shape[0], -1)
        dn = np.linalg.norm(dv, axis=1, keepdims=True)
        wn = np.linalg.norm(wv, axis=1, keepdims=True)
        dv *= wn / (dn + 1e-10)
        d[off : off + n] = dv.reshape(-1)
    return d


def random_plane(
    model: nn.Module,
    origin: np.ndarray,
    seed: int = 0,
    trajectories: np.ndarray | Sequence[np.ndarray] | None = None,
) -> Plane:
    """Two filter-normalised Gaussian directions around ``origin`` (Li et al. 2018)."""
    o = np.asarray(origin, dtype=np.float64)
    rng = np.random.default_rng(seed)
    d1 = filter_normalize(rng.standard_normal(o.shape), o, model)
    d2 = filter_normalize(rng.standard_normal(o.shape), o, model)
    explained = math.nan
    if trajectories is not None:
        explained = explained_fraction(np.concatenate(_as_matrix(trajectories)), np.stack([d1, d2], 1))
    return Plane(
        "random",
        o,
        d1,
        d2,
        explained,
        ("random dir. 1", "random dir. 2"),
        f"two filter-normalised Gaussian directions (seed {seed}); biases and batch-norm "
        "parameters zeroed; origin = final weights",
    )


def interp_plane(
    initial: np.ndarray, final: np.ndarray, trajectories: np.ndarray | Sequence[np.ndarray] | None = None
) -> Plane:
    """The line ``initial + alpha * (final - initial)``: alpha 0 is the start, 1 the end."""
    w0 = np.asarray(initial, dtype=np.float64)
    d1 = np.asarray(final, dtype=np.float64) - w0
    if not d1.any():
        raise ValueError("initial and final weights are equal: nothing to interpolate")
    explained = math.nan
    if trajectories is not None:
        explained = explained_fraction(np.concatenate(_as_matrix(trajectories)), d1[:, None])
    return Plane(
        "interp",
        w0,
        d1,
        np.zeros_like(d1),
        explained,
        ("alpha (0 = initial, 1 = final)", ""),
        "1-D interpolation from the initial weights (alpha 0) to the final ones (alpha 1)",
    )


def make_plane(
    kind: str,
    model: nn.Module,
    trajectories: np.ndarray | Sequence[np.ndarray],
    seed: int = 0,
    origin: np.ndarray | None = None,
) -> Plane:
    """The plane ``kind`` for the given trajectories, centred on ``origin`` (default: the
    first run's last snapshot); ``interp`` runs from the first run's first snapshot to it."""
    mats = _as_matrix(trajectories)
    o = mats[0][-1] if origin is None else np.asarray(origin, dtype=np.float64)
    if kind == "pca":
        return pca_plane(mats, o)
    if kind == "random":
        return random_plane(model, o, seed, mats)
    if kind == "interp":
        if len(mats[0]) < 2:
            raise ValueError("interpolation needs the initial and at least one later snapshot")
        return interp_plane(mats[0][0], o, mats)
    raise ValueError(f"unknown plane {kind!r}; choose one of {', '.join(PLANE_KINDS)}")


def grid_axes(plane: Plane, grid: int, extent: float) -> tuple[np.ndarray, np.ndarray]:
    """``alphas, betas`` for a ``grid`` x ``grid`` surface (``grid`` x 1 for a line).

    Planes span ``[-extent, extent]`` on both axes; the ``interp`` line spans
    ``[-extent / 2, 1 + extent / 2]`` (so extent 1 gives Goodfellow's -0.5 .. 1.5).
    """
    if not isinstance(grid, int | np.integer) or not GRID_MIN <= grid <= GRID_MAX:
        raise ValueError(f"grid must be an integer from {GRID_MIN} to {GRID_MAX}, got {grid!r}")
    if not (math.isfinite(extent) and extent > 0):
        raise ValueError(f"extent must be a positive number, got {extent!r}")
    if plane.is_line:
        return np.linspace(-extent / 2, 1 + extent / 2, grid), np.zeros(1)
    ax = np.linspace(-extent, extent, grid)
    return ax, ax.copy()


# --------------------------------------------------------------------------- evaluation
_ACTS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity, nn.ELU, nn.SiLU)
_SKIP = (nn.Dropout, nn.Dropout1d, nn.AlphaDropout, nn.Flatten)


def _mlp_ops(model: nn.Module, x: torch.Tensor) -> list[tuple] | None:
    """The layer recipe for the batched MLP path, or None if the model is not such a stack."""
    if not isinstance(model, nn.Sequential) or x.ndim != 2:
        return None
    index = {id(p): i for i, p in enumerate(model.parameters())}
    ops: list[tuple] = []
    seen_linear = False
    for m in model:
        if isinstance(m, nn.Linear):
            if m.bias is None:
                return None
            ops.append(("linear", index[id(m.weight)], index[id(m.bias)]))
            seen_linear = True
        elif isinstance(m, _ACTS):
            ops.append(("act", m))
        elif isinstance(m, _SKIP):
            continue  # eval-mode dropout is the identity; so is Flatten of (N, F) rows
        elif isinstance(m, nn.BatchNorm1d):
            if not seen_linear or m.running_mean is None or not m.affine:
                return None
            ops.append(("bn", index[id(m.weight)], index[id(m.bias)], m))
        else:
            return None
    if not ops or ops[0][0] != "linear":
        return None
    return ops


class SurfaceEvaluator:
    """Evaluates a model's loss at many points of a plane, on fixed data.

    Parameters
    ----------
    model
        The network; it is copied (its parameters are never changed). Its buffers (batch
        norm running statistics) are used as they are.
    x, y
        The data: the full training set, or pass ``max_samples`` to use a fixed subset.
    max_samples
        Use only this many examples, drawn once with ``seed`` (a fixed subset).
    chunk_elems
        Points per batch are chosen so one hidden activation holds about this many numbers
        (small enough to stay in cache).
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor | np.ndarray,
        y: torch.Tensor | np.ndarray,
        *,
        max_samples: int | None = None,
        seed: int = 0,
        chunk_elems: int = 1 << 19,
        force_method: str | None = None,
    ) -> None:
        x = torch.as_tensor(x).float().cpu()
        y = torch.as_tensor(y).long().cpu()
        n = len(y)
        if n == 0:
            raise ValueError("no examples to evaluate the loss on")
        if max_samples is not None and max_samples < n:
            idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_samples]
            x, y = x[idx.sort().values], y[idx.sort().values]
            self.data_note = f"fixed subset: {max_samples} of {n} training examples (seed {seed})"
        else:
            self.data_note = f"full training set ({n} examples)"
        self.x, self.y = x.contiguous(), y.contiguous()
        self.model = copy.deepcopy(model).cpu().float().eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.layout = _param_layout(self.model)
        self.n_params = sum(math.prod(s) for _, s, _ in self.layout)
        self.chunk_elems = chunk_elems
        self.ops = _mlp_ops(self.model, self.x)
        if force_method is not None:
            method = force_method
        elif self.ops is not None:
            method = "batched-mlp"
        elif self._vmap_works():
            method = "vmap"
        else:
            method = "loop"
        if method == "batched-mlp" and self.ops is None:
            raise ValueError("the batched MLP path needs a Sequential of Linear/activation layers")
        self.method = method

    # -- helpers
    def _split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        return [flat[off : off + math.prod(s)].view(s) for _, s, off in self.layout]

    def _vmap_works(self) -> bool:
        try:
            w = torch.zeros(2, self.n_params)
            self._vmap_losses(w[:, :], self.x[:2], self.y[:2])
            return True
        except Exception:  # noqa: BLE001 - any failure means: use the loop
            return False

    def _vmap_losses(self, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from torch.func import functional_call, vmap

        names = [n for n, _, _ in self.layout]
        buffers = dict(self.model.named_buffers())

        def one(flat: torch.Tensor) -> torch.Tensor:
            params = dict(zip(names, self._split(flat), strict=True))
            logits = functional_call(self.model, (params, buffers), (x,))
            return F.cross_entropy(logits.float(), y)

        return vmap(one)(w)

    def prepare(self, plane: Plane) -> PlaneEvaluator:
        """Do the once-per-plane work; the result evaluates points of this plane."""
        if plane.origin.shape != (self.n_params,):
            raise ValueError(f"the plane has {plane.origin.size} parameters, the model {self.n_params}")
        return PlaneEvaluator(self, plane)

    def loss_at(self, vector: np.ndarray) -> float:
        """The loss at one flat weight vector (loads the weights; for checks and paths)."""
        return float(true_losses(self.model, self.x, self.y, np.atleast_2d(vector))[0])


class PlaneEvaluator:
    """Losses at points of one plane; built by :meth:`SurfaceEvaluator.prepare`."""

    def __init__(self, ev: SurfaceEvaluator, plane: Plane) -> None:
        self.ev = ev
        self.plane = plane
        f32 = torch.float32
        self.origin = torch.as_tensor(plane.origin, dtype=f32)
        self.d1 = torch.as_tensor(plane.d1, dtype=f32)
        self.d2 = torch.as_tensor(plane.d2, dtype=f32)
        if ev.method == "batched-mlp":
            self._prepare_mlp()

    # -- the batched MLP path (activations laid out (points, features, samples), so every
    # per-point product is a (out x in) @ (in x samples) matrix product with a long side)
    def _prepare_mlp(self) -> None:
        ev = self.ev
        parts = [ev._split(v) for v in (self.origin, self.d1, self.d2)]
        xt = ev.x.T.contiguous()  # (F, N)
        self.steps: list[tuple] = []
        width = 0
        first = True
        assert ev.ops is not None  # the batched MLP path is chosen only for such a stack
        for op in ev.ops:
            if op[0] == "linear":
                ws = [p[op[1]] for p in parts]  # (O, F) each
                bs = [p[op[2]] for p in parts]  # (O,)
                out = ws[0].shape[0]
                width = max(width, out)
                if first:
                    # the once-per-plane products W0 Xᵀ + b0, D1 Xᵀ + db1, D2 Xᵀ + db2
                    a = torch.stack([torch.addmm(b[:, None], w, xt) for w, b in zip(ws, bs, strict=True)])
                    self.steps.append(("first", a.reshape(3, -1).contiguous(), out))
                    first = False
                else:
                    wflat = torch.stack(ws).reshape(3, -1).contiguous()  # (3, O*F)
                    self.steps.append(("linear", wflat, torch.stack(bs), ws[0].shape))
            elif op[0] == "act":
                self.steps.append(("act", op[1]))
            elif op[0] == "bn":
                m = op[3]
                g = torch.stack([p[op[1]] for p in parts])  # (3, F)
                b = torch.stack([p[op[2]] for p in parts])
                inv = torch.rsqrt(m.running_var.float() + m.eps)
                self.steps.append(("bn", g, b, m.running_mean.float(), inv))
        self.n = len(ev.y)
        self.width = width
        self.chunk = max(1, ev.chunk_elems // max(self.n * width, 1))
        self.y_index = ev.y.view(1, 1, self.n)

    def _mlp_chunk(self, coef: torch.Tensor) -> torch.Tensor:
        """Losses for coefficient rows ``[1, a, b]`` (P, 3)."""
        p, n = coef.shape[0], self.n
        h = torch.empty(0)
        for st in self.steps:
            kind = st[0]
            if kind == "first":
                h = torch.mm(coef, st[1]).view(p, st[2], n)
            elif kind == "act":
                mod = st[1]
                if isinstance(mod, nn.ReLU):
                    h.relu_()
                elif not isinstance(mod, nn.Identity):
                    h = mod(h)
            elif kind == "linear":
                _, wflat, bcat, shape = st
                wp = torch.mm(coef, wflat).view(p, *shape)  # (P, O, F): this point's weights
                h = torch.baddbmm((coef @ bcat)[:, :, None], wp, h)  # (P, O, N)
            elif kind == "bn":
                _, g, b, mean, inv = st
                scale = (coef @ g) * inv  # (P, F)
                shift = coef @ b - mean * scale
                h = torch.addcmul(shift[:, :, None], h, scale[:, :, None])
        # mean cross-entropy per point; logits are (P, C, N)
        m = h.amax(1, keepdim=True)
        lse = (h - m).exp_().sum(1).log_() + m.squeeze(1)
        picked = h.gather(1, self.y_index.expand(p, 1, n)).squeeze(1)
        return (lse - picked).mean(1)

    # -- public
    @torch.inference_mode()
    def losses(self, coords: np.ndarray, should_stop: Callable[[], bool] | None = None) -> np.ndarray:
        """Loss at each plane coordinate row ``(a, b)`` of ``coords`` (P, 2), float64.

        ``should_stop`` is polled between chunks; when it returns True the rest is NaN.
        """
        c = torch.as_tensor(np.asarray(coords, dtype=np.float32).reshape(-1, 2))
        total = c.shape[0]
        out = torch.full((total,), float("nan"), dtype=torch.float64)
        coef = torch.cat([torch.ones(total, 1), c], 1)
        ev = self.ev
        if ev.method == "batched-mlp":
            step = self.chunk
            fn = self._mlp_chunk
        elif ev.method == "vmap":
            step = max(1, ev.chunk_elems // max(len(ev.y) * 64, 1))
            fn = self._vmap_chunk
        else:
            step = 1
            fn = self._loop_chunk
        for i in range(0, total, step):
            if should_stop is not None and should_stop():
                break
            out[i : i + step] = fn(coef[i : i + step]).double()
        return out.numpy()

    def _weights(self, coef: torch.Tensor) -> torch.Tensor:
        return self.origin[None, :] + coef[:, 1:2] * self.d1[None, :] + coef[:, 2:3] * self.d2[None, :]

    def _vmap_chunk(self, coef: torch.Tensor) -> torch.Tensor:
        return self.ev._vmap_losses(self._weights(coef), self.ev.x, self.ev.y)

    def _loop_chunk(self, coef: torch.Tensor) -> torch.Tensor:
        w = self._weights(coef).numpy()
        return torch.as_tensor(true_losses(self.ev.model, self.ev.x, self.ev.y, w))

    def grid(
        self, alphas: np.ndarray, betas: np.ndarray, should_stop: Callable[[], bool] | None = None
    ) -> np.ndarray:
        """Losses on the grid, ``loss[ib, ia]`` at ``(alphas[ia], betas[ib])``."""
        ga, gb = np.meshgrid(alphas, betas)
        coords = np.stack([ga.ravel(), gb.ravel()], 1)
        return self.losses(coords, should_stop).reshape(len(betas), len(alphas))


@torch.inference_mode()
def true_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, vectors: np.ndarray) -> np.ndarray:
    """Mean cross-entropy at each flat weight vector, loading the weights one at a time.

    This is the plain loop (the benchmark's peer and the tests' reference); the model is
    copied, never changed, and evaluated in eval mode.
    """
    m = copy.deepcopy(model).cpu().float().eval()
    params = list(m.parameters())
    x = torch.as_tensor(x).float()
    y = torch.as_tensor(y).long()
    vs = torch.as_tensor(np.atleast_2d(np.asarray(vectors)), dtype=torch.float32)
    out = np.empty(len(vs))
    for i, v in enumerate(vs):
        torch.nn.utils.vector_to_parameters(v, params)
        out[i] = float(F.cross_entropy(m(x).float(), y))
    return out


def loop_losses(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    plane: Plane,
    alphas: np.ndarray,
    betas: np.ndarray,
) -> np.ndarray:
    """The grid surface by loading each point's weights and evaluating (the slow peer)."""
    ga, gb = np.meshgrid(alphas, betas)
    pts = plane.points(np.stack([ga.ravel(), gb.ravel()], 1))
    return true_losses(model, x, y, pts).reshape(len(betas), len(alphas))


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor | np.ndarray, batch_size: int = 256) -> int:
    """Re-estimate batch-norm running statistics at the model's current weights.

    Weight snapshots hold parameters only; a model rebuilt from one has default running
    statistics (mean 0, variance 1). This averages the batch statistics over ``x`` in
    training mode (cumulative average; every other layer in eval mode, so dropout is off)
    so the eval-mode loss is meaningful again. Returns
    the number of batch-norm layers updated (0: the model is unchanged).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    x = torch.as_tensor(x).float()
    was_training = model.training
    saved = [m.momentum for m in bns]
    model.eval()  # dropout stays off (and draws no random numbers)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
        m.train()  # only batch norm collects statistics
    for i in range(0, len(x), batch_size):
        if len(x[i : i + batch_size]) > 1:
            model(x[i : i + batch_size])
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.train(was_training)
    return len(bns)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Surface:
    """A computed surface: ``loss[ib, ia]`` at ``(alphas[ia], betas[ib])`` of ``plane``."""

    plane: Plane
    alphas: np.ndarray = field(repr=False)
    betas: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    grid: int
    extent: float
    method: str
    data_note: str
    seconds: float
    final: bool = True

    @property
    def origin_loss(self) -> float:
        """The surface's value nearest the origin (exact when 0 is on the grid)."""
        ia = int(np.argmin(np.abs(self.alphas)))
        ib = int(np.argmin(np.abs(self.betas)))
        return float(self.loss[ib, ia])


def surface_stages(
    pe: PlaneEvaluator,
    extent: float,
    grids: Sequence[int] = (21, 51),
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[Surface]:
    """Coarse then refined surfaces of one prepared plane (the plane work is done once)."""
    for k, g in enumerate(grids):
        if should_stop is not None and should_stop():
            return
        t0 = time.perf_counter()
        alphas, betas = grid_axes(pe.plane, int(g), extent)
        loss = pe.grid(alphas, betas, should_stop)
        yield Surface(
            pe.plane,
            alphas,
            betas,
            loss,
            int(g),
            float(extent),
            pe.ev.method,
            pe.ev.data_note,
            time.perf_counter() - t0,
            k == len(grids) - 1,
        )


@dataclass(frozen=True)
class PathReport:
    """One run's trajectory on a plane, with the true loss beside the slice's value."""

    run: int
    steps: np.ndarray
    coords: np.ndarray  # (T, 2)
    true_loss: np.ndarray
    slice_loss: np.ndarray
    off_plane: np.ndarray  # distance of each snapshot from the plane (weight-space units)

    @property
    def max_gap(self) -> float:
        """Largest |true - slice| along the path: how far the slice misleads."""
        ok = np.isfinite(self.true_loss) & np.isfinite(self.slice_loss)
        return float(np.abs(self.true_loss[ok] - self.slice_loss[ok]).max()) if ok.any() else math.nan


def path_report(
    ev: SurfaceEvaluator, pe: PlaneEvaluator, run: int, steps: np.ndarray, vectors: np.ndarray
) -> PathReport:
    """Project a run's snapshots on the plane; true loss at each snapshot vs the slice's value."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    coords = pe.plane.project(vectors)
    true = true_losses(ev.model, ev.x, ev.y, vectors)
    sl = pe.losses(coords)
    return PathReport(run, np.asarray(steps), coords, true, sl, pe.plane.distance_from_plane(vectors))


# --------------------------------------------------------------------------- the pipeline
def flat_weights(model: nn.Module) -> np.ndarray:
    """The model's parameters as one float64 vector (``model.parameters()`` order)."""
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1).double().cpu() for p in model.parameters()]).numpy()


def end_at_final(
    steps: np.ndarray, vectors: np.ndarray, final: np.ndarray, final_step: int
) -> tuple[np.ndarray, np.ndarray]:
    """A path of snapshots that ends at the final weights.

    Snapshots are taken every ``weights_every`` updates, so the last one can be a few
    updates before the end, or (early stopping with restore) not the returned weights at
    all. When the last snapshot differs from ``final``, ``final`` is appended at
    ``final_step``; otherwise the path is returned unchanged.
    """
    steps = np.asarray(steps)
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    final = np.asarray(final, dtype=np.float64).reshape(1, -1)
    if len(vectors) and np.array_equal(vectors[-1], final[0]):
        return steps, vectors
    return np.append(steps, int(final_step)), np.concatenate([vectors, final])


def model_at(model_cfg: ModelConfig, vector: np.ndarray, ds: Dataset) -> tuple[nn.Module, bool]:
    """The network of ``model_cfg`` for ``ds`` holding the flat weights ``vector``, for evaluation.

    Built on the meta device, so no initialisation runs and nothing is drawn from torch's
    global random generator (a training thread may be using it). Batch-norm statistics are
    not in a weight vector: they are re-estimated on the training set; the flag says so.
    """
    from .models import build_model

    with torch.device("meta"):
        model = build_model(model_cfg, ds.n_features, ds.n_classes, ds.image_shape)
    model = model.to_empty(device="cpu")
    for buf in model.buffers():  # uninitialised memory; batch norm statistics are re-estimated below
        buf.zero_()
    torch.nn.utils.vector_to_parameters(torch.as_tensor(vector, dtype=torch.float32), model.parameters())
    return model, recalibrate_batchnorm(model, ds.x_train) > 0


SurfaceStage = tuple[str, Any]
"""What :func:`surface_pipeline` yields: ``("plane", Plane)``, ``("surface", Surface)`` (one per
grid, coarse first) and ``("paths", list[PathReport])``."""


def surface_pipeline(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    paths: Sequence[tuple[int, np.ndarray, np.ndarray]],
    *,
    kind: str = "pca",
    grids: Sequence[int] = (51,),
    extent: float = 1.0,
    seed: int = 0,
    max_samples: int | None = None,
    final_step: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[SurfaceStage]:
    """Plane, surfaces and path reports of trained runs: the one pipeline (CLI and window).

    Parameters
    ----------
    model
        The first run's network at its final weights: they are the plane's centre.
    x, y
        The data the loss is evaluated on (the training set).
    paths
        ``(run, steps, vectors)`` per run sharing the architecture, first run first. The
        first path is made to end at the model's weights (appended at ``final_step``,
        default one past its last step, when its last snapshot is not them); pass the
        other runs' paths through :func:`end_at_final` for the same guarantee.
    kind, grids, extent, seed
        Plane kind (``pca``, ``random``, ``interp``), grid sizes computed in turn,
        half-width of the plane, random directions' seed.
    max_samples
        Evaluate on a fixed subset of this many examples (default: all).
    should_stop
        Polled between chunks; when it returns True nothing more is yielded.
    """
    origin = flat_weights(model)
    runs = [int(r) for r, _, _ in paths]
    steps = [np.asarray(st) for _, st, _ in paths]
    trajs = [np.atleast_2d(np.asarray(v, dtype=np.float64)) for _, _, v in paths]
    if final_step is None:
        final_step = int(steps[0][-1]) + 1 if len(steps[0]) else 0
    steps[0], trajs[0] = end_at_final(steps[0], trajs[0], origin, final_step)
    plane = make_plane(kind, model, trajs, seed=seed, origin=origin)
    yield "plane", plane
    evaluator = SurfaceEvaluator(model, x, y, max_samples=max_samples)
    pe = evaluator.prepare(plane)
    for surface in surface_stages(pe, extent, grids, should_stop):
        if should_stop is not None and should_stop():
            return
        yield "surface", surface
    if should_stop is not None and should_stop():
        return
    yield "paths", [path_report(evaluator, pe, r, st, t) for r, st, t in zip(runs, steps, trajs, strict=True)]
