"""CSV import: the happy path, every error the issue lists, and the content-hash cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from optiscope.engine import tabular
from optiscope.engine.config import DatasetConfig
from optiscope.engine.data import DataError, load_dataset


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def table(n: int = 40, classes=("cat", "dog", "emu"), seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["height,weight,animal"]
    for i in range(n):
        c = classes[i % len(classes)]
        lines.append(f"{rng.normal(10 * (i % len(classes)), 1):.4f},{rng.normal(50, 5):.4f},{c}")
    return "\n".join(lines) + "\n"


def cfg(path: Path, target: str = "animal", **kw) -> DatasetConfig:
    return DatasetConfig(name="csv", path=str(path), target=target, **kw)


def error(c: DatasetConfig) -> str:
    with pytest.raises(DataError) as exc:
        load_dataset(c)
    return str(exc.value)


# --------------------------------------------------------------------------- happy path
def test_loads_splits_standardises_on_training_split(tmp_path):
    p = write(tmp_path, table(40))
    ds = load_dataset(cfg(p, train_fraction=0.75))
    assert ds.name == "csv"
    assert ds.class_names == ("cat", "dog", "emu")  # the original strings, sorted
    assert ds.feature_names == ("height", "weight")
    assert ds.n_classes == 3 and ds.n_features == 2
    assert len(ds.y_train) == 30 and len(ds.y_val) == 10
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(0), 1, atol=1e-4)
    assert abs(ds.x_val.mean()) > 1e-4  # validation uses the training statistics, not its own
    # labels follow their rows: 'height' separates the classes
    raw = np.loadtxt(p, delimiter=",", skiprows=1, usecols=0)
    assert ds.x_train[ds.y_train == 0, 0].max() < ds.x_train[ds.y_train == 2, 0].min()
    assert raw.shape == (40,)


def test_seeded_shuffle(tmp_path):
    p = write(tmp_path, table(40))
    a, b = load_dataset(cfg(p, seed=3)), load_dataset(cfg(p, seed=3))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    c = load_dataset(cfg(p, seed=4))
    assert not np.array_equal(a.y_train, c.y_train)


def test_numeric_labels_sorted_by_value_and_other_delimiters(tmp_path):
    text = "a;b;grade\n" + "".join(f"{i};{i % 3};{(10, 2, 1)[i % 3]}\n" for i in range(12))
    ds = load_dataset(cfg(write(tmp_path, text), target="grade"))
    assert ds.class_names == ("1", "2", "10")
    assert ds.feature_names == ("a", "b")


def test_standardize_false_keeps_raw_values(tmp_path):
    p = write(tmp_path, table(40))
    ds = load_dataset(cfg(p, standardize=False))
    raw = np.loadtxt(p, delimiter=",", skiprows=1, usecols=(0, 1))
    assert {tuple(r) for r in ds.x_train.round(3).tolist()} <= {
        tuple(r) for r in raw.astype(np.float32).round(3).tolist()
    }


def test_trains_end_to_end(tmp_path):
    import torch
    from optiscope.engine.config import RunConfig, TrainingConfig
    from optiscope.engine.trainer import train

    torch.set_num_threads(1)
    p = write(tmp_path, table(60))
    res = train(
        RunConfig(dataset=cfg(p, train_fraction=0.5), training=TrainingConfig(epochs=2, device="cpu"))
    )
    assert res.reason == "completed", res.error


# --------------------------------------------------------------------------- errors
def test_missing_file(tmp_path):
    msg = error(cfg(tmp_path / "nope.csv"))
    assert "nope.csv" in msg and "no such file" in msg and "--data" in msg


def test_folder_and_unreadable(tmp_path, monkeypatch):
    d = tmp_path / "dir.csv"
    d.mkdir()
    assert "folder" in error(cfg(d))
    p = write(tmp_path, table(10), "locked.csv")
    os.chmod(p, 0)
    if os.access(p, os.R_OK):  # running as root, permissions do not bite: simulate them

        def denied(path, limit):
            raise PermissionError(13, "Permission denied", str(path))

        from optiscope.engine import files

        monkeypatch.setattr(files, "read_limited", denied)  # the one reader of data files
    try:
        msg = error(cfg(p))
    finally:
        os.chmod(p, 0o644)
    assert "locked.csv" in msg and "permission denied" in msg and "readable" in msg


def test_not_utf8(tmp_path):
    p = tmp_path / "bin.csv"
    p.write_bytes(b"a,b,c\n\xff\xfe\x00,1,2\n")
    msg = error(cfg(p, target="c"))
    assert "bin.csv" in msg and "UTF-8" in msg


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    msg = error(cfg(write(tmp_path, text, "empty.csv")))
    assert "empty.csv" in msg and "empty" in msg and "header" in msg


def test_header_only(tmp_path):
    msg = error(cfg(write(tmp_path, "height,weight,animal\n")))
    assert "no data rows" in msg


def test_no_header(tmp_path):
    msg = error(cfg(write(tmp_path, "1.0,2.0,0\n3.0,4.0,1\n", "nohead.csv")))
    assert "nohead.csv" in msg and "no header" in msg and "line 1" in msg and "naming the columns" in msg


def test_no_header_with_string_labels(tmp_path):
    msg = error(cfg(write(tmp_path, "1.0,2.0,cat\n3.0,4.0,dog\n", "nohead2.csv")))
    assert "nohead2.csv" in msg and "no header" in msg and "1.0, 2.0, cat" in msg


def test_target_absent_lists_columns(tmp_path):
    msg = error(cfg(write(tmp_path, table(10)), target="species"))
    assert "'species'" in msg and "height, weight, animal" in msg and "--target" in msg
    assert "did you mean 'animal'" in error(cfg(write(tmp_path, table(10)), target="ANIMAL"))


def test_non_numeric_feature_names_column_line_and_value(tmp_path):
    text = table(10).splitlines()
    text[4] = "tall,51.0,dog"
    msg = error(cfg(write(tmp_path, "\n".join(text) + "\n", "words.csv")))
    assert "words.csv" in msg and "'height'" in msg and "line 5" in msg
    assert "tall" not in msg  # errors echo no cell values (only a real CSV's header)
    assert "not a number" in msg and "remove the column" in msg


def test_text_column_says_how_many_values_are_text(tmp_path):
    text = "city,size,label\n" + "".join(
        f"{c},{i},{i % 2}\n" for i, c in enumerate(["Paris", "Oslo", "7"] * 4)
    )
    msg = error(cfg(write(tmp_path, text), target="label"))
    assert "column 'city', line 2: the value is not a number (8 of 12 values in that column are not)" in msg
    assert "Paris" not in msg


def test_ragged_row(tmp_path):
    text = table(10).splitlines()
    text[3] = "1.0,2.0"
    msg = error(cfg(write(tmp_path, "\n".join(text) + "\n")))
    assert "line 4" in msg and "2 values" in msg and "3 columns" in msg


def test_missing_values_counted_and_drop_offered(tmp_path):
    text = table(30).splitlines()
    text[3] = "1.0,,cat"
    text[7] = "NA,50,dog"
    text[9] = "2.0,50,"  # missing label
    p = write(tmp_path, "\n".join(text) + "\n", "holes.csv")
    msg = error(cfg(p))
    assert "holes.csv" in msg and "3 of 30 rows" in msg and "missing" in msg
    assert "line 4" in msg and "'weight'" in msg
    assert "drop_missing = true" in msg and "--drop-missing" in msg
    ds = load_dataset(cfg(p, drop_missing=True))
    assert len(ds.y_train) + len(ds.y_val) == 27
    assert "Dropped 3 rows with missing values" in ds.note
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_val).all()


def test_single_class(tmp_path):
    msg = error(cfg(write(tmp_path, table(10, classes=("cat",)), "one.csv")))
    assert "one.csv" in msg and "single class" in msg and "--target" in msg
    assert "cat" not in msg.split("one.csv")[-1]  # no label values echoed


def test_fewer_rows_than_twice_the_classes(tmp_path):
    msg = error(cfg(write(tmp_path, table(5, classes=("a", "b", "c")), "tiny.csv")))
    assert "tiny.csv" in msg and "5 rows for 3 classes" in msg and "at least 6" in msg


def test_continuous_target_hint(tmp_path):
    text = "x,price\n" + "".join(f"{i},{i * 1.5}\n" for i in range(10))
    msg = error(cfg(write(tmp_path, text), target="price"))
    assert "10 rows for 10 classes" in msg and "continuous" in msg


def test_cli_config_requires_path_and_target():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs both 'path'"):
        DatasetConfig(name="csv", target="y")


# --------------------------------------------------------------------------- cache
def test_cache_hit_after_first_parse(tmp_path, home):
    p = write(tmp_path, table(40))
    c = cfg(p)
    ds1, info1 = tabular.load_csv_dataset_timed(c)
    assert not info1.from_cache and "parsed; cached for next time" in info1.message()
    files = list((home / "cache" / "csv").glob("*.npz"))
    assert len(files) == 1
    ds2, info2 = tabular.load_csv_dataset_timed(c)
    assert (
        info2.from_cache
        and info2.message().startswith("loaded t.csv in ")
        and "(from cache)" in info2.message()
    )
    np.testing.assert_array_equal(ds1.x_train, ds2.x_train)
    np.testing.assert_array_equal(ds1.y_val, ds2.y_val)
    assert ds1.class_names == ds2.class_names and ds1.feature_names == ds2.feature_names


def test_cache_keyed_by_content_and_target(tmp_path, home):
    p = write(tmp_path, table(40))
    tabular.load_csv_dataset_timed(cfg(p))
    # the same bytes under another name hit the cache; changed bytes do not
    q = write(tmp_path, table(40), "copy.csv")
    assert tabular.load_csv_dataset_timed(cfg(q))[1].from_cache
    write(tmp_path, table(40, seed=1))
    assert not tabular.load_csv_dataset_timed(cfg(p))[1].from_cache
    # another target column is another parse
    text = "a,b,c\n" + "".join(f"{i},{i % 2},{i % 3}\n" for i in range(12))
    r = write(tmp_path, text, "abc.csv")
    assert not tabular.load_csv_dataset_timed(cfg(r, target="b"))[1].from_cache
    assert not tabular.load_csv_dataset_timed(cfg(r, target="c"))[1].from_cache
    assert tabular.load_csv_dataset_timed(cfg(r, target="b"))[1].from_cache


def test_corrupt_cache_entry_is_ignored_and_rewritten(tmp_path, home):
    p = write(tmp_path, table(40))
    good, _ = tabular.load_csv_dataset_timed(cfg(p))
    (entry,) = (home / "cache" / "csv").glob("*.npz")
    entry.write_bytes(b"this is not an npz file")
    ds, info = tabular.load_csv_dataset_timed(cfg(p))
    assert not info.from_cache
    np.testing.assert_array_equal(ds.x_train, good.x_train)
    assert tabular.load_csv_dataset_timed(cfg(p))[1].from_cache  # rewritten
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    assert not tabular.load_csv_dataset_timed(cfg(p))[1].from_cache


def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("OPTISCOPE_HOME", str(blocker))
    ds, info = tabular.load_csv_dataset_timed(cfg(write(tmp_path, table(20))))
    assert not info.from_cache and "not cached" in info.message()
    assert ds.n_classes == 3


def test_parse_errors_are_not_cached_and_data_errors_repeat_from_cache(tmp_path, home):
    bad = write(tmp_path, "a,b\n1,x\n2,y\n", "bad.csv")
    assert "not a number" in error(cfg(bad, target="a"))
    assert not list((home / "cache" / "csv").glob("*.npz"))
    p = write(tmp_path, table(10, classes=("cat",)))
    assert "single class" in error(cfg(p))
    assert tabular.read_table(p, "animal")[1].from_cache  # parsed table cached ...
    assert "single class" in error(cfg(p))  # ... and the class check still applies


def test_cache_keeps_the_most_recently_used_entries(tmp_path, home, monkeypatch):
    monkeypatch.setattr(tabular, "CACHE_ENTRIES", 2)
    paths = [write(tmp_path, table(12, seed=i), f"t{i}.csv") for i in range(3)]
    entry = [home / "cache" / "csv" / f"{tabular._cache_key(p.read_bytes(), 'animal')}.npz" for p in paths]
    for p in paths[:2]:
        tabular.load_csv_dataset_timed(cfg(p))
    os.utime(entry[0], (1, 1))
    os.utime(entry[1], (2, 2))
    assert tabular.load_csv_dataset_timed(cfg(paths[0]))[1].from_cache  # a hit: t0 is the newest now
    tabular.load_csv_dataset_timed(cfg(paths[2]))  # a third entry: the least recently used (t1) goes
    assert sorted(f.name for f in (home / "cache" / "csv").glob("*.npz")) == sorted(
        [entry[0].name, entry[2].name]
    )
