"""Collapsed Gibbs sampler: against a plain Python reference, and on known topics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from svi_lda.gibbs import GibbsLDA, expand_tokens, sweep_key
from svi_lda.synthetic import make_lda_corpus
from tests.reference import gibbs_reference


def test_same_seed_gives_the_reference_assignments():
    corpus = make_lda_corpus(12, 15, 3, doc_length=10, alpha=0.3, eta=0.1, seed=4)
    model = GibbsLDA(3, doc_topic_prior=0.3, topic_word_prior=0.1, n_iter=5, n_samples=2,
                     random_state=9).fit(corpus.X)
    docs, words = expand_tokens(corpus.X)
    expected = gibbs_reference(docs, words, 3, 15, np.full(3, 0.3), 0.1,
                               [sweep_key(9, s) for s in range(6)])
    np.testing.assert_array_equal(model.assignments_, expected)
    again = GibbsLDA(3, doc_topic_prior=0.3, topic_word_prior=0.1, n_iter=5, n_samples=2,
                     random_state=9).fit(corpus.X)
    np.testing.assert_array_equal(again.assignments_, model.assignments_)
    other = GibbsLDA(3, doc_topic_prior=0.3, topic_word_prior=0.1, n_iter=5, n_samples=2,
                     random_state=10).fit(corpus.X)
    assert np.any(other.assignments_ != model.assignments_)


def test_estimates_are_distributions_and_counts_consistent():
    corpus = make_lda_corpus(30, 40, 4, doc_length=20, seed=1)
    model = GibbsLDA(4, n_iter=20, n_samples=5, random_state=0).fit(corpus.X)
    np.testing.assert_allclose(model.get_topics().sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(model.doc_topic_.sum(axis=1), 1.0, rtol=1e-12)
    assert len(model.assignments_) == corpus.X.sum()
    assert model.assignments_.min() >= 0 and model.assignments_.max() < 4


def test_recovers_known_topics():
    corpus = make_lda_corpus(400, 200, 6, doc_length=80, alpha=0.1, eta=0.02, seed=7)
    model = GibbsLDA(6, doc_topic_prior=0.1, topic_word_prior=0.02, n_iter=150,
                     n_samples=20, random_state=0).fit(corpus.X)
    found, true = model.get_topics(), corpus.topics
    hellinger = np.sqrt(0.5 * ((np.sqrt(found)[:, None] - np.sqrt(true)[None]) ** 2).sum(-1))
    rows, cols = linear_sum_assignment(hellinger)
    assert hellinger[rows, cols].max() < 0.2, hellinger[rows, cols]
    # the collapsed likelihood climbs from the random start
    trace = model.log_likelihood_history_
    assert trace[-1] > trace[0]


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="n_iter"):
        GibbsLDA(3, n_iter=0).fit(np.ones((2, 3)))
