"""The Numba special functions against scipy.special."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma as sp_digamma

from svi_lda.numerics.special import digamma, exp_dirichlet_expectation
from tests._tolerances import DIGAMMA_REL, EXP_DIGAMMA_REL

# Log-spaced over the whole range the kernels meet, plus a dense linear grid where the
# recurrence (x < 8) and the asymptotic series (x >= 8) meet, and psi's root.
GRID = np.concatenate(
    [np.logspace(-8, 8, 2000), np.linspace(1e-3, 20.0, 2000), [1.4616321449683622, 8.0]]
)


def _fast(xs: np.ndarray) -> np.ndarray:
    return np.array([digamma(float(x)) for x in xs])


def test_digamma_error_within_recorded_bound():
    err = np.abs(_fast(GRID) - sp_digamma(GRID))
    scaled = err / np.maximum(1.0, np.abs(sp_digamma(GRID)))
    assert scaled.max() <= DIGAMMA_REL, f"worst at x={GRID[scaled.argmax()]}: {scaled.max():.3e}"


@pytest.mark.parametrize("x", [1e-300, 1e-12, 0.5, 1.0, 7.999999, 8.0, 8.000001, 1e15])
def test_digamma_pointwise(x):
    expected = sp_digamma(x)
    assert abs(digamma(x) - expected) <= DIGAMMA_REL * max(1.0, abs(expected))


def test_digamma_known_values():
    euler_gamma = 0.5772156649015329
    assert digamma(1.0) == pytest.approx(-euler_gamma, abs=1e-15)
    assert digamma(0.5) == pytest.approx(-euler_gamma - 2 * np.log(2.0), abs=1e-15)


@pytest.mark.parametrize(
    "gamma",
    [np.array([1.0]), np.array([1e-3, 2.0, 300.0]), np.linspace(0.01, 50.0, 20)],
    ids=["K=1", "mixed", "K=20"],
)
def test_exp_dirichlet_expectation_matches_scipy(gamma):
    out = np.empty_like(gamma)
    exp_dirichlet_expectation(gamma, out)
    expected = np.exp(sp_digamma(gamma) - sp_digamma(gamma.sum()))
    # exp turns an absolute error e in the exponent into a relative error ~e.
    bound = DIGAMMA_REL * max(1.0, np.abs(sp_digamma(gamma)).max(), sp_digamma(gamma.sum()))
    np.testing.assert_allclose(out, expected, rtol=4 * bound + 1e-15, atol=0)


def test_exp_digamma_matches_scipy_within_recorded_bound() -> None:
    from svi_lda.numerics.special import exp_digamma

    xs = np.concatenate([np.logspace(np.log10(2e-3), 6, 4001), np.linspace(2e-3, 30, 4001)])
    expected = np.exp(sp_digamma(xs))
    got = np.array([exp_digamma(x) for x in xs])
    assert np.max(np.abs(got - expected) / expected) < EXP_DIGAMMA_REL


def test_exp_neg_matches_numpy_and_clamps_without_denormals() -> None:
    from svi_lda.numerics.special import exp_neg

    ts = np.linspace(0.0, 699.0, 20001)
    got = np.array([exp_neg(t) for t in ts])
    np.testing.assert_allclose(got, np.exp(-ts), rtol=EXP_DIGAMMA_REL)
    assert exp_neg(0.0) == 1.0
    # Far arguments are clamped at exp(-700) (~1e-304), a normal number, not 0 or a denormal.
    assert exp_neg(1e6) == exp_neg(700.0) > np.finfo(np.float64).tiny
