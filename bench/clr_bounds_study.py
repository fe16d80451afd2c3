"""Study: which rule turns an LR range test into cyclical-LR bounds that train well?

For each task (dataset + network + optimizer) and each training seed, run the range test
as the window's "Find learning rate" does (1e-7 -> 10, exponential, 100 updates, smoothed
with beta 0.98), derive triangular-CLR bounds by each candidate rule, train every candidate
(and constant rates from the same test, and the preset's own constant) for ``--epochs``
epochs with the same initial weights and minibatch order, and print the final validation
accuracy of each. All runs of one task train batched as one computation
(``engine.runner.execute``), so the whole study is a few minutes on two cores.

Candidate CLR rules (``base -> max``; step size 4 x the updates per epoch, the window's
default, mode triangular):

- ``smith``: the rule the product used before this study (Smith's "where the loss starts
  falling to where it stops falling") -- base where the smoothed loss starts to fall (stays
  10 % of the whole drop below its start), max where it stops falling (comes within 10 % of
  the drop of its minimum); written out here (:func:`smith_bounds`), as the product no
  longer uses it;
- ``steep/4``: max at torch-lr-finder's suggestion (the steepest point of the smoothed
  loss, ``np.gradient`` over the curve with its first 10 and last 5 points left out, as
  ``LRFinder.plot(suggest_lr=True)`` does), base = max / 4 (Smith's "1/3 to 1/4 of max");
- ``min10/4`` and ``min10/10``: max at fastai's ``minimum / 10`` (the rate of the smoothed
  loss's minimum over the curve less its first tenth and last 5 points, divided by 10),
  base = max / 4 or max / 10 (``min10/4`` is the product's rule since this study: the
  script checks that ``engine.lrfind.suggest`` gives exactly these bounds);
- ``valley/4``: max at fastai's ``valley``, base = max / 4.

Constant rates from the same test: ``valley``, ``min/10``, ``steepest`` (torch-lr-finder's),
and the preset's own rate (``preset``).

A rule does *clearly worse* than a constant when its final validation accuracy is more
than ``--margin`` (default 3 points) below it, or it diverges while the constant does not.
The verdict compares every rule with the best constant from the same test and with the
preset's constant.

Run: ``.venv/bin/python bench/clr_bounds_study.py`` (``--epochs 30``, ``--seeds 1 2 3``,
``--tasks NAME ...``, ``--margin 0.03``). It prints a Markdown table; the one in
``docs/clr-bounds.md`` came from this script.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from optiscope.engine.config import Constant, Cyclic, RunConfig  # noqa: E402
from optiscope.engine.lrfind import lr_find, suggest  # noqa: E402
from optiscope.engine.presets import get_preset  # noqa: E402
from optiscope.engine.runner import execute  # noqa: E402

torch.set_num_threads(1)


def _base(preset: str, index: int = 0, **update) -> Callable[[], RunConfig]:
    def make() -> RunConfig:
        cfg = get_preset(preset).runs()[index]
        return cfg.model_copy(update=update)

    return make


def _with(cfg: RunConfig, section: str, **values) -> RunConfig:
    return cfg.model_copy(update={section: getattr(cfg, section).model_copy(update=values)})


def _tasks() -> dict[str, Callable[[], RunConfig]]:
    """Each task: a run config whose optimizer and rate are the preset's constant."""

    def digits_momentum() -> RunConfig:  # the repro: optimizer-race, momentum 0.9
        return _with(_base("optimizer-race", 1)(), "optimizer", momentum=0.9)

    def digits_adam() -> RunConfig:
        return _base("optimizer-race", 5)()

    def breast_cancer() -> RunConfig:  # clr-vs-fixed's fixed-rate run
        return _base("clr-vs-fixed", 0)()

    def blobs() -> RunConfig:  # the studies' baseline, momentum 0.9
        return _with(_base("blobs-sgd")(), "optimizer", momentum=0.9)

    def moons() -> RunConfig:
        cfg = _base("blobs-sgd")()
        return _with(cfg, "dataset", name="moons", noise=0.2, train_fraction=0.5)

    def wine() -> RunConfig:
        cfg = _with(_base("blobs-sgd")(), "dataset", name="wine", train_fraction=0.7, seed=0)
        return _with(cfg, "optimizer", momentum=0.9)

    return {
        "digits SGD+momentum 0.9 (lr 0.01)": digits_momentum,
        "digits Adam (lr 0.001)": digits_adam,
        "breast_cancer SGD (lr 0.01)": breast_cancer,
        "blobs SGD+momentum 0.9 (lr 0.01)": blobs,
        "moons SGD (lr 0.01)": moons,
        "wine SGD+momentum 0.9 (lr 0.01)": wine,
    }


def torch_lr_finder_steepest(lrs: np.ndarray, smoothed: np.ndarray) -> float | None:
    """torch-lr-finder's ``LRFinder.plot(skip_start=10, skip_end=5, suggest_lr=True)``."""
    ok = np.isfinite(smoothed)
    lrs, sm = lrs[ok][10:-5], smoothed[ok][10:-5]
    if len(sm) < 3:
        return None
    return float(lrs[int(np.gradient(sm).argmin())])


def smith_bounds(lrs: np.ndarray, smoothed: np.ndarray, threshold: float = 0.1) -> tuple[float, float] | None:
    """The earlier product rule, on the same window of the curve as ``suggest``."""
    ok = np.isfinite(smoothed)
    lrs, smoothed = lrs[ok], smoothed[ok]
    lo, hi = max(len(smoothed) // 10, 5), len(smoothed) - 5
    lrs, sm = lrs[lo:hi], smoothed[lo:hi]
    i_min = int(np.argmin(sm))
    drop = sm[0] - sm[i_min]
    if drop <= 0:
        return None
    seg = sm[: i_min + 1]
    above = np.nonzero(seg >= sm[0] - threshold * drop)[0]
    start = min(int(above[-1]) + 1 if len(above) else 0, i_min)
    stop = int(np.argmax(seg <= sm[i_min] + threshold * drop))
    return float(lrs[start]), float(lrs[max(stop, start)])


RULES: dict[str, Callable[[dict, float | None], tuple[float, float] | None]] = {
    "smith": lambda s, st: s["smith"],
    "steep/4": lambda s, st: (st / 4, st) if st else None,
    "min10/4": lambda s, st: (s["minimum_div_10"] / 4, s["minimum_div_10"]) if s["minimum_div_10"] else None,
    "min10/10": lambda s, st: (
        (s["minimum_div_10"] / 10, s["minimum_div_10"]) if s["minimum_div_10"] else None
    ),
    "valley/4": lambda s, st: (s["valley"] / 4, s["valley"]) if s["valley"] else None,
}
CONSTANTS = ("valley", "min/10", "steepest", "preset")


def study_task(make: Callable[[], RunConfig], seeds: list[int], epochs: int, step_factor: int) -> list[dict]:
    rows = []
    runs: list[RunConfig] = []
    where: list[tuple[int, str]] = []
    for seed in seeds:
        cfg = _with(make(), "training", seed=seed, epochs=epochs).model_copy(update={"schedule": Constant()})
        test = lr_find(cfg, start_lr=1e-7, end_lr=10.0, iterations=100)
        s = suggest(test.lrs, test.smoothed)
        st = torch_lr_finder_steepest(test.lrs, test.smoothed)
        s["smith"] = smith_bounds(test.lrs, test.smoothed)
        if s["clr_max_lr"] is not None:  # the product's rule is min10/4 (None: no usable descent)
            assert s["clr_max_lr"] == s["minimum_div_10"] and s["clr_base_lr"] == s["clr_max_lr"] / 4, s
        spe = int(test.settings["iterations_per_epoch"])
        row: dict = {"seed": seed, "bounds": {}, "acc": {}, "diverged": {}}
        rows.append(row)
        for name, rule in RULES.items():
            bounds = rule(s, st)
            if bounds is None:
                continue
            base, top = bounds
            row["bounds"][name] = (base, top)
            sched = Cyclic(mode="triangular", base_lr=base, max_lr=top, step_size=step_factor * spe)
            runs.append(cfg.model_copy(update={"schedule": sched, "label": name}))
            where.append((len(rows) - 1, name))
        consts = {
            "valley": s["valley"],
            "min/10": s["minimum_div_10"],
            "steepest": st,
            "preset": cfg.optimizer.lr,
        }
        for name, lr in consts.items():
            if lr:
                row["bounds"][name] = (lr, lr)
                runs.append(_with(cfg, "optimizer", lr=lr).model_copy(update={"label": name}))
                where.append((len(rows) - 1, name))
    results = execute(runs, log=lambda _m: None)
    for (i, name), res in zip(where, results, strict=True):
        final = res.final
        rows[i]["acc"][name] = final.val_acc if final is not None and res.reason != "diverged" else math.nan
        rows[i]["diverged"][name] = res.reason == "diverged"
    return rows


def verdicts(rows: list[dict], margin: float) -> dict[str, list[str]]:
    """For each rule, the seeds where it lost to the best constant of the same test (``test``)
    or to the preset's constant (``preset``) by more than ``margin``, or diverged."""
    lost: dict[str, list[str]] = {name: [] for name in RULES}
    for row in rows:
        acc = row["acc"]
        same_test = [c for c in ("valley", "min/10", "steepest") if c in acc and not math.isnan(acc[c])]
        best_const = max(same_test, key=lambda c: acc[c]) if same_test else None
        for name in RULES:
            a = acc.get(name, math.nan)
            for ref, kind in ((best_const, "test"), ("preset", "preset")):
                r = acc.get(ref, math.nan) if ref else math.nan
                if math.isnan(r):
                    continue
                if math.isnan(a) or a < r - margin:
                    lost[name].append(f"{kind}: seed {row['seed']} {_fmt_acc(a)} vs {ref} {r:.3f}")
    return lost


def _fmt_acc(a: float) -> str:
    return "div." if math.isnan(a) else f"{a:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--step-factor", type=int, default=4, help="CLR step size in epochs' updates (default 4)")
    ap.add_argument(
        "--margin", type=float, default=0.03, help="'clearly worse': accuracy points (default 0.03)"
    )
    ap.add_argument("--tasks", nargs="*", help="substrings of task names to run (default: all)")
    args = ap.parse_args(argv)
    tasks = _tasks()
    if args.tasks:
        tasks = {k: v for k, v in tasks.items() if any(t in k for t in args.tasks)}
    t0 = time.perf_counter()
    cols = list(RULES) + list(CONSTANTS)
    print(f"final validation accuracy after {args.epochs} epochs (div.: diverged); CLR bounds base-max\n")
    print("| task | seed | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    all_lost: dict[str, list[str]] = {name: [] for name in RULES}
    bounds_lines = []
    accs: dict[str, list[float]] = {c: [] for c in cols}
    for task, make in tasks.items():
        rows = study_task(make, args.seeds, args.epochs, args.step_factor)
        for row in rows:
            cells = [_fmt_acc(row["acc"].get(c, math.nan)) if c in row["acc"] else "-" for c in cols]
            print(f"| {task} | {row['seed']} | " + " | ".join(cells) + " |", flush=True)
            for c in cols:
                accs[c].append(row["acc"].get(c, math.nan))
            b = row["bounds"]
            bounds_lines.append(
                f"| {task} | {row['seed']} | "
                + " | ".join(f"{b[c][0]:.2g}-{b[c][1]:.2g}" if c in b else "-" for c in RULES)
                + " | "
                + " | ".join(f"{b[c][0]:.2g}" if c in b else "-" for c in CONSTANTS[:3])
                + " |"
            )
        for name, lost in verdicts(rows, args.margin).items():
            all_lost[name] += [f"{task}: {x}" for x in lost]
    means = [sum(0.0 if math.isnan(a) else a for a in accs[c]) / max(len(accs[c]), 1) for c in cols]
    worst = [min((0.0 if math.isnan(a) else a for a in accs[c]), default=math.nan) for c in cols]
    print("| **mean** (diverged = 0) | | " + " | ".join(f"**{m:.3f}**" for m in means) + " |")
    print("| **worst** | | " + " | ".join(f"{w:.3f}" for w in worst) + " |")
    print("\nbounds (CLR base-max; constants)\n")
    print("| task | seed | " + " | ".join(RULES) + " | " + " | ".join(CONSTANTS[:3]) + " |")
    print("|---|---|" + "---|" * (len(RULES) + 3))
    print("\n".join(bounds_lines))
    print(
        f"\nclearly worse (more than {args.margin * 100:g} points below, or diverged) than the best constant "
        "from the same test (test) or the preset's constant (preset):"
    )
    for name, lost in all_lost.items():
        n_test = sum(x.split(": ", 2)[1].startswith("test") for x in lost)
        print(
            f"- {name}: {n_test} vs the test's constant, {len(lost) - n_test} vs the preset's"
            + (f" ({'; '.join(lost)})" if lost else "")
        )
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
