"""``optiscope surface``: train an experiment, then map its loss surface and trajectories.

Writes ``surface.npz`` (grid axes, loss, plane directions and facts), ``trajectory.csv``
(per snapshot: run, step, alpha, beta, true_loss, slice_loss, off_plane) and
``surface.png`` (log-loss heatmap with log-spaced contours and the projected paths, or a
loss-versus-alpha chart for the interpolation line). The PNG is encoded here with zlib:
no Qt, no display needed.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import events as ev
from ..files import atomic_write_bytes
from ..formats import format_csv

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..landscape import PathReport, Plane, Surface
from .common import UsageError, add_experiment_args, load_experiment, prepare_out_dir

__all__ = ["add_parser", "cmd_surface", "write_png", "surface_rgb", "line_rgb"]

PATH_COLOURS = np.array(
    [
        [255, 255, 255],
        [255, 120, 60],
        [80, 220, 255],
        [255, 230, 60],
        [255, 90, 200],
        [120, 255, 120],
        [200, 160, 255],
        [255, 180, 180],
    ],
    dtype=np.uint8,
)
# viridis, sampled at 9 points
_VIRIDIS = np.array(
    [
        [68, 1, 84],
        [71, 44, 122],
        [59, 81, 139],
        [44, 113, 142],
        [33, 144, 141],
        [39, 173, 129],
        [92, 200, 99],
        [170, 220, 50],
        [253, 231, 37],
    ],
    dtype=np.float64,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("surface", help="train an experiment and map its loss surface around the trajectory")
    add_experiment_args(
        p,
        seeds="a loss surface is drawn around single trained runs and takes no --seeds; give --seed S "
        "for another seed",
    )
    p.add_argument("--grid", type=int, default=51, help="grid points per axis, 11..101 (default 51)")
    p.add_argument(
        "--extent",
        type=float,
        default=1.0,
        help="half-width of the plane (PCA: 1 frames the path; random: in filter norms; "
        "interp: alpha runs from -extent/2 to 1+extent/2; 0.001 to 100)",
    )
    p.add_argument(
        "--plane",
        choices=("pca", "random", "interp"),
        default="pca",
        help="pca of the trajectory (default), two filter-normalised random "
        "directions, or the 1-D line from initial to final weights",
    )
    p.add_argument(
        "--weights-every",
        type=int,
        default=0,
        help="record the weights every N updates (default: about 150 snapshots per run)",
    )
    p.add_argument(
        "--max-samples",
        type=int,
        default=None,
        help="evaluate the surface on a fixed subset of this many training examples "
        "(default: the full training set)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_surface)


EXTENT_MIN = 1e-3


def _check_args(args: argparse.Namespace) -> None:
    from ..landscape import GRID_MAX, GRID_MIN

    if not GRID_MIN <= args.grid <= GRID_MAX:
        raise UsageError(f"--grid must be from {GRID_MIN} to {GRID_MAX}, got {args.grid}")
    if not (math.isfinite(args.extent) and EXTENT_MIN <= args.extent <= 100):
        # far below the path's own scale a plane is a point: its colour scale and contours
        # asked for absurd allocations (1e-12: 1.12 PiB) after all the training
        raise UsageError(f"--extent must be from {EXTENT_MIN:g} to 100, got {args.extent:g}")
    if args.weights_every < 0:
        raise UsageError(f"--weights-every must be 0 (automatic) or more, got {args.weights_every}")
    if args.max_samples is not None and args.max_samples < 10:
        raise UsageError(f"--max-samples must be at least 10, got {args.max_samples}")


def cmd_surface(args: argparse.Namespace) -> int:
    _check_args(args)
    exp = load_experiment(args)
    runs = exp.runs()
    out = prepare_out_dir(Path(args.out))

    import torch

    from ..data import load_dataset
    from ..landscape import (
        end_at_final,
        finite_snapshots,
        flat_weights,
        model_at,
        snapshot_every,
        surface_pipeline,
    )
    from ..runner import execute

    torch.set_num_threads(1)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    ds = load_dataset(runs[0].dataset)
    every = args.weights_every or snapshot_every(runs, 150)
    snaps: dict[int, list[ev.Weights]] = {i: [] for i in range(len(runs))}
    failures: list[str] = []

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.Weights):
            snaps[e.run].append(e)
        elif isinstance(e, ev.Failed):
            failures.append(f"run {e.run} ({runs[e.run].describe()}): {e.message}")
        elif isinstance(e, ev.Finished):
            say(f"run {e.run} ({runs[e.run].describe()}): {e.reason} after {e.epochs} epochs")

    bus = ev.EventBus()
    bus.subscribe(on_event, ev.Weights, ev.Failed, ev.Finished)
    t0 = time.perf_counter()
    results = execute(runs, bus=bus, weights_every=every, keep_models=True)
    model = results[0].model
    if failures or model is None:
        for f in failures:
            print(f"optiscope surface: error: {f}", file=sys.stderr)
        return 1
    n_params = sum(p.numel() for p in model.parameters())
    used = [i for i in range(len(runs)) if snaps[i] and snaps[i][0].vector.size == n_params]
    for i in range(len(runs)):
        if i not in used:
            say(f"run {i} ({runs[i].describe()}) has another architecture: left out of the shared plane")
    paths = []
    for i in used:
        st, tr = finite_snapshots(
            np.array([s.step for s in snaps[i]]), np.stack([s.vector for s in snaps[i]])
        )
        if len(st) < len(snaps[i]):
            say(f"run {i}: {len(snaps[i]) - len(st)} snapshots with non-finite weights left out")
        trained = results[i].model
        final = flat_weights(trained) if trained is not None else None
        if final is not None and np.isfinite(final).all():  # the path ends at the trained weights
            st, tr = end_at_final(st, tr, final, len(results[i].step_loss))
        paths.append((i, st, tr))
    final_step = None
    if not np.isfinite(flat_weights(model)).all():
        say(f"run 0 diverged: the plane is centred on its last finite weights (update {paths[0][1][-1]})")
        model, _ = model_at(runs[0].model, paths[0][2][-1], ds)
        final_step = int(paths[0][1][-1])
    t1 = time.perf_counter()
    stages = surface_pipeline(
        model,
        ds.x_train,
        ds.y_train,
        paths,
        kind=args.plane,
        grids=(args.grid,),
        extent=args.extent,
        seed=args.seed or 0,
        max_samples=args.max_samples,
        final_step=final_step,
    )
    try:
        plane = next(stages)[1]
    except ValueError as exc:
        raise UsageError(f"cannot build the {args.plane} plane: {exc}") from None
    surface = next(stages)[1]
    seconds = time.perf_counter() - t1
    reports = next(stages)[1]
    if plane.is_line:
        rgb = line_rgb(surface.alphas, surface.loss[0], [(r.coords[:, 0], r.true_loss) for r in reports])
    else:
        rgb = surface_rgb(surface.alphas, surface.betas, surface.loss, [r.coords for r in reports])
    try:
        _write_npz(out / "surface.npz", surface, plane, [runs[i].describe() for i in used], used)
        _write_csv(out / "trajectory.csv", reports, runs)
        write_png(out / "surface.png", rgb)
    except OSError as exc:
        raise UsageError(f"could not write the result files to {out} ({exc.strerror or exc})") from None
    expl = "n/a" if math.isnan(plane.explained) else f"{100 * plane.explained:.1f} %"
    say(
        f"{args.plane} {'line' if plane.is_line else 'plane'}, grid {args.grid}"
        f"{'' if plane.is_line else 'x' + str(args.grid)}, extent {args.extent:g}: surface in "
        f"{seconds:.3f} s ({surface.method}, {surface.data_note}); training "
        f"{t1 - t0:.1f} s; trajectory variance in the plane: {expl}"
    )
    for r in reports:
        say(f"  run {r.run}: largest |true - slice| loss along the path {r.max_gap:.4g}")
    say(f"wrote {out}/surface.npz, trajectory.csv, surface.png")
    return 0


# --------------------------------------------------------------------------- files
def _write_npz(path: Path, surface: Surface, plane: Plane, labels: list[str], run_ids: list[int]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        alphas=surface.alphas,
        betas=surface.betas,
        loss=surface.loss,
        plane=np.array(plane.kind),
        explained=np.array(plane.explained),
        axis_labels=np.array(plane.axis_labels),
        note=np.array(plane.note),
        origin=plane.origin,
        d1=plane.d1,
        d2=plane.d2,
        grid=np.array(surface.grid),
        extent=np.array(surface.extent),
        method=np.array(surface.method),
        data=np.array(surface.data_note),
        runs=np.array(run_ids),
        labels=np.array(labels),
    )
    atomic_write_bytes(path, buf.getvalue())


def _write_csv(path: Path, reports: list[PathReport], runs: list[RunConfig]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run", "label", "step", "alpha", "beta", "true_loss", "slice_loss", "off_plane"])
    for r in reports:
        for k in range(len(r.steps)):
            w.writerow(
                [
                    r.run,
                    format_csv(runs[r.run].describe()),
                    int(r.steps[k]),
                    f"{r.coords[k, 0]:.6g}",
                    f"{r.coords[k, 1]:.6g}",
                    f"{r.true_loss[k]:.6g}",
                    f"{r.slice_loss[k]:.6g}",
                    f"{r.off_plane[k]:.6g}",
                ]
            )
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------- pictures
def write_png(path: Path | str, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 image as PNG (zlib + struct; written atomically)."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = img.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    atomic_write_bytes(Path(path), png)


def _colormap(t: np.ndarray) -> np.ndarray:
    t = np.clip(np.nan_to_num(t, nan=1.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    i = np.minimum(t.astype(int), len(_VIRIDIS) - 2)
    f = (t - i)[..., None]
    return (_VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f).astype(np.uint8)


def _resample(z: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resampling of a grid to ``size`` x ``size`` (row 0 = lowest beta)."""
    ny, nx = z.shape
    ys, xs = np.linspace(0, ny - 1, size), np.linspace(0, nx - 1, size)
    y0 = np.minimum(ys.astype(int), ny - 2)
    x0 = np.minimum(xs.astype(int), nx - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = z[y0][:, x0], z[y0][:, x0 + 1]
    c, d = z[y0 + 1][:, x0], z[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _draw_line(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour, width: int = 1) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.rint(np.linspace(x0, x1, n)).astype(int)
    ys = np.rint(np.linspace(y0, y1, n)).astype(int)
    h, w, _ = img.shape
    for dx in range(-(width // 2), width // 2 + 1):
        for dy in range(-(width // 2), width // 2 + 1):
            xx, yy = xs + dx, ys + dy
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            img[yy[ok], xx[ok]] = colour


def _dot(img: np.ndarray, x: float, y: float, colour, r: int = 4) -> None:
    h, w, _ = img.shape
    yy, xx = np.ogrid[:h, :w]
    img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = colour


def surface_rgb(
    alphas: np.ndarray, betas: np.ndarray, loss: np.ndarray, paths: list[np.ndarray], size: int = 512
) -> np.ndarray:
    """Heatmap of log10(loss) with 12 log-spaced contour lines and projected paths (white first)."""
    finite = np.isfinite(loss)
    top = float(loss[finite].max()) if finite.any() else 1.0
    logz = np.log10(np.maximum(np.where(finite, loss, top), 1e-12))  # inf/nan drawn as the highest
    big = _resample(logz, size)
    lo, hi = float(big.min()), float(big.max())
    t = (big - lo) / (hi - lo) if hi > lo else np.zeros_like(big)
    img = _colormap(t)
    band = np.floor(t * 12)
    edge = np.zeros_like(band, dtype=bool)
    edge[:-1] |= band[:-1] != band[1:]
    edge[:, :-1] |= band[:, :-1] != band[:, 1:]
    img[edge] = (img[edge] * 0.45 + 255 * 0.55).astype(np.uint8)
    img = img[::-1].copy()  # image row 0 is the top: highest beta

    def px(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (c[:, 0] - alphas[0]) / (alphas[-1] - alphas[0]) * (size - 1)
        y = (betas[-1] - c[:, 1]) / (betas[-1] - betas[0]) * (size - 1)
        return x, y

    for k, coords in enumerate(paths):
        colour = PATH_COLOURS[k % len(PATH_COLOURS)]
        x, y = px(coords)
        for i in range(len(x) - 1):
            _draw_line(img, x[i], y[i], x[i + 1], y[i + 1], colour, 2)
        _dot(img, x[0], y[0], colour, 5)
        _dot(img, x[-1], y[-1], (0, 0, 0), 5)
        _dot(img, x[-1], y[-1], colour, 3)
    return img


def line_rgb(
    alphas: np.ndarray,
    loss: np.ndarray,
    points: list[tuple[np.ndarray, np.ndarray]],
    width: int = 640,
    height: int = 400,
) -> np.ndarray:
    """Loss along the interpolation line (black) with each path's true loss as dots."""
    img = np.full((height, width, 3), 255, np.uint8)
    pad = 30
    ys_all = np.concatenate([loss] + [p[1] for p in points])
    ys_all = ys_all[np.isfinite(ys_all)]
    lo, hi = float(ys_all.min()), float(ys_all.max())
    hi = hi if hi > lo else lo + 1.0

    def px(a: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = pad + (a - alphas[0]) / (alphas[-1] - alphas[0]) * (width - 2 * pad)
        y = height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)
        return x, y

    grey = (170, 170, 170)
    _draw_line(img, pad, height - pad, width - pad, height - pad, grey)
    _draw_line(img, pad, pad, pad, height - pad, grey)
    for end in (0.0, 1.0):  # initial and final weights
        ax, _ = px(np.array([end]), np.array([lo]))
        _draw_line(img, ax[0], pad, ax[0], height - pad, (220, 220, 220))
    x, y = px(alphas, loss)
    for i in range(len(x) - 1):
        _draw_line(img, x[i], y[i], x[i + 1], y[i + 1], (0, 0, 0), 2)
    for k, (path_alphas, path_loss) in enumerate(points):
        colour = tuple(int(c) for c in PATH_COLOURS[(k + 1) % len(PATH_COLOURS)])
        xs, ys = px(path_alphas, path_loss)
        for xi, yi in zip(xs, ys, strict=True):
            if np.isfinite(xi) and np.isfinite(yi):
                _dot(img, xi, yi, colour, 3)
    return img
