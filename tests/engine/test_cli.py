"""The headless CLI end to end: result files, the run store, CSV data and bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from optiscope.engine.cli import main
from optiscope.engine.config import load_toml
from optiscope.engine.runner import METRIC_COLUMNS, STEP_COLUMNS
from optiscope.engine.store import RunStore

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


EXPERIMENT = """
schema_version = 1
name = "two-lrs"
description = "two learning rates"
[base.training]
epochs = 2
device = "cpu"
[[variations]]
label = "slow"
optimizer = { lr = 0.01 }
[[variations]]
label = "fast"
optimizer = { lr = 0.1 }
"""


def test_preset_end_to_end_in_a_subprocess(tmp_path, home):
    out = tmp_path / "out"
    env = {**os.environ, "OPTISCOPE_HOME": str(home)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "optiscope.engine.cli",
            "run",
            "--preset",
            "blobs-sgd",
            "--epochs",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    m = rows(out / "metrics.csv")
    assert tuple(m[0]) == METRIC_COLUMNS
    assert [r[2] for r in m[1:]] == ["1", "2", "3"] and {r[0] for r in m[1:]} == {"0"}
    assert all(0.0 <= float(r[METRIC_COLUMNS.index("val_acc")]) <= 1.0 for r in m[1:])
    s = rows(out / "steps.csv")
    assert tuple(s[0]) == STEP_COLUMNS
    assert len(s) - 1 == 3 * 16  # 500 training points, batch 32
    assert [r[2] for r in s[1:]][::16] == ["1", "2", "3"]
    summary = json.loads((out / "summary.json").read_text())
    (r,) = summary["runs"]
    assert r["reason"] == "completed" and r["epochs"] == 3 and r["steps"] == 48
    assert r["final"]["val_acc"] == float(m[-1][METRIC_COLUMNS.index("val_acc")])
    assert r["config"]["training"]["epochs"] == 3
    exp = load_toml(out / "config.toml")
    assert exp.base.training.epochs == 3 and exp.name == "blobs-sgd"
    assert "stored as run 1" in proc.stderr
    assert [x.status for x in RunStore().list_runs()] == ["completed"]
    assert not list(out.glob("*.tmp"))


def test_experiment_file_with_variations_and_store(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    rc, _, err = run_cli(capsys, "run", str(cfg), "--out", str(tmp_path / "o"), "--seed", "4")
    assert rc == 0, err
    m = rows(tmp_path / "o" / "metrics.csv")
    assert [(r[0], r[1], r[2]) for r in m[1:]] == [
        ("0", "slow", "1"),
        ("0", "slow", "2"),
        ("1", "fast", "1"),
        ("1", "fast", "2"),
    ]
    runs = RunStore().list_runs()
    assert [(r.label, r.experiment, r.status) for r in runs] == [
        ("slow", "two-lrs", "completed"),
        ("fast", "two-lrs", "completed"),
    ]
    assert RunStore().load_run(runs[0].id).config["training"]["seed"] == 4
    assert "stored as run 1-2" in err


def test_no_store(tmp_path, capsys, home):
    rc, _, err = run_cli(
        capsys, "run", "--preset", "blobs-sgd", "--epochs", "1", "--out", str(tmp_path / "o"), "--no-store"
    )
    assert rc == 0, err
    assert not (home / "data" / "runs.sqlite3").exists()
    assert "stored as" not in err


def test_store_unavailable_warns_and_runs(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    monkeypatch.setenv("OPTISCOPE_HOME", str(blocker))
    rc, _, err = run_cli(
        capsys, "run", "--preset", "blobs-sgd", "--epochs", "1", "--out", str(tmp_path / "o")
    )
    assert rc == 0
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "run store unavailable" in warnings[0] and "continuing" in warnings[0]
    assert (tmp_path / "o" / "metrics.csv").is_file()


def test_corrupt_store_is_replaced(tmp_path, capsys, home):
    db = home / "data" / "runs.sqlite3"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    rc, _, err = run_cli(
        capsys, "run", "--preset", "blobs-sgd", "--epochs", "1", "--out", str(tmp_path / "o")
    )
    assert rc == 0
    assert "damaged" in err and "corrupt-" in err
    assert len(list(db.parent.glob("runs.sqlite3.corrupt-*"))) == 1
    assert len(RunStore().list_runs()) == 1


def make_csv(path: Path, n: int = 60, hole: bool = False) -> Path:
    lines = ["a,b,kind"]
    for i in range(n):
        lines.append(f"{i % 3 + 0.1 * (i % 7)},{(i * 7) % 11},{'xyz'[i % 3]}")
    if hole:
        lines[5] = "1.0,,y"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_data_reports_parse_then_cache(tmp_path, capsys):
    data = make_csv(tmp_path / "table.csv")
    args = ["run", "--preset", "blobs-sgd", "--epochs", "1", "--data", str(data), "--target", "kind"]
    rc, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "o1"))
    assert rc == 0, err
    assert "loaded table.csv in " in err and "(parsed; cached for next time)" in err
    rc, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "o2"))
    assert rc == 0 and "loaded table.csv in " in err and "(from cache)" in err
    summary = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert summary["runs"][0]["config"]["dataset"]["name"] == "csv"


def test_drop_missing_flag(tmp_path, capsys):
    data = make_csv(tmp_path / "holes.csv", hole=True)
    args = ["run", "--preset", "blobs-sgd", "--epochs", "1", "--data", str(data), "--target", "kind"]
    rc, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "o"))
    assert rc == 2
    assert "1 of 60 rows have missing values" in err and "--drop-missing" in err
    rc, _, err = run_cli(capsys, *args, "--drop-missing", "--out", str(tmp_path / "o"))
    assert rc == 0, err
    assert "Dropped 1 row with missing values." in err and "59 rows, 2 features, 3 classes" in err
    assert RunStore().load_run(1).config["dataset"]["drop_missing"] is True


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "nope.toml"], "nope.toml: no such file"),
        (["run", "--preset", "nope"], "no preset named 'nope'; known presets: "),
        (["run", "{bad}", "--preset", "blobs-sgd"], "not both"),
        (["run"], "give either a CONFIG.toml"),
        (["run", "--preset", "blobs-sgd", "--epochs", "0"], "--epochs must be at least 1, got 0"),
        (
            ["run", "--preset", "blobs-sgd", "--epochs", "200000"],
            "base.training.epochs: Input should be less than or equal to 100000 (got 200000)",
        ),
        (["run", "--preset", "blobs-sgd", "--seed", "-1"], "--seed must be 0 or more"),
        (
            ["run", "--preset", "blobs-sgd", "--data", "x.csv"],
            "--data FILE.csv and --target COLUMN go together",
        ),
        (["run", "--preset", "blobs-sgd", "--drop-missing"], "--drop-missing applies to a CSV"),
        (["run", "--preset", "blobs-sgd", "--data", "{missing}", "--target", "y"], "no such file"),
        (
            ["run", "--preset", "blobs-sgd", "--data", "{csv}", "--target", "label"],
            "no column named 'label'; the columns are: a, b, kind",
        ),
        (["run", "{badtoml}"], "is not valid TOML"),
        (["run", "{badvalue}"], "base.optimizer.lr: Input should be greater than 0 (got -0.5)"),
        (
            ["run", "{badkey}"],
            "base.optimizer.momentun: unknown key 'momentun'; allowed keys here: kind, lr, "
            "momentum, dampening, nesterov, weight_decay; did you mean 'momentum'?",
        ),
        (["validate", "{badvalue}"], "base.optimizer.lr"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, expected):
    files = {
        "{bad}": tmp_path / "x.toml",
        "{missing}": tmp_path / "missing.csv",
        "{csv}": make_csv(tmp_path / "t.csv"),
        "{badtoml}": tmp_path / "bad.toml",
        "{badvalue}": tmp_path / "value.toml",
        "{badkey}": tmp_path / "key.toml",
    }
    files["{bad}"].write_text("")
    files["{badtoml}"].write_text("[base\nx = 1\n")
    files["{badvalue}"].write_text('[base.optimizer]\nkind = "sgd"\nlr = -0.5\n')
    files["{badkey}"].write_text('[base.optimizer]\nkind = "sgd"\nmomentun = 0.9\n')
    argv = [str(files.get(a, a)) for a in argv]
    if argv[0] == "run":
        argv += ["--out", str(tmp_path / "out")]
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"optiscope {argv[0]}: error: ")
    assert expected in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "metrics.csv").exists()


def test_several_config_problems_one_per_line(tmp_path, capsys):
    p = tmp_path / "many.toml"
    p.write_text('[base.optimizer]\nkind = "sgd"\nlr = 0\n[base.training]\nepochs = 0\nbatch_size = 0\n')
    rc, _, err = run_cli(capsys, "validate", str(p))
    assert rc == 2
    lines = err.strip().splitlines()
    assert lines[0].endswith("is invalid:")
    assert sorted(line.split(":")[0] for line in lines[1:]) == [
        "base.optimizer.lr",
        "base.training.batch_size",
        "base.training.epochs",
    ]


def test_presets_and_validate(tmp_path, capsys):
    rc, out, _ = run_cli(capsys, "presets")
    assert rc == 0 and "blobs-sgd" in out
    p = tmp_path / "exp.toml"
    p.write_text(EXPERIMENT)
    rc, out, _ = run_cli(capsys, "validate", str(p))
    assert rc == 0 and "valid (2 runs)" in out and "slow" in out and "fast" in out


def test_runs_commands(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    assert run_cli(capsys, "run", str(cfg), "--out", str(tmp_path / "o"), "--quiet")[0] == 0
    rc, out, _ = run_cli(capsys, "runs", "list")
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["id", "created", "status"]
    assert len(lines) == 3 and "slow" in lines[1] and "completed" in lines[1] and "2/2" in lines[1]
    rc, out, _ = run_cli(capsys, "runs", "show", "2")
    assert rc == 0 and "run 2: fast" in out and "lr=0.1" in out
    assert len([line for line in out.splitlines() if line.split()[:1] in (["1"], ["2"])]) == 2
    rc, out, _ = run_cli(capsys, "runs", "export", "1", "2", "--out", str(tmp_path / "e.csv"))
    assert rc == 0 and "wrote 4 rows" in out
    e = rows(tmp_path / "e.csv")
    m = rows(tmp_path / "o" / "metrics.csv")
    assert e[0] == m[0]
    runner = METRIC_COLUMNS.index("runner")
    same = list(range(1, len(METRIC_COLUMNS)))  # run: the store id; runner numbered as metrics.csv's
    assert [[r[c] for c in same] for r in e[1:]] == [[r[c] for c in same] for r in m[1:]]  # same numbers
    assert [(r[0], r[runner]) for r in e[1:]] == [("1", "0")] * 2 + [("2", "1")] * 2
    rc, _, err = run_cli(capsys, "runs", "show", "9")
    assert rc == 2 and "no run with id 9" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run_cli(capsys, "runs", "export", "1", "9", "--out", str(tmp_path / "x.csv"))
    assert rc == 2 and "no run with id 9" in err and not (tmp_path / "x.csv").exists()
    rc, _, err = run_cli(capsys, "runs", "delete", "1", "9")
    assert rc == 2 and "nothing deleted" in err
    assert len(RunStore().list_runs()) == 2
    rc, out, _ = run_cli(capsys, "runs", "delete", "1")
    assert rc == 0 and [r.id for r in RunStore().list_runs()] == [2]


def test_runs_list_puts_a_runners_seeds_on_one_line_with_their_interval(tmp_path, capsys):
    """``run --seeds 3`` stores 6 runs: ``runs list`` shows 2 lines (one per runner) whose val_acc
    is the mean ± the 95 % t-interval of the runner's 3 seeds (scipy.stats), ``--every-seed`` 6;
    a later launch of the same experiment is listed apart from the first."""
    from scipy import stats as sps

    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    assert run_cli(capsys, "run", str(cfg), "--out", str(tmp_path / "o"), "--seeds", "3", "--quiet")[0] == 0
    assert run_cli(capsys, "run", str(cfg), "--out", str(tmp_path / "p"), "--quiet")[0] == 0
    store = RunStore()
    stored = [store.load_run(r.id) for r in store.list_runs()]
    assert len(stored) == 8
    rc, out, _ = run_cli(capsys, "runs", "list")
    assert rc == 0
    lines = out.strip().splitlines()[1:]
    assert len(lines) == 4, lines  # 2 runners x 3 seeds, then 2 single runs
    for label, line in zip(("slow", "fast"), lines[:2], strict=True):
        seeds = [r for r in stored[:6] if r.summary.label == label]
        assert len(seeds) == 3 and sorted(r.seed for r in seeds) == [r.seed for r in seeds]
        acc = [r.summary.val_acc for r in seeds]
        mean = sum(acc) / 3
        low, high = sps.t.interval(0.95, 2, loc=mean, scale=sps.sem(acc))
        assert f"{mean:.3f}±{(high - low) / 2:.3f}" in line, line
        assert f"(3 seeds: runs {', '.join(str(r.id) for r in seeds)})" in line and label in line
    assert all("seeds" not in line for line in lines[2:]) and {lines[2].split()[0], lines[3].split()[0]} == {
        "7",
        "8",
    }
    rc, out, _ = run_cli(capsys, "runs", "list", "--every-seed")
    assert rc == 0 and len(out.strip().splitlines()) == 9 and "seeds:" not in out


def test_runs_list_empty(capsys):
    rc, out, _ = run_cli(capsys, "runs", "list")
    assert rc == 0 and "no stored runs" in out


def test_a_reader_that_goes_away_ends_the_listing_quietly(tmp_path):
    """``optiscope runs list | head -1``: once the reader has gone, the command stops with the
    shell's SIGPIPE code (141) and no traceback (it printed ``BrokenPipeError`` before)."""
    import subprocess
    import sys

    from optiscope.engine import events as ev

    store_path = tmp_path / "runs.sqlite3"
    store = RunStore(store_path)
    for i in range(400):  # ~40 KB of lines: more than a pipe's buffer takes before head reads
        store.insert_run(ev.RunStarted(i, f"run number {i}", "cpu", 10, 1, 1, 1, 2, {}), "many")
    store.close()
    cmd = [sys.executable, "-m", "optiscope.engine.cli", "runs", "--store", str(store_path), "list"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # as head does after its line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    rc = proc.wait(timeout=60)
    assert first.split()[:3] == [b"id", b"created", b"status"]
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rc == 141
