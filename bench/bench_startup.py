"""Start-up of the command line: a whole ``optiscope run --preset lr-sweep`` process against
``python -c "import torch"``, measured in the same run.

Runs are interleaved (import, run, import, run, ...) so a busy machine slows both alike;
the figures are medians. Bar: the run takes at most the torch import + 1.6 s (issue 13).
The first ``run`` warms the dataset cache and is not counted, as a user's second run.

    python bench/bench_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR_SECONDS = 1.6


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OPTISCOPE_HOME": str(Path(tmp) / "home")}  # a fresh cache and run store
        run = [sys.executable, "-m", "optiscope.engine.cli", "run", "--preset", "lr-sweep"]
        peer = [sys.executable, "-c", "import torch"]
        first = timed([*run, "--out", str(Path(tmp) / "warm")], env)  # fills the dataset cache
        imports, runs = [], []
        for i in range(args.repeats):
            imports.append(timed(peer, env))
            runs.append(timed([*run, "--out", str(Path(tmp) / f"out{i}")], env))
    t_import, t_run = statistics.median(imports), statistics.median(runs)
    extra = t_run - t_import

    def figures(ts: list[float]) -> str:
        return f"median {statistics.median(ts):.2f} s, min {min(ts):.2f} s  ({', '.join(f'{t:.2f}' for t in ts)})"

    print(f"python -c 'import torch'         {figures(imports)}")
    print(f"optiscope run --preset lr-sweep   {figures(runs)}")
    print(f"first run (empty dataset cache)   {first:.2f} s")
    print(f"(min - min: {min(runs) - min(imports):+.2f} s; on a busy machine both medians stretch)")
    ok = extra <= BAR_SECONDS
    print(
        f"median run - median import torch = {extra:+.2f} s; bar <= +{BAR_SECONDS:.1f} s: {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
