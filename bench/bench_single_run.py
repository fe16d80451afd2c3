"""Benchmark: the studies' single run, Optiscope vs scikit-learn vs a plain PyTorch loop.

The run (reading list, study 4): blobs (make_blobs 1000 points, 3 centers, std 2,
random_state 2; first 500 train, last 500 test), MLP 2-50(relu)-3, SGD lr 0.01, momentum 0,
batch 32, 200 epochs, with train and test loss + accuracy evaluated after every epoch.

Timed in one process, one thread each (torch and BLAS), every contender warmed up once
and then run ``--repeats`` times; the median is reported.

- optiscope: ``optiscope.engine.trainer.train`` on the default RunConfig (which is exactly
  this run), per-epoch train+test evaluation included.
- sklearn fit: ``MLPClassifier.fit`` for 200 epochs (no per-epoch evaluation: it cannot).
- sklearn partial_fit+eval: one ``partial_fit`` per epoch, then train+test loss and accuracy
  from ``predict_proba``: the same work as the studies' run.
- torch DataLoader: ``TensorDataset`` + ``DataLoader(shuffle=True, batch_size=32)``,
  ``torch.optim.SGD``, per-epoch evaluation under ``no_grad``.

Bar (issue 2): Optiscope at least as fast as the plain PyTorch loop and within 2x of
scikit-learn (measured against the like-for-like partial_fit+eval loop; the ratio to the
plain ``fit`` is printed too).

Run: ``.venv/bin/python bench/bench_single_run.py`` (``--epochs``/``--repeats`` to shorten,
``--profile`` to print a cProfile of ``trainer.train``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from optiscope.engine.config import RunConfig, TrainingConfig  # noqa: E402
from optiscope.engine.trainer import train  # noqa: E402
from peers import blobs, dataloader_run, sklearn_mlp  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402

torch.set_num_threads(1)


def run_optiscope(epochs: int) -> float:
    cfg = RunConfig(training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu"))
    res = train(cfg, keep_model=False)
    assert res.reason == "completed" and len(res.epochs) == epochs, res.error
    return res.final.val_acc


def run_sklearn_fit(epochs: int) -> float:
    xtr, ytr, xte, yte = blobs()
    clf = sklearn_mlp(0.01, epochs, epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    assert clf.n_iter_ == epochs, clf.n_iter_
    return float(clf.score(xte, yte))


def run_sklearn_partial(epochs: int) -> float:
    xtr, ytr, xte, yte = blobs()
    clf = sklearn_mlp(0.01, epochs, 1)
    classes = np.arange(3)
    acc = 0.0
    for _ in range(epochs):
        clf.partial_fit(xtr, ytr, classes=classes)
        for x, y in ((xtr, ytr), (xte, yte)):
            p = clf.predict_proba(x)
            _loss = log_loss(y, p, labels=classes)
            acc = float((p.argmax(1) == y).mean())
    return acc


def run_torch_dataloader(epochs: int) -> float:
    return dataloader_run(0.01, epochs, seed=1)


CONTENDERS: dict[str, Callable[[int], float]] = {
    "optiscope trainer.train": run_optiscope,
    "sklearn MLPClassifier.fit (no per-epoch eval)": run_sklearn_fit,
    "sklearn partial_fit + per-epoch eval": run_sklearn_partial,
    "torch DataLoader loop + per-epoch eval": run_torch_dataloader,
}


def measure(fn: Callable[[int], float], epochs: int, repeats: int) -> tuple[float, float, list[float], float]:
    """Median wall time, median CPU time of this process, the wall times, final accuracy."""
    fn(epochs)  # warm-up: imports, allocator, first-call overheads
    walls, cpus, acc = [], [], 0.0
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        acc = fn(epochs)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), walls, acc


def profile(epochs: int) -> None:
    import cProfile
    import pstats

    run_optiscope(epochs)
    prof = cProfile.Profile()
    prof.enable()
    run_optiscope(epochs)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of trainer.train and exit")
    args = ap.parse_args()
    if args.profile:
        profile(args.epochs)
        return 0
    print(
        f"studies' single run: blobs MLP 2-50-3, SGD 0.01, batch 32, {args.epochs} epochs, "
        f"per-epoch train+test eval; median of {args.repeats} after one warm-up, 1 thread"
    )
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, fn in CONTENDERS.items():
        wall[name], cpu[name], walls, acc = measure(fn, args.epochs, args.repeats)
        runs = ", ".join(f"{t:.3f}" for t in walls)
        print(
            f"  {name:<46} wall {wall[name]:6.3f} s  cpu {cpu[name]:6.3f} s  "
            f"(wall runs: {runs}; final test acc {acc:.3f})"
        )
    names = list(CONTENDERS)
    ours, sk_fit, sk_partial, dl = (wall[n] for n in names)
    c_ours, c_sk_fit, c_sk_partial, c_dl = (cpu[n] for n in names)
    print("ratios, optiscope / peer (< 1: optiscope is faster)      wall    cpu")
    print(f"  vs torch DataLoader loop + eval                     {ours / dl:6.2f} {c_ours / c_dl:6.2f}")
    print(
        f"  vs sklearn partial_fit + eval (like for like)       {ours / sk_partial:6.2f} {c_ours / c_sk_partial:6.2f}"
    )
    print(
        f"  vs sklearn fit (evaluates nothing per epoch)        {ours / sk_fit:6.2f} {c_ours / c_sk_fit:6.2f}"
    )
    bar_dl = ours <= dl
    bar_sk = ours <= 2.0 * sk_partial
    print(f"{'PASS' if bar_dl else 'FAIL'}: at least as fast as the plain PyTorch DataLoader loop (wall)")
    print(
        f"{'PASS' if bar_sk else 'FAIL'}: within 2x of scikit-learn, like for like: partial_fit + per-epoch eval (wall)"
    )
    print(
        f"{'PASS' if ours <= 2.0 * sk_fit else 'FAIL'} (informative): within 2x of sklearn's plain fit, "
        "which evaluates nothing per epoch (wall)"
    )
    return 0 if (bar_dl and bar_sk) else 1


if __name__ == "__main__":
    raise SystemExit(main())
