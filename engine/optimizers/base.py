"""What every optimizer part shares: the config base, the part interface and the batched base.

An optimizer *part* (one module of :mod:`engine.optimizers`) holds, side by side as
``torch/optim/adam.py`` does:

- its config schema entry, a frozen :class:`OptimizerSettings` subclass tagged by ``kind``;
- its ``torch.optim`` builder (:meth:`OptimizerPart.torch_kwargs`, :meth:`OptimizerPart.build`);
- its batched twin, a :class:`BatchedOptimizer` subclass updating one row per run exactly as
  ``torch.optim`` updates that run alone -- or an explicit :attr:`OptimizerPart.trains_alone`
  reason, which the runner reports (a part may have both: its runs then train alone unless
  their config asks for the twin with the bool field :attr:`OptimizerPart.batched_opt_in`);
- its effective-learning-rate reading from ``torch.optim``'s state for the Inside tab
  (:meth:`OptimizerPart.effective_lr`; the batched twin answers from its own state);
- what the window shows of it: a title, field labels, landscape race rows.

Modules here import torch only inside functions: the config schema (:mod:`engine.config`)
imports the config classes, and it must load without torch (the window builds configs
before the engine has loaded).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..schema import LR, Frozen

if TYPE_CHECKING:
    import torch

__all__ = ["OptimizerSettings", "OptimizerPart", "BatchedOptimizer", "column", "RaceRow", "keeping_gradients"]

#: a landscape race row: name, config factory taking (sgd_lr, adaptive_lr), checked by default
RaceRow = tuple[str, Callable[[float, float], Any], bool]


class OptimizerSettings(Frozen):
    """What every optimizer config has: its ``kind`` tag and learning rate (first, in this order)."""

    kind: str
    lr: LR = 0.01


def column(values: Sequence[float], device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``values`` as an ``(n, 1)`` tensor (float32 unless ``dtype``): one per-run scalar per row."""
    import torch

    return torch.tensor(list(values), dtype=dtype or torch.float32, device=device).view(-1, 1)


class BatchedOptimizer:
    """Updates rows ``[start, stop)`` of the parameter matrix, one run per row.

    Subclasses set :attr:`state_names` (their per-row state tensors, zeroed by
    :meth:`reset_row` when a run finishes) and implement :meth:`update`. The per-run
    scalars torch computes in Python (bias corrections, step sizes) are computed the same
    way here, per run, then held as ``(n, 1)`` float32 columns.

    A twin whose update depends on each parameter tensor's shape (Muon's per-matrix
    orthogonalisation, Adafactor's factored moments and per-tensor step sizes) sets
    :attr:`uses_shapes` and is given the run's parameter shapes, in the row's flat order
    (``model.parameters()``): :attr:`shapes`, and :meth:`leaves` splits a row block into
    them. Without shapes a row is one vector parameter of ``D`` weights.
    """

    state_names: ClassVar[tuple[str, ...]] = ()
    #: the twin takes ``shapes=`` (the parameter layout of a row) when it is built
    uses_shapes: ClassVar[bool] = False

    def __init__(
        self,
        cfgs: Sequence[Any],
        start: int,
        stop: int,
        params: torch.Tensor,
        shapes: Sequence[tuple[int, ...]] | None = None,
    ) -> None:
        self.cfgs = list(cfgs)
        self.start, self.stop = start, stop
        self.n = stop - start
        self.device = params.device
        self.step_count = 0
        self.weight_decay = self.column([c.weight_decay for c in cfgs])
        self.any_weight_decay = any(c.weight_decay != 0 for c in cfgs)
        self._negative_lr: tuple[list[float], torch.Tensor] | None = None
        self._views: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.zeros_shape = (self.n, params.shape[1])
        self.shapes = [tuple(s) for s in shapes] if shapes is not None else [(int(params.shape[1]),)]
        if sum(math.prod(s) for s in self.shapes) != params.shape[1]:
            raise ValueError(f"parameter shapes {self.shapes} do not add up to a row of {params.shape[1]}")

    @classmethod
    def group_key(cls, cfg: Any) -> tuple:
        """Runs whose keys are equal can share one instance."""
        return (cfg.kind,)

    def column(self, values: Sequence[float]) -> torch.Tensor:
        return column(values, self.device)

    def leaves(self, block: torch.Tensor) -> list[torch.Tensor]:
        """Views ``(n, *shape)`` of each parameter in a block ``(n, D)`` of rows."""
        out, off = [], 0
        for shape in self.shapes:
            size = math.prod(shape)
            out.append(block[:, off : off + size].view(block.shape[0], *shape))
            off += size
        return out

    def column64(self, values: Sequence[float]) -> torch.Tensor:
        import torch

        return column(values, self.device, torch.float64)

    def eps64(self) -> torch.Tensor:
        """Each row's ``eps`` as a float64 column (for :meth:`effective_lr`)."""
        return self.column64([c.eps for c in self.cfgs])

    def zeros(self, params: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.zeros_like(params[self.start : self.stop])

    def negative_lr(self, lrs: list[float]) -> torch.Tensor:
        """``-lr`` per row, rebuilt only when a rate changed."""
        if self._negative_lr is None or self._negative_lr[0] != lrs:
            self._negative_lr = (list(lrs), self.column([-v for v in lrs]))
        return self._negative_lr[1]

    def step(self, params: torch.Tensor, grads: torch.Tensor, lrs: list[float]) -> None:
        """One update of this block's rows with the per-run rates ``lrs``."""
        import torch

        with torch.no_grad():
            if self._views is None or self._views[0] is not params:
                self._views = (params, params[self.start : self.stop], grads[self.start : self.stop])
            p, g = self._views[1], self._views[2]
            self.step_count += 1
            self.update(p, g, lrs, float(self.step_count))

    def coupled_weight_decay(self, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``g + weight_decay * p`` (torch's L2-style weight decay), a new tensor."""
        import torch

        return torch.addcmul(g, p, self.weight_decay) if self.any_weight_decay else g

    def update(self, p: torch.Tensor, g: torch.Tensor, lrs: list[float], step: float) -> None:
        raise NotImplementedError

    def effective_lr(self, lrs: list[float]) -> torch.Tensor:
        """Each parameter's effective rate ``(n, D)`` from the state after the last update at
        rates ``lrs`` (see :mod:`engine.inside`); here the rate itself, as for SGD."""
        return self.column64(lrs).expand(self.zeros_shape).clone()

    def step_multiplier(self) -> list[float]:
        """Momentum's long-run gain on each row's step (1 without momentum)."""
        return [1.0] * self.n

    def set_mode(self, i: int, training: bool) -> None:
        """Put row ``start + i`` in training mode (before updates) or evaluation mode (before
        its weights are evaluated, drawn or saved): the batched form of
        :meth:`OptimizerPart.set_mode`, for twins of parts with :attr:`OptimizerPart.has_modes`
        (schedule-free: the row holds ``y`` to train, the average ``x`` to evaluate). A row
        starts in training mode; nothing to do for optimizers without modes."""

    def reset_row(self, i: int) -> None:
        """Zero row ``start + i``'s optimizer state (its run has finished)."""
        import torch

        for name in self.state_names:
            t = getattr(self, name, None)
            if isinstance(t, torch.Tensor):
                t[i].zero_()


class OptimizerPart:
    """One optimizer kind: everything the engine and the window need of it (see the module).

    Parts are used as classes (no instances): the registry lists them in
    :data:`engine.optimizers.REGISTRY`.
    """

    #: the config schema entry (its ``kind`` default is the part's tag)
    config: ClassVar[type[OptimizerSettings]]
    #: the name shown in the Optimizer panel's chooser
    title: ClassVar[str]
    #: the ``torch.optim`` class that trains a run alone
    torch_name: ClassVar[str]
    #: torch has a fused kernel for it (asked for with ``fused=True`` on CPU and CUDA)
    fused: ClassVar[bool] = False
    #: the vectorised twin; None only with a :attr:`trains_alone` reason
    batched: ClassVar[type[BatchedOptimizer] | None] = None
    #: why runs with this optimizer train alone (the runner and the CLI say it): always without
    #: a twin; with one, by default, a run asking for the twin with :attr:`batched_opt_in`
    trains_alone: ClassVar[str] = ""
    #: the bool config field (default false) with which a run asks for the twin where the part
    #: has one but trains alone by default (:attr:`trains_alone` says why); "" for none
    batched_opt_in: ClassVar[str] = ""
    #: Optimizer-panel labels of this kind's own fields (field name: label)
    labels: ClassVar[dict[str, str]] = {}
    #: rows of the Landscape tab's optimizer race
    race: ClassVar[tuple[RaceRow, ...]] = ()
    #: what the Inside tab says under its effective-rate plot where the rate is not a
    #: per-weight factor ("" where it is)
    inside_note: ClassVar[str] = ""
    #: the optimizer trains one set of weights and is evaluated on another (schedule-free:
    #: it must be switched with :meth:`set_mode` around every evaluation)
    has_modes: ClassVar[bool] = False
    #: the third-party package whose class :meth:`build` returns ("" for torch's own);
    #: imported only when a run uses the part
    package: ClassVar[str] = ""

    @classmethod
    def kind(cls) -> str:
        return str(cls.config.model_fields["kind"].default)

    @classmethod
    def alone_reason(cls, cfg: Any) -> str | None:
        """Why a run with optimizer config ``cfg`` trains alone (None: it can be batched): the
        part has no twin, or it trains alone by default and ``cfg`` does not ask for the twin."""
        if cls.batched is None:
            return cls.trains_alone or "no batched twin"
        if cls.trains_alone and not (cls.batched_opt_in and getattr(cfg, cls.batched_opt_in)):
            return (
                f"{cls.trains_alone} (set the optimizer's {cls.batched_opt_in} = true to batch it)"
                if cls.batched_opt_in
                else cls.trains_alone
            )
        return None

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        """The ``torch.optim`` constructor's keyword arguments for ``cfg``, every one passed."""
        raise NotImplementedError

    @classmethod
    def param_roles(cls, named_shapes: Sequence[tuple[str, tuple[int, ...]]]) -> str:
        """Which parameters (by name and shape) get which update, in words, where that differs
        between parameters ("" where every parameter is stepped alike); ``optiscope run`` says it."""
        return ""

    @classmethod
    def torch_class(cls) -> type:
        """The optimizer class :meth:`build` returns (``torch.optim.<torch_name>``; a part that
        combines optimizers returns its own)."""
        import torch

        return getattr(torch.optim, cls.torch_name)

    @classmethod
    def owns(cls, optimizer: torch.optim.Optimizer) -> bool:
        """Whether :meth:`build` made ``optimizer`` (without importing a part's package: an
        optimizer of a package not yet imported cannot be one of its)."""
        if cls.package and cls.package not in sys.modules:
            return False
        return type(optimizer) is cls.torch_class()

    @classmethod
    def build(cls, params: list[Any], cfg: Any, *, fused: bool = False) -> torch.optim.Optimizer:
        """The ``torch.optim`` optimizer for ``cfg`` (fused where asked and torch has one)."""
        import torch

        ctor = getattr(torch.optim, cls.torch_name)
        if fused and cls.fused:
            try:
                return ctor(params, **cls.torch_kwargs(cfg), fused=True)
            except (RuntimeError, ValueError):  # device or dtype without a fused kernel
                pass
        return ctor(params, **cls.torch_kwargs(cfg))

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: torch.Tensor, lr: float) -> torch.Tensor:
        """The effective rate of every element of ``p`` (float64) from ``torch.optim``'s state
        after an update at rate ``lr``: the factor the step applies to what the optimizer steps
        along (see :mod:`engine.inside`). Every part says it (SGD: the rate itself)."""
        raise NotImplementedError

    @classmethod
    def set_mode(cls, optimizer: torch.optim.Optimizer, training: bool) -> None:
        """Put ``optimizer`` in training mode (before updates) or evaluation mode (before the
        model is evaluated, drawn or saved); only parts with :attr:`has_modes` need it. The
        training loop calls it for every run (:class:`engine.loop.RunState`); :meth:`build`
        returns the optimizer in training mode, ready to step, as ``torch.optim`` ones are."""

    @classmethod
    def step_multiplier(cls, group: dict) -> float:
        """Momentum's long-run gain on the step, from the parameter group (1 without momentum)."""
        return 1.0


@functools.cache
def keeping_gradients(package_class: type) -> type:
    """``package_class`` whose ``step`` leaves each ``p.grad`` as it found it. Some authors'
    packages change the gradient in place (schedule-free divides it by its second moment and
    adds the weight decay, Prodigy adds coupled weight decay), and the Inside tab reads the
    gradient after the update, as ``torch.optim`` leaves it. The update itself is the package's."""
    import torch

    class KeepingGradients(package_class):  # type: ignore[misc, valid-type]
        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            saved = [
                (p, p.grad.clone()) for g in self.param_groups for p in g["params"] if p.grad is not None
            ]
            loss = super().step(closure)
            for p, grad in saved:
                p.grad.copy_(grad)
            return loss

    KeepingGradients.__name__ = KeepingGradients.__qualname__ = package_class.__name__
    KeepingGradients.__doc__ = package_class.__doc__
    return KeepingGradients
