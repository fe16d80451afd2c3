"""Benchmark: what the per-layer statistics (LayerStats, engine.inside) cost at the default cadence.

Two workloads from the reading list's study 4, each timed with the statistics at their
default cadence (``stats_every=None``: about 40 points per run, at most one every 32
update) and with them off (``stats_every=0``), interleaved in one process, one thread:

- the studies' single run: ``trainer.train`` on the default RunConfig (blobs, MLP
  2-50-3, SGD 0.01, batch 32, 200 epochs, train+test evaluated every epoch);
- the 8-run sweep: the lr-sweep preset through ``runner.execute`` (one batched group).

Bar (issue 9): the default cadence slows each by at most 15 %: the median over
``--repeats`` pairs of the ratio (stats on / stats off) of process CPU time, the two of a
pair run back to back in alternating order, so a slow spell on a shared machine hits both
sides of a pair instead of one side of the comparison (wall time printed too). The time
spent inside the statistics pass itself (the kernels' ``layer_stats`` and ``mark_update``)
is measured as well and printed as a share of the run: the cost the engine adds, free of
the machine's noise.

glibc's malloc returns freed heap memory to the system and moves its mmap threshold as a
process runs; on these small networks a run then either reuses its pages or faults every
tensor in afresh (0 or ~100 000 minor page faults a run, 0.32 s or 0.50 s), with or without
the statistics, which swamped the comparison (paired ratios from 0.84 to 1.20). On Linux
the bench therefore restarts itself with both thresholds fixed (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``; the same for both sides of every pair; ``--system-malloc``
keeps glibc's defaults) and prints the page faults of each side.

Run: ``.venv/bin/python bench/bench_inside.py`` (``--epochs``, ``--repeats``).
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
FIXED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4194304", "MALLOC_TRIM_THRESHOLD_": "134217728"}
if (
    sys.platform.startswith("linux")
    and "--system-malloc" not in sys.argv
    and "MALLOC_TRIM_THRESHOLD_" not in os.environ
):
    os.environ.update(FIXED_MALLOC)  # read by glibc when a process starts: start again with them
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import torch  # noqa: E402
from optiscope.engine import kernels  # noqa: E402
from optiscope.engine.config import RunConfig, TrainingConfig  # noqa: E402
from optiscope.engine.presets import get_preset  # noqa: E402
from optiscope.engine.runner import execute  # noqa: E402
from optiscope.engine.trainer import train  # noqa: E402

torch.set_num_threads(1)
BAR = 1.15


STATS_SECONDS = [0.0]  # CPU seconds spent in the statistics pass since the last reset


def _timed_method(cls: type, name: str) -> None:
    """Wrap ``cls.name`` so its CPU time adds to :data:`STATS_SECONDS`."""
    original = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        t = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            STATS_SECONDS[0] += time.process_time() - t

    setattr(cls, name, wrapper)


for _cls in (kernels.TorchKernel, kernels.BatchedKernel):
    for _name in ("layer_stats", "mark_update"):
        _timed_method(_cls, _name)


def single(epochs: int, stats_every: int | None) -> int:
    cfg = RunConfig(training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu"))
    res = train(cfg, keep_model=False, stats_every=stats_every)
    assert res.reason == "completed", res.error
    return len(res.layers)


def sweep(epochs: int, stats_every: int | None) -> int:
    runs = get_preset("lr-sweep").with_overrides(epochs=epochs).runs()
    results = execute(runs, stats_every=stats_every)
    return sum(len(r.layers) for r in results)


def timed(fn: Callable[[], int]) -> tuple[float, float, int, int]:
    """Wall and CPU seconds, the function's result and the minor page faults it took."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    w, c = time.perf_counter(), time.process_time()
    n = fn()
    w, c = time.perf_counter() - w, time.process_time() - c
    return w, c, n, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--system-malloc", action="store_true", help="keep glibc's moving malloc thresholds")
    args = ap.parse_args(argv)
    fixed = all(os.environ.get(k) == v for k, v in FIXED_MALLOC.items())
    print(
        f"malloc thresholds: {'fixed (' + ', '.join(f'{k}={v}' for k, v in FIXED_MALLOC.items()) + ')' if fixed else 'glibc defaults'}"
    )
    ok = True
    for name, fn in (("studies' single run", single), ("8-run lr-sweep (batched)", sweep)):
        fn(5, None)  # warm up
        fn(5, 0)
        on: list[tuple[float, float, int, int]] = []
        off: list[tuple[float, float, int, int]] = []
        inside_share = []
        for i in range(args.repeats):  # pairs in alternating order: drifts in machine load hit both
            for stats in (None, 0) if i % 2 == 0 else (0, None):
                STATS_SECONDS[0] = 0.0
                t = timed(lambda s=stats: fn(args.epochs, s))  # noqa: B023
                (on if stats is None else off).append(t)
                if stats is None:
                    inside_share.append(STATS_SECONDS[0] / t[1])
        ratios = [a[1] / b[1] for a, b in zip(on, off, strict=True)]
        on_wall, on_cpu = statistics.median(t[0] for t in on), statistics.median(t[1] for t in on)
        off_wall, off_cpu = statistics.median(t[0] for t in off), statistics.median(t[1] for t in off)
        ratio = statistics.median(ratios)
        passed = ratio <= BAR
        ok &= passed
        print(
            f"{name}, {args.epochs} epochs: stats off {off_cpu:.3f} s cpu ({off_wall:.3f} s wall), "
            f"default cadence {on_cpu:.3f} s cpu ({on_wall:.3f} s wall), {on[0][2]} LayerStats events; "
            f"paired ratios {' '.join(f'{r:.3f}' for r in ratios)}; median {ratio:.3f} "
            f"(medians' ratio {on_cpu / off_cpu:.3f}, wall {on_wall / off_wall:.3f}; "
            f"statistics pass {100 * statistics.median(inside_share):.1f} % of the run; page faults per run "
            f"{statistics.median(t[3] for t in on):.0f} on, {statistics.median(t[3] for t in off):.0f} off) "
            f"-> {'PASS' if passed else 'FAIL'} (<= {BAR})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
