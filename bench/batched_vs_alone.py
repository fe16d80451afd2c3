"""Not a speed bar: issue 21's bar, measured. Every new optimizer x every new schedule trained
as ``optiscope run`` trains a race (``execute``: batched where the plan batches, each run that
trains alone saying why) and the same runs each trained alone (``execute(batched=False)``,
the ``torch.optim`` path); per optimizer, the largest per-epoch training-loss difference.

The bar is 1e-4 per epoch. Muon is measured twice: as it trains by default (alone: the two
sides are the same computation) and with ``batched = true`` (its batched twin, whose bfloat16
Newton-Schulz turns the batched engine's float32 rounding into ~5e-4), the latter printed as
information. The runs are those of ``tests/engine/test_new_optimizers.py``: blobs (300
samples), dense 32 + batch norm + dense 16, batch 16, 4 epochs.

    .venv/bin/python bench/batched_vs_alone.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import torch

#: option sets per optimizer (each under every new schedule)
OPTIONS: dict[str, list[dict]] = {
    "radam": [{}, {"lr": 0.003, "decoupled_weight_decay": True, "weight_decay": 0.01}],
    "adafactor": [
        {},
        {"lr": 0.05, "d": 1.5, "beta2_decay": -0.5, "weight_decay": 0.1},
        {"lr": 0.003, "eps2": 0.01},
    ],
    "muon": [
        {"lr": 0.01},
        {"lr": 0.003, "adjust_lr_fn": "original", "momentum": 0.9, "weight_decay": 0.0},
        {"lr": 0.02, "eps": 1e-6, "nesterov": False},
    ],
    "lion": [{}, {"lr": 3e-4, "weight_decay": 0.1}],
    "schedulefree_adamw": [{}, {"lr": 0.01, "warmup_steps": 10}],
    "schedulefree_sgd": [{}, {"lr": 0.05, "momentum": 0.5}],
    "prodigy": [{}, {"weight_decay": 0.01, "use_bias_correction": True}],
}
SCHEDULES = [
    {"kind": "wsd"},
    {"kind": "linear", "warmup_steps": 5},
    {"kind": "polynomial"},
    {"kind": "multistep"},
    {"kind": "inverse_sqrt"},
]
BAR = 1e-4


def runs(epochs: int) -> list:
    from optiscope.engine.config import RunConfig

    out = []
    for kind, options in OPTIONS.items():
        for asked in (False, True) if kind == "muon" else (None,):
            for o in options:
                opt = {"kind": kind, **o, **({} if asked is None else {"batched": asked})}
                for s in SCHEDULES:
                    label = f"{kind}{' batched=true' if asked else ''}"
                    out.append(
                        RunConfig.model_validate(
                            {
                                "label": label,
                                "dataset": {"name": "blobs", "n_samples": 300},
                                "model": {
                                    "layers": [
                                        {"type": "dense", "units": 32},
                                        {"type": "batchnorm"},
                                        {"type": "dense", "units": 16},
                                    ]
                                },
                                "training": {"epochs": epochs, "batch_size": 16, "device": "cpu"},
                                "optimizer": opt,
                                "schedule": s,
                            }
                        )
                    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as optiscope run
    from optiscope.engine.runner import execute

    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cfgs = runs(args.epochs)
    said: list[str] = []
    batched = execute(cfgs, log=said.append)
    alone = execute(cfgs, batched=False, log=lambda _m: None)
    print(f"{len(cfgs)} runs; 'optiscope run' said:")
    reasons = sorted({m.split(": ", 1)[1] for m in said if " not batched: " in m})
    for line in said:
        if "batched together" in line:
            print(f"  {line[:100]}{' ...' if len(line) > 100 else ''}")
    for why in reasons:
        n = sum(1 for m in said if m.endswith(why))
        print(f"  {n} runs not batched: {why}")
    gaps: dict[str, float] = {}
    for c, b, a in zip(cfgs, batched, alone, strict=True):
        assert len(b.epochs) == len(a.epochs) == args.epochs, c.label
        gap = max(abs(eb.train_loss - ea.train_loss) for eb, ea in zip(b.epochs, a.epochs, strict=True))
        gaps[c.label] = max(gaps.get(c.label, 0.0), gap)
    ok = True
    print(f"\nlargest per-epoch train-loss difference, 'optiscope run' vs each run alone (bar {BAR:g}):")
    for label, gap in gaps.items():
        info = label.endswith("batched=true")
        verdict = "(information)" if info else ("PASS" if gap <= BAR else "FAIL")
        ok &= info or gap <= BAR
        print(f"  {label:<22} {gap:.2e}  {verdict}")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
