"""``optiscope search`` end to end: result files, the random-vs-grid lesson, bad input,
two worker processes on one study, and a real PostgreSQL server as the storage."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
import torch
from optiscope.engine.cli import main
from optiscope.engine.config import load_toml
from optuna.trial import TrialState

torch.set_num_threads(1)

SMALL = """
schema_version = 1
name = "small"
[base.dataset]
n_samples = 200
standardize = true
[base.training]
epochs = 4
device = "cpu"
[search]
objective = "best_val_acc"
[search.params]
"optimizer.lr" = { low = 1e-3, high = 0.5, log = true }
"optimizer.momentum" = { low = 0.0, high = 0.9 }
"""


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def read_trials(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def best_so_far(values: list[float]) -> list[float]:
    out, best = [], float("inf")
    for v in values:
        best = min(best, v)
        out.append(best)
    return out


def test_random_vs_grid_preset_shows_random_search_advantage(tmp_path, capsys):
    """The lesson: an equal budget of 16; grid tries 4 learning rates, random 16, and wins."""
    storage = f"sqlite:///{tmp_path / 'lesson.sqlite3'}"
    found = {}
    for sampler in ("grid", "random"):
        out = tmp_path / sampler
        rc, _, err = run_cli(
            capsys,
            "search",
            "--preset",
            "random-vs-grid",
            "--sampler",
            sampler,
            "--out",
            str(out),
            "--storage",
            storage,
            "--quiet",
        )
        assert rc == 0, err
        rows = read_trials(out / "trials.csv")
        assert len(rows) == 16 and all(r["state"] == "complete" for r in rows)
        values = [float(r["best_val_loss"]) for r in sorted(rows, key=lambda r: int(r["number"]))]
        found[sampler] = {
            "distinct_lr": len({r["optimizer.lr"] for r in rows}),
            "lrs": {float(r["optimizer.lr"]) for r in rows},
            "distinct_l2": len({r["regularization.l2"] for r in rows}),
            "curve": best_so_far(values),
        }
        best = load_toml(out / "best.toml")  # runnable: an ordinary experiment file
        assert best.base.optimizer.lr == pytest.approx(
            float(min(rows, key=lambda r: float(r["best_val_loss"]))["optimizer.lr"])
        )
        imp = json.loads((out / "importance.json").read_text())
        assert imp["importances"]["optimizer.lr"] > imp["importances"]["regularization.l2"]
    assert found["grid"]["distinct_lr"] == 4 and found["grid"]["distinct_l2"] == 4
    assert found["random"]["distinct_lr"] == 16
    # best-so-far after the whole budget: random search ends lower (better) than the grid
    assert found["random"]["curve"][-1] < found["grid"]["curve"][-1] - 0.01
    # the numbers the lesson quotes are this search's (issue 18.7)
    from optiscope.engine.presets import get_preset

    text = " ".join(get_preset("random-vs-grid").lesson.split())
    m = re.search(
        r"grid stuck at about (0\.\d+) best validation loss while random search reaches about (0\.\d+)", text
    )
    assert m, "the lesson no longer quotes the two best-so-far values"
    assert found["grid"]["curve"][-1] == pytest.approx(float(m[1]), abs=0.01)
    assert found["random"]["curve"][-1] == pytest.approx(float(m[2]), abs=0.01)
    m = re.search(r"4 distinct learning rates \((\S+), (\S+), (\S+) and (\S+)\)", text)
    assert m and sorted(found["grid"]["lrs"]) == pytest.approx([float(v) for v in m.groups()], rel=0.05)


def test_search_writes_files_and_runs_lists_the_study(tmp_path, capsys, home):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    rc, _, err = run_cli(capsys, "search", str(cfg), "--trials", "3", "--out", str(tmp_path / "o"))
    assert rc == 0, err
    assert re.search(r"trial +0 +complete +optimizer.lr=", err)
    rows = read_trials(tmp_path / "o" / "trials.csv")
    assert list(rows[0]) == [
        "number",
        "state",
        "optimizer.lr",
        "optimizer.momentum",
        "best_val_acc",
        "seconds",
        "epochs",
    ]
    assert [r["number"] for r in rows] == ["0", "1", "2"] and {r["epochs"] for r in rows} == {"4"}
    # the default storage: an SQLite file in the user data folder, listed next to the runs
    assert (home / "data" / "studies.sqlite3").is_file()
    rc, out, _ = run_cli(capsys, "runs", "list")
    assert rc == 0 and "small-random" in out and "best_val_acc" in out
    # the same command again adds trials to the same study
    rc, _, err = run_cli(capsys, "search", str(cfg), "--trials", "2", "--out", str(tmp_path / "o"), "--quiet")
    assert rc == 0 and "5 in the study" in err
    assert len(read_trials(tmp_path / "o" / "trials.csv")) == 5


SPACES = {
    "empty": (
        '"optimizer.lr" = { low = 0.5, high = 0.1 }',
        "empty range (low = 0.5 is not below high = 0.1)",
    ),
    "log": ('"optimizer.lr" = { low = 0.0, high = 0.1, log = true }', "a log scale needs bounds above 0"),
    "unknown": ('"optimizer.learning_rate" = { low = 0.1, high = 0.5 }', "unknown field ('learning_rate'"),
    "grid": ('"optimizer.lr" = { low = 0.1, high = 0.5 }', "a grid search needs the values to try"),
}


@pytest.mark.parametrize("case", list(SPACES))
def test_bad_space_exits_2_with_one_line(tmp_path, capsys, case):
    line, expected = SPACES[case]
    space = tmp_path / "space.toml"
    space.write_text(f"[params]\n{line}\n")
    sampler = ["--sampler", "grid"] if case == "grid" else []
    rc, _, err = run_cli(
        capsys,
        "search",
        "--preset",
        "blobs-sgd",
        "--space",
        str(space),
        *sampler,
        "--out",
        str(tmp_path / "o"),
    )
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("optiscope search: error: ") and expected in err
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_bad_storage_other_objective_and_missing_space_exit_2(tmp_path, capsys):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = str(tmp_path / "o")
    rc, _, err = run_cli(capsys, "search", str(cfg), "--storage", "nosuch://db", "--out", out)
    assert rc == 2 and "cannot open the study storage 'nosuch://db'" in err and err.count("\n") == 1
    storage = f"sqlite:///{tmp_path / 's.sqlite3'}"
    assert run_cli(capsys, "search", str(cfg), "--storage", storage, "--trials", "1", "--out", out)[0] == 0
    rc, _, err = run_cli(
        capsys,
        "search",
        str(cfg),
        "--storage",
        storage,
        "--objective",
        "final_val_loss",
        "--study",
        "small-random",
        "--out",
        out,
    )
    assert rc == 2 and "optimises best_val_acc, not final_val_loss" in err
    rc, _, err = run_cli(capsys, "search", "--preset", "blobs-sgd", "--out", out)
    assert rc == 2 and "has no [search] section; give --space" in err


def _worker(cfg: Path, storage: str, seed: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "optiscope.engine.cli",
            "search",
            str(cfg),
            "--storage",
            storage,
            "--study",
            "shared",
            "--trials",
            "6",
            "--batch",
            "3",
            "--sampler-seed",
            str(seed),
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_workers_on_one_study_lose_and_duplicate_no_trial(tmp_path):
    """Two processes add 6 trials each to one SQLite study (the journal file storage is
    tested in-process in test_search.py)."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    storage = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    workers = [_worker(cfg, storage, seed, tmp_path / f"w{seed}") for seed in (1, 2)]
    told: list[list[int]] = []
    for w in workers:
        _, err = w.communicate(timeout=240)
        assert w.returncode == 0, err
        told.append([int(n) for n in re.findall(r"^trial +(\d+) +complete", err, re.M)])
    assert len(told[0]) == len(told[1]) == 6
    assert not set(told[0]) & set(told[1])  # no trial told twice
    study = optuna.load_study(study_name="shared", storage=storage)
    numbers = sorted(t.number for t in study.trials)
    assert numbers == sorted(told[0] + told[1]) == list(range(12))  # none lost
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({tuple(t.params.values()) for t in study.trials}) == 12  # the workers drew different trials


# --------------------------------------------------------------------------- PostgreSQL
def _start_postgres() -> tuple[str, str, object]:
    """A throw-away PostgreSQL server on a local socket; (url, why-not, stop)."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not bins:
        return "", "Debian's postgresql package is not installed (.ci/run installs it)", None
    pg = bins[-1]
    root = Path(tempfile.mkdtemp(prefix="optiscope-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            return "", "running as root and runuser is missing", None
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)

    steps = [
        (str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "optiscope"),
        (
            str(pg / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-k {root} -c listen_addresses=''",
            "start",
        ),
        (str(pg / "createdb"), "-h", str(root), "-U", "optiscope", "optiscope_test"),
    ]

    def stop() -> None:
        run(str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)

    for step in steps:
        done = run(*step)
        if done.returncode != 0:
            stop()
            return "", f"{Path(step[0]).name} failed: {(done.stderr or done.stdout).strip()[:300]}", None
    return f"postgresql://optiscope@/optiscope_test?host={root}", "", stop


@pytest.fixture(scope="module")
def postgres_url():
    """The server .ci/run started (OPTISCOPE_TEST_POSTGRES_URL), else one started here."""
    url = os.environ.get("OPTISCOPE_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    url, why, stop = _start_postgres()
    if not url:
        print(f"PostgreSQL test skipped: {why}")
        pytest.skip(f"no PostgreSQL server could be started: {why}")
    try:
        yield url
    finally:
        stop()  # type: ignore[misc]


def test_search_against_a_real_postgresql_server(postgres_url, tmp_path, capsys):
    pytest.importorskip("psycopg", reason="the PostgreSQL driver (psycopg) is in the test extras")
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    name = f"pg-{os.getpid()}-{tmp_path.name}"
    for _ in range(2):  # a second search joins the study in the server
        rc, _, err = run_cli(
            capsys,
            "search",
            str(cfg),
            "--storage",
            postgres_url,
            "--study",
            name,
            "--trials",
            "3",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        )
        assert rc == 0, err
    storage = optuna.storages.RDBStorage(postgres_url)
    try:
        assert storage.engine.dialect.name == "postgresql"
        study = optuna.load_study(study_name=name, storage=storage)
        assert sorted(t.number for t in study.trials) == list(range(6))
        assert all(t.state == TrialState.COMPLETE for t in study.trials)
    finally:
        storage.engine.dispose()
    rc, _, err = run_cli(
        capsys,
        "search",
        str(cfg),
        "--storage",
        postgres_url,
        "--study",
        name,
        "--objective",
        "final_val_loss",
        "--out",
        str(tmp_path / "o"),
    )
    assert rc == 2 and "optimises best_val_acc, not final_val_loss" in err


def test_a_search_over_a_setting_the_runs_ignore_warns_before_it_starts(tmp_path, capsys):
    """Issue 18.8: optimizer.lr under a cyclic schedule (no warm-up) changes nothing: lr 1 and
    1e-4 gave identical results and importance 0, without a word."""
    exp = tmp_path / "cyclic.toml"
    exp.write_text(
        SMALL.replace("[base.training]", '[base.schedule]\nkind = "cyclic"\nstep_size = 7\n[base.training]')
    )
    space = tmp_path / "space.toml"
    space.write_text(
        '[params]\n"optimizer.lr" = { low = 1e-4, high = 1.0, log = true, points = [1e-4, 1.0] }\n'
        '"optimizer.momentum" = { choices = [0.5] }\n'
    )
    out = tmp_path / "out"
    rc, _, err = run_cli(
        capsys, "search", str(exp), "--space", str(space), "--sampler", "grid", "--out", str(out)
    )
    assert rc == 0, err
    lines = [x for x in err.splitlines() if "warning" in x]
    assert len(lines) == 1 and "'optimizer.lr' does not change these runs" in lines[0]
    assert "schedule.base_lr and schedule.max_lr" in lines[0]
    assert err.index("warning") < err.index("trial ")  # said before the first trial
    rows = read_trials(out / "trials.csv")
    assert sorted(float(r["optimizer.lr"]) for r in rows) == [1e-4, 1.0]
    same = [k for k in rows[0] if k not in ("number", "optimizer.lr", "seconds")]
    assert "best_val_loss" in same  # the objective: identical, what the warning warns of
    assert [rows[0][k] for k in same] == [rows[1][k] for k in same]
