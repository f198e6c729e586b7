"""The E-step kernel (``run_estep``) against the numpy reference, and its invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from svi_lda.batch import Batch
from svi_lda.numerics.estep import run_estep
from svi_lda.step import unit_vocabulary
from tests._tolerances import (
    ESTEP_RTOL_F32,
    ESTEP_RTOL_F64,
    ESTEP_RTOL_SQUAREM,
    ESTEP_RTOL_SQUAREM_LONG,
    FIXED_POINT_ATOL_F32,
    FIXED_POINT_ATOL_F64,
    IDENTITY_RTOL,
    MONOTONE_SLACK,
    RELABEL_RTOL,
)
from tests.reference import doc_bound_reference, estep_reference, squarem_reference

HYPO = settings(max_examples=30, deadline=None)


def assert_close(actual, desired, *, rtol, atol):
    """assert_allclose with a per-element ``atol`` array."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    bad = ~(np.abs(actual - desired) <= rtol * np.abs(desired) + atol)
    assert not bad.any(), (
        f"{bad.sum()} mismatches, e.g. {actual[bad][:3]} vs {desired[bad][:3]}"
    )


def make_problem(seed, n_docs, n_topics, n_features, *, max_count=10, alpha=None, empty=0.2):
    """A random CSR minibatch (some empty documents), exp(E[log beta]) (K, V), alpha, gamma0."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, max_count + 1, size=(n_docs, n_features)).astype(np.float64)
    dense *= rng.random((n_docs, n_features)) < rng.uniform(0.05, 0.6)
    dense[rng.random(n_docs) < empty] = 0.0
    X = sp.csr_matrix(dense)
    X.eliminate_zeros()
    # Well-conditioned positive topic weights, as exp(E[log beta]) of a trained model.
    exp_elog_beta = rng.dirichlet(np.full(n_features, 0.5), size=n_topics) + 1e-6
    if alpha is None:
        alpha = rng.uniform(1e-3, 10.0, size=n_topics)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n_topics,)).copy()
    gamma0 = rng.uniform(0.5, 1.5, size=(n_docs, n_topics))
    return X, exp_elog_beta, alpha, gamma0


def kernel(X, exp_elog_beta, alpha, gamma0, *, max_iter, tol, n_threads=1, dtype=np.float64,
           row_scale=None, accelerate=True):
    """run_estep through the public Batch/unit_vocabulary path; dense (K, V) sstats."""
    batch = Batch.from_csr(X)
    ids, index = unit_vocabulary(batch)
    cols = exp_elog_beta[:, ids].T
    scale = cols.max(axis=1) if row_scale is None else row_scale[ids]
    rows = np.ascontiguousarray(cols / scale[:, None], dtype=dtype)
    gamma = np.ascontiguousarray(gamma0, dtype=np.float64).copy()
    out = run_estep(
        np.asarray(X.indptr, dtype=np.int64), index, X.data.astype(np.float64), rows,
        np.log(scale), alpha, gamma, max_iter=max_iter, tol=tol, n_threads=n_threads,
        accelerate=accelerate,
    )
    sstats = np.zeros_like(exp_elog_beta)
    sstats[:, ids] = out["sstats"].T
    return gamma, sstats, out


def reference(X, exp_elog_beta, alpha, gamma0, *, max_iter, tol, accelerate=True):
    gamma, sstats, word_loglik, n_iter = estep_reference(
        X, exp_elog_beta, alpha, gamma0, max_iter, tol, accelerate=accelerate
    )
    return gamma, sstats, word_loglik + doc_bound_reference(gamma, alpha), n_iter


sizes = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(1, 12),  # documents
    st.integers(1, 20),  # K
    st.integers(1, 200),  # V
)


@HYPO
@given(sizes, st.integers(1, 30), st.sampled_from([3, 10_000]), st.booleans())
def test_kernel_matches_reference_float64(size, n_iter, max_count, accelerate):
    X, eb, alpha, gamma0 = make_problem(*size, max_count=max_count)
    if accelerate:
        # Extrapolation amplifies rounding differences (see ESTEP_RTOL_SQUAREM): compare
        # through two extrapolations; the fixed-point test below covers long runs.
        n_iter, rtol = 1 + n_iter % 4, ESTEP_RTOL_SQUAREM
    else:
        rtol = ESTEP_RTOL_F64
    # tol=0 forces exactly n_iter updates in both, so the comparison never hinges on a
    # borderline stopping decision.
    gamma, sstats, out = kernel(X, eb, alpha, gamma0, max_iter=n_iter, tol=0.0,
                                accelerate=accelerate)
    r_gamma, r_sstats, r_bound, r_n_iter = reference(X, eb, alpha, gamma0, max_iter=n_iter,
                                                     tol=0.0, accelerate=accelerate)
    np.testing.assert_allclose(gamma, r_gamma, rtol=rtol, atol=0)
    np.testing.assert_allclose(sstats, r_sstats, rtol=rtol, atol=1e-300)
    atol = rtol * (1.0 + np.asarray(X.sum(axis=1)).ravel())
    assert_close(out["doc_bound"], r_bound, rtol=rtol, atol=atol)
    nonempty = np.diff(X.indptr) > 0
    np.testing.assert_array_equal(out["n_iter"][nonempty], r_n_iter[nonempty])


@pytest.mark.parametrize("accelerate", [False, True])
def test_kernel_matches_reference_with_convergence_check(accelerate):
    X, eb, alpha, gamma0 = make_problem(7, 40, 8, 150, alpha=0.1)
    gamma, sstats, out = kernel(X, eb, alpha, gamma0, max_iter=100, tol=1e-3,
                                accelerate=accelerate)
    r_gamma, r_sstats, r_bound, r_n_iter = reference(X, eb, alpha, gamma0, max_iter=100,
                                                     tol=1e-3, accelerate=accelerate)
    nonempty = np.diff(X.indptr) > 0
    if accelerate:
        # A document still wandering after dozens of extrapolations has amplified the
        # kernel's and the reference's rounding apart; compare the ones that settle.
        compared = nonempty & (r_n_iter <= 40)
        assert compared.sum() >= 0.8 * nonempty.sum()
        rtol = ESTEP_RTOL_SQUAREM_LONG
    else:
        compared, rtol = nonempty, ESTEP_RTOL_F64
    np.testing.assert_array_equal(out["n_iter"][compared], r_n_iter[compared])
    assert (out["n_iter"][nonempty] < 100).mean() > 0.5  # mostly stopped by the check
    np.testing.assert_allclose(gamma[compared], r_gamma[compared], rtol=rtol, atol=0)
    np.testing.assert_allclose(out["doc_bound"][compared], r_bound[compared], rtol=rtol)
    if not accelerate:
        np.testing.assert_allclose(sstats, r_sstats, rtol=rtol, atol=1e-300)


@HYPO
@given(sizes, st.integers(1, 30))
def test_kernel_float32_matches_float64_reference(size, n_iter):
    X, eb, alpha, gamma0 = make_problem(*size)
    gamma, sstats, out = kernel(X, eb, alpha, gamma0, max_iter=n_iter, tol=0.0, dtype=np.float32,
                                accelerate=False)
    r_gamma, r_sstats, r_bound, _ = reference(X, eb, alpha, gamma0, max_iter=n_iter, tol=0.0,
                                              accelerate=False)
    np.testing.assert_allclose(gamma, r_gamma, rtol=ESTEP_RTOL_F32)
    # Entries far below a word's total carry absolute, not relative, float32 error.
    np.testing.assert_allclose(sstats, r_sstats, rtol=ESTEP_RTOL_F32, atol=ESTEP_RTOL_F32 * 1e-3)
    np.testing.assert_allclose(out["doc_bound"], r_bound, rtol=ESTEP_RTOL_F32, atol=1e-6)


@HYPO
@given(sizes, st.sampled_from([1, 10_000]), st.floats(1e-3, 10.0))
def test_gamma_sums_to_alpha_plus_length_and_sstats_columns_to_counts(size, max_count, a):
    X, eb, alpha, gamma0 = make_problem(*size, max_count=max_count, alpha=a)
    gamma, sstats, _ = kernel(X, eb, alpha, gamma0, max_iter=50, tol=1e-3)
    doc_lengths = np.asarray(X.sum(axis=1)).ravel()
    np.testing.assert_allclose(gamma.sum(axis=1), alpha.sum() + doc_lengths, rtol=IDENTITY_RTOL)
    word_counts = np.asarray(X.sum(axis=0)).ravel()
    np.testing.assert_allclose(sstats.sum(axis=0), word_counts, rtol=IDENTITY_RTOL, atol=0)


def test_empty_documents_give_prior_and_no_statistics():
    X, eb, alpha, gamma0 = make_problem(3, 6, 5, 30, empty=0.0)
    X = X.tolil()
    X[[1, 4]] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    gamma, sstats, out = kernel(X, eb, alpha, gamma0, max_iter=50, tol=1e-3)
    np.testing.assert_array_equal(gamma[[1, 4]], np.tile(alpha, (2, 1)))
    assert out["doc_bound"][1] == 0.0 and out["n_iter"][1] == 0
    # A batch of only empty documents: no statistics at all.
    empty = sp.csr_matrix((3, 30))
    gamma, sstats, out = kernel(empty, eb, alpha, gamma0[:3], max_iter=50, tol=1e-3)
    np.testing.assert_array_equal(gamma, np.tile(alpha, (3, 1)))
    assert not sstats.any() and out["sstats"].shape == (0, 5)


@HYPO
@given(sizes, st.integers(1, 11))
def test_split_batch_sums_to_whole(size, cut):
    X, eb, alpha, gamma0 = make_problem(*size)
    cut = min(cut, X.shape[0])
    whole = kernel(X, eb, alpha, gamma0, max_iter=30, tol=1e-3)
    head = kernel(X[:cut], eb, alpha, gamma0[:cut], max_iter=30, tol=1e-3)
    tail = kernel(X[cut:], eb, alpha, gamma0[cut:], max_iter=30, tol=1e-3)
    # Each document's result depends on that document alone: bitwise equal.
    np.testing.assert_array_equal(whole[0], np.vstack([head[0], tail[0]]))
    np.testing.assert_allclose(whole[1], head[1] + tail[1], rtol=IDENTITY_RTOL, atol=1e-300)


@HYPO
@given(sizes, st.integers(0, 2**32 - 1))
@example((291049710, 10, 10, 194), 1478)  # gamma drifted 2.9e-12 after 30 updates
def test_permuting_documents_and_words_changes_nothing(size, perm_seed):
    X, eb, alpha, gamma0 = make_problem(*size)
    rng = np.random.default_rng(perm_seed)
    gamma, sstats, out = kernel(X, eb, alpha, gamma0, max_iter=30, tol=1e-3)

    doc_perm = rng.permutation(X.shape[0])
    p_gamma, p_sstats, p_out = kernel(X[doc_perm], eb, alpha, gamma0[doc_perm], max_iter=30,
                                      tol=1e-3)
    np.testing.assert_array_equal(p_gamma, gamma[doc_perm])
    np.testing.assert_array_equal(p_out["doc_bound"], out["doc_bound"][doc_perm])
    np.testing.assert_allclose(p_sstats, sstats, rtol=IDENTITY_RTOL, atol=1e-300)

    # Relabel the vocabulary: column w of X and of exp(E[log beta]) both move to new[w].
    new = rng.permutation(X.shape[1])
    Xw = sp.csr_matrix((X.data.copy(), new[X.indices], X.indptr.copy()), shape=X.shape)
    Xw.sort_indices()
    ebw = np.empty_like(eb)
    ebw[:, new] = eb
    # Relabelling changes the summation order; on plain updates that rounding stays put
    # (extrapolation would amplify it, see ESTEP_RTOL_SQUAREM).
    gamma, sstats, out = kernel(X, eb, alpha, gamma0, max_iter=30, tol=1e-3, accelerate=False)
    w_gamma, w_sstats, w_out = kernel(Xw, ebw, alpha, gamma0, max_iter=30, tol=1e-3,
                                      accelerate=False)
    np.testing.assert_allclose(w_gamma, gamma, rtol=RELABEL_RTOL)
    np.testing.assert_allclose(w_sstats[:, new], sstats, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(w_out["doc_bound"], out["doc_bound"], rtol=1e-9)


@HYPO
@given(sizes, st.integers(0, 2**32 - 1))
def test_row_scaling_of_exp_elog_beta_cancels(size, scale_seed):
    X, eb, alpha, gamma0 = make_problem(*size)
    # A property of the update map, so checked on plain updates: 20 forced extrapolations
    # would only amplify the rounding the scaling moves (ESTEP_RTOL_SQUAREM).
    gamma, sstats, out = kernel(X, eb, alpha, gamma0, max_iter=20, tol=0.0, accelerate=False)
    scale = np.exp(np.random.default_rng(scale_seed).uniform(-30, 30, size=X.shape[1]))
    s_gamma, s_sstats, s_out = kernel(X, eb, alpha, gamma0, max_iter=20, tol=0.0, row_scale=scale,
                                      accelerate=False)
    np.testing.assert_allclose(s_gamma, gamma, rtol=ESTEP_RTOL_F64)
    np.testing.assert_allclose(s_sstats, sstats, rtol=ESTEP_RTOL_F64, atol=1e-300)
    # The bound is a sum of terms of size ~N_d that can cancel to ~0: absolute slack.
    atol = ESTEP_RTOL_F64 * (1.0 + np.asarray(X.sum(axis=1)).ravel())
    assert_close(s_out["doc_bound"], out["doc_bound"], rtol=ESTEP_RTOL_F64, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_does_not_change_results_bitwise(dtype):
    X, eb, alpha, gamma0 = make_problem(11, 300, 10, 400, alpha=0.1)
    one = kernel(X, eb, alpha, gamma0, max_iter=100, tol=1e-3, n_threads=1, dtype=dtype)
    for n_threads in (2, 3):
        many = kernel(X, eb, alpha, gamma0, max_iter=100, tol=1e-3, n_threads=n_threads,
                      dtype=dtype)
        for key in ("sstats", "doc_bound", "n_iter", "elog_theta", "exp_elog_theta"):
            np.testing.assert_array_equal(many[2][key], one[2][key], err_msg=key)
        np.testing.assert_array_equal(many[0], one[0])


@settings(max_examples=25, deadline=None)
@given(sizes, st.floats(1e-3, 10.0))
def test_document_elbo_non_decreasing_across_cavi_iterations(size, a):
    X, eb, alpha, gamma0 = make_problem(*size, alpha=a)
    bounds = np.array(
        [kernel(X, eb, alpha, gamma0, max_iter=n, tol=0.0, accelerate=False)[2]["doc_bound"]
         for n in range(13)]
    )
    drops = bounds[:-1] - bounds[1:]
    slack = MONOTONE_SLACK * np.abs(bounds[1:])
    assert np.all(drops <= slack), f"ELBO fell by {drops.max():.3e} (docs x iterations)"
    # and iterations do improve it (the check above is not vacuous)
    nonempty = np.diff(X.indptr) > 0
    if nonempty.any():
        assert np.all(bounds[-1][nonempty] >= bounds[0][nonempty] - slack[-1][nonempty])


def test_elog_theta_outputs_match_gamma():
    X, eb, alpha, gamma0 = make_problem(5, 20, 6, 50)
    gamma, _, out = kernel(X, eb, alpha, gamma0, max_iter=50, tol=1e-3)
    from scipy.special import digamma

    elog = digamma(gamma) - digamma(gamma.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(out["elog_theta"], elog, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["exp_elog_theta"], np.exp(elog), rtol=1e-12)


def test_restart_keeps_the_better_start_per_document_with_consistent_statistics():
    X, exp_elog_beta, alpha, gamma_a = make_problem(11, 40, 6, 30, alpha=0.1, empty=0.1)
    gamma_b = np.random.default_rng(5).uniform(0.5, 1.5, size=gamma_a.shape)
    ga, sa, out_a = kernel(X, exp_elog_beta, alpha, gamma_a, max_iter=3, tol=1e-9)
    gb, sb, out_b = kernel(X, exp_elog_beta, alpha, gamma_b, max_iter=3, tol=1e-9)
    # Both starts in one call: each document keeps the start with the higher bound.
    batch = Batch.from_csr(X)
    ids, index = unit_vocabulary(batch)
    cols = exp_elog_beta[:, ids].T
    scale = cols.max(axis=1)
    gamma = gamma_a.copy()
    out = run_estep(
        np.asarray(X.indptr, dtype=np.int64), index, X.data.astype(np.float64),
        np.ascontiguousarray(cols / scale[:, None]), np.log(scale), alpha, gamma,
        max_iter=3, tol=1e-9, gamma_restart=gamma_b,
    )
    b_wins = out_b["doc_bound"] > out_a["doc_bound"]
    assert 0 < b_wins.sum() < len(b_wins)  # the case is not trivial
    np.testing.assert_array_equal(out["doc_bound"], np.maximum(out_a["doc_bound"],
                                                               out_b["doc_bound"]))
    np.testing.assert_array_equal(gamma, np.where(b_wins[:, None], gb, ga))
    # The statistics are those of the chosen documents: split by winner and add up.
    rows_a, rows_b = np.flatnonzero(~b_wins), np.flatnonzero(b_wins)
    _, s_a_only, _ = kernel(X[rows_a], exp_elog_beta, alpha, gamma_a[rows_a], max_iter=3,
                            tol=1e-9)
    _, s_b_only, _ = kernel(X[rows_b], exp_elog_beta, alpha, gamma_b[rows_b], max_iter=3,
                            tol=1e-9)
    sstats = np.zeros_like(exp_elog_beta)
    sstats[:, ids] = out["sstats"].T
    np.testing.assert_allclose(sstats, s_a_only + s_b_only, rtol=1e-12, atol=1e-12)


def test_squarem_step_matches_reference_including_cap_and_clip():
    from svi_lda.numerics.estep import _squarem_extrapolate

    rng = np.random.default_rng(0)
    alpha = np.full(6, 0.05)
    cases = []
    for _ in range(200):
        g0 = rng.uniform(0.05, 50.0, 6)
        g1 = g0 + rng.normal(0, 5.0, 6)
        g2 = g1 + rng.uniform(0.05, 0.95) * (g1 - g0) + rng.normal(0, 0.5, 6)
        cases.append((g0, np.maximum(g1, 0.05), np.maximum(g2, 0.05)))
    cases.append((np.ones(6), np.ones(6), np.ones(6)))  # no movement: v = 0, unchanged
    capped = clipped = 0
    for g0, g1, g2 in cases:
        expected = squarem_reference(g0, g1, g2, alpha)
        got = g2.copy()
        _squarem_extrapolate(g0, g1, got, alpha)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        r, v = g1 - g0, g2 - g1 - (g1 - g0)
        if v @ v > 0 and np.sqrt((r @ r) / (v @ v)) > 4.0:
            capped += 1
        clipped += bool(np.any(got == alpha))
    assert capped > 0 and clipped > 0  # both guards were exercised


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_count", [3, 10_000])
def test_accelerated_and_plain_updates_reach_the_same_fixed_point(dtype, max_count):
    tol = 1e-10 if dtype is np.float64 else 1e-6
    atol = FIXED_POINT_ATOL_F64 if dtype is np.float64 else FIXED_POINT_ATOL_F32
    for seed in range(8):
        X, eb, alpha, gamma0 = make_problem(seed, 12, 10, 150, max_count=max_count)
        plain, _, out_p = kernel(X, eb, alpha, gamma0, max_iter=5000, tol=1e-10,
                                 accelerate=False)
        fast, _, out_f = kernel(X, eb, alpha, gamma0, max_iter=5000, tol=tol, dtype=dtype)
        length = np.asarray(X.sum(axis=1)).ravel() + alpha.sum()
        worst = (np.abs(fast - plain).max(axis=1) / length).max()
        assert worst <= atol, f"seed {seed}: fixed points differ by {worst:.2e} per token"
        nonempty = length > alpha.sum()
        # ... and the extrapolation does cut the number of updates.
        if dtype is np.float64 and nonempty.any():
            assert out_f["n_iter"].sum() < out_p["n_iter"].sum()
