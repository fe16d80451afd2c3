"""Lessons: what an experiment asks a class to watch, and a detector that sees it happen.

An experiment file may carry a ``[classroom]`` section (:class:`Classroom`): the lesson's
question, its pace (how long a lesson should take at its default speed) and the
observations it points at (``[[classroom.observe]]`` tables, one per :data:`Observation`)::

    [classroom]
    question = "How many epochs does each optimizer need to pass 90 % validation accuracy?"
    pace_seconds = 40

    [[classroom.observe]]
    kind = "threshold"
    metric = "val_acc"
    value = 0.9

:class:`ObservationDetector` takes a run's engine events as they arrive and returns the
:class:`Moment` each observation happens (a threshold first crossed, a plateau LR drop, the
best epoch, a divergence, the train/val gap at the end), and one :class:`RunOutcome` per run
that answers the lesson's question (the GUI's results table).

This module is light: no torch, no Qt (the window builds lessons before the engine loads).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import events as ev
from . import outcome

__all__ = [
    "Classroom",
    "Threshold",
    "LRDrop",
    "BestEpoch",
    "Divergence",
    "Gap",
    "Speed",
    "ZeroWeights",
    "EffectiveLR",
    "Observation",
    "OBSERVATION_KINDS",
    "Moment",
    "RunOutcome",
    "ObservationDetector",
    "threshold_label",
]

Metric = Literal["val_acc", "train_acc", "val_loss", "train_loss"]
METRIC_WORDS = {
    "val_acc": "validation accuracy",
    "train_acc": "training accuracy",
    "val_loss": "validation loss",
    "train_loss": "training loss",
}


class _LessonModel(BaseModel):
    """Immutable, unknown keys rejected (as every experiment-file section)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Threshold(_LessonModel):
    """The first epoch at which ``metric`` passes ``value`` (above for accuracies, below for
    losses unless ``direction`` says otherwise)."""

    kind: Literal["threshold"] = "threshold"
    metric: Metric = "val_acc"
    value: float = Field(..., ge=0.0, le=1e6, strict=True, description="accuracies as fractions: 0.9 is 90 %")
    direction: Literal["above", "below"] | None = Field(
        None, description="None: 'above' for accuracies, 'below' for losses"
    )
    caption: str = Field("", max_length=60, description="the marker's text (default: from metric and value)")

    @model_validator(mode="after")
    def _accuracy_is_a_fraction(self) -> Threshold:
        if outcome.maximize(self.metric) and self.value > 1.0:
            frac = self.value / 100
            shown = f"{frac:.2f}" if abs(frac * 100 - round(frac * 100)) < 1e-9 else f"{frac:g}"
            raise ValueError(
                f"{self.metric} threshold {self.value:g} is not a fraction: accuracies are written "
                f"0-1, e.g. value = {shown} for {self.value:g} %"
            )
        return self

    @property
    def rising(self) -> bool:
        return (self.direction or ("above" if outcome.maximize(self.metric) else "below")) == "above"


class LRDrop(_LessonModel):
    """Every time ReduceLROnPlateau lowers the learning rate."""

    kind: Literal["lr_drop"] = "lr_drop"
    caption: str = Field("", max_length=60)


class BestEpoch(_LessonModel):
    """The epoch with the best ``metric`` (max for accuracies, min for losses), marked at the end."""

    kind: Literal["best_epoch"] = "best_epoch"
    metric: Metric = "val_acc"
    caption: str = Field("", max_length=60)


class Divergence(_LessonModel):
    """The update at which a run's loss became NaN/Inf or exploded."""

    kind: Literal["divergence"] = "divergence"
    caption: str = Field("", max_length=60)


class Gap(_LessonModel):
    """The train/val gap at the end of each run: accuracy (train - val) or loss (val - train)."""

    kind: Literal["gap"] = "gap"
    metric: Literal["acc", "loss"] = "acc"
    caption: str = Field("", max_length=60)


class Speed(_LessonModel):
    """Each run's seconds per epoch (the mean, as summary.json) and its ratio to the first run's."""

    kind: Literal["speed"] = "speed"
    caption: str = Field("", max_length=60)

    header: ClassVar[str] = "Seconds per epoch (× the first run's)"
    csv_name: ClassVar[str] = "seconds_per_epoch"
    tip: ClassVar[str] = "mean wall time of the run's epochs (training and evaluation); × the first run's"

    def cell_value(self, o: RunOutcome) -> float:
        return o.seconds_per_epoch

    def cell_text(self, o: RunOutcome) -> str:
        if not math.isfinite(o.seconds_per_epoch):
            return "—"
        ratio = f" ({o.speed_ratio:.2f} ×)" if o.run and math.isfinite(o.speed_ratio) else ""
        return f"{o.seconds_per_epoch:.3g} s{ratio}"


class ZeroWeights(_LessonModel):
    """The share of a layer's weights that are exactly zero at the run's last layer statistics
    (the Inside tab's zero fraction)."""

    kind: Literal["zero_weights"] = "zero_weights"
    layer: int | None = Field(
        None, ge=1, le=1000, strict=True, description="1: the first layer with weights; None: the most zeros"
    )
    caption: str = Field("", max_length=60)

    @property
    def header(self) -> str:
        return "Zero weights" + (f" (layer {self.layer})" if self.layer else "")

    @property
    def csv_name(self) -> str:
        return "zero_fraction" + (f"_layer_{self.layer}" if self.layer else "_most")

    tip: ClassVar[str] = (
        "the share of the layer's weights that are exactly zero (the Inside tab's zero fraction)"
    )

    def _read(self, o: RunOutcome) -> tuple[str, float] | None:
        layers = list(o.zero_fraction.items())
        if self.layer is not None:
            return layers[self.layer - 1] if self.layer <= len(layers) else None
        return max(layers, key=lambda kv: kv[1]) if layers else None

    def cell_value(self, o: RunOutcome) -> float:
        found = self._read(o)
        return math.nan if found is None else found[1]

    def cell_text(self, o: RunOutcome) -> str:
        found = self._read(o)
        if found is None:
            return "—"
        shown = f"{100 * found[1]:.1f} %"
        if self.layer is not None or found[1] == 0:  # no layer to name: none has a zero weight
            return shown
        return f"{shown} ({short_layer(found[0])})"


class EffectiveLR(_LessonModel):
    """A layer's median effective learning rate (the Inside tab's middle line) at the run's first
    and last layer statistics: what an adaptive optimizer made of the nominal rate."""

    kind: Literal["effective_lr"] = "effective_lr"
    layer: int = Field(1, ge=1, le=1000, strict=True, description="1: the first layer with weights")
    caption: str = Field("", max_length=60)

    @property
    def header(self) -> str:
        return f"Effective LR, layer {self.layer}"

    @property
    def csv_name(self) -> str:
        return f"effective_lr_layer_{self.layer}_last_over_first"

    tip: ClassVar[str] = (
        "the layer's median effective learning rate at the start → at the end (the Inside tab)"
    )

    def _read(self, o: RunOutcome) -> tuple[float, float] | None:
        rates = list(o.effective_lr.values())
        return rates[self.layer - 1] if self.layer <= len(rates) else None

    def cell_value(self, o: RunOutcome) -> float:
        """How the rate changed over the run: last / first."""
        found = self._read(o)
        return found[1] / found[0] if found is not None and found[0] > 0 else math.nan

    def cell_text(self, o: RunOutcome) -> str:
        found = self._read(o)
        if found is None:
            return "—"
        first, last = found
        return f"{first:.2g} → {last:.2g}"


Observation = Annotated[
    Threshold | LRDrop | BestEpoch | Divergence | Gap | Speed | ZeroWeights | EffectiveLR,
    Field(discriminator="kind"),
]
#: the observation kinds, derived from the union (as engine.config derives OPTIMIZER_KINDS)
OBSERVATION_KINDS: tuple[str, ...] = tuple(
    cls.model_fields["kind"].default for cls in get_args(get_args(Observation)[0])
)


#: Observations a lesson may point at (each threshold is a results-table column and a marker
#: on every run's curve; a class watches a handful).
MAX_OBSERVATIONS = 24


class Classroom(_LessonModel):
    """The ``[classroom]`` section of a lesson file: question, pace and observations."""

    question: str = Field("", max_length=300, description="what the results table answers")
    pace_seconds: float | None = Field(
        None,
        ge=5.0,
        le=900.0,
        strict=True,  # as the experiment's own numbers: pace_seconds = "30" is an error, not a coercion
        description="how long the lesson should take at its default speed (None: full speed)",
    )
    observe: tuple[Observation, ...] = Field(
        (),
        max_length=MAX_OBSERVATIONS,
        description=f"at most {MAX_OBSERVATIONS}: each threshold is a column of the results table",
    )


def threshold_label(obs: Threshold) -> str:
    """A short name for a threshold: ``val_acc ≥ 90 %`` / ``val_loss ≤ 0.3``."""
    sign = "≥" if obs.rising else "≤"
    shown = f"{100 * obs.value:g} %" if outcome.maximize(obs.metric) else f"{obs.value:g}"
    return f"{obs.metric} {sign} {shown}"


# --------------------------------------------------------------------------- detection
PlotName = Literal["accuracy", "loss", "lr"]


@dataclass(frozen=True)
class Moment:
    """One observation happening: where to mark it and what to write there.

    ``x`` is in the units of ``plot``'s horizontal axis (epochs for accuracy, updates for
    loss and lr), ``y`` the value marked.
    """

    run: int
    kind: str
    plot: PlotName
    epoch: int
    x: float
    y: float
    caption: str
    observation: int  # index into the lesson's observations


@dataclass
class RunOutcome:
    """What one run did, as the results table shows it."""

    run: int
    label: str
    epochs: int = 0
    reason: str = "running"
    thresholds: dict[int, int | None] = field(default_factory=dict)  # observation index -> epoch
    final_val_acc: float = math.nan
    final_val_loss: float = math.nan
    best_val_loss: float = math.nan
    final_train_acc: float = math.nan
    best_val_acc: float = math.nan
    best_val_acc_epoch: int | None = None
    best_epoch: int | None = None  # by the run's early-stopping monitor, as summary.json
    lr_drops: int = 0
    final_lr: float = math.nan
    gap_acc: float = math.nan  # train - val accuracy at the last epoch
    gap_loss: float = math.nan  # val - train loss at the last epoch
    diverged_step: int | None = None
    seconds_per_epoch: float = math.nan  # mean wall time of its epochs
    speed_ratio: float = math.nan  # its seconds per epoch / the first run's
    zero_fraction: dict[str, float] = field(default_factory=dict)  # layer -> share exactly zero
    effective_lr: dict[str, tuple[float, float]] = field(default_factory=dict)  # layer -> (first, last)


def short_layer(name: str) -> str:
    """``dense 2 (50→50)`` -> ``dense 2``: a layer's name without its shape."""
    return name.split(" (", 1)[0]


@dataclass
class _RunState:
    outcome: RunOutcome
    monitor: str = "val_loss"
    epochs: list[ev.EpochEnd] = field(default_factory=list)
    steps_per_epoch: int = 1
    early_best: int | None = None
    reported_best: int | None = None  # the best epoch the run's Finished event carries
    seconds: float = 0.0  # the epochs' seconds summed as they arrive (their mean: seconds per epoch)


class ObservationDetector:
    """Finds a lesson's observations in a stream of engine events, run by run.

    Feed it every event of a run (:meth:`feed`, in order, in batches of any size); it returns
    the moments that just happened. :meth:`outcomes` gives one :class:`RunOutcome` per run.
    """

    def __init__(self, observations: Sequence[Observation] = ()) -> None:
        self.observations: tuple[Observation, ...] = tuple(observations)
        self._runs: dict[int, _RunState] = {}
        self.moments: list[Moment] = []
        self._thresholds = [(i, o) for i, o in enumerate(self.observations) if isinstance(o, Threshold)]

    def thresholds(self) -> list[tuple[int, Threshold]]:
        """(index, observation) of every threshold, in lesson order (found once, not per epoch)."""
        return list(self._thresholds)

    def _state(self, run: int) -> _RunState:
        st = self._runs.get(run)
        if st is None:
            st = _RunState(RunOutcome(run, str(run)))
            st.outcome.thresholds = {i: None for i, _ in self.thresholds()}
            self._runs[run] = st
        return st

    def feed(self, events: Iterable[ev.Event]) -> list[Moment]:
        """Take events (any runs, in order); returns the moments they produced."""
        new: list[Moment] = []
        for e in events:
            t = type(e)
            if t is ev.Steps or t is ev.Boundary or t is ev.Weights:
                continue
            st = self._state(e.run)
            if t is ev.LayerStats:
                assert isinstance(e, ev.LayerStats)
                self._layer_stats(st, e)
                continue
            if t is ev.RunStarted:
                assert isinstance(e, ev.RunStarted)
                st.outcome.label = e.label
                st.steps_per_epoch = max(e.steps_per_epoch, 1)
                es = e.config.get("regularization", {}).get("early_stopping", {})
                st.monitor = str(es.get("monitor", "val_loss"))
            elif t is ev.EpochEnd:
                assert isinstance(e, ev.EpochEnd)
                new += self._epoch(st, e)
            elif t is ev.LRReduced:
                assert isinstance(e, ev.LRReduced)
                st.outcome.lr_drops += 1
                new += self._lr_drop(st, e)
            elif t is ev.EarlyStopped:
                assert isinstance(e, ev.EarlyStopped)
                st.early_best = e.best_epoch
            elif t is ev.Diverged:
                assert isinstance(e, ev.Diverged)
                st.outcome.diverged_step = e.step
                new += self._diverged(st, e)
            elif t is ev.Finished:
                assert isinstance(e, ev.Finished)
                st.outcome.reason = e.reason
                st.reported_best = e.best_epoch
                new += self._finished(st)
        self.moments += new
        return new

    def _epoch(self, st: _RunState, e: ev.EpochEnd) -> list[Moment]:
        out = st.outcome
        st.epochs.append(e)
        st.seconds += e.seconds
        out.epochs = len(st.epochs)
        out.final_val_acc, out.final_train_acc, out.final_lr = e.val_acc, e.train_acc, e.lr
        out.final_val_loss = e.val_loss
        if math.isfinite(e.val_loss) and not (e.val_loss >= out.best_val_loss):  # nan-safe min
            out.best_val_loss = e.val_loss
        out.gap_acc, out.gap_loss = e.train_acc - e.val_acc, e.val_loss - e.train_loss
        if math.isfinite(e.val_acc) and not (e.val_acc <= out.best_val_acc):  # nan-safe max
            out.best_val_acc, out.best_val_acc_epoch = e.val_acc, e.epoch
        moments = []
        for i, obs in self.thresholds():
            if out.thresholds.get(i) is not None:
                continue
            v = getattr(e, obs.metric)
            if math.isfinite(v) and (v >= obs.value if obs.rising else v <= obs.value):
                out.thresholds[i] = e.epoch
                caption = obs.caption or f"{threshold_label(obs).split(' ', 1)[1]} at epoch {e.epoch}"
                plot: PlotName = "accuracy" if outcome.maximize(obs.metric) else "loss"
                x = float(e.epoch) if plot == "accuracy" else float(e.step)
                moments.append(Moment(e.run, "threshold", plot, e.epoch, x, float(v), caption, i))
        return moments

    def _layer_stats(self, st: _RunState, e: ev.LayerStats) -> None:
        out = st.outcome
        out.zero_fraction = {n: float(v) for n, v in zip(e.layers, e.zero_fraction, strict=True)}
        for n, v in zip(e.layers, e.effective_lr[:, 1], strict=True):  # the median (5/50/95 %)
            first = out.effective_lr.get(n, (float(v), float(v)))[0]
            out.effective_lr[n] = (first, float(v))

    def _timing(self) -> None:
        """Seconds per epoch of every run, and its ratio to the first run's: the mean of
        :func:`engine.outcome.seconds_per_epoch`, from the sums kept as epochs arrive (asked
        after every batch of events, it costs no more as a run grows longer)."""
        first = None
        for r in sorted(self._runs):
            st = self._runs[r]
            st.outcome.seconds_per_epoch = st.seconds / len(st.epochs) if st.epochs else math.nan
            if first is None:
                first = st.outcome.seconds_per_epoch
            st.outcome.speed_ratio = st.outcome.seconds_per_epoch / first if first and first > 0 else math.nan

    def _lr_drop(self, st: _RunState, e: ev.LRReduced) -> list[Moment]:
        return [
            Moment(
                e.run,
                "lr_drop",
                "lr",
                e.epoch,
                float(e.step),
                e.new_lr,
                obs.caption
                or (f"LR ÷{e.old_lr / e.new_lr:.3g} (epoch {e.epoch})" if st.outcome.lr_drops == 1 else ""),
                i,
            )
            for i, obs in enumerate(self.observations)
            if isinstance(obs, LRDrop)
        ]

    def _diverged(self, st: _RunState, e: ev.Diverged) -> list[Moment]:
        y = e.loss if math.isfinite(e.loss) else (st.epochs[-1].train_loss if st.epochs else 0.0)
        return [
            Moment(
                e.run,
                "divergence",
                "loss",
                e.epoch,
                float(e.step),
                y,
                obs.caption or f"diverged (update {e.step})",
                i,
            )
            for i, obs in enumerate(self.observations)
            if isinstance(obs, Divergence)
        ]

    def _finished(self, st: _RunState) -> list[Moment]:
        out = st.outcome
        if st.reported_best is not None:  # what the engine reports (a stored run may lack it)
            out.best_epoch = st.reported_best
        elif st.early_best is not None:
            out.best_epoch = st.early_best
        elif st.epochs:
            out.best_epoch = _best_epoch(st.epochs, st.monitor)
        moments = []
        last = st.epochs[-1] if st.epochs else None
        for i, obs in enumerate(self.observations):
            if isinstance(obs, BestEpoch) and st.epochs:
                epoch = _best_epoch(st.epochs, obs.metric)
                best = next(e for e in st.epochs if e.epoch == epoch)
                v = getattr(best, obs.metric)
                plot: PlotName = "accuracy" if outcome.maximize(obs.metric) else "loss"
                x = float(epoch) if plot == "accuracy" else float(best.step)
                shown = f"{100 * v:.1f} %" if plot == "accuracy" else f"{v:.3g}"
                caption = obs.caption or f"best {shown} (epoch {epoch})"
                moments.append(Moment(out.run, "best_epoch", plot, epoch, x, float(v), caption, i))
            elif isinstance(obs, Gap) and last is not None:
                if obs.metric == "acc":
                    caption = obs.caption or f"gap {100 * out.gap_acc:+.1f} points"
                    moments.append(
                        Moment(
                            out.run,
                            "gap",
                            "accuracy",
                            last.epoch,
                            float(last.epoch),
                            last.val_acc,
                            caption,
                            i,
                        )
                    )
                else:
                    caption = obs.caption or f"gap {out.gap_loss:+.3g}"
                    moments.append(
                        Moment(
                            out.run, "gap", "loss", last.epoch, float(last.step), last.val_loss, caption, i
                        )
                    )
        return moments

    def epochs(self, run: int) -> list[ev.EpochEnd]:
        """The epoch events of run ``run`` seen so far (empty for a run not seen)."""
        st = self._runs.get(run)
        return list(st.epochs) if st is not None else []

    def finished(self, run: int) -> bool:
        """Run ``run`` has ended (its ``Finished`` event was seen)."""
        st = self._runs.get(run)
        return st is not None and st.outcome.reason != "running"

    def outcomes(self) -> list[RunOutcome]:
        """One outcome per run seen, by run id."""
        self._timing()
        return [self._runs[r].outcome for r in sorted(self._runs)]


def _best_epoch(epochs: Sequence[ev.EpochEnd], metric: str) -> int:
    """The first epoch with the best ``metric`` (:func:`engine.outcome.best_epoch`)."""
    found = outcome.best_epoch(epochs, metric)
    assert found is not None  # asked only with epochs
    return found
