"""Keeping freed memory for reuse: the allocator settings training runs under.

Training makes and frees the same large temporaries again and again (a batched step's
``(K, units, batch)`` activations, an evaluation block, the Inside probe's outputs, a few
MiB each). glibc's ``malloc`` serves blocks that size with fresh ``mmap`` pages or gives the
top of its heap back to the system once enough is free, so each new temporary page-faults
in again: about 50,000 faults in one 128-run lr-sweep, 5-10 % of its time on a busy machine.
:func:`keep_freed_memory` raises both thresholds once per process (``mallopt``, glibc only;
elsewhere it does nothing): blocks up to :data:`MMAP_THRESHOLD` come from the heap and up to
:data:`TRIM_THRESHOLD` of free heap is kept for the next temporaries. Numbers are unchanged.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

MMAP_THRESHOLD = 32 << 20  # blocks below this come from the heap (glibc's own dynamic maximum)
TRIM_THRESHOLD = 64 << 20  # free heap kept before any is given back to the system
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's thresholds (once per process); True if they are set, False where the C
    library is not glibc or refuses."""
    global _done
    if _done is None:
        _done = False
        try:  # glibc names itself here; musl, macOS and Windows do not (cheaper than platform.libc_ver)
            glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
        except (ValueError, OSError, AttributeError):
            glibc = ""
        if glibc.startswith("glibc"):
            try:
                libc = ctypes.CDLL(None)  # the process's own symbols: libc's mallopt among them
                _done = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                    libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                )
            except (OSError, AttributeError):
                _done = False
    return _done
