"""Statistical checks: planted topics are recovered; a sanity fit on 20 Newsgroups."""

from __future__ import annotations

import csv
import gzip
import os

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from svi_lda import OnlineLDA
from svi_lda.evaluation import completion_perplexity, npmi_coherence, topic_diversity
from svi_lda.synthetic import make_lda_corpus

# Seeds for the slow statistical tests, like sklearn's global_random_seed:
# SVI_LDA_TEST_SEEDS="0,1,2" or "all" (0..19). No retries: each seed must pass.
_SEEDS = os.environ.get("SVI_LDA_TEST_SEEDS", "0,1,2,3,4")
SEEDS = list(range(20)) if _SEEDS == "all" else [int(s) for s in _SEEDS.split(",")]


def matched_cosines(estimated: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Cosine of each true topic with its Hungarian-matched estimate, sorted."""
    a = estimated / np.linalg.norm(estimated, axis=1, keepdims=True)
    b = true / np.linalg.norm(true, axis=1, keepdims=True)
    cos = a @ b.T
    rows, cols = linear_sum_assignment(-cos)
    return np.sort(cos[rows, cols])


def fit_planted(seed: int, n_jobs: int = 1):
    corpus = make_lda_corpus(2000, 500, 5, doc_length=100, alpha=0.1, eta=0.01, seed=seed)
    model = OnlineLDA(5, batch_size=200, max_iter=6, doc_topic_prior=0.1,
                      topic_word_prior=0.01, random_state=seed, n_jobs=n_jobs)
    return corpus, model.fit(corpus.X)


def test_planted_topics_recovered_smoke():
    # One fixed seed (the seeded sweep is the slow test below).
    corpus, model = fit_planted(2)
    cos = matched_cosines(model.get_topics(), corpus.topics)
    assert cos.min() >= 0.9, cos
    # and random topics are nowhere near: the matching is not vacuous
    rng = np.random.default_rng(0)
    assert matched_cosines(rng.dirichlet(np.ones(500), 5), corpus.topics).max() < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_planted_topics_recovered_across_seeds(seed):
    corpus, model = fit_planted(seed, n_jobs=2)
    cos = matched_cosines(model.get_topics(), corpus.topics)
    # SVI can merge two planted topics into one local optimum; all others must be found.
    assert np.sum(cos >= 0.9) >= corpus.n_components - 2, cos
    held = make_lda_corpus(300, 500, 5, doc_length=100, alpha=0.1, eta=0.01, seed=seed)
    # same topics (same seed draws topics first), new documents
    np.testing.assert_array_equal(held.topics, corpus.topics)
    fitted = completion_perplexity(model, held.X)
    oracle = completion_perplexity(corpus.topics, held.X, doc_topic_prior=0.1)
    assert fitted < 1.5 * oracle, (fitted, oracle)


def read_newsgroups(path, n_docs):
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            if len(row) >= 2 and row[1].strip():
                texts.append(row[1])
            if len(texts) == n_docs:
                break
    return texts


def _newsgroups_fit(newsgroups_dir, n_train, n_test, n_components, max_iter):
    from sklearn.feature_extraction.text import CountVectorizer

    train = read_newsgroups(newsgroups_dir / "train.tsv.gz", n_train)
    test = read_newsgroups(newsgroups_dir / "test.tsv.gz", n_test)
    vec = CountVectorizer(stop_words="english", min_df=5, max_df=0.5, max_features=3000)
    X = vec.fit_transform(train).astype(np.float64)
    X_test = vec.transform(test).astype(np.float64)
    model = OnlineLDA(n_components, batch_size=256, max_iter=max_iter, random_state=0, n_jobs=2)
    return model.fit(X), X, X_test


def test_newsgroups_sanity_fit(newsgroups_dir):
    model, X, X_test = _newsgroups_fit(newsgroups_dir, 1500, 300, 10, 3)
    assert np.all(np.isfinite(model.components_)) and np.all(model.components_ > 0)
    theta = model.transform(X_test)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)
    rng = np.random.default_rng(0)
    random_topics = rng.dirichlet(np.ones(X.shape[1]), 10)
    assert completion_perplexity(model, X_test) < completion_perplexity(random_topics, X_test)
    assert npmi_coherence(model, X) > npmi_coherence(random_topics, X)
    assert topic_diversity(model, top_n=10) > 0.5


@pytest.mark.slow
def test_newsgroups_quality(newsgroups_dir):
    from sklearn.decomposition import LatentDirichletAllocation

    model, X, X_test = _newsgroups_fit(newsgroups_dir, 11_293, 2000, 20, 5)
    ours = completion_perplexity(model, X_test)
    sk = LatentDirichletAllocation(20, learning_method="online", batch_size=256, max_iter=5,
                                   random_state=0).fit(X)
    theirs = completion_perplexity(sk.components_, X_test, doc_topic_prior=1 / 20)
    assert ours < 1.05 * theirs, (ours, theirs)
    assert npmi_coherence(model, X) > 0.0
