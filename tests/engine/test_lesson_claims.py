"""Every lesson's claims, checked against the lesson's own run (issue 18.7).

Each bundled lesson text says what to look for, often with numbers (an epoch, a count, an
accuracy). Here each lesson is trained once, at its full length, batched as the window and
``optiscope run`` train it (one module-scoped run per lesson), and every claim of its text is
checked against those results: a number quoted in the text is read *from the text* and
compared with the run, so text and run cannot drift apart again. (effective-lr, l1-vs-l2,
plateau-patience's rule, random-vs-grid and the CLR lesson in the window have their own
tests: ``test_inside``, ``test_schedules``, ``test_search_cli``, ``tests/gui/test_lrfind_dialog``.)
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch
from optiscope.engine.loop import RunResult
from optiscope.engine.presets import get_preset
from optiscope.engine.runner import execute

torch.set_num_threads(1)

Lesson = tuple[str, dict[str, RunResult]]


@pytest.fixture(scope="module")
def lesson() -> Callable[[str], Lesson]:
    """``lesson(name)``: the preset's lesson text (whitespace folded) and its results by label,
    trained once per module."""
    cache: dict[str, Lesson] = {}

    def get(name: str) -> Lesson:
        if name not in cache:
            exp = get_preset(name)
            runs = exp.runs()
            results = execute(runs, log=lambda _m: None)
            cache[name] = (" ".join(exp.lesson.split()), {r.label: r for r in results})
        return cache[name]

    return get


def quoted(text: str, pattern: str) -> tuple[float, ...]:
    """The numbers ``pattern``'s groups find in ``text`` (the claim must be in the text)."""
    m = re.search(pattern, text)
    assert m, f"the lesson no longer says: {pattern}"
    return tuple(float(g) for g in m.groups())


def val_acc(r: RunResult) -> list[float]:
    return [e.val_acc for e in r.epochs]


def first_epoch(r: RunResult, value: float, metric: str = "val_acc") -> int | None:
    """The first epoch whose ``metric`` is at least ``value`` (the lessons' threshold marker)."""
    return next((e.epoch for e in r.epochs if getattr(e, metric) >= value), None)


def drops(r: RunResult, points: float) -> int:
    """How often validation accuracy falls by more than ``points`` from one epoch to the next."""
    acc = val_acc(r)
    return sum(b < a - points for a, b in zip(acc, acc[1:], strict=False))


def test_adaptive_optimizers(lesson):
    text, runs = lesson("adaptive-optimizers")
    sgd, rms, ada, adam = (runs[k] for k in ("SGD 0.01", "RMSprop 0.001", "Adagrad 0.01", "Adam 0.001"))
    within, *epochs = quoted(
        text,
        r"within the first (\d+) of the 200 epochs: RMSprop passes 78 % validation accuracy at epoch "
        r"(\d+), Adagrad at (\d+), Adam at (\d+) and plain SGD at (\d+)",
    )
    crossed = [first_epoch(r, 0.78) for r in (rms, ada, adam, sgd)]
    assert crossed == pytest.approx(epochs, abs=1)
    assert max(crossed) <= within
    low, high = quoted(text, r"all end between (\d+) % and (\d+) %")
    assert all(low / 100 <= r.final.val_acc <= high / 100 for r in runs.values())
    (sgd_drops,) = quoted(
        text,
        r"more than 3 points from one epoch to the next (\d+) times, each adaptive method's at most once",
    )
    assert drops(sgd, 0.03) == pytest.approx(sgd_drops, abs=2)
    assert all(drops(r, 0.03) <= 1 for r in (rms, ada, adam))
    # "Keras 3 lowered Adagrad's default to 0.001, which learns far slower on this problem"
    assert "Keras 3 lowered Adagrad's default to 0.001, which learns far slower" in text
    (cfg,) = [c for c in get_preset("adaptive-optimizers").runs() if c.label == "Adagrad 0.01"]
    (slow,) = execute([cfg.model_copy(update={"optimizer": cfg.optimizer.model_copy(update={"lr": 0.001})})])
    crossed_slow = first_epoch(slow, 0.78)
    assert crossed_slow is None or crossed_slow > 3 * first_epoch(ada, 0.78)
    assert slow.final.val_acc < ada.final.val_acc - 0.05


def test_momentum_sweep(lesson):
    text, runs = lesson("momentum-sweep")
    m0, m5, m9, m99 = (runs[f"momentum={m}"] for m in ("0", "0.5", "0.9", "0.99"))
    e9, e5, e0 = quoted(
        text,
        r"pass 78 % validation accuracy: (\d+) with momentum 0.9 and with 0.99, (\d+) with 0.5, (\d+) for plain SGD",
    )
    assert first_epoch(m9, 0.78) == pytest.approx(e9, abs=1)
    assert first_epoch(m99, 0.78) == pytest.approx(e9, abs=1)
    assert first_epoch(m5, 0.78) == pytest.approx(e5, abs=1)
    assert first_epoch(m0, 0.78) == pytest.approx(e0, abs=1)
    (n0,) = quoted(text, r"drops by more than 5 points (\d+) times")
    assert drops(m0, 0.05) == pytest.approx(n0, abs=2)
    assert "with momentum 0.9 only twice" in text and drops(m9, 0.05) == pytest.approx(2, abs=1)
    (n99,) = quoted(text, r"0.99 still dips now and then \((\d+) times\)")
    assert drops(m99, 0.05) == pytest.approx(n99, abs=2)
    assert drops(m9, 0.05) < drops(m99, 0.05) < drops(m0, 0.05)


def test_overfitting_cures(lesson):
    text, runs = lesson("overfitting-cures")
    base = runs["baseline"]
    last = base.final
    # fits the 40 points perfectly: 100 % training accuracy, training loss near zero
    assert last.train_acc == 1.0 and last.train_loss < 0.01
    (lowest,) = quoted(text, r"validation loss, lowest at epoch (\d+), climbs steadily")
    losses = [e.val_loss for e in base.epochs]
    i_min = min(range(len(losses)), key=losses.__getitem__)
    assert i_min + 1 == pytest.approx(lowest, abs=1)
    assert losses[-1] > 3 * losses[i_min]  # and climbs: at the end far above its low
    (base_loss,) = quoted(text, r"below the baseline's \((\d\.\d+)\)")
    assert last.val_loss == pytest.approx(base_loss, abs=0.01)
    cures = {k: r for k, r in runs.items() if k != "baseline"}
    assert all(r.final.val_loss < last.val_loss / 1.5 for r in cures.values())  # well below

    def gap_acc(r):
        return r.final.train_acc - r.final.val_acc

    def gap_loss(r):
        return r.final.val_loss - r.final.train_loss

    completed = {k: r for k, r in cures.items() if r.reason == "completed"}
    d_pts, b_pts = quoted(text, r"in accuracy, dropout \((\d+) points against the baseline's (\d+)\)")
    assert min(completed, key=lambda k: gap_acc(completed[k])) == "dropout 0.5"
    assert 100 * gap_acc(runs["dropout 0.5"]) == pytest.approx(d_pts, abs=0.6)
    assert 100 * gap_acc(base) == pytest.approx(b_pts, abs=0.6)
    j_loss, j_gap = quoted(
        text, r"in loss, jitter, .* \(validation loss (\d\.\d+), (\d\.\d+) above its training loss\)"
    )
    assert min(completed, key=lambda k: gap_loss(completed[k])) == "jitter 0.15"
    assert runs["jitter 0.15"].final.val_loss == pytest.approx(j_loss, abs=0.01)
    assert gap_loss(runs["jitter 0.15"]) == pytest.approx(j_gap, abs=0.01)


def test_blobs_sgd(lesson):
    text, runs = lesson("blobs-sgd")
    (r,) = runs.values()
    e78, e_low = quoted(
        text, r"passes 78 % at epoch (\d+), but the validation loss is still reaching new lows at epoch (\d+)"
    )
    assert first_epoch(r, 0.78) == pytest.approx(e78, abs=1)
    losses = [e.val_loss for e in r.epochs]
    assert losses.index(min(losses)) + 1 == pytest.approx(e_low, abs=1)
    (near,) = quoted(text, r"Test accuracy settles near (\d+) %")
    assert r.final.val_acc == pytest.approx(near / 100, abs=0.01)
    assert max(val_acc(r)) < 0.9  # no model gets them all right


def test_lr_sweep(lesson):
    text, runs = lesson("lr-sweep")
    assert "lr = 1 is too large: the loss and the accuracy jump about" in text
    big = runs["lr=1"]
    assert drops(big, 0.10) >= 10 and big.final.val_acc < 0.6  # jumps about, never settles
    assert "0.1, 0.01 and 0.001 learn, each more slowly than the one before" in text
    speeds = [first_epoch(runs[k], 0.78) for k in ("lr=0.1", "lr=0.01", "lr=0.001")]
    assert None not in speeds and speeds == sorted(speeds) and len(set(speeds)) == 3
    assert "0.1 does well within a few dozen epochs" in text and speeds[0] <= 36
    assert "1e-6 and 1e-7 learn nothing at all in 200 epochs" in text
    for k in ("lr=1e-6", "lr=1e-7"):
        acc = val_acc(runs[k])
        assert max(acc) - acc[0] <= 0.01, k  # flat at the starting accuracy
    (top,) = quoted(text, r"the best rate tops out near (\d+) % test accuracy")
    assert max(max(val_acc(r)) for r in runs.values()) == pytest.approx(top / 100, abs=0.01)


def test_decay_sweep(lesson):
    text, runs = lesson("decay-sweep")
    r = runs["decay=0.1"]
    # lr = 0.01 / (1 + decay * iteration), 16 updates per epoch: read the rate the run used
    spe = r.steps_per_epoch
    assert spe == 16 and "16 updates per epoch, 3200 in 200 epochs" in text
    after_1, after_10, end = quoted(
        text, r"below (0\.\d+) after the first epoch, below (0\.\d+) by epoch 10 and to about (\d\.\de-\d+)"
    )
    assert r.step_lr[spe] < after_1 and r.step_lr[10 * spe] < after_10
    assert r.final.lr == pytest.approx(end, rel=0.02)
    assert "that run learns poorly" in text
    (near,) = quoted(text, r"decay 1e-4 ends near (0\.\d+)")
    slow = runs["decay=1e-4"]
    assert slow.final.lr == pytest.approx(near, rel=0.02)
    # "behaves almost like no decay at all": the same net at a constant 0.01 (lr-sweep's run)
    _, sweep = lesson("lr-sweep")
    assert slow.final.val_acc == pytest.approx(sweep["lr=0.01"].final.val_acc, abs=0.03)
    a01, a4, a2, lr3, a3 = quoted(
        text,
        r"learns poorly \((\d+) % validation accuracy at the end\).* no decay at all \((\d+) %\)\. 1e-2 stops "
        r"in between \((\d+) %\), while 1e-3, whose rate still ends near (0\.\d+), does as well as 1e-4 \((\d+) %\)",
    )
    final = {k: 100 * runs[k].final.val_acc for k in runs}
    assert final["decay=0.1"] == pytest.approx(a01, abs=0.6)
    assert final["decay=1e-4"] == pytest.approx(a4, abs=0.6)
    assert final["decay=0.01"] == pytest.approx(a2, abs=0.6)
    assert final["decay=0.001"] == pytest.approx(a3, abs=0.6)
    assert runs["decay=0.001"].final.lr == pytest.approx(lr3, rel=0.02)
    assert final["decay=0.1"] < final["decay=0.01"] < min(final["decay=0.001"], final["decay=1e-4"])


def test_batchnorm_lr(lesson):
    text, runs = lesson("batchnorm-lr")
    assert "the plain network jumps about at 1 and never learns at 3" in text
    assert drops(runs["plain lr=1"], 0.10) >= 10
    assert max(val_acc(runs["plain lr=3"])) < 0.6
    assert "the batch-norm network reaches about 80 % within the first epoch or two at both" in text
    for k in ("batchnorm lr=1", "batchnorm lr=3"):
        assert max(val_acc(runs[k])[:2]) >= 0.78, k
    assert "at 3 (and later at 1) its accuracy still collapses for a while" in text
    assert min(val_acc(runs["batchnorm lr=3"])) < 0.6 and min(val_acc(runs["batchnorm lr=1"])[5:]) < 0.7
    assert "At 0.01 batch norm also learns faster than the plain network" in text
    assert first_epoch(runs["batchnorm lr=0.01"], 0.78) < first_epoch(runs["plain lr=0.01"], 0.78)


def test_optimizer_race(lesson):
    text, runs = lesson("optimizer-race")
    at90 = {k: first_epoch(r, 0.9) for k, r in runs.items()}
    assert None not in at90.values()
    assert "Plain SGD is the slowest" in text
    assert at90["SGD 0.01"] > max(v for k, v in at90.items() if k != "SGD 0.01")
    assert "momentum and Nesterov momentum build up speed" in text
    assert at90["Momentum 0.9"] < at90["SGD 0.01"] and at90["Nesterov 0.9"] < at90["SGD 0.01"]
    assert "Adagrad starts fast" in text
    assert val_acc(runs["Adagrad 0.01"])[0] >= max(val_acc(runs[k])[0] for k in ("SGD 0.01", "Momentum 0.9"))


def test_plateau_patience(lesson):
    text, runs = lesson("plateau-patience")

    def floor_epoch(r):
        return next((e.epoch for e in r.epochs if e.lr <= 1e-5 * (1 + 1e-9)), None)

    def lr_drops(r):
        lrs = [e.lr for e in r.epochs]
        return sum(b < a for a, b in zip(lrs, lrs[1:], strict=False))

    p2, p5, p10, p15 = (runs[f"patience={p}"] for p in (2, 5, 10, 15))
    (e2,) = quoted(text, r"1e-5 floor within about (\d+) epochs")
    assert floor_epoch(p2) == pytest.approx(e2, abs=2)
    assert "at about two-thirds training accuracy" in text and p2.final.train_acc == pytest.approx(
        2 / 3, abs=0.03
    )
    acc5, e5 = quoted(text, r"patience 5 gets to about (\d+) % and reaches the floor by epoch (\d+)")
    assert p5.final.train_acc == pytest.approx(acc5 / 100, abs=0.02) and floor_epoch(p5) <= e5
    assert "Patience 10 and 15 keep a useful rate for longer and do better" in text
    assert min(p10.final.val_acc, p15.final.val_acc) > max(p2.final.val_acc, p5.final.val_acc)
    assert "patience 15 drops the rate only once" in text and lr_drops(p15) == 1


def test_clr_vs_fixed(lesson):
    text, runs = lesson("clr-vs-fixed")
    fixed, clr = runs["fixed lr=0.01"], runs["CLR triangular"]
    e_clr, e_fixed = quoted(
        text, r"CLR passes 90 % validation accuracy at epoch (\d+), the fixed rate at epoch (\d+)"
    )
    assert (first_epoch(clr, 0.9), first_epoch(fixed, 0.9)) == (e_clr, e_fixed)
    level, since, n, reach = quoted(
        text,
        r"stays at (\d+\.\d) % from epoch (\d+) to the end \((\d+)\), a level CLR reaches at epoch (\d+)",
    )
    acc = val_acc(fixed)
    assert len(acc) == n and {round(100 * a, 1) for a in acc[int(since) - 1 :]} == {level}
    assert first_epoch(clr, acc[-1]) == reach  # the same number of correct examples
    (end,) = quoted(text, r"CLR ends at (\d+\.\d) %")
    assert round(100 * clr.final.val_acc, 1) == end


# ---------------------------------------------------------------------------------- seeds-matter
SEEDS_MATTER_EPOCHS = 65  # every one of the 80 runs has passed 78 % by then (checked below)
NAMES = {"RMSprop": "RMSprop 0.001", "Adagrad": "Adagrad 0.01", "Adam": "Adam 0.001", "SGD": "SGD 0.01"}


def _seeds_matter(epochs: int | None):
    """The seeds-matter lesson trained as the window and ``optiscope run`` train it (every runner
    x 20 seeds, batched): its text, its plan, each run's result and the detector's outcomes."""
    from optiscope.engine import events as ev
    from optiscope.engine.lessons import ObservationDetector
    from optiscope.engine.seeds import SeedPlan

    exp = get_preset("seeds-matter")
    if epochs is not None:
        exp = exp.with_overrides(epochs=epochs)
    plan = SeedPlan.of(exp)
    det = ObservationDetector(exp.classroom.observe)
    bus = ev.EventBus()
    bus.subscribe(lambda e: det.feed([e]))
    results = execute(plan.runs, bus=bus, log=lambda _m: None)
    return " ".join(exp.lesson.split()), exp, plan, results, {o.run: o for o in det.outcomes()}


@pytest.fixture(scope="module")
def seeds_matter():
    return _seeds_matter(SEEDS_MATTER_EPOCHS)


def _t_interval(values) -> tuple[float, float]:
    """Mean and half width of the 95 % Student t interval (scipy.stats)."""
    import numpy as np
    import scipy.stats

    x = np.asarray(values, dtype=float)
    lo, hi = scipy.stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    return float(x.mean()), float(hi - lo) / 2


def test_seeds_matter(seeds_matter):
    """Which one-seed conclusions survive 20 seeds: every number of the text, from the runs'
    own validation accuracy and scipy's t intervals, and the engine's answer agreeing."""
    import scipy.stats
    from optiscope.engine.seeds import lesson_answer

    text, exp, plan, results, outcomes = seeds_matter
    assert exp.seeds == 20 and plan.n_seeds == 20 and len(results) == 80
    # seed 1 (the first of each runner) is the adaptive-optimizers race, run for run
    ada = get_preset("adaptive-optimizers")
    same = ada.with_overrides(epochs=exp.base.training.epochs).runs()
    assert [c.model_dump() for c in same] == [c.model_dump() for c in exp.runs()]
    assert [c.training.seed for c in plan.runs[:20]] == list(range(1, 21))
    epochs = {  # epochs to 78 %, seed by seed, read from val_acc (not from the detector)
        label: [first_epoch(results[r], 0.78) for r in plan.members(i)] for i, label in enumerate(plan.labels)
    }
    assert all(e is not None for v in epochs.values() for e in v), "a seed never passed 78 %: run longer"
    # the one-seed race's numbers, quoted from both lessons, are seed 1's
    race = r"RMSprop passes 78 % validation accuracy at epoch (\d+),? Adagrad at (\d+), Adam at (\d+) and (?:plain )?SGD at (\d+)"
    one = quoted(text, race)
    assert one == quoted(" ".join(ada.lesson.split()), race)
    assert list(one) == [epochs[NAMES[k]][0] for k in ("RMSprop", "Adagrad", "Adam", "SGD")]
    # each runner's mean and interval over the 20 seeds
    got = quoted(
        text,
        r"RMSprop needs (\d+\.\d) ± (\d+\.\d) epochs to pass 78 %, Adagrad (\d+\.\d) ± (\d+\.\d), "
        r"Adam (\d+\.\d) ± (\d+\.\d) and SGD (\d+\.\d) ± (\d+\.\d)",
    )
    for k, (mean, half) in zip(
        ("RMSprop", "Adagrad", "Adam", "SGD"), zip(got[::2], got[1::2], strict=True), strict=True
    ):
        m, h = _t_interval(epochs[NAMES[k]])
        assert (mean, half) == pytest.approx((m, h), abs=0.051), k
    # RMSprop's lead survives: the paired interval excludes zero (scipy's paired t-test agrees)
    leads = quoted(
        text,
        r"faster than SGD by (\d+\.\d) ± (\d+\.\d) epochs, than Adagrad by (\d+\.\d) ± (\d+\.\d) "
        r"and than Adam by (\d+\.\d) ± (\d+\.\d)",
    )
    answer = lesson_answer(plan, outcomes, exp.classroom.observe)
    rms = epochs[NAMES["RMSprop"]]
    for k, (mean, half) in zip(
        ("SGD", "Adagrad", "Adam"), zip(leads[::2], leads[1::2], strict=True), strict=True
    ):
        other = epochs[NAMES[k]]
        m, h = _t_interval([b - a for a, b in zip(rms, other, strict=True)])
        assert (mean, half) == pytest.approx((m, h), abs=0.051), k
        assert m - h > 0 and scipy.stats.ttest_rel(rms, other).pvalue < 0.05
        said = [line for line in answer if line.startswith(f"RMSprop 0.001 faster than {NAMES[k]} by ")]
        assert (
            len(said) == 1 and said[0] == f"RMSprop 0.001 faster than {NAMES[k]} by {m:.1f} ± {h:.1f} epochs"
        )
    # the rest of the order does not survive: those intervals contain zero
    assert "Adagrad vs Adam, Adagrad vs SGD and Adam vs SGD show no clear difference with 20 seeds" in text
    for a, b in (("Adagrad", "Adam"), ("Adagrad", "SGD"), ("Adam", "SGD")):
        m, h = _t_interval([x - y for x, y in zip(epochs[NAMES[a]], epochs[NAMES[b]], strict=True)])
        assert m - h <= 0 <= m + h, (a, b)
        assert scipy.stats.ttest_rel(epochs[NAMES[a]], epochs[NAMES[b]]).pvalue >= 0.05
        first, second = sorted((NAMES[a], NAMES[b]), key=plan.labels.index)
        assert f"{first} vs {second}: no clear difference with 20 seeds — try more" in answer
    low, high = quoted(text, r"lucky draw for RMSprop \(\d+ epochs; its seeds range from (\d+) to (\d+)\)")
    assert (min(rms), max(rms)) == (low, high) and rms[0] == low


@pytest.mark.slow
def test_seeds_matter_final_accuracy():
    """The last paragraph: final validation accuracy over the seeds, at the lesson's full 200 epochs."""
    text, _exp, plan, results, _ = _seeds_matter(None)
    got = quoted(
        text,
        r"SGD's final validation accuracy is the least certain: (\d+\.\d) ± (\d+\.\d) % over the seeds, "
        r"against (\d+\.\d) ± (\d+\.\d) % for RMSprop, (\d+\.\d) ± (\d+\.\d) % for Adagrad and "
        r"(\d+\.\d) ± (\d+\.\d) % for Adam",
    )
    halves = {}
    for k, (mean, half) in zip(
        ("SGD", "RMSprop", "Adagrad", "Adam"), zip(got[::2], got[1::2], strict=True), strict=True
    ):
        i = plan.labels.index(NAMES[k])
        m, h = _t_interval([100 * results[r].final.val_acc for r in plan.members(i)])
        assert (mean, half) == pytest.approx((m, h), abs=0.051), k
        halves[k] = h
    assert halves["SGD"] > 2 * max(halves["RMSprop"], halves["Adagrad"], halves["Adam"])


def test_warmup_cosine_vs_wsd(lesson):
    text, runs = lesson("warmup-cosine-vs-wsd")
    cos, wsd, const = runs["warm-up + cosine"], runs["WSD (decay last 20 %)"], runs["constant"]
    (same,) = quoted(text, r"the same run for the first (\d+) epochs")
    n = int(same)
    assert [e.train_loss for e in wsd.epochs[:n]] == pytest.approx([e.train_loss for e in const.epochs[:n]])
    assert wsd.epochs[n].train_loss < const.epochs[n].train_loss  # and then they part
    last, start, end, floor = quoted(
        text,
        r"over its last (\d+) epochs WSD's training loss falls from (\d\.\d+) to (\d\.\d+), while the "
        r"constant run's stays above (\d\.\d+)",
    )
    assert n + last == len(wsd.epochs)
    assert wsd.epochs[n - 1].train_loss == pytest.approx(start, abs=0.002)
    assert wsd.final.train_loss == pytest.approx(end, abs=0.001)
    assert all(e.train_loss > floor for e in const.epochs[n:])
    a_wsd, a_cos = quoted(text, r"level with cosine \((\d+\.\d) % and (\d+\.\d) %")
    assert 100 * wsd.final.val_acc == pytest.approx(a_wsd, abs=0.1)
    assert 100 * cos.final.val_acc == pytest.approx(a_cos, abs=0.1)
    epoch, l_cos, l_wsd = quoted(
        text,
        r"At epoch (\d+) cosine has already lowered its rate and its validation loss is (\d\.\d+) "
        r"against WSD's (\d\.\d+)",
    )
    assert cos.epochs[int(epoch) - 1].val_loss == pytest.approx(l_cos, abs=0.001)
    assert wsd.epochs[int(epoch) - 1].val_loss == pytest.approx(l_wsd, abs=0.001)


def test_muon_vs_adamw(lesson):
    text, runs = lesson("muon-vs-adamw")
    aw1, aw3, mu3, mu10 = (runs[k] for k in ("AdamW 0.001", "AdamW 0.003", "Muon 0.003", "Muon 0.01"))
    e_aw, e_mu3, e_mu10 = quoted(
        text, r"AdamW 0.003 passes it at epoch (\d+), Muon 0.003 at epoch (\d+) and Muon 0.01 at epoch (\d+)"
    )
    assert [first_epoch(r, 0.97) for r in (aw3, mu3, mu10)] == [e_aw, e_mu3, e_mu10]
    assert "AdamW 0.001 never does" in text and first_epoch(aw1, 0.97) is None
    assert "Muon reaches the target no sooner" in text and min(e_mu3, e_mu10) >= e_aw
    t_mu, t_aw = quoted(text, r"training loss of (\d\.\d+) against AdamW 0.003's (\d\.\d+)")
    assert mu3.final.train_loss == pytest.approx(t_mu, abs=0.001)
    assert aw3.final.train_loss == pytest.approx(t_aw, abs=0.001)
    v_mu, v_aw = quoted(text, r"validation loss of (\d\.\d+) against (\d\.\d+)")
    assert mu3.final.val_loss == pytest.approx(v_mu, abs=0.001)
    assert aw3.final.val_loss == pytest.approx(v_aw, abs=0.001)
    assert mu10.final.val_acc < mu3.final.val_acc
    # the Muon runs train alone (torch.optim.Muon + AdamW), and the output says why
    from optiscope.engine.runner import plan_batches

    assert "so the Muon runs train alone here" in text
    groups, alone = plan_batches(get_preset("muon-vs-adamw").runs())
    assert groups == [[0, 1]] and sorted(alone) == [2, 3]
    assert all("Muon's bfloat16 Newton–Schulz step" in alone[i] for i in (2, 3))
    # Muon 0.01's end alone (as the lesson trains it) and batched with the other Muon run
    (a10,) = quoted(text, r"Muon 0.01 ends at a validation loss of (\d\.\d+)")
    assert mu10.final.val_loss == pytest.approx(a10, abs=0.001)
    (b10,) = quoted(text, r"the batched computation's rounding puts it elsewhere: (\d\.\d+)")
    muons = [c for c in get_preset("muon-vs-adamw").runs() if c.optimizer.kind == "muon"]
    asked = [
        c.model_copy(update={"optimizer": c.optimizer.model_copy(update={"batched": True})}) for c in muons
    ]
    log: list[str] = []
    batched3, batched10 = execute(asked, log=log.append)
    assert "runs 0, 1 batched together" in log and [c.label for c in asked] == ["Muon 0.003", "Muon 0.01"]
    assert batched10.final.val_loss == pytest.approx(b10, abs=0.001)
    assert abs(batched10.final.val_loss - mu10.final.val_loss) > 0.01
    assert "At 0.003 the two agree within 0.001" in text
    assert abs(batched3.final.val_loss - mu3.final.val_loss) < 0.001
    # the search the text describes: the rate each optimizer left out ends below both kept ones
    (cfg_aw,) = [c for c in get_preset("muon-vs-adamw").runs() if c.label == "AdamW 0.003"]
    (cfg_mu,) = [c for c in get_preset("muon-vs-adamw").runs() if c.label == "Muon 0.003"]
    dropped = execute(
        [
            c.model_copy(
                update={
                    "label": f"{c.optimizer.kind} {lr}",
                    "optimizer": c.optimizer.model_copy(update={"lr": lr}),
                }
            )
            for c, lr in ((cfg_aw, 0.01), (cfg_mu, 0.001))
        ],
        log=lambda _m: None,
    )
    assert dropped[0].final.val_acc < min(aw1.final.val_acc, aw3.final.val_acc)
    assert dropped[1].final.val_acc < min(mu3.final.val_acc, mu10.final.val_acc)


def test_schedule_free_vs_tuned(lesson):
    text, runs = lesson("schedule-free-vs-tuned")
    sf, sf10 = runs["Schedule-Free (default 0.0025)"], runs["Schedule-Free 0.01"]
    c1, c3, c10 = runs["cosine 0.001"], runs["cosine 0.003"], runs["cosine 0.01"]
    sf_loss, c3_loss = quoted(
        text, r"level with cosine at 0.003 \(validation loss (\d\.\d+) against (\d\.\d+)\)"
    )
    assert sf.final.val_loss == pytest.approx(sf_loss, abs=0.001)
    assert c3.final.val_loss == pytest.approx(c3_loss, abs=0.001)
    (c1_loss,) = quoted(text, r"far ahead of cosine at 0.001 \((\d\.\d+)\)")
    assert c1.final.val_loss == pytest.approx(c1_loss, abs=0.001)
    c10_loss, c10_acc = quoted(text, r"cosine at 0.01 \((\d\.\d+), (\d+\.\d) % validation accuracy\)")
    assert c10.final.val_loss == pytest.approx(c10_loss, abs=0.001)
    assert 100 * c10.final.val_acc == pytest.approx(c10_acc, abs=0.1)
    assert min(r.final.val_loss for r in (c1, c3, c10)) == c10.final.val_loss  # the best of the grid
    assert sf.final.val_loss > c10.final.val_loss
    sf10_loss, sf10_acc = quoted(text, r"at 0.01 it ends at (\d\.\d+) and (\d+\.\d) %")
    assert sf10.final.val_loss == pytest.approx(sf10_loss, abs=0.001)
    assert 100 * sf10.final.val_acc == pytest.approx(sf10_acc, abs=0.1)
    assert sf10.final.val_loss < c10.final.val_loss and sf10.final.val_acc > c10.final.val_acc
    (epochs,) = quoted(text, r"validation loss falls at every one of the (\d+) epochs")
    for r in (sf, sf10):
        losses = [e.val_loss for e in r.epochs]
        assert len(losses) == epochs and all(b < a for a, b in zip(losses, losses[1:], strict=False))


def test_prodigy_no_lr(lesson):
    from optiscope.engine.lrfind import lr_find
    from optiscope.engine.optimizers.prodigy import ProdigyPart
    from optiscope.engine.trainer import prepare, train

    text, runs = lesson("prodigy-no-lr")
    sets = ("blobs", "moons", "digits")
    accs = quoted(
        text,
        r"(\d+\.\d) % against (\d+\.\d) % on blobs, (\d+\.\d) % against (\d+\.\d) % on moons and "
        r"(\d+\.\d) % against (\d+\.\d) % on digits",
    )
    assert "Prodigy ends ahead on two and level on the third" in text
    for i, name in enumerate(sets):
        prodigy, adam = runs[f"Prodigy, {name}"], runs[f"Adam 0.001, {name}"]
        assert 100 * prodigy.final.val_acc == pytest.approx(accs[2 * i], abs=0.1)
        assert 100 * adam.final.val_acc == pytest.approx(accs[2 * i + 1], abs=0.1)
        if name == "digits":  # "level on the third"
            assert prodigy.final.val_acc == adam.final.val_acc
        else:  # "ahead on two"
            assert prodigy.final.val_acc > adam.final.val_acc
    ds = quoted(text, r"d settles at (\d\.\d+) on blobs, (\d\.\d+) on moons and (\d\.\d+) on digits")
    valleys = quoted(text, r"valley suggestion: (\d\.\d+), (\d\.\d+) and (\d\.\d+)")
    (factor,) = quoted(text, r"within a factor of (\d+) of where the LR range test")
    cfgs = {c.label: c for c in get_preset("prodigy-no-lr").runs()}
    for name, d_text, v_text in zip(sets, ds, valleys, strict=True):
        p = prepare(cfgs[f"Prodigy, {name}"])
        alone = train(cfgs[f"Prodigy, {name}"], prepared=p)
        if name == "digits":  # the run after its jump, trained alone
            (alone_acc, batched_acc) = quoted(text, r"ends at (\d+\.\d) %, not (\d+\.\d) %")
            assert 100 * alone.final.val_acc == pytest.approx(alone_acc, abs=0.1)
            assert batched_acc == accs[4]
        else:  # smooth runs: the same alone and batched
            assert alone.final.val_acc == runs[f"Prodigy, {name}"].final.val_acc
        d = ProdigyPart.step_size(p.optimizer)
        assert d == pytest.approx(d_text, rel=0.05), name
        assert 10 <= d / 1e-3 <= 30  # "ten to thirty times Adam's default"
        valley = lr_find(cfgs[f"Adam 0.001, {name}"]).suggestions["valley"]
        assert valley == pytest.approx(v_text, rel=0.05), name
        assert 1 / factor <= d / valley <= factor, name
    digits = [e.val_loss for e in runs["Prodigy, digits"].epochs]
    (jump,) = quoted(text, r"on digits its validation loss jumps once, at epoch (\d+)")
    jumps = [i + 2 for i, (a, b) in enumerate(zip(digits, digits[1:], strict=False)) if b > 3 * a]
    assert jumps == [jump]
