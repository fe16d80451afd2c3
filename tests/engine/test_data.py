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


@pytest.mark.parametrize(
    "name, classes, features",
    [
        ("digits", 10, 64),
        ("breast_cancer", 2, 30),
        ("wine", 3, 13),
        ("iris", 3, 4),
    ],
)
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


@pytest.mark.parametrize(
    "cfg",
    [
        DatasetConfig(),
        DatasetConfig(name="moons", n_samples=1001, train_fraction=0.5),  # 500.5: the rounding case
        DatasetConfig(name="spiral", n_samples=333, centers=4, train_fraction=0.3),
        DatasetConfig(name="xor", n_samples=21, train_fraction=0.99),  # clamped: one validation row
        DatasetConfig(name="blobs", n_samples=400, subsample=37),
        *(DatasetConfig(name=n, train_fraction=0.55) for n in ("digits", "breast_cancer", "wine", "iris")),
    ],
    ids=lambda c: f"{c.name}-{c.n_samples}-{c.train_fraction}",
)
def test_dataset_shape_matches_the_loaded_set(cfg):
    """The shape known from the config alone is the one the real split produces."""
    from optiscope.engine.data import dataset_shape

    shape = dataset_shape(cfg)
    ds = load_dataset(cfg)
    assert shape["known"]
    assert (shape["n_features"], shape["n_classes"], shape["image_shape"], shape["n_train"]) == (
        ds.n_features,
        ds.n_classes,
        ds.image_shape,
        len(ds.y_train),
    )


def test_dataset_shape_of_a_csv_needs_its_preview():
    from optiscope.engine.data import dataset_shape

    cfg = DatasetConfig(name="csv", path="x.csv", target="y", train_fraction=0.5)
    assert dataset_shape(cfg)["known"] is False
    shape = dataset_shape(cfg, {"rows": 11, "n_features": 5, "n_classes": 4})
    assert shape["known"] and (shape["n_features"], shape["n_classes"], shape["n_train"]) == (5, 4, 6)
    assert shape["n_train"] == round(11 * 0.5)  # Python rounds 5.5 to the even 6


@pytest.mark.parametrize(
    "layers, data",
    [
        ([{"type": "dense", "units": 7}], DatasetConfig()),
        (
            [
                {"type": "dense", "units": 16, "activation": "linear"},
                {"type": "batchnorm", "activation": "relu"},
                {"type": "dropout", "p": 0.2},
                {"type": "dense", "units": 5, "activation": "tanh"},
            ],
            DatasetConfig(name="wine"),
        ),
        (
            [
                {"type": "conv2d", "filters": 4, "kernel": 3},
                {"type": "batchnorm"},
                {"type": "maxpool", "size": 2},
                {"type": "conv2d", "filters": 6, "kernel": 5},
                {"type": "flatten"},
                {"type": "dense", "units": 12},
            ],
            DatasetConfig(name="digits"),
        ),
        ([{"type": "conv2d", "filters": 3, "kernel": 1}], DatasetConfig(name="digits")),
    ],
)
def test_param_count_equals_the_built_model(layers, data):
    """Counted from the config alone (no torch) = torch's own count of the built network."""
    from optiscope.engine.config import ModelConfig
    from optiscope.engine.data import dataset_shape
    from optiscope.engine.models import build_model, param_count

    model = ModelConfig(layers=layers)
    shape = dataset_shape(data)
    built = build_model(model, shape["n_features"], shape["n_classes"], shape["image_shape"])
    expected = sum(p.numel() for p in built.parameters())
    assert param_count(model, shape["n_features"], shape["n_classes"], shape["image_shape"]) == expected


def test_param_count_explains_a_map_pooled_to_nothing():
    from optiscope.engine.config import ModelConfig
    from optiscope.engine.models import param_count

    model = ModelConfig(layers=[{"type": "maxpool", "size": 4}, {"type": "maxpool", "size": 4}])
    with pytest.raises(ValueError, match="leaves nothing"):
        param_count(model, 64, 10, (1, 8, 8))


def _load_in_fresh_process(home, code: str) -> tuple[list[str], dict]:
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\nfrom optiscope.engine.config import DatasetConfig\n"
        "from optiscope.engine.data import load_dataset\n" + code + "\n"
        "print(json.dumps({'mods': sorted(sys.modules), 'x': ds.x_train.tolist(), 'y': ds.y_val.tolist(),"
        " 'names': ds.class_names}))\n"
    )
    env = {**os.environ, "OPTISCOPE_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    return [m for m in out.pop("mods") if m == "sklearn" or m.startswith("sklearn.")], out


@pytest.mark.parametrize(
    "code",
    [
        "ds = load_dataset(DatasetConfig(name='moons', n_samples=300, seed=4))",
        "ds = load_dataset(DatasetConfig(name='wine'))",
    ],
)
def test_generated_sets_are_cached_and_reused_without_scikit_learn(tmp_path, code):
    """The second load reads the cache: the same numbers, and scikit-learn is not imported."""
    sk_first, first = _load_in_fresh_process(tmp_path, code)
    assert sk_first  # the first load really generated it
    assert len(list((tmp_path / "cache" / "datasets").glob("*.npz"))) == 1
    sk_again, again = _load_in_fresh_process(tmp_path, code)
    assert sk_again == [] and again == first


def test_cached_set_equals_scikit_learns_and_a_damaged_entry_is_rebuilt(tmp_path, monkeypatch):
    from optiscope.engine.data import cache_dir

    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path))
    cfg = DatasetConfig(name="blobs", n_samples=400, centers=4, noise=1.5, seed=9, train_fraction=0.25)
    x, y = make_blobs(n_samples=400, centers=4, n_features=2, cluster_std=1.5, random_state=9)
    for _ in range(2):  # generated, then from the cache
        ds = load_dataset(cfg)
        np.testing.assert_array_equal(ds.x_val, x[100:].astype(np.float32))
        np.testing.assert_array_equal(ds.y_train, y[:100])
    (entry,) = cache_dir().glob("*.npz")
    entry.write_bytes(b"not a zip file")
    np.testing.assert_array_equal(load_dataset(cfg).x_train, x[:100].astype(np.float32))
    assert np.load(entry)["x"].shape == (400, 2)  # written again
    other = load_dataset(cfg.model_copy(update={"seed": 10}))  # another key, another entry
    assert len(list(cache_dir().glob("*.npz"))) == 2 and not np.array_equal(other.x_train, ds.x_train)
