"""``optiscope search``: a hyperparameter search (Optuna), trials trained batched.

Writes ``trials.csv`` (one row per trial of the study: number, state, every parameter,
objective, seconds, epochs; with ``--seeds k`` the objective column is the mean Optuna was
told and ``value_seed0`` … ``value_seed<k-1>`` follow it, seed ``j`` being the run with
``training.seed`` + ``j``), ``best.toml`` (the best trial as a runnable experiment) and
``importance.json``. The study lives in ``--storage`` (default: an SQLite file in the
user data folder), so several machines can add trials to one study.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..formats import terminal_safe
from ..search_space import OBJECTIVES, SAMPLERS, SearchSpaceError
from .common import UsageError, add_experiment_args, load_experiment, prepare_out_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="hyperparameter search (random, grid, TPE, quasi-random) with trials trained batched",
        description="Search hyperparameters around an experiment's base run. Exit 2 with one line for "
        "a bad space, an unreachable storage or a study of another objective.",
    )
    add_experiment_args(p)
    p.add_argument(
        "--space", type=Path, help="search space TOML (default: the experiment's [search] section)"
    )
    p.add_argument("--sampler", choices=SAMPLERS, help="default: the space's sampler (random)")
    p.add_argument("--trials", type=int, help="trials to add to the study (default: the space's)")
    p.add_argument("--objective", choices=OBJECTIVES, help="default: the space's objective")
    p.add_argument(
        "--storage",
        help="an Optuna storage: sqlite:///FILE, postgresql://USER@HOST/DB, mysql://..., journal:FILE or "
        "memory: (not kept) (default: studies.sqlite3 in the user data folder)",
    )
    p.add_argument(
        "--study", help="the study's name (default: EXPERIMENT-SAMPLER); workers share one by name"
    )
    p.add_argument(
        "--batch", type=int, help="trials asked and trained together (default: all up to 256, 8 for TPE)"
    )
    p.add_argument("--sampler-seed", type=int, help="the sampler's seed (default: the space's, 0)")
    p.add_argument(
        "--seeds",
        type=int,
        help="train each trial with this many seeds (training.seed, +1, ...); Optuna sees their mean "
        "(default: the space's seeds, else the experiment's, 1)",
    )
    p.add_argument(
        "--pruning", action="store_true", help="stop unpromising trials at epoch ends (median rule)"
    )
    p.add_argument("--quiet", action="store_true", help="no line per trial")
    p.set_defaults(func=cmd_search)


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def cmd_search(args: argparse.Namespace) -> int:
    from ..search_space import load_space

    _check_numbers(args)
    exp = load_experiment(args)
    try:
        if args.space is not None:
            space = load_space(args.space)
        elif exp.search is not None:
            space = exp.search
        else:
            raise UsageError(
                f"{args.config or 'preset ' + args.preset} has no [search] section; give --space SPACE.toml"
            )
        updates: dict[str, object] = {}
        if args.objective:
            updates["objective"] = args.objective
        if args.pruning:
            updates["pruning"] = True
        # seeds per trial: --seeds, else the space's, else the experiment's own (1 unless set)
        updates["seeds"] = args.seeds or space.seeds or exp.seeds
        space = space.model_copy(update=updates)
        from ..search_space import check_space, unused_params

        sampler = args.sampler or space.sampler
        check_space(space, exp.base, sampler)  # before torch loads: bad input answers at once
        for name, why in unused_params(space.params, exp.base).items():
            print(
                f"optiscope search: warning: {name!r} does not change these runs ({why}); "
                "its trials differ only in the other parameters",
                file=sys.stderr,
            )
        prepare_out_dir(args.out)  # before any trial trains
        return _search(args, exp, space, sampler)
    except SearchSpaceError as exc:
        raise UsageError(str(exc)) from None


def _check_numbers(args: argparse.Namespace) -> None:
    """--trials, --batch and --sampler-seed within their bounds (UsageError otherwise)."""
    from ..search_space import MAX_ROUND, MAX_TRIALS, SEED_MAX

    if args.trials is not None and not 1 <= args.trials <= MAX_TRIALS:
        raise UsageError(f"--trials must be between 1 and {MAX_TRIALS}, got {args.trials}")
    if args.batch is not None and not 1 <= args.batch <= MAX_ROUND:
        raise UsageError(f"--batch must be between 1 and {MAX_ROUND}, got {args.batch}")
    from ..schema import MAX_SEEDS

    if getattr(args, "seeds", None) is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds must be between 1 and {MAX_SEEDS}, got {args.seeds}")
    if args.sampler_seed is not None and not 0 <= args.sampler_seed <= SEED_MAX:
        raise UsageError(
            f"--sampler-seed must be between 0 and {SEED_MAX} (2**32 - 1), got {args.sampler_seed}"
        )


def _search(args: argparse.Namespace, exp, space, sampler: str) -> int:
    import torch

    from ..search import close_study, run_search

    torch.set_num_threads(1)
    study_name = args.study or f"{exp.name}-{sampler}"
    quiet = args.quiet

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr)

    def on_trial(rec) -> None:
        if quiet:
            return
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in rec.params.items())
        value = f"{space.objective}={rec.value:.4f}" if rec.value is not None else rec.message
        print(terminal_safe(f"trial {rec.number:>4}  {rec.outcome:<8}  {params}  {value}"), file=sys.stderr)

    result = run_search(
        exp.base,
        space,
        sampler=sampler,
        trials=args.trials,
        storage=args.storage,
        study_name=study_name,
        batch=args.batch,
        seed=args.sampler_seed,
        seeds=space.seeds,
        log=say,
        on_trial=on_trial,
    )
    study = result.study
    try:
        return _write_outputs(args.out, exp, space, study, study_name, result)
    finally:
        close_study(study)


def _write_outputs(out: Path, exp, space, study, study_name: str, result) -> int:
    from ..config import dumps_toml
    from ..files import atomic_write_text
    from ..formats import csv_table
    from ..search import best_experiment, importances, study_records, study_seeds

    out.mkdir(parents=True, exist_ok=True)
    records = study_records(study)
    names: list[str] = []
    for rec in records:
        names += [k for k in rec.params if k not in names]
    seeds = study_seeds(study)
    per_seed = [f"value_seed{k}" for k in range(seeds)] if seeds > 1 else []

    def seed_cells(rec) -> list[float | None]:
        values = list(rec.seed_values)[:seeds] if per_seed else []
        return [None if v is None else float(v) for v in values] + [None] * (len(per_seed) - len(values))

    rows = (
        [
            rec.number,
            rec.outcome,
            *(rec.params.get(k) for k in names),
            None if rec.value is None else float(rec.value),
            *seed_cells(rec),
            None if rec.seconds is None else round(float(rec.seconds), 4),
            rec.epochs or None,
        ]
        for rec in records
    )
    header = ["number", "state", *names, space.objective, *per_seed, "seconds", "epochs"]
    atomic_write_text(out / "trials.csv", csv_table(header, rows))  # text cells escaped as every CSV
    best = best_experiment(study, exp.base, exp.name)
    if best is not None:
        atomic_write_text(out / "best.toml", dumps_toml(best))
    atomic_write_text(out / "importance.json", json.dumps(importances(study), indent=2))
    counts = ", ".join(f"{n} {k}" for k, n in result.counts().items())
    print(
        f"study {terminal_safe(repr(study_name))}: {len(result.trials)} trials in {result.seconds:.1f} s ({counts}); "
        f"{len(records)} in the study",
        file=sys.stderr,
    )
    if best is not None:
        bt = study.best_trial
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in bt.params.items())
        over = f" (mean of {seeds} seeds)" if seeds > 1 else ""
        print(
            terminal_safe(f"best: trial {bt.number}, {space.objective} = {bt.value:.4f}{over} ({params})"),
            file=sys.stderr,
        )
    print(
        f"wrote {out}/trials.csv" + (", best.toml" if best is not None else "") + ", importance.json",
        file=sys.stderr,
    )
    return 0 if best is not None else 1


def print_studies(storage: str | None = None) -> None:
    """The studies in the default study storage, for ``optiscope runs list``."""
    if storage is None:
        from ..paths import optiscope_dir

        if not (optiscope_dir("data") / "studies.sqlite3").exists():
            return  # no search yet: Optuna (and torch) need not load
    from ..search import default_storage_url, list_studies

    try:
        studies = list_studies(storage)
    except Exception as exc:  # a damaged or locked file must not hide the runs
        print(f"optiscope runs: warning: the study storage cannot be read ({exc})", file=sys.stderr)
        return
    if not studies:
        return
    print(f"\nsearch studies in {(storage or default_storage_url()).removeprefix('sqlite:///')}:")
    print(f"{'trials':>6}  {'best':>8}  {'objective':<14}  study")
    for s in studies:
        best = "-" if s["best"] is None else f"{s['best']:.4f}"
        print(terminal_safe(f"{s['trials']:>6}  {best:>8}  {s['objective']:<14}  {s['name']}"))
