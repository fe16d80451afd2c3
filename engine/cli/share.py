"""``optiscope share``: an experiment as one line of text, for a chat or a slide."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_seeds_arg, load_experiment


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "share", help="print an experiment as a one-line share code ('optiscope run --from-code CODE')"
    )
    p.add_argument("config", nargs="?", help="experiment TOML file")
    p.add_argument("--preset", help="share a bundled preset instead of a file (see 'optiscope presets')")
    p.add_argument("--epochs", type=int, help="override training.epochs for every run")
    p.add_argument("--seed", type=int, help="override training.seed for every run")
    p.add_argument("--data", type=Path, help="use this CSV file instead of the config's dataset")
    p.add_argument("--target", help="the CSV's label column (with --data)")
    p.add_argument(
        "--drop-missing", action="store_true", help="with --data: drop CSV rows that have missing values"
    )
    add_seeds_arg(p)
    p.set_defaults(func=cmd_share)


def cmd_share(args: argparse.Namespace) -> int:
    from ..share import encode

    exp = load_experiment(args)
    code = encode(exp)
    runs = exp.runs()
    print(
        f"experiment {exp.name!r}, {len(runs)} run{'s' if len(runs) > 1 else ''}"
        f"{f' x {exp.seeds} seeds' if exp.seeds > 1 else ''}: "
        f"run it with optiscope run --from-code CODE --out FOLDER",
        file=sys.stderr,
    )
    if any(r.dataset.name == "csv" for r in runs):
        print(
            "note: the experiment reads a CSV file; the code holds its path, not its data",
            file=sys.stderr,
        )
    print(code)
    return 0
