"""``optiscope gradcheck``: central finite differences against the gradients Optiscope trains with."""

from __future__ import annotations

import argparse

from .common import UsageError, add_experiment_args, load_experiment


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="check each layer's gradient (alone and batched) against finite differences; exit 1 on a wrong one",
    )
    add_experiment_args(p, out_required=False)
    p.add_argument(
        "--run", type=int, help="check only this run of the experiment (index; default: every run)"
    )
    p.add_argument(
        "--batch", type=int, default=16, help="training examples in the checked batch (default 16)"
    )
    p.add_argument("--samples", type=int, default=20, help="parameters sampled per layer (default 20)")
    p.set_defaults(func=cmd_gradcheck)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    exp = load_experiment(args)
    runs = exp.runs()
    if args.batch < 1 or args.samples < 1:
        raise UsageError("--batch and --samples must be at least 1")
    if args.run is not None and not 0 <= args.run < len(runs):
        raise UsageError(f"--run {args.run}: the experiment has runs 0 to {len(runs) - 1}")
    import torch

    from ..gradcheck import gradient_check

    torch.set_num_threads(1)
    chosen = [args.run] if args.run is not None else range(len(runs))
    seen: set[str] = set()
    passed = True
    for i in chosen:
        cfg = runs[i]
        key = cfg.model_copy(update={"label": "", "optimizer": runs[0].optimizer}).model_dump_json()
        if key in seen:  # same network, data and penalty: the same gradient
            continue
        seen.add(key)
        report = gradient_check(cfg, batch=args.batch, samples=args.samples)
        print(f"run {i}: " + report.table() + "\n")
        passed &= report.passed
    return 0 if passed else 1
