"""Gradient check: central finite differences in float64 against the gradient Optiscope trains with.

For a run, :func:`gradient_check` takes a small batch of its training data and compares the
analytic gradient with ``(L(w + h) - L(w - h)) / 2h`` computed in float64 on every entry of
each parameter tensor (weights and biases apart) of at most ``full_below`` entries (4096 by
default: every entry of a small network), and on ``samples`` entries drawn from each larger
tensor. The report gives, for every sampled tensor, the probability that a sample of ``s``
of its ``n`` entries misses all of ``k`` wrong ones: ``C(n - k, s) / C(n, s)``. It checks every way the run can be
trained: alone (the ``torch.nn`` model's autograd gradient) and, when the run can share a
batched computation (:func:`engine.sweep.batch_key`), the batched engine's own gradient
(:class:`engine.kernels.BatchedNet`'s hand-written backward pass for dense/dropout
networks, autograd otherwise).

The checked loss is the mean cross-entropy plus the L2 penalty (L1 is a proximal step
after the update, not part of the gradient). Dropout is off and batch norm is in
evaluation mode (running statistics), so the loss is a fixed function of the weights.

A sampled parameter whose difference step ``w +- h`` flips a ReLU unit on or off (a kink
between the two points: the difference quotient is then no derivative at all) is skipped
and counted. Thresholds on the relative error ``|a - n| / max(|a|, |n|, 1e-8)``: below 1e-7 fine; below
1e-5 acceptable (a ReLU kink inside the difference step); below 1e-3 doubtful; from 1e-3
on the gradient is wrong and the layer fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .config import Dropout, RunConfig
from .data import Dataset, load_dataset
from .inside import model_layers
from .kernels import BatchedNet
from .models import build_model

__all__ = [
    "FINE",
    "ACCEPTABLE",
    "WRONG",
    "FULL_BELOW",
    "SAMPLES",
    "LayerCheck",
    "miss_probability",
    "GradCheckReport",
    "gradient_check",
    "verdict",
]

FINE, ACCEPTABLE, WRONG = 1e-7, 1e-5, 1e-3
FULL_BELOW = 4096  # parameter tensors up to this size are checked entry by entry
SAMPLES = 200  # entries drawn from each larger tensor
MISS_KS = (1, 2, 10)  # numbers of wrong entries whose chance of escaping a sample is printed
NOTES = (
    "float64, central differences, step 1e-6",
    "entries whose gradient is below 1000 x the differences' rounding error (eps * |loss| / step) are "
    "skipped as too small to check, and a difference within 10 x that rounding error counts as none",
    "dropout off and batch norm in evaluation mode during the check",
    "loss: mean cross-entropy + L2 penalty (L1 is a proximal step after the update, not in the gradient)",
)


def verdict(error: float) -> str:
    if error < FINE:
        return "fine"
    if error < ACCEPTABLE:
        return "acceptable"
    if error < WRONG:
        return "doubtful"
    return "WRONG"


def miss_probability(n: int, s: int, k: int) -> float:
    """The chance that ``s`` entries drawn without replacement from ``n`` miss all of ``k`` wrong
    ones (hypergeometric: ``C(n - k, s) / C(n, s)``)."""
    if k <= 0:
        return 1.0
    if s + k > n:
        return 0.0
    return math.comb(n - k, s) / math.comb(n, s)


@dataclass(frozen=True)
class LayerCheck:
    """One layer's result in one engine.

    ``entries``: the layer's parameter count; ``sampled``: ``(tensor, n, s)`` for each of its
    tensors checked on a sample of ``s`` of its ``n`` entries (the others were checked whole).
    """

    engine: str
    layer: str
    checked: int
    max_error: float
    mean_error: float
    at_kink: int = 0
    too_small: int = 0
    entries: int = 0
    sampled: tuple[tuple[str, int, int], ...] = ()

    @property
    def complete(self) -> bool:
        """Every entry of the layer was tried (none sampled)."""
        return not self.sampled

    @property
    def passed(self) -> bool:
        return not self.max_error >= WRONG  # NaN (every sample at a kink) passes

    @property
    def verdict(self) -> str:
        return verdict(self.max_error)


@dataclass
class GradCheckReport:
    label: str
    batch: int
    layers: list[LayerCheck] = field(default_factory=list)
    notes: tuple[str, ...] = NOTES

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.layers)

    def table(self) -> str:
        """The report as a fixed-width text table."""
        lines = [
            f"gradient check of {self.label!r} on {self.batch} training examples",
            *(f"  ({n})" for n in self.notes),
            f"  thresholds: < {FINE:g} fine, < {ACCEPTABLE:g} acceptable near ReLU kinks, >= {WRONG:g} wrong",
            "",
            f"{'engine':<34} {'layer':<22} {'entries':>7} {'checked':>7} {'at kink':>7} {'tiny':>5} {'max rel err':>12} "
            f"{'mean rel err':>12}  verdict",
        ]
        for c in self.layers:
            lines.append(
                f"{c.engine:<34} {c.layer:<22} {c.entries:>7} {c.checked:>7} {c.at_kink:>7} {c.too_small:>5} {c.max_error:>12.3g} "
                f"{c.mean_error:>12.3g}  {c.verdict}"
            )
        sampled = [(c, t, n, k) for c in self.layers for (t, n, k) in c.sampled]
        lines.append("")
        if sampled:
            lines.append(
                "sampled tensors (the others were checked entry by entry); chance that the sample "
                "misses all of k wrong entries:"
            )
            seen = set()
            for c, t, n, k in sampled:
                if (c.layer, t) in seen:  # the same draw in every engine
                    continue
                seen.add((c.layer, t))
                odds = ", ".join(f"k={w}: {miss_probability(n, k, w):.3g}" for w in MISS_KS)
                lines.append(f"  {c.layer} {t}: {k} of {n} entries; {odds}")
        else:
            lines.append("every entry of every parameter tensor was checked (none sampled)")
        lines.append(
            "PASS: every layer's gradient agrees" if self.passed else "FAIL: a layer's gradient is wrong"
        )
        return "\n".join(lines)


def _compare(
    engine: str,
    model: torch.nn.Sequential,
    flat: torch.Tensor,
    analytic: torch.Tensor,
    loss: Callable[[], tuple[float, torch.Tensor]],
    samples: int,
    full_below: int,
    generator: torch.Generator,
    step: float,
) -> list[LayerCheck]:
    """Central differences on the entries of each layer of the flat parameter vector ``flat``
    (a view the loss reads), against ``analytic``; ``loss()`` returns the loss and the on/off
    pattern of the ReLU units. Each parameter tensor (weight, bias) of at most ``full_below``
    entries is checked whole; ``samples`` entries are drawn from each larger one.

    A central difference carries a rounding error of about ``eps * |loss| / step`` (~1e-9 for a
    loss near 4 at step 1e-6): an entry whose gradient is under 1000 times that cannot be told
    apart from noise at the ``WRONG`` threshold, so it is skipped and counted as too small,
    the way entries at a ReLU kink are. Above it, the part of ``|a - n|`` within 10 times the
    rounding error is not counted (an absolute tolerance, as ``torch.autograd.gradcheck``'s
    ``atol``): checking every entry of a small network otherwise calls entries just above the
    skip line "doubtful" on rounding alone.
    """
    base, _on = loss()
    rounding = torch.finfo(torch.float64).eps * max(abs(base), 1.0) / step
    too_small_below = 1e3 * rounding
    out = []
    for spec in model_layers(model):
        tensors = [("weight", spec.weight), ("bias", slice(spec.weight.stop, spec.params.stop))]
        chosen: list[torch.Tensor] = []
        sampled: list[tuple[str, int, int]] = []
        for name, where in tensors:
            n = where.stop - where.start
            if n == 0:
                continue
            if n <= full_below or n <= samples:
                chosen.append(torch.arange(where.start, where.stop))
            else:
                chosen.append(torch.randperm(n, generator=generator)[:samples] + where.start)
                sampled.append((name, n, samples))
        picks = torch.cat(chosen)
        errors = []
        at_kink = too_small = 0
        for k in picks.tolist():
            old = float(flat[k])
            flat[k] = old + step
            up, up_on = loss()
            flat[k] = old - step
            down, down_on = loss()
            flat[k] = old
            if not torch.equal(up_on, down_on):
                at_kink += 1
                continue
            numeric = (up - down) / (2 * step)
            a = float(analytic[k])
            if max(abs(a), abs(numeric)) < too_small_below:
                too_small += 1
                continue
            errors.append(max(abs(a - numeric) - 10 * rounding, 0.0) / max(abs(a), abs(numeric), 1e-8))
        worst = max(errors) if errors else math.nan
        mean = sum(errors) / len(errors) if errors else math.nan
        out.append(
            LayerCheck(
                engine,
                spec.name,
                len(errors),
                worst,
                mean,
                at_kink,
                too_small,
                entries=spec.params.stop - spec.params.start,
                sampled=tuple(sampled),
            )
        )
    return out


def gradient_check(
    cfg: RunConfig,
    *,
    batch: int = 16,
    samples: int = SAMPLES,
    full_below: int = FULL_BELOW,
    seed: int = 0,
    step: float = 1e-6,
    dataset: Dataset | None = None,
) -> GradCheckReport:
    """Check ``cfg``'s gradients at its initial weights on ``batch`` training examples.

    Every entry of a parameter tensor of at most ``full_below`` entries; ``samples`` entries
    (drawn with ``seed``) of each larger one.
    """
    from .sweep import batch_key

    ds = dataset if dataset is not None else load_dataset(cfg.dataset)
    x = torch.as_tensor(ds.x_train[:batch], dtype=torch.float64)
    y = torch.as_tensor(ds.y_train[:batch])
    l2 = cfg.regularization.l2
    report = GradCheckReport(cfg.describe(), len(y))
    torch.manual_seed(cfg.training.seed)
    model = build_model(cfg.model, ds.n_features, ds.n_classes, ds.image_shape).double().eval()
    params = list(model.parameters())
    weights = [p for p in params if p.ndim > 1]

    # alone: the torch.nn model's autograd gradient
    def loss_alone() -> torch.Tensor:
        value = F.cross_entropy(model(x), y)
        return value + l2 * sum((w * w).sum() for w in weights) if l2 else value

    loss_alone().backward()
    analytic = torch.cat([p.grad.reshape(-1) for p in params])  # type: ignore[union-attr]
    flat = torch.nn.utils.parameters_to_vector(params).detach()

    def numeric_alone() -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(flat, params)
            h, on = x, []
            for m in model:
                h = m(h)
                if isinstance(m, torch.nn.ReLU | torch.nn.LeakyReLU):
                    on.append((h > 0).reshape(-1))
            value = F.cross_entropy(h, y)
            if l2:
                value = value + l2 * sum((w * w).sum() for w in weights)
            return float(value), torch.cat(on) if on else torch.zeros(0, dtype=torch.bool)

    gen = torch.Generator().manual_seed(seed)
    report.layers += _compare(
        "alone (torch autograd)", model, flat, analytic, numeric_alone, samples, full_below, gen, step
    )
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(flat, params)

    # batched: the batched engine's own gradient
    if batch_key(cfg) is not None:
        n_dropout = sum(isinstance(layer, Dropout) for layer in cfg.model.layers)
        net = BatchedNet(cfg, [model], [[0.0] * n_dropout], torch.device("cpu"))
        net.generators = [torch.Generator()]
        engine = "batched (hand-written backward)" if net.manual else "batched (autograd)"
        xb, yb = x.t()[None].contiguous(), y[None]
        l2_col = torch.tensor([l2], dtype=torch.float64) if l2 else None
        mask = torch.ones(1, dtype=torch.float64)
        net.train_step(xb, yb, mask, [True], None, l2_col, train=False)
        analytic_b = net.grads[0].detach().clone()

        relu_ops = [
            i for i, op in enumerate(net.ops) if op.kind == "act" and op.act in ("relu", "leaky_relu")
        ]

        def numeric_batched() -> tuple[float, torch.Tensor]:
            with torch.no_grad():
                taps: list = []
                logits = net.forward(xb, False, taps=taps)
                value = F.cross_entropy(logits, yb, reduction="none").mean(1) + net.penalty(None, l2_col)
                on = [(taps[i] > 0).reshape(-1) for i in relu_ops]
                return float(value[0]), torch.cat(on) if on else torch.zeros(0, dtype=torch.bool)

        gen = torch.Generator().manual_seed(seed)
        row = net.params.detach()[0]
        report.layers += _compare(
            engine, model, row, analytic_b, numeric_batched, samples, full_below, gen, step
        )
    return report
