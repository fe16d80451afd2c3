"""``optiscope gradcheck``: central finite differences against the gradients Optiscope trains with."""

from __future__ import annotations

import argparse
import json
import math

from .common import UsageError, add_experiment_args, load_experiment, prepare_out_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="check each layer's gradient (alone and batched) against finite differences; exit 1 on a wrong one",
    )
    add_experiment_args(
        p,
        out_required=False,
        seeds="gradcheck checks one run's gradients and takes no --seeds; give --seed S for another seed",
    )  # --out: also write gradcheck.txt and gradcheck.json
    p.add_argument(
        "--run", type=int, help="check only this run of the experiment (index; default: every run)"
    )
    p.add_argument(
        "--batch", type=int, default=16, help="training examples in the checked batch (default 16)"
    )
    p.add_argument(
        "--full-below",
        type=int,
        default=4096,
        help="check every entry of a weight or bias tensor of at most this many entries (default 4096)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=200,
        help="entries sampled from each larger weight or bias tensor (default 200); the report prints "
        "the chance a sample misses k wrong entries",
    )
    p.set_defaults(func=cmd_gradcheck)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    exp = load_experiment(args)
    runs = exp.runs()
    if args.batch < 1 or args.samples < 1:
        raise UsageError("--batch and --samples must be at least 1")
    if args.full_below < 0:
        raise UsageError(f"--full-below {args.full_below}: must be 0 or more (0: sample every tensor)")
    if args.run is not None and not 0 <= args.run < len(runs):
        raise UsageError(f"--run {args.run}: the experiment has runs 0 to {len(runs) - 1}")
    if args.out is not None:
        prepare_out_dir(args.out)
    import torch

    from ..gradcheck import MISS_KS, gradient_check, miss_probability

    torch.set_num_threads(1)
    chosen = [args.run] if args.run is not None else range(len(runs))
    seen: set[str] = set()
    passed = True
    tables: list[str] = []
    records: list[dict] = []
    for i in chosen:
        cfg = runs[i]
        key = cfg.model_copy(update={"label": "", "optimizer": runs[0].optimizer}).model_dump_json()
        if key in seen:  # same network, data and penalty: the same gradient
            continue
        seen.add(key)
        report = gradient_check(cfg, batch=args.batch, samples=args.samples, full_below=args.full_below)
        tables.append(f"run {i}: " + report.table() + "\n")
        print(tables[-1])
        passed &= report.passed
        records += [
            {
                "run": i,
                "label": report.label,
                "engine": c.engine,
                "layer": c.layer,
                "entries": c.entries,
                "checked": c.checked,
                "sampled": [
                    {
                        "tensor": t,
                        "entries": n,
                        "sampled": k,
                        "miss_probability": {str(w): miss_probability(n, k, w) for w in MISS_KS},
                    }
                    for t, n, k in c.sampled
                ],
                "at_kink": c.at_kink,
                "too_small": c.too_small,
                "max_rel_error": None if math.isnan(c.max_error) else c.max_error,
                "mean_rel_error": None if math.isnan(c.mean_error) else c.mean_error,
                "verdict": c.verdict,
            }
            for c in report.layers
        ]
    if args.out is not None:
        from ..files import atomic_write_text

        atomic_write_text(args.out / "gradcheck.txt", "\n".join(tables))
        body = {
            "passed": passed,
            "batch": args.batch,
            "samples": args.samples,
            "full_below": args.full_below,
            "layers": records,
        }
        atomic_write_text(args.out / "gradcheck.json", json.dumps(body, indent=2) + "\n")
        print(f"wrote {args.out / 'gradcheck.txt'}, gradcheck.json")
    return 0 if passed else 1
