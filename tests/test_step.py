"""One SVI step: schedule, seeded initial gamma, the shared step pieces vs the reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda.batch import Batch, concat_batches
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState
from svi_lda.step import (
    EStepSettings,
    UnitStats,
    estep_unit,
    initial_gamma,
    initial_gamma_reference,
    merge_unit_stats,
    minibatch_estep,
    reduction_tree,
    svi_step,
    unit_vocabulary,
)
from svi_lda.synthetic import make_lda_corpus
from tests._tolerances import ALPHA_RTOL, ESTEP_RTOL_F64, IDENTITY_RTOL
from tests.reference import (
    dirichlet_expectation,
    estep_reference,
    svi_step_dense,
    update_dir_prior_reference,
)

K, V = 5, 120
SETTINGS = EStepSettings(max_doc_update_iter=100, mean_change_tol=1e-3, seed=42)


@pytest.fixture(scope="module")
def corpus():
    return make_lda_corpus(120, V, K, doc_length=30, alpha=0.2, eta=0.05, seed=3)


def new_state(alpha=0.2, eta=0.05, seed=1):
    return GlobalState.initialize(K, V, alpha=np.full(K, alpha), eta=eta, seed=seed)


# -- schedule ----------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(st.floats(0.0, 1e4), st.floats(0.5, 1.0, exclude_min=True), st.integers(0, 10**6))
def test_rho_in_unit_interval_and_strictly_decreasing(tau0, kappa, t):
    schedule = RobbinsMonro(tau0=tau0, kappa=kappa)
    rho_t, rho_next = schedule.rho(t), schedule.rho(t + 1)
    assert 0.0 < rho_next < rho_t <= 1.0
    assert rho_t == pytest.approx((tau0 + t + 1) ** -kappa, rel=1e-15)


@pytest.mark.parametrize("kappa", [0.5, 0.3, 1.01, -1.0])
def test_schedule_rejects_kappa_outside_robbins_monro(kappa):
    with pytest.raises(ValueError, match=r"\(0\.5, 1\]"):
        RobbinsMonro(tau0=1.0, kappa=kappa)


def test_schedule_rejects_negative_tau0():
    with pytest.raises(ValueError, match="learning_offset"):
        RobbinsMonro(tau0=-1.0, kappa=0.7)


# -- initial gamma -----------------------------------------------------------------------
def test_initial_gamma_is_a_function_of_seed_and_doc_id():
    ids = np.array([5, 0, 123456789, 2**40])
    g = initial_gamma(ids, 7, seed=3)
    assert g.shape == (4, 7) and np.all((g >= 0.8) & (g < 1.2))
    np.testing.assert_array_equal(initial_gamma(ids[::-1], 7, seed=3), g[::-1])
    np.testing.assert_array_equal(initial_gamma(ids[2:3], 7, seed=3), g[2:3])
    assert not np.allclose(initial_gamma(ids, 7, seed=4), g)
    assert len(np.unique(g)) == g.size  # topics' symmetry is broken


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**63 - 1), max_size=40), st.integers(1, 120),
       st.integers(-(2**63), 2**64 - 1))
def test_initial_gamma_kernel_is_bitwise_the_numpy_definition(ids, n_topics, seed):
    ids = np.array(ids, dtype=np.int64)
    np.testing.assert_array_equal(
        initial_gamma(ids, n_topics, seed), initial_gamma_reference(ids, n_topics, seed)
    )


# -- a full step against the reference ----------------------------------------------------
def test_svi_steps_match_dense_reference(corpus):
    # The step's plumbing against the dense formulation, on plain document updates (their
    # extrapolated version is checked against its reference in test_estep).
    settings = dataclasses.replace(SETTINGS, accelerate=False)
    X = corpus.X
    state = new_state()
    lam = state.lambda_()
    schedule = RobbinsMonro(tau0=2.0, kappa=0.7)
    total = 1000.0
    for step, rows in enumerate([slice(0, 40), slice(40, 70), slice(70, 120)]):
        doc_ids = np.arange(X.shape[0])[rows]
        unit = Batch.from_csr(X[rows], doc_ids=doc_ids)
        metrics = svi_step(state, [unit], settings, schedule, total_samples=total)
        rho = schedule.rho(step)
        assert metrics.rho == rho and metrics.step == step + 1 and metrics.n_docs == len(doc_ids)
        gamma0 = initial_gamma(doc_ids, K, settings.seed)
        _, sstats, _, _ = estep_reference(
            X[rows], np.exp(dirichlet_expectation(lam)), state.alpha, gamma0, 100, 1e-3
        )
        lam = svi_step_dense(lam, sstats, rho, state.eta, total, len(doc_ids))
    np.testing.assert_allclose(state.lambda_(), lam, rtol=ESTEP_RTOL_F64)
    assert state.n_docs_seen == X.shape[0]


def test_learned_alpha_step_matches_reference(corpus):
    X = corpus.X[:60]
    state = new_state(alpha=0.5)
    unit = Batch.from_csr(X)
    stats = minibatch_estep(state.copy(), [unit], SETTINGS)
    expected = update_dir_prior_reference(state.alpha, 60, stats.elog_theta_sum / 60, 0.25)
    svi_step(state, [unit], SETTINGS, RobbinsMonro(tau0=15.0, kappa=0.5 + 1e-12),
             total_samples=600, learn_alpha=True)
    np.testing.assert_allclose(state.alpha, expected, rtol=ALPHA_RTOL)
    assert not np.allclose(state.alpha, 0.5) and np.all(state.alpha > 0)


# -- split / permute at the minibatch level ---------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_units_summed_equal_whole_minibatch(seed, n_units):
    rng = np.random.default_rng(seed)
    X = make_lda_corpus(int(rng.integers(n_units, 40)), V, K, doc_length=20, seed=seed).X
    doc_ids = rng.permutation(10_000)[: X.shape[0]]
    whole = Batch.from_csr(X, doc_ids=doc_ids)
    cuts = np.sort(rng.choice(np.arange(1, X.shape[0]), size=n_units - 1, replace=False)) \
        if n_units > 1 else np.array([], dtype=int)
    bounds = np.concatenate([[0], cuts, [X.shape[0]]])
    units = [
        Batch.from_csr(X[a:b], doc_ids=doc_ids[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    state = new_state()
    one = minibatch_estep(state, [whole], SETTINGS)
    parts = minibatch_estep(state, units, SETTINGS)
    np.testing.assert_array_equal(parts.word_ids, one.word_ids)
    np.testing.assert_allclose(parts.sstats, one.sstats, rtol=IDENTITY_RTOL, atol=1e-300)
    np.testing.assert_allclose(parts.elog_theta_sum, one.elog_theta_sum, rtol=IDENTITY_RTOL)
    assert parts.doc_bound == pytest.approx(one.doc_bound, rel=IDENTITY_RTOL)
    assert (parts.n_docs, parts.n_iter, parts.n_tokens) == (one.n_docs, one.n_iter, one.n_tokens)
    # concat_batches of the units is the whole minibatch again
    np.testing.assert_array_equal(concat_batches(units).to_csr().toarray(), X.toarray())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_permuting_documents_with_their_ids_changes_nothing(seed):
    rng = np.random.default_rng(seed)
    X = make_lda_corpus(30, V, K, doc_length=20, seed=seed).X
    ids = np.arange(30)
    perm = rng.permutation(30)
    state = new_state()
    s1 = state.copy()
    s2 = state.copy()
    svi_step(s1, [Batch.from_csr(X, doc_ids=ids)], SETTINGS, RobbinsMonro(), total_samples=300)
    svi_step(s2, [Batch.from_csr(X[perm], doc_ids=ids[perm])], SETTINGS, RobbinsMonro(),
             total_samples=300)
    np.testing.assert_allclose(s2.lambda_(), s1.lambda_(), rtol=IDENTITY_RTOL)


def test_empty_documents_in_a_minibatch():
    X = sp.csr_matrix((4, V))
    state = new_state()
    before = state.lambda_()
    metrics = svi_step(state, [Batch.from_csr(X)], SETTINGS, RobbinsMonro(tau0=0.0),
                       total_samples=10)
    # rho = 1 and no tokens: lambda is the prior eta everywhere.
    np.testing.assert_allclose(state.lambda_(), np.full_like(before, state.eta))
    assert metrics.n_tokens == 0 and metrics.bound_per_token == 0.0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]))
def test_estep_on_a_workers_rows_is_bitwise_the_units_own(seed, dtype):
    """A Dask worker gets one set of rows for all its units: ``word_rows`` picks each
    unit word's row among them, and the statistics are bitwise the unit-only ones."""
    rng = np.random.default_rng(seed)
    X = make_lda_corpus(12, V, K, doc_length=15, seed=seed).X
    unit = Batch.from_csr(X, doc_ids=np.arange(12))
    ids, index = unit_vocabulary(unit)
    # the worker's words: the unit's and others, sorted
    extra = rng.choice(V, size=int(rng.integers(0, V)), replace=False)
    worker_ids = np.union1d(ids, extra)
    all_rows, all_shift = new_state().exp_elog_beta_rows(worker_ids)
    all_rows = all_rows.astype(dtype)
    word_rows = np.searchsorted(worker_ids, ids)
    alpha = np.full(K, 0.3)
    own, gamma_own = estep_unit(unit, index, ids, all_rows[word_rows], all_shift[word_rows],
                                alpha, SETTINGS)
    shared, gamma_shared = estep_unit(unit, index, ids, all_rows, all_shift, alpha, SETTINGS,
                                      word_rows=word_rows)
    np.testing.assert_array_equal(shared.sstats, own.sstats)
    np.testing.assert_array_equal(shared.word_ids, own.word_ids)
    np.testing.assert_array_equal(gamma_shared, gamma_own)
    assert shared.doc_bound == own.doc_bound and shared.n_iter == own.n_iter
    assert shared.sstats.dtype == own.sstats.dtype


def test_estep_unit_refuses_mixed_up_arrays_instead_of_crashing():
    X = sp.random(6, 30, density=0.4, format="csr", random_state=0)
    X.data[:] = 1.0
    batch = Batch.from_csr(X)
    state = GlobalState.initialize(3, 30, alpha=np.full(3, 0.3), eta=0.1, seed=0)
    ids, index = unit_vocabulary(batch)
    rows, shift = state.exp_elog_beta_rows(ids)
    estep_unit(batch, index, ids, rows, shift, state.alpha, SETTINGS)  # the right order
    with pytest.raises(ValueError, match="word_index has"):
        estep_unit(batch, ids, index, rows, shift, state.alpha, SETTINGS)  # swapped
    with pytest.raises(ValueError, match="exp_elog_beta has"):
        estep_unit(batch, index, ids, rows[:-1], shift, state.alpha, SETTINGS)
    with pytest.raises(ValueError, match="word_rows has"):
        estep_unit(batch, index, ids, rows, shift, state.alpha, SETTINGS,
                   word_rows=np.arange(len(ids) - 1))


def test_reduction_tree_pairs_adjacent_units_level_by_level():
    assert reduction_tree(1) == []
    assert reduction_tree(2) == [[(0, 1)]]
    # 5 units: (0+1), (2+3), 4 -> ((0+1)+(2+3)), 4 -> root
    assert reduction_tree(5) == [[(0, 1), (2, 3)], [(0, 1)], [(0, 1)]]
    assert reduction_tree(4) == [[(0, 1), (2, 3)], [(0, 1)]]


def _random_stats(rng, n_words_total: int, k: int, dtype) -> UnitStats:
    words = np.sort(rng.choice(n_words_total, int(rng.integers(1, n_words_total)),
                               replace=False)).astype(np.int64)
    return UnitStats(
        word_ids=words,
        sstats=(rng.random((len(words), k)) * 10.0 ** rng.integers(-8, 8)).astype(dtype),
        n_docs=int(rng.integers(1, 50)),
        n_tokens=float(rng.integers(1, 500)),
        elog_theta_sum=rng.standard_normal(k) * 1e3,
        theta_sum=rng.random(k),
        doc_bound=float(rng.standard_normal() * 1e4),
        n_iter=int(rng.integers(1, 100)),
        word_counts=rng.random(len(words)) * 100,
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]))
def test_merge_is_the_pairwise_tree_of_float64_sums(n_parts, seed, dtype):
    """merge_unit_stats is bitwise ((u0 + u1) + (u2 + u3)) + ..., each sum in float64 over
    the union of the two nodes' words: the shape the Dask workers reproduce as tasks."""
    rng = np.random.default_rng(seed)
    parts = [_random_stats(rng, 40, 3, dtype) for _ in range(n_parts)]

    def dense(p: UnitStats) -> tuple[np.ndarray, np.ndarray]:
        s = np.zeros((40, 3))
        s[p.word_ids] = p.sstats
        c = np.zeros(40)
        c[p.word_ids] = p.word_counts
        return s, c

    def tree(nodes: list) -> tuple:
        if len(nodes) == 1:
            return nodes[0]
        upper = [(nodes[i][0] + nodes[i + 1][0], nodes[i][1] + nodes[i + 1][1],
                  (0.0 + nodes[i][2]) + nodes[i + 1][2])
                 for i in range(0, len(nodes) - 1, 2)]
        return tree(upper + nodes[len(nodes) - len(nodes) % 2:])

    expected = tree([(*dense(p), p.doc_bound) for p in parts])
    merged = merge_unit_stats(parts)
    words = np.unique(np.concatenate([p.word_ids for p in parts]))
    np.testing.assert_array_equal(merged.word_ids, words)
    np.testing.assert_array_equal(merged.sstats, expected[0][words])
    np.testing.assert_array_equal(merged.word_counts, expected[1][words])
    assert merged.doc_bound == expected[2]
    assert merged.n_docs == sum(p.n_docs for p in parts)
    if n_parts > 1:
        assert merged.sstats.dtype == np.float64


def test_tree_differs_from_a_running_sum():
    """The test above can fail: summing 4 units one after the other rounds differently."""
    a = UnitStats(np.array([0]), np.array([[1.0]]), 1, 1.0, np.zeros(1), np.zeros(1), 0, 1)
    vals = [1.0, 1e16, -1e16, 1.0]
    parts = [dataclasses.replace(a, sstats=np.array([[v]])) for v in vals]
    assert merge_unit_stats(parts).sstats[0, 0] == (1.0 + 1e16) + (-1e16 + 1.0)
    assert (1.0 + 1e16) + (-1e16 + 1.0) != ((1.0 + 1e16) + -1e16) + 1.0
