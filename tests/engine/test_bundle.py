"""Reproducibility bundles: ``runs export --bundle`` and ``run --bundle --check``."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from optiscope.engine.cli import main
from optiscope.engine.config import loads_toml
from optiscope.engine.presets import get_preset


@pytest.fixture
def bundle(tmp_path, monkeypatch, capsys) -> Path:
    """Runs 1-4 of a stored 3-epoch momentum sweep, bundled."""
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    assert (
        main(
            [
                "run",
                "--preset",
                "momentum-sweep",
                "--epochs",
                "3",
                "--out",
                str(tmp_path / "first"),
                "--quiet",
            ]
        )
        == 0
    )
    path = tmp_path / "sweep.zip"
    assert main(["runs", "export", "1", "2", "3", "4", "--bundle", str(path)]) == 0
    capsys.readouterr()
    return path


def test_bundle_holds_config_metrics_script_versions_readme(bundle, tmp_path):
    import torch

    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        config = z.read("config.toml").decode()
        metrics = list(csv.DictReader(io.StringIO(z.read("metrics.csv").decode())))
        info = json.loads(z.read("versions.json"))
        script = z.read("train.py").decode()
    assert names == {"config.toml", "metrics.csv", "train.py", "versions.json", "README.txt"}
    runs = loads_toml(config).runs()
    preset = get_preset("momentum-sweep").with_overrides(epochs=3).runs()
    assert [r.model_copy(update={"label": ""}) for r in runs] == [
        r.model_copy(update={"label": ""}) for r in preset
    ]
    with open(tmp_path / "first" / "metrics.csv", newline="") as fh:
        first = list(csv.DictReader(fh))
    keys = ("run", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc")
    assert [[m[k] for k in keys] for m in metrics] == [[m[k] for k in keys] for m in first]
    assert info["torch"] == torch.__version__ and info["python"]
    assert "def run_3(" in script and "import optiscope" not in script


def test_check_reproduces_a_bundle(bundle, tmp_path, capsys):
    rc = main(
        ["run", "--bundle", str(bundle), "--check", "--out", str(tmp_path / "again"), "--no-store", "--quiet"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count(": ok, 3 epochs") == 4 and out.strip().endswith("check: reproduced")


def test_check_catches_a_changed_number(bundle, tmp_path, capsys):
    with zipfile.ZipFile(bundle) as z:
        files = {n: z.read(n) for n in z.namelist()}
    rows = list(csv.reader(io.StringIO(files["metrics.csv"].decode())))
    rows[5][7] = repr(float(rows[5][7]) + 0.002)  # one val_acc, one example's worth on 500 points
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    files["metrics.csv"] = buf.getvalue().encode()
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    rc = main(
        [
            "run",
            "--bundle",
            str(tampered),
            "--check",
            "--out",
            str(tmp_path / "again"),
            "--no-store",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "run 1 (momentum=0.5): DIFFERS: epoch 2 val_acc" in out and "1 of 4 runs differ" in out


@pytest.mark.parametrize("kind", ["missing", "not-zip", "no-config", "bad-toml"])
def test_bad_bundles_are_one_line_errors(kind, tmp_path, capsys):
    path = tmp_path / "b.zip"
    if kind == "not-zip":
        path.write_text("hello")
    elif kind != "missing":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("metrics.csv", "run,label\n")
            if kind == "bad-toml":
                z.writestr("config.toml", "[base\n")
    rc = main(["run", "--bundle", str(path), "--check", "--out", str(tmp_path / "o"), "--no-store"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err and f"bundle {path}" in err


def test_usage_errors(tmp_path, capsys):
    assert main(["run", "--preset", "blobs-sgd", "--check", "--out", str(tmp_path)]) == 2
    assert "--bundle" in capsys.readouterr().err
    assert main(["runs", "export", "1"]) == 2
    assert "--out FILE.csv" in capsys.readouterr().err


def test_run_save_bundle_has_steps_layers_weights_and_checks(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    path = tmp_path / "run.zip"
    argv = [
        "run",
        "--preset",
        "l1-vs-l2",
        "--epochs",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--no-store",
        "--quiet",
    ]
    assert main([*argv, "--save-bundle", str(path)]) == 0
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        steps = z.read("steps.csv").decode()
        weights = torch.load(io.BytesIO(z.read("weights/run-2.pt")), weights_only=True)
        readme = z.read("README.txt").decode()
    assert {"steps.csv", "layers.csv", "weights/run-0.pt", "weights/run-1.pt", "weights/run-2.pt"} <= names
    assert steps == (tmp_path / "out" / "steps.csv").read_text()
    assert set(weights) == {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}
    assert "Also inside: steps.csv, layers.csv, weights/run-N.pt" in readme
    capsys.readouterr()
    rc = main(
        ["run", "--bundle", str(path), "--check", "--out", str(tmp_path / "again"), "--no-store", "--quiet"]
    )
    assert rc == 0 and capsys.readouterr().out.strip().endswith("check: reproduced")
    assert main([*argv, "--save-bundle", str(tmp_path / "no" / "such" / "b.zip")]) == 2
    assert "--save-bundle" in capsys.readouterr().err
