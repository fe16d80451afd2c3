"""Datasets: the studies' blobs exactly, every synthetic generator, the bundled sets."""

from __future__ import annotations

import numpy as np
import pytest
from optiscope.engine.config import SYNTHETIC_DATASETS, DatasetConfig
from optiscope.engine.data import load_dataset
from sklearn.datasets import make_blobs


def test_default_is_the_studies_blobs_exactly():
    ds = load_dataset(DatasetConfig())
    x, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)
    np.testing.assert_allclose(ds.x_train, x[:500].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, y[:500])
    np.testing.assert_allclose(ds.x_val, x[500:].astype(np.float32))
    np.testing.assert_array_equal(ds.y_val, y[500:])
    assert ds.n_classes == 3 and ds.is_2d and ds.image_shape is None


@pytest.mark.parametrize("name", SYNTHETIC_DATASETS)
def test_synthetic_sets(name):
    c = DatasetConfig(name=name, n_samples=200, train_fraction=0.7, seed=5)
    ds = load_dataset(c)
    assert ds.x_train.shape == (140, 2) and ds.x_val.shape == (60, 2)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_val]))) == set(range(ds.n_classes))
    again = load_dataset(c)
    np.testing.assert_array_equal(ds.x_train, again.x_train)  # deterministic for a seed
    other = load_dataset(c.model_copy(update={"seed": 6}))
    assert not np.array_equal(ds.x_train, other.x_train)
    noisier = load_dataset(c.model_copy(update={"noise": 1.5}))
    assert not np.array_equal(ds.x_train, noisier.x_train)


def test_class_count_for_blobs_and_spiral():
    assert load_dataset(DatasetConfig(name="blobs", centers=5, n_samples=100)).n_classes == 5
    ds = load_dataset(DatasetConfig(name="spiral", centers=4, n_samples=101))
    assert ds.n_classes == 4
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_val]))
    assert counts.max() - counts.min() <= 1


def test_standardize_option_uses_training_statistics():
    ds = load_dataset(DatasetConfig(name="moons", n_samples=200, standardize=True))
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(0), 1, atol=1e-4)


@pytest.mark.parametrize("name, classes, features", [
    ("digits", 10, 64), ("breast_cancer", 2, 30), ("wine", 3, 13), ("iris", 3, 4),
])  # fmt: skip
def test_bundled_sets(name, classes, features):
    ds = load_dataset(DatasetConfig(name=name, train_fraction=0.8))
    assert ds.n_classes == classes and ds.n_features == features
    assert len(ds.class_names) == classes and len(ds.feature_names) == features
    assert set(np.unique(ds.y_train)) == set(range(classes))  # shuffled before the split (iris is sorted)
    if name == "digits":
        assert ds.image_shape == (1, 8, 8)
        assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    else:
        np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-4)


def test_subsample_cuts_training_set_only():
    ds = load_dataset(DatasetConfig(subsample=20))
    full = load_dataset(DatasetConfig())
    assert len(ds.y_train) == 20 and len(ds.y_val) == 500
    np.testing.assert_array_equal(ds.x_train, full.x_train[:20])
    assert "first 20" in ds.note
