"""``import optiscope``: the notebook API gives the CLI's numbers and the CLI's errors."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from optiscope.engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_optiscope_is_the_api_and_the_engine_stays_below_it():
    code = (
        "import sys, optiscope, optiscope.engine, optiscope.engine.cli;"
        "print(optiscope.__file__); print(optiscope.engine.__file__);"
        "print(sorted(m for m in ('torch', 'pandas', 'PySide6') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    api, engine, heavy = proc.stdout.splitlines()
    assert Path(api) == ROOT / "engine" / "api" / "__init__.py"
    assert Path(engine) == ROOT / "engine" / "__init__.py"
    assert heavy == "[]"  # importing the API is light: torch and pandas load when used


def _cells(md: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", md, flags=re.S)


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_docs_example_runs_and_equals_the_cli(tmp_path, monkeypatch, capsys):
    """docs/api.md's cells, run in order as a notebook would, give optiscope run's numbers."""
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    cells = _cells((ROOT / "docs" / "api.md").read_text())
    assert len(cells) >= 5
    ns: dict = {}
    for cell in cells:
        exec(compile(cell, "docs/api.md", "exec"), ns)
    assert (
        main(["run", "--preset", "momentum-sweep", "--epochs", "5", "--out", "cli", "--no-store", "--quiet"])
        == 0
    )
    assert (
        main(
            [
                "lr-find",
                "--preset",
                "clr-vs-fixed",
                "--start-lr",
                "1e-4",
                "--end-lr",
                "10",
                "--iterations",
                "50",
                "--out",
                "lr",
            ]
        )
        == 0
    )
    capsys.readouterr()
    cli = _csv(tmp_path / "cli" / "metrics.csv")
    api = ns["result"].metrics
    assert len(api) == len(cli) == 4 * 5
    for (_, row), c in zip(api.iterrows(), cli, strict=True):
        assert (row["run"], row["label"], row["epoch"]) == (int(c["run"]), c["label"], int(c["epoch"]))
        for key in ("lr", "train_loss", "train_acc", "val_loss", "val_acc"):
            assert row[key] == float(c[key]), f"{c['label']} epoch {c['epoch']}: {key}"
    steps = _csv(tmp_path / "cli" / "steps.csv")
    assert [float(s["loss"]) for s in steps] == ns["steps"]["loss"].tolist()
    summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert ns["final"] == summary["runs"][2]["final"]
    assert ns["n_params"] == 2 * 50 + 50 + 50 * 3 + 3
    suggestions = json.loads((tmp_path / "lr" / "suggestions.json").read_text())["suggestions"]
    assert ns["bounds"] == (suggestions["clr_base_lr"], suggestions["clr_max_lr"])
    assert ns["message"] == "epochs must be a whole number, at least 1, got 0"
    # the seeds cell: optiscope run --seeds 5's summary.json and verdict table
    argv = ["run", "--preset", "adaptive-optimizers", "--epochs", "5", "--seeds", "5", "--out", "seeds"]
    assert main([*argv, "--no-store", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert ns["table"] == table.rstrip("\n")
    seeded = json.loads((tmp_path / "seeds" / "summary.json").read_text())
    assert ns["race"].summary["runners"] == seeded["runners"]
    assert ns["race"].summary["verdicts"] == seeded["verdicts"]
    acc = ns["accuracy"]
    assert acc["label"].tolist() == [r["label"] for r in seeded["runners"]]
    assert acc["mean"].tolist() == [r["measures"]["final_val_acc"]["mean"] for r in seeded["runners"]]
    assert acc["low"].tolist() == [r["measures"]["final_val_acc"]["low"] for r in seeded["runners"]]
    named = [v["text"] for v in seeded["verdicts"] if v["winner"] is not None]
    assert ns["clear"]["text"].tolist() == named
    assert (tmp_path / "momentum.py").read_text().count("def run_") == 4


def test_errors_are_the_clis(tmp_path, capsys):
    import optiscope

    with pytest.raises(optiscope.ConfigError) as info:
        optiscope.load(tmp_path / "missing.toml")
    assert main(["validate", str(tmp_path / "missing.toml")]) == 2
    assert str(info.value) in capsys.readouterr().err
    with pytest.raises(optiscope.ConfigError, match="no preset named 'nope'"):
        optiscope.preset("nope")
    with pytest.raises(optiscope.ConfigError, match="data .* and target .* go together"):
        optiscope.run(optiscope.preset("blobs-sgd"), data="x.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(optiscope.DataError, match="no column named 'label'"):
        optiscope.run(
            optiscope.preset("blobs-sgd"), data=tmp_path / "bad.csv", target="label", progress=False
        )
    with pytest.raises(optiscope.ConfigError, match="share code"):
        optiscope.from_code("optiscope:1:abc:0000000")


def test_result_saves_the_cli_files_and_weights(tmp_path):
    import optiscope
    import torch

    result = optiscope.run(optiscope.preset("l1-vs-l2"), epochs=2, progress=False)
    out = result.save(tmp_path / "out")
    assert {p.name for p in out.iterdir()} >= {"metrics.csv", "steps.csv", "layers.csv", "summary.json"}
    files = result.save_weights(tmp_path / "w")
    assert [f.name for f in files] == ["run-0.pt", "run-1.pt", "run-2.pt"]
    state = torch.load(files[2], weights_only=True)
    assert set(state) == set(result.models[2].state_dict())
    assert len(result.layers) > 0 and list(result.layers.columns)[:4] == ["run", "step", "epoch", "layer"]
    bundle = result.save_bundle(tmp_path / "l1.zip")
    assert (
        main(
            [
                "run",
                "--bundle",
                str(bundle),
                "--check",
                "--out",
                str(tmp_path / "re"),
                "--no-store",
                "--quiet",
            ]
        )
        == 0
    )


def test_search_and_surface_equal_the_cli(tmp_path, monkeypatch, capsys):
    import numpy as np
    import optiscope

    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    exp = optiscope.preset("random-vs-grid")
    found = optiscope.search(exp, trials=3, epochs=2, storage=f"sqlite:///{tmp_path / 'api.db'}")
    argv = ["search", "--preset", "random-vs-grid", "--trials", "3", "--epochs", "2", "--quiet"]
    assert main([*argv, "--storage", f"sqlite:///{tmp_path / 'cli.db'}", "--out", str(tmp_path / "s")]) == 0
    rows = _csv(tmp_path / "s" / "trials.csv")
    assert len(found.trials) == len(rows) == 3
    for (_, row), c in zip(found.trials.iterrows(), rows, strict=True):
        for key, value in c.items():
            if key != "seconds":
                assert str(row[key]) == value or row[key] == float(value), key
    assert found.best is not None and found.best.runs()
    flat = optiscope.surface(optiscope.preset("blobs-sgd"), epochs=1, grid=11)
    argv = ["surface", "--preset", "blobs-sgd", "--epochs", "1", "--grid", "11", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "f")]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "f" / "surface.npz") as z:
        assert set(z.files) == set(flat.arrays)
        for key in z.files:
            np.testing.assert_array_equal(flat.arrays[key], z[key], err_msg=key)


def test_run_with_seeds_gives_the_runners_and_verdicts_as_tables():
    import optiscope
    import scipy.stats

    exp = optiscope.preset("momentum-sweep")
    result = optiscope.run(exp, epochs=3, seeds=4, seed=2, progress=False)
    assert result.seeds == 4 and len(result.results) == 4 * 4
    assert result.metrics[["runner", "seed"]].drop_duplicates().values.tolist() == [
        [i, s] for i in range(4) for s in (2, 3, 4, 5)
    ]
    assert set(result.steps["seed"]) == {2, 3, 4, 5} and set(result.layers["runner"]) == {0, 1, 2, 3}
    final = result.final()  # the last epoch of every run: the runner's final accuracies, seed by seed
    for runner, group in final.groupby("runner"):
        values = group["val_acc"].to_numpy()
        row = result.runners[
            (result.runners["runner"] == runner) & (result.runners["measure"] == "final_val_acc")
        ]
        (mean, low, high) = row[["mean", "low", "high"]].iloc[0]
        assert mean == pytest.approx(values.mean(), abs=1e-9)
        if values.std() > 0:
            t_low, t_high = scipy.stats.t.interval(0.95, 3, loc=values.mean(), scale=scipy.stats.sem(values))
            assert (low, high) == pytest.approx((t_low, t_high), abs=1e-9)
    # 4 runners: 6 pairs on every measure but the gap (no better direction, no verdicts)
    assert len(result.verdicts) == 6 * (len(result.runners["measure"].unique()) - 1)
    assert "gap_acc" not in set(result.verdicts["measure"])
    acc = result.verdicts[result.verdicts["measure"] == "final_val_acc"]
    for _, v in acc.iterrows():
        a = final[final["runner"] == v["a"]]["val_acc"].to_numpy()
        b = final[final["runner"] == v["b"]]["val_acc"].to_numpy()
        d = a - b  # scipy's p is NaN when every difference is the same: any nonzero one is then certain
        significant = bool(scipy.stats.ttest_rel(a, b).pvalue < 0.05) if d.std() > 0 else bool(d.any())
        assert (v["winner"] >= 0) == significant, v["text"]
    with pytest.raises(optiscope.ConfigError, match="seeds must be a whole number, at least 1, got 0"):
        optiscope.run(exp, seeds=0)
    with pytest.raises(optiscope.ConfigError, match="at most 100 seeds per runner"):
        optiscope.run(exp, seeds=101)
