"""Datasets, all offline: scikit-learn generators, bundled sets and the user's CSV files.

:func:`load_dataset` turns a :class:`~engine.config.DatasetConfig` into a
:class:`Dataset` of numpy arrays, split into training and validation parts. The arrays
scikit-learn makes (generated and bundled sets) are cached in the cache folder
(:func:`cache_dir`), so only the first use of a set imports scikit-learn. Importing this
module is light: :func:`dataset_shape` answers from the config alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .config import BUNDLED_DATASETS, DatasetConfig
from .dataset import DataError, Dataset, split, standardize
from .shapes import BUNDLED_SHAPES, dataset_shape  # noqa: F401 - the shape facts, re-exported

__all__ = [
    "Dataset",
    "DataError",
    "load_dataset",
    "dataset_shape",
    "cache_dir",
    "BUNDLED_SHAPES",
    "DEFAULT_NOISE",
]

DEFAULT_NOISE = {
    "blobs": 2.0,
    "moons": 0.2,
    "circles": 0.1,
    "xor": 0.1,
    "spiral": 0.2,
    "gaussians": 1.0,
}


def load_dataset(cfg: DatasetConfig) -> Dataset:
    """Build the dataset ``cfg`` describes. Raises :class:`DataError` on bad input."""
    if cfg.name == "csv":
        from .tabular import load_csv_dataset

        ds = load_csv_dataset(cfg)
    elif cfg.name in BUNDLED_DATASETS:
        ds = _bundled(cfg)
    else:
        ds = _synthetic(cfg)
    if cfg.subsample is not None and cfg.subsample < len(ds.y_train):
        k = cfg.subsample
        ds = Dataset(
            ds.name,
            ds.x_train[:k],
            ds.y_train[:k],
            ds.x_val,
            ds.y_val,
            ds.n_classes,
            ds.class_names,
            ds.feature_names,
            ds.image_shape,
            (ds.note + f" Training set cut to its first {k} examples.").strip(),
        )
    return ds


# --------------------------------------------------------------------------- the array cache
#: Sets made by scikit-learn; their arrays are kept in the cache folder, so a later run
#: (or a preview) neither imports scikit-learn (~1 s) nor generates them again.
SKLEARN_GENERATED = ("blobs", "moons", "circles", "gaussians")
#: How many generated sets the cache keeps (least recently used go first).
CACHE_ENTRIES = 64
# Bump when what is stored, or how it is made, changes.
_CACHE_FORMAT = "optiscope-dataset-1"


def cache_dir() -> Path:
    """Where generated and bundled sets are cached: the user cache dir, or ``$OPTISCOPE_HOME/cache``."""
    from .paths import optiscope_dir

    return optiscope_dir("cache") / "datasets"


def _sklearn_version() -> str:
    """scikit-learn's version from its package metadata (no import of scikit-learn)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # a frozen build without metadata
        return "unknown"


def _cached_arrays(key: dict[str, Any], build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays ``build`` makes for ``key``, from the cache when they were made before.

    The file name hashes ``key``, the cache format and scikit-learn's version (a new
    version may generate other numbers). A missing, damaged or foreign entry is built again;
    a cache that cannot be written is skipped silently (the arrays are still returned).
    """
    ident = json.dumps({**key, "format": _CACHE_FORMAT, "sklearn": _sklearn_version()}, sort_keys=True)
    file = cache_dir() / f"{key['name']}-{hashlib.sha256(ident.encode()).hexdigest()[:24]}.npz"
    arrays = _cache_read(file)
    if arrays is not None:
        return arrays
    arrays = build()
    _cache_write(file, arrays)
    return arrays


def _cache_read(file: Path) -> dict[str, np.ndarray] | None:
    try:
        with open(file, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        os.utime(file)  # most recently used: the last to be pruned
    except Exception:  # absent, truncated, corrupt or foreign: build again
        return None
    x, y = arrays.get("x"), arrays.get("y")
    if x is None or y is None or x.ndim != 2 or y.shape != (len(x),):
        return None
    return arrays


def _cache_write(file: Path, arrays: dict[str, np.ndarray]) -> None:
    from .files import atomic_write_with

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        # exclusive temporary; numpy's stubs type **kwds as allow_pickle
        atomic_write_with(file, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]
        entries = sorted(file.parent.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in entries[CACHE_ENTRIES:]:
            old.unlink(missing_ok=True)
    except OSError:  # read-only or full disk, or another process pruning: the cache is optional
        pass


# --------------------------------------------------------------------------- generated and bundled sets
def _sklearn_generated(name: str, n: int, noise: float, centers: int, seed: int) -> dict[str, np.ndarray]:
    from sklearn import datasets as skd

    if name == "blobs":
        x, y = skd.make_blobs(
            n_samples=n, centers=centers, n_features=2, cluster_std=noise, random_state=seed
        )
    elif name == "moons":
        x, y = skd.make_moons(n_samples=n, noise=noise, random_state=seed)
    elif name == "circles":
        x, y = skd.make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
    else:  # gaussians
        x, y = skd.make_blobs(
            n_samples=n,
            centers=np.array([[-1.0, -1.0], [1.0, 1.0]]),
            n_features=2,
            cluster_std=noise,
            random_state=seed,
        )
    return {"x": np.asarray(x, dtype=np.float32), "y": np.asarray(y, dtype=np.int64)}


def _synthetic(cfg: DatasetConfig) -> Dataset:
    n, seed = cfg.n_samples, cfg.seed
    noise = DEFAULT_NOISE[cfg.name] if cfg.noise is None else cfg.noise
    rng = np.random.default_rng(seed)
    n_classes = cfg.centers if cfg.name in ("blobs", "spiral") else 2
    if cfg.name in SKLEARN_GENERATED:
        centers = cfg.centers if cfg.name == "blobs" else 2
        key = {"name": cfg.name, "n_samples": n, "noise": noise, "centers": centers, "seed": seed}
        arrays = _cached_arrays(key, lambda: _sklearn_generated(cfg.name, n, noise, centers, seed))
        x, y = arrays["x"], arrays["y"]
    elif cfg.name == "xor":
        x = rng.uniform(-1.0, 1.0, size=(n, 2))
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
        x = x + rng.normal(0.0, noise, size=x.shape)
    elif cfg.name == "spiral":
        n_classes = cfg.centers
        per = np.full(n_classes, n // n_classes)
        per[: n % n_classes] += 1
        xs, ys = [], []
        for c in range(n_classes):
            r = np.linspace(0.05, 1.0, per[c])
            t = np.linspace(c * 2 * np.pi / n_classes, c * 2 * np.pi / n_classes + 3 * np.pi, per[c])
            t = t + rng.normal(0.0, noise, per[c])
            xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
            ys.append(np.full(per[c], c))
        order = rng.permutation(n)
        x, y = np.concatenate(xs)[order], np.concatenate(ys)[order]
    else:  # pragma: no cover - config validation keeps this unreachable
        raise DataError(f"unknown dataset {cfg.name!r}")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    x_tr, y_tr, x_va, y_va = split(x, y, cfg.train_fraction)
    if cfg.standardize:
        x_tr, x_va = standardize(x_tr, x_va)
    return Dataset(
        cfg.name,
        x_tr,
        y_tr,
        x_va,
        y_va,
        n_classes,
        tuple(str(i) for i in range(n_classes)),
        ("x1", "x2"),
    )


def _sklearn_bundled(name: str) -> dict[str, np.ndarray]:
    from sklearn import datasets as skd

    loader = {
        "digits": skd.load_digits,
        "breast_cancer": skd.load_breast_cancer,
        "wine": skd.load_wine,
        "iris": skd.load_iris,
    }[name]
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float32)
    names = getattr(bunch, "feature_names", None)
    features = [str(f) for f in names] if names is not None else [f"x{i}" for i in range(x.shape[1])]
    return {
        "x": x,
        "y": np.asarray(bunch.target, dtype=np.int64),
        "feature_names": np.array(features, dtype=str),
        "class_names": np.array([str(t) for t in bunch.target_names], dtype=str),
    }


def _bundled(cfg: DatasetConfig) -> Dataset:
    arrays = _cached_arrays({"name": cfg.name}, lambda: _sklearn_bundled(cfg.name))
    x, y = arrays["x"], arrays["y"]
    order = np.random.default_rng(cfg.seed).permutation(len(y))
    x, y = x[order], y[order]
    image_shape = None
    note = f"scikit-learn's bundled {cfg.name} set ({len(y)} rows); n_samples does not apply."
    if cfg.name == "digits":
        x = x / 16.0  # pixel values 0..16 -> 0..1
        image_shape = (1, 8, 8)
    x_tr, y_tr, x_va, y_va = split(x, y, cfg.train_fraction)
    do_std = cfg.standardize if cfg.standardize is not None else cfg.name != "digits"
    if do_std:
        x_tr, x_va = standardize(x_tr, x_va)
    class_names = tuple(str(t) for t in arrays["class_names"])
    return Dataset(
        cfg.name,
        x_tr.astype(np.float32),
        y_tr,
        x_va.astype(np.float32),
        y_va,
        len(class_names),
        class_names,
        tuple(str(f) for f in arrays["feature_names"]),
        image_shape,
        note,
    )
