"""The query path (svi_lda.inference): its fast path for a CSR of valid counts and its
E-step without statistics give bitwise the results of the general path they replace, and
skip none of its checks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda import OnlineLDA
from svi_lda.bounds import topic_bound
from svi_lda.inference import _INLINE_NONZEROS, _valid_csr
from svi_lda.step import content_gamma, estep_unit, unit_vocabulary
from svi_lda.synthetic import make_lda_corpus

K, V = 8, 150


@pytest.fixture(scope="module", params=["float32", "float64"])
def model(request):
    X = make_lda_corpus(400, V, K, doc_length=30, alpha=0.2, eta=0.05, seed=5).X
    return OnlineLDA(K, max_iter=2, batch_size=100, random_state=0, n_jobs=1,
                     dtype=request.param).fit(X)


def _counts(n_docs: int, seed: int = 0) -> sp.csr_matrix:
    return make_lda_corpus(n_docs, V, K, doc_length=25, seed=seed).X.tocsr()


def _through_estep_unit(model, X, n_threads):
    """transform's gamma and score's bound as computed before the fast path: the
    training E-step (statistics included) from the content-hashed start."""
    from svi_lda.batch import Batch

    batch = Batch.from_csr(X)
    state = model.state_
    ids, index = unit_vocabulary(batch)
    rows, shift = state.exp_elog_beta_rows(ids, n_threads=n_threads)
    gamma = content_gamma(batch, K, model.random_seed_)
    stats, gamma = estep_unit(batch, index, ids, rows, shift, state.alpha, model._settings(),
                              n_threads=n_threads, gamma=gamma)
    return gamma / gamma.sum(axis=1, keepdims=True), stats.doc_bound + topic_bound(state)


@pytest.mark.parametrize("n_docs", [1, 30, 600])  # 600 documents: above the inline limit
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_transform_and_score_bitwise_the_training_estep(model, n_docs, n_jobs):
    X = _counts(n_docs)
    if n_docs == 600:
        assert X.nnz >= _INLINE_NONZEROS  # the threaded branch runs
    expected_theta, expected_score = _through_estep_unit(model, X, n_jobs)
    model.set_params(n_jobs=n_jobs)
    try:
        np.testing.assert_array_equal(model.transform(X), expected_theta)
        assert model.score(X) == expected_score
    finally:
        model.set_params(n_jobs=1)


def test_fast_path_and_general_path_agree_bitwise(model):
    X = _counts(40, seed=1)
    assert _valid_csr(model, X)
    fast = model.transform(X)
    # Inputs the fast path hands to the general one: each is read to the same counts.
    with_zeros = X.copy()
    with_zeros.data[::7] = 0.0
    split = sp.csr_matrix(  # each non-zero as two halves: duplicates, summed on reading
        (np.repeat(X.data / 2, 2), np.repeat(X.indices, 2), X.indptr * 2), shape=X.shape
    )
    assert not split.has_canonical_format and not _valid_csr(model, with_zeros)
    np.testing.assert_array_equal(model.transform(split), fast)
    np.testing.assert_array_equal(model.transform(X.toarray()), fast)
    np.testing.assert_array_equal(model.transform(sp.csr_array(X)), fast)
    np.testing.assert_array_equal(model.transform(X.astype(np.int64)), fast)
    pruned = with_zeros.copy()
    pruned.eliminate_zeros()
    np.testing.assert_array_equal(model.transform(with_zeros), model.transform(pruned))


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (-1.0, "Negative values"),
     (2.0**60, "overflow")],
)
def test_fast_path_keeps_the_count_checks(model, value, message):
    X = _counts(5, seed=2)
    X.data[3] = value
    with pytest.raises(ValueError, match=message):
        model.transform(X)


def test_fast_path_keeps_the_width_check(model):
    X = sp.csr_matrix(np.ones((2, V + 1)))
    with pytest.raises(ValueError, match=f"expecting {V} features"):
        model.transform(X)


def test_transform_follows_the_state_after_partial_fit(model):
    fitted = OnlineLDA(K, max_iter=1, batch_size=100, random_state=0, n_jobs=1).fit(_counts(200))
    X = _counts(10, seed=3)
    before = fitted.transform(X)
    fitted.partial_fit(_counts(100, seed=4))
    after = fitted.transform(X)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, _through_estep_unit(fitted, X, 1)[0])
