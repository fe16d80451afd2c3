"""Kill searches and count the trials they leave RUNNING (issue: a killed search leaves nothing running).

Starts ``optiscope search`` on one SQLite study N times, waits until its trials are asked (RUNNING),
kills it (SIGTERM and SIGKILL in turn), and counts the study's RUNNING trials after the next search
opens the study. Prints one line per kill and the total::

    python bench/killed_searches.py --kills 10

Not a timing benchmark: it prints counts, not seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

EXPERIMENT = """
schema_version = 1
name = "killed"
[base.dataset]
n_samples = 100
[base.training]
epochs = 100000
device = "cpu"
[search]
objective = "best_val_acc"
[search.params]
"optimizer.lr" = { low = 1e-3, high = 0.5, log = true }
"""


def counts(storage: str, first_new: int) -> tuple[int, int, int]:
    """(trials in the study, RUNNING trials numbered below ``first_new``, RUNNING from ``first_new`` on)."""
    try:
        study = optuna.load_study(study_name="k", storage=storage)
    except KeyError:
        return 0, 0, 0
    trials = study.get_trials(deepcopy=False)
    old = sum(t.state == TrialState.RUNNING and t.number < first_new for t in trials)
    new = sum(t.state == TrialState.RUNNING and t.number >= first_new for t in trials)
    return len(trials), old, new


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="optiscope-kills-"))
    cfg = root / "exp.toml"
    cfg.write_text(EXPERIMENT)
    storage = f"sqlite:///{root / 'study.sqlite3'}"
    env = {**os.environ, "OPTISCOPE_HOME": str(root / "home")}
    after_open: list[int] = []
    for i in range(args.kills + 1):  # the last start only opens the study after the last kill
        first_new = counts(storage, 0)[0]
        proc = subprocess.Popen(
            [sys.executable, "-m", "optiscope.engine.cli", "search", str(cfg), "--storage", storage]
            + ["--study", "k", "--trials", "4", "--batch", "4", "--out", str(root / f"o{i}"), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 300
        while counts(storage, first_new)[2] < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)  # until the new search has opened the study and asked its 4 trials
        if i:
            left = counts(storage, first_new)[1]  # the killed searches' trials, after this open
            after_open.append(left)
            print(f"after kill {i}: {left} trials of killed searches RUNNING after the next open")
        how = signal.SIGTERM if i % 2 == 0 else signal.SIGKILL
        proc.send_signal(how)
        proc.wait(timeout=120)
        if i == args.kills:
            break
        print(
            f"kill {i + 1}: {how.name}, exit {proc.returncode}, RUNNING right after: {counts(storage, 0)[2]}"
        )
    print(
        f"{args.kills} killed searches (SIGTERM and SIGKILL in turn): {after_open[-1]} trials RUNNING after the "
        f"next open (most after any kill: {max(after_open)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
