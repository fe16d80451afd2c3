"""Every input bounded and checked before the work; nothing that is not Optiscope's is touched.

Files read whole (/dev/zero, FIFOs, huge files), integers past Python's 4,300-digit limit,
other people's files given as the run store, a read-only store, echoed values, terminal escape
sequences, formula cells in ``trials.csv`` and the lenient values of the misc list.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from optiscope.engine.cli import main
from optiscope.engine.config import ConfigError, load_toml
from optiscope.engine.recipe import parse_steps
from optiscope.engine.store import RunStore

BASE = """schema_version = 1
name = "tiny"
[base.dataset]
name = "blobs"
n_samples = 60
[base.training]
epochs = 2
device = "cpu"
"""


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith(f"optiscope {command}: error: "), lines[0][:300]
    return lines[0]


# --------------------------------------------------------------------------- 25.5 files read whole
def test_devices_pipes_and_huge_files_are_refused_without_reading_them(tmp_path, capsys):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)  # reading it would block for ever
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as fh:  # sparse: 64 MB of zeros that take no disk
        fh.truncate(64 * 1024**2)
    for path in ("/dev/zero", fifo, huge):
        rc, _, err = cli(capsys, "validate", path)
        assert rc == 2
        line = one_line(err, "validate")
        assert ("not a regular file" in line) or ("MB" in line and "more than" in line), line
    exp = tmp_path / "e.toml"
    exp.write_text(BASE)
    rc, _, err = cli(
        capsys, "search", exp, "--space", "/dev/zero", "--out", tmp_path / "o", "--storage", "memory:"
    )
    assert rc == 2 and "not a regular file" in one_line(err, "search")
    big_csv = tmp_path / "big.csv"
    with open(big_csv, "wb") as fh:
        fh.truncate(600 * 1024**2)
    for data in ("/dev/zero", big_csv):
        rc, _, err = cli(
            capsys, "run", exp, "--data", data, "--target", "y", "--out", tmp_path / "o2", "--no-store"
        )
        assert rc == 2, err
        line = one_line(err, "run")
        assert "not a regular file" in line or "more than" in line, line


# --------------------------------------------------------------------------- 25.6 long integers
@pytest.mark.parametrize("where", ["experiment", "lesson", "space"])
def test_integers_past_the_4300_digit_limit_are_one_line(tmp_path, capsys, where):
    digits = "9" * 5000
    with pytest.raises(ValueError):  # Python's own limit, the cause of the tracebacks
        int(digits)
    exp = tmp_path / "e.toml"
    if where == "experiment":
        exp.write_text(BASE.replace("epochs = 2", f"epochs = {digits}"))
    elif where == "lesson":
        exp.write_text(BASE + f"[classroom]\npace_seconds = {digits}\n")
    else:
        exp.write_text(BASE)
        (tmp_path / "s.toml").write_text(
            f'[search]\ntrials = {digits}\n[search.params]\n"optimizer.lr" = [0.1]\n'
        )
    if where == "space":
        rc, _, err = cli(capsys, "search", exp, "--space", tmp_path / "s.toml", "--out", tmp_path / "o")
        assert rc == 2 and "4,300 digits" in one_line(err, "search")
    else:
        rc, _, err = cli(capsys, "validate", exp)
        assert rc == 2 and "4,300 digits" in one_line(err, "validate")
    big = 2**80  # below the digit limit, far past any field: no arithmetic on it either
    exp.write_text(BASE.replace("epochs = 2", f"epochs = {big}"))
    rc, _, err = cli(capsys, "validate", exp)
    assert rc == 2 and "64 bits" in one_line(err, "validate")


def test_record_size_with_thousands_of_digits_is_one_line(tmp_path, capsys):
    rc, _, err = cli(
        capsys, "record", "--preset", "blobs-sgd", "--size", "9" * 5000 + "x720", "--out", tmp_path / "r.gif"
    )
    line = one_line(err, "record")
    assert rc == 2 and "--size must look like 1280x720" in line and len(line) < 200


# --------------------------------------------------------------------------- 25.7 / 25.8 other files
def test_a_text_file_given_as_the_store_is_never_renamed_or_replaced(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    for action in (["list"], ["show", "1"], ["export", "1", "--out", tmp_path / "x.csv"], ["delete", "1"]):
        rc, _, err = cli(capsys, "runs", "--store", notes, *action)
        assert rc == 2 and "not an Optiscope run store" in one_line(err, "runs")
    assert notes.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "notes.txt"] or sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["notes.txt"]


def _other_app_db(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, distance REAL, created REAL);"
        "CREATE TABLE shoes (id INTEGER PRIMARY KEY, name TEXT);"
        "INSERT INTO runs (distance, created) VALUES (5.2, 1.0);"
    )
    conn.close()
    return path.read_bytes()


def test_another_applications_database_is_never_written(tmp_path, capsys):
    db = tmp_path / "fitness.db"
    before = _other_app_db(db)
    for action in (["list"], ["delete", "1"]):
        rc, _, err = cli(capsys, "runs", "--store", db, *action)
        assert rc == 2 and "another application" in one_line(err, "runs")
    with pytest.raises(Exception, match="another application"):
        RunStore(db)  # the window's and the trainer's way in, too
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["fitness.db"]
    conn = sqlite3.connect(db)  # what sqlite3 itself reports: untouched
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert [r[1] for r in conn.execute("PRAGMA table_info(runs)")] == ["id", "distance", "created"]
    conn.close()


def test_our_stores_carry_the_application_id_and_read_commands_create_nothing(tmp_path, capsys):
    path = tmp_path / "mine.sqlite3"
    rc, out, _ = cli(capsys, "runs", "--store", path, "list")
    assert rc == 0 and "no stored runs" in out and not path.exists()
    RunStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x4F505453
    conn.close()


# --------------------------------------------------------------------------- 25.10 / 26.4 read-only store
def test_a_read_only_store_does_not_fail_the_runs(tmp_path, capsys, monkeypatch, home):
    RunStore().close()  # a store exists, then its media turn read-only
    real_access = os.access
    data_dir = str(home / "data")

    def read_only_media(p, mode, *a, **k):
        if mode & os.W_OK and str(p).startswith(data_dir):
            return False
        return real_access(p, mode, *a, **k)

    monkeypatch.setattr("optiscope.engine.store.os.access", read_only_media)
    exp = tmp_path / "e.toml"
    exp.write_text(BASE)
    rc, _, err = cli(capsys, "run", exp, "--out", tmp_path / "o", "--quiet")
    assert rc == 0, err
    warnings = [line for line in err.splitlines() if "read-only" in line]
    assert len(warnings) == 1 and "will not be stored" in warnings[0]
    with open(tmp_path / "o" / "metrics.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2  # both epochs trained and written


def test_recipe_with_a_read_only_store_reports_the_training_not_the_store(
    tmp_path, capsys, monkeypatch, home
):
    exp = tmp_path / "e.toml"
    exp.write_text(BASE)
    rc0, out0, _ = cli(capsys, "recipe", exp, "--no-store", "--steps", "2", "--out", tmp_path / "a")
    RunStore().close()
    real_access = os.access
    monkeypatch.setattr(
        "optiscope.engine.store.os.access",
        lambda p, mode, *a, **k: (
            False if mode & os.W_OK and str(p).startswith(str(home)) else real_access(p, mode)
        ),
    )
    rc1, out1, err1 = cli(capsys, "recipe", exp, "--steps", "2", "--out", tmp_path / "b")
    step = [line for line in out1.splitlines() if "step 2" in line]
    assert rc1 == rc0 and step == [line for line in out0.splitlines() if "step 2" in line], (out0, out1)
    assert "Inf/NaN" not in out1 and "read-only" in err1


# --------------------------------------------------------------------------- 25.11 one CSV writer
def test_trials_csv_escapes_formula_cells_as_metrics_csv_does(tmp_path, capsys):
    exp = tmp_path / "e.toml"
    exp.write_text(BASE.replace("epochs = 2", "epochs = 1"))
    space = tmp_path / "s.toml"
    space.write_text(
        '[search]\ntrials = 2\nsampler = "grid"\n[search.params]\n"label" = { choices = ["=cmd|calc", "+SUM(A1)"] }\n'
    )
    rc, _, err = cli(capsys, "search", exp, "--space", space, "--out", tmp_path / "o", "--storage", "memory:")
    assert rc == 0, err
    with open(tmp_path / "o" / "trials.csv", newline="") as fh:
        labels = sorted(row["label"] for row in csv.DictReader(fh))
    assert labels == ["'+SUM(A1)", "'=cmd|calc"]  # OWASP: a leading quote keeps it text


# --------------------------------------------------------------------------- 26.6 / 26.7 messages
def test_errors_cut_echoed_values_and_escape_control_characters(tmp_path, capsys):
    exp = tmp_path / "e.toml"
    exp.write_text(BASE.replace('name = "tiny"', 'name = "' + "n" * 3_000_000 + '"'))
    rc, _, err = cli(capsys, "validate", exp)
    assert rc == 2 and len(one_line(err, "validate")) < 400
    exp.write_text(
        BASE.replace(
            "[base.dataset]", '[base]\nlabel = "\\u001b]0;pwned\\u0007\\u001b[2Jrun\\nforged"\n[base.dataset]'
        )
    )
    rc, out, err = cli(capsys, "validate", exp)
    assert rc == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwned" in out
    assert len(out.strip().splitlines()) == 2  # the newline in the label forges no line
    assert load_toml(exp).base.label.startswith("\x1b")  # the label itself is kept as written


def test_study_names_are_printed_escaped_in_runs_list(tmp_path, capsys, home):
    import optuna
    from optiscope.engine.search import SearchError, default_storage_url, open_study

    evil = "evil\nforged study\x1b[2J"
    with pytest.raises(SearchError, match="control characters"):  # a search makes no such name
        open_study(None, evil, "best_val_loss")
    (home / "data").mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(default_storage_url())  # another tool (or an older Optiscope) did
    optuna.create_study(storage=storage, study_name=evil)
    storage.engine.dispose()
    rc, out, _ = cli(capsys, "runs", "list")
    assert rc == 0 and "\x1b" not in out and "evil\\x0aforged study\\x1b[2J" in out
    assert not any(line.startswith("forged study") for line in out.splitlines())


def test_misleading_storage_urls_are_named(tmp_path):
    from optiscope.engine.search import SearchError, open_study

    for url, words in (
        (f"sqlite:///{tmp_path / 's.db'}?mode=ro", "has options"),
        ("journal:/dev/null", "not a regular file"),
        (f"sqlite:///{tmp_path}", "not a file"),
    ):
        with pytest.raises(SearchError, match=words):
            open_study(url, "s", "best_val_loss")
    with pytest.raises(SearchError, match="1 to 200 characters"):
        open_study("memory:", "x" * 600, "best_val_loss")
    assert sorted(p.name for p in tmp_path.iterdir()) in (["home"], [])  # nothing made


# --------------------------------------------------------------------------- 26.8 misc
def test_csv_labels_with_unicode_line_separators_keep_every_row(tmp_path):
    from optiscope.engine.config import DatasetConfig
    from optiscope.engine.tabular import load_csv_dataset

    rows = ["a,b,kind"]
    seps = ["\u2028", "\f", "\v", "\x85", "\x1e"]
    for i in range(40):
        rows.append(f"{i % 5},{i % 7},k{seps[i % 5]}{i % 3}")
    path = tmp_path / "sep.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with open(path, newline="", encoding="utf-8") as fh:
        assert len(list(csv.reader(fh))) == 41  # the csv module's own count
    ds = load_csv_dataset(DatasetConfig(name="csv", path=str(path), target="kind"))
    assert len(ds.y_train) + len(ds.y_val) == 40


@pytest.mark.parametrize("text", ["1-", "1,1,1", "\u0663", "1-2,2", "-", "1--2", "1-5,"])
def test_recipe_steps_are_strict(text):
    with pytest.raises(ValueError, match="--steps"):
        parse_steps(text)


def test_recipe_steps_still_read_the_documented_forms():
    assert parse_steps("1-2") == (1, 2) and parse_steps("1,2,5") == (1, 2, 5) and parse_steps(" 3 ") == (3,)


def test_a_lesson_pace_given_as_text_is_refused(tmp_path):
    exp = tmp_path / "e.toml"
    exp.write_text(BASE + '[classroom]\npace_seconds = "30"\n')
    with pytest.raises(ConfigError, match="pace_seconds"):
        load_toml(exp)
    exp.write_text(BASE + "[classroom]\npace_seconds = 30\n")
    assert load_toml(exp).classroom.pace_seconds == 30.0


def test_lesson_observations_are_bounded(tmp_path):
    obs = "".join(f'[[classroom.observe]]\nkind = "threshold"\nvalue = 0.{i % 9 + 1}\n' for i in range(300))
    exp = tmp_path / "e.toml"
    exp.write_text(BASE + "[classroom]\n" + obs)
    with pytest.raises(ConfigError, match="at most 24"):
        load_toml(exp)


def test_deeply_nested_search_space_is_one_line(tmp_path, capsys):
    exp = tmp_path / "e.toml"
    exp.write_text(BASE)
    space = tmp_path / "deep.toml"
    space.write_text("[search]\nparams = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")
    rc, _, err = cli(capsys, "search", exp, "--space", space, "--out", tmp_path / "o", "--storage", "memory:")
    assert rc == 2 and "Traceback" not in err
    one_line(err, "search")


# --------------------------------------------------------------------------- 26.5 bounds
def test_lr_find_iterations_and_surface_extent_are_bounded(tmp_path, capsys):
    rc, _, err = cli(
        capsys, "lr-find", "--preset", "blobs-sgd", "--iterations", "100000000", "--out", tmp_path / "o"
    )
    assert rc == 2 and "--iterations must be from 2 to 10000" in one_line(err, "lr-find")
    for extent in ("1e-12", "1e-20"):
        rc, _, err = cli(
            capsys, "surface", "--preset", "blobs-sgd", "--extent", extent, "--out", tmp_path / "o"
        )
        assert rc == 2 and "--extent must be from 0.001 to 100" in one_line(err, "surface")
    assert not (tmp_path / "o").exists()  # refused before anything was made


def test_record_refuses_a_gif_that_cannot_fit_in_memory_before_training(tmp_path):
    out = tmp_path / "big.gif"
    proc = subprocess.run(
        [sys.executable, "-m", "optiscope.engine.cli", "record", "--preset", "blobs-sgd"]
        + ["--size", "3840x2160", "--fps", "60", "--seconds", "120", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "GiB of memory" in one_line(proc.stderr, "record") and "training" not in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_model_that_pools_a_map_to_nothing_is_refused_by_validate(tmp_path, capsys):
    import torch

    with pytest.raises(RuntimeError):  # torch's own verdict on pooling a 2x2 map by 4
        torch.nn.MaxPool2d(4)(torch.zeros(1, 1, 2, 2))
    exp = tmp_path / "pool.toml"
    exp.write_text(
        'schema_version = 1\nname = "pool"\n[base.dataset]\nname = "digits"\n[base.model]\n'
        'layers = [{type="conv2d"}, {type="maxpool", size=4}, {type="maxpool", size=4}, {type="flatten"}]\n'
    )
    rc, _, err = cli(capsys, "validate", exp)
    assert rc == 2 and "leaves nothing" in one_line(err, "validate")
