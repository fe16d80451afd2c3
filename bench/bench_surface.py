"""Benchmark: vectorised loss surfaces vs a weight-loading loop, in the same process run.

Not a test. Prints the figures and PASS/FAIL against the issue's bars:

* blobs MLP (the studies' Dense(50, relu) -> 3) on its 500 training points:
  21x21 <= 0.05 s; 51x51 <= 0.3 s and faster than the loop; 101x101 <= 1.2 s;
* digits MLP (Dense(50, relu) -> 10) on all 1797 digits: 51x51 <= 2 s.

Each vectorised time includes the once-per-plane work (``prepare``) and is the best of
``--repeat`` runs; the loop (``vector_to_parameters`` + forward per grid point, exactly
what ``loop_losses`` does) is timed once. Run::

    .venv/bin/python bench/bench_surface.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from optiscope.engine import events as ev
from optiscope.engine.config import RunConfig
from optiscope.engine.landscape import SurfaceEvaluator, grid_axes, loop_losses, make_plane
from optiscope.engine.runner import execute


def trained(cfg: RunConfig) -> tuple[torch.nn.Module, np.ndarray]:
    snaps: list[np.ndarray] = []
    bus = ev.EventBus()
    bus.subscribe(lambda e: snaps.append(e.vector), ev.Weights)
    res = execute([cfg], bus=bus, weights_every=4, keep_models=True)[0]
    return res.model, np.stack(snaps)


def best_of(fn, repeat: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    ok = True

    def verdict(name: str, value: float, bar: float, extra: bool = True) -> None:
        nonlocal ok
        passed = value <= bar and extra
        ok &= passed
        print(f"  {name:<40} {value:8.4f} s   bar <= {bar:g} s   {'PASS' if passed else 'FAIL'}")

    # ---- blobs MLP
    cfg = RunConfig.model_validate({"training": {"epochs": 5, "seed": 1}})
    model, traj = trained(cfg)
    from optiscope.engine.data import load_dataset

    ds = load_dataset(cfg.dataset)
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    plane = make_plane("pca", model, traj)
    evaluator = SurfaceEvaluator(model, x, y)
    print(f"blobs MLP 2-50-3, {evaluator.data_note}, method {evaluator.method}, PCA plane")
    times = {}
    for g in (21, 51, 101):
        al, be = grid_axes(plane, g, 1.0)
        times[g] = best_of(lambda al=al, be=be: evaluator.prepare(plane).grid(al, be), args.repeat)
    al, be = grid_axes(plane, 51, 1.0)
    t = time.perf_counter()
    slow = loop_losses(model, x, y, plane, al, be)
    t_loop = time.perf_counter() - t
    fast = evaluator.prepare(plane).grid(al, be)
    err = float(np.max(np.abs(fast - slow)))
    verdict("21x21 vectorised", times[21], 0.05)
    verdict("51x51 vectorised", times[51], 0.3, times[51] < t_loop)
    print(
        f"  {'51x51 loop (load weights, evaluate)':<40} {t_loop:8.4f} s   "
        f"vectorised is {t_loop / times[51]:.1f}x faster; max |diff| {err:.2g}"
    )
    verdict("101x101 vectorised", times[101], 1.2)

    # ---- digits MLP
    dcfg = RunConfig.model_validate(
        {
            "dataset": {"name": "digits"},
            "model": {"layers": [{"type": "dense", "units": 50, "activation": "relu"}]},
            "optimizer": {"kind": "adam", "lr": 0.001},
            "training": {"epochs": 3, "seed": 1},
        }
    )
    dmodel, dtraj = trained(dcfg)
    dds = load_dataset(dcfg.dataset)
    dx = torch.as_tensor(np.concatenate([dds.x_train, dds.x_val]))
    dy = torch.as_tensor(np.concatenate([dds.y_train, dds.y_val]))
    dplane = make_plane("pca", dmodel, dtraj)
    dev = SurfaceEvaluator(dmodel, dx, dy)
    print(f"digits MLP 64-50-10 on all {len(dy)} digits, method {dev.method}, PCA plane")
    al, be = grid_axes(dplane, 51, 1.0)
    t_d = best_of(lambda: dev.prepare(dplane).grid(al, be), args.repeat)
    verdict("51x51 vectorised", t_d, 2.0)
    al11, be11 = grid_axes(dplane, 11, 1.0)
    t = time.perf_counter()
    loop_losses(dmodel, dx, dy, dplane, al11, be11)
    t_dl = (time.perf_counter() - t) * (51 * 51) / (11 * 11)
    print(
        f"  {'51x51 loop (extrapolated from 11x11)':<40} {t_dl:8.4f} s   "
        f"vectorised is {t_dl / t_d:.1f}x faster"
    )
    print("ALL PASS" if ok else "SOME FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
