"""Vectorised twins of the ``torch.optim`` optimizers: the frame over the registry's parts.

Each optimizer part (:mod:`engine.optimizers`) holds its batched twin, a
:class:`BatchedOptimizer` subclass that updates a block of rows of a ``(K, D)`` parameter
tensor -- one row per run, each run with its own hyperparameters -- exactly as
``torch.optim``'s single-tensor update would update that run alone.
``tests/engine/test_optimizer_parts.py`` checks every registered twin against
``torch.optim`` step for step.

:func:`optimizer_group_key` says which runs can share one instance (same class and the
same structural switches); :data:`BATCHED_OPTIMIZERS` maps each optimizer kind with a twin
to its class; :func:`trains_alone_reason` says why a run's optimizer trains it alone (its
kind has no twin, or trains alone unless the config asks for the twin: Muon).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .optimizers import REGISTRY, part_for
from .optimizers.base import BatchedOptimizer, column

if TYPE_CHECKING:
    import torch

__all__ = [
    "BATCHED_OPTIMIZERS",
    "BatchedOptimizer",
    "column",
    "optimizer_group_key",
    "build_batched_optimizer",
    "trains_alone_reason",
]

#: every optimizer kind's vectorised twin, from the registry (Muon's used only when asked for)
BATCHED_OPTIMIZERS: dict[str, type[BatchedOptimizer]] = {
    kind: part.batched for kind, part in REGISTRY.items() if part.batched is not None
}


def trains_alone_reason(cfg: Any) -> str | None:
    """Why a run with optimizer config ``cfg`` (or a kind name: its defaults) trains alone, as
    its part declares it (:meth:`~engine.optimizers.base.OptimizerPart.alone_reason`); None if
    it can be batched."""
    if isinstance(cfg, str):
        cfg = part_for(cfg).config.model_validate({"kind": cfg})
    why = part_for(cfg.kind).alone_reason(cfg)
    return None if why is None else f"optimizer {cfg.kind}: {why}"


def optimizer_group_key(cfg: Any) -> tuple:
    """Runs in one vectorised optimizer share its class and structural switches."""
    return _twin(cfg.kind).group_key(cfg)


def build_batched_optimizer(
    cfgs: Sequence[Any],
    start: int,
    stop: int,
    params: torch.Tensor,
    shapes: Sequence[tuple[int, ...]] | None = None,
) -> BatchedOptimizer:
    """The vectorised optimizer for rows ``[start, stop)``, whose configs share one group key;
    ``shapes``: the parameter shapes of a row, in its flat order (default: one vector), given
    to the twins that step each parameter by its shape (:attr:`BatchedOptimizer.uses_shapes`)."""
    twin = _twin(cfgs[0].kind)
    if twin.uses_shapes:
        return twin(cfgs, start, stop, params, shapes=shapes)
    return twin(cfgs, start, stop, params)


def _twin(kind: str) -> type[BatchedOptimizer]:
    twin = part_for(kind).batched
    if twin is None:
        raise ValueError(f"optimizer {kind}: {part_for(kind).trains_alone or 'no batched twin'}")
    return twin
