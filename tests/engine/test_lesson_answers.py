"""Each bundled lesson's question has the answer its text and observations claim, on the
lesson's own runs (fewer epochs where the claim is already decided by then).

The crossings are read from the runs' own validation accuracy, epoch by epoch, and compared
with what the lesson's observation detector reports (the results table's column)."""

from __future__ import annotations

import pytest
from optiscope.engine import events as ev
from optiscope.engine.lessons import ObservationDetector
from optiscope.engine.presets import get_preset
from optiscope.engine.runner import execute


def _run(name: str, epochs: int | None = None) -> tuple[dict[str, list[float]], dict[str, int | None]]:
    """Train lesson ``name``: each run's validation accuracy per epoch, and the epoch at which
    the detector saw its 80 % threshold crossed (by run label)."""
    exp = get_preset(name)
    if epochs is not None:
        exp = exp.with_overrides(epochs=epochs)
    assert exp.classroom is not None and exp.classroom.question.endswith("?")
    runs = exp.runs()
    bus = ev.EventBus()
    det = ObservationDetector(exp.classroom.observe)
    acc: dict[int, list[float]] = {i: [] for i in range(len(runs))}

    def on_event(e: ev.Event) -> None:
        det.feed([e])
        if isinstance(e, ev.EpochEnd):
            acc[e.run].append(e.val_acc)

    bus.subscribe(on_event)
    execute(runs, bus=bus)
    (index, obs), *_ = det.thresholds()
    assert obs.metric == "val_acc" and obs.value == 0.8
    crossed = {o.label: o.thresholds[index] for o in det.outcomes()}
    return {r.label: acc[i] for i, r in enumerate(runs)}, crossed


def _first(values: list[float], level: float = 0.8) -> int | None:
    return next((i + 1 for i, v in enumerate(values) if v >= level), None)


@pytest.fixture(scope="module")
def decay_sweep():
    return _run("decay-sweep")  # "never" needs the whole run: 4 small runs, 200 epochs


@pytest.fixture(scope="module")
def lr_sweep():
    return _run("lr-sweep", epochs=30)


@pytest.fixture(scope="module")
def batchnorm_lr():
    return _run("batchnorm-lr", epochs=30)


def test_decay_sweep_strong_decays_never_reach_80_percent(decay_sweep) -> None:
    acc, crossed = decay_sweep
    assert crossed == {label: _first(a) for label, a in acc.items()}  # the table's column
    assert crossed["decay=0.1"] is None and crossed["decay=0.01"] is None
    assert crossed["decay=0.001"] is not None and crossed["decay=1e-4"] is not None
    assert max(acc["decay=0.1"]) < max(acc["decay=0.01"]) < max(acc["decay=0.001"])


def test_lr_sweep_0_1_is_first_to_80_percent_and_the_tiniest_rates_learn_nothing(lr_sweep) -> None:
    acc, crossed = lr_sweep
    assert crossed == {label: _first(a) for label, a in acc.items()}
    reached = {label: e for label, e in crossed.items() if e is not None}
    assert min(reached, key=reached.__getitem__) == "lr=0.1"
    assert crossed["lr=1"] is None  # too large: it jumps about below 80 %
    for label in ("lr=1e-6", "lr=1e-7"):  # flat at the starting accuracy
        assert crossed[label] is None and max(acc[label]) - min(acc[label]) <= 0.01


def test_batchnorm_reaches_80_percent_at_rates_where_the_plain_network_does_not(batchnorm_lr) -> None:
    acc, crossed = batchnorm_lr
    assert crossed == {label: _first(a) for label, a in acc.items()}
    for lr in ("1", "3"):
        assert crossed[f"plain lr={lr}"] is None
        assert crossed[f"batchnorm lr={lr}"] is not None and crossed[f"batchnorm lr={lr}"] <= 3
    assert crossed["batchnorm lr=0.01"] < crossed["plain lr=0.01"]


def test_a_one_seed_lesson_answers_without_verdicts() -> None:
    """seeds-matter at one seed is the adaptive-optimizers race: its answer gives each runner's
    epoch and says that one seed gives no verdict (the 20-seed verdicts: test_lesson_claims)."""
    from optiscope.engine.seeds import SeedPlan, lesson_answer

    exp = get_preset("seeds-matter").with_overrides(epochs=30, seeds=1)
    plan = SeedPlan.of(exp)
    assert len(plan.runs) == 4
    bus = ev.EventBus()
    det = ObservationDetector(exp.classroom.observe)
    acc: dict[int, list[float]] = {i: [] for i in range(4)}

    def on_event(e: ev.Event) -> None:
        det.feed([e])
        if isinstance(e, ev.EpochEnd):
            acc[e.run].append(e.val_acc)

    bus.subscribe(on_event)
    execute(plan.runs, bus=bus)
    lines = lesson_answer(plan, {o.run: o for o in det.outcomes()}, exp.classroom.observe)
    assert lines[0] == "Epochs to val_acc ≥ 78 %:"
    for i, label in enumerate(plan.labels):
        assert lines[1 + i] == f"{label}: {_first(acc[i], 0.78)} epochs"
    assert lines[-1].startswith("one seed: any difference may be the draw") and len(lines) == 6
