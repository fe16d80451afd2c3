"""Benchmark: the lr-sweep preset (8 runs) batched vs one run after another vs peers.

The sweep (reading list, study 4): blobs (make_blobs 1000 points, 3 centers, std 2,
random_state 2; first 500 train, last 500 test), MLP 2-50(relu)-3, SGD, batch 32,
200 epochs, learning rates 1, 1e-1 ... 1e-7, train and test loss + accuracy after every
epoch.

Timed in one process, one thread (torch and BLAS); each contender is warmed up first,
then timed ``--repeats`` times (the slow sequential contenders ``--slow-repeats``
times); medians are reported, with the process CPU time next to the wall time (the
machine may be shared: CPU time is the steadier figure).

(a) optiscope batched: ``runner.execute`` on the preset's runs (one batched group; no
    subscribers, as the CLI's Step-free bus), per-epoch train+test evaluation included.
    Also shown: the same with a subscriber taking every event (a live GUI's load).
(b) optiscope sequential: ``runner.execute(batched=False)``, i.e. ``trainer.train`` x 8.
(c) torch DataLoader loop x 8: ``TensorDataset`` + ``DataLoader(shuffle=True)``,
    ``torch.optim.SGD``, per-epoch evaluation under ``no_grad``.
(d) scikit-learn ``MLPClassifier`` x 8 (solver sgd, same epochs, batch and LR, momentum
    0): plain ``fit`` (no per-epoch evaluation: it cannot), and a ``partial_fit`` loop with
    the same per-epoch train+test evaluation as (a).

Bar (issue 3): (a) <= 1.5 s, and (a) >= 5x faster than (d) -- checked against plain
``fit`` (the stricter peer: it does less work) and printed for the like-for-like loop.
Then the batched engine alone at K = 1, 8, 32, 128 runs (the eight rates repeated).

Run: ``.venv/bin/python bench/bench_sweep.py`` (``--epochs``, ``--repeats``,
``--slow-repeats``, ``--skip-slow`` to time only the batched engine and its scaling).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from optiscope.engine import events as ev  # noqa: E402
from optiscope.engine.config import RunConfig  # noqa: E402
from optiscope.engine.presets import get_preset  # noqa: E402
from optiscope.engine.runner import execute, plan_batches  # noqa: E402
from optiscope.engine.sweep import train_batched  # noqa: E402
from peers import blobs, dataloader_run, sklearn_mlp  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402

torch.set_num_threads(1)


def preset_runs(epochs: int) -> list[RunConfig]:
    return get_preset("lr-sweep").with_overrides(epochs=epochs).runs()


def run_batched(runs: list[RunConfig]) -> list[float]:
    res = execute(runs)
    assert all(len(r.epochs) == runs[0].training.epochs or r.reason == "diverged" for r in res)
    return [r.final.val_acc if r.final else float("nan") for r in res]


def run_batched_live(runs: list[RunConfig]) -> list[float]:
    bus = ev.EventBus()
    seen = [0]

    def count(_e: ev.Event) -> None:
        seen[0] += 1

    bus.subscribe(count)
    res = execute(runs, bus=bus)
    assert seen[0] > len(runs) * runs[0].training.epochs
    return [r.final.val_acc if r.final else float("nan") for r in res]


def run_sequential(runs: list[RunConfig]) -> list[float]:
    res = execute(runs, batched=False)
    return [r.final.val_acc if r.final else float("nan") for r in res]


def run_dataloader(runs: list[RunConfig]) -> list[float]:
    return [dataloader_run(cfg.optimizer.lr, cfg.training.epochs, seed=cfg.training.seed) for cfg in runs]


def run_sklearn_fit(runs: list[RunConfig]) -> list[float]:
    xtr, ytr, xte, yte = blobs()
    accs = []
    for cfg in runs:
        clf = sklearn_mlp(cfg.optimizer.lr, cfg.training.epochs, cfg.training.epochs)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # ConvergenceWarning; overflow at lr = 1
            clf.fit(xtr, ytr)
            accs.append(float(clf.score(xte, yte)))
    return accs


def run_sklearn_partial(runs: list[RunConfig]) -> list[float]:
    xtr, ytr, xte, yte = blobs()
    classes = np.arange(3)
    accs = []
    for cfg in runs:
        clf = sklearn_mlp(cfg.optimizer.lr, cfg.training.epochs, 1)
        acc = 0.0
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for _ in range(cfg.training.epochs):
                clf.partial_fit(xtr, ytr, classes=classes)
                for x, y in ((xtr, ytr), (xte, yte)):
                    p = clf.predict_proba(x)
                    _loss = log_loss(y, np.nan_to_num(p, nan=1 / 3), labels=classes)
                    acc = float((p.argmax(1) == y).mean())
        accs.append(acc)
    return accs


def measure(
    fn: Callable[[list[RunConfig]], list[float]], runs: list[RunConfig], repeats: int, warm: list[RunConfig]
) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeats`` timed calls after one warm-up call."""
    fn(warm)
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn(runs)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of the batched engine")
    ap.add_argument("--slow-repeats", type=int, default=1, help="timed repeats of the sequential contenders")
    ap.add_argument("--skip-slow", action="store_true", help="only the batched engine and its K scaling")
    args = ap.parse_args(argv)
    runs = preset_runs(args.epochs)
    warm = preset_runs(2)
    groups, alone = plan_batches(runs)
    assert groups == [list(range(len(runs)))] and not alone, "lr-sweep must be one batched group"
    print(
        f"lr-sweep: {len(runs)} runs x {args.epochs} epochs, batch 32, 16 updates/epoch, "
        f"train+test evaluated every epoch; torch {torch.__version__}, 1 thread"
    )
    rows: dict[str, tuple[float, float]] = {}
    contenders: list[tuple[str, Callable, int]] = [
        ("(a) optiscope batched (execute)", run_batched, args.repeats),
        ("(a') batched, every event to a subscriber", run_batched_live, args.repeats),
    ]
    if not args.skip_slow:
        contenders += [
            ("(b) optiscope sequential (train x 8)", run_sequential, args.slow_repeats),
            ("(c) torch DataLoader loop x 8 (+eval)", run_dataloader, args.slow_repeats),
            ("(d) sklearn MLPClassifier.fit x 8 (no eval)", run_sklearn_fit, args.slow_repeats),
            ("(d') sklearn partial_fit x 8 (+eval)", run_sklearn_partial, args.slow_repeats),
        ]
    for name, fn, reps in contenders:
        wall, cpu = measure(fn, runs, reps, warm)
        rows[name] = (wall, cpu)
        print(f"  {name:<46} wall {wall:7.3f} s   cpu {cpu:7.3f} s", flush=True)
    a_wall, a_cpu = rows["(a) optiscope batched (execute)"]
    ok = True
    if not args.skip_slow:
        print("ratios (peer / batched; wall, cpu):")
        for name, (wall, cpu) in rows.items():
            if not name.startswith("(a)"):
                print(f"  {name:<46} {wall / a_wall:6.1f}x  {cpu / a_cpu:6.1f}x")
        d_wall, d_cpu = rows["(d) sklearn MLPClassifier.fit x 8 (no eval)"]
        d2_wall, _ = rows["(d') sklearn partial_fit x 8 (+eval)"]
        ok_fast = d_wall / a_wall >= 5.0
        print(
            f"{'PASS' if ok_fast else 'FAIL'}: batched >= 5x faster than sklearn fit x 8 "
            f"({d_wall / a_wall:.1f}x wall, {d_cpu / a_cpu:.1f}x cpu; like for like with per-epoch "
            f"evaluation {d2_wall / a_wall:.1f}x)"
        )
        ok &= ok_fast
    if args.epochs == 200:
        ok_abs = a_wall <= 1.5
        print(
            f"{'PASS' if ok_abs else 'FAIL'}: batched lr-sweep <= 1.5 s ({a_wall:.3f} s wall, {a_cpu:.3f} s cpu)"
        )
        ok &= ok_abs
    print(f"batched engine (train_batched) at K runs, {args.epochs} epochs (rates cycled):")
    base = runs
    for k in (1, 8, 32, 128):
        ks = [base[i % len(base)].model_copy(update={"label": f"r{i}"}) for i in range(k)]
        reps = args.repeats if k <= 32 else max(1, args.repeats // 2)
        wall, cpu = measure(lambda rs: [0.0 for _ in train_batched(rs, keep_models=False)], ks, reps, ks[:1])
        print(
            f"  K = {k:>3}: wall {wall:7.3f} s   cpu {cpu:7.3f} s   ({wall / k * 1000:7.1f} ms per run)",
            flush=True,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
