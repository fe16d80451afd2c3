"""What every ``optiscope`` command shares: the usage error and the experiment arguments."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from ..config import ConfigError, DatasetConfig, ExperimentConfig, format_validation_error, load_toml

__all__ = [
    "UsageError",
    "add_experiment_args",
    "add_seeds_arg",
    "check_seed_count",
    "load_experiment",
    "check_devices",
    "prepare_out_dir",
    "prepare_out_file",
]


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _seed_count(text: str) -> int:
    """``--seeds``: a whole number, at least 1 (the upper bounds need the experiment: checked later)."""
    try:
        n = int(text)
    except ValueError:
        shown = repr(text if len(text) <= 40 else text[:40] + "...")
        raise argparse.ArgumentTypeError(
            f"give a whole number of seeds per runner, e.g. --seeds 10 (got {shown})"
        ) from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"give at least 1 seed per runner, e.g. --seeds 10 (got {n})")
    return n


def add_seeds_arg(p: argparse.ArgumentParser, *, refused: str | None = None) -> None:
    """``--seeds N``: train every runner with N seeds (the experiment's ``seeds``). A command
    that cannot use seeds passes ``refused``: the words of the one-line error it gives instead."""
    p.add_argument(
        "--seeds",
        type=_seed_count,
        metavar="N",
        help=argparse.SUPPRESS
        if refused
        else "train every runner with N seeds (its seed, seed+1, ...): means with 95 %% intervals and "
        "paired verdicts instead of one draw",
    )
    p.set_defaults(seeds_refused=refused)


def add_experiment_args(
    p: argparse.ArgumentParser, *, out_required: bool = True, seeds: bool | str | None = None
) -> None:
    """The arguments every experiment-running command shares; ``seeds``: True takes ``--seeds N``,
    a string refuses it with those words, None leaves it out."""
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
    if seeds is not None:
        words = seeds if isinstance(seeds, str) and seeds else "this command takes no --seeds"
        add_seeds_arg(p, refused=None if seeds is True else words)


def load_experiment(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment the arguments name, with overrides applied."""
    # --seeds as add_seeds_arg adds it (a command's own --seeds, e.g. recipe's, means something else)
    ours = hasattr(args, "seeds_refused")
    seeds = getattr(args, "seeds", None) if ours else None
    refused = getattr(args, "seeds_refused", None)
    if seeds is not None and refused:
        raise UsageError(refused)
    code = getattr(args, "from_code", None)  # optiscope run --from-code (engine.share)
    bundle = getattr(args, "bundle", None)  # optiscope run --bundle (engine.bundle)
    if code is not None or bundle is not None:
        if args.config or args.preset or (code is not None and bundle is not None):
            raise UsageError(
                "give --from-code CODE or --bundle ZIP alone, without a CONFIG.toml file or --preset"
            )
        if bundle is not None:
            from ..bundle import read_bundle

            exp = read_bundle(bundle).experiment
        else:
            from ..share import decode

            exp = decode(str(code))
    elif bool(args.config) == bool(args.preset):
        raise UsageError("give either a CONFIG.toml file or --preset NAME (not both, not neither)")
    elif args.preset:
        from ..presets import get_preset

        exp = get_preset(args.preset)
    else:
        exp = load_toml(args.config)
    check_devices(exp, str(args.preset or args.config or bundle or "the share code"))
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {args.seed}")
    dataset = None
    drop_missing = getattr(args, "drop_missing", False)
    if args.data is not None or args.target is not None:
        if args.data is None or not args.target:
            raise UsageError("--data FILE.csv and --target COLUMN go together; give both")
        dataset = DatasetConfig(
            name="csv", path=str(args.data), target=args.target, drop_missing=drop_missing
        )
    elif drop_missing:
        raise UsageError("--drop-missing applies to a CSV given with --data FILE.csv --target COLUMN")
    if seeds is not None:
        check_seed_count(seeds, len(exp.runs()), "--seeds")
    try:
        return exp.with_overrides(epochs=args.epochs, seed=args.seed, dataset=dataset, seeds=seeds)
    except ValidationError as exc:
        problems = format_validation_error(exc)
        sep = "\n" if "\n" in problems else " "
        raise ConfigError(f"the command-line overrides are invalid:{sep}{problems}") from None


def check_seed_count(seeds: int, runners: int, name: str) -> None:
    """UsageError when ``seeds`` per runner is more than an experiment of ``runners`` may train
    (``name``: how the caller spells the option)."""
    from ..config import MAX_SEEDS, MAX_TRAINED

    if seeds > MAX_SEEDS:
        raise UsageError(
            f"{name} {seeds}: at most {MAX_SEEDS} seeds per runner; give {name} {MAX_SEEDS} or fewer"
        )
    if runners * seeds > MAX_TRAINED:
        raise UsageError(
            f"{name} {seeds}: {runners} runners x {seeds} seeds is {runners * seeds} runs, more than the "
            f"{MAX_TRAINED} trained at once; give {name} {MAX_TRAINED // runners} or fewer"
        )


def check_devices(exp: ExperimentConfig, source: str) -> None:
    """ConfigError when a run asks for ``cuda`` or ``mps`` and this machine has none
    (torch is imported only when a run asks for one)."""
    runs = exp.runs()
    if not any(r.training.device in ("cuda", "mps") for r in runs):
        return
    from ..trainer import resolve_device

    for i, r in enumerate(runs):
        if r.training.device in ("cuda", "mps"):
            try:
                resolve_device(r.training.device)
            except RuntimeError as exc:
                raise ConfigError(f"{source}: run {i} ({r.describe()}): {exc}") from None


def prepare_out_dir(out: Path) -> Path:
    """Create the ``--out`` folder and prove it writable *before* any training, so a bad
    path never costs the work (UsageError naming the problem)."""
    try:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder; give a folder (it is created if needed)")
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".optiscope-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(
            f"--out {out}: cannot create or write to this folder ({why}); give another"
        ) from None
    return out


def prepare_out_file(out: Path) -> Path:
    """Check an output *file* before any work: not a folder nor a special file, and its folder
    (created if needed) writable (UsageError naming the problem). Nothing is left behind."""
    try:
        if out.is_dir():
            raise UsageError(f"--out {out} is a folder; give the path of the file to write")
        if out.exists() and not out.is_file():
            raise UsageError(f"--out {out} is not a regular file (a device or pipe); give a file path")
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise UsageError(f"--out {out}: {exc.strerror or exc}; give another path") from None
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".optiscope-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"--out {out}: cannot write in its folder ({why}); give another path") from None
    return out
