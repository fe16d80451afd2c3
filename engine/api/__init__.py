"""Optiscope in a notebook: ``import optiscope``.

The same engine as the ``optiscope`` command line, with results as pandas DataFrames::

    import optiscope

    exp = optiscope.preset("momentum-sweep")        # or optiscope.load("my.toml")
    result = optiscope.run(exp, epochs=20)           # a tqdm bar that works in Jupyter
    result.metrics                                   # one row per run and epoch (metrics.csv)
    result.summary["runs"][0]["final"]["val_acc"]    # summary.json as a dict
    race = optiscope.run(exp, epochs=20, seeds=10)  # 10 seeds per runner (optiscope run --seeds 10)
    race.runners, race.verdicts                      # means with 95 % intervals, paired verdicts

``run``, ``lr_find``, ``search`` and ``surface`` train exactly what ``optiscope run``,
``lr-find``, ``search`` and ``surface`` train (same seeds, one CPU thread, the same numbers)
and raise the same errors: :class:`ConfigError` for a bad experiment or argument,
:class:`DataError` for bad data. ``share``/``from_code`` and ``export_script`` are
``optiscope share`` and ``optiscope export-script``; ``show(result)`` opens the window on a
result (:class:`DisplayError` where there is no display). See docs/api.md.

This package is installed as the top-level ``optiscope``; it lives in engine/api/ (the
project's layout has no other place for it) and imports the engine as ``optiscope.engine``.
pandas is imported only here, when a result is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "ConfigError",
    "DataError",
    "DisplayError",
    "ExperimentConfig",
    "RunConfig",
    "Result",
    "LRFind",
    "Search",
    "Surface",
    "load",
    "preset",
    "presets",
    "share",
    "from_code",
    "run",
    "lr_find",
    "search",
    "surface",
    "export_script",
    "show",
]

if TYPE_CHECKING:
    from ._api import (  # noqa: F401
        ConfigError,
        DataError,
        DisplayError,
        ExperimentConfig,
        LRFind,
        Result,
        RunConfig,
        Search,
        Surface,
        export_script,
        from_code,
        load,
        lr_find,
        preset,
        presets,
        run,
        search,
        share,
        show,
        surface,
    )


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): every ``import optiscope.engine...`` runs this package first, and the engine
    # must not build its config schema then (an optimizer or schedule part registers before it).
    if name in __all__:
        from . import _api

        return getattr(_api, name)
    raise AttributeError(f"module 'optiscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
