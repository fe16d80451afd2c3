"""Share codes: a whole experiment as one line of text (``optiscope share``, ``run --from-code``).

A code is ``optiscope:1:<data>:<check>``: ``1`` the code format's version, ``<data>`` the
experiment's canonical TOML (:func:`engine.config.dumps_toml`) compressed with zlib and
written in URL-safe base64 without padding, ``<check>`` the first 8 hex digits of the
SHA-256 of the TOML text. Reading a code back checks every part, decompresses at most
:data:`MAX_TOML_BYTES` (no zip bomb) and validates the TOML as a file would be, so a bad,
cut or tampered code gives one clear :class:`~engine.config.ConfigError` line.

Light: no torch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib

from .config import ConfigError, ExperimentConfig, dumps_toml, loads_toml

__all__ = ["PREFIX", "VERSION", "MAX_CODE_CHARS", "MAX_TOML_BYTES", "encode", "decode"]

PREFIX = "optiscope"
VERSION = 1
#: the longest code read (characters); presets need well under 3,000
MAX_CODE_CHARS = 200_000
#: the most TOML a code may expand to (bytes): far beyond any experiment, far below a bomb
MAX_TOML_BYTES = 1_000_000

_DATA = re.compile(r"[A-Za-z0-9_-]+")
_CHECK = re.compile(r"[0-9a-f]{8}")


def _check(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()[:8]


def encode(exp: ExperimentConfig) -> str:
    """The share code of ``exp`` (one line, ASCII)."""
    toml = dumps_toml(exp).encode("utf-8")
    data = base64.urlsafe_b64encode(zlib.compress(toml, 9)).decode("ascii").rstrip("=")
    return f"{PREFIX}:{VERSION}:{data}:{_check(toml)}"


def _fail(why: str) -> ConfigError:
    return ConfigError(f"the share code {why}")


def decode(code: str) -> ExperimentConfig:
    """The experiment a share code holds; ConfigError (one line) naming what is wrong."""
    if not isinstance(code, str):
        raise _fail("must be text")
    code = code.strip()
    if len(code) > MAX_CODE_CHARS:
        raise _fail(f"is {len(code):,} characters long, more than a code can be ({MAX_CODE_CHARS:,})")
    parts = code.split(":")
    if parts[0] != PREFIX:
        raise _fail(f"does not start with '{PREFIX}:'; copy the whole code, e.g. from 'optiscope share'")
    if len(parts) != 4:
        raise _fail(
            f"has {len(parts)} ':'-separated parts, not 4 ({PREFIX}:VERSION:DATA:CHECK); "
            "it was cut or changed: copy it again"
        )
    _, version, data, check = parts
    if not version.isdigit() or len(version) > 6:
        raise _fail(f"has no valid version number ({version[:20]!r}); copy it again")
    if int(version) != VERSION:
        raise _fail(
            f"has version {int(version)}; this Optiscope reads version {VERSION} codes"
            + (" (a newer Optiscope made it)" if int(version) > VERSION else "")
        )
    if not _DATA.fullmatch(data):
        raise _fail("data part holds characters a code never has (only A-Z a-z 0-9 - _); copy it again")
    if not _CHECK.fullmatch(check):
        raise _fail("check part is not 8 hexadecimal digits; it was cut or changed: copy it again")
    try:
        packed = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raise _fail("data part is cut or changed (not valid base64); copy it again") from None
    inflater = zlib.decompressobj()
    try:
        toml = inflater.decompress(packed, MAX_TOML_BYTES)
    except zlib.error:
        raise _fail("data part is damaged (it does not decompress); copy it again") from None
    if inflater.unconsumed_tail:
        raise _fail(f"expands to more than {MAX_TOML_BYTES:,} bytes; no experiment is that large")
    if not inflater.eof or inflater.unused_data:
        raise _fail("data part is cut or changed (the compressed data is incomplete); copy it again")
    if _check(toml) != check:
        raise _fail("does not match its check digits: it was changed or mistyped; copy it again")
    try:
        text = toml.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - the checksum matched what encode() wrote
        raise _fail("does not hold UTF-8 text") from None
    return loads_toml(text, "the share code")
