"""Writing files so that a crash or a full disk never leaves a half-written one.

Temporaries are created exclusively (``tempfile.mkstemp`` in the target's folder: a new
random name opened with ``O_CREAT | O_EXCL`` and, where the system has it, ``O_NOFOLLOW``),
so a symlink planted at a predictable name can never redirect a write to another file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_with", "new_file_mode", "publish"]

_UMASK = os.umask(0)  # read once, at import (single-threaded): new files get 0o666 & ~umask
os.umask(_UMASK)


def new_file_mode(path: str | Path) -> int:
    """The permission bits a file written to ``path`` should get: the old file's, or the
    usual ``0o666 & ~umask`` (a temporary from ``mkstemp`` is 0o600 whatever the umask)."""
    try:
        return Path(path).stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_UMASK


def publish(tmp: str | Path, path: str | Path) -> None:
    """Rename the finished temporary ``tmp`` over ``path``, with :func:`new_file_mode`'s bits."""
    mode = new_file_mode(path)
    if hasattr(os, "chmod"):
        os.chmod(tmp, mode)
    os.replace(tmp, path)


def atomic_write_with(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on an exclusive temporary file beside ``path``, flush it to disk,
    then rename it over ``path``. On failure the temporary is removed and ``path`` is intact.

    The new file gets the old one's permission bits, or the usual ``0o666 & ~umask``.
    """
    path = Path(path)
    mode = new_file_mode(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            if hasattr(os, "fchmod"):  # POSIX: mkstemp made it 0o600
                os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_with`)."""
    atomic_write_with(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text (newlines written as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))
