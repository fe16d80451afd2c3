"""Where Optiscope keeps its files: the per-user data and cache folders (light: no torch)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["optiscope_dir"]


def optiscope_dir(kind: str) -> Path:
    """Optiscope's per-user folder of ``kind`` ('data' or 'cache').

    ``$OPTISCOPE_HOME/<kind>`` when ``OPTISCOPE_HOME`` is set (tests, portable installs),
    else the platformdirs user data / cache directory.
    """
    home = os.environ.get("OPTISCOPE_HOME")
    if home:
        return Path(home).expanduser() / kind
    import platformdirs

    if kind == "cache":
        return Path(platformdirs.user_cache_dir("optiscope", appauthor=False))
    return Path(platformdirs.user_data_dir("optiscope", appauthor=False))
