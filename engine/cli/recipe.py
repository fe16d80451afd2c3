"""``optiscope recipe``: the tuning recipe's automatic checks (steps 1-2) on an experiment's run."""

from __future__ import annotations

import argparse
import json

from .common import UsageError, add_experiment_args, load_experiment


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recipe",
        help="tuning recipe steps 1-2: initial loss ~ ln(classes), overfit 20 examples; exit 1 on a failed check",
    )
    add_experiment_args(p)
    p.add_argument(
        "--run", type=int, default=0, help="which run of the experiment to check (index; default 0)"
    )
    p.set_defaults(func=cmd_recipe)


def cmd_recipe(args: argparse.Namespace) -> int:
    exp = load_experiment(args)
    runs = exp.runs()
    if not 0 <= args.run < len(runs):
        raise UsageError(f"--run {args.run}: the experiment has runs 0 to {len(runs) - 1}")
    import torch

    from ..files import atomic_write_text
    from ..recipe import LATER_STEPS, run_recipe

    torch.set_num_threads(1)
    cfg = runs[args.run]
    checks = run_recipe(cfg)
    print(f"tuning recipe for run {args.run} ({cfg.describe()}) of {exp.name}")
    for c in checks:
        print(f"  step {c.step} {c.name}: {'PASS' if c.passed else 'FAIL'} -- {c.message}")
        print(f"      {c.advice}")
    print("  next (guided, not automatic):")
    for line in LATER_STEPS:
        print(f"    {line}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "experiment": exp.name,
        "run": args.run,
        "label": cfg.describe(),
        "passed": all(c.passed for c in checks),
        "checks": [c.as_dict() for c in checks],
        "later_steps": list(LATER_STEPS),
    }
    atomic_write_text(args.out / "recipe.json", json.dumps(report, indent=2, default=float))
    print(f"wrote {args.out}/recipe.json")
    return 0 if report["passed"] else 1
