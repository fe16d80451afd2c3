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
