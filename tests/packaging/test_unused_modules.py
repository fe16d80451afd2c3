"""The frozen bundle leaves out modules Optiscope never imports (packaging/unused_modules.py).
Here the source install does everything the app does -- every preset, every dataset, a CSV,
``surface``, ``lr-find``, ``search`` (with importances), ``record`` (GIF), ``gradcheck``,
``recipe`` and the window with a short run -- and must import none of them.

Marked slow (one process that runs every command: 40 s at a load average of 12): it runs with
``OPTISCOPE_SLOW=1``, as CI's second step (``.ci/run``) does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import contextlib, io, json, sys, typing
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from unused_modules import UNUSED_MODULES
from optiscope.engine.cli import main
from optiscope.engine.config import DatasetConfig
from optiscope.engine.presets import all_presets

out = Path(sys.argv[1])
names = [n for n in typing.get_args(DatasetConfig.model_fields["name"].annotation) if n != "csv"]
(out / "table.csv").write_text("a,b,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(60)))
commands = [["run", "--preset", p, "--epochs", "1", "--no-store", "--out", str(out / p)] for p in all_presets()]
for name in names:
    toml = out / f"{name}.toml"
    toml.write_text(f'schema_version = 1\n[base.dataset]\nname = "{name}"\n[base.training]\nepochs = 1\n')
    commands.append(["run", str(toml), "--no-store", "--out", str(out / name)])
commands += [
    ["run", "--preset", "blobs-sgd", "--data", str(out / "table.csv"), "--target", "label", "--epochs", "1",
     "--no-store", "--out", str(out / "csv")],
    ["surface", "--preset", "blobs-sgd", "--epochs", "1", "--grid", "11", "--quiet", "--out", str(out / "surface")],
    ["lr-find", "--preset", "clr-vs-fixed", "--iterations", "10", "--out", str(out / "lrfind")],
    ["search", "--preset", "random-vs-grid", "--epochs", "2", "--trials", "4", "--out", str(out / "search"),
     "--storage", f"sqlite:///{out / 'studies.db'}", "--quiet"],
    ["record", "--preset", "momentum-sweep", "--epochs", "2", "--size", "320x240", "--out", str(out / "r.gif")],
    ["gradcheck", "--preset", "blobs-sgd", "--out", str(out / "gradcheck")],
]
expected_one = [  # honest failures (exit 1) are fine here: only the imports matter
    ["recipe", "--preset", "blobs-sgd", "--out", str(out / "recipe")],
]
failed = []
for cmd in commands + expected_one:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        if main(cmd) not in ((0, 1) if cmd in expected_one else (0,)):
            failed.append((cmd, err.getvalue()[-500:]))
import os
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from optiscope.gui.app import self_test  # the window trains one short run

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
    if self_test() != 0:
        failed.append((["--self-test"], err.getvalue()[-500:]))
loaded = sorted(m for m in sys.modules if any(m == u or m.startswith(u + ".") for u in UNUSED_MODULES))
print(json.dumps({"failed": failed, "loaded": loaded, "commands": len(commands), "datasets": names}))
"""


@pytest.mark.slow
def test_the_app_imports_none_of_the_modules_the_bundle_leaves_out(tmp_path):
    env_home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(ROOT / "packaging")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "OPTISCOPE_HOME": str(env_home)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failed"] == []
    assert len(result["datasets"]) >= 10 and result["commands"] >= 20
    assert result["loaded"] == [], f"imported although the bundle leaves them out: {result['loaded']}"
