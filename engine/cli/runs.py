"""``optiscope runs list|show|export|delete``: the run store from the command line."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from .. import stats
from ..formats import terminal_safe
from ..store import RunStore, StoredRun, StoreError, UnknownRun, default_store_path
from ..stored_seeds import listed_runners
from .common import UsageError
from .search import print_studies


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list, show, export or delete stored runs")
    p.add_argument("--store", type=Path, help="the run store file (default: the user data folder)")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    q = rsub.add_parser(
        "list",
        help="every stored run, one line each; a runner's seeds (run --seeds N, the seeds box) on one "
        "line with the mean validation accuracy ± its 95%% t-interval",
    )
    q.add_argument("--every-seed", action="store_true", help="one line per run, seeds too")
    q.set_defaults(func=cmd_list)
    q = rsub.add_parser("show", help="one run: its config and per-epoch metrics")
    q.add_argument("id", type=int)
    q.set_defaults(func=cmd_show)
    q = rsub.add_parser("export", help="per-epoch metrics of runs to a CSV file, or a reproducibility bundle")
    q.add_argument("ids", type=int, nargs="+", metavar="ID")
    q.add_argument(
        "--out",
        type=Path,
        help="the CSV file to write (metrics.csv's columns: runs of one experiment that differ only in "
        "their seeds are one runner's seeds); where a runner has several seeds, its aggregates go beside "
        "it: OUT-runners.csv (mean, CI half-width, n per runner and measure) and OUT-summary.json "
        "(summary.json's runners and paired verdicts)",
    )
    q.add_argument(
        "--no-aggregates", action="store_true", help="write the rows alone (no -runners.csv, -summary.json)"
    )
    q.add_argument(
        "--no-regroup",
        action="store_true",
        help="each run its own runner (its store id), no aggregates: the export as it was before seeds",
    )
    q.add_argument(
        "--bundle",
        type=Path,
        metavar="ZIP",
        help="write a reproducibility bundle instead: config, metrics, PyTorch script, versions, README "
        "('optiscope run --bundle ZIP --check' re-runs it)",
    )
    q.set_defaults(func=cmd_export)
    q = rsub.add_parser("delete", help="remove runs from the store")
    q.add_argument("ids", type=int, nargs="+", metavar="ID")
    q.set_defaults(func=cmd_delete)


def _open(args: argparse.Namespace, read_only: bool = True) -> RunStore:
    """The store to read (list, show, export: opened read-only, never created or changed) or,
    with ``read_only=False``, to change (delete)."""
    try:
        store = RunStore(args.store, read_only=read_only)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    if store.recovered_from is not None:
        print(
            f"optiscope runs: warning: the run store was damaged; moved it to {store.recovered_from} "
            "and started a fresh one",
            file=sys.stderr,
        )
    return store


def _f(v: float | None, fmt: str = ".4f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, fmt)


def _entry_line(entry: list[StoredRun]) -> str:
    """One line of ``runs list``: a run, or a runner's seeds (the first id; the val_acc mean and
    its 95 % t-interval; how many ended otherwise than completed)."""
    first = entry[0].summary
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(first.created))
    epochs = f"{first.epochs_done}/{first.epochs_planned}" if first.epochs_planned else str(first.epochs_done)
    label = first.label + (f"  [{first.experiment}]" if first.experiment else "")
    if len(entry) == 1:
        status, acc = first.status, _f(first.val_acc)
        seconds = first.seconds
    else:
        done = {r.summary.epochs_done for r in entry}
        if len(done) > 1:
            epochs = f"{min(done)}-{max(done)}/{first.epochs_planned}"
        statuses = [r.summary.status for r in entry]
        other = [s for s in statuses if s != "completed"]
        status = "completed" if not other else f"{len(other)}/{len(entry)} {max(set(other), key=other.count)}"
        accs = [r.summary.val_acc for r in entry if r.summary.val_acc is not None]
        iv = stats.mean_interval([math.nan if v is None else v for v in accs])
        acc = "-" if iv.n == 0 else f"{iv.mean:.3f}" + (f"±{iv.half:.3f}" if iv.n > 1 else "")
        secs = [r.summary.seconds for r in entry if r.summary.seconds is not None]
        seconds = max(secs) if secs else None
        ids = [r.id for r in entry]
        shown = ", ".join(map(str, ids)) if len(ids) <= 4 else f"{ids[0]}, {ids[1]}, ..., {ids[-1]}"
        label += f"  ({len(entry)} seeds: runs {shown})"
    return (
        f"{first.id:>5}  {created:<16}  {status:<13}  {epochs:>9}  {acc:>11}  "
        f"{_f(seconds, '.2f'):>8}  {terminal_safe(label)}"
    )


def cmd_list(args: argparse.Namespace) -> int:
    path = args.store if args.store is not None else default_store_path()
    if not path.exists() and not path.is_symlink():  # nothing stored yet: nothing is created
        print(f"no stored runs in {path}")
        print_studies()
        return 0
    store = _open(args)
    runs = store.list_runs()
    if not runs:
        print(f"no stored runs in {store.path}")
        print_studies()  # searches are listed next to runs
        return 0
    if args.every_seed:
        entries = [[StoredRun(r, {}, [])] for r in runs]
    else:  # a runner's seeds on one line: their configs say which runs they are
        entries = listed_runners([store.load_run(r.id) for r in runs])
    print(
        f"{'id':>5}  {'created':<16}  {'status':<13}  {'epochs':>9}  {'val_acc':>11}  {'seconds':>8}  label"
    )
    for entry in entries:
        print(_entry_line(entry))
    print_studies()
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        run = store.load_run(args.id)
    except UnknownRun as exc:
        raise UsageError(str(exc)) from None
    s = run.summary
    print(terminal_safe(f"run {s.id}: {s.label}" + (f"  [{s.experiment}]" if s.experiment else "")))
    print(f"  created  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(s.created))}")
    print(terminal_safe(f"  status   {s.status}" + (f" ({run.error})" if run.error else "")))
    print(
        f"  epochs   {s.epochs_done}/{s.epochs_planned}, {s.steps} steps, {_f(s.seconds, '.2f')} s"
        + (f", {run.device}, {run.n_params} parameters" if run.device else "")
    )
    cfg = run.config
    if cfg:
        opt, sch, ds = cfg.get("optimizer", {}), cfg.get("schedule", {}), cfg.get("dataset", {})
        print(
            f"  dataset  {ds.get('name')}"
            + (f" ({ds.get('path')}, target {ds.get('target')})" if ds.get("name") == "csv" else "")
        )
        print("  optimizer " + ", ".join(f"{k}={v}" for k, v in opt.items()))
        print("  schedule " + ", ".join(f"{k}={v}" for k, v in sch.items()))
    print(f"{'epoch':>6} {'lr':>10} {'train_loss':>10} {'train_acc':>9} {'val_loss':>10} {'val_acc':>8}")
    for m in run.metrics:
        print(
            f"{m['epoch']:>6} {_f(m['lr'], '.4g'):>10} {_f(m['train_loss']):>10} {_f(m['train_acc']):>9} "
            f"{_f(m['val_loss']):>10} {_f(m['val_acc']):>8}"
        )
    return 0


def aggregate_paths(out: Path) -> tuple[Path, Path]:
    """Where ``runs export --out OUT.csv`` puts the per-runner aggregates and the summary."""
    stem = out.name[: -len(".csv")] if out.name.lower().endswith(".csv") else out.name
    return out.with_name(f"{stem}-runners.csv"), out.with_name(f"{stem}-summary.json")


def cmd_export(args: argparse.Namespace) -> int:
    if (args.out is None) == (args.bundle is None):
        raise UsageError(
            "give --out FILE.csv (metrics) or --bundle FILE.zip (reproducibility bundle), one of them"
        )
    store = _open(args)
    if args.bundle is not None:
        from .bundle import export_bundle

        return export_bundle(store, args.ids, args.bundle)
    import json

    from ..files import atomic_write_text
    from ..stored_seeds import StoredSeedsError, export_summary, group_stored, runners_csv, stored_report

    try:
        runs = [store.load_run(i) for i in args.ids]
    except StoreError as exc:  # an unknown id: nothing written
        raise UsageError(str(exc)) from None
    groups = group_stored(runs)
    report = None
    if groups.seeded and not (args.no_aggregates or args.no_regroup):
        try:
            report = stored_report(groups)  # checked before anything is written
        except StoredSeedsError as exc:
            raise UsageError(str(exc)) from None
    try:
        n = store.export_csv(args.ids, args.out, regroup=not args.no_regroup)
    except StoreError as exc:  # unknown id or unwritable file
        raise UsageError(str(exc)) from None
    print(f"wrote {n} rows ({len(args.ids)} run{'s' if len(args.ids) > 1 else ''}) to {args.out}")
    if report is None:
        return 0
    runners_path, summary_path = aggregate_paths(args.out)
    try:
        atomic_write_text(runners_path, runners_csv(report))
        atomic_write_text(summary_path, json.dumps(export_summary(groups, report), indent=2))
    except OSError as exc:
        raise UsageError(f"cannot write the aggregates beside {args.out}: {exc.strerror or exc}") from None
    print(report.table())
    print(
        f"wrote {groups.n_runners} runners' aggregates (mean, CI half-width, n) to {runners_path} and "
        f"their paired verdicts to {summary_path}"
    )
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store = _open(args, read_only=False)
    missing = [i for i in args.ids if i not in {r.id for r in store.list_runs()}]
    if missing:
        raise UsageError(
            f"no run with id {', '.join(map(str, missing))}; nothing deleted ('optiscope runs list' shows the ids)"
        )
    for i in args.ids:
        store.delete_run(i)
    print(f"deleted run{'s' if len(args.ids) > 1 else ''} {', '.join(map(str, args.ids))}")
    return 0
