"""Anchor-word recovery (svi_lda.numerics.anchors): kernel against NumPy, thread
invariance, and recovery of known, separable topics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from reference import cooccurrence_reference
from scipy.optimize import linear_sum_assignment

from svi_lda.numerics.anchors import (
    anchor_topics,
    find_anchors,
    find_anchors_denoised,
    project_rows_to_simplex,
    recover_kl,
    recover_l2,
    signal_subspace,
    word_cooccurrence,
    word_marginals,
)
from svi_lda.synthetic import make_lda_corpus, sample_documents


def _random_counts(seed: int, n_docs: int = 60, n_words: int = 40) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.3, size=(n_docs, n_words)).astype(np.float64)
    dense[3] = 0.0  # an empty document
    dense[5] = 0.0
    dense[5, 7] = 1.0  # one token: left out
    return sp.csr_matrix(dense)


def test_cooccurrence_matches_numpy_reference():
    X = _random_counts(0)
    Q = word_cooccurrence(X)
    np.testing.assert_allclose(Q, cooccurrence_reference(X), rtol=1e-12, atol=1e-15)
    assert abs(Q.sum() - 1.0) < 1e-12
    np.testing.assert_array_equal(Q, Q.T)


def test_cooccurrence_rows_past_the_columns_and_marginals_match_numpy_reference():
    X = _random_counts(3)
    reference = cooccurrence_reference(X)
    Q = word_cooccurrence(X, n_columns=25)
    assert Q.shape == (40, 25)
    np.testing.assert_allclose(Q, reference[:, :25], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(word_marginals(X), reference.sum(axis=1), rtol=1e-12)


def test_cooccurrence_is_bitwise_the_same_for_any_thread_count():
    X = _random_counts(1, n_docs=400, n_words=120)
    one = word_cooccurrence(X, n_threads=1)
    rectangular = word_cooccurrence(X, n_threads=1, n_columns=70)
    for n_threads in (2, 3):
        np.testing.assert_array_equal(word_cooccurrence(X, n_threads=n_threads), one)
        np.testing.assert_array_equal(
            word_cooccurrence(X, n_threads=n_threads, n_columns=70), rectangular)


def test_simplex_projection_against_a_direct_solution():
    rng = np.random.default_rng(2)
    Y = rng.normal(size=(50, 7))
    P = project_rows_to_simplex(Y)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert (P >= 0).all()
    # Optimality (KKT): on the support, Y - P is one constant; off it, Y is below it.
    for y, p in zip(Y, P, strict=True):
        support = p > 0
        shift = (y - p)[support]
        np.testing.assert_allclose(shift, shift[0], atol=1e-12)
        assert (y[~support] <= shift[0] + 1e-12).all()


def _separable_topics(n_topics: int, n_words: int, rng) -> np.ndarray:
    """Topics each with 3 anchor words of its own plus a shared Dirichlet body."""
    topics = rng.dirichlet(np.full(n_words, 0.1), size=n_topics) * 0.7
    topics[:, : 3 * n_topics] = 0.0
    for k in range(n_topics):
        topics[k, 3 * k : 3 * k + 3] = 0.1
    return topics / topics.sum(axis=1, keepdims=True)


def _matched_tv(estimated, true):
    distance = 0.5 * np.abs(true[:, None, :] - estimated[None, :, :]).sum(axis=2)
    rows, cols = linear_sum_assignment(distance)
    return distance[rows, cols]


def test_population_cooccurrence_gives_the_anchors_and_the_topics_exactly():
    rng = np.random.default_rng(3)
    topics = _separable_topics(5, 60, rng)
    alpha = np.full(5, 0.2)
    R = (np.outer(alpha, alpha) + np.diag(alpha)) / (alpha.sum() * (alpha.sum() + 1))
    Q = topics.T @ R @ topics
    p_word = Q.sum(axis=1)
    qbar = Q / p_word[:, None]
    anchors = find_anchors(qbar, np.arange(60), 5, seed=0)
    assert sorted(int(a) // 3 for a in anchors) == [0, 1, 2, 3, 4]
    C = recover_l2(qbar, anchors, iterations=3000)
    joint = C * p_word[:, None]
    recovered = (joint / joint.sum(axis=0)).T
    assert _matched_tv(recovered, topics).max() < 0.02


def _population(seed: int = 3, n_topics: int = 5, n_words: int = 60):
    rng = np.random.default_rng(seed)
    topics = _separable_topics(n_topics, n_words, rng)
    alpha = np.full(n_topics, 0.2)
    R = (np.outer(alpha, alpha) + np.diag(alpha)) / (alpha.sum() * (alpha.sum() + 1))
    Q = topics.T @ R @ topics
    return topics, Q, Q.sum(axis=1)


def test_recover_kl_gives_the_population_topics_and_never_raises_a_words_kl():
    topics, Q, p_word = _population()
    qbar = Q / p_word[:, None]
    anchors = np.array([0, 3, 6, 9, 12])
    C = recover_kl(qbar, anchors, iterations=400)
    np.testing.assert_allclose(C.sum(axis=1), 1.0, atol=1e-12)
    assert (C >= 0).all()
    joint = C * p_word[:, None]
    assert _matched_tv((joint / joint.sum(axis=0)).T, topics).max() < 0.02

    def kl(C):
        return (qbar * np.log(qbar / (C @ qbar[anchors]))).sum(axis=1)

    # Each word's objective falls with more iterations (steps that raise it are undone),
    # from RecoverL2's point too.
    few, more = recover_kl(qbar, anchors, iterations=3), recover_kl(qbar, anchors, iterations=30)
    assert (kl(more) <= kl(few) + 1e-15).all() and kl(more).sum() < kl(few).sum()
    l2 = recover_l2(qbar, anchors, iterations=20)
    assert (kl(recover_kl(qbar, anchors, iterations=20, start=l2)) <= kl(
        np.maximum(l2, 1e-12) / np.maximum(l2, 1e-12).sum(axis=1, keepdims=True)) + 1e-15).all()


def test_signal_subspace_spans_the_topics_and_denoised_anchors_are_found():
    topics, Q, p_word = _population()
    basis = signal_subspace(Q, 5, seed=0)
    np.testing.assert_allclose(basis.T @ basis, np.eye(5), atol=1e-10)
    # The population Q has rank 5: its rows lie in the basis's span.
    np.testing.assert_allclose(Q @ basis @ basis.T, Q, atol=1e-12)
    anchors = find_anchors_denoised(Q / p_word[:, None], Q, np.arange(60), 5, seed=0)
    assert sorted(int(a) // 3 for a in anchors) == [0, 1, 2, 3, 4]


def test_anchor_topics_recover_separable_topics_from_sampled_documents():
    rng = np.random.default_rng(4)
    n_topics, n_words, n_docs = 6, 80, 4000
    topics = _separable_topics(n_topics, n_words, rng)
    theta = rng.dirichlet(np.full(n_topics, 0.3), size=n_docs)
    X = sample_documents(topics, theta, np.full(n_docs, 60), rng)
    found, share = anchor_topics(X, n_topics, seed=0, min_anchor_docs=20)
    assert found.shape == (n_topics, n_words)
    np.testing.assert_allclose(found.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(share.sum(), 1.0, atol=1e-12)
    tv = _matched_tv(found, topics)
    assert tv.max() < 0.15, tv
    # Random topics of the same kind are far: the bound above can fail.
    assert _matched_tv(_separable_topics(n_topics, n_words, rng)[::-1], topics).mean() > 0.5
    # Deterministic for a fixed seed.
    again, _ = anchor_topics(X, n_topics, seed=0, min_anchor_docs=20)
    np.testing.assert_array_equal(found, again)
    # Rows past the columns: words 50-79 get topics from their co-occurrence with 0-49.
    rectangular, _ = anchor_topics(X, n_topics, seed=0, min_anchor_docs=20, n_columns=50)
    assert rectangular.shape == (n_topics, n_words)
    assert _matched_tv(rectangular, topics).max() < 0.15


def _separable_corpus(seed: int = 5, n_topics: int = 6, n_words: int = 80, n_docs: int = 3000):
    rng = np.random.default_rng(seed)
    topics = _separable_topics(n_topics, n_words, rng)
    theta = rng.dirichlet(np.full(n_topics, 0.3), size=n_docs)
    return sample_documents(topics, theta, np.full(n_docs, 60), rng), topics


def test_fit_with_anchor_start_recovers_topics_a_random_start_does_not():
    from svi_lda import OnlineLDA

    X, topics = _separable_corpus()
    found = {}
    for init in ("anchors", "random"):
        model = OnlineLDA(6, learning_method="scvb0", init=init, max_iter=1,
                          batch_size=256, random_state=0, n_jobs=1)
        found[init] = _matched_tv(model.fit(X).get_topics(), topics)
    assert found["anchors"].max() < 0.15, found
    assert found["random"].max() > found["anchors"].max() + 0.05, found


def test_anchor_start_is_the_same_for_any_thread_count_and_on_a_corpus_folder(tmp_path):
    from svi_lda import OnlineLDA
    from svi_lda.corpus import from_csr

    X, topics = _separable_corpus(seed=6, n_docs=1500)
    fits = [
        OnlineLDA(6, learning_method="scvb0", init="anchors", max_iter=1, batch_size=256,
                  random_state=0, n_jobs=n_jobs).fit(X).components_
        for n_jobs in (1, 2)
    ]
    np.testing.assert_array_equal(fits[0], fits[1])
    corpus = from_csr(X, [f"w{i}" for i in range(X.shape[1])], tmp_path / "c",
                      row_group_size=256)
    model = OnlineLDA(6, learning_method="scvb0", init="anchors", max_iter=1,
                      batch_size=256, random_state=0).fit(str(corpus.path))
    assert _matched_tv(model.get_topics(), topics).max() < 0.2


def test_anchor_start_is_refused_where_no_sample_comes_first():
    import pytest

    from svi_lda import OnlineLDA

    X, _ = _separable_corpus(seed=7, n_docs=300)
    with pytest.raises(ValueError, match="init='anchors' needs a sample of the corpus"):
        OnlineLDA(6, learning_method="scvb0", init="anchors").partial_fit(X[:100])
    with pytest.raises(ValueError, match="init='anchors' needs a sample of the corpus"):
        OnlineLDA(6, learning_method="scvb0", init="anchors", total_samples=300).fit(
            iter([X[:100], X[100:200]])
        )
    with pytest.raises(ValueError, match="learning_method='scvb0' only"):
        OnlineLDA(6, learning_method="online", init="anchors").fit(X)


def test_a_model_started_from_anchors_saves_loads_and_continues(tmp_path):
    from svi_lda import OnlineLDA
    from svi_lda.estimator import load_model

    X, _ = _separable_corpus(seed=8, n_docs=600)
    model = OnlineLDA(6, learning_method="scvb0", init="anchors", max_iter=1,
                      batch_size=200, random_state=0).fit(X)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.init == "anchors"
    np.testing.assert_array_equal(loaded.components_, model.components_)
    loaded.partial_fit(X[:100])  # the state exists: no new start, no refusal
    assert loaded.state_.step == model.state_.step + 1


def test_the_schedule_is_the_one_given_whatever_the_start():
    """No schedule is swapped in behind the user's back: ``init="anchors"`` with the
    defaults, or with the defaults written out, runs tau0=10, kappa=0.7; the one-pass
    recipe is passed explicitly."""
    from svi_lda import OnlineLDA

    for model in (OnlineLDA(6, learning_method="scvb0", init="anchors"),
                  OnlineLDA(6, learning_method="scvb0", init="anchors",
                            learning_offset=10.0, learning_decay=0.7),
                  OnlineLDA(6, learning_method="scvb0")):
        assert (model._schedule().tau0, model._schedule().kappa) == (10.0, 0.7)
    recipe = OnlineLDA(6, learning_method="scvb0", init="anchors", learning_offset=100,
                       learning_decay=1.0)._schedule()
    assert (recipe.tau0, recipe.kappa) == (100.0, 1.0)


def test_the_cooccurrence_leaves_the_callers_matrix_as_it_was():
    X = sp.csr_matrix((np.array([2.0, 3.0, 1.0]), np.array([2, 0, 1]), np.array([0, 3])),
                      shape=(1, 3))
    word_cooccurrence(X)
    np.testing.assert_array_equal(X.indices, [2, 0, 1])
    np.testing.assert_array_equal(X.data, [2.0, 3.0, 1.0])


def test_a_small_sample_gets_a_warning():
    from svi_lda import OnlineLDA

    syn = make_lda_corpus(300, 60, 3, doc_length=30, seed=1)
    with pytest.warns(UserWarning, match=r"init='anchors' on 300 documents: .*measured"):
        OnlineLDA(3, learning_method="scvb0", init="anchors", max_iter=1,
                  random_state=0).fit(syn.X)
