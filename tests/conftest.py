import math
import os
import tempfile

import numpy as np
import pytest

# Qt must never try to open a display in the test suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The run store, the CSV cache and the GUI's settings go to a throw-away folder, never the
# user's own (every process the tests start inherits this too).
os.environ["OPTISCOPE_HOME"] = tempfile.mkdtemp(prefix="optiscope-tests-")


def _reference_ema(values, beta):
    """TensorBoard's smoothing, written out the plain way; skips non-finite values."""
    out, acc, t = [], 0.0, 0
    for x in values:
        if not math.isfinite(x):
            out.append(math.nan)
            continue
        t += 1
        acc = beta * acc + (1 - beta) * x
        out.append(acc / (1 - beta**t))
    return np.array(out)


@pytest.fixture
def reference_ema():
    """An independent reference for the debiased EMA (engine and plot tests share it)."""
    return _reference_ema


def _torch_cyclic(base_lr: float, max_lr: float, step_size: int, n: int) -> np.ndarray:
    """The rates torch.optim.lr_scheduler.CyclicLR gives, update by update (the reference)."""
    import torch  # here, not at the top: some tests check what the window imports

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = torch.optim.lr_scheduler.CyclicLR(
        opt, base_lr=base_lr, max_lr=max_lr, step_size_up=step_size, cycle_momentum=False
    )
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.fixture
def torch_cyclic():
    """torch's CyclicLR rates (base_lr, max_lr, step_size, n) -> array: an independent reference."""
    return _torch_cyclic


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (every preset's exported script reproduced, at 3 epochs and at its
    whole length; the 90-run not-learning grid; the unused-modules check) run only with
    ``OPTISCOPE_SLOW=1``: CI runs them as its second step (``.ci/run``), and the default suite
    stays within a few minutes."""
    if os.environ.get("OPTISCOPE_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: set OPTISCOPE_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


#: mypy on engine/ (tests/test_static.py), started at the end of collection in a subprocess of
#: its own: from a fresh clone's empty cache it reads torch's and numpy's stubs for ~25 s of one
#: core, which it spends on the second core while the tests run on the first. None when not
#: collected (``-k``, a single file) or mypy is not installed; the test then runs it itself.
_MYPY: dict[str, object] = {}
MYPY_TEST = "tests/test_static.py::test_mypy_on_the_engine"


def pytest_collection_finish(session):
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    if (
        not any(item.nodeid == MYPY_TEST for item in session.items)
        or importlib.util.find_spec("mypy") is None
    ):
        return
    out = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _MYPY.update(proc=proc, out=out)


def pytest_sessionfinish(session):
    proc, out = _MYPY.pop("proc", None), _MYPY.pop("out", None)
    if proc is not None:
        if proc.poll() is None:  # the run stopped before test_static (-x, Ctrl+C)
            proc.kill()
        proc.wait()
        out.close()


@pytest.fixture
def background_mypy():
    """The mypy subprocess started at collection (or None): ``(returncode, output)`` once it ends."""
    proc, out = _MYPY.get("proc"), _MYPY.get("out")
    if proc is None:
        return None

    def result(timeout: float) -> tuple[int, str]:
        code = proc.wait(timeout=timeout)
        out.seek(0)
        return code, out.read()

    return result
