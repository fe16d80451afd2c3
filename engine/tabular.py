"""CSV import: a user's table as a :class:`~engine.data.Dataset`, with a content-hash cache.

:func:`load_csv_dataset` reads ``cfg.path`` with the :mod:`csv` module, takes ``cfg.target``
as the class column (string labels become class indices; ``class_names`` keep the original
strings), shuffles with ``cfg.seed``, splits at ``cfg.train_fraction`` and standardises the
features with the training split's statistics only.

Every problem raises :class:`~engine.data.DataError` naming the file, the column or line and
the fix. The parsed table is cached on disk (``<cache dir>/csv/<sha256>.npz``, keyed by the
file's bytes and the parsing options), so the second load of a large file skips parsing;
:func:`load_csv_dataset_timed` reports which happened and how long it took.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DatasetConfig
from .dataset import DataError, Dataset, split, standardize
from .files import atomic_write_with
from .paths import optiscope_dir

__all__ = [
    "load_csv_dataset",
    "load_csv_dataset_timed",
    "LoadInfo",
    "Table",
    "read_table",
    "cache_dir",
    "sniff_dialect",
]

#: Cells read as "no value". Anything else that is not a number is an error.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})

#: How many parsed tables the cache keeps (least recently used go first).
CACHE_ENTRIES = 32

# Bump when the cached table's layout or the parsing rules change.
_CACHE_FORMAT = "optiscope-csv-2"

#: The largest magnitude a feature may have: float32's (the network computes in float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Table:
    """A parsed CSV: numeric features (NaN where a value is missing) and the raw target."""

    columns: tuple[str, ...]  # feature columns, in file order, target excluded
    target: str
    x: np.ndarray  # float64 (rows, features); NaN = missing
    labels: np.ndarray  # str (rows,); "" = missing
    lines: np.ndarray  # int64 (rows,): the file line each row came from (header is line 1)


@dataclass(frozen=True)
class LoadInfo:
    """How a CSV was obtained: parsed now (and cached) or read from the cache."""

    path: str
    seconds: float
    from_cache: bool
    cache_note: str = ""

    def message(self) -> str:
        """E.g. ``loaded x.csv in 0.41 s (parsed; cached for next time)``."""
        name = Path(self.path).name
        how = "from cache" if self.from_cache else (self.cache_note or "parsed; cached for next time")
        return f"loaded {name} in {self.seconds:.2f} s ({how})"


def cache_dir() -> Path:
    """Where parsed tables are kept: the user cache dir, or ``$OPTISCOPE_HOME/cache``."""
    return optiscope_dir("cache") / "csv"


# --------------------------------------------------------------------------- reading
def _read_bytes(path: Path) -> bytes:
    from .files import MAX_DATA_BYTES, FileRefused, read_limited

    try:
        return read_limited(path, MAX_DATA_BYTES)
    except FileRefused as exc:
        raise DataError(str(exc)) from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; check the path given to --data / dataset.path") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file; give the path of the .csv file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied; make the file readable or copy it elsewhere") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check the path") from None


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: is not UTF-8 text (bad byte at offset {exc.start}); "
            "save it as 'CSV UTF-8' or check that it is really a CSV file"
        ) from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse_column(path: Path, name: str, cells: tuple[str, ...], lines: np.ndarray) -> np.ndarray:
    """One feature column as float64, NaN where a value is missing; DataError on text."""
    try:  # fast path: numpy converts the whole column in C
        values = np.array(cells, dtype=np.float64)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    values = np.empty(len(cells), dtype=np.float64)
    for i, raw in enumerate(cells):
        cell = raw.strip()
        if cell.lower() in MISSING:
            values[i] = np.nan
            continue
        try:
            v = float(cell)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            bad = sum(1 for c in cells if not _numeric_or_missing(c))
            raise DataError(  # the value itself is not shown: errors echo no file contents
                f"{path}: column {name!r}, line {int(lines[i])}: the value is not a number"
                + (f" ({bad} of {len(cells)} values in that column are not)" if bad > 1 else "")
                + "; features must be numeric: fix the value, encode the column as numbers, "
                "or remove the column"
            )
        values[i] = v
    return values


def _numeric_or_missing(cell: str) -> bool:
    cell = cell.strip()
    if cell.lower() in MISSING:
        return True
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def sniff_dialect(text: str) -> type[csv.Dialect] | str:
    """The CSV dialect of ``text`` (its first 16 KB: comma, semicolon or tab), else Excel's.
    The one sniffing rule: the loader and the data panel's column picker both use it."""
    sample = text[:16384]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return "excel"


def _read_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows with the file line each starts on. A quoted field that runs over
    line ends (an unterminated quote swallows every later row) is an error naming its line."""
    reader = csv.reader(io.StringIO(text), sniff_dialect(text))
    numbered = []
    line = 1
    try:
        for row in reader:
            if reader.line_num > line and any("\n" in c or "\r" in c for c in row):
                raise DataError(
                    f"{path}: line {line}: a quoted field runs over {reader.line_num - line} line "
                    f'end(s), to line {reader.line_num}; close its quote (") or remove the stray quote'
                )
            if any(c.strip() for c in row):  # blank lines carry no data
                numbered.append((line, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: not valid CSV ({exc}); fix that line") from None
    # lines as the csv module ends them (\r\n, \r, \n): str.splitlines also splits at form
    # feeds, U+2028 and other separators a label may hold
    lines = sum(1 for ln in re.split(r"\r\n|\r|\n", text) if ln.strip())
    if len(numbered) < 0.9 * lines:  # the csv module merged lines some other way: never silently
        raise DataError(
            f"{path}: only {len(numbered)} rows were read from {lines} non-blank lines; check the "
            "file's quotes and line ends (save it again as 'CSV UTF-8')"
        )
    return numbered


def _shown(names: list[str]) -> str:
    """Header names for a message: at most 20, each cut to 40 characters."""
    cut = [n if len(n) <= 40 else n[:37] + "..." for n in names[:20]]
    return ", ".join(cut) + (f", ... ({len(names)} columns)" if len(names) > 20 else "")


def parse_table(path: Path, text: str, target: str) -> Table:
    """Parse CSV ``text`` (from ``path``, for messages) into a :class:`Table`.

    Errors name the file, line and column but echo no file contents except the header of a
    table that is really CSV (two or more columns, every row as wide as the header).
    """
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty; it needs a header row naming the columns and one row per example"
        )
    numbered = _read_rows(path, text)
    if not numbered:
        raise DataError(f"{path}: the file is empty; it needs a header row and data rows")
    header_line, header = numbered[0]
    header = [c.strip() for c in header]
    width = len(header)
    if width < 2:
        raise DataError(
            f"{path}: does not look like a CSV table: line {header_line} has {width} field; a table "
            "needs a header naming at least two columns (a feature and the target), separated "
            "by commas, semicolons or tabs"
        )
    for line, row in numbered[1:]:  # before any header is shown: only a real table's is
        if len(row) != width:
            raise DataError(
                f"{path}: line {line} has {len(row)} values but the header has {width} columns; "
                "fix or remove that line"
            )
    numeric_names = [c for c in header if c and _is_number(c)]
    looks_like_data = numeric_names and (
        len(numeric_names) == len([c for c in header if c]) or target not in header
    )
    if looks_like_data:
        shown = _shown(header[:5]) + (", ..." if len(header) > 5 else "")
        raise DataError(
            f"{path}: no header row: line {header_line} ({shown}) holds numbers, not column names; "
            "add a first line naming the columns, e.g. x1,x2,label"
        )
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: column {j + 1} of the header (line {header_line}) has no name; name it")
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DataError(f"{path}: column name(s) {', '.join(map(repr, dupes))} appear twice; rename them")
    if target not in header:
        close = [c for c in header if c.lower() == target.lower()]
        hint = f" (did you mean {close[0]!r}? names are case-sensitive)" if close else ""
        raise DataError(
            f"{path}: no column named {target!r}{hint}; the columns are: {_shown(header)}. "
            "Pass one of them as --target / dataset.target"
        )
    data = numbered[1:]
    if not data:
        raise DataError(f"{path}: the header (line {header_line}) is followed by no data rows; add rows")
    t = header.index(target)
    feat_idx = [j for j in range(len(header)) if j != t]
    lines = np.fromiter((line for line, _ in data), dtype=np.int64, count=len(data))
    columns = list(zip(*(row for _, row in data), strict=True))
    labels = [c.strip() for c in columns[t]]
    x = np.empty((len(data), len(feat_idx)), dtype=np.float64)
    for k, j in enumerate(feat_idx):
        x[:, k] = _parse_column(path, header[j], columns[j], lines)
        huge = np.flatnonzero(np.abs(x[:, k]) > FLOAT32_MAX)  # NaN (missing) compares False
        if len(huge):
            raise DataError(
                f"{path}: column {header[j]!r}, line {int(lines[huge[0]])}: the value is beyond the "
                f"range of 32-bit floats (|x| <= {FLOAT32_MAX:.3g}); {len(huge)} value(s) in that column "
                "are; rescale the column (e.g. to other units or a logarithm) or remove it"
            )
    label_arr = np.array(labels, dtype=str) if labels else np.zeros(0, dtype="<U1")
    return Table(tuple(header[j] for j in feat_idx), target, x, label_arr, lines)


# --------------------------------------------------------------------------- cache
def _cache_key(raw: bytes, target: str) -> str:
    h = hashlib.sha256(raw)
    h.update(b"\0" + _CACHE_FORMAT.encode() + b"\0" + target.encode("utf-8"))
    return h.hexdigest()


def _cache_read(file: Path, target: str) -> Table | None:
    """The cached table, or None if absent or unreadable (a bad entry is just ignored)."""
    if not file.is_file():
        return None
    try:
        with open(file, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            table = Table(
                tuple(str(c) for c in z["columns"]),
                str(z["target"]),
                z["x"].astype(np.float64),
                z["labels"].astype(str),
                z["lines"].astype(np.int64),
            )
    except Exception:  # truncated, corrupt or foreign file: parse again and rewrite
        return None
    n = len(table.labels)
    if table.target != target or table.x.shape != (n, len(table.columns)) or len(table.lines) != n:
        return None
    return table


def _cache_write(file: Path, table: Table) -> str:
    """Write atomically; returns '' or a note on why the cache could not be written."""
    arrays = {
        "columns": np.array(table.columns, dtype=str),
        "target": np.array(table.target),
        "x": table.x,
        "labels": table.labels,
        "lines": table.lines,
    }
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        # exclusive temporary; numpy's stubs type **kwds as allow_pickle
        atomic_write_with(file, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]
    except OSError as exc:
        return f"parsed; not cached: {exc.strerror or exc}"
    _prune(file.parent)
    return ""


def _prune(folder: Path) -> None:
    """Keep the :data:`CACHE_ENTRIES` most recently used entries (a hit refreshes an entry's time)."""
    keep = CACHE_ENTRIES
    try:
        entries = sorted(folder.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in entries[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned at the same time: harmless


def read_table(path: str | Path, target: str, *, use_cache: bool = True) -> tuple[Table, LoadInfo]:
    """Parse ``path`` (or fetch it from the cache) and say how long it took."""
    path = Path(path)
    t0 = time.perf_counter()
    raw = _read_bytes(path)
    file = cache_dir() / f"{_cache_key(raw, target)}.npz"
    if use_cache:
        table = _cache_read(file, target)
        if table is not None:
            try:
                os.utime(file)  # most recently used: the last to be pruned
            except OSError:
                pass
            return table, LoadInfo(str(path), time.perf_counter() - t0, True)
    table = parse_table(path, _decode(path, raw), target)
    note = _cache_write(file, table) if use_cache else "parsed; cache off"
    return table, LoadInfo(str(path), time.perf_counter() - t0, False, note)


# --------------------------------------------------------------------------- dataset
def _class_order(labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Sorted class names (numerically if every label is a number) and class indices."""
    uniq = sorted(set(labels.tolist()))
    if all(_is_number(u) for u in uniq):
        uniq.sort(key=float)
    index = {u: i for i, u in enumerate(uniq)}
    return uniq, np.fromiter((index[v] for v in labels.tolist()), dtype=np.int64, count=len(labels))


def table_to_dataset(table: Table, cfg: DatasetConfig, path: str | Path) -> Dataset:
    """Missing-value handling, classes, seeded shuffle, split and standardisation."""
    x, labels, lines = table.x, table.labels, table.lines
    missing_cell = np.isnan(x)
    missing_row = missing_cell.any(axis=1) | (labels == "")  # an empty label is missing
    note_parts = []
    n_missing = int(missing_row.sum())
    if n_missing:
        first = int(np.flatnonzero(missing_row)[0])
        cols = [table.columns[k] for k in np.flatnonzero(missing_cell[first])]
        where = f"column {cols[0]!r}" if cols else f"target column {table.target!r}"
        if not cfg.drop_missing:
            raise DataError(
                f"{path}: {n_missing} of {len(labels)} rows have missing values (first: line "
                f"{int(lines[first])}, {where}); set dataset.drop_missing = true (CLI: --drop-missing) "
                "to drop those rows, or fill the values in"
            )
        keep = ~missing_row
        x, labels = x[keep], labels[keep]
        note_parts.append(f"Dropped {n_missing} row{'s' if n_missing > 1 else ''} with missing values.")
        if len(labels) == 0:
            raise DataError(f"{path}: every row has a missing value; nothing is left after dropping them")
    names, y = _class_order(labels)
    k = len(names)
    if k < 2:
        raise DataError(
            f"{path}: target column {table.target!r} holds a single class; a classifier "
            "needs at least two: choose another --target column or add examples of other classes"
        )
    if len(y) < 2 * k:
        raise DataError(
            f"{path}: {len(y)} rows for {k} classes in column {table.target!r}; at least {2 * k} rows "
            "(two per class) are needed. Add rows, or pick a target column with fewer distinct values "
            "(Optiscope classifies; a continuous column is not a class label)"
        )
    order = np.random.default_rng(cfg.seed).permutation(len(y))
    x = x[order]  # float64 until standardised: large values would overflow float32 sums
    y = y[order]
    x_tr, y_tr, x_va, y_va = split(x, y, cfg.train_fraction)
    if cfg.standardize is None or cfg.standardize:
        x_tr, x_va = standardize(x_tr, x_va)
    note_parts.insert(
        0,
        f"{Path(path).name}: {len(y)} rows, {len(table.columns)} features, {k} classes "
        f"(target {table.target!r}); n_samples does not apply.",
    )
    return Dataset(
        "csv",
        np.ascontiguousarray(x_tr, dtype=np.float32),
        y_tr,
        np.ascontiguousarray(x_va, dtype=np.float32),
        y_va,
        k,
        tuple(names),
        table.columns,
        None,
        " ".join(note_parts),
    )


def load_csv_dataset_timed(cfg: DatasetConfig) -> tuple[Dataset, LoadInfo]:
    """:func:`load_csv_dataset` plus how the table was loaded (parsed or from the cache)."""
    if not cfg.path or not cfg.target:
        raise DataError("dataset 'csv' needs both 'path' (the CSV file) and 'target' (its label column)")
    table, info = read_table(cfg.path, cfg.target)
    return table_to_dataset(table, cfg, cfg.path), info


def load_csv_dataset(cfg: DatasetConfig) -> Dataset:
    """The CSV file ``cfg.path`` as a dataset with class column ``cfg.target``.

    Raises
    ------
    DataError
        Naming the file, the column or line, and the fix.
    """
    return load_csv_dataset_timed(cfg)[0]
