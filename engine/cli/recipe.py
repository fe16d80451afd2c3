"""``optiscope recipe``: the tuning recipe's automatic checks on an experiment's run.

Steps 1-2 by default; ``--steps 1-5`` adds the LR range test (3), the full run at the
picked rate with its train/validation gap (4) and the schedule against the constant rate
(5, each contender over ``--seeds`` seeds, default 5: mean ± 95 % interval and the paired
verdict). Writes ``recipe.json`` and the one-page ``summary.html``; the runs go to the run store
under one experiment name (``recipe <time> · <experiment>``) unless ``--no-store``.
Exit 0 when every check passes, 1 when one fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import UsageError, add_experiment_args, load_experiment, prepare_out_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recipe",
        help="tuning recipe checks: 1 initial loss ~ ln(classes), 2 overfit 20 examples (default), "
        "3 LR range test, 4 train/validation gap, 5 schedule vs constant; exit 1 on a failed check",
    )
    add_experiment_args(p)
    p.add_argument(
        "--run", type=int, default=0, help="which run of the experiment to check (index; default 0)"
    )
    p.add_argument(
        "--steps", default="1-2", help="which steps to run: '1-2' (default), '1-5', '3' or '1,2,5'"
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="step 5: train the constant and the scheduled run with this many seeds each and give the "
        "paired verdict (default 5)",
    )
    p.add_argument("--no-store", action="store_true", help="do not record the recipe's runs in the run store")
    p.set_defaults(func=cmd_recipe)


def cmd_recipe(args: argparse.Namespace) -> int:
    from ..recipe import LATER_STEPS, STEP_TITLES, parse_steps, recipe_group, run_recipe, summary_html

    try:
        steps = parse_steps(args.steps)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from ..recipe import SCHEDULE_SEEDS
    from ..schema import MAX_SEEDS

    seeds = args.seeds if args.seeds is not None else SCHEDULE_SEEDS
    if not 1 <= seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    exp = load_experiment(args)
    runs = exp.runs()
    if not 0 <= args.run < len(runs):
        raise UsageError(f"--run {args.run}: the experiment has runs 0 to {len(runs) - 1}")
    prepare_out_dir(args.out)  # before any training
    import torch

    from .. import events as ev
    from ..files import atomic_write_text
    from .run import _open_recorder

    torch.set_num_threads(1)
    cfg = runs[args.run]
    group = recipe_group(exp.name)
    bus = ev.EventBus()
    recorder = None
    if not args.no_store:
        recorder = _open_recorder(group, lambda msg: print(msg, file=sys.stderr), "recipe")
        if recorder is not None:
            bus.subscribe(recorder, *recorder.EVENT_TYPES)
    checks = run_recipe(cfg, steps, bus=bus, seeds=seeds)
    print(f"tuning recipe for run {args.run} ({cfg.describe()}) of {exp.name}")
    for c in checks:
        print(f"  step {c.step} {c.name}: {'PASS' if c.passed else 'FAIL'} -- {c.message}")
        print(f"      {c.advice}")
    later = [line for line in LATER_STEPS if int(line[0]) not in steps]
    if later:
        print("  next (guided here; '--steps 1-5' checks steps 3-5):")
        for line in later:
            print(f"    {line}")
    stored = sorted(recorder.ids.values()) if recorder is not None and recorder.error is None else []
    report = {
        "experiment": exp.name,
        "run": args.run,
        "label": cfg.describe(),
        "steps": list(steps),
        "step5_seeds": seeds if 5 in steps else None,
        "passed": all(c.passed for c in checks),
        "checks": [c.as_dict() for c in checks],
        "later_steps": later,
        "store_group": group if stored else None,
        "stored_run_ids": stored,
    }
    rows = [(STEP_TITLES[c.step - 1], c.passed, c.message, c.advice) for c in checks]
    page = summary_html(f"{exp.name}: run {args.run} ({cfg.describe()})", rows)
    atomic_write_text(args.out / "recipe.json", json.dumps(report, indent=2, default=float))
    atomic_write_text(args.out / "summary.html", page)
    print(f"wrote {args.out}/recipe.json and summary.html")
    print(
        "  summary.png is not written headless (the engine has no Qt): Tools -> Tuning recipe -> "
        "Export summary in the window writes the page as HTML and PNG, with the plots"
    )
    if stored:
        print(f"  runs {', '.join(map(str, stored))} stored as '{group}' ('optiscope runs list')")
    return 0 if report["passed"] else 1
