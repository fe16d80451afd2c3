"""Benchmark: the lr-sweep with 16 seeds per runner (8 x 16 = 128 runs) batched vs scikit-learn x 128.

The runs are the lr-sweep preset's eight runners (blobs, MLP 2-50(relu)-3, SGD at 1 ... 1e-7,
batch 32, 200 epochs, train and test evaluated every epoch), each trained with seeds
s0 ... s0 + 15 (s0 = the runner's seed): run (i, j) is runner i with ``training.seed = s0 + j``,
so the 16 seeds are shared seed for seed across the runners (16 initialisations, 16 minibatch
orders, each used by 8 runs). All 128 go through ``runner.execute`` as one batched group.

The peer is scikit-learn's ``MLPClassifier.fit`` with the same layer, rate, batch and
epochs, fitted 128 times (``random_state`` = the run's seed): plain ``fit``, which evaluates
nothing per epoch (the stricter peer: it does less work than Optiscope).

The machine may be shared, so the two are measured in the same window: the 128 fits are
split into ``--repeats`` chunks, and one timed batched run precedes each chunk (after a
warm-up). The batched figure is the median of those runs; the peer's is the sum of its
chunks (every one of the 128 fits timed once). Wall and process CPU time are both printed.

Bars (issue 20): batched 128 runs <= 1.5 s, and >= 10x faster than ``fit`` x 128.

Run: ``.venv/bin/python bench/bench_seeds.py`` (``--epochs``, ``--seeds``, ``--repeats``,
``--skip-peer`` to time only the batched engine, ``--profile`` for a cProfile of one
batched run, ``--phases`` for where one batched run's time goes: the updates' forward and
backward, the optimizer step, the epoch evaluations, the Inside statistics and the loop's
own bookkeeping, each timed around the kernel's calls; ``--floor`` for the kernel's own work
with no loop around it, and the batched products within it: what faster ops, not less
bookkeeping, would have to beat).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from optiscope.engine.config import RunConfig  # noqa: E402
from optiscope.engine.presets import get_preset  # noqa: E402
from optiscope.engine.runner import execute, plan_batches  # noqa: E402
from peers import blobs, sklearn_mlp  # noqa: E402

torch.set_num_threads(1)


def seeded_runs(epochs: int, seeds: int) -> list[RunConfig]:
    """Every lr-sweep runner once per seed, runner by runner: run ``i * seeds + j`` is runner
    ``i`` with ``training.seed = s0 + j``."""
    out = []
    for cfg in get_preset("lr-sweep").with_overrides(epochs=epochs).runs():
        s0 = cfg.training.seed
        for j in range(seeds):
            training = cfg.training.model_copy(update={"seed": s0 + j})
            out.append(cfg.model_copy(update={"training": training, "label": f"{cfg.label} seed {s0 + j}"}))
    return out


def run_batched(runs: list[RunConfig]) -> float:
    """Wall seconds of one ``execute`` of ``runs`` (one batched group)."""
    t0 = time.perf_counter()
    res = execute(runs)
    wall = time.perf_counter() - t0
    assert all(len(r.epochs) == runs[0].training.epochs or r.reason == "diverged" for r in res)
    return wall


def fit_sklearn(runs: list[RunConfig], data: tuple[np.ndarray, ...]) -> None:
    """``MLPClassifier.fit`` once per run: its rate, epochs and seed."""
    xtr, ytr, _, _ = data
    for cfg in runs:
        clf = sklearn_mlp(cfg.optimizer.lr, cfg.training.epochs, cfg.training.epochs)
        clf.set_params(random_state=cfg.training.seed)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # ConvergenceWarning; overflow at lr = 1
            clf.fit(xtr, ytr)


def phases(runs: list[RunConfig]) -> dict[str, float]:
    """Seconds of one ``execute`` of ``runs`` spent in each part of the batched kernel (timers
    around its methods; the rest of the run is the loop's own bookkeeping: rules, events)."""
    from optiscope.engine import kernels, loop

    spent: dict[str, float] = {}
    patched = []

    def timed(owner: type, name: str, label: str) -> None:
        method = getattr(owner, name)
        patched.append((owner, name, method))

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, wrapper)

    timed(kernels.BatchedNet, "train_step", "updates: forward + backward")
    timed(kernels.BatchedKernel, "step", "updates: all of kernel.step")
    timed(kernels.BatchedKernel, "begin_epoch", "epoch shuffles (begin_epoch)")
    timed(kernels.BatchedKernel, "epoch_metrics", "evaluations (train + test, every epoch)")
    timed(kernels.BatchedKernel, "layer_stats", "Inside statistics (LayerStats)")
    timed(loop._Loop, "_update", "loop: per update, all")
    timed(loop._Loop, "_end_epoch", "loop: per epoch end, all")
    try:
        t0 = time.perf_counter()
        execute(runs)
        total = time.perf_counter() - t0
    finally:
        for owner, name, method in patched:
            setattr(owner, name, method)
    step = spent.get("updates: all of kernel.step", 0.0)
    fb = spent.get("updates: forward + backward", 0.0)
    out = {
        "total": total,
        "updates: forward + backward": fb,
        "updates: optimizer step and the rest of kernel.step": step - fb,
        "evaluations (train + test, every epoch)": spent.get("evaluations (train + test, every epoch)", 0.0),
        "Inside statistics (LayerStats)": spent.get("Inside statistics (LayerStats)", 0.0),
        "epoch shuffles (begin_epoch)": spent.get("epoch shuffles (begin_epoch)", 0.0),
    }
    out["loop bookkeeping (rules, events, histories)"] = total - sum(
        v for k, v in out.items() if k != "total"
    )
    return out


def floor(runs: list[RunConfig], repeats: int = 3) -> dict[str, float]:
    """The kernel's own work for these runs with no loop around it: every update's
    ``BatchedKernel.step`` (forward, backward, optimizer) on the epoch's minibatches and every
    epoch's ``epoch_metrics`` (train + test), timed on the kernel a real ``execute`` built (its
    tensors, rows and optimizers), and within them the batched products alone (``bmm`` /
    ``baddbmm`` at the update's and the evaluation's shapes). Best of ``repeats``. This is what
    no trimming of the loop's bookkeeping can remove: the bar needs faster ops themselves."""
    from optiscope.engine import kernels

    built: list = []
    original = kernels.BatchedKernel.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self)

    kernels.BatchedKernel.__init__ = keep
    try:
        execute(runs)
    finally:
        kernels.BatchedKernel.__init__ = original
    kernel = built[-1]
    kernel.alive = [True] * kernel.K  # every row live again, as during the run (finished rows are skipped)
    kernel.mask.fill_(1.0)
    epochs, batch = runs[0].training.epochs, runs[0].training.batch_size
    n = kernel.n
    lrs = [c.optimizer.lr for c in kernel.cfgs]
    gen = torch.Generator().manual_seed(0)
    perms = [torch.randperm(n, generator=gen) for _ in range(len({c.training.seed for c in kernel.cfgs}))]
    slot = {s: i for i, s in enumerate(sorted({c.training.seed for c in kernel.cfgs}))}
    order = [perms[slot[c.training.seed]] for c in kernel.cfgs]

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    def updates() -> None:
        for _ in range(epochs):
            kernel.begin_epoch(order)
            for lo in range(0, n, batch):
                kernel.step(lo, min(lo + batch, n), lrs)

    def evaluations() -> None:
        for _ in range(epochs):
            kernel.epoch_metrics(True)

    K, net = kernel.K, kernel.net
    shapes = [tuple(w.shape) for w in (net.leaves[i] for i in net.weight_leaves)]  # (K, out, in)
    (_, hidden, features), (_, classes, _) = shapes
    x = torch.randn(K, features, batch)
    h = torch.randn(K, hidden, batch)
    g = torch.randn(K, classes, batch)
    gh = torch.randn(K, hidden, batch)
    w1, w2 = torch.randn(K, hidden, features), torch.randn(K, classes, hidden)
    b1, b2 = torch.randn(K, hidden, 1), torch.randn(K, classes, 1)
    points = kernel.xt_all.shape[1]
    block = kernel.eval_rows(points)
    xe = kernel.xt_all[None]
    he = torch.randn(block, hidden, points)

    def products() -> None:  # an update's five: two forward, three backward (as BatchedNet)
        for _ in range(epochs * -(-n // batch)):
            torch.baddbmm(b1, w1, x)
            torch.baddbmm(b2, w2, h)
            torch.bmm(g, h.transpose(1, 2))
            torch.bmm(w2.transpose(1, 2), g)
            torch.bmm(x, gh.transpose(1, 2))

    def eval_products() -> None:  # per epoch and block of rows: the shared first layer, the second
        for _ in range(epochs):
            for start in range(0, K, block):
                k = min(block, K - start)
                torch.baddbmm(b1[:k].reshape(1, k * hidden, 1), w1[:k].reshape(1, k * hidden, features), xe)
                torch.baddbmm(b2[:k], w2[:k], he[:k])

    return {
        "updates (BatchedKernel.step x every minibatch)": best(updates),
        "evaluations (epoch_metrics x every epoch)": best(evaluations),
        "  of which the updates' batched products": best(products),
        "  of which the evaluations' batched products": best(eval_products),
    }


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime: unavailable"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=16, help="seeds per runner (8 runners)")
    ap.add_argument("--repeats", type=int, default=4, help="timed batched runs (and peer chunks)")
    ap.add_argument("--skip-peer", action="store_true", help="only the batched engine")
    ap.add_argument("--profile", action="store_true", help="cProfile one batched run (own time)")
    ap.add_argument("--phases", action="store_true", help="where one batched run's time goes")
    ap.add_argument("--floor", action="store_true", help="the kernel's own work alone, no loop around it")
    args = ap.parse_args(argv)
    runs = seeded_runs(args.epochs, args.seeds)
    groups, alone = plan_batches(runs)
    assert groups == [list(range(len(runs)))] and not alone, "the seeded lr-sweep must be one batched group"
    print(
        f"lr-sweep x {args.seeds} seeds: {len(runs)} runs x {args.epochs} epochs, batch 32, 16 updates/epoch, "
        f"train+test evaluated every epoch; torch {torch.__version__}, 1 thread"
    )
    print(f"load before: {uptime()}", flush=True)
    run_batched(seeded_runs(2, args.seeds))  # warm-up
    if args.profile:
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            execute(runs)
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return 0
    if args.floor:
        parts = floor(runs)
        for label, seconds in parts.items():
            print(f"  {label:52s} {seconds:6.3f} s")
        kernel_only = (
            parts["updates (BatchedKernel.step x every minibatch)"]
            + parts["evaluations (epoch_metrics x every epoch)"]
        )
        products = sum(v for k, v in parts.items() if "products" in k)
        print(
            f"  {'the kernel alone (updates + evaluations)':52s} {kernel_only:6.3f} s  (bar for the whole run: 1.5 s)"
        )
        print(f"  {'the batched products alone':52s} {products:6.3f} s")
        print(f"load after: {uptime()}")
        return 0
    if args.phases:
        parts = phases(runs)
        total = parts.pop("total")
        for label, seconds in parts.items():
            print(f"  {label:52s} {seconds:6.3f} s  {100 * seconds / total:5.1f} %")
        print(f"  {'total (one execute)':52s} {total:6.3f} s")
        print(f"load after: {uptime()}")
        return 0
    data = blobs()
    if not args.skip_peer:
        fit_sklearn(runs[:1], data)  # warm-up
    chunks = np.array_split(np.arange(len(runs)), args.repeats)
    walls, cpus, peer_wall, peer_cpu = [], [], 0.0, 0.0
    for r, chunk in enumerate(chunks):
        c0 = time.process_time()
        walls.append(run_batched(runs))
        cpus.append(time.process_time() - c0)
        line = f"  repeat {r + 1}: batched {walls[-1]:6.3f} s wall {cpus[-1]:6.3f} s cpu"
        if not args.skip_peer:
            c0, t0 = time.process_time(), time.perf_counter()
            fit_sklearn([runs[i] for i in chunk], data)
            w, c = time.perf_counter() - t0, time.process_time() - c0
            peer_wall += w
            peer_cpu += c
            line += f"   | sklearn fit x {len(chunk)}: {w:6.2f} s wall {c:6.2f} s cpu"
        print(line, flush=True)
    a_wall, a_cpu = statistics.median(walls), statistics.median(cpus)
    print(f"load after: {uptime()}")
    print(
        f"  optiscope batched ({len(runs)} runs, execute), median  wall {a_wall:7.3f} s   cpu {a_cpu:7.3f} s"
    )
    ok = True
    if not args.skip_peer:
        print(
            f"  sklearn MLPClassifier.fit x {len(runs)} (no eval)       wall {peer_wall:7.2f} s   cpu {peer_cpu:7.2f} s"
        )
        ratio, ratio_cpu = peer_wall / a_wall, peer_cpu / a_cpu
        ok_fast = ratio >= 10.0
        print(
            f"{'PASS' if ok_fast else 'FAIL'}: batched >= 10x faster than sklearn fit x {len(runs)} "
            f"({ratio:.1f}x wall, {ratio_cpu:.1f}x cpu)"
        )
        ok &= ok_fast
    if args.epochs == 200 and args.seeds == 16:
        ok_abs = a_wall <= 1.5
        print(
            f"{'PASS' if ok_abs else 'FAIL'}: batched 8 x 16 seeds <= 1.5 s "
            f"({a_wall:.3f} s wall, {a_cpu:.3f} s cpu)"
        )
        ok &= ok_abs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
