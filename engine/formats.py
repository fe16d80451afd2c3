"""Result-file columns and number formats: the one owner of both (light: no torch).

The CLI's ``metrics.csv`` / ``steps.csv`` and the window's CSV export use the same
columns and :func:`format_csv`; readouts on screen use :func:`format_short`. Text cells
(labels, names) are escaped against spreadsheet formula injection as OWASP recommends
for CSV export: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "SEED_COLUMNS",
    "METRIC_VALUES",
    "METRIC_COLUMNS",
    "STEP_COLUMNS",
    "LAYER_COLUMNS",
    "FORMULA_STARTS",
    "csv_text",
    "csv_table",
    "format_csv",
    "format_short",
    "format_percent",
    "shown",
    "terminal_safe",
    "format_setting",
]

#: The last two columns of every per-run result file: which runner (an experiment's variation, or
#: its base, numbered as ``optiscope validate`` lists them) and which training seed the run is. With
#: ``seeds = N`` run ``r`` is runner ``r // N`` with seed ``s + r % N`` (engine/seeds.py). A file
#: written before these columns existed reads as runner = run, seed = the run's config seed.
SEED_COLUMNS = ("runner", "seed")
#: The per-epoch numbers of ``metrics.csv``, in its order (each an ``EpochEnd`` field).
#: ``train_loss``/``val_loss``: mean cross-entropy over the whole set after the epoch, without the
#: L1/L2 penalty (``eval_train = false``: the running mean of the epoch's minibatch objectives).
METRIC_VALUES = ("lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
#: Columns of ``metrics.csv``: one row per run and epoch.
METRIC_COLUMNS = ("run", "label", "epoch", *METRIC_VALUES, *SEED_COLUMNS)
#: Columns of ``steps.csv``: one row per run and update; ``loss`` is the update's minibatch
#: objective, cross-entropy plus the L1/L2 penalty on the weight matrices.
STEP_COLUMNS = ("run", "step", "epoch", "lr", "loss", *SEED_COLUMNS)
#: Columns of ``layers.csv``: one row per run, LayerStats update and layer (``engine.events.LayerStats``).
LAYER_COLUMNS = (
    "run",
    "step",
    "epoch",
    "layer",
    "lr",
    "step_multiplier",
    "effective_lr_p5",
    "effective_lr_p50",
    "effective_lr_p95",
    "weight_norm",
    "grad_norm",
    "update_ratio",
    "dead_fraction",
    "zero_fraction",
    *SEED_COLUMNS,
)


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """A text cell safe to open in a spreadsheet: ``'`` before a formula-like start."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _non_finite(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def format_csv(v: object) -> str:
    """The exact form for files: ``repr`` of a float (round-trips), ``nan``/``inf``/``-inf``;
    text through :func:`csv_text` (formula injection); ``str`` of anything else."""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else _non_finite(v)
    if isinstance(v, str):
        return csv_text(v)
    return str(v)


def csv_table(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """The text of a CSV file: the one writer of every CSV Optiscope writes (``metrics.csv``,
    ``trials.csv``, exports). Each cell through :func:`format_csv` (exact floats, text escaped
    against formula injection); None is an empty cell."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["" if c is None else format_csv(c) for c in header])
    for row in rows:
        w.writerow(["" if c is None else format_csv(c) for c in row])
    return buf.getvalue()


def format_setting(value: object) -> str:
    """A setting in a run label: ``yes``/``no`` for switches, ``g`` for numbers (``0.001``)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_short(v: float) -> str:
    """The display form: 4 significant digits (``.4g``), ``nan``/``inf``/``-inf``."""
    v = float(v)
    return f"{v:.4g}" if math.isfinite(v) else _non_finite(v)


def format_percent(v: float) -> str:
    """A fraction as a percentage with one decimal ("92.3 %"), "—" if not finite."""
    v = float(v)
    return f"{100 * v:.1f} %" if math.isfinite(v) else "—"


#: Characters a terminal may act on instead of printing: C0 and C1 controls (escape sequences,
#: carriage return, backspace), DEL, and the Unicode line and paragraph separators.
_UNSAFE = {c for c in range(0x20)} | {0x7F} | set(range(0x80, 0xA0)) | {0x2028, 0x2029}
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _UNSAFE}


def terminal_safe(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\n``
    as ``\\x0a``): a label or study name printed to a terminal can neither run an escape
    sequence (set the title, clear the screen) nor start a line of its own."""
    return text.translate(_ESCAPES) if any(ord(c) in _UNSAFE for c in text) else text


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters (a 20 MB
    value is echoed as its first characters and its length), control characters escaped."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value):,} characters)"
    if isinstance(value, (list, tuple, dict, set)) and len(value) > 10:
        kind = type(value).__name__
        return f"a {kind} of {len(value):,} items"
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text):,} characters)"
    return terminal_safe(text)
