"""``optiscope run``: train an experiment headless and write its result files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import events as ev
from ..formats import terminal_safe
from .common import UsageError, add_experiment_args, load_experiment, prepare_out_dir

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..store import RunRecorder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train an experiment (file or preset) and write metrics")
    add_experiment_args(p, seeds=True)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-store", action="store_true", help="do not record the runs in the run store ('optiscope runs')"
    )
    p.add_argument(
        "--from-code", metavar="CODE", help="run the experiment of a share code ('optiscope share')"
    )
    p.add_argument(
        "--bundle", type=Path, metavar="ZIP", help="run a reproducibility bundle ('runs export --bundle')"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="with --bundle: compare the new metrics with the bundle's (exit 1 if they differ)",
    )
    p.add_argument(
        "--save-bundle",
        type=Path,
        metavar="ZIP",
        help="also write a reproducibility bundle: config, metrics, steps, layers, weights, PyTorch script, "
        "versions, README ('optiscope run --bundle ZIP --check' re-runs it)",
    )
    p.add_argument(
        "--save-weights",
        action="store_true",
        help="also save each run's trained state_dict as OUT/weights/run-N.pt (best epoch when early "
        "stopping restored it); loads into the model class of 'optiscope export-script'",
    )
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if getattr(args, "check", False) and getattr(args, "bundle", None) is None:
        raise UsageError("--check compares with a bundle: give --bundle ZIP too")
    if getattr(args, "check", False) and args.seeds is not None:
        raise UsageError("--check re-trains the bundle's runs as recorded: leave out --seeds")
    zipped = getattr(args, "save_bundle", None)
    if zipped is not None and (zipped.is_dir() or not zipped.parent.is_dir()):
        raise UsageError(
            f"--save-bundle {zipped}: give a zip file's name in an existing folder, e.g. bundle.zip"
        )
    from ..runner import execute, write_outputs
    from ..seeds import SeedPlan

    exp = load_experiment(args)
    plan = SeedPlan.of(exp)  # every runner once per seed: run r is runner r // N, seed r % N
    runs = plan.runs
    prepare_out_dir(args.out)
    _preload_csv(runs, quiet=args.quiet)
    import torch

    torch.set_num_threads(1)
    bus = ev.EventBus()
    total = sum(r.training.epochs for r in runs)
    bar = tqdm(total=total, unit="epoch", file=sys.stderr, disable=args.quiet, desc=exp.name)
    failures: list[str] = []

    def warn(message: str) -> None:
        """A line on stderr that does not break the progress bar."""
        bar.write(message, file=sys.stderr)

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
            why = e.detail or f"loss {e.loss}"
            warn(f"run {e.run} ({runs[e.run].describe()}) diverged at step {e.step} ({why})")

    bus.subscribe(on_event, ev.EpochEnd, ev.Finished, ev.Failed, ev.Diverged)
    recorder = None if args.no_store else _open_recorder(exp.name, warn)
    if recorder is not None:
        bus.subscribe(recorder, *recorder.EVENT_TYPES)
    try:
        keep = getattr(args, "save_weights", False) or getattr(args, "save_bundle", None) is not None
        results = execute(runs, bus=bus, log=None if args.quiet else warn, keep_models=keep)
    finally:
        bar.close()
    from ..seed_report import seed_report

    report = seed_report(exp, runs, results, plan=plan)
    try:
        out = write_outputs(args.out, exp, runs, results, report=report)
    except OSError as exc:
        print(f"optiscope run: error: {_kept_message(args.out, exc, recorder)}", file=sys.stderr)
        return 1
    if getattr(args, "save_weights", False):
        from ..weights import save_weights

        try:
            written, skipped = save_weights(out / "weights", results)
        except OSError as exc:
            print(
                f"optiscope run: error: could not save the weights ({exc.strerror or exc})", file=sys.stderr
            )
            return 1
        for line in skipped:
            print(f"optiscope run: note: {line}", file=sys.stderr)
        if not args.quiet:
            print(f"wrote {len(written)} weight file(s) to {out / 'weights'}", file=sys.stderr)
    if getattr(args, "save_bundle", None) is not None:
        from .bundle import save_run_bundle

        try:
            save_run_bundle(args.save_bundle, exp, results, out)
        except OSError as exc:
            print(
                f"optiscope run: error: could not write the bundle ({exc.strerror or exc})", file=sys.stderr
            )
            return 1
        if not args.quiet:
            print(f"wrote the reproducibility bundle {args.save_bundle}", file=sys.stderr)
    if getattr(args, "check", False):
        from .bundle import check_bundle

        if check_bundle(args.bundle, results):
            return 1
    if failures:
        for failure in failures:
            print(f"optiscope run: error: {terminal_safe(failure)}", file=sys.stderr)
        return 1
    if plan.n_seeds > 1:  # the result itself (stdout, --quiet or not): what the seeds say
        print(report.table())
    if not args.quiet:
        for r in results:
            if plan.n_seeds > 1 and r.reason in ("completed", "early_stopped"):
                continue  # many seeds: the verdict table sums them up; runs that went wrong are named
            f = r.final
            acc = f"val_acc {f.val_acc:.3f}" if f else "no epoch completed"
            why = f" ({r.reason_detail})" if r.reason_detail else ""
            seed = f" (seed {plan.seed_of[r.run]})" if plan.n_seeds > 1 else ""
            print(
                f"{terminal_safe(r.label)}{seed}: {r.reason}{why}, {acc}, {r.seconds:.2f} s", file=sys.stderr
            )
        from ..runner import mixed_precision_effect

        for pair in mixed_precision_effect(runs, results):
            sec, acc = pair["seconds_per_epoch"], pair["final_val_acc"]
            print(
                f"mixed precision: run {pair['with']} {sec['with']:.4f} s/epoch, val_acc {acc['with']} vs "
                f"run {pair['without']} without it {sec['without']:.4f} s/epoch, val_acc {acc['without']} "
                f"(x{sec['ratio']:.2f} time; {pair['timing']}: mixed-precision runs and their float32 twins are never "
                f"batched)",
                file=sys.stderr,
            )
        print(f"wrote {out}/metrics.csv, steps.csv, layers.csv, summary.json, config.toml", file=sys.stderr)
        if recorder is not None and recorder.ids and recorder.error is None:
            ids = sorted(recorder.ids.values())
            shown = str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
            print(
                f"stored as run {shown} in {recorder.store.path} ('optiscope runs show {ids[0]}')",
                file=sys.stderr,
            )
    return 0


def _kept_message(out: object, exc: OSError, recorder: RunRecorder | None) -> str:
    """Writing the result files failed: say why, and where the trained runs still are."""
    why = exc.strerror or str(exc)
    if recorder is not None and recorder.ids and recorder.error is None:
        ids = sorted(recorder.ids.values())
        return (
            f"could not write the result files to {out} ({why}); the runs are kept in the run store "
            f"as run{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}: export them with "
            f"'optiscope runs export {' '.join(map(str, ids))} --out FILE.csv'"
        )
    return f"could not write the result files to {out} ({why}); the runs were not stored (--no-store)"


def _preload_csv(runs: list[RunConfig], *, quiet: bool) -> None:
    """Load each CSV dataset once up front: bad files fail here (exit 2), and the user
    sees whether the table was parsed or came from the cache, and how long it took."""
    seen = set()
    for r in runs:
        d = r.dataset
        if d.name != "csv" or d in seen:
            continue
        seen.add(d)
        from ..tabular import load_csv_dataset_timed

        ds, info = load_csv_dataset_timed(d)
        if not quiet:
            print(info.message(), file=sys.stderr)
            if ds.note:
                print(f"  {ds.note}", file=sys.stderr)


def _open_recorder(experiment: str, warn: Callable[[str], None], command: str = "run") -> RunRecorder | None:
    """The run store's recorder, or None (with a one-line warning naming ``optiscope COMMAND``)
    if it cannot be opened."""
    import sqlite3

    from ..store import RunStore, StoreError

    try:
        store = RunStore()
    except (StoreError, sqlite3.Error, OSError) as exc:
        print(
            f"optiscope {command}: warning: run store unavailable ({exc}); continuing without it",
            file=sys.stderr,
        )
        return None
    if store.read_only:  # training never depends on the store: said once, then train
        print(
            f"optiscope {command}: warning: the run store {store.path} is read-only; the runs will "
            "not be stored (the result files are written as usual)",
            file=sys.stderr,
        )
        store.close()
        return None
    if store.recovered_from is not None:
        print(
            f"optiscope {command}: warning: the run store was damaged; moved it to {store.recovered_from} "
            "and started a fresh one",
            file=sys.stderr,
        )
    return store.recorder(experiment, on_error=lambda msg: warn(f"optiscope {command}: warning: {msg}"))
