"""The tuning recipe's automatic checks (reading list, article 001): from "does it learn at all"
to a tuned run. Every step returns a :class:`CheckResult` (pass/fail, its numbers, what to do).

Step 1, :func:`initial_loss_check`: at initialisation, before any update and with every
penalty off, the mean cross-entropy on the training set should be about ``ln C`` for
``C`` classes (within 10 %): the network then starts with no preference among the
classes. A loss far off means a wrong output layer or scaling (huge initial weights,
unscaled inputs).

Step 2, :func:`overfit_check`: trained on a tiny subset (20 examples) with every
regulariser off, the model must reach 100 % training accuracy. If it cannot, the model
or the optimizer is broken (or the rate far too small), not the data.

Step 3, :func:`lr_range_check`: the LR range test (:func:`engine.lrfind.lr_find`) must
find a descent -- the smoothed loss falls by at least :data:`MIN_DROP` of its starting
level before it rises or diverges -- and its suggestion (fastai's ``valley``) must lie
inside the tested range, away from its ends (:data:`EDGE_MARGIN`). The suggestion is
the picked learning rate of steps 4 and 5.

Step 4, :func:`gap_check`: trained on all the data at the picked rate, the train/validation
accuracy gap at the last epoch is at most :data:`GAP_CLOSED`.

Step 5, :func:`schedule_check`: the run with a schedule (ReduceLROnPlateau unless the run
already has a plateau or cyclical one) against the constant rate, trained side by side
(:func:`train_schedules`, batched by :func:`engine.runner.execute`) over
:data:`SCHEDULE_SEEDS` seeds each (the run's seed, +1, …; the two contenders share them seed
for seed). It reports each one's final and best validation accuracy and loss as mean ± 95 %
interval (:mod:`engine.stats`) and the paired verdict on final validation accuracy; it passes
unless the schedule is clearly worse -- the interval of the paired differences lies wholly
more than :data:`SCHEDULE_MARGIN` below zero -- and keeps the schedule only when it is clearly
better (the interval excludes zero), the constant rate (simpler) otherwise. With one seed the
comparison is the two runs' numbers, no worse by more than the margin. Step 4's gap is the
constant run's at the run's own seed.

Step 6 (the final run, stored, and its one-page summary) is the window's: every run of
a recipe is stored in the run store under one experiment name (:func:`recipe_group`),
and :func:`summary_html` writes the page.

Every run goes through the one training loop; pass an event ``bus`` (with a run-store
recorder subscribed) to keep the runs.
"""

from __future__ import annotations

import dataclasses
import html
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import events as ev
from . import outcome
from .config import Augmentation, Constant, Cyclic, EarlyStopping, Plateau, RegularizationConfig, RunConfig
from .control import RunControl
from .data import Dataset, load_dataset
from .kernels import evaluate
from .loop import RunResult
from .lrfind import LRFindResult, lr_find
from .schema import MAX_SEEDS
from .trainer import prepare, train

__all__ = [
    "CheckResult",
    "initial_loss_check",
    "overfit_check",
    "lr_range_check",
    "range_test_verdict",
    "gap_check",
    "schedule_check",
    "schedule_runs",
    "train_schedules",
    "run_recipe",
    "recipe_group",
    "summary_html",
    "parse_steps",
    "STEP_TITLES",
    "LATER_STEPS",
    "SCHEDULE_SEEDS",
]

OVERFIT_EXAMPLES = 20
OVERFIT_EPOCHS = 300
LOSS_TOLERANCE = 0.10
MIN_DROP = 0.10  # step 3: the smoothed loss must fall by at least 10 % of its starting level
EDGE_MARGIN = 0.05  # step 3: the suggestion lies in the inner 90 % of the tested range (log scale)
RANGE_TEST = {"start_lr": 1e-7, "end_lr": 10.0, "iterations": 100}  # the range test's window defaults
GAP_CLOSED = 0.05  # step 4: train minus validation accuracy at the last epoch, closed at 5 points or less
SCHEDULE_MARGIN = 0.01  # step 5: the schedule may end at most 1 point of validation accuracy below constant
SCHEDULE_SEEDS = 5  # step 5: seeds per contender (a verdict needs several; they train batched)
STEPS = (1, 2, 3, 4, 5)  # the automatic steps

STEP_TITLES = (
    "1. Initial loss ≈ ln(number of classes)",
    "2. Overfit a tiny subset to 100 %",
    "3. LR range test → pick the learning rate",
    "4. Train on all data, regularise until the gap closes",
    "5. Try a schedule (plateau or cyclical) and compare",
    "6. The final run, stored, with a one-page summary",
)

LATER_STEPS = (
    "3. LR range test: 'optiscope recipe CONFIG --steps 1-3' checks it; pick a rate where the loss "
    "falls fastest (the range test's valley).",
    "4. Train on all the data at that rate and add regularisation (L2, dropout, early stopping, "
    "augmentation) until the train/validation gap (summary.json train_val_gap) closes ('--steps 1-5').",
    "5. Try a schedule (plateau or cyclical) and compare with the constant rate ('--steps 1-5').",
    "6. The final run: store it ('optiscope run' records it in the run store) and export its summary "
    "(Tools -> Tuning recipe in the window writes the page as HTML and PNG).",
)


@dataclass(frozen=True)
class CheckResult:
    step: int
    name: str
    passed: bool
    numbers: dict
    message: str
    advice: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def recipe_group(experiment: str, when: float | None = None) -> str:
    """The experiment name every run of one recipe is stored under (the Runs tab's Experiment column)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if when is None else when))
    return f"recipe {stamp} · {experiment}"


def parse_steps(text: str) -> tuple[int, ...]:
    """``"1-5"``, ``"3"`` or ``"1,2,5"`` as step numbers; ValueError naming what is wrong
    (ASCII digits only, every range closed, no step given twice)."""
    import re

    shown = repr(text if len(text) <= 40 else text[:40] + "...")
    compact = text.replace(" ", "")
    if (
        not re.fullmatch(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", compact, flags=re.ASCII)
        or len(compact) > 40
    ):
        raise ValueError(f"--steps {shown}: write steps as '1-5', '3' or '1,2,5'")
    steps: list[int] = []
    for part in compact.split(","):
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if not (1 <= a <= b <= len(STEPS)):
            raise ValueError(f"--steps {shown}: steps run from 1 to {len(STEPS)} (6 is the window's summary)")
        steps.extend(range(a, b + 1))
    twice = sorted({s for s in steps if steps.count(s) > 1})
    if twice:
        raise ValueError(f"--steps {shown}: step {', '.join(map(str, twice))} is given more than once")
    return tuple(sorted(steps))


def _unregularised(cfg: RunConfig) -> RunConfig:
    """``cfg`` with every penalty, augmentation, early stop and dropout off."""
    layers = tuple(
        layer.model_copy(update={"p": 0.0}) if layer.type == "dropout" else layer
        for layer in cfg.model.layers
    )
    opt = cfg.optimizer.model_copy(update={"weight_decay": 0.0})
    reg = RegularizationConfig(augmentation=Augmentation(), early_stopping=EarlyStopping())
    return cfg.model_copy(
        update={
            "model": cfg.model.model_copy(update={"layers": layers}),
            "optimizer": opt,
            "regularization": reg,
        }
    )


def initial_loss_check(cfg: RunConfig, dataset: Dataset | None = None) -> CheckResult:
    """Step 1: the loss at initialisation against ``ln C``."""
    ds = dataset if dataset is not None else load_dataset(cfg.dataset)
    p = prepare(_unregularised(cfg), ds)
    loss, acc = evaluate(p.model, p.x_train, p.y_train)
    expected = math.log(ds.n_classes)
    off = loss / expected - 1
    passed = abs(off) <= LOSS_TOLERANCE
    return CheckResult(
        1,
        "initial loss ~ ln(classes)",
        passed,
        {"initial_loss": loss, "ln_classes": expected, "relative_difference": off, "classes": ds.n_classes},
        f"initial loss {loss:.4f} vs ln({ds.n_classes}) = {expected:.4f} ({off:+.1%}; allowed +-10 %)",
        _initial_loss_advice(off),
    )


def _initial_loss_advice(off: float) -> str:
    if abs(off) <= LOSS_TOLERANCE:
        return "fine: the network starts without a preference among the classes"
    if off > 0:
        return (
            "the network starts confidently wrong (its outputs are too large): standardise the inputs "
            "(Data panel: Standardise, or dataset.standardize = true), give the layers smaller initial "
            "weights (e.g. glorot instead of he for the output layer), and check there is one output "
            "unit per class with no activation after it"
        )
    return "below chance before any training: check that the labels do not leak into the inputs"


def overfit_check(
    cfg: RunConfig, dataset: Dataset | None = None, *, bus: ev.EventBus | None = None, run_id: int = 0
) -> CheckResult:
    """Step 2: 100 % training accuracy on :data:`OVERFIT_EXAMPLES` examples, regularisers off."""
    ds = dataset if dataset is not None else load_dataset(cfg.dataset)
    n = min(OVERFIT_EXAMPLES, len(ds.y_train))
    tiny = dataclasses.replace(ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n])
    training = cfg.training.model_copy(
        update={"epochs": OVERFIT_EPOCHS, "batch_size": min(cfg.training.batch_size, n), "eval_train": True}
    )
    run = _unregularised(cfg).model_copy(
        update={"training": training, "label": f"recipe step 2: overfit {n} examples ({cfg.describe()})"}
    )
    result = train(run, dataset=tiny, keep_model=False, stats_every=0, bus=bus, run_id=run_id)
    best = max((e.train_acc for e in result.epochs), default=0.0)
    reached = next((e.epoch for e in result.epochs if e.train_acc >= 1.0), None)
    passed = reached is not None
    final_loss = result.final.train_loss if result.final else math.nan
    if passed:
        advice = "fine: the model and the optimizer can learn"
    elif result.reason == "diverged" and result.reason_detail.startswith(("did not learn", "not learning")):
        # it went above its starting loss on the way (a slow learner is never flagged)
        advice = (
            f"the run {result.reason_detail}: the learning rate is too large or the initialisation is bad"
        )
    elif result.reason == "diverged" or not math.isfinite(final_loss):
        advice = "the loss went to Inf/NaN: the learning rate is too large or the initialisation is bad"
    else:
        advice = (
            "the loss does not fall far enough: the learning rate may be too small, the model too small "
            "or its initialisation bad -- the model or the optimizer is at fault, not the data"
        )
    return CheckResult(
        2,
        f"overfit {n} examples to 100 %",
        passed,
        {
            "examples": n,
            "epochs": len(result.epochs),
            "best_train_acc": best,
            "epoch_reached": reached,
            "final_train_loss": final_loss,
            "reason": result.reason,
        },
        (
            f"100 % training accuracy on {n} examples at epoch {reached}"
            if passed
            else f"best training accuracy {best:.1%} on {n} examples after {len(result.epochs)} epochs"
        ),
        advice,
    )


# ---------------------------------------------------------------------- step 3
def range_test_verdict(result: LRFindResult) -> CheckResult:
    """Step 3's check on a finished range test (see the module docstring).

    The starting level is the mean raw loss over the first tenth of the test (at least 5
    updates: the rates there are too small to move the weights); the descent is measured
    down to the smoothed curve's minimum after that.
    """
    lrs = np.asarray(result.lrs, dtype=float)
    raw = np.asarray(result.losses, dtype=float)
    sm = np.asarray(result.smoothed, dtype=float)
    valley = result.suggestions.get("valley")
    lo = min(max(len(sm) // 10, 5), max(len(sm) - 1, 0))
    finite_raw = raw[:lo][np.isfinite(raw[:lo])]
    start = float(finite_raw.mean()) if len(finite_raw) else math.nan
    tail = np.where(np.isfinite(sm[lo:]), sm[lo:], np.inf)
    i_min = lo + int(np.argmin(tail)) if len(tail) and np.isfinite(tail).any() else None
    low = float(sm[i_min]) if i_min is not None else math.nan
    drop = (start - low) / start if start > 0 and math.isfinite(low) else math.nan
    after = sm[i_min + 1 :] if i_min is not None else np.array([])
    # it rose: the test stopped on a blow-up, or the loss after its minimum climbed back by half the drop
    rose = result.stopped_early or bool(
        len(after) and (not np.isfinite(after).all() or after.max() >= low + 0.5 * (start - low))
    )
    tested_from, tested_to = (float(lrs[0]), float(lrs[-1])) if len(lrs) else (math.nan, math.nan)
    position = (
        math.log(valley / tested_from) / math.log(tested_to / tested_from)
        if valley and tested_to > tested_from
        else math.nan
    )
    descent = bool(drop >= MIN_DROP)
    inside = bool(EDGE_MARGIN <= position <= 1 - EDGE_MARGIN)
    passed = descent and rose and inside
    numbers = {
        "suggested_lr": valley,
        "steepest_lr": result.suggestions.get("steepest"),
        "start_loss": start,
        "min_loss": low,
        "lr_at_min": float(lrs[i_min]) if i_min is not None else None,
        "loss_drop_fraction": drop,
        "min_drop_fraction": MIN_DROP,
        "rose_after_min": rose,
        "stopped_early": result.stopped_early,
        "tested_from": tested_from,
        "tested_to": tested_to,
        "updates": len(sm),
        "suggestion_position": position,
    }
    if not descent:
        message = (
            f"no descent: the smoothed loss fell {drop:.0%} from {start:.3g} (at least {MIN_DROP:.0%} wanted) "
            f"over rates {tested_from:.3g} to {tested_to:.3g}"
        )
        advice = (
            "the loss never really fell at any rate: pass steps 1 and 2 first (scale the inputs, check the "
            "initialisation), then widen the range (a larger end rate) or test more updates"
        )
    elif not rose:
        message = (
            f"the loss fell {drop:.0%} ({start:.3g} to {low:.3g}) but was still falling at the largest "
            f"rate tested ({tested_to:.3g})"
        )
        advice = "the range ended too early: raise the end rate so the test finds where the loss turns up"
    elif not inside:
        message = (
            f"the suggestion {valley:.3g} lies at the edge of the tested range ({tested_from:.3g} to "
            f"{tested_to:.3g}); the loss fell {drop:.0%}"
            if valley
            else f"the loss fell {drop:.0%} but the test gave no suggestion"
        )
        advice = "move the range so the descent sits inside it (a smaller start rate, or a larger end rate)"
    else:
        message = (
            f"learning rate {valley:.3g} (valley): the loss fell {drop:.0%} ({start:.3g} to {low:.3g} at "
            f"{float(lrs[i_min]):.3g}) before it {'diverged' if result.stopped_early else 'rose'}"
        )
        advice = "fine: train with this rate (steps 4 and 5 use it)"
    return CheckResult(3, "LR range test finds a descent", passed, numbers, message, advice)


def lr_range_check(
    cfg: RunConfig,
    dataset: Dataset | None = None,
    *,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    run_id: int = 0,
) -> tuple[CheckResult, LRFindResult]:
    """Step 3: the range test on ``cfg`` (the window's defaults, :data:`RANGE_TEST`) and its verdict."""
    run = cfg.model_copy(update={"label": f"recipe step 3: LR range test ({cfg.describe()})"})
    relay = None
    if bus is not None:  # the range test's events, re-tagged with this step's run id
        relay = ev.EventBus()
        relay.subscribe(lambda e: bus.emit(dataclasses.replace(e, run=run_id)))
    result = lr_find(run, dataset=dataset, control=control, bus=relay, **RANGE_TEST)  # type: ignore[arg-type]
    return range_test_verdict(result), result


# ---------------------------------------------------------------------- steps 4 and 5
def gap_check(result: RunResult) -> CheckResult:
    """Step 4: the train/validation accuracy gap at the run's last epoch."""
    last = result.final
    if last is None or result.reason in ("diverged", "failed"):
        return CheckResult(
            4,
            "train/validation gap closed",
            False,
            {"reason": result.reason},
            f"'{result.label}' ended {result.reason} without a usable epoch",
            "the rate is too large for a full run: take a smaller one (step 3) and train again",
        )
    gap = last.train_acc - last.val_acc
    closed = bool(gap <= GAP_CLOSED)
    numbers = {
        "train_acc": last.train_acc,
        "val_acc": last.val_acc,
        "gap": gap,
        "gap_closed_at": GAP_CLOSED,
        "epoch": last.epoch,
    }
    message = (
        f"'{result.label}': train {100 * last.train_acc:.1f} %, validation {100 * last.val_acc:.1f} %, "
        f"gap {100 * gap:.1f} points (closed at ≤ {100 * GAP_CLOSED:.0f})"
    )
    if math.isnan(gap):
        return CheckResult(
            4, "train/validation gap closed", False, numbers, message, "tick 'evaluate train' in Training"
        )
    advice = (
        "fine: the gap is closed, go on to a schedule (step 5)"
        if closed
        else "the model fits the training set better than new data: add regularisation (L2, dropout, "
        "early stopping, augmentation) and train again"
    )
    return CheckResult(4, "train/validation gap closed", closed, numbers, message, advice)


def schedule_runs(cfg: RunConfig, lr: float) -> tuple[RunConfig, RunConfig]:
    """The constant-rate run and the scheduled run of step 5, both at ``lr``.

    The schedule is the run's own when it is a plateau or cyclical one, else
    ReduceLROnPlateau on the validation loss (factor 0.1, patience a tenth of the epochs,
    2 to 10).
    """
    training = cfg.training.model_copy(update={"eval_train": True})
    opt = cfg.optimizer.model_copy(update={"lr": float(lr)})
    if isinstance(cfg.schedule, Plateau | Cyclic):
        schedule = cfg.schedule
    else:
        schedule = Plateau(
            monitor="val_loss", factor=0.1, patience=min(10, max(2, cfg.training.epochs // 10))
        )
    from .labels import schedule_text

    base = cfg.model_copy(update={"optimizer": opt, "training": training})
    constant = base.model_copy(
        update={"schedule": Constant(), "label": f"recipe step 4-5: constant lr={lr:.3g}"}
    )
    scheduled = base.model_copy(
        update={"schedule": schedule, "label": f"recipe step 5: {schedule_text(schedule)} lr={lr:.3g}"}
    )
    return constant, scheduled


def train_schedules(
    cfg: RunConfig,
    lr: float,
    *,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    first_run_id: int = 0,
    seeds: int = 1,
) -> tuple[list[RunConfig], list[RunResult]]:
    """Train :func:`schedule_runs` side by side (batched where they can be), each over ``seeds``
    seeds (:class:`engine.seeds.SeedPlan`): the constant run's seeds first, then the scheduled
    run's, seed for seed."""
    from .runner import execute
    from .seeds import SeedPlan

    runs = SeedPlan.expand(list(schedule_runs(cfg, lr)), seeds).runs
    results = execute(runs, bus=bus, control=control, first_run_id=first_run_id, stats_every=0)
    return runs, results


def _best(result: RunResult) -> tuple[float, float]:
    """(best validation accuracy, validation loss at the best-loss epoch)."""
    return (
        outcome.best_value((e.val_acc for e in result.epochs), "val_acc"),
        outcome.best_value((e.val_loss for e in result.epochs), "val_loss"),
    )


def schedule_check(
    constant: RunResult | Sequence[RunResult], scheduled: RunResult | Sequence[RunResult]
) -> CheckResult:
    """Step 5: the scheduled run against the constant one (final and best validation numbers),
    over seeds when given a result per seed (seed ``k`` of one paired with seed ``k`` of the other)."""
    if not isinstance(constant, RunResult) or not isinstance(scheduled, RunResult):
        cs = [constant] if isinstance(constant, RunResult) else list(constant)
        ss = [scheduled] if isinstance(scheduled, RunResult) else list(scheduled)
        if len(cs) != len(ss) or not cs:
            raise ValueError(f"step 5 pairs seed for seed: {len(cs)} constant runs vs {len(ss)} scheduled")
        if len(cs) > 1:
            return _schedule_check_seeds(cs, ss)
        constant, scheduled = cs[0], ss[0]

    def final(r: RunResult, key: str) -> float:
        return float(getattr(r.final, key)) if r.final is not None else math.nan

    c_acc, s_acc = final(constant, "val_acc"), final(scheduled, "val_acc")
    c_loss, s_loss = final(constant, "val_loss"), final(scheduled, "val_loss")
    (c_best, c_best_loss), (s_best, s_best_loss) = _best(constant), _best(scheduled)
    usable = math.isfinite(c_acc) and math.isfinite(s_acc)
    passed = usable and s_acc >= c_acc - SCHEDULE_MARGIN
    better = usable and (s_acc > c_acc or (s_acc == c_acc and s_loss < c_loss))
    numbers: dict[str, object] = {
        "constant_label": constant.label,
        "schedule_label": scheduled.label,
        "constant_final_val_acc": c_acc,
        "schedule_final_val_acc": s_acc,
        "constant_final_val_loss": c_loss,
        "schedule_final_val_loss": s_loss,
        "constant_best_val_acc": c_best,
        "schedule_best_val_acc": s_best,
        "constant_best_val_loss": c_best_loss,
        "schedule_best_val_loss": s_best_loss,
        "constant_reason": constant.reason,
        "schedule_reason": scheduled.reason,
        "margin": SCHEDULE_MARGIN,
    }
    numbers["keep"] = "schedule" if better else "constant"
    message = (
        f"final validation accuracy: schedule {100 * s_acc:.1f} % vs constant {100 * c_acc:.1f} % "
        f"(best {100 * s_best:.1f} vs {100 * c_best:.1f}); "
        f"final validation loss {s_loss:.4g} vs {c_loss:.4g}"
    )
    if not usable:
        advice = "a run ended without a usable epoch (diverged?): take a smaller rate and compare again"
    elif better:
        advice = f"keep the schedule ('{scheduled.label}')"
    elif passed:
        advice = (
            f"no worse than the constant rate by more than {100 * SCHEDULE_MARGIN:.0f} point, but no better: "
            "keep the constant rate (simpler) or try a longer run"
        )
    else:
        advice = (
            f"the schedule ends more than {100 * SCHEDULE_MARGIN:.0f} point below the constant rate: keep the "
            "constant rate, or give the plateau more patience / other cyclical bounds"
        )
    return CheckResult(5, "schedule vs constant rate", passed, numbers, message, advice)


def _schedule_check_seeds(constant: Sequence[RunResult], scheduled: Sequence[RunResult]) -> CheckResult:
    """Step 5 over seeds: means ± intervals and the paired verdict on final validation accuracy."""
    from . import stats

    n = len(constant)

    def each(results: Sequence[RunResult], key: str, best: bool = False) -> list[float]:
        if best:
            return [_best(r)[0 if key == "val_acc" else 1] if r.epochs else math.nan for r in results]
        return [float(getattr(r.final, key)) if r.final is not None else math.nan for r in results]

    numbers: dict[str, object] = {
        "constant_label": constant[0].label,
        "schedule_label": scheduled[0].label,
        "seeds": n,
        "interval": stats.METHOD,
    }
    intervals: dict[str, stats.Interval] = {}
    for who, results in (("constant", constant), ("schedule", scheduled)):
        for name, key, best in (
            ("final_val_acc", "val_acc", False),
            ("final_val_loss", "val_loss", False),
            ("best_val_acc", "val_acc", True),
            ("best_val_loss", "val_loss", True),
        ):
            values = each(results, key, best)
            iv = stats.mean_interval(values)
            intervals[f"{who}_{name}"] = iv
            numbers[f"{who}_{name}"] = iv.mean
            numbers[f"{who}_{name}_interval"] = [iv.low, iv.high]
            numbers[f"{who}_{name}_seeds"] = values
        numbers[f"{who}_reason"] = [r.reason for r in results]
    verdict = stats.paired_verdict(
        numbers["schedule_final_val_acc_seeds"],  # type: ignore[arg-type]
        numbers["constant_final_val_acc_seeds"],  # type: ignore[arg-type]
        better="max",
        names=("the schedule", "the constant rate"),
        runners=(1, 0),
        measure="final_val_acc",
        words=("higher", "lower"),
        unit="points",
        fmt="{:.1f}",
        scale=100.0,
    )
    diff = verdict.diff
    usable = all(
        math.isfinite(v)
        for key in ("constant_final_val_acc_seeds", "schedule_final_val_acc_seeds")
        for v in numbers[key]  # type: ignore[attr-defined]
    )
    usable = usable and diff.n >= 2
    worse = usable and math.isfinite(diff.high) and diff.high < -SCHEDULE_MARGIN
    passed = usable and not worse
    better = usable and verdict.winner == 1
    numbers.update(
        margin=SCHEDULE_MARGIN,
        keep="schedule" if better else "constant",
        difference=diff.as_dict(),
        verdict=verdict.text,
    )

    def pct(name: str) -> str:
        return intervals[name].text("{:.1f}", 100.0)

    def loss(name: str) -> str:
        return intervals[name].text("{:.3g}")

    message = (
        f"final validation accuracy over {n} seeds: schedule {pct('schedule_final_val_acc')} % vs constant "
        f"{pct('constant_final_val_acc')} % (best {pct('schedule_best_val_acc')} vs "
        f"{pct('constant_best_val_acc')}); final validation loss {loss('schedule_final_val_loss')} vs "
        f"{loss('constant_final_val_loss')}; {verdict.text}"
    )
    change = f"{100 * diff.mean:+.1f} ± {100 * diff.half:.1f} points" if diff.n >= 2 else ""
    if not usable:
        advice = "a run ended without a usable epoch (diverged?): take a smaller rate and compare again"
    elif better:
        advice = f"keep the schedule ('{scheduled[0].label}'): {verdict.text} over {n} seeds"
    elif passed:
        advice = (
            f"no clear difference with {n} seeds (schedule − constant {change}): keep the constant rate "
            "(simpler), or try more seeds or a longer run"
        )
    else:
        advice = (
            f"the schedule ends clearly below the constant rate ({change} over {n} seeds, more than "
            f"{100 * SCHEDULE_MARGIN:.0f} point): keep the constant rate, or give the plateau more patience / "
            "other cyclical bounds"
        )
    return CheckResult(5, "schedule vs constant rate", passed, numbers, message, advice)


# ---------------------------------------------------------------------- the whole recipe
def run_recipe(
    cfg: RunConfig,
    steps: Sequence[int] = (1, 2),
    *,
    bus: ev.EventBus | None = None,
    control: RunControl | None = None,
    seeds: int = SCHEDULE_SEEDS,
) -> list[CheckResult]:
    """The automatic ``steps`` (of 1 to 5) on ``cfg``, in order (one dataset load).

    Steps 4 and 5 train at step 3's suggestion when step 3 ran and passed, else at the
    run's own rate (their numbers say which). Step 5 compares ``seeds`` seeds of each
    contender (step 4 only: one). Runs get ids 0 (step 2), 1 (step 3), then 2, 3, …
    (steps 4-5: the constant run's seeds, then the scheduled run's) on ``bus``.
    """
    if not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"step 5's seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    ds = load_dataset(cfg.dataset)
    checks: list[CheckResult] = []
    lr, lr_source = cfg.optimizer.lr, "the run's own rate"
    if 1 in steps:
        checks.append(initial_loss_check(cfg, ds))
    if 2 in steps:
        check = overfit_check(cfg, ds, bus=bus, run_id=0)
        if not check.passed and checks and not checks[0].passed:
            check = dataclasses.replace(
                check, advice=check.advice + "; step 1 failed too: fix the scaling first, then check again"
            )
        checks.append(check)
    if 3 in steps:
        check, _ = lr_range_check(cfg, ds, bus=bus, control=control, run_id=1)
        checks.append(check)
        if check.passed and check.numbers["suggested_lr"]:
            lr, lr_source = float(check.numbers["suggested_lr"]), "step 3's suggestion"
    if 4 in steps or 5 in steps:
        n = seeds if 5 in steps else 1
        _, results = train_schedules(cfg, lr, bus=bus, control=control, first_run_id=2, seeds=n)
        constant, scheduled = results[:n], results[n:]
        for check in (gap_check(constant[0]), schedule_check(constant, scheduled)):
            if check.step in steps:
                check.numbers.update(lr=lr, lr_source=lr_source)
                checks.append(check)
    return checks


def summary_html(
    title: str, rows: Sequence[tuple[str, bool | None, str, str]], pictures: Sequence[str] = ()
) -> str:
    """The one-page summary: a row per step (title, passed or None, status, detail), then pictures.

    ``pictures`` are image sources (``data:`` URLs in the file, resource names when Qt
    renders the page to PNG).
    """
    marks = {True: ("✔", "#1e9e4a"), False: ("✘", "#e0342b"), None: ("", "#6f7f94")}
    body = []
    for step_title, passed, status, detail in rows:
        mark, colour = marks[passed]
        body.append(
            f"<tr><td width='30%'>{html.escape(step_title)}</td><td width='30%'><b style='color:{colour}'>"
            f"{mark} {html.escape(status)}</b></td><td>{html.escape(detail)}</td></tr>"
        )
    images = "".join(f"<img width='440' src='{html.escape(src)}'>&nbsp;" for src in pictures)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Tuning recipe summary</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td{vertical-align:top;"
        "padding:4px 8px;border-bottom:1px solid #ddd}img{max-width:49%}</style></head><body>"
        f"<h1>Tuning recipe summary</h1><p>{html.escape(title)}</p>"
        f"<table cellspacing='0' cellpadding='4'>{''.join(body)}</table><p>{images}</p></body></html>"
    )
