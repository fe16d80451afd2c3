"""The Student t quantile behind every interval over seeds: computed in the engine (no scipy
import on the way to a seeded run's first step), checked against scipy.stats."""

from __future__ import annotations

import subprocess
import sys

import pytest
import scipy.stats
from optiscope.engine import stats

DFS = [*range(1, 121), 150, 199, 250, 500, 1000]


@pytest.mark.parametrize("p", [0.975, 0.995, 0.9995, 0.9, 0.75, 0.6, 0.4, 0.1, 0.025, 0.0005])
def test_t_quantile_agrees_with_scipy(p):
    for df in DFS:
        want = scipy.stats.t.ppf(p, df)
        assert stats.t_quantile(p, df) == pytest.approx(want, rel=1e-11), df


def test_t_quantile_known_values_and_symmetry():
    # Cauchy (df 1): tan(pi (p - 1/2)); df 2: (2p - 1) sqrt(2 / (4 p (1 - p)))
    import math

    for p in (0.6, 0.9, 0.975, 0.999):
        assert stats.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-12)
        assert stats.t_quantile(p, 2) == pytest.approx(
            (2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p))), rel=1e-12
        )
        assert stats.t_quantile(1 - p, 7) == -stats.t_quantile(p, 7)
    assert stats.t_quantile(0.5, 3) == 0.0


@pytest.mark.parametrize(("p", "df"), [(0.975, 0), (0.975, -2), (0.975, 2.5), (0.0, 3), (1.0, 3), (1.5, 3)])
def test_t_quantile_bad_input_is_a_clear_error(p, df):
    with pytest.raises(ValueError, match="degree of freedom|probability"):
        stats.t_quantile(p, df)


def test_intervals_import_no_scipy():
    """An interval, a band and a verdict over seeds import no scipy (most of a second of
    import time a seeded run in the window would otherwise wait for before its first step)."""
    code = (
        "import sys, numpy as np\n"
        "from optiscope.engine import stats\n"
        "stats.mean_interval([1.0, 2.0, 4.0])\n"
        "stats.band(np.array([[1.0, 2.0], [2.0, 3.0], [4.0, 3.5]]))\n"
        "print(sorted(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
