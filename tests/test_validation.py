"""Bad input gets a clear error that names the problem and where it is."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda import OnlineLDA
from svi_lda._validation import check_doc_term_matrix
from svi_lda.evaluation import completion_perplexity, split_tokens

V = 6


@pytest.fixture(scope="module")
def fitted():
    X = sp.csr_matrix(np.random.default_rng(0).integers(0, 4, size=(20, V)).astype(float))
    return OnlineLDA(2, max_iter=1, random_state=0, n_jobs=1).fit(X)


def good():
    return np.array([[1, 0, 2, 0, 0, 1], [0, 3, 0, 0, 1, 0]], dtype=float)


def with_value(value, row=1):
    X = good()
    X[row, 3] = value
    return X


BAD = {
    "negative": (with_value(-1.0), r"negative counts \(first in row 1\)"),
    "nan": (with_value(np.nan), r"NaN or infinite counts \(first in row 1\)"),
    "inf": (with_value(np.inf, row=0), r"NaN or infinite counts \(first in row 0\)"),
    "float32 overflow": (with_value(1e38), r"count of 1e\+38 \(first in row 1\).*overflow"),
    "empty matrix": (np.zeros((0, V)), r"no documents"),
    "one-dimensional": (np.ones(V), r"must be 2-D"),
    "strings": (["some raw text"], r"raw strings|ingest"),
}
BOW_OUT_OF_RANGE = ([[(0, 1.0)], [(V + 3, 2.0)]], r"document 1 has word id 9")


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("sparse", [False, True])
def test_fit_rejects_bad_input_clearly(case, sparse):
    X, message = BAD[case]
    if sparse and isinstance(X, np.ndarray) and X.ndim == 2:
        X = sp.csr_matrix(X)
    with pytest.raises(ValueError, match=message):
        OnlineLDA(2, max_iter=1, n_jobs=1).fit(X)


def test_bag_of_words_id_outside_fitted_vocabulary(fitted):
    X, message = BOW_OUT_OF_RANGE
    with pytest.raises(ValueError, match=message):
        fitted.transform(X)


@pytest.mark.parametrize("case", ["negative", "nan", "empty matrix"])
def test_transform_and_partial_fit_reject_bad_input(fitted, case):
    X, message = BAD[case]
    with pytest.raises(ValueError, match=message):
        fitted.transform(X)
    with pytest.raises(ValueError, match=message):
        OnlineLDA(2, total_samples=10, n_jobs=1).partial_fit(X)


def test_wrong_number_of_columns(fitted):
    expecting = r"{} has {} features, but OnlineLDA is expecting 6 features as input"
    with pytest.raises(ValueError, match=expecting.format("X", 5)):
        fitted.transform(np.ones((2, V - 1)))
    model = OnlineLDA(2, total_samples=10, n_jobs=1).partial_fit(good())
    with pytest.raises(ValueError, match=expecting.format("X", 7)):
        model.partial_fit(np.ones((2, V + 1)))
    with pytest.raises(ValueError, match=r"minibatch 1 has 7 features"):
        OnlineLDA(2, max_iter=1, n_jobs=1).fit([sp.csr_matrix(good()), sp.csr_matrix((2, 7))])


def test_non_integer_counts_rejected_where_tokens_are_split():
    X = with_value(0.5)
    with pytest.raises(ValueError, match=r"non-integer counts \(first in row 1\)"):
        split_tokens(X)
    with pytest.raises(ValueError, match="non-integer counts"):
        completion_perplexity(np.full((2, V), 1.0 / V), sp.csr_matrix(X))
    # ... but fractional counts (tf-idf-like weights) are fine for fitting.
    OnlineLDA(2, max_iter=1, n_jobs=1).fit(X)


def test_empty_documents_are_allowed():
    X = good()
    X[0] = 0
    model = OnlineLDA(2, max_iter=1, n_jobs=1, random_state=0).fit(X)
    np.testing.assert_allclose(model.transform(np.zeros((2, V))), 0.5)
    OnlineLDA(2, max_iter=1, n_jobs=1, random_state=0).fit(np.zeros((3, V)))


def test_check_doc_term_matrix_normalises_without_surprises():
    X = sp.coo_matrix(([1.0, 2.0, 0.0], ([0, 0, 1], [2, 2, 1])), shape=(2, 3))
    out = check_doc_term_matrix(X, n_features=3)
    assert out.format == "csr" and out.dtype == np.float64 and out.has_canonical_format
    np.testing.assert_array_equal(out.toarray(), [[0, 0, 3], [0, 0, 0]])
    assert out.nnz == 1  # explicit zero dropped, duplicates summed
    # Integer counts are not copied to float64 (the E-step converts each minibatch).
    eye = sp.csr_matrix(np.eye(2, dtype=np.int32))
    ints = check_doc_term_matrix(eye, n_features=None)
    assert ints.dtype == np.int32 and np.shares_memory(ints.data, eye.data)
    flags = check_doc_term_matrix(sp.csr_matrix(np.eye(2, dtype=bool)), n_features=None)
    assert flags.dtype == np.float64
    with pytest.raises(ValueError, match="negative counts"):
        check_doc_term_matrix(sp.csr_matrix(-np.eye(2, dtype=np.int64)), n_features=None)


def test_check_doc_term_matrix_does_not_mutate_caller():
    X = sp.csr_matrix(([1.0, 0.0, 2.0], [0, 1, 2], [0, 3]), shape=(1, 3))  # explicit zero
    data, indices = X.data.copy(), X.indices.copy()
    check_doc_term_matrix(X, n_features=3)
    np.testing.assert_array_equal(X.data, data)
    np.testing.assert_array_equal(X.indices, indices)
