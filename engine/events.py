"""The closed set of events a run emits.

Events are frozen dataclasses carrying plain floats, ints, strings and numpy copies,
never live tensors, so they may cross threads and be kept. Every event carries the
``run`` id of the run that produced it.

Subscribe with :meth:`EventBus.subscribe` (one call; optional ``every=N`` thins
:class:`Step` events), much as pytorch-ignite's ``add_event_handler``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

FinishReason = Literal["completed", "stopped", "early_stopped", "diverged", "failed"]


@dataclass(frozen=True, slots=True)
class Event:
    run: int


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    label: str
    device: str
    n_params: int
    steps_per_epoch: int
    total_steps: int
    epochs: int
    n_classes: int
    config: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True, slots=True)
class Step(Event):
    """One optimizer update: ``lr`` is the rate the update actually used."""

    step: int
    epoch: int
    lr: float
    loss: float


@dataclass(frozen=True, slots=True)
class EpochEnd(Event):
    epoch: int
    step: int
    lr: float
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float


@dataclass(frozen=True, slots=True)
class LRReduced(Event):
    """ReduceLROnPlateau lowered the rate after ``epoch``."""

    epoch: int
    step: int
    old_lr: float
    new_lr: float


@dataclass(frozen=True, slots=True)
class EarlyStopped(Event):
    epoch: int
    best_epoch: int
    best_value: float
    monitor: str
    restored: bool


@dataclass(frozen=True, slots=True)
class Diverged(Event):
    """The run diverged at ``step``: its loss became NaN/Inf or passed the divergence limit,
    or (``detail`` says so) it stopped learning; the run stops there."""

    step: int
    epoch: int
    loss: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Boundary(Event):
    """Class probabilities on a grid over a 2D dataset: ``probs[iy, ix, class]``."""

    epoch: int
    xs: np.ndarray = field(repr=False)
    ys: np.ndarray = field(repr=False)
    probs: np.ndarray = field(repr=False)


@dataclass(frozen=True, slots=True)
class Weights(Event):
    """A copy of all trainable parameters, flattened (for trajectories)."""

    step: int
    epoch: int
    vector: np.ndarray = field(repr=False)


@dataclass(frozen=True, slots=True)
class LayerStats(Event):
    """Inside one run after update ``step``, per layer (every N updates; see :mod:`engine.inside`).

    ``layers`` names the layers with parameters, in model order; every array has one
    entry (row) per layer. ``effective_lr`` holds the 5 / 50 / 95 % quantiles over the
    layer's parameters of the rate each one's step actually takes (``lr`` divided by the
    optimizer's running scale, bias-corrected as the optimizer applies it; SGD: ``lr``).
    ``step_multiplier`` is momentum's long-run gain on the step (SGD ``1/(1-m)``; 1
    otherwise). ``update_ratio`` is ||update|| / ||weight|| of this update (NaN when
    the update was not observed), ``dead_fraction`` the share of units after a ReLU that
    are zero on every probe example (NaN: no ReLU follows), ``zero_fraction`` the share
    of weights that are exactly zero. Histograms hold ``counts[layer, bin]`` over the
    range ``[lo, hi]`` in ``*_range[layer]``: weights, and the layer's outputs (after
    its activation) on the probe batch.
    """

    step: int
    epoch: int
    lr: float
    step_multiplier: float
    layers: tuple[str, ...]
    effective_lr: np.ndarray = field(repr=False)
    weight_norm: np.ndarray = field(repr=False)
    grad_norm: np.ndarray = field(repr=False)
    update_ratio: np.ndarray = field(repr=False)
    dead_fraction: np.ndarray = field(repr=False)
    zero_fraction: np.ndarray = field(repr=False)
    weight_hist: np.ndarray = field(repr=False)
    weight_range: np.ndarray = field(repr=False)
    activation_hist: np.ndarray = field(repr=False)
    activation_range: np.ndarray = field(repr=False)


@dataclass(frozen=True, slots=True)
class Failed(Event):
    message: str


@dataclass(frozen=True, slots=True)
class Finished(Event):
    """The run has ended: how (``reason``; its words: :data:`engine.outcome.REASON_WORDS`),
    after how many epochs, updates and seconds, and its best epoch by the early-stopping
    monitor (:func:`engine.outcome.best_epoch`; None when it trained no epoch)."""

    reason: FinishReason
    epochs: int
    steps: int
    seconds: float
    best_epoch: int | None = None


EVENT_TYPES: tuple[type[Event], ...] = (
    RunStarted,
    Step,
    EpochEnd,
    LRReduced,
    EarlyStopped,
    Diverged,
    Boundary,
    Weights,
    LayerStats,
    Failed,
    Finished,
)

Handler = Callable[[Event], None]


class EventBus:
    """Delivers events to subscribers, synchronously, in the emitting thread."""

    def __init__(self) -> None:
        self._subs: list[tuple[Handler, tuple[type[Event], ...], int]] = []
        self._step_counts: list[int] = []

    def subscribe(self, handler: Handler, *types: type[Event], every: int = 1) -> None:
        """Call ``handler(event)`` for events of ``types`` (all if none given).

        ``every=N`` passes only every N-th :class:`Step` event (other types always pass).
        """
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self._subs.append((handler, types or EVENT_TYPES, every))
        self._step_counts.append(0)

    def wants(self, kind: type[Event]) -> bool:
        """Whether any subscriber takes ``kind`` events (so emitters can skip building them)."""
        return any(issubclass(kind, t) for _handler, types, _every in self._subs for t in types)

    def emit(self, event: Event) -> None:
        is_step = type(event) is Step
        for i, (handler, types, every) in enumerate(self._subs):
            if not isinstance(event, types):
                continue
            if is_step and every > 1:
                self._step_counts[i] += 1
                if self._step_counts[i] % every:
                    continue
            handler(event)

    def __bool__(self) -> bool:
        return bool(self._subs)
