"""Optiscope's engine: configs, datasets, models, optimizers, schedules and the training loop.

Pure Python + torch/numpy/scikit-learn; it never imports Qt. Importing this package is
cheap (no torch): heavy modules load when first used, e.g. ``from optiscope.engine
import trainer``.
"""

from .config import ConfigError, ExperimentConfig, RunConfig, load_toml

__all__ = ["ConfigError", "ExperimentConfig", "RunConfig", "load_toml"]
