"""Bundled experiment presets: TOML files in ``optiscope.resources/presets``.

Each preset is an ordinary experiment file (validated like any other) whose
``description`` is its one-line summary and whose ``lesson`` says what to look for.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from .config import ConfigError, ExperimentConfig, loads_toml

__all__ = ["preset_names", "get_preset", "all_presets"]


def _folder() -> Traversable:
    return resources.files("optiscope.resources") / "presets"


@cache
def all_presets() -> dict[str, ExperimentConfig]:
    """Every bundled preset by name, in name order."""
    return {name: _load(name) for name in preset_names()}


def preset_names() -> list[str]:
    """The bundled presets' names, in name order (no file is parsed)."""
    return sorted(e.name[: -len(".toml")] for e in _folder().iterdir() if e.name.endswith(".toml"))


def get_preset(name: str) -> ExperimentConfig:
    """The preset called ``name`` (only its file is read); ConfigError lists the known names otherwise."""
    entry = _folder() / f"{name}.toml"
    if "/" in name or "\\" in name or not entry.is_file():
        raise ConfigError(f"no preset named {name!r}; known presets: {', '.join(preset_names())}")
    return _load(name)


@cache
def _load(name: str) -> ExperimentConfig:
    text = (_folder() / f"{name}.toml").read_text(encoding="utf-8")
    return loads_toml(text, f"preset {name}")
