"""Topics seeded from documents: the choice, the increment, and where it happens."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda import OnlineLDA
from svi_lda.batch import Batch
from svi_lda.seeding import (
    DOCS_PER_TOPIC,
    SEED_WEIGHT,
    document_keys,
    merge_candidates,
    seed_candidates,
    seed_increment,
    seed_topics,
)
from svi_lda.state import GlobalState
from svi_lda.synthetic import make_lda_corpus

K, V = 6, 80


@pytest.fixture(scope="module")
def X():
    X = make_lda_corpus(300, V, K, doc_length=30, seed=4).X.tocsr().astype(np.float64)
    keep = np.ones(300)
    keep[::7] = 0  # some empty documents: never chosen
    X = sp.csr_matrix(sp.diags(keep) @ X)
    X.eliminate_zeros()
    return X


def new_state(seed=0):
    return GlobalState.initialize(K, V, alpha=np.full(K, 0.1), eta=0.05, seed=seed)


def test_choice_does_not_depend_on_the_split_into_units(X):
    whole = Batch.from_csr(X)
    parts = [Batch.from_csr(X[a:b], first_doc_id=a) for a, b in [(0, 40), (40, 41), (41, 300)]]
    a, b = new_state(), new_state()
    seed_topics(a, [whole], seed=3)
    seed_topics(b, parts, seed=3)
    np.testing.assert_array_equal(a.word_topic, b.word_topic)
    np.testing.assert_array_equal(a.topic_sums, b.topic_sums)


def test_the_smallest_keys_of_non_empty_documents_are_chosen_in_order(X):
    batch = Batch.from_csr(X)
    n_pick = DOCS_PER_TOPIC * K
    docs = seed_candidates(batch, seed=9, n_pick=n_pick)
    lengths = np.diff(X.indptr)
    candidates = np.flatnonzero(lengths > 0)
    keys = document_keys(candidates, 9)
    expected = candidates[np.argsort(keys, kind="stable")[:n_pick]]
    np.testing.assert_array_equal(docs.doc_ids, expected)
    assert np.all(np.diff(docs.keys.astype(np.float64)) >= 0)
    # each chosen document's own counts, whole
    for rank, d in enumerate(docs.doc_ids):
        lo, hi = docs.indptr[rank], docs.indptr[rank + 1]
        row = X[d]
        np.testing.assert_array_equal(docs.indices[lo:hi], row.indices)
        np.testing.assert_array_equal(docs.counts[lo:hi], row.data)
    # a different seed picks different documents
    assert not np.array_equal(seed_candidates(batch, seed=10, n_pick=n_pick).doc_ids,
                              docs.doc_ids)


def test_increment_puts_rank_r_in_topic_r_mod_k(X):
    docs = merge_candidates([seed_candidates(Batch.from_csr(X), 1, DOCS_PER_TOPIC * K)],
                            DOCS_PER_TOPIC * K)
    word_ids, increment = seed_increment(docs, K)
    dense = np.zeros((V, K))
    dense[word_ids] = increment
    expected = np.zeros((V, K))
    for rank, d in enumerate(docs.doc_ids):
        expected[:, rank % K] += SEED_WEIGHT * X[d].toarray().ravel()
    np.testing.assert_array_equal(dense, expected)
    assert np.all(increment.sum(axis=0) > 0)  # every topic got documents


def test_add_to_lambda_matches_the_dense_sum(X):
    state = new_state()
    docs = seed_candidates(Batch.from_csr(X), 2, DOCS_PER_TOPIC * K)
    word_ids, increment = seed_increment(docs, K)
    state.scale = 0.25  # the lazy form must divide by it
    before = state.lambda_()
    state.add_to_lambda(word_ids, increment)
    expected = before.copy()
    expected[:, word_ids] += increment.T
    np.testing.assert_allclose(state.lambda_(), expected, rtol=1e-12)
    np.testing.assert_allclose(state.topic_sums, state.word_topic.sum(axis=0), rtol=1e-12)


def test_estimator_seeds_once_and_only_with_init_documents(X):
    seeded = OnlineLDA(K, total_samples=300, random_state=0, dtype="float64")
    plain = OnlineLDA(K, total_samples=300, random_state=0, dtype="float64", init="random")
    first = X[:100]
    for model in (seeded, plain):
        model._init_state(V)  # random_state=0 resolves to seed 0
    start = plain.state_.lambda_()
    seeded._seed_if_new([Batch.from_csr(first)])
    plain._seed_if_new([Batch.from_csr(first)])
    np.testing.assert_array_equal(plain.state_.lambda_(), start)  # random: untouched
    grown = seeded.state_.lambda_() - start
    np.testing.assert_allclose(grown.sum(), SEED_WEIGHT * sum(
        first[d].sum() for d in seed_candidates(Batch.from_csr(first), 0, 3 * K).doc_ids
    ), rtol=1e-12)
    # partial_fit seeds before its first step only
    model = OnlineLDA(K, total_samples=300, random_state=0, dtype="float64")
    model.partial_fit(first)
    after_one = model.state_.lambda_()
    model._seed_if_new([Batch.from_csr(X[100:200])])
    np.testing.assert_array_equal(model.state_.lambda_(), after_one)


def test_seeding_changes_the_fit_and_random_init_is_still_available(X):
    a = OnlineLDA(K, max_iter=2, random_state=0, dtype="float64").fit(X)
    b = OnlineLDA(K, max_iter=2, random_state=0, dtype="float64", init="random").fit(X)
    assert not np.allclose(a.components_, b.components_)


def test_bad_init_is_reported_in_scikit_learn_form():
    with pytest.raises(ValueError, match="The 'init' parameter of OnlineLDA must be a str "
                                         "among {'documents', 'random', 'anchors'}. "
                                         "Got 'kmeans'"):
        OnlineLDA(3, init="kmeans").fit(sp.csr_matrix(np.ones((4, 5))))
