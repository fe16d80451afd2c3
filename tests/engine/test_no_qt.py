"""The engine imports no Qt, and its light modules import no torch (GUI start-up speed)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_GUI = ("PySide6", "pyqtgraph", "optiscope.gui", "shiboken6")


def loaded_after(code: str) -> list[str]:
    """Module names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _offenders(mods: list[str], roots: tuple[str, ...]) -> list[str]:
    return [m for m in mods if any(m == r or m.startswith(r + ".") for r in roots)]


def test_whole_engine_imports_no_qt():
    mods = loaded_after(
        "import pkgutil, importlib, optiscope.engine as e\n"
        "names = [m.name for m in pkgutil.iter_modules(e.__path__)]\n"
        "assert {'trainer', 'cli', 'cli_run', 'cli_runs', 'store', 'tabular', 'runner'} <= set(names), names\n"
        "for n in names:\n"
        "    importlib.import_module('optiscope.engine.' + n)\n"
        "from optiscope.engine.cli import build_parser\n"
        "build_parser()\n"
    )
    assert "optiscope.engine.trainer" in mods and "torch" in mods  # the imports really happened
    assert _offenders(mods, HEAVY_GUI) == []


def test_light_modules_import_no_torch_or_sklearn():
    mods = loaded_after(
        "import optiscope.engine, optiscope.engine.config, optiscope.engine.events, optiscope.engine.presets\n"
        "from optiscope.engine.presets import all_presets\n"
        "all_presets()\n"
    )
    assert "optiscope.engine.config" in mods and "pydantic" in mods
    assert _offenders(mods, ("torch", "sklearn", *HEAVY_GUI)) == []


def test_cli_parser_and_run_store_import_no_torch():
    """`optiscope runs list` must start fast: the parser and the store need no torch."""
    mods = loaded_after(
        "from optiscope.engine.cli import build_parser\nbuild_parser()\nimport optiscope.engine.store\n"
    )
    assert "optiscope.engine.cli_runs" in mods and "optiscope.engine.store" in mods
    assert _offenders(mods, ("torch", "sklearn", *HEAVY_GUI)) == []
