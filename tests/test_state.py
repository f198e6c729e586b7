"""GlobalState: lazy lambda vs the dense update, E[log beta] rows, the alpha Newton step."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda.bounds import topic_bound
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState, natural_gradient_step, update_alpha
from tests._tolerances import ALPHA_RTOL, ELOGBETA_RTOL, ESTEP_RTOL_F32, LAZY_RTOL
from tests.reference import (
    dirichlet_expectation,
    svi_step_dense,
    topic_bound_reference,
    update_dir_prior_reference,
)


def new_state(n_components=4, n_features=60, *, eta=0.05, seed=0, dtype="float64"):
    return GlobalState.initialize(
        n_components, n_features, alpha=np.full(n_components, 0.1), eta=eta, seed=seed,
        dtype=dtype,
    )


def random_minibatch(rng, n_features, n_components):
    """Sorted unique word ids and positive word-major sstats, as an E-step would give."""
    n_words = int(rng.integers(1, n_features + 1))
    ids = np.sort(rng.choice(n_features, size=n_words, replace=False))
    sstats = rng.gamma(0.5, 3.0, size=(n_words, n_components))
    return ids, sstats


def test_initialize():
    state = new_state(5, 80, eta=0.3, seed=1)
    lam = state.lambda_()
    assert lam.shape == (5, 80) and state.word_topic.shape == (80, 5)
    assert np.all(lam > 0) and abs(lam.mean() - 1.0) < 0.05  # Gamma(100, 1/100)'s moments
    assert 0.07 < lam.std() < 0.13
    np.testing.assert_allclose(state.topic_sums, state.word_topic.sum(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(new_state(5, 80, eta=0.3, seed=1).lambda_(), lam)
    assert not np.array_equal(new_state(5, 80, eta=0.3, seed=2).lambda_(), lam)
    assert new_state(dtype="float32").word_topic.dtype == np.float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lazy_update_equals_dense_after_hundreds_of_steps(seed):
    rng = np.random.default_rng(seed)
    k, v, eta, total = 4, 60, 0.05, 5000.0
    state = new_state(k, v, eta=eta, seed=seed)
    dense = state.lambda_()
    # Large steps so the scale underflows the fold-back threshold several times.
    rhos = np.concatenate([[1.0], rng.uniform(0.05, 0.6, size=399)])
    folds = 0
    for t, rho in enumerate(rhos):
        ids, sstats = random_minibatch(rng, v, k)
        batch_n_docs = int(rng.integers(1, 50))
        before = state.scale
        natural_gradient_step(
            state, ids, sstats, batch_n_docs=batch_n_docs, total_samples=total, rho=float(rho)
        )
        folds += state.scale > before
        full = np.zeros((k, v))
        full[:, ids] = sstats.T
        dense = svi_step_dense(dense, full, rho, eta, total, batch_n_docs)
        if t % 50 == 0 or t == len(rhos) - 1:
            np.testing.assert_allclose(state.lambda_(), dense, rtol=LAZY_RTOL, atol=0)
            np.testing.assert_allclose(state.topic_totals(), dense.sum(axis=1), rtol=LAZY_RTOL)
    assert folds >= 2, "the scale was never folded back into W: test did not cover it"
    assert state.step == len(rhos)


def test_lazy_update_with_robbins_monro_schedule():
    rng = np.random.default_rng(5)
    k, v, eta = 3, 40, 0.01
    state = new_state(k, v, eta=eta)
    dense = state.lambda_()
    schedule = RobbinsMonro(tau0=1.0, kappa=0.51)
    for _ in range(300):
        rho = schedule.rho(state.step)
        ids, sstats = random_minibatch(rng, v, k)
        natural_gradient_step(state, ids, sstats, batch_n_docs=10, total_samples=1e4, rho=rho)
        full = np.zeros((k, v))
        full[:, ids] = sstats.T
        dense = svi_step_dense(dense, full, rho, eta, 1e4, 10)
    np.testing.assert_allclose(state.lambda_(), dense, rtol=LAZY_RTOL)


def test_step_touches_only_the_minibatch_columns():
    state = new_state()
    ids = np.array([3, 7, 8])
    untouched = np.setdiff1d(np.arange(state.n_features), ids)
    before = state.word_topic.copy()
    natural_gradient_step(state, ids, np.ones((3, 4)), batch_n_docs=2, total_samples=10,
                          rho=0.3)
    np.testing.assert_array_equal(state.word_topic[untouched], before[untouched])
    assert state.scale == pytest.approx(0.7) and state.n_docs_seen == 2 and state.step == 1


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(1e-3, 10.0), st.integers(1, 500),
       st.floats(1.0, 1e6))
def test_rho_one_gives_eta_plus_scaled_sstats(seed, eta, batch_n_docs, total):
    rng = np.random.default_rng(seed)
    state = new_state(3, 30, eta=eta, seed=seed)
    natural_gradient_step(state, *random_minibatch(rng, 30, 3), batch_n_docs=5,
                          total_samples=50, rho=0.4)
    ids, sstats = random_minibatch(rng, 30, 3)
    natural_gradient_step(state, ids, sstats, batch_n_docs=batch_n_docs, total_samples=total,
                          rho=1.0)
    expected = np.full((3, 30), eta)
    expected[:, ids] += total / batch_n_docs * sstats.T
    lam = state.lambda_()
    np.testing.assert_allclose(lam, expected, rtol=1e-13)
    assert np.all(lam > 0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_exp_elog_beta_rows_match_scipy(dtype):
    rng = np.random.default_rng(3)
    state = new_state(6, 200, eta=0.01, dtype=dtype)
    for _ in range(20):  # spread lambda over several orders of magnitude
        natural_gradient_step(state, *random_minibatch(rng, 200, 6), batch_n_docs=3,
                              total_samples=3000, rho=0.5)
    ids = np.sort(rng.choice(200, size=50, replace=False))
    rows, log_shift = state.exp_elog_beta_rows(ids)
    assert rows.dtype == np.dtype(dtype) and rows.flags.c_contiguous
    np.testing.assert_array_equal(rows.max(axis=1), 1.0)
    expected = dirichlet_expectation(state.lambda_())[:, ids].T
    rtol = ELOGBETA_RTOL if dtype == "float64" else ESTEP_RTOL_F32
    np.testing.assert_allclose(np.log(rows) + log_shift[:, None], expected,
                               rtol=rtol, atol=rtol)
    rows2, shift2 = state.exp_elog_beta_rows(ids, n_threads=2)
    np.testing.assert_array_equal(rows2, rows)
    np.testing.assert_array_equal(shift2, log_shift)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_exp_elog_beta_rows_have_no_subnormals(dtype):
    # eta = 1e-3 puts a word's unused topics ~exp(-1000) below its best one: without the
    # floor the rows would hold subnormals (or zeros), whose products run 10-100x slower.
    rng = np.random.default_rng(5)
    state = new_state(8, 300, eta=1e-3, dtype=dtype)
    ids, sstats = random_minibatch(rng, 300, 8)
    sstats[:, 0] += 1.0
    sstats[:, 1:] = 0.0  # every word of the minibatch in topic 0 only
    natural_gradient_step(state, ids, sstats, batch_n_docs=1, total_samples=1e6, rho=1.0)
    rows, _ = state.exp_elog_beta_rows(ids)
    tiny = np.finfo(rows.dtype).tiny
    assert rows.min() > 0.0
    assert rows.min() ** 2 >= tiny  # no product of two entries is subnormal either
    np.testing.assert_array_equal(rows[:, 0], 1.0)


def test_topic_bound_matches_reference():
    rng = np.random.default_rng(4)
    state = new_state(5, 9000, eta=0.02)  # > one chunk of words
    natural_gradient_step(state, *random_minibatch(rng, 9000, 5), batch_n_docs=10,
                          total_samples=100, rho=0.6)
    expected = topic_bound_reference(state.lambda_(), state.eta)
    assert topic_bound(state) == pytest.approx(expected, rel=1e-11)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 20),
    st.integers(1, 1000),
    st.floats(1e-3, 10.0),
    st.floats(0.01, 1.0),
)
def test_alpha_newton_step_matches_gensim_reference(seed, k, n_docs, a, rho):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.5, 1.5, size=k) * a
    gammas = rng.gamma(1.0, 5.0, size=(n_docs, k)) + 1e-3
    elog_theta_sum = dirichlet_expectation(gammas).sum(axis=0)
    updated = update_alpha(alpha.copy(), elog_theta_sum, n_docs, rho)
    expected = update_dir_prior_reference(alpha, n_docs, elog_theta_sum / n_docs, rho)
    np.testing.assert_allclose(updated, expected, rtol=ALPHA_RTOL)
    assert np.all(updated > 0)


def test_alpha_newton_step_matches_gensim_itself():
    ldamodel = pytest.importorskip("gensim.models.ldamodel")
    rng = np.random.default_rng(0)
    alpha = np.array([0.1, 0.5, 0.05, 1.0])
    gammas = rng.gamma(1.0, 3.0, size=(50, 4)) + alpha
    elog_theta_sum = dirichlet_expectation(gammas).sum(axis=0)
    expected = ldamodel.update_dir_prior(alpha.copy(), 50, elog_theta_sum / 50, 0.7)
    np.testing.assert_allclose(update_alpha(alpha, elog_theta_sum, 50, 0.7), expected,
                               rtol=ALPHA_RTOL)
    assert not np.allclose(expected, alpha)  # the step moved


def test_alpha_newton_step_keeps_alpha_positive():
    alpha = np.full(3, 1e-3)
    elog_theta_sum = np.array([-5000.0, -1.0, -1.0]) * 10
    # A real non-positive case: the reference declines it, though a tiny step would move.
    np.testing.assert_array_equal(
        update_dir_prior_reference(alpha, 10, elog_theta_sum / 10, 1.0), alpha
    )
    assert not np.array_equal(update_alpha(alpha, elog_theta_sum, 10, 1e-9), alpha)
    out = update_alpha(alpha, elog_theta_sum, 10, 1.0)
    assert np.all(out > 0)
    np.testing.assert_array_equal(out, alpha)  # the step would go non-positive: kept
    np.testing.assert_array_equal(update_alpha(alpha, np.zeros(3), 0, 1.0), alpha)
