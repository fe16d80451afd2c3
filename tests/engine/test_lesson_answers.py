"""Each bundled lesson's question has the answer its text and observations claim, on the
lesson's own runs (fewer epochs where the claim is already decided by then).

The crossings are read from the runs' own validation accuracy, epoch by epoch, and compared
with what the lesson's observation detector reports (the results table's column)."""

from __future__ import annotations

import pytest
import torch
from optiscope.engine import events as ev
from optiscope.engine.lessons import ObservationDetector
from optiscope.engine.presets import get_preset
from optiscope.engine.runner import execute

torch.set_num_threads(1)  # as test_lesson_claims: small nets, a shared machine


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


# ---------------------------------------------------------------- the other race lessons
def _train(name: str, epochs: int | None = None, keep_models: bool = False):
    """Train lesson ``name`` with its observation detector listening: per run label, the
    validation accuracy and loss per epoch, every LayerStats event, each epoch's seconds,
    the detector's outcome, and the engine's results."""
    exp = get_preset(name)
    if epochs is not None:
        exp = exp.with_overrides(epochs=epochs)
    assert exp.classroom is not None and exp.classroom.question.endswith("?") and exp.classroom.observe
    runs = exp.runs()
    bus = ev.EventBus()
    det = ObservationDetector(exp.classroom.observe)
    seen: dict[int, dict[str, list]] = {
        i: {"acc": [], "loss": [], "stats": [], "seconds": []} for i in range(len(runs))
    }

    def on_event(e: ev.Event) -> None:
        det.feed([e])
        if isinstance(e, ev.EpochEnd):
            seen[e.run]["acc"].append(e.val_acc)
            seen[e.run]["loss"].append(e.val_loss)
            seen[e.run]["seconds"].append(e.seconds)
        elif isinstance(e, ev.LayerStats):
            seen[e.run]["stats"].append(e)

    bus.subscribe(on_event)
    results = execute(runs, bus=bus, keep_models=keep_models)
    outcomes = {o.label: o for o in det.outcomes()}
    by_label = {r.label: seen[i] for i, r in enumerate(runs)}
    return exp, by_label, outcomes, {r.label: res for r, res in zip(runs, results, strict=True)}


def _threshold(exp, o) -> int | None:
    """The epoch the detector saw the lesson's (first) threshold crossed."""
    det = ObservationDetector(exp.classroom.observe)
    (index, _obs), *_ = det.thresholds()
    return o.thresholds[index]


# (the lesson texts' other claims, at full length: test_lesson_claims)
def test_blobs_sgd_table_answers_epoch_26_for_78_percent() -> None:
    exp, seen, outcomes, _ = _train("blobs-sgd", epochs=30)
    (o,) = outcomes.values()
    (run,) = seen.values()
    assert _threshold(exp, o) == _first(run["acc"], 0.78) == 26  # the lesson text's epoch
    assert o.best_val_acc == max(run["acc"])


def test_clr_vs_fixed_table_answers_epoch_2_for_clr_and_8_for_the_fixed_rate() -> None:
    exp, seen, outcomes, _ = _train("clr-vs-fixed", epochs=10)
    fixed, clr = outcomes["fixed lr=0.01"], outcomes["CLR triangular"]
    for label, o in outcomes.items():
        assert _threshold(exp, o) == _first(seen[label]["acc"], 0.9)
    assert (_threshold(exp, clr), _threshold(exp, fixed)) == (2, 8)


def test_effective_lr_only_adagrads_rate_only_falls_and_rmsprop_passes_80_percent_first() -> None:
    exp, seen, outcomes, _ = _train("effective-lr")
    (elr,) = [obs for obs in exp.classroom.observe if obs.kind == "effective_lr"]
    for label, o in outcomes.items():
        assert _threshold(exp, o) == _first(seen[label]["acc"])
        medians = [float(e.effective_lr[0, 1]) for e in seen[label]["stats"]]  # layer 1's median
        assert len(medians) > 10
        # the column reads the first and last median of layer 1
        assert elr.cell_value(o) == pytest.approx(medians[-1] / medians[0])
        assert elr.cell_text(o) == f"{medians[0]:.2g} → {medians[-1]:.2g}"
        # Adagrad's accumulator only grows (a sum of squares), so its rate never rises;
        # RMSprop and Adam forget, and theirs rise again somewhere in the run
        rises = any(b > a * (1 + 1e-9) for a, b in zip(medians, medians[1:], strict=False))
        assert rises == (not label.startswith("Adagrad")), label
    assert elr.cell_value(outcomes["Adagrad 0.01"]) < 0.5
    # the numbers the lesson text quotes
    texts = {label: elr.cell_text(o) for label, o in outcomes.items()}
    assert texts["Adagrad 0.01"] == "0.05 → 0.013" and texts["Adam 0.001"] == "0.027 → 0.052"
    first, last = (float(v) for v in texts["RMSprop 0.001"].split(" → "))
    assert abs(last / first - 1) < 0.1  # "ends where it began"
    assert {label: _threshold(exp, o) for label, o in outcomes.items()} == {
        "Adagrad 0.01": 16,
        "RMSprop 0.001": 14,
        "Adam 0.001": 28,
    }
    reached = {label: _threshold(exp, o) for label, o in outcomes.items()}
    assert min(reached, key=lambda k: reached[k] or 10**9) == "RMSprop 0.001"


def test_l1_zeroes_most_of_the_middle_layer_at_no_cost_in_accuracy() -> None:
    import torch

    exp, seen, outcomes, results = _train("l1-vs-l2", keep_models=True)
    (zero,) = [obs for obs in exp.classroom.observe if obs.kind == "zero_weights"]
    for label, res in results.items():
        # the share counted on the trained model's own weight matrices (Linear layers)
        weights = [m.weight for m in res.model.modules() if isinstance(m, torch.nn.Linear)]
        counted = [float((w == 0).float().mean()) for w in weights]
        o = outcomes[label]
        assert list(o.zero_fraction.values()) == pytest.approx(counted, abs=1e-6), label
        assert zero.cell_value(o) == pytest.approx(max(counted)), label
    assert zero.cell_value(outcomes["no penalty"]) == 0 and zero.cell_value(outcomes["L2 1e-3"]) == 0
    assert zero.cell_value(outcomes["L1 3e-3"]) > 0.5  # "the middle layer climbs past half"
    assert zero.cell_text(outcomes["L1 3e-3"]).endswith("(dense 2)")
    best = {label: max(s["acc"]) for label, s in seen.items()}
    assert abs(best["L1 3e-3"] - best["no penalty"]) <= 0.01  # "the accuracy barely moves"


def test_mixed_precision_table_reads_seconds_per_epoch_and_the_ratio_of_the_two_runs() -> None:
    exp, seen, outcomes, _ = _train("mixed-precision", epochs=3)
    (speed,) = [obs for obs in exp.classroom.observe if obs.kind == "speed"]
    plain, mixed = outcomes["float32"], outcomes["mixed precision (bfloat16)"]
    mean = {label: sum(s["seconds"]) / len(s["seconds"]) for label, s in seen.items()}
    assert speed.cell_value(plain) == pytest.approx(mean["float32"])
    assert speed.cell_value(mixed) == pytest.approx(mean["mixed precision (bfloat16)"])
    ratio = mean["mixed precision (bfloat16)"] / mean["float32"]
    assert mixed.speed_ratio == pytest.approx(ratio)
    assert speed.cell_text(mixed) == f"{mean['mixed precision (bfloat16)']:.3g} s ({ratio:.2f} ×)"
    assert speed.cell_text(plain) == f"{mean['float32']:.3g} s"


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
