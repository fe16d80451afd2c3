"""The closed set of events a run emits.

Events are frozen dataclasses carrying plain floats, ints, strings and numpy copies,
never live tensors, so they may cross threads and be kept. Every event carries the
``run`` id of the run that produced it.

Optimizer updates come in blocks: one :class:`Steps` event carries consecutive updates
of one run as numpy arrays (a batched group of 128 runs emits 128 small blocks about 30
times a second, not one Python object per update and run); :func:`step_rows` unrolls them.

Subscribe with :meth:`EventBus.subscribe` (one call; optional ``every=N`` thins the
updates of :class:`Steps` events), much as pytorch-ignite's ``add_event_handler``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

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


class StepRow(NamedTuple):
    """One optimizer update of run ``run``: ``lr`` is the rate the update actually used and
    ``loss`` its minibatch loss (a row of a :class:`Steps` block)."""

    run: int
    step: int
    epoch: int
    lr: float
    loss: float


def _frozen(a: object, dtype: type) -> np.ndarray:
    out: np.ndarray = np.array(a, dtype=dtype, ndmin=1)  # a copy: never a view of the loop's state
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Steps(Event):
    """Consecutive optimizer updates of one run, in order (at least one): update ``step[i]``
    of epoch ``epoch[i]`` used rate ``lr[i]`` and had minibatch loss ``loss[i]``.

    The arrays (int64, int64, float64, float64, of one length) are read-only copies; blocks
    of one batched group may share their ``step`` and ``epoch`` arrays. The training loop
    emits a run's pending updates as one block before any other event of the run (so
    ``EpochEnd``, ``Diverged`` and ``Finished`` still follow the updates they close), before
    it may wait (pause, single steps, slow motion) and otherwise every
    :attr:`EventBus.step_block_seconds` (0: every update at once).
    """

    step: np.ndarray = field(repr=False)
    epoch: np.ndarray = field(repr=False)
    lr: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, run: int, step: object, epoch: object, lr: object, loss: object) -> Steps:
        """A block from sequences (copied; a scalar stands for every update: ``of(0, 5, 1,
        0.1, 2.3)`` is update 5 alone), checked for one length."""
        given = [np.asarray(a) for a in (step, epoch, lr, loss)]
        n = max((a.shape[0] for a in given if a.ndim >= 1), default=1)
        arrays = [
            _frozen(np.full(n, a) if a.ndim == 0 else a, dtype)
            for a, dtype in zip(given, (np.int64, np.int64, np.float64, np.float64), strict=True)
        ]
        if n == 0 or any(a.ndim != 1 or len(a) != n for a in arrays):
            raise ValueError(
                f"Steps: step, epoch, lr and loss must be 1-D of one length >= 1 (or scalars), got "
                f"{', '.join(str(np.shape(a)) for a in given)}"
            )
        return cls(run, *arrays)

    def __len__(self) -> int:
        return len(self.step)

    def take(self, index: slice) -> Steps:
        """The updates ``index`` selects, as a block (views of these read-only arrays)."""
        return Steps(self.run, self.step[index], self.epoch[index], self.lr[index], self.loss[index])

    def rows(self) -> Iterator[StepRow]:
        """One :class:`StepRow` per update, with plain Python numbers."""
        run = self.run
        for s, e, lr, loss in zip(
            self.step.tolist(), self.epoch.tolist(), self.lr.tolist(), self.loss.tolist(), strict=True
        ):
            yield StepRow(run, s, e, lr, loss)

    def last(self) -> StepRow:
        """The block's last update."""
        return StepRow(
            self.run, int(self.step[-1]), int(self.epoch[-1]), float(self.lr[-1]), float(self.loss[-1])
        )


def step_rows(events: Iterable[Event], run: int | None = None) -> list[StepRow]:
    """Every update the :class:`Steps` events among ``events`` carry (of run ``run`` only,
    if given), in order."""
    return [
        row
        for e in events
        if type(e) is Steps and (run is None or e.run == run)
        for row in e.rows()  # type: ignore[attr-defined]
    ]


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
    Steps,
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

#: the longest a training loop holds updates before it reports them as :class:`Steps` blocks
#: (a window draws at most ~30 times a second; a batched group of K runs sends K blocks a cut)
STEP_BLOCK_SECONDS = 1.0 / 30.0


class EventBus:
    """Delivers events to subscribers, synchronously, in the emitting thread.

    ``step_block_seconds`` is how long a training loop may hold updates before it sends them
    as :class:`Steps` blocks (default :data:`STEP_BLOCK_SECONDS`); 0 sends every update as
    its own block at once, for a subscriber that acts on a given update (stops the run at
    it, changes the rate after it).
    """

    def __init__(self, step_block_seconds: float = STEP_BLOCK_SECONDS) -> None:
        if not step_block_seconds >= 0:
            raise ValueError(f"step_block_seconds must be >= 0, got {step_block_seconds}")
        self.step_block_seconds = float(step_block_seconds)
        self._subs: list[tuple[Handler, tuple[type[Event], ...], int]] = []
        self._step_counts: list[int] = []

    def subscribe(self, handler: Handler, *types: type[Event], every: int = 1) -> None:
        """Call ``handler(event)`` for events of ``types`` (all if none given).

        ``every=N`` passes only every N-th update of :class:`Steps` events (counted over
        the blocks of all runs; a block without one is not passed; other types always pass).
        """
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self._subs.append((handler, types or EVENT_TYPES, every))
        self._step_counts.append(0)

    def wants(self, kind: type[Event]) -> bool:
        """Whether any subscriber takes ``kind`` events (so emitters can skip building them)."""
        return any(issubclass(kind, t) for _handler, types, _every in self._subs for t in types)

    def emit(self, event: Event) -> None:
        is_steps = type(event) is Steps
        for i, (handler, types, every) in enumerate(self._subs):
            if not isinstance(event, types):
                continue
            if is_steps and every > 1:
                count, n = self._step_counts[i], len(event)  # type: ignore[arg-type]
                self._step_counts[i] = count + n
                first = (-count - 1) % every  # the block's first update whose count divides by every
                if first >= n:
                    continue
                handler(event.take(slice(first, None, every)))  # type: ignore[attr-defined]
                continue
            handler(event)

    def __bool__(self) -> bool:
        return bool(self._subs)
