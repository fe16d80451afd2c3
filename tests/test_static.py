"""The code's own checks, run with the suite: ruff's formatter and linter, and mypy on engine/.

They are the dev extras of the README's set-up; a plain test install skips them, saying why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240
    )


def test_ruff_format_and_lint():
    pytest.importorskip("ruff", reason="ruff is in the dev extras (pip install -e '.[dev]')")
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_no_fmt_skip_markers():
    """Formatting is ruff's, not opted out of line by line."""
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for folder in ("engine", "gui", "bench", "tests", "packaging", "docs")
        for p in (ROOT / folder).rglob("*.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if line.rstrip().endswith("# fmt" + ": skip")
    ]
    assert not hits, hits


def test_mypy_on_the_engine(background_mypy):
    """[tool.mypy] in pyproject.toml: files = engine/. The whole suite starts it at collection
    (tests/conftest.py) so that it runs beside the tests; alone, the test runs it here."""
    pytest.importorskip("mypy", reason="mypy is in the dev extras (pip install -e '.[dev]')")
    if background_mypy is None:
        out = _run("mypy", "--no-error-summary")
        returncode, output = out.returncode, out.stdout + out.stderr
    else:
        returncode, output = background_mypy(timeout=600)
    assert returncode == 0, output
