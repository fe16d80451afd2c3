"""``optiscope run --seeds N`` end to end: the runner/seed columns, summary.json's aggregates and
verdicts checked against the same seeds trained one by one (``--seed s``) and scipy.stats."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from optiscope.engine.bundle import read_bundle
from optiscope.engine.cli import main
from optiscope.engine.formats import LAYER_COLUMNS, METRIC_COLUMNS, STEP_COLUMNS
from optiscope.engine.share import decode
from optiscope.engine.stats import METHOD

torch.set_num_threads(1)

N = 10
EXPERIMENT = """
schema_version = 1
name = "sgd-vs-adam"
description = "two optimizers, small blobs"
[classroom]
question = "Which reaches 55 % first?"
[[classroom.observe]]
kind = "threshold"
metric = "val_acc"
value = 0.55
[base.dataset]
name = "blobs"
n_samples = 240
[base.training]
epochs = 4
device = "cpu"
[[variations]]
label = "sgd"
optimizer = { kind = "sgd", lr = 0.01 }
[[variations]]
label = "adam"
optimizer = { kind = "adam", lr = 0.05 }
"""
RUNNERS = ("sgd", "adam")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _header(path: Path) -> tuple[str, ...]:
    with open(path, newline="") as fh:
        return tuple(next(csv.reader(fh)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """One 10-seed run (``--seeds 10 --seed 0``) and the same ten seeds run alone (``--seed s``)."""
    root = tmp_path_factory.mktemp("seeds")
    cfg = root / "exp.toml"
    cfg.write_text(EXPERIMENT)
    common = ["--no-store", "--quiet"]
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        assert (
            main(["run", str(cfg), "--seeds", str(N), "--seed", "0", "--out", str(root / "multi"), *common])
            == 0
        )
    for s in range(N):
        assert main(["run", str(cfg), "--seed", str(s), "--out", str(root / f"alone-{s}"), *common]) == 0
    return {"root": root, "cfg": cfg, "table": out.getvalue()}


def _alone_measures(root: Path) -> dict[str, dict[str, list[float]]]:
    """Each measure of each runner, seed by seed, read from the seeds' own metrics.csv (the
    textbook definitions: last epoch, max/min over epochs, first epoch at or over 55 %)."""
    out: dict[str, dict[str, list[float]]] = {r: {} for r in RUNNERS}
    for s in range(N):
        rows = _csv(root / f"alone-{s}" / "metrics.csv")
        for label in RUNNERS:
            mine = [r for r in rows if r["label"] == label]
            acc = [float(r["val_acc"]) for r in mine]
            loss = [float(r["val_loss"]) for r in mine]
            reached = [int(r["epoch"]) for r in mine if float(r["val_acc"]) >= 0.55]
            values = {
                "epochs_to_val_acc_0.55": float(reached[0]) if reached else math.nan,
                "censored": float(reached[0]) if reached else float(len(mine) + 1),
                "final_val_acc": acc[-1],
                "best_val_acc": max(acc),
                "final_val_loss": loss[-1],
                "best_val_loss": min(loss),
                "gap_acc": float(mine[-1]["train_acc"]) - acc[-1],
            }
            for k, v in values.items():
                out[label].setdefault(k, []).append(v)
    return out


def test_aggregates_equal_the_seeds_run_alone_and_intervals_are_scipys(trained):
    summary = json.loads((trained["root"] / "multi" / "summary.json").read_text())
    assert summary["seeds"] == N and summary["interval"] == METHOD == "Student t interval, 95 %"
    alone = _alone_measures(trained["root"])
    assert [r["label"] for r in summary["runners"]] == list(RUNNERS)
    for entry in summary["runners"]:
        assert entry["seeds"] == list(range(N)) and len(entry["runs"]) == N
        for name, values in alone[entry["label"]].items():
            if name == "censored":
                continue
            got = entry["measures"][name]
            x = np.array([v for v in values if math.isfinite(v)])
            assert got["n"] == len(x) and got["of"] == N, name
            if len(x) == 0:
                assert got["mean"] is None
                continue
            assert got["mean"] == pytest.approx(float(x.mean()), abs=1e-6), (entry["label"], name)
            if len(x) >= 2 and x.std() > 0:
                low, high = scipy.stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
                assert (got["low"], got["high"]) == pytest.approx((low, high), abs=1e-6), name
    assert any(e["measures"]["epochs_to_val_acc_0.55"]["n"] > 0 for e in summary["runners"])
    # the per-run entries: run r is runner r // N, seed r % N (base seed 0)
    assert [(e["run"], e["runner"], e["seed"]) for e in summary["runs"]] == [
        (r, r // N, r % N) for r in range(2 * N)
    ]


def test_verdicts_match_scipy_paired_t_test(trained):
    summary = json.loads((trained["root"] / "multi" / "summary.json").read_text())
    alone = _alone_measures(trained["root"])
    checked = winners = 0
    for v in summary["verdicts"]:
        # a seed that never reached the threshold counts as the epochs it ran + 1 (a lower bound)
        key = "censored" if v["measure"].startswith("epochs_to") else v["measure"]
        assert (v["a"], v["b"]) == (0, 1)
        a = np.array(alone["sgd"][key])
        b = np.array(alone["adam"][key])
        d = a - b
        # scipy's p is NaN when every difference is the same: then any nonzero one is certain
        p = scipy.stats.ttest_rel(a, b).pvalue if d.std() > 0 else (0.0 if d.any() else 1.0)
        assert (v["winner"] is not None) == bool(p < 0.05), (v["measure"], p, v["text"])
        if v["winner"] is not None:
            winners += 1
            better_max = v["measure"] in ("final_val_acc", "best_val_acc")
            a_better = (a.mean() > b.mean()) == better_max
            assert v["winner"] == (0 if a_better else 1), v
            name = "sgd" if a_better else "adam"
            assert v["text"].startswith(f"{name} "), v["text"]
        else:
            assert v["text"] == f"no clear difference with {N} seeds — try more"
        checked += 1
    # every measure but the gap (no better direction: no verdict on it)
    assert checked == 5 and winners >= 1  # adam at 0.05 beats sgd at 0.01 within four epochs
    assert summary["better"]["gap_acc"] is None


def test_verdict_table_is_printed(trained):
    table = trained["table"]
    assert f"{N} seeds per runner (seeds 0-9)" in table and METHOD in table
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("runner"))
    assert "Epochs to val_acc ≥ 55 %" in header and "Final val acc" in header
    assert any(line.startswith("sgd ") and " ± " in line for line in lines)
    summary = json.loads((trained["root"] / "multi" / "summary.json").read_text())
    for v in summary["verdicts"]:  # two runners: every verdict is in the table
        assert v["text"] in table


def test_csv_files_have_runner_and_seed(trained):
    multi = trained["root"] / "multi"
    assert _header(multi / "metrics.csv") == METRIC_COLUMNS and METRIC_COLUMNS[-2:] == ("runner", "seed")
    assert _header(multi / "steps.csv") == STEP_COLUMNS and STEP_COLUMNS[-2:] == ("runner", "seed")
    assert _header(multi / "layers.csv") == LAYER_COLUMNS and LAYER_COLUMNS[-2:] == ("runner", "seed")
    for name in ("metrics.csv", "steps.csv", "layers.csv"):
        rows = _csv(multi / name)
        assert rows, name
        for r in rows:
            run = int(r["run"])
            assert (int(r["runner"]), int(r["seed"])) == (run // N, run % N), name
        assert {int(r["run"]) for r in rows} == set(range(2 * N)), name
    # seed s of the 10-seed run is the run --seed s trains alone
    rows = _csv(multi / "metrics.csv")
    for s in (0, 7):
        alone = _csv(trained["root"] / f"alone-{s}" / "metrics.csv")
        assert {(r["runner"], r["seed"]) for r in alone} == {("0", str(s)), ("1", str(s))}
        for runner in (0, 1):
            mine = [r for r in rows if r["runner"] == str(runner) and r["seed"] == str(s)]
            theirs = [r for r in alone if r["runner"] == str(runner)]
            assert len(mine) == len(theirs) == 4
            for x, y in zip(mine, theirs, strict=True):
                for k in ("train_loss", "val_loss", "train_acc", "val_acc", "lr"):
                    assert float(x[k]) == pytest.approx(float(y[k]), abs=1e-6), (s, runner, k)


def test_bad_seeds_exit_2_with_one_clear_line(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    out = tmp_path / "never"
    cases = {
        "0": "give at least 1 seed per runner",
        "x": "give a whole number of seeds per runner, e.g. --seeds 10 (got 'x')",
        "-3": "give at least 1 seed per runner",
        "101": "--seeds 101: at most 100 seeds per runner",
    }
    for value, words in cases.items():
        with pytest.raises(SystemExit) as info:  # argparse's own exit for a bad value
            rc = main(["run", str(cfg), "--seeds", value, "--out", str(out)])
            raise SystemExit(rc)
        assert info.value.code == 2, value
        err = capsys.readouterr().err
        assert words in err, (value, err)
        assert "Traceback" not in err and not out.exists()
    many = tmp_path / "many.toml"
    many.write_text(
        "schema_version = 1\n[base.training]\nepochs = 1\n"
        + "".join(f'[[variations]]\nlabel = "v{i}"\n' for i in range(11))
    )
    assert main(["run", str(many), "--seeds", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "optiscope run: error: --seeds 100: 11 runners x 100 seeds is 1100 runs, more than the 1024 "
        "trained at once; give --seeds 93 or fewer"
    )
    assert not out.exists()


def test_commands_that_train_single_runs_refuse_seeds(tmp_path, capsys):
    for argv, words in (
        (["export-script", "--preset", "lr-sweep", "--out", str(tmp_path / "t.py")], "export-script writes"),
        (["lr-find", "--preset", "clr-vs-fixed", "--out", str(tmp_path / "l")], "range test trains one run"),
        (["gradcheck", "--preset", "blobs-sgd"], "gradcheck checks one run"),
        (["surface", "--preset", "blobs-sgd", "--out", str(tmp_path / "s")], "loss surface"),
    ):
        assert main([*argv, "--seeds", "3"]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err and "--seeds" in err, err
    assert not any(tmp_path.iterdir())
    # share carries the seeds in its code
    assert main(["share", "--preset", "lr-sweep", "--seeds", "4"]) == 0
    captured = capsys.readouterr()
    assert decode(captured.out.strip().splitlines()[-1]).seeds == 4 and "x 4 seeds" in captured.err


def test_validate_counts_the_seeded_runs(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT.replace('name = "sgd-vs-adam"', 'name = "sgd-vs-adam"\nseeds = 3'))
    assert main(["validate", str(cfg)]) == 0
    assert "valid (2 runs x 3 seeds = 6 runs trained)" in capsys.readouterr().out


def test_one_seed_output_is_as_before(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-store"]) == 0
    out, err = capsys.readouterr()
    assert out == ""  # no verdict table without seeds
    assert "sgd: completed" in err and "adam: completed" in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["seeds"] == 1 and [r["seeds"] for r in summary["runners"]] == [[1], [1]]
    assert [(e["runner"], e["seed"]) for e in summary["runs"]] == [(0, 1), (1, 1)]


def test_seeded_bundle_and_old_bundle_read(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT.replace("epochs = 4", "epochs = 1"))
    zipped = tmp_path / "b.zip"
    args = ["run", str(cfg), "--seeds", "2", "--no-store", "--quiet", "--out", str(tmp_path / "o")]
    assert main([*args, "--save-bundle", str(zipped)]) == 0
    bundle = read_bundle(zipped)
    assert [(m["run"], m["runner"], m["seed"]) for m in bundle.metrics] == [
        (0, 0, 1),
        (1, 0, 2),
        (2, 1, 1),
        (3, 1, 2),
    ]
    assert (
        main(
            ["run", "--bundle", str(zipped), "--check", "--no-store", "--quiet", "--out", str(tmp_path / "c")]
        )
        == 0
    )
    assert "check: reproduced" in capsys.readouterr().out
    check = ["run", "--bundle", str(zipped), "--check", "--seeds", "3", "--out", str(tmp_path / "c3")]
    assert main(check) == 2
    assert "--check re-trains the bundle's runs as recorded: leave out --seeds" in capsys.readouterr().err
    # a bundle from before the runner/seed columns: each run its own runner, seed from its config
    one = tmp_path / "one.zip"
    assert main([*args[:2], "--seed", "5", *args[4:], "--save-bundle", str(one)]) == 0
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(one) as z, zipfile.ZipFile(old, "w") as w:
        for name in z.namelist():
            data = z.read(name)
            if name == "metrics.csv":
                lines = data.decode().splitlines()
                assert lines[0].endswith(",runner,seed")
                data = ("\n".join(",".join(line.split(",")[:-2]) for line in lines) + "\n").encode()
            w.writestr(name, data)
    again = read_bundle(old)
    assert [(m["run"], m["runner"], m["seed"]) for m in again.metrics] == [(0, 0, 5), (1, 1, 5)]


def test_readme_documents_seeds_the_columns_and_the_interval():
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert f"`metrics.csv` (`{','.join(METRIC_COLUMNS)}`)" in readme
    assert f"`steps.csv` (`{','.join(STEP_COLUMNS)}`" in readme
    assert "`run --seeds N`" in readme and "`runner`" in readme and "`seed`" in readme
    assert METHOD in readme and "t(0.975, n−1)·s/√n" in readme
    assert all(f"`{key}`" in readme for key in ("seeds", "interval", "runners", "verdicts"))


def _outcome(run: int, final_val_acc: float, reached: int | None, epochs: int = 5):
    from optiscope.engine.lessons import RunOutcome

    return RunOutcome(
        run,
        str(run),
        epochs=epochs,
        reason="completed",
        thresholds={0: reached},
        final_val_acc=final_val_acc,
        best_val_acc=final_val_acc,
        final_val_loss=1 - final_val_acc,
        best_val_loss=1 - final_val_acc,
        gap_acc=0.0,
    )


def test_table_with_many_runners_compares_each_with_the_leader():
    from optiscope.engine.config import ExperimentConfig
    from optiscope.engine.seed_report import ALL_PAIRS_UP_TO, seed_report
    from optiscope.engine.seeds import SeedPlan

    n_runners, n = ALL_PAIRS_UP_TO + 1, 4
    exp = ExperimentConfig.model_validate(
        {
            "seeds": n,
            "classroom": {"observe": [{"kind": "threshold", "metric": "val_acc", "value": 0.9}]},
            "variations": [{"label": f"r{i}"} for i in range(n_runners)],
        }
    )
    plan = SeedPlan.of(exp)
    rng = np.random.default_rng(3)
    acc = {(i, k): 0.5 + 0.08 * i + 0.01 * rng.standard_normal() for i in range(n_runners) for k in range(n)}
    outcomes = {
        r: _outcome(r, acc[plan.runner_of[r], plan.seed_index_of[r]], 3 if plan.runner_of[r] == 2 else None)
        for r in range(len(plan.runs))
    }
    report = seed_report(exp, plan.runs, [], plan=plan, outcomes=outcomes)
    table = report.table()
    assert (
        f"each runner against the leader, all {n_runners * (n_runners - 1) // 2} pairs in summary.json"
        in table
    )
    after = table.split("  Final val acc:\n", 1)[1].splitlines()
    block = after[: next(j for j, line in enumerate(after) if not line.startswith("    "))]
    means = [np.mean([acc[i, k] for k in range(n)]) for i in range(n_runners)]
    leader = f"r{int(np.argmax(means))}"
    assert len(block) == n_runners - 1 and all(line.strip().startswith(f"{leader} ") for line in block)
    row = next(line for line in table.splitlines() if line.startswith("r0 "))
    assert "— (0/4 reached)" in row
    directed = [m for m in report.measures if m.better is not None]  # the gap has no verdicts
    assert len(directed) == len(report.measures) - 1
    assert len(report.as_dict()["verdicts"]) == len(directed) * n_runners * (n_runners - 1) // 2


def test_runs_from_elsewhere_are_each_their_own_runner(tmp_path):
    from optiscope.engine.config import ExperimentConfig, RunConfig, TrainingConfig
    from optiscope.engine.runner import execute, write_outputs

    runs = [RunConfig(training=TrainingConfig(epochs=1, seed=s, device="cpu")) for s in (7, 9)]
    results = execute(runs, log=lambda _m: None)
    write_outputs(tmp_path, ExperimentConfig(name="other"), runs, results)
    rows = _csv(tmp_path / "metrics.csv")
    assert [(r["run"], r["runner"], r["seed"]) for r in rows] == [("0", "0", "7"), ("1", "1", "9")]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["seeds"] == 1 and [r["seeds"] for r in summary["runners"]] == [[7], [9]]


def test_runners_and_seeds_train_as_one_batch(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT.replace("epochs = 4", "epochs = 1"))
    assert main(["run", str(cfg), "--seeds", "3", "--no-store", "--out", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    assert "runs 0, 1, 2, 3, 4, 5 batched together" in err and "not batched" not in err
    assert "sgd (seed" not in err  # completed seeds are summed up by the table, not listed
    assert out.startswith("3 seeds per runner (seeds 1-3)")


def test_presets_list_says_how_many_seeds(monkeypatch, capsys):
    from optiscope.engine import presets
    from optiscope.engine.config import ExperimentConfig

    race = ExperimentConfig.model_validate({"description": "d", "seeds": 20, "variations": [{}, {}]})
    monkeypatch.setattr(presets, "all_presets", lambda: {"race": race, "one": ExperimentConfig()})
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("[2 runs x 20 seeds]") and lines[1].endswith("[1 run]")


def test_a_commands_own_seeds_option_is_left_to_it():
    """load_experiment applies --seeds only where add_seeds_arg added it: another command's own
    --seeds (a search's seeds per trial, say) is that command's to read."""
    import argparse

    from optiscope.engine.cli.common import add_experiment_args, load_experiment

    own = argparse.ArgumentParser()
    add_experiment_args(own, out_required=False)
    own.add_argument("--seeds", type=int)
    args = own.parse_args(["--preset", "lr-sweep", "--seeds", "500"])
    assert load_experiment(args).seeds == 1
    shared = argparse.ArgumentParser()
    add_experiment_args(shared, out_required=False, seeds=True)
    assert load_experiment(shared.parse_args(["--preset", "lr-sweep", "--seeds", "7"])).seeds == 7
