"""``optiscope runs export`` regroups stored seeds into runners: the rows' ``runner`` and ``seed``
columns are those of ``run --seeds``' metrics.csv, and the per-runner aggregates (mean, CI
half-width, n) and paired verdicts beside them are checked against scipy.stats on the exported
rows and against the run's own summary.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from optiscope.engine.cli import main
from optiscope.engine.formats import METRIC_COLUMNS
from optiscope.engine.store import RunStore
from optiscope.engine.stored_seeds import RUNNER_CSV_COLUMNS

torch.set_num_threads(1)

N = 4
EXPERIMENT = """
schema_version = 1
name = "sgd-vs-adam"
[base.dataset]
name = "blobs"
n_samples = 200
[base.training]
epochs = 3
device = "cpu"
[[variations]]
label = "sgd"
optimizer = { kind = "sgd", lr = 0.01 }
[[variations]]
label = "adam"
optimizer = { kind = "adam", lr = 0.05 }
"""


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def stored(tmp_path, monkeypatch, capsys) -> dict:
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    rc, _, err = cli(capsys, "run", cfg, "--seeds", N, "--seed", 3, "--out", tmp_path / "run", "--quiet")
    assert rc == 0, err
    ids = [r.id for r in RunStore().list_runs()]
    assert len(ids) == 2 * N
    return {"root": tmp_path, "cfg": cfg, "ids": ids}


def test_export_regroups_seeds_like_run_seeds(stored, capsys):
    root, ids = stored["root"], stored["ids"]
    out = root / "export.csv"
    rc, printed, err = cli(capsys, "runs", "export", *ids, "--out", out)
    assert rc == 0, err
    exported, ran = _csv(out), _csv(root / "run" / "metrics.csv")
    assert tuple(exported[0]) == METRIC_COLUMNS
    # the same rows, runner for runner and seed for seed (run: the store id here, the plan index there)
    same = [c for c in METRIC_COLUMNS if c != "run"]

    def order(r: dict[str, str]) -> tuple[int, int, int]:
        return int(r["runner"]), int(r["seed"]), int(r["epoch"])

    assert [[r[c] for c in same] for r in sorted(exported, key=order)] == [
        [r[c] for c in same] for r in sorted(ran, key=order)
    ]
    assert {(r["runner"], r["seed"]) for r in exported} == {
        (str(i), str(3 + k)) for i in (0, 1) for k in range(N)
    }

    # per-runner aggregates, from the exported rows by the textbook: scipy's t interval
    runners = _csv(root / "export-runners.csv")
    assert tuple(runners[0]) == RUNNER_CSV_COLUMNS
    finals: dict[str, list[float]] = {}
    for r in exported:  # the last epoch of each run
        finals.setdefault(r["runner"], {})[r["run"]] = float(r["val_acc"])  # type: ignore[index]
    for runner, by_run in finals.items():
        x = np.array(list(by_run.values()))  # type: ignore[union-attr]
        row = next(r for r in runners if r["runner"] == runner and r["measure"] == "final_val_acc")
        assert int(row["n"]) == int(row["of"]) == N
        assert float(row["mean"]) == pytest.approx(x.mean(), abs=1e-9)
        low, high = scipy.stats.t.interval(0.95, N - 1, loc=x.mean(), scale=scipy.stats.sem(x))
        assert float(row["ci_half_width"]) == pytest.approx((high - low) / 2, abs=1e-9)
        assert (float(row["low"]), float(row["high"])) == pytest.approx((low, high), abs=1e-9)

    # the summary: the run's own summary.json's runners and verdicts, with store ids
    summary = json.loads((root / "export-summary.json").read_text())
    original = json.loads((root / "run" / "summary.json").read_text())
    assert summary["interval"] == original["interval"] and summary["seeds"] == N
    store_id = {RunStore().load_run(i).run_index: i for i in ids}  # plan index -> store id
    assert sorted(store_id) == list(range(2 * N))
    assert sorted((e["run"], e["runner"], e["seed"]) for e in summary["runs"]) == sorted(
        (store_id[r], r // N, 3 + r % N) for r in range(2 * N)
    )
    for mine, theirs in zip(summary["runners"], original["runners"], strict=True):
        assert mine["label"] == theirs["label"] and mine["seeds"] == theirs["seeds"]
        assert sorted(mine["runs"]) == sorted(store_id[r] for r in theirs["runs"])
        for name, m in mine["measures"].items():
            assert m == pytest.approx(theirs["measures"][name]) if m["mean"] is not None else True
    kept = {(v["measure"], v["a"], v["b"]): v for v in original["verdicts"]}
    assert len(summary["verdicts"]) == len([v for v in kept.values() if v["measure"] in summary["better"]])
    for v in summary["verdicts"]:
        theirs = kept[(v["measure"], v["a"], v["b"])]
        assert (v["winner"], v["text"]) == (theirs["winner"], theirs["text"])
    # paired verdict on final accuracy = scipy's paired t test
    a, b = (np.array([by_run[k] for k in sorted(by_run, key=int)]) for by_run in finals.values())  # type: ignore[union-attr]
    v = next(v for v in summary["verdicts"] if v["measure"] == "final_val_acc")
    d = a - b
    if d.std() > 0:
        p = scipy.stats.ttest_rel(a, b).pvalue
        assert (v["winner"] is not None) == bool(p < 0.05)
    assert "verdicts (paired" in printed and "export-runners.csv" in printed


def test_export_options_and_a_seed_stored_twice(stored, capsys):
    root, ids = stored["root"], stored["ids"]
    rc, _, err = cli(capsys, "runs", "export", *ids, "--out", root / "rows.csv", "--no-aggregates")
    assert rc == 0, err
    assert (root / "rows.csv").is_file() and not (root / "rows-runners.csv").exists()
    rc, _, _ = cli(capsys, "runs", "export", *ids, "--out", root / "old.csv", "--no-regroup")
    assert rc == 0 and {r["runner"] for r in _csv(root / "old.csv")} == {str(i) for i in ids}
    # the same seeds stored again (a second run of the experiment): which counts is not ours to pick
    rc, _, err = cli(
        capsys, "run", stored["cfg"], "--seeds", 2, "--seed", 3, "--out", root / "again", "--quiet"
    )
    assert rc == 0, err
    every = [r.id for r in RunStore().list_runs()]
    rc, _, err = cli(capsys, "runs", "export", *every, "--out", root / "both.csv")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    store = RunStore()
    again = store.load_run(every[2 * N])
    twin = next(
        i
        for i in ids
        if (store.load_run(i).summary.label, store.load_run(i).seed) == (again.summary.label, again.seed)
    )
    assert f"runs {twin} and {again.id} are both seed {again.seed} of runner '{again.summary.label}'" in err
    assert not (root / "both.csv").exists() and not (root / "both-runners.csv").exists()
    # one run per runner: nothing to aggregate, the rows alone
    rc, _, err = cli(capsys, "runs", "export", ids[0], ids[N], "--out", root / "two.csv")
    assert rc == 0 and not (root / "two-runners.csv").exists()
    first, second = (store.load_run(i).run_index for i in (ids[0], ids[N]))
    want = ["0", "1"] if first < second else ["1", "0"]  # numbered as the launch numbered them
    assert [r["runner"] for r in _csv(root / "two.csv")] == [want[0]] * 3 + [want[1]] * 3


def test_a_store_from_before_run_index_still_regroups(stored, capsys):
    """A store written before runs kept their index in their launch (schema 2) is read as it is
    (export never changes a store): runners are numbered in the order the runs are given."""
    import sqlite3

    root, ids = stored["root"], stored["ids"]
    path = RunStore().path
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("ALTER TABLE runs DROP COLUMN run_index")
        conn.execute("PRAGMA user_version = 2")
    conn.close()
    rc, _, err = cli(capsys, "runs", "export", *ids, "--out", root / "v2.csv")
    assert rc == 0, err
    rows = _csv(root / "v2.csv")
    first_label = rows[0]["label"]
    assert {r["runner"] for r in rows if r["label"] == first_label} == {"0"}
    assert {r["runner"] for r in rows if r["label"] != first_label} == {"1"}
    assert (root / "v2-runners.csv").is_file()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # left as it was
    conn.close()
