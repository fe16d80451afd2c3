"""Result-file columns and number formats: the one owner of both (light: no torch).

The CLI's ``metrics.csv`` / ``steps.csv`` and the window's CSV export use the same
columns and :func:`format_csv`; readouts on screen use :func:`format_short`. Text cells
(labels, names) are escaped against spreadsheet formula injection as OWASP recommends
for CSV export: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import math

__all__ = [
    "METRIC_COLUMNS",
    "STEP_COLUMNS",
    "LAYER_COLUMNS",
    "FORMULA_STARTS",
    "csv_text",
    "format_csv",
    "format_short",
    "format_percent",
    "format_setting",
]

#: Columns of ``metrics.csv``: one row per run and epoch.
METRIC_COLUMNS = ("run", "label", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
#: Columns of ``steps.csv``: one row per run and update.
STEP_COLUMNS = ("run", "step", "epoch", "lr", "loss")
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
