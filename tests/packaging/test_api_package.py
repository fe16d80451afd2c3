"""A regular (non-editable) install exposes the notebook API as the top package ``optiscope``
next to ``optiscope.engine``, ``optiscope.gui`` and ``optiscope.resources``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_optiscope_as_the_api(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("engine", "gui", "resources"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("optiscope-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        api = z.read("optiscope/__init__.py").decode()
    assert api == (ROOT / "engine" / "api" / "__init__.py").read_text()
    assert {
        "optiscope/engine/__init__.py",
        "optiscope/engine/cli/__init__.py",
        "optiscope/gui/__init__.py",
    } <= names
    assert not any(n.startswith("optiscope/engine/api/") for n in names)  # one copy, one name
    # installed into a folder of its own, `import optiscope` is the API and the engine sits below it
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(target)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in type(f).__module__];"
        "import optiscope, optiscope.engine.cli;"
        "assert optiscope.__file__.startswith(sys.argv[1]), optiscope.__file__;"
        "assert optiscope.engine.__file__.startswith(sys.argv[1]), optiscope.engine.__file__;"
        "print(optiscope.share(optiscope.preset('blobs-sgd'))[:12])"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "optiscope:1:"
