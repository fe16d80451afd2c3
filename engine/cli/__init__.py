"""``optiscope``: the headless command line, and the window when run without a command.

Commands are listed in :func:`build_parser`; each lives in its own module of this package with an
``add_parser(subparsers)`` function that sets ``func`` (``args -> exit code``).
Bad input ends with exit code 2 and one line on stderr naming what is wrong.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_toml
from ..control import clear_interrupt, interrupt_all, interrupted
from .common import UsageError, add_experiment_args, check_devices, load_experiment

__all__ = ["main", "build_parser", "load_experiment", "UsageError", "add_experiment_args"]


def _cmd_presets(args: argparse.Namespace) -> int:
    from ..presets import all_presets

    presets = all_presets()
    width = max(map(len, presets), default=0)
    for name, exp in presets.items():
        runs = len(exp.variations) or 1
        seeds = f" x {exp.seeds} seeds" if exp.seeds > 1 else ""
        print(f"{name:<{width}}  {exp.description}  [{runs} run{'s' if runs > 1 else ''}{seeds}]")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    exp = load_toml(args.config)
    check_devices(exp, str(args.config))
    runs = exp.runs()
    from ..formats import terminal_safe

    seeds = f" x {exp.seeds} seeds = {len(runs) * exp.seeds} runs trained" if exp.seeds > 1 else ""
    print(f"{terminal_safe(str(args.config))}: valid ({len(runs)} run{'s' if len(runs) > 1 else ''}{seeds})")
    for i, r in enumerate(runs):
        print(f"  {i}: {terminal_safe(r.describe())}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optiscope")
    except PackageNotFoundError:  # a checkout on sys.path without an install
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optiscope",
        description="Optiscope: see how optimizers and learning-rate schedules shape training. "
        "Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"optiscope {_version()}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation: open the window, check its text is readable, train a short "
        "run, exit 0 when everything works (the installers' smoke test runs it)",
    )
    # the window's own options, as optiscope-app takes them (used only without a command)
    window = parser.add_argument_group("window options (without a command, as optiscope-app)")
    window.add_argument("--lesson", metavar="FILE|NAME", help="open the window straight into a lesson")
    window.add_argument("--presentation", action="store_true", help="open the window in presentation mode")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("presets", help="list the bundled presets")
    p.set_defaults(func=_cmd_presets)
    p = sub.add_parser("validate", help="check an experiment TOML file")
    p.add_argument("config", type=Path)
    p.set_defaults(func=_cmd_validate)
    # imported statically (not by name) so a frozen build sees every command
    from . import export_script, gradcheck, lrfind, recipe, record, run, runs, search, share, surface

    for module in (run, runs, lrfind, surface, record, gradcheck, recipe, search, export_script, share):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    window_args = [
        *(["--lesson", args.lesson] if args.lesson is not None else []),
        *(["--presentation"] if args.presentation else []),
        *(["--self-test"] if args.self_test else []),
    ]
    if args.command is None:
        from optiscope.gui.app import main as gui_main  # the window, when installed

        return gui_main(window_args)
    if window_args:
        print(
            f"optiscope: error: {window_args[0]} takes no command (got '{args.command}'): "
            f"run 'optiscope {window_args[0]} ...' alone, or use the command's own options",
            file=sys.stderr,
        )
        return 2
    from ..dataset import DataError
    from ..store import StoreError

    t0 = time.perf_counter()
    restore = _terminate_as_interrupt()
    try:
        rc = int(args.func(args) or 0)
        if interrupted():  # the signal's KeyboardInterrupt was dropped; the runs stopped on the flag
            raise KeyboardInterrupt
        return rc
    except (ConfigError, DataError, UsageError, StoreError) as exc:
        from ..formats import terminal_safe

        # each line escaped: a label or name quoted in the message cannot drive the terminal
        msg = "\n".join(terminal_safe(_cut(line)) for line in str(exc).strip().split("\n"))
        print(f"optiscope {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"optiscope {args.command}: interrupted after {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
        return 130
    except BrokenPipeError:
        # the reader went away (`optiscope runs list | head`): stop quietly, as a Unix tool does;
        # stdout goes to devnull so the interpreter's last flush cannot raise again (the
        # recipe of Python's `signal` documentation). 141 = 128 + SIGPIPE, the shell's code.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        restore()


def _cut(line: str, limit: int = 1000) -> str:
    """An error line no longer than about ``limit`` characters (a value echoed whole could make
    it megabytes long)."""
    return line if len(line) <= limit else f"{line[:limit]}... (cut: {len(line):,} characters)"


def _terminate_as_interrupt() -> Callable[[], None]:
    """Handle SIGTERM (``kill``, a job scheduler's stop) as Ctrl+C: the command's cleanup runs
    (a search tells its running trials ``stopped``, temporary files go). Returns the undo."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return lambda: None

    def on_term(signum: int, frame: object) -> None:
        interrupt_all()  # seen by every run's next update, even if the raise below is dropped
        raise KeyboardInterrupt

    olds: dict[int, Any] = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            olds[sig] = signal.signal(sig, on_term)
    except (ValueError, OSError):  # pragma: no cover - an embedding that owns the signals
        for taken, old in olds.items():
            signal.signal(taken, old)
        return lambda: None

    def restore() -> None:
        for taken, old in olds.items():
            signal.signal(taken, old)
        clear_interrupt()

    return restore
