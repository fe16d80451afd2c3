"""Datasets, all offline: scikit-learn generators, bundled sets and the user's CSV files.

:func:`load_dataset` turns a :class:`~engine.config.DatasetConfig` into a
:class:`Dataset` of numpy arrays, split into training and validation parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import BUNDLED_DATASETS, DatasetConfig
from .dataset import DataError, Dataset, split, standardize, train_rows

__all__ = ["Dataset", "DataError", "load_dataset", "dataset_shape", "BUNDLED_SHAPES", "DEFAULT_NOISE"]

# rows, features, classes and image shape of the bundled sets (known without scikit-learn)
BUNDLED_SHAPES: dict[str, tuple[int, int, int, tuple[int, int, int] | None]] = {
    "digits": (1797, 64, 10, (1, 8, 8)),
    "breast_cancer": (569, 30, 2, None),
    "wine": (178, 13, 3, None),
    "iris": (150, 4, 3, None),
}


def dataset_shape(cfg: DatasetConfig, csv_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``cfg`` gives, computed from the config without loading any data.

    Returns a dict with ``n_features``, ``n_classes``, ``image_shape``, ``n_train`` (the
    training rows :func:`load_dataset` will produce, same rounding and subsample rule) and
    ``known``. A CSV set is only known after it was read once: pass ``csv_info`` with its
    ``rows`` (after dropping missing ones), ``n_features`` and ``n_classes``; without it
    ``known`` is False and a 1000-row, 2-feature, 2-class table is assumed.
    """
    image: tuple[int, int, int] | None = None
    known = True
    if cfg.name in BUNDLED_SHAPES:
        rows, feats, classes, image = BUNDLED_SHAPES[cfg.name]
    elif cfg.name == "csv":
        info = csv_info or {}
        rows = int(info.get("rows", 1000))
        feats = int(info.get("n_features", 2))
        classes = int(info.get("n_classes", 2))
        known = bool(info)
    else:
        rows, feats = cfg.n_samples, 2
        classes = cfg.centers if cfg.name in ("blobs", "spiral") else 2
    n_train = train_rows(rows, cfg.train_fraction)
    if cfg.subsample is not None:
        n_train = min(n_train, cfg.subsample)
    return {
        "n_features": feats,
        "n_classes": classes,
        "image_shape": image,
        "n_train": n_train,
        "known": known,
    }


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


def _synthetic(cfg: DatasetConfig) -> Dataset:
    from sklearn import datasets as skd

    n, seed = cfg.n_samples, cfg.seed
    noise = DEFAULT_NOISE[cfg.name] if cfg.noise is None else cfg.noise
    rng = np.random.default_rng(seed)
    n_classes = 2
    if cfg.name == "blobs":
        x, y = skd.make_blobs(
            n_samples=n, centers=cfg.centers, n_features=2, cluster_std=noise, random_state=seed
        )
        n_classes = cfg.centers
    elif cfg.name == "moons":
        x, y = skd.make_moons(n_samples=n, noise=noise, random_state=seed)
    elif cfg.name == "circles":
        x, y = skd.make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
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
    elif cfg.name == "gaussians":
        x, y = skd.make_blobs(
            n_samples=n,
            centers=np.array([[-1.0, -1.0], [1.0, 1.0]]),
            n_features=2,
            cluster_std=noise,
            random_state=seed,
        )
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


def _bundled(cfg: DatasetConfig) -> Dataset:
    from sklearn import datasets as skd

    loader = {
        "digits": skd.load_digits,
        "breast_cancer": skd.load_breast_cancer,
        "wine": skd.load_wine,
        "iris": skd.load_iris,
    }[cfg.name]
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
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
    names = getattr(bunch, "feature_names", None)
    feature_names = (
        tuple(str(f) for f in names) if names is not None else tuple(f"x{i}" for i in range(x.shape[1]))
    )
    return Dataset(
        cfg.name,
        x_tr.astype(np.float32),
        y_tr,
        x_va.astype(np.float32),
        y_va,
        int(len(bunch.target_names)),
        tuple(str(t) for t in bunch.target_names),
        feature_names,
        image_shape,
        note,
    )
