"""``optiscope lr-find``: the learning-rate range test, headless.

Writes ``lr_find.csv`` (iteration, lr, loss, smoothed_loss) and ``suggestions.json``
(steepest, valley, minimum / 10, CLR bounds, and the settings used).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from .common import UsageError, add_experiment_args, load_experiment, prepare_out_dir

#: a range test sweeps the rate over a few hundred minibatches; 10,000 is far past any use
MAX_ITERATIONS = 10_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lr-find", help="learning-rate range test: loss against a rising LR, with suggested rates"
    )
    add_experiment_args(
        p, seeds="lr-find's range test trains one run and takes no --seeds; give --seed S for another seed"
    )
    p.add_argument("--run", type=int, default=0, help="which run of the experiment (0-based; default 0)")
    p.add_argument("--start-lr", type=float, default=1e-7, help="first learning rate (default 1e-7)")
    p.add_argument("--end-lr", type=float, default=10.0, help="last learning rate (default 10)")
    p.add_argument(
        "--iterations",
        type=int,
        default=100,
        help=f"minibatches in the ramp, 2 to {MAX_ITERATIONS} (default 100)",
    )
    p.add_argument("--mode", choices=("exp", "linear"), default="exp", help="LR ramp shape (default exp)")
    p.add_argument("--beta", type=float, default=0.98, help="loss smoothing factor (default 0.98)")
    p.add_argument(
        "--diverge-factor",
        type=float,
        default=4.0,
        help="stop once the smoothed loss exceeds this multiple of its best (default 4)",
    )
    p.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args: argparse.Namespace) -> int:
    exp = load_experiment(args)
    runs = exp.runs()
    if not 0 <= args.run < len(runs):
        raise UsageError(f"--run {args.run} is out of range; this experiment has runs 0..{len(runs) - 1}")
    if not (args.start_lr > 0 and args.end_lr > args.start_lr):
        raise UsageError(f"need 0 < --start-lr < --end-lr (got {args.start_lr} and {args.end_lr})")
    if not 2 <= args.iterations <= MAX_ITERATIONS:
        raise UsageError(f"--iterations must be from 2 to {MAX_ITERATIONS}, got {args.iterations}")
    if not 0 <= args.beta < 1:
        raise UsageError(f"--beta must be in [0, 1), got {args.beta}")
    if args.diverge_factor <= 1:
        raise UsageError(f"--diverge-factor must be greater than 1, got {args.diverge_factor}")
    prepare_out_dir(args.out)
    import torch

    from ..files import atomic_write_text
    from ..lrfind import lr_find

    torch.set_num_threads(1)
    cfg = runs[args.run]
    res = lr_find(
        cfg,
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        iterations=args.iterations,
        mode=args.mode,
        beta=args.beta,
        diverge_factor=args.diverge_factor,
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("iteration", "lr", "loss", "smoothed_loss"))
    for i, (lr, loss, sm) in enumerate(zip(res.lrs, res.losses, res.smoothed, strict=True)):
        w.writerow((i + 1, repr(float(lr)), repr(float(loss)), repr(float(sm))))
    try:
        atomic_write_text(args.out / "lr_find.csv", buf.getvalue())
    except OSError as exc:
        raise UsageError(f"could not write {args.out / 'lr_find.csv'} ({exc.strerror or exc})") from None
    sug = res.suggestions
    doc = {
        "experiment": exp.name,
        "run": args.run,
        "label": cfg.describe(),
        "suggestions": sug,
        "iterations_done": int(len(res.lrs)),
        "stopped_early": res.stopped_early,
        "settings": res.settings,
    }
    try:
        atomic_write_text(args.out / "suggestions.json", json.dumps(doc, indent=2))
    except OSError as exc:
        raise UsageError(f"could not write {args.out / 'suggestions.json'} ({exc.strerror or exc})") from None
    for k, v in sug.items():
        print(f"{k:>15}: {'-' if v is None else f'{v:.3g}'}", file=sys.stderr)
    print(f"wrote {args.out}/lr_find.csv, suggestions.json", file=sys.stderr)
    return 0
