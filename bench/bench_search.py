"""Benchmark: a 64-trial random search, batched through Optiscope vs Optuna + a plain loop.

The workload (issue 8): blobs (make_blobs 1000 points, 3 centres, std 2, random_state 2;
first 500 train, last 500 validation), MLP 2-50(relu)-3, SGD, batch 32, 200 epochs; the
search space is the learning rate log-uniform in [1e-4, 1] and momentum uniform in
[0, 0.99]; the objective the best validation loss over the epochs. Both contenders use
Optuna's ``RandomSampler(seed=0)`` on a fresh study, so they train the same 64 trials
(checked).

(a) optiscope: :func:`engine.search.run_search` end to end -- the study in an SQLite file
    (the CLI's default storage, created fresh), 64 trials asked, trained as one batched
    computation with train and validation evaluated every epoch, told, outcomes recorded.
    (a0) the same as it asked before: Optuna re-reading the study's unfinished trials for
    its queue of waiting trials on every ask (K asks before training: K^2/2 trial reads).
    (a') the same with the study in memory, for information.
(b) Optuna driving a plain per-trial PyTorch loop: ``study.optimize(objective, 64)`` on
    Optuna's default in-memory study (no storage cost: the stricter peer), the objective a textbook loop (``nn.Sequential``, ``torch.optim.SGD``,
    a ``torch.randperm`` minibatch order, validation evaluated every epoch under
    ``no_grad``: less work per epoch than (a), which also evaluates the training set).

Then the batched engine alone (``train_batched``) on K = 8, 64 and 128 of those runs.

One process, one thread; each contender warmed up first; medians of ``--repeats`` for (a)
and the K scaling, one timing of (b). Wall and process CPU seconds are both printed (on a
shared machine the CPU time is the steadier figure).

Bars: (a) <= 4 s and (b)/(a) >= 10; batched engine at K = 128 <= 3.0 s.

Run: ``.venv/bin/python bench/bench_search.py`` (``--epochs``, ``--repeats``, ``--skip-peer``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import optuna  # noqa: E402
import torch  # noqa: E402
from optiscope.engine.config import RunConfig, TrainingConfig  # noqa: E402
from optiscope.engine.search import close_study, run_search  # noqa: E402
from optiscope.engine.search_space import apply_params, parse_space  # noqa: E402
from optiscope.engine.sweep import train_batched  # noqa: E402
from peers import blobs  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)

TRIALS = 64
LR = ("optimizer.lr", 1e-4, 1.0)
MOMENTUM = ("optimizer.momentum", 0.0, 0.99)


def base_run(epochs: int) -> RunConfig:
    return RunConfig(training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu", seed=1))


SPACE = parse_space(
    {
        "params": {
            LR[0]: {"low": LR[1], "high": LR[2], "log": True},
            MOMENTUM[0]: {"low": MOMENTUM[1], "high": MOMENTUM[2]},
        },
        "objective": "best_val_loss",
        "seed": 0,
    }
)


def optiscope_search(epochs: int, folder: Path | None, trials: int = TRIALS) -> list[dict]:
    """The search with its study in a fresh SQLite file in ``folder`` (None: in memory)."""
    url = "memory:" if folder is None else f"sqlite:///{folder / f'os-{time.perf_counter_ns()}.sqlite3'}"
    result = run_search(
        base_run(epochs), SPACE, sampler="random", trials=trials, storage=url, log=lambda m: None
    )
    close_study(result.study)
    assert result.counts().get("complete", 0) + result.counts().get("diverged", 0) == trials, result.counts()
    return [t.params for t in sorted(result.trials, key=lambda t: t.number)]


@contextlib.contextmanager
def per_ask_queue_reads():
    """(a0): the search as it asked before, Optuna re-reading the study's unfinished
    trials for its queue on every ask (for the before/after figure)."""
    from optiscope.engine import search

    kept = search._one_queue_read_per_round
    search._one_queue_read_per_round = lambda study: contextlib.nullcontext()
    try:
        yield
    finally:
        search._one_queue_read_per_round = kept


def plain_objective(epochs: int):
    xtr, ytr, xva, yva = (torch.as_tensor(a) for a in blobs())
    ytr, yva = ytr.long(), yva.long()

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float(LR[0], LR[1], LR[2], log=True)
        momentum = trial.suggest_float(MOMENTUM[0], MOMENTUM[1], MOMENTUM[2])
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 3))
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        gen = torch.Generator().manual_seed(1)
        best = float("inf")
        for _ in range(epochs):
            model.train()
            for idx in torch.randperm(len(ytr), generator=gen).split(32):
                opt.zero_grad()
                F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                val = float(F.cross_entropy(model(xva), yva))
            if val == val:  # NaN once diverged: keep the best finite value
                best = min(best, val)
        return best

    return objective


def optuna_plain(epochs: int, trials: int = TRIALS) -> list[dict]:
    """The peer on Optuna's default in-memory study (no storage cost at all)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="minimize")
    study.optimize(plain_objective(epochs), n_trials=trials)
    return [t.params for t in sorted(study.trials, key=lambda t: t.number)]


def timed(fn, *args) -> tuple[float, float, object]:
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def batched_k(k: int, epochs: int) -> None:
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    dists = {
        LR[0]: optuna.distributions.FloatDistribution(LR[1], LR[2], log=True),
        MOMENTUM[0]: optuna.distributions.FloatDistribution(MOMENTUM[1], MOMENTUM[2]),
    }
    cfgs = [apply_params(base_run(epochs), study.ask(dists).params) for _ in range(k)]
    train_batched(cfgs, keep_models=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-peer", action="store_true", help="only (a) and the batched engine's K scaling")
    args = ap.parse_args(argv)
    print(
        f"random search, {TRIALS} trials: blobs MLP 2-50-3, SGD, batch 32, {args.epochs} epochs, "
        f"lr log-uniform [1e-4, 1], momentum [0, 0.99]; torch {torch.__version__}, optuna "
        f"{optuna.__version__}, 1 thread"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        optiscope_search(2, folder, 4)  # warm-up: imports, first study, first batched run
        runs = [timed(optiscope_search, args.epochs, folder) for _ in range(args.repeats)]
        a_wall = statistics.median(r[0] for r in runs)
        a_cpu = statistics.median(r[1] for r in runs)
        print(f"  (a) optiscope search (batched, SQLite study)     wall {a_wall:7.3f} s   cpu {a_cpu:7.3f} s")
        with per_ask_queue_reads():
            before = [timed(optiscope_search, args.epochs, folder) for _ in range(args.repeats)]
        p_wall = statistics.median(r[0] for r in before)
        p_cpu = statistics.median(r[1] for r in before)
        print(
            f"  (a0) the same, queue re-read on every ask (before) wall {p_wall:7.3f} s   cpu {p_cpu:7.3f} s"
        )
        optiscope_search(2, None, 4)
        mem = [timed(optiscope_search, args.epochs, None) for _ in range(args.repeats)]
        m_wall, m_cpu = statistics.median(r[0] for r in mem), statistics.median(r[1] for r in mem)
        print(f"  (a') the same, study in memory                  wall {m_wall:7.3f} s   cpu {m_cpu:7.3f} s")
        if not args.skip_peer:
            optuna_plain(1, 2)
            b_wall, b_cpu, b_params = timed(optuna_plain, args.epochs)
            print(
                f"  (b) optuna study.optimize + plain torch loop    wall {b_wall:7.3f} s   cpu {b_cpu:7.3f} s"
            )
            same = b_params == runs[0][2]
            print(f"  same {TRIALS} trials in both: {'yes' if same else 'NO'}")
            ok &= same
            ratio, cpu_ratio = b_wall / a_wall, b_cpu / a_cpu
            ok_ratio = ratio >= 10
            print(
                f"{'PASS' if ok_ratio else 'FAIL'}: (b)/(a) = {ratio:.1f}x wall ({cpu_ratio:.1f}x cpu), bar >= 10x"
            )
            ok &= ok_ratio
            print(f"  before (a0): (b)/(a0) = {b_wall / p_wall:.1f}x wall ({b_cpu / p_cpu:.1f}x cpu)")
        if args.epochs == 200:
            ok_abs = a_wall <= 4.0
            print(
                f"{'PASS' if ok_abs else 'FAIL'}: (a) end to end {a_wall:.3f} s wall ({a_cpu:.3f} s cpu), bar <= 4 s"
            )
            ok &= ok_abs
    print(f"batched engine (train_batched) on K of these runs, {args.epochs} epochs:")
    batched_k(2, 2)
    k128 = None
    for k in (8, 64, 128):
        times = [timed(batched_k, k, args.epochs) for _ in range(args.repeats)]
        wall, cpu = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        print(
            f"  K = {k:>3}: wall {wall:7.3f} s   cpu {cpu:7.3f} s   ({wall / k * 1000:6.1f} ms per run)",
            flush=True,
        )
        k128 = wall
    if args.epochs == 200 and k128 is not None:
        ok_k = k128 <= 3.0
        print(f"{'PASS' if ok_k else 'FAIL'}: K = 128 in {k128:.3f} s, bar <= 3.0 s")
        ok &= ok_k
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
