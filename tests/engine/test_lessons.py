"""The lesson schema and the observation detector, on hand-made curves with known answers."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from optiscope.engine import events as ev
from optiscope.engine.config import ConfigError, loads_toml
from optiscope.engine.lessons import (
    BestEpoch,
    Classroom,
    Divergence,
    Gap,
    LRDrop,
    ObservationDetector,
    Threshold,
)
from optiscope.engine.presets import get_preset

SPE = 10  # updates per epoch of the hand-made runs


def started(run: int, label: str, monitor: str = "val_loss") -> ev.RunStarted:
    cfg = {"regularization": {"early_stopping": {"monitor": monitor}}}
    return ev.RunStarted(run, label, "cpu", 10, SPE, SPE * 50, 50, 3, cfg)


def epochs(run: int, val_acc: list[float], train_acc: list[float] | None = None) -> list[ev.EpochEnd]:
    """One EpochEnd per value; val_loss = 1 - val_acc, train_loss = 1 - train_acc."""
    train_acc = train_acc or [min(a + 0.05, 1.0) for a in val_acc]
    return [
        ev.EpochEnd(run, i + 1, (i + 1) * SPE, 0.1, 1 - t, t, 1 - v, v, 0.01)
        for i, (v, t) in enumerate(zip(val_acc, train_acc, strict=True))
    ]


def test_threshold_first_crossing_each_run_and_only_once() -> None:
    det = ObservationDetector([Threshold(metric="val_acc", value=0.78)])
    slow = [0.3, 0.5, 0.7, 0.77, 0.78, 0.6, 0.9]  # passes at epoch 5 (>= counts), dips, passes again
    fast = [0.5, 0.8, 0.85]
    never = [0.1, 0.2, math.nan]
    events = [started(0, "slow"), started(1, "fast"), started(2, "never")]
    events += epochs(0, slow) + epochs(1, fast) + epochs(2, never)
    moments = det.feed(events)
    assert [(m.run, m.epoch, m.plot, m.x) for m in moments] == [
        (0, 5, "accuracy", 5.0),
        (1, 2, "accuracy", 2.0),
    ]
    assert "78 %" in moments[0].caption and "epoch 5" in moments[0].caption
    out = {o.label: o for o in det.outcomes()}
    assert out["slow"].thresholds == {0: 5}
    assert out["fast"].thresholds == {0: 2}
    assert out["never"].thresholds == {0: None}
    # a second feed of later epochs never re-announces a crossing
    assert det.feed(epochs(0, [0.3] * 7 + [0.95])[-1:]) == []


def test_loss_threshold_falls_below_and_marks_the_update() -> None:
    det = ObservationDetector([Threshold(metric="val_loss", value=0.25)])
    det.feed([started(0, "a")])
    moments = det.feed(epochs(0, [0.5, 0.7, 0.74, 0.8]))  # val_loss 0.5, 0.3, 0.26, 0.2
    assert [(m.epoch, m.plot, m.x) for m in moments] == [(4, "loss", 4 * SPE)]


def test_every_plateau_lr_drop_and_their_count() -> None:
    det = ObservationDetector([LRDrop()])
    events: list[ev.Event] = [started(0, "p2")]
    events += epochs(0, [0.5] * 3)
    events += [ev.LRReduced(0, 3, 3 * SPE, 0.01, 0.001)]
    events += [ev.LRReduced(0, 6, 6 * SPE, 0.001, 0.0001)]
    events += [ev.Finished(0, "completed", 6, 6 * SPE, 1.0)]
    moments = det.feed(events)
    assert [(m.kind, m.plot, m.epoch, m.x, m.y) for m in moments] == [
        ("lr_drop", "lr", 3, 30.0, 0.001),
        ("lr_drop", "lr", 6, 60.0, 0.0001),
    ]
    assert "÷10" in moments[0].caption and moments[1].caption == ""  # later drops: the mark alone
    assert det.outcomes()[0].lr_drops == 2


def test_best_epoch_and_the_monitored_best_epoch() -> None:
    det = ObservationDetector([BestEpoch(metric="val_acc"), BestEpoch(metric="val_loss")])
    curve = [0.4, 0.9, 0.85, 0.9, 0.6]  # the first of equal bests wins
    det.feed([started(0, "a"), *epochs(0, curve)])
    moments = det.feed([ev.Finished(0, "completed", 5, 5 * SPE, 1.0)])
    assert [(m.kind, m.epoch, m.plot) for m in moments] == [
        ("best_epoch", 2, "accuracy"),
        ("best_epoch", 2, "loss"),
    ]
    out = det.outcomes()[0]
    assert (out.best_val_acc, out.best_val_acc_epoch, out.best_epoch) == (0.9, 2, 2)
    assert (out.final_val_acc, out.reason, out.epochs) == (0.6, "completed", 5)


def test_early_stopped_best_epoch_comes_from_the_event() -> None:
    det = ObservationDetector()
    det.feed([started(0, "es"), *epochs(0, [0.5, 0.6, 0.55])])
    det.feed([ev.EarlyStopped(0, 3, 2, 0.4, "val_loss", True), ev.Finished(0, "early_stopped", 3, 30, 1.0)])
    out = det.outcomes()[0]
    assert (out.best_epoch, out.reason) == (2, "early_stopped")


def test_divergence_marks_the_update_on_the_loss_plot() -> None:
    det = ObservationDetector([Divergence()])
    det.feed([started(0, "lr 5"), *epochs(0, [0.3, 0.2])])
    moments = det.feed([ev.Diverged(0, 27, 3, math.inf), ev.Finished(0, "diverged", 2, 27, 1.0)])
    assert [(m.kind, m.plot, m.x, m.epoch) for m in moments] == [("divergence", "loss", 27.0, 3)]
    assert math.isfinite(moments[0].y)  # an infinite loss is marked at the last finite value
    out = det.outcomes()[0]
    assert (out.diverged_step, out.reason) == (27, "diverged")


def test_gap_at_the_end() -> None:
    det = ObservationDetector([Gap(metric="acc"), Gap(metric="loss")])
    det.feed([started(0, "overfit"), *epochs(0, [0.6, 0.7], train_acc=[0.9, 1.0])])
    moments = det.feed([ev.Finished(0, "completed", 2, 20, 1.0)])
    assert [m.kind for m in moments] == ["gap", "gap"]
    assert "+30.0 points" in moments[0].caption
    out = det.outcomes()[0]
    assert out.gap_acc == pytest.approx(0.3) and out.gap_loss == pytest.approx(0.3)


def test_a_run_stopped_before_its_first_epoch_has_no_best_epoch() -> None:
    det = ObservationDetector([BestEpoch(), Gap(), Threshold(value=0.5)])
    moments = det.feed([started(0, "a"), ev.Finished(0, "stopped", 0, 3, 0.1)])
    assert moments == []
    out = det.outcomes()[0]
    assert (out.best_epoch, out.reason, out.thresholds) == (None, "stopped", {2: None})


LESSON = """
name = "my lesson"
lesson = "Watch the momentum."
[classroom]
question = "Who passes 80 % first?"
pace_seconds = 30
observe = [{ kind = "threshold", metric = "val_acc", value = 0.8 }, { kind = "lr_drop" }]
[base.training]
epochs = 5
[[variations]]
optimizer = { kind = "sgd", momentum = 0.9 }
"""


def test_lesson_section_round_trips_through_toml() -> None:
    from optiscope.engine.config import dumps_toml

    exp = loads_toml(LESSON, "lesson.toml")
    assert exp.classroom == Classroom(
        question="Who passes 80 % first?",
        pace_seconds=30,
        observe=(Threshold(metric="val_acc", value=0.8), LRDrop()),
    )
    assert loads_toml(dumps_toml(exp)) == exp
    assert loads_toml("name = 'x'").classroom is None  # the section is optional


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            "[classroom]\npace = 30",
            "classroom.pace: unknown key 'pace'; allowed keys here: question, pace_seconds, observe",
        ),
        (
            "[classroom]\npace_seconds = 1",
            "classroom.pace_seconds: Input should be greater than or equal to 5",
        ),
        (
            "[[classroom.observe]]\nkind = 'threshhold'\nvalue = 1",
            "classroom.observe.0: Input tag 'threshhold' found using 'kind' does not match any of the expected tags: 'threshold'",
        ),
        ("[[classroom.observe]]\nvalue = 0.9", "no 'kind' key"),
        (
            "[[classroom.observe]]\nkind = 'threshold'\nmetric = 'val_accuracy'\nvalue = 0.9",
            "classroom.observe.0.threshold.metric",
        ),
        ("[[classroom.observe]]\nkind = 'threshold'", "value: Field required"),
        ("[[classroom.observe]]\nkind = 'gap'\nmetrc = 'acc'", "did you mean 'metric'?"),
        (
            "[[classroom.observe]]\nkind = 'threshold'\nmetric = 'val_acc'\nvalue = 80",
            "accuracies are written 0-1, e.g. value = 0.80 for 80 %",
        ),
        (
            "[[classroom.observe]]\nkind = 'threshold'\nmetric = 'train_acc'\nvalue = 1.5",
            "e.g. value = 0.015 for 1.5 %",
        ),
    ],
)
def test_invalid_lesson_sections_name_field_and_fix(bad: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads_toml(bad, "lesson.toml")
    msg = str(info.value)
    assert msg.startswith("lesson.toml is invalid")
    assert expected in msg, msg


def test_a_loss_threshold_above_one_is_still_valid() -> None:
    """Losses are not fractions: only accuracies are bounded by 1."""
    exp = loads_toml("[[classroom.observe]]\nkind = 'threshold'\nmetric = 'val_loss'\nvalue = 2.5")
    assert exp.classroom is not None
    assert exp.classroom.observe[0].value == 2.5


@pytest.mark.parametrize(
    ("preset", "kinds"),
    [
        ("optimizer-race", {"threshold", "best_epoch", "divergence"}),
        ("momentum-sweep", {"threshold", "best_epoch", "divergence"}),
        ("adaptive-optimizers", {"threshold", "best_epoch"}),
        ("plateau-patience", {"lr_drop", "threshold", "best_epoch"}),
        ("overfitting-cures", {"gap", "best_epoch"}),
    ],
)
def test_lesson_presets_observe_what_their_text_talks_about(preset: str, kinds: set[str]) -> None:
    exp = get_preset(preset)
    assert exp.classroom is not None and exp.classroom.question
    assert {o.kind for o in exp.classroom.observe} == kinds
    assert exp.classroom.pace_seconds is not None and 30 <= exp.classroom.pace_seconds <= 60


def test_outcomes_agree_with_summary_json(tmp_path) -> None:
    """The detector's numbers for a real (short) run equal what ``write_outputs`` reports."""
    from optiscope.engine.runner import execute, write_outputs

    exp = get_preset("plateau-patience").with_overrides(epochs=12)
    data = exp.model_dump(mode="python")
    for var in data["variations"]:  # patience 1 and 2 so LR drops happen within 12 epochs
        var["schedule"]["patience"] = min(var["schedule"]["patience"], 2) - 1
    exp = type(exp).model_validate(data)
    runs = exp.runs()
    bus = ev.EventBus()
    det = ObservationDetector(exp.classroom.observe)
    bus.subscribe(lambda e: det.feed([e]))
    results = execute(runs, bus=bus)
    write_outputs(tmp_path, exp, runs, results)
    summary = json.loads((tmp_path / "summary.json").read_text())["runs"]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "metrics.csv").read_text())))
    # independent counts from metrics.csv: rate decreases between epochs, best validation accuracy
    drops = {r: 0 for r in range(4)}
    best = {r: 0.0 for r in range(4)}
    last_lr: dict[int, float] = {}
    for row in rows:
        run, lr = int(row["run"]), float(row["lr"])
        if run in last_lr and lr < last_lr[run]:
            drops[run] += 1
        last_lr[run] = lr
        best[run] = max(best[run], float(row["val_acc"]))
    outcomes = det.outcomes()
    assert len(outcomes) == len(summary) == 4
    for out, s in zip(outcomes, summary, strict=True):
        assert out.label == s["label"] and out.reason == s["reason"] and out.epochs == s["epochs"]
        assert out.final_val_acc == pytest.approx(s["final"]["val_acc"])
        assert out.final_lr == pytest.approx(s["final"]["lr"])
        assert out.best_epoch == s["best_epoch"]
        assert out.gap_acc == pytest.approx(s["train_val_gap"]["final"]["acc"])
        assert out.gap_loss == pytest.approx(s["train_val_gap"]["final"]["loss"])
        assert out.lr_drops == drops[out.run]
        assert out.best_val_acc == pytest.approx(best[out.run])
    assert sum(o.lr_drops for o in outcomes) > 0  # the short run really drops the rate


def test_seconds_per_epoch_kept_as_epochs_arrive_equal_the_mean_recomputed_from_all_of_them():
    """Asked after every batch (as the window does), the timing matches a direct
    recomputation (``statistics.fmean`` of every epoch's seconds so far, and the ratio to
    run 0's); a run without epochs has none."""
    import random
    import statistics

    from optiscope.engine import events as ev

    rng = random.Random(3)
    det = ObservationDetector()
    seen: dict[int, list[float]] = {0: [], 1: [], 2: []}
    det.feed([ev.Failed(3, "no epochs")])
    for epoch in range(1, 60):
        batch = []
        for run in (2, 0, 1):  # out of id order, as batches may arrive
            if run == 1 and epoch > 40:
                continue  # a run that stopped early
            s = rng.uniform(0.001, 2.0)
            seen[run].append(s)
            batch.append(ev.EpochEnd(run, epoch, 10 * epoch, 0.1, 1.0, 0.5, 1.0, 0.5, s))
        det.feed(batch)
        got = {o.run: o for o in det.outcomes()}
        first = statistics.fmean(seen[0])
        for run, values in seen.items():
            want = statistics.fmean(values)
            assert got[run].seconds_per_epoch == pytest.approx(want, rel=1e-12)
            assert got[run].speed_ratio == pytest.approx(want / first, rel=1e-12)
        assert math.isnan(got[3].seconds_per_epoch) and math.isnan(got[3].speed_ratio)
