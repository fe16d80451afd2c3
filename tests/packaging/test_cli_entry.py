"""The command line a user meets first: ``--version`` and ``--self-test`` are in ``--help``."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

CLI = "import sys; from optiscope.engine.cli import main; sys.exit(main())"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=120)


def test_version_prints_the_installed_version():
    out = _cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"optiscope {metadata.version('optiscope')}"


def test_help_lists_version_and_self_test():
    out = _cli("--help")
    assert out.returncode == 0, out.stderr
    assert "--version" in out.stdout and "--self-test" in out.stdout
    assert "check this installation" in " ".join(out.stdout.split())


def test_self_test_with_a_command_is_a_clear_error():
    out = _cli("--self-test", "presets")
    assert out.returncode == 2
    assert "--self-test takes no command (got 'presets')" in out.stderr


def test_readme_preset_table_lists_every_bundled_preset():
    """README "Presets (lessons)" has one row per preset file in resources/presets."""
    import re
    from importlib import resources
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Presets (lessons)", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M)
    folder = resources.files("optiscope.resources").joinpath("presets")
    bundled = sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))
    assert len(rows) == len(set(rows)), "a preset is listed twice"
    assert sorted(rows) == bundled
