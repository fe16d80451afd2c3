"""Issue 11 (engine and command line): bad input of every kind gets a one-line answer, no
traceback, no lost work, no silently dropped data, and files are written safely."""

from __future__ import annotations

import csv
import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from optiscope.engine import events as ev
from optiscope.engine.cli import main
from optiscope.engine.config import ConfigError, DatasetConfig, load_toml, loads_toml
from optiscope.engine.data import DataError
from optiscope.engine.formats import format_csv
from optiscope.engine.store import RunStore, StoreError
from optiscope.engine.tabular import load_csv_dataset


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"optiscope {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        loads_toml(text, "exp.toml")
    return str(info.value)


SMALL = """
name = "small"
[base.dataset]
name = "blobs"
n_samples = 100
standardize = true
[base.training]
epochs = 2
batch_size = 25
"""


# --------------------------------------------------------------------------- 2.5 tracebacks
def test_variation_training_not_a_table_with_independent_seeds():
    msg = config_error("independent_seeds = true\n[[variations]]\ntraining = 5\n")
    assert "variations[0].training" in msg and "dictionary" in msg


@pytest.mark.parametrize("depth", [40, 400])
def test_deeply_nested_arrays_are_refused_in_words(depth):
    msg = config_error("[base]\nlabel = " + "[" * depth + "]" * depth + "\n")
    assert "nested" in msg and "32" in msg


@pytest.mark.parametrize(
    "section",
    [
        '[base.schedule]\nkind = "cyclic"\nstep_size = 2147483648\n',
        '[base.schedule]\nkind = "cosine"\nt_max_steps = 2147483648\n',
        '[base.schedule]\nkind = "step"\nstep_epochs = 2147483648\n',
        '[base.schedule]\nkind = "constant"\nwarmup_steps = 9223372036854775807\n',
        '[base.schedule]\nkind = "constant"\nwarmup_steps = 2147483648\n',
        "[base.dataset]\nsubsample = 2147483648\n",
        '[base.schedule]\nkind = "plateau"\npatience = 2147483648\n',
    ],
)
def test_integers_above_int32_have_an_upper_bound(section):
    assert "less than or equal to" in config_error(section)


# --------------------------------------------------------------------------- 2.6 accepted nonsense
@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n"])
def test_an_empty_file_is_an_error(text):
    msg = config_error(text)
    assert "exp.toml is empty" in msg and "[base]" in msg


@pytest.mark.parametrize(
    "text, field",
    [
        ("[base.training]\nepochs = true\n", "base.training.epochs"),
        ('[base.optimizer]\nkind = "sgd"\nlr = true\n', "base.optimizer.lr"),
        ('independent_seeds = "yes"\n', "independent_seeds"),
        ("[base.training]\nepochs = 2.0\n", "base.training.epochs"),
        ('[base.training]\nseed = "3"\n', "base.training.seed"),
        ("[base]\nlabel = 5\n", "base.label"),
    ],
)
def test_types_are_strict(text, field):
    msg = config_error(text)
    assert field in msg and "valid" in msg


@pytest.mark.parametrize(
    "section",
    [
        '[base.optimizer]\nkind = "adagrad"\ninitial_accumulator_value = 1e308\n',
        '[base.schedule]\nkind = "cyclic"\nbase_lr = 1e-3\nmax_lr = 1e300\n',
        '[base.schedule]\nkind = "one_cycle"\nmax_lr = 1e300\n',
        '[base.schedule]\nkind = "one_cycle"\ndiv_factor = 1e300\n',
        '[base.schedule]\nkind = "cosine"\neta_min = 1e300\n',
        '[base.schedule]\nkind = "cosine_restarts"\neta_min = 1e300\n',
        '[base.schedule]\nkind = "plateau"\nmin_lr = 1e300\n',
        '[base.schedule]\nkind = "plateau"\nmin_delta = 1e300\n',
        "[base.regularization]\ngrad_clip = 1e300\n",
        "[base.training]\ndiverge_factor = 1e300\n",
        "[base.regularization.early_stopping]\nmin_delta = 1e300\n",
    ],
)
def test_every_rate_and_factor_has_an_upper_bound(section):
    assert "less than or equal to" in config_error(section)


def test_layer_count_is_limited():
    layers = ", ".join(['{ type = "dropout", p = 0.1 }'] * 200)
    msg = config_error(f"[base.model]\nlayers = [{layers}]\n")
    assert "base.model.layers" in msg and "at most 64" in msg


def test_parameter_count_is_limited_with_a_memory_estimate():
    layers = ", ".join(['{ type = "dense", units = 8192 }'] * 50)
    msg = config_error(f"[base.model]\nlayers = [{layers}]\n")
    assert "3,288,784,899 parameters" in msg and "parameters; the limit is 20,000,000" in msg and "GB" in msg
    assert "fewer or narrower layers" in msg


def test_variation_count_is_limited():
    text = SMALL + "".join(f"[[variations]]\noptimizer = {{ lr = {0.001 * (i + 1)} }}\n" for i in range(201))
    assert "variations: Tuple should have at most 200 items" in config_error(text)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_cuda_device_is_rejected_at_validation(tmp_path, capsys):
    p = tmp_path / "gpu.toml"
    p.write_text(SMALL.replace("epochs = 2", 'epochs = 2\ndevice = "cuda"'))
    rc, out, err = cli(capsys, "validate", p)
    line = one_line_error(err, "validate")
    assert rc == 2 and str(p) in line and "no CUDA GPU" in line and "'auto' or 'cpu'" in line


# --------------------------------------------------------------------------- 2.7 messages
def test_a_nan_error_names_the_file(tmp_path):
    p = tmp_path / "nan.toml"
    p.write_text('[base.optimizer]\nkind = "sgd"\nlr = nan\n')
    with pytest.raises(ConfigError) as info:
        load_toml(p)
    assert str(info.value).startswith(f"{p}: base.optimizer.lr: nan is not a finite number")


def test_warnings_go_to_stderr(tmp_path, capsys):
    p = tmp_path / "two.toml"
    p.write_text(
        SMALL
        + '[[variations]]\nlabel = "wild"\noptimizer = { lr = 40.0 }\n'
        + '[[variations]]\nlabel = "calm"\noptimizer = { lr = 0.01 }\n'
        + '[[variations]]\nlabel = "alone"\ntraining = { batch_size = 10 }\n'
    )
    rc, out, err = cli(capsys, "run", p, "--out", tmp_path / "out")
    assert rc == 0
    assert "diverged at step" in err and "batched together" in err and "not batched" in err
    assert out == ""  # nothing but results on stdout, and this command prints none


# --------------------------------------------------------------------------- 2.1 --out
@pytest.mark.parametrize("command", ["run", "lr-find", "surface"])
@pytest.mark.parametrize("where", ["file", "impossible", "unwritable"])
def test_a_bad_out_is_refused_before_any_training(tmp_path, capsys, monkeypatch, command, where):
    import optiscope.engine.runner as runner

    def no_training(*a, **k):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(runner, "execute", no_training)
    monkeypatch.setattr("optiscope.engine.lrfind.lr_find", no_training)
    out = {
        "file": tmp_path / "taken.txt",
        "impossible": Path("/dev/null/results"),
        "unwritable": Path("/proc"),
    }[where]
    (tmp_path / "taken.txt").write_text("keep me")
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    rc, _, err = cli(capsys, command, p, "--out", out)
    line = one_line_error(err, command)
    assert rc == 2 and f"--out {out}" in line
    assert (tmp_path / "taken.txt").read_text() == "keep me"


def test_a_failure_while_writing_results_keeps_the_runs_and_says_how_to_export(tmp_path, capsys, monkeypatch):
    import optiscope.engine.runner as runner

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner, "atomic_write_text", full_disk)
    p = tmp_path / "two.toml"
    p.write_text(
        SMALL + "[[variations]]\noptimizer = { lr = 0.01 }\n[[variations]]\noptimizer = { lr = 0.02 }\n"
    )
    rc, _, err = cli(capsys, "run", p, "--out", tmp_path / "out", "--quiet")
    line = one_line_error(err, "run")
    assert rc == 1 and "No space left on device" in line
    runs = RunStore().list_runs()
    ids = [r.id for r in runs]
    assert [r.status for r in runs] == ["completed", "completed"] and [r.epochs_done for r in runs] == [2, 2]
    command = f"optiscope runs export {' '.join(map(str, ids))} --out FILE.csv"
    assert command in line
    monkeypatch.undo()
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    rc, _, _ = cli(capsys, *command.replace("FILE.csv", str(tmp_path / "kept.csv")).split()[1:])
    assert rc == 0 and len((tmp_path / "kept.csv").read_text().splitlines()) == 1 + 4


# --------------------------------------------------------------------------- 2.2 / 2.3 CSV
def csv_file(tmp_path: Path, rows: list[str], name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text("a,b,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return p


def sixty_rows() -> list[str]:
    return [f"{i * 0.1:.1f},{(i % 7) * 0.3:.1f},{'yes' if i % 2 else 'no'}" for i in range(60)]


def load(path: Path, target: str = "label") -> object:
    return load_csv_dataset(DatasetConfig(name="csv", path=str(path), target=target))


def test_an_unterminated_quote_is_reported_with_its_line(tmp_path):
    rows = sixty_rows()
    rows[5] = '0.5,0.6,"yes'  # file line 7 (the header is line 1)
    with pytest.raises(DataError) as info:
        load(csv_file(tmp_path, rows))
    msg = str(info.value)
    assert "line 7: a quoted field runs over 54 line end(s), to line 61" in msg and "quote" in msg


def test_a_quoted_field_over_two_lines_mid_file(tmp_path):
    rows = sixty_rows()
    rows[9] = '1.0,2.0,"ye'
    rows[10] = 's"'
    with pytest.raises(DataError, match="line 11: a quoted field runs over 1 line"):
        load(csv_file(tmp_path, rows))


@pytest.mark.parametrize("value", ["3.5e38", "1e100", "-1e39"])
def test_values_beyond_float32_are_rejected_with_column_and_line(tmp_path, value):
    rows = sixty_rows()
    rows[20] = f"1.0,{value},yes"
    with pytest.raises(DataError) as info:
        load(csv_file(tmp_path, rows))
    msg = str(info.value)
    assert "column 'b', line 22" in msg and "32-bit" in msg and value not in msg


def test_large_values_within_float32_standardise_without_overflow(tmp_path):
    rows = [f"{(i % 5) * 1e37:.3g},{i * 0.1:.1f},{i % 2}" for i in range(60)]
    ds = load(csv_file(tmp_path, rows))
    import numpy as np

    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_val).all()
    assert len(ds.y_train) + len(ds.y_val) == 60


# --------------------------------------------------------------------------- 3.2 dataset.path
def test_dataset_path_is_relative_to_the_experiment_file(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "lesson"
    folder.mkdir()
    csv_file(folder, sixty_rows(), "data.csv")
    exp = folder / "exp.toml"
    exp.write_text(
        SMALL.replace('name = "blobs"\nn_samples = 100', 'name = "csv"\npath = "data.csv"\ntarget = "label"')
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_toml(Path("..") / "lesson" / "exp.toml").base.dataset.path == str(folder / "data.csv")
    rc, _, err = cli(capsys, "run", exp, "--out", "out", "--quiet", "--no-store")
    assert rc == 0, err
    assert (elsewhere / "out" / "metrics.csv").is_file()


@pytest.mark.parametrize(
    "content",
    [
        "SECRET-TOKEN-123\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
        "export API_KEY=SECRET, other\nrm -rf /tmp/x\n",
        "root:x:0:0:SECRET:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    ],
)
def test_errors_echo_nothing_of_a_file_that_is_not_a_csv_table(tmp_path, content):
    p = tmp_path / "not-a-table"
    p.write_text(content)
    with pytest.raises(DataError) as info:
        load(p, target="y")
    msg = str(info.value)
    assert msg.startswith(f"{p}: ")
    said = msg[len(str(p)) :]
    assert "SECRET" not in said and "BEGIN" not in said and "root" not in said, msg


def test_a_real_csv_header_is_still_listed(tmp_path):
    with pytest.raises(DataError, match="the columns are: a, b, label"):
        load(csv_file(tmp_path, sixty_rows()), target="kind")


# --------------------------------------------------------------------------- 1.7 store
def start_event(run: int = 0) -> ev.RunStarted:
    return ev.RunStarted(run, f"run {run}", "cpu", 10, 2, 4, 2, 3, {})


def epoch_event(run: int, epoch: int) -> ev.EpochEnd:
    return ev.EpochEnd(run, epoch, 2 * epoch, 0.01, 1.0, 0.5, 1.1, 0.4, 0.1)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runs_whose_process_is_gone_are_marked_interrupted_keeping_their_epochs():
    store = RunStore()
    dead, mine, other_host = (store.insert_run(start_event(i)) for i in range(3))
    for rid in (dead, mine, other_host):
        store.add_epoch(rid, epoch_event(rid, 1))
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (dead_pid(), dead))
        conn.execute(
            "UPDATE runs SET host = ? WHERE id = ?", (socket.gethostname() + "-elsewhere", other_host)
        )
    conn.close()
    store.close()
    again = RunStore()
    assert again.interrupted == [dead]
    status = {r.id: r.status for r in again.list_runs()}
    assert status == {dead: "interrupted", mine: "running", other_host: "running"}
    assert [m["epoch"] for m in again.load_run(dead).metrics] == [1]


def test_a_schema_1_store_is_upgraded_and_its_orphans_marked(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, experiment TEXT NOT NULL"
        " DEFAULT '', label TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, device TEXT, n_params INTEGER,"
        " epochs_planned INTEGER, epochs_done INTEGER NOT NULL DEFAULT 0, steps INTEGER NOT NULL DEFAULT 0,"
        " seconds REAL, error TEXT, config TEXT NOT NULL DEFAULT '{}');"
        "INSERT INTO runs (created, label, status) VALUES (1.0, 'old', 'running');"
        "PRAGMA user_version = 1;"
    )
    conn.close()
    store = RunStore(path)
    assert [(r.label, r.status) for r in store.list_runs()] == [("old", "interrupted")]


def test_a_store_on_read_only_media_can_still_be_listed(tmp_path, capsys, monkeypatch):
    path = tmp_path / "media" / "runs.sqlite3"
    store = RunStore(path)
    rid = store.insert_run(start_event())
    store.add_epoch(rid, epoch_event(0, 1))
    store.close()
    before = sorted(p.name for p in path.parent.iterdir())
    data = path.read_bytes()
    real_access = os.access

    def read_only_media(p, mode, *a, **k):  # what the OS says of a read-only mount
        if mode & os.W_OK and str(p).startswith(str(path.parent)):
            return False
        return real_access(p, mode, *a, **k)

    monkeypatch.setattr("optiscope.engine.store.os.access", read_only_media)
    ro = RunStore(path)
    assert ro.read_only
    assert [r.label for r in ro.list_runs()] == ["run 0"]
    assert [m["epoch"] for m in ro.load_run(rid).metrics] == [1]
    with pytest.raises(StoreError, match="read-only"):
        ro.delete_run(rid)
    rc, out, err = cli(capsys, "runs", "--store", path, "list")
    assert rc == 0 and "run 0" in out
    rc, _, err = cli(capsys, "runs", "--store", path, "delete", str(rid))
    assert rc == 2 and "read-only" in one_line_error(err, "runs")
    ro.close()
    assert path.read_bytes() == data and sorted(p.name for p in path.parent.iterdir()) == before


# --------------------------------------------------------------------------- 3.1 atomic writes
def test_atomic_writes_do_not_follow_a_planted_symlink(tmp_path):
    from optiscope.engine.files import atomic_write_text

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "metrics.csv"
    (tmp_path / f".metrics.csv.{os.getpid()}.tmp").symlink_to(victim)  # the old predictable name
    atomic_write_text(target, "a,b\n")
    assert victim.read_text() == "precious" and target.read_text() == "a,b\n"
    assert not target.is_symlink()
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600


def test_the_csv_cache_does_not_follow_a_planted_symlink(tmp_path):
    from optiscope.engine import tabular

    p = csv_file(tmp_path, sixty_rows())
    raw = p.read_bytes()
    cache = tabular.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = tabular._cache_key(raw, "label")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (cache / f"{key}.{os.getpid()}.tmp.npz").symlink_to(victim)  # the old predictable name
    load(p)
    assert victim.read_text() == "precious"
    assert (cache / f"{key}.npz").is_file()


# --------------------------------------------------------------------------- 3.3 formula injection
@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_formula_like_text_is_escaped(text):
    from optiscope.engine.formats import csv_text

    assert csv_text(text) == "'" + text and format_csv(text) == "'" + text


def test_plain_text_and_numbers_are_not_escaped():
    assert (
        format_csv("lr=0.1") == "lr=0.1"
        and format_csv(-1.5) == "-1.5"
        and format_csv(float("-inf")) == "-inf"
    )
    assert format_csv(-3) == "-3"


def test_every_csv_we_write_escapes_labels(tmp_path, capsys):
    p = tmp_path / "evil.toml"
    p.write_text(
        SMALL
        + "[[variations]]\nlabel = \"=cmd|' /C calc'!A0\"\n"
        + '[[variations]]\nlabel = "@SUM(1+1)"\noptimizer = { lr = 0.02 }\n'
    )
    rc, _, err = cli(capsys, "run", p, "--out", tmp_path / "out", "--quiet")
    assert rc == 0, err
    labels = {
        row["label"] for row in csv.DictReader((tmp_path / "out" / "metrics.csv").read_text().splitlines())
    }
    assert labels == {"'=cmd|' /C calc'!A0", "'@SUM(1+1)"}
    ids = [str(r.id) for r in RunStore().list_runs()]
    rc, _, _ = cli(capsys, "runs", "export", *ids, "--out", tmp_path / "export.csv")
    assert rc == 0
    assert {
        row["label"] for row in csv.DictReader((tmp_path / "export.csv").read_text().splitlines())
    } == labels
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["runs"][0]["label"] == "=cmd|' /C calc'!A0"  # JSON keeps the label as it is
