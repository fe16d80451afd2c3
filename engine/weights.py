"""Trained weights as files: each run's ``state_dict`` saved with ``torch.save``.

The keys are those of :func:`engine.models.build_model`'s ``nn.Sequential`` (``0.weight``,
``0.bias``, ...), which the model classes of an exported script (``optiscope
export-script``) share, so ``Net().load_state_dict(torch.load(path))`` works there. A run
stopped early with ``restore_best`` holds its best epoch's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .loop import RunResult

__all__ = ["save_weights", "state_dict_bytes", "weights_file"]


def weights_file(folder: str | Path, run: int) -> Path:
    """Where run ``run``'s weights go in ``folder``."""
    return Path(folder) / f"run-{run}.pt"


def state_dict_bytes(model: Any) -> bytes:
    """``model``'s ``state_dict`` (on the CPU) as the bytes ``torch.save`` writes."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def save_weights(folder: str | Path, results: Sequence[RunResult]) -> tuple[list[Path], list[str]]:
    """Save every run's model (``execute(..., keep_models=True)``) as ``folder/run-N.pt``.

    Returns the files written and one line per run left out (failed or diverged: no
    meaningful weights). Each file is written atomically.
    """
    from .files import atomic_write_bytes

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for r in results:
        if r.model is None or r.reason in ("failed", "diverged"):
            skipped.append(f"run {r.run} ({r.label}): {r.reason}, no weights saved")
            continue
        path = weights_file(out, r.run)
        atomic_write_bytes(path, state_dict_bytes(r.model))
        written.append(path)
    return written, skipped
