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
        "names = [m.name for m in pkgutil.walk_packages(e.__path__, 'optiscope.engine.')]\n"
        "assert {'optiscope.engine.' + n for n in ('trainer', 'cli', 'cli.run', 'cli.runs', 'cli.surface',\n"
        "        'store', 'tabular', 'runner', 'landscape', 'cli.record', 'lessons')} <= set(names), names\n"
        "for n in names:\n"
        "    if not n.endswith('__main__'):\n"
        "        importlib.import_module(n)\n"
        "from optiscope.engine.cli import build_parser\n"
        "build_parser()\n"
    )
    assert "optiscope.engine.trainer" in mods and "torch" in mods  # the imports really happened
    assert _offenders(mods, HEAVY_GUI) == []


LIGHT = (
    "optiscope.engine",
    "optiscope.engine.config",
    "optiscope.engine.events",
    "optiscope.engine.presets",
    "optiscope.engine.formats",
    "optiscope.engine.dataset",
    "optiscope.engine.data",
    "optiscope.engine.models",
    "optiscope.engine.store",
    "optiscope.engine.lessons",
)


def test_light_modules_import_no_torch_or_sklearn():
    """The engine facts the window asks for are answered without torch or scikit-learn."""
    mods = loaded_after(
        "".join(f"import {m}\n" for m in LIGHT) + "from optiscope.engine.presets import all_presets\n"
        "from optiscope.engine.config import race_experiment, steps_per_epoch, OPTIMIZER_KINDS\n"
        "from optiscope.engine.data import dataset_shape\n"
        "from optiscope.engine.models import param_count\n"
        "from optiscope.engine.formats import format_csv, METRIC_COLUMNS\n"
        "runs = [r for e in all_presets().values() for r in e.runs()]\n"
        "race_experiment(runs[:3])\n"
        "for r in runs:\n"
        "    s = dataset_shape(r.dataset)\n"
        "    steps_per_epoch(s['n_train'], r.training.batch_size)\n"
        "    param_count(r.model, s['n_features'], s['n_classes'], s['image_shape'])\n"
    )
    assert set(LIGHT) <= set(mods) and "pydantic" in mods  # the imports really happened
    assert _offenders(mods, ("torch", "sklearn", *HEAVY_GUI)) == []


def test_cli_parser_and_run_store_import_no_torch():
    """`optiscope runs list` must start fast: the parser and the store need no torch."""
    mods = loaded_after(
        "from optiscope.engine.cli import build_parser\nbuild_parser()\nimport optiscope.engine.store\n"
    )
    assert "optiscope.engine.cli.runs" in mods and "optiscope.engine.store" in mods
    assert _offenders(mods, ("torch", "sklearn", *HEAVY_GUI)) == []
