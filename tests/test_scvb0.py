"""SCVB0 (learning_method="scvb0"): kernels against plain NumPy, invariants, the estimator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda.batch import Batch
from svi_lda.methods.scvb0 import (
    CollapsedSettings,
    scvb0_global_update,
    scvb0_local_step,
    scvb0_parameter_rows,
)
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState
from svi_lda.step import initial_gamma, unit_vocabulary
from tests.reference_scvb0 import global_reference, local_reference

SETTINGS = CollapsedSettings(burn_in=3, step_scale=1.0, step_offset=10.0, step_decay=0.9, seed=5)


def small_corpus(seed: int = 0, n_docs: int = 14, n_features: int = 17) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_features, density=0.35, format="csr", random_state=seed)
    X.data = rng.integers(1, 6, size=X.nnz).astype(np.float64)
    X = X.tolil()
    X[4, :] = 0  # an empty document
    return X.tocsr()


def random_state(n_features: int, n_topics: int, seed: int = 1) -> GlobalState:
    rng = np.random.default_rng(seed)
    state = GlobalState(
        word_topic=rng.gamma(1.0, 3.0, size=(n_features, n_topics)),
        scale=0.37,
        topic_sums=np.zeros(n_topics),
        alpha=rng.uniform(0.05, 0.5, n_topics),
        eta=0.02,
    )
    state.topic_sums = state.word_topic.sum(axis=0)
    return state


def local_both_ways(X, state, settings, n_threads=1):
    batch = Batch.from_csr(X, first_doc_id=100)
    ids, index = unit_vocabulary(batch)
    rows, shift = scvb0_parameter_rows(state, ids)
    stats, theta_weight = scvb0_local_step(
        batch, index, ids, rows, shift, state.alpha, settings, n_threads=n_threads
    )
    n_phi = state.scale * state.word_topic
    start = initial_gamma(batch.doc_ids, state.n_components, settings.seed)
    ref = local_reference(
        X, n_phi, n_phi.sum(axis=0), state.eta, state.alpha, start,
        burn_in=settings.burn_in, step_scale=settings.step_scale,
        step_offset=settings.step_offset, step_decay=settings.step_decay,
    )
    return ids, stats, theta_weight, ref


@pytest.mark.parametrize("burn_in", [0, 1, 3])
def test_local_step_matches_numpy_reference(burn_in):
    X = small_corpus()
    state = random_state(X.shape[1], 6)
    settings = CollapsedSettings(burn_in=burn_in, seed=5)
    ids, stats, theta_weight, (n_theta, ref_stats, loglik) = local_both_ways(X, state, settings)
    np.testing.assert_allclose(theta_weight, n_theta + state.alpha, rtol=1e-10)
    np.testing.assert_allclose(stats.sstats, ref_stats[ids], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats.doc_bound, loglik.sum(), rtol=1e-10)
    # Every token's responsibility sums to 1: the statistics hold all the unit's tokens.
    np.testing.assert_allclose(stats.sstats.sum(), X.sum(), rtol=1e-12)
    # The counts after burn-in sum to each document's length.
    np.testing.assert_allclose(n_theta.sum(axis=1), np.asarray(X.sum(axis=1)).ravel())


def test_burn_in_moves_counts_towards_the_topics():
    X = small_corpus(3)
    state = random_state(X.shape[1], 6, seed=4)
    _, _, still, _ = local_both_ways(X, state, CollapsedSettings(burn_in=0, seed=5))
    _, _, moved, _ = local_both_ways(X, state, CollapsedSettings(burn_in=2, seed=5))
    assert not np.allclose(still, moved)


def test_global_update_matches_dense_reference():
    X = small_corpus(2)
    state = random_state(X.shape[1], 6, seed=7)
    before = state.scale * state.word_topic.copy()
    batch = Batch.from_csr(X)
    ids, index = unit_vocabulary(batch)
    rows, shift = scvb0_parameter_rows(state, ids)
    stats, _ = scvb0_local_step(batch, index, ids, rows, shift, state.alpha, SETTINGS)
    full = np.zeros_like(before)
    full[ids] = stats.sstats
    corpus_tokens = 10 * X.sum()
    schedule = RobbinsMonro(tau0=3.0, kappa=0.8)
    metrics = scvb0_global_update(
        state, stats, schedule, total_tokens=corpus_tokens, learn_alpha=False, seconds=1.0
    )
    expected = global_reference(before, full, metrics.rho, corpus_tokens, X.sum())
    np.testing.assert_allclose(state.scale * state.word_topic, expected, rtol=1e-12)
    np.testing.assert_allclose(state.scale * state.topic_sums, expected.sum(axis=0), rtol=1e-12)
    assert state.n_docs_seen == X.shape[0]
