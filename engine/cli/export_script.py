"""``optiscope export-script``: an experiment as one standalone PyTorch training script."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import UsageError, add_seeds_arg, load_experiment


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-script",
        help="write a standalone PyTorch script (torch, numpy, scikit-learn; Schedule-Free and Prodigy runs "
        "also their authors' package) that trains the runs",
    )
    p.add_argument("config", nargs="?", help="experiment TOML file")
    p.add_argument("--preset", help="export a bundled preset instead of a file (see 'optiscope presets')")
    p.add_argument("--out", required=True, type=Path, help="the script to write, e.g. train.py")
    p.add_argument("--run", type=int, help="export only run N (0-based, as 'optiscope validate' lists them)")
    p.add_argument("--all", action="store_true", help="export every run of the experiment in one script")
    p.add_argument("--epochs", type=int, help="override training.epochs for every run")
    p.add_argument("--seed", type=int, help="override training.seed for every run")
    p.add_argument("--data", type=Path, help="train on this CSV file instead of the config's dataset")
    p.add_argument("--target", help="the CSV's label column (with --data)")
    p.add_argument(
        "--drop-missing", action="store_true", help="with --data: drop CSV rows that have missing values"
    )
    add_seeds_arg(
        p,
        refused="export-script writes a script that trains each runner once and takes no --seeds: "
        "export one script per seed with --seed S",
    )
    p.set_defaults(func=cmd_export_script)


def cmd_export_script(args: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from ..export_script import NotExportable, csv_shapes, export_script, select_runs
    from ..files import atomic_write_text

    exp = load_experiment(args)
    try:
        indices = select_runs(exp, args.run, args.all)
        shapes = csv_shapes(exp, indices)
        try:
            ver = version("optiscope")
        except PackageNotFoundError:  # pragma: no cover - a frozen build without metadata
            ver = ""
        source = f"--preset {args.preset}" if args.preset else str(args.config)
        text = export_script(exp, indices, source=source, csv_shapes=shapes, version=ver)
    except NotExportable as exc:
        raise UsageError(f"cannot export: {exc}") from None
    out: Path = args.out
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give the script's file name, e.g. {out / 'train.py'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"--out {out}: cannot write the script ({why}); give another path") from None
    n = len(indices)
    print(f"wrote {out} ({n} run{'s' if n > 1 else ''}); run it with: python {out}", file=sys.stderr)
    if exp.seeds > 1:
        print(
            f"note: the experiment asks for {exp.seeds} seeds per runner; the script trains each runner "
            f"once, with its first seed (export another seed with --seed S)",
            file=sys.stderr,
        )
    return 0
