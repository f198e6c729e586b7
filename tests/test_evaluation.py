"""Evaluation measures: completion perplexity, NPMI coherence, diversity, token splits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda import OnlineLDA
from svi_lda.evaluation import (
    completion_perplexity,
    fold_in,
    npmi_coherence,
    split_tokens,
    topic_diversity,
)
from svi_lda.synthetic import make_lda_corpus


@pytest.fixture()  # fresh per test: a test that mutated it must not break the others
def corpus():
    return make_lda_corpus(200, 300, 6, doc_length=80, alpha=0.1, eta=0.02, seed=8)


def test_split_tokens_partitions_each_document(corpus):
    X = corpus.X.copy()
    obs, held = split_tokens(corpus.X, seed=1)
    np.testing.assert_array_equal((obs + held).toarray(), X.toarray())
    assert np.all(obs.data > 0) and np.all(held.data > 0)
    assert 0.45 < obs.sum() / corpus.X.sum() < 0.55
    again, _ = split_tokens(corpus.X, seed=1)
    assert (again != obs).nnz == 0


def test_evaluation_does_not_mutate_its_input(corpus):
    X = corpus.X.copy()
    split_tokens(corpus.X, seed=1)
    completion_perplexity(corpus.topics, corpus.X)
    npmi_coherence(corpus.topics, corpus.X)
    assert (corpus.X != X).nnz == 0
    np.testing.assert_array_equal(corpus.X.indices, X.indices)


def test_completion_perplexity_near_the_oracle(corpus):
    # The oracle knows every document's true theta; folding in half the tokens is a bit
    # worse, but of the same size (measured 19.3 vs 17.8 here).
    X = corpus.X.copy()
    rows, cols = X.nonzero()
    p = np.einsum("ik,ki->i", corpus.theta[rows], corpus.topics[:, cols])
    oracle = np.exp(-np.sum(X.data * np.log(p)) / X.sum())
    true = completion_perplexity(corpus.topics, X, doc_topic_prior=0.1)
    assert oracle < true < 1.3 * oracle, (true, oracle)


def test_true_topics_beat_random_topics(corpus):
    rng = np.random.default_rng(0)
    random_topics = rng.dirichlet(np.ones(corpus.n_features), size=corpus.n_components)
    true = completion_perplexity(corpus.topics, corpus.X.copy(), doc_topic_prior=0.1)
    rand = completion_perplexity(random_topics, corpus.X.copy(), doc_topic_prior=0.1)
    assert true < 0.7 * rand
    # Perplexity under uniform topics is exactly V.
    uniform = np.full((3, corpus.n_features), 1.0 / corpus.n_features)
    assert completion_perplexity(uniform, corpus.X) == pytest.approx(corpus.n_features)


def test_completion_perplexity_of_a_fitted_model(corpus):
    model = OnlineLDA(6, learning_method="batch", max_iter=10, random_state=0, n_jobs=1)
    model.fit(corpus.X)
    fitted = completion_perplexity(model, corpus.X.copy())
    true = completion_perplexity(corpus.topics, corpus.X.copy(), doc_topic_prior=0.1)
    assert true <= fitted < 1.5 * true


def test_fold_in_recovers_theta_under_true_topics(corpus):
    theta = fold_in(corpus.topics, corpus.X, doc_topic_prior=0.1)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)
    assert np.mean(np.abs(theta - corpus.theta).sum(axis=1)) < 0.3


def test_npmi_known_values():
    # words 0,1 co-occur in 2 of 4 documents; 0 is in 3, 1 in 2, 2 alone in 1.
    ref = sp.csr_matrix(np.array([[1, 1, 0], [2, 1, 0], [1, 0, 0], [0, 0, 3]], dtype=float))
    npmi_01 = np.log(0.5 / (0.75 * 0.5)) / -np.log(0.5)  # = log2(4/3)
    topics = np.array([[0.5, 0.4, 0.1], [0.5, 0.1, 0.4], [0.1, 0.45, 0.45]])
    scores = npmi_coherence(topics, ref, top_n=2, per_topic=True)
    np.testing.assert_allclose(scores, [npmi_01, -1.0, -1.0], rtol=1e-14)
    assert npmi_coherence(topics, ref, top_n=2) == pytest.approx(np.mean(scores))
    # independent words score 0, always-together words 1
    indep = sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 1], [0, 0]], dtype=float))
    assert npmi_coherence(np.array([[0.6, 0.4]]), indep, top_n=2) == pytest.approx(0.0, abs=1e-15)
    together = sp.csr_matrix(np.array([[1, 1], [1, 1]], dtype=float))
    assert npmi_coherence(np.array([[0.6, 0.4]]), together, top_n=2) == 1.0
    # three words: mean over the three pairs
    ref3 = sp.csr_matrix(np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=float))
    p = {(0, 1): 0.5, (0, 2): 0.25, (1, 2): 0.25}
    single = [0.75, 0.5, 0.5]
    expected = np.mean(
        [np.log(v / (single[i] * single[j])) / -np.log(v) for (i, j), v in p.items()]
    )
    assert npmi_coherence(np.array([[0.5, 0.3, 0.2]]), ref3, top_n=3) == pytest.approx(expected)


def test_true_topics_are_more_coherent_than_random(corpus):
    rng = np.random.default_rng(1)
    random_topics = rng.dirichlet(np.ones(corpus.n_features), size=corpus.n_components)
    assert npmi_coherence(corpus.topics, corpus.X) > npmi_coherence(random_topics, corpus.X) + 0.2


def test_topic_diversity():
    assert topic_diversity(np.eye(4), top_n=1) == 1.0
    assert topic_diversity(np.tile([0.5, 0.3, 0.2], (4, 1)), top_n=2) == pytest.approx(2 / 8)
