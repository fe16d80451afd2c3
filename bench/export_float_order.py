"""Not a speed bar: how far the exported script of a batched run is from it, and why.

For a run of a preset, per epoch, the largest relative difference of train/val loss between

* ``batched``: ``optiscope run`` (the run trained batched with its race, engine.kernels.BatchedKernel)
  and the exported script (``optiscope export-script``, plain ``nn.Linear`` + autograd +
  ``torch.optim``), which equals Optiscope's one-run path to the last bit;
* ``column order``: the same exported script with every ``nn.Linear`` computing
  ``W @ x.T + b`` (the batched kernel's column layout) instead of ``x @ W.T + b``: the same
  mathematics in plain PyTorch and autograd, only another float32 summation order;
* ``1-ulp nudge``: the exported script with one initial weight moved by one float32 ulp.

The three grow and shrink at the same epochs: the gap is float32 rounding amplified by the
training dynamics (lr-sweep's lr=0.1 in epoch 1; batchnorm-lr's plain lr=3 from epoch 9 on),
not an error of the batched kernel or of the export.

    .venv/bin/python bench/export_float_order.py [--epochs 30] [--preset lr-sweep --run 1]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

torch.set_num_threads(1)


def _rel(a: list[dict], b: list[dict]) -> list[float]:
    out = []
    for x, y in zip(a, b, strict=True):
        out.append(
            max(
                abs(x[k] - y[k]) / max(abs(y[k]), 1e-30) if math.isfinite(x[k]) else 0.0
                for k in ("train_loss", "val_loss")
            )
        )
    return out


def _script_history(script: Path, run: int, epochs: int, linear: str = "", nudge: bool = False) -> list[dict]:
    import types

    module = types.ModuleType("exported_train_script")  # a module of its own: its dataclasses need one
    sys.modules[module.__name__] = module
    ns = module.__dict__
    original = torch.nn.Linear.forward
    if linear == "column":
        torch.nn.Linear.forward = lambda self, x: torch.addmm(self.bias.unsqueeze(1), self.weight, x.T).T
    try:
        exec(compile(script.read_text(encoding="utf-8"), str(script), "exec"), ns)
        if nudge:
            name = [n for n in ns["RUNS"][run].__code__.co_names if n.startswith("Net")][0]
            base = ns[name]

            class Nudged(base):  # type: ignore[misc, valid-type]
                def __init__(self) -> None:
                    super().__init__()
                    with torch.no_grad():
                        w = next(p for p in self.parameters() if p.ndim > 1)
                        w.view(-1)[0] = torch.nextafter(w.view(-1)[0], torch.tensor(math.inf))

            ns[name] = Nudged
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            return ns["RUNS"][run](epochs=epochs)[1]
    finally:
        torch.nn.Linear.forward = original


def main() -> int:
    from optiscope.engine.presets import get_preset
    from optiscope.engine.runner import execute

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="lr-sweep")
    p.add_argument("--run", type=int, default=1, help="the run of the preset (lr-sweep run 1: SGD lr 0.1)")
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    runs = get_preset(args.preset).with_overrides(epochs=args.epochs).runs()
    batched = execute(runs, stats_every=0)[args.run]
    cli = [{k: getattr(e, k) for k in ("train_loss", "val_loss")} for e in batched.epochs]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "train.py"
        cmd = [sys.executable, "-m", "optiscope.engine.cli", "export-script", "--preset", args.preset]
        subprocess.run([*cmd, "--all", "--out", str(script)], check=True, capture_output=True)
        plain = _script_history(script, args.run, args.epochs)
        column = _script_history(script, args.run, args.epochs, linear="column")
        nudged = _script_history(script, args.run, args.epochs, nudge=True)
    rows = {
        "batched (optiscope run) vs script": _rel(cli, plain),
        "column-order nn.Linear vs script": _rel(column, plain),
        "1-ulp nudge vs script": _rel(nudged, plain),
    }
    print(
        f"{args.preset} run {args.run} ({batched.label}), {args.epochs} epochs, per-epoch max relative loss difference"
    )
    width = max(len(k) for k in rows)
    shown = min(args.epochs, 12)
    print(" " * width + "  " + " ".join(f"{f'ep {i + 1}':>7}" for i in range(shown)) + "      max (epoch)")
    for name, rel in rows.items():
        worst = max(rel)
        print(
            f"{name:<{width}}  "
            + " ".join(f"{r:7.1e}" for r in rel[:shown])
            + f"  {worst:7.1e} ({rel.index(worst) + 1})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
