"""The debiased EMA behind the loss plot's smoothing (pure numpy, no Qt)."""

import math

import numpy as np
import pytest
from optiscope.engine.outcome import DebiasedEMA, check_smoothing, debiased_ema


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.6, 0.9, 0.99, 0.999])
def test_matches_reference(beta, reference_ema):
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(1.0, 0.5, 3000)) * np.exp(-np.linspace(0, 3, 3000))
    np.testing.assert_allclose(debiased_ema(x, beta), reference_ema(x, beta), rtol=1e-9, atol=1e-12)


def test_first_value_is_the_first_raw_value():
    for beta in (0.3, 0.6, 0.95):
        assert debiased_ema([2.5, 1.0, 0.5], beta)[0] == pytest.approx(2.5)


def test_small_beta_long_series_does_not_overflow(reference_ema):
    # beta**-k overflows float64 after ~300 values at beta=0.1; blocks must prevent it
    x = np.linspace(5.0, 1.0, 5000)
    got = debiased_ema(x, 0.1)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, reference_ema(x, 0.1), rtol=1e-9)


def test_incremental_equals_whole_series(reference_ema):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.1, 3.0, 1000)
    ema = DebiasedEMA(0.6)
    parts = [ema.update(x[a:b]) for a, b in [(0, 1), (1, 7), (7, 7), (7, 400), (400, 1000)]]
    np.testing.assert_allclose(np.concatenate(parts), reference_ema(x, 0.6), rtol=1e-12)
    assert ema.count == 1000


def test_non_finite_values_are_skipped_and_nan(reference_ema):
    x = [1.0, 2.0, math.nan, 3.0, math.inf, -math.inf]
    got = debiased_ema(x, 0.6)
    ref = reference_ema(x, 0.6)
    assert np.isnan(got[[2, 4, 5]]).all()
    np.testing.assert_allclose(got[[0, 1, 3]], ref[[0, 1, 3]])


def test_reset_and_bad_weights():
    ema = DebiasedEMA(0.9)
    ema.update([1.0, 2.0])
    ema.reset(0.5)
    assert ema.update([4.0])[0] == pytest.approx(4.0)
    for bad in (-0.1, 1.0, math.nan, 2):
        with pytest.raises(ValueError, match="smoothing must be"):
            check_smoothing(bad)
