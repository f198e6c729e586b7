"""transform of a document does not depend on where it sits: row order, batches, threads.

Each document's E-step starts from a hash of its content (word ids and counts), computed by
a Numba kernel checked here against its NumPy definition (tests/reference.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda import OnlineLDA
from svi_lda.numerics.hashing import document_content_keys
from svi_lda.synthetic import make_lda_corpus
from tests.reference import content_keys_reference

K, V = 6, 120


@pytest.fixture(scope="module")
def model():
    X = make_lda_corpus(400, V, K, doc_length=30, alpha=0.2, eta=0.05, seed=3).X
    return OnlineLDA(K, max_iter=2, batch_size=100, random_state=0, n_jobs=1).fit(X)


def _random_counts(seed: int, n_docs: int, dtype=np.float64) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, 6, size=(n_docs, V)) * (rng.random((n_docs, V)) < 0.08)
    dense[rng.random(n_docs) < 0.1] = 0  # some empty documents
    return sp.csr_matrix(dense.astype(dtype))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.data())
def test_transform_bitwise_invariant_to_row_order_and_batches(model, seed, n_docs, data):
    X = _random_counts(seed, n_docs)
    whole = model.transform(X)
    order = data.draw(st.permutations(range(n_docs)))
    np.testing.assert_array_equal(model.transform(X[order]), whole[order])
    cuts = sorted(data.draw(st.lists(st.integers(0, n_docs), max_size=4)))
    bounds = [0, *cuts, n_docs]
    pieces = [model.transform(X[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
              if b > a]
    np.testing.assert_array_equal(np.vstack(pieces), whole)
    # a document next to itself, among others: the same row each time
    doubled = model.transform(sp.vstack([X[:1], X, X[:1]]).tocsr())
    np.testing.assert_array_equal(doubled[0], whole[0])
    np.testing.assert_array_equal(doubled[-1], whole[0])


def test_transform_bitwise_the_same_for_any_thread_count(model):
    X = _random_counts(7, 300)
    one = model.set_params(n_jobs=1).transform(X)
    two = model.set_params(n_jobs=2).transform(X)
    model.set_params(n_jobs=1)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(model.transform(X[150:]), one[150:])


def test_the_issues_row_permutation_case_on_a_larger_query(model):
    # The issue: permuting 2,000 rows moved 37 documents' proportions by over 0.01.
    X = _random_counts(11, 2000)
    order = np.random.default_rng(0).permutation(2000)
    np.testing.assert_array_equal(model.transform(X[order]), model.transform(X)[order])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 30), st.integers(-(2**63), 2**64 - 1))
def test_content_keys_kernel_is_bitwise_the_numpy_definition(seed, n_docs, hash_seed):
    X = _random_counts(seed, n_docs) if n_docs else sp.csr_matrix((0, V))
    if n_docs > 2:
        X = X[1:]  # indptr not starting at 0 in the underlying arrays is handled too
    np.testing.assert_array_equal(
        document_content_keys(X.indptr, X.indices, X.data, hash_seed),
        content_keys_reference(X, hash_seed),
    )


def test_content_keys_depend_on_content_only():
    X = sp.csr_matrix(np.array([[0, 2, 0, 1], [0, 2, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0],
                                [0, 1, 0, 2], [0, 2, 0, 0]], dtype=np.float64))
    keys = document_content_keys(X.indptr, X.indices, X.data, 5)
    assert keys[0] == keys[1]  # equal documents, equal keys
    assert len(set(keys[1:].tolist())) == 5  # counts, ids and length all matter
    as_int = X.astype(np.int64)
    np.testing.assert_array_equal(
        document_content_keys(as_int.indptr, as_int.indices, as_int.data, 5), keys
    )
    assert not np.array_equal(document_content_keys(X.indptr, X.indices, X.data, 6), keys)


def test_float32_in_float32_out_others_float64(model):
    X = _random_counts(5, 20)
    theta64 = model.transform(X)
    theta32 = model.transform(X.astype(np.float32))
    assert theta64.dtype == np.float64 and theta32.dtype == np.float32
    np.testing.assert_array_equal(theta32, theta64.astype(np.float32))
    assert model.transform(X.astype(np.int64)).dtype == np.float64
    assert model.transform(X.toarray().astype(np.float32)).dtype == np.float32
