"""The :class:`Dataset` type and the split rules every dataset source shares.

:mod:`engine.data` (generated and bundled sets) and :mod:`engine.tabular` (CSV files)
both build on this module, so neither imports the other. Light: numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Dataset", "DataError", "train_rows", "split", "standardize"]


class DataError(ValueError):
    """A dataset could not be built or read; the message names the cause and the fix."""


@dataclass(frozen=True)
class Dataset:
    """Training and validation arrays: ``x`` float32 (N, F), ``y`` int64 class indices."""

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    n_classes: int
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    image_shape: tuple[int, int, int] | None = None
    note: str = ""

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def is_2d(self) -> bool:
        return self.n_features == 2 and self.image_shape is None


def train_rows(rows: int, train_fraction: float) -> int:
    """How many of ``rows`` examples go to training: ``round(rows * fraction)``, kept
    within 1 .. rows - 1 so both parts have at least one example. The one rounding rule
    (the real split and every estimate of its size use it)."""
    return min(max(int(round(rows * train_fraction)), 1), rows - 1)


def split(x: np.ndarray, y: np.ndarray, train_fraction: float) -> tuple[np.ndarray, ...]:
    """``x_train, y_train, x_val, y_val``: the first :func:`train_rows` rows train."""
    n_train = train_rows(len(y), train_fraction)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def standardize(x_train: np.ndarray, x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale with the training split's mean and std only (constant columns keep std 1)."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    return ((x_train - mean) / std).astype(np.float32), ((x_val - mean) / std).astype(np.float32)
