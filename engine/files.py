"""Writing files so that a crash or a full disk never leaves a half-written one.

Temporaries are created exclusively (``tempfile.mkstemp`` in the target's folder: a new
random name opened with ``O_CREAT | O_EXCL`` and, where the system has it, ``O_NOFOLLOW``),
so a symlink planted at a predictable name can never redirect a write to another file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_with",
    "new_file_mode",
    "publish",
    "read_limited",
    "FileRefused",
    "MAX_SETTINGS_BYTES",
    "MAX_DATA_BYTES",
]

#: The largest experiment, lesson or search-space file read (the biggest bundled one is ~4 KB).
MAX_SETTINGS_BYTES = 4 * 1024**2
#: The largest CSV data file read (the datasets Optiscope trains on fit in a few MB).
MAX_DATA_BYTES = 512 * 1024**2


class FileRefused(ValueError):
    """A file not read: too large, or not a regular file (a device, pipe or folder)."""


def _size_words(n: int) -> str:
    return f"{n / 1024**2:.0f} MB" if n >= 1024**2 else f"{n / 1024:.0f} KB"


def read_limited(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refused (:class:`FileRefused`, a sentence
    naming the problem) when it is a device, pipe or folder or larger than ``limit``.

    Nothing is read before the checks: ``/dev/zero`` or a FIFO never blocks or fills memory
    (the file is opened non-blocking and checked with ``fstat`` on the open descriptor).
    OSError (missing, unreadable) passes through.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "is a folder, not a file", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(
                f"{path}: not a regular file (a device, pipe or socket); give the path of a file"
            )
        if st.st_size > limit:
            raise FileRefused(
                f"{path}: the file is {_size_words(st.st_size)}, more than the {_size_words(limit)} "
                "this reads; check that it is the right file"
            )
        chunks: list[bytes] = []
        total = 0
        while True:  # a file that grows while read is still cut at the limit
            chunk = os.read(fd, min(1024**2, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileRefused(f"{path}: the file is larger than the {_size_words(limit)} this reads")
        return b"".join(chunks)
    finally:
        os.close(fd)


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
