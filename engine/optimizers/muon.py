"""Muon (Jordan et al. 2024, ``torch.optim.Muon``): momentum orthogonalised per weight matrix.

Each 2-D weight matrix steps along ``NS(m)``, the momentum (Nesterov by default) pushed
towards the nearest semi-orthogonal matrix by ``ns_steps`` Newton–Schulz iterations: every
singular direction moves by about the same amount. Muon is defined for matrices only; the
other parameters (biases, batch-norm scales, convolution kernels) go on ``torch.optim.AdamW``,
as torch's documentation says. :func:`muon_with_adamw` builds that pair as one optimizer;
:class:`BatchedMuon` is its vectorised twin (the Newton–Schulz iteration as batched matrix
products over the runs, in bfloat16 as torch does it).

Muon runs train alone by default (:data:`TRAINS_ALONE`): bfloat16 Newton–Schulz turns the
float32 rounding differences between the batched engine's gradients and a lone run's into
training losses ~5e-4 apart, past the 1e-4 at which every other optimizer's batched runs
equal their runs alone. A run asks for the twin with ``batched = true`` (faster races, with
that difference); the twin's own update is torch's (``tests/engine/test_new_optimizers.py``).

``adjust_lr_fn = "match_rms_adamw"`` (the default here; Liu et al. 2025, "Muon is Scalable
for LLM Training") scales the matrix step to AdamW's update RMS (``0.2 * sqrt(max(A, B))``),
so one learning rate and weight decay serve both; ``"original"`` is Jordan's
``sqrt(max(1, A / B))``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..schema import LR, WD, Eps
from .adam import AdamW, BatchedAdamW
from .base import BatchedOptimizer, OptimizerPart, OptimizerSettings

if TYPE_CHECKING:
    import torch

__all__ = [
    "Muon",
    "MuonPart",
    "BatchedMuon",
    "muon_with_adamw",
    "adjusted_lr",
    "newton_schulz",
    "ADAMW_BETAS",
    "ADAMW_EPS",
    "TRAINS_ALONE",
]

#: the AdamW half's betas and eps (torch.optim.AdamW's defaults)
ADAMW_BETAS = (0.9, 0.999)
ADAMW_EPS = 1e-8

#: why a Muon run trains alone unless it asks for the twin (said in the run's output)
TRAINS_ALONE = (
    "Muon's bfloat16 Newton–Schulz step turns the batched computation's float rounding into "
    "~5e-4 train-loss differences; trained alone it matches torch.optim.Muon"
)


class Muon(OptimizerSettings):
    """``torch.optim.Muon`` on the 2-D weight matrices (momentum orthogonalised by Newton–Schulz),
    ``torch.optim.AdamW`` at the same rate and weight decay on the other parameters."""

    kind: Literal["muon"] = "muon"
    lr: LR = 0.001
    weight_decay: WD = 0.1
    momentum: float = Field(0.95, ge=0.0, lt=1.0)
    nesterov: bool = True
    ns_steps: int = Field(5, ge=1, le=20, description="Newton–Schulz iterations")
    eps: Eps = 1e-7
    adjust_lr_fn: Literal["match_rms_adamw", "original"] = "match_rms_adamw"
    batched: bool = Field(
        False,
        description=(
            "train with the race's other runs of the same data and layers as one batched computation (faster; "
            "train losses then ~5e-4 from torch.optim.Muon's, its bfloat16 Newton–Schulz "
            "amplifying float rounding); off: the run trains alone, as torch.optim.Muon"
        ),
    )


def adjusted_lr(lr: float, fn: str, shape: tuple[int, ...]) -> float:
    """The rate Muon applies to a matrix's orthogonalised update (torch's ``_adjust_lr``)."""
    a, b = shape[:2]
    if fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(a, b))
    return lr * math.sqrt(max(1.0, a / b))


#: torch.optim.Muon's quintic Newton–Schulz coefficients (Jordan's (a, b, c); torch's defaults)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: torch.Tensor, steps: int, eps: torch.Tensor) -> torch.Tensor:
    """torch.optim.Muon's ``_zeropower_via_newtonschulz`` on a stack of matrices ``(n, A, B)``,
    one per run, as batched matrix products: in bfloat16, each matrix (transposed when tall)
    divided by its Frobenius norm (at least its row's ``eps``, an ``(n, 1, 1)`` column), then
    ``X <- a X + (b G + c G^2) X`` with ``G = X X^T``, ``steps`` times. The result is
    bfloat16, as torch's; on the CPU it equals torch's matrix by matrix, bit for bit."""
    import torch

    a, b, c = NS_COEFFICIENTS
    x = g.bfloat16()
    tall = g.size(-2) > g.size(-1)
    if tall:
        x = x.transpose(-2, -1)
    norm = torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True)
    x = x.div(torch.maximum(norm, eps.to(norm.dtype)))
    for _ in range(steps):
        gram = torch.bmm(x, x.transpose(-2, -1))
        gram_update = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.baddbmm(x, gram_update, x, beta=a)
    return x.transpose(-2, -1) if tall else x


@functools.cache
def _combined() -> type:
    """The Muon + AdamW optimizer class (defined on first use: this module loads without torch)."""
    import torch

    class MuonWithAdamW(torch.optim.Optimizer):
        """``torch.optim.Muon`` on the 2-D parameters, ``torch.optim.AdamW`` on the others,
        stepped together; their parameter groups (Muon's first) are this optimizer's, so a
        learning-rate scheduler drives both."""

        def __init__(self, params: list[torch.Tensor], muon_kwargs: dict[str, Any]) -> None:
            params = list(params)
            self.matrices = [p for p in params if p.ndim == 2]
            self.others = [p for p in params if p.ndim != 2]
            self.muon = torch.optim.Muon(self.matrices, **muon_kwargs) if self.matrices else None
            self.adamw = (
                torch.optim.AdamW(
                    self.others,
                    lr=muon_kwargs["lr"],
                    weight_decay=muon_kwargs["weight_decay"],
                    betas=ADAMW_BETAS,
                    eps=ADAMW_EPS,
                )
                if self.others
                else None
            )
            self.inner = [o for o in (self.muon, self.adamw) if o is not None]
            super().__init__(params, dict(muon_kwargs))
            self.param_groups = [g for o in self.inner for g in o.param_groups]
            self.state = _States(self.inner)  # type: ignore[assignment]

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:  # type: ignore[override]
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for o in self.inner:
                o.step()
            return loss

    class _States(dict):
        """The inner optimizers' states read as one (``state[p]``, ``state.get(p)``)."""

        def __init__(self, inner: Sequence[torch.optim.Optimizer]) -> None:
            super().__init__()
            self.inner = inner

        def _find(self, p: Any) -> dict | None:
            for o in self.inner:
                if p in o.state:
                    return o.state[p]
            return None

        def __getitem__(self, p: Any) -> Any:
            found = self._find(p)
            if found is None:
                raise KeyError(p)
            return found

        def get(self, p: Any, default: Any = None) -> Any:
            found = self._find(p)
            return default if found is None else found

        def __contains__(self, p: object) -> bool:
            return self._find(p) is not None

    return MuonWithAdamW


def muon_with_adamw(params: list[Any], cfg: Any) -> Any:
    """Muon on ``params``' 2-D tensors and AdamW on the rest, as one optimizer."""
    return _combined()(params, MuonPart.torch_kwargs(cfg))


class BatchedMuon(BatchedOptimizer):
    """:func:`muon_with_adamw` per row: each run's 2-D weight matrices on Muon (for each weight
    matrix, one Newton–Schulz iteration batched over the runs: :func:`newton_schulz`), its
    other parameters on AdamW at the same rate and weight decay (a
    :class:`~engine.optimizers.adam.BatchedAdamW` over those columns). Each run has its own
    rate, weight decay, momentum, ``eps`` and ``adjust_lr_fn``; ``nesterov`` and ``ns_steps``
    are structural (the group key).

    Given the same gradients, the rows step as torch.optim.Muon + AdamW do (bit for bit
    but for a rare bfloat16 tie in torch's small-matrix products). Within training, the
    batched engine's gradients differ from torch's by float32 rounding, which the bfloat16
    iteration can turn into a different path: Muon runs batched and alone agree less
    closely than other optimizers' (README, "Experiment files"), so the runner uses this twin
    only for runs that ask for it (``batched = true``; :data:`TRAINS_ALONE`)."""

    state_names = ("momentum_buffer",)
    uses_shapes = True

    def __init__(
        self,
        cfgs: Sequence[Any],
        start: int,
        stop: int,
        params: torch.Tensor,
        shapes: Sequence[tuple[int, ...]] | None = None,
    ) -> None:
        import torch

        super().__init__(cfgs, start, stop, params, shapes)
        self.nesterov = self.cfgs[0].nesterov
        self.ns_steps = self.cfgs[0].ns_steps
        self.matrices = [i for i, s in enumerate(self.shapes) if len(s) == 2]
        self.momentum = self.column([c.momentum for c in self.cfgs]).view(-1, 1, 1)
        self.one_minus_momentum = self.column([1 - c.momentum for c in self.cfgs]).view(-1, 1, 1)
        self.ns_eps = self.column([c.eps for c in self.cfgs]).view(-1, 1, 1)
        # the matrices' momentum (the other columns stay zero) and the AdamW half's columns
        self.momentum_buffer = self.zeros(params)
        offsets = [0]
        for s in self.shapes:
            offsets.append(offsets[-1] + math.prod(s))
        rest = [torch.arange(offsets[i], offsets[i + 1]) for i, s in enumerate(self.shapes) if len(s) != 2]
        self.rest = torch.cat(rest).to(self.device) if rest else None
        self.adamw: BatchedAdamW | None = None
        if self.rest is not None:
            adamw_cfgs = [
                AdamW(
                    lr=c.lr,
                    beta1=ADAMW_BETAS[0],
                    beta2=ADAMW_BETAS[1],
                    eps=ADAMW_EPS,
                    weight_decay=c.weight_decay,
                )
                for c in self.cfgs
            ]
            self.adamw = BatchedAdamW(adamw_cfgs, 0, self.n, params.new_zeros(self.n, len(self.rest)))

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        return (cfg.kind, cfg.nesterov, cfg.ns_steps)

    def scales(self, lrs: list[float], shape: tuple[int, ...]) -> list[float]:
        """Each row's Muon step scale on a matrix of ``shape`` (torch's ``_adjust_lr``)."""
        return [adjusted_lr(lr, c.adjust_lr_fn, shape) for lr, c in zip(lrs, self.cfgs, strict=True)]

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        if self.matrices:
            weights, grads, bufs = self.leaves(p), self.leaves(g), self.leaves(self.momentum_buffer)
            keep = self.column([1 - lr * c.weight_decay for lr, c in zip(lrs, self.cfgs, strict=True)])
            keep = keep.view(-1, 1, 1)
            for i in self.matrices:
                w, grad, buf = weights[i], grads[i], bufs[i]
                buf.lerp_(grad, self.one_minus_momentum)
                step_dir = grad.lerp(buf, self.momentum) if self.nesterov else buf
                ortho = newton_schulz(step_dir, self.ns_steps, self.ns_eps)
                w.mul_(keep)
                w.addcmul_(ortho, self.column([-v for v in self.scales(lrs, self.shapes[i])]).view(-1, 1, 1))
        if self.adamw is not None and self.rest is not None:
            rest_p = p.index_select(1, self.rest)
            self.adamw.step(rest_p, g.index_select(1, self.rest), lrs)
            p.index_copy_(1, self.rest, rest_p)

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        """A matrix: its Muon step scale for every element (as :meth:`MuonPart.effective_lr`);
        the other parameters: AdamW's rate ``lr / (sqrt(v / (1 - b2^t)) + eps)``."""
        out = super().effective_lr(lrs)
        views = self.leaves(out)
        for i in self.matrices:
            views[i].copy_(self.column64(self.scales(lrs, self.shapes[i])).view(-1, 1, 1).expand_as(views[i]))
        if self.adamw is not None and self.rest is not None:
            out.index_copy_(1, self.rest, self.adamw.effective_lr(lrs))
        return out

    def reset_row(self, i: int) -> None:
        super().reset_row(i)
        if self.adamw is not None:
            self.adamw.reset_row(i)


class MuonPart(OptimizerPart):
    config = Muon
    title = "Muon (+ AdamW)"
    torch_name = "Muon"
    batched = BatchedMuon
    trains_alone = TRAINS_ALONE
    batched_opt_in = "batched"
    labels = {
        "ns_steps": "Newton–Schulz steps",
        "nesterov": "Nesterov",
        "adjust_lr_fn": "Rate scaling",
        "batched": "Train batched with others",
    }
    #: the 2-D test functions have one vector parameter: Muon would leave it all to AdamW
    race = ()
    inside_note = (
        "Muon has no per-weight rate: it orthogonalises each matrix's momentum, so every "
        "direction of a matrix moves by the same amount; its rate here is that per-matrix "
        "step scale (lr × shape factor). Read the update/weight ratio to compare it with others."
    )

    @classmethod
    def param_roles(cls, named_shapes: Sequence[tuple[str, tuple[int, ...]]]) -> str:
        def listed(rows: Sequence[tuple[str, tuple[int, ...]]]) -> str:
            return ", ".join(f"{n} {'×'.join(str(d) for d in shape)}" for n, shape in rows) or "none"

        mats = [(n, s) for n, s in named_shapes if len(s) == 2]
        rest = [(n, s) for n, s in named_shapes if len(s) != 2]
        return f"Muon steps the weight matrices {listed(mats)}; AdamW steps {listed(rest)}"

    @classmethod
    def torch_class(cls) -> type:
        return _combined()

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "momentum": cfg.momentum,
            "nesterov": cfg.nesterov,
            "ns_steps": cfg.ns_steps,
            "eps": cfg.eps,
            "adjust_lr_fn": cfg.adjust_lr_fn,
        }

    @classmethod
    def build(cls, params: list[Any], cfg: Any, *, fused: bool = False) -> torch.optim.Optimizer:
        opt: torch.optim.Optimizer = muon_with_adamw(params, cfg)
        return opt

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """A matrix: Muon's step scale ``adjusted_lr`` on its orthogonalised momentum, the same
        for every element (no per-weight meaning: see :attr:`inside_note`). Another tensor:
        AdamW's ``lr / (sqrt(v / (1 - b2^t)) + eps)``."""
        import torch

        if p.ndim == 2:
            return torch.full_like(
                p, adjusted_lr(lr, group["adjust_lr_fn"], tuple(p.shape)), dtype=torch.float64
            )
        bc2 = 1 - ADAMW_BETAS[1] ** float(state["step"])
        return lr / (state["exp_avg_sq"].double().sqrt() / math.sqrt(bc2) + ADAMW_EPS)
