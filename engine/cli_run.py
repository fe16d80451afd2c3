"""``optiscope run``: train an experiment headless and write its result files."""

from __future__ import annotations

import argparse
import sys

from . import events as ev


def add_parser(sub: argparse._SubParsersAction) -> None:
    from .cli import add_experiment_args

    p = sub.add_parser("run", help="train an experiment (file or preset) and write metrics")
    add_experiment_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .cli import load_experiment
    from .runner import execute, write_outputs

    exp = load_experiment(args)
    runs = exp.runs()
    import torch

    torch.set_num_threads(1)
    bus = ev.EventBus()
    total = sum(r.training.epochs for r in runs)
    bar = tqdm(total=total, unit="epoch", file=sys.stderr, disable=args.quiet, desc=exp.name)
    failures: list[str] = []

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.EpochEnd):
            bar.update(1)
            bar.set_postfix(run=e.run, val_acc=f"{e.val_acc:.3f}", refresh=False)
        elif isinstance(e, ev.Finished):
            planned = runs[e.run].training.epochs
            bar.update(max(planned - e.epochs, 0))  # early stop / divergence: skip the rest
        elif isinstance(e, ev.Failed):
            failures.append(f"run {e.run} ({runs[e.run].describe()}): {e.message}")
        elif isinstance(e, ev.Diverged):
            bar.write(f"run {e.run} ({runs[e.run].describe()}) diverged at step {e.step} (loss {e.loss})")

    bus.subscribe(on_event, ev.EpochEnd, ev.Finished, ev.Failed, ev.Diverged)
    try:
        results = execute(runs, bus=bus)
    finally:
        bar.close()
    out = write_outputs(args.out, exp, runs, results)
    if failures:
        for f in failures:
            print(f"optiscope run: error: {f}", file=sys.stderr)
        return 1
    if not args.quiet:
        for r in results:
            f = r.final
            acc = f"val_acc {f.val_acc:.3f}" if f else "no epoch completed"
            print(f"{r.label}: {r.reason}, {acc}, {r.seconds:.2f} s", file=sys.stderr)
        print(f"wrote {out}/metrics.csv, steps.csv, summary.json, config.toml", file=sys.stderr)
    return 0
