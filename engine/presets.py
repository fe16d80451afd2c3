"""Bundled experiment presets: TOML files in ``optiscope.resources/presets``.

Each preset is an ordinary experiment file (validated like any other) whose
``description`` is its one-line summary and whose ``lesson`` says what to look for.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from .config import ConfigError, ExperimentConfig, loads_toml

__all__ = ["preset_names", "get_preset", "all_presets"]


def _folder():
    return resources.files("optiscope.resources") / "presets"


@cache
def all_presets() -> dict[str, ExperimentConfig]:
    """Every bundled preset by name, in name order."""
    out: dict[str, ExperimentConfig] = {}
    for entry in sorted(_folder().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = entry.name[: -len(".toml")]
            out[name] = loads_toml(entry.read_text(encoding="utf-8"), f"preset {name}")
    return out


def preset_names() -> list[str]:
    return list(all_presets())


def get_preset(name: str) -> ExperimentConfig:
    """The preset called ``name``; ConfigError lists the known names otherwise."""
    presets = all_presets()
    if name not in presets:
        raise ConfigError(f"no preset named {name!r}; known presets: {', '.join(presets)}")
    return presets[name]
