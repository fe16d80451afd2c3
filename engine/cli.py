"""``optiscope``: the headless command line, and the window when run without a command.

Commands are listed in :func:`build_parser`; each lives in its own module with an
``add_parser(subparsers)`` function that sets ``func`` (``args -> exit code``).
Bad input ends with exit code 2 and one line on stderr naming what is wrong.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from .config import ConfigError, DatasetConfig, ExperimentConfig, format_validation_error, load_toml

__all__ = ["main", "load_experiment", "UsageError", "add_experiment_args"]



class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def add_experiment_args(p: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    """The arguments every experiment-running command shares."""
    p.add_argument("config", nargs="?", help="experiment TOML file")
    p.add_argument("--preset", help="run a bundled preset instead of a file (see 'optiscope presets')")
    p.add_argument("--out", required=out_required, type=Path, help="folder for the result files")
    p.add_argument("--epochs", type=int, help="override training.epochs for every run")
    p.add_argument("--seed", type=int, help="override training.seed for every run")
    p.add_argument("--data", type=Path, help="train on this CSV file instead of the config's dataset")
    p.add_argument("--target", help="the CSV's label column (with --data)")
    p.add_argument(
        "--drop-missing", action="store_true", help="with --data: drop CSV rows that have missing values"
    )


def load_experiment(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment the arguments name, with overrides applied."""
    if bool(args.config) == bool(args.preset):
        raise UsageError("give either a CONFIG.toml file or --preset NAME (not both, not neither)")
    if args.preset:
        from .presets import get_preset

        exp = get_preset(args.preset)
    else:
        exp = load_toml(args.config)
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {args.seed}")
    dataset = None
    drop_missing = getattr(args, "drop_missing", False)
    if args.data is not None or args.target is not None:
        if args.data is None or not args.target:
            raise UsageError("--data FILE.csv and --target COLUMN go together; give both")
        dataset = DatasetConfig(name="csv", path=str(args.data), target=args.target, drop_missing=drop_missing)
    elif drop_missing:
        raise UsageError("--drop-missing applies to a CSV given with --data FILE.csv --target COLUMN")
    try:
        return exp.with_overrides(epochs=args.epochs, seed=args.seed, dataset=dataset)
    except ValidationError as exc:
        problems = format_validation_error(exc)
        sep = "\n" if "\n" in problems else " "
        raise ConfigError(f"the command-line overrides are invalid:{sep}{problems}") from None


def _cmd_presets(args: argparse.Namespace) -> int:
    from .presets import all_presets

    presets = all_presets()
    width = max(map(len, presets), default=0)
    for name, exp in presets.items():
        runs = len(exp.variations) or 1
        print(f"{name:<{width}}  {exp.description}  [{runs} run{'s' if runs > 1 else ''}]")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    exp = load_toml(args.config)
    runs = exp.runs()
    print(f"{args.config}: valid ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    for i, r in enumerate(runs):
        print(f"  {i}: {r.describe()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optiscope",
        description="Optiscope: see how optimizers and learning-rate schedules shape training. "
        "Without a command, opens the window.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("presets", help="list the bundled presets")
    p.set_defaults(func=_cmd_presets)
    p = sub.add_parser("validate", help="check an experiment TOML file")
    p.add_argument("config", type=Path)
    p.set_defaults(func=_cmd_validate)
    # imported statically (not by name) so a frozen build sees every command
    from . import cli_lrfind, cli_run, cli_runs, cli_surface

    for module in (cli_run, cli_runs, cli_lrfind, cli_surface):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from optiscope.gui.app import main as gui_main  # the window, when installed

        return gui_main()
    from .data import DataError

    t0 = time.perf_counter()
    try:
        return int(args.func(args) or 0)
    except (ConfigError, DataError, UsageError) as exc:
        msg = str(exc).strip()
        print(f"optiscope {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"optiscope {args.command}: interrupted after {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
