"""Optiscope's engine: configs, datasets, models, optimizers, schedules and the training loop.

Pure Python + torch/numpy/scikit-learn; it never imports Qt. Importing this package is
cheap (no torch): heavy modules load when first used, e.g. ``from optiscope.engine
import trainer``. The names below come from :mod:`engine.config` when first asked for, so
importing a submodule (an optimizer or schedule part, say) does not build the config
schema before the registries are complete.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "ExperimentConfig", "RunConfig", "load_toml"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
