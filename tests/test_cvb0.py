"""CVB0 (learning_method="cvb0"): kernels against plain NumPy, invariants, the estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import gammaln

from svi_lda import OnlineLDA, load
from svi_lda.evaluation import completion_perplexity
from svi_lda.methods.cvb0 import minka_alpha_step
from svi_lda.numerics.cvb0 import cvb0_initialize, cvb0_sweep
from svi_lda.numerics.hashing import splitmix64
from svi_lda.synthetic import make_lda_corpus
from tests.test_recovery import _newsgroups_fit, matched_cosines


def small_corpus(seed: int = 0, n_docs: int = 12, n_features: int = 15) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_features, density=0.3, format="csr", random_state=seed)
    X.data = rng.integers(1, 5, size=X.nnz).astype(np.float64)
    X = X.tolil()
    X[3, :] = 0  # an empty document
    return X.tocsr()


def initialize_reference(X: sp.csr_matrix, n_topics: int, seed: int):
    """The module docstring's start, in NumPy: hashed uniforms, normalised, float32."""
    j = np.arange(X.nnz, dtype=np.uint64)[:, None]
    keys = splitmix64(j ^ np.uint64(seed))
    bits = splitmix64(keys + np.arange(n_topics, dtype=np.uint64)[None, :]) >> np.uint64(11)
    value = 0.5 + bits.astype(np.float64) * 2.0**-53
    phi = (value / value.sum(axis=1, keepdims=True)).astype(np.float32)
    return phi


def counts_of(X: sp.csr_matrix, phi: np.ndarray):
    """doc_topic, word_topic, topic_totals implied by phi (float64)."""
    mass = X.data[:, None] * phi.astype(np.float64)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    doc_topic = np.zeros((X.shape[0], phi.shape[1]))
    word_topic = np.zeros((X.shape[1], phi.shape[1]))
    np.add.at(doc_topic, rows, mass)
    np.add.at(word_topic, X.indices, mass)
    return doc_topic, word_topic, word_topic.sum(axis=0)


def sweep_reference(X, alpha, eta, phi, doc_topic, word_topic, topic_totals) -> float:
    """The CVB0 sweep, one non-zero at a time, in plain NumPy (same equations)."""
    v_eta = X.shape[1] * eta
    log_predictive = 0.0
    for d in range(X.shape[0]):
        lo, hi = X.indptr[d], X.indptr[d + 1]
        length = X.data[lo:hi].sum()
        for j in range(lo, hi):
            c, w = X.data[j], X.indices[j]
            own = c * phi[j].astype(np.float64)
            a = np.maximum(doc_topic[d] - own, 0.0)
            b = np.maximum(word_topic[w] - own, 0.0)
            t = np.maximum(topic_totals - own, 0.0)
            weights = (b + eta) * (a + alpha) / (t + v_eta)
            log_predictive += c * math.log(weights.sum() / (length - c + alpha.sum()))
            new = (weights / weights.sum()).astype(np.float32)
            delta = c * (new.astype(np.float64) - phi[j].astype(np.float64))
            phi[j] = new
            doc_topic[d] += delta
            word_topic[w] += delta
            topic_totals += delta
    return log_predictive


def compiled_start(X, n_topics, seed):
    phi = np.empty((X.nnz, n_topics), dtype=np.float32)
    doc_topic = np.zeros((X.shape[0], n_topics))
    word_topic = np.zeros((X.shape[1], n_topics))
    topic_totals = np.zeros(n_topics)
    cvb0_initialize(X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data,
                    np.uint64(seed), phi, doc_topic, word_topic, topic_totals)
    return phi, doc_topic, word_topic, topic_totals


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5])
def test_initialize_matches_numpy(seed):
    X = small_corpus(seed % 7)
    phi, doc_topic, word_topic, topic_totals = compiled_start(X, 4, seed)
    np.testing.assert_array_equal(phi, initialize_reference(X, 4, seed))
    ref = counts_of(X, phi)
    for got, want in zip((doc_topic, word_topic, topic_totals), ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_sweeps_match_numpy(seed):
    X = small_corpus(seed)
    alpha = np.array([0.1, 0.3, 0.05, 0.2])
    eta = 0.07
    compiled = list(compiled_start(X, 4, seed))
    reference = [a.copy() for a in compiled]
    for _ in range(5):
        got = cvb0_sweep(X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data,
                         alpha, eta, *compiled)
        want = sweep_reference(X, alpha, eta, *reference)
        assert got == pytest.approx(want, rel=1e-12)
    # phi is float32: a rounding difference in a sum may flip its last bit
    np.testing.assert_allclose(compiled[0], reference[0], rtol=1e-6, atol=1e-7)
    for got, want in zip(compiled[1:], reference[1:], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_counts_stay_the_sums_of_phi():
    X = make_lda_corpus(200, 80, 4, doc_length=30, seed=5).X.tocsr()
    phi, doc_topic, word_topic, topic_totals = compiled_start(X, 6, 9)
    for _ in range(10):
        cvb0_sweep(X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data,
                   np.full(6, 0.2), 0.05, phi, doc_topic, word_topic, topic_totals)
    assert np.all(phi >= 0)
    np.testing.assert_allclose(phi.sum(axis=1), 1.0, rtol=1e-5)
    for got, want in zip((doc_topic, word_topic, topic_totals), counts_of(X, phi), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # each float32 row of phi sums to 1 within float32 rounding
    np.testing.assert_allclose(topic_totals.sum(), X.sum(), rtol=1e-6)
    np.testing.assert_allclose(doc_topic.sum(axis=1), np.asarray(X.sum(axis=1)).ravel(),
                               rtol=1e-6)


def polya_log_likelihood(alpha, doc_topic, doc_lengths):
    s = alpha.sum()
    return float(np.sum(gammaln(s) - gammaln(doc_lengths + s))
                 + np.sum(gammaln(doc_topic + alpha) - gammaln(alpha)))


@pytest.mark.parametrize("seed", range(5))
def test_minka_step_raises_the_polya_likelihood(seed):
    rng = np.random.default_rng(seed)
    true_alpha = rng.uniform(0.05, 2.0, 6)
    theta = rng.dirichlet(true_alpha, 300)
    lengths = rng.integers(5, 80, 300)
    doc_topic = np.array([rng.multinomial(n, p) for n, p in zip(lengths, theta, strict=True)],
                         dtype=np.float64)
    alpha = np.full(6, 0.5)
    before = polya_log_likelihood(alpha, doc_topic, lengths.astype(np.float64))
    for _ in range(50):
        alpha = minka_alpha_step(alpha, doc_topic, lengths.astype(np.float64))
        after = polya_log_likelihood(alpha, doc_topic, lengths.astype(np.float64))
        assert after >= before - 1e-9
        before = after
    # and it heads for the generating prior
    assert np.corrcoef(alpha, true_alpha)[0, 1] > 0.9


def fit_cvb0(X, **kw):
    params = dict(learning_method="cvb0", max_iter=30, random_state=0)
    params.update(kw)
    return OnlineLDA(**params).fit(X)


def test_planted_topics_recovered():
    corpus = make_lda_corpus(1000, 300, 5, doc_length=80, alpha=0.1, eta=0.01, seed=4)
    model = fit_cvb0(corpus.X, n_components=5, doc_topic_prior="auto")
    cos = matched_cosines(model.get_topics(), corpus.topics)
    assert cos.min() >= 0.95, cos
    topics = model.get_topics()
    np.testing.assert_allclose(topics.sum(axis=1), 1.0, rtol=1e-12)
    assert len(model.bound_history_) == 30 and model.n_iter_ == 30


def test_empty_documents_anywhere_are_fine():
    X = make_lda_corpus(60, 40, 3, doc_length=20, seed=2).X.tolil()
    X[0, :] = 0
    X[59, :] = 0  # the last row: a cumulative sum, not reduceat, gives its length
    model = fit_cvb0(X.tocsr(), n_components=3, doc_topic_prior="auto", max_iter=5)
    assert np.all(np.isfinite(model.components_)) and np.all(model.state_.alpha > 0)
    theta = model.transform(X.tocsr()[[0, 59]])
    np.testing.assert_allclose(theta, np.tile(model.state_.alpha / model.state_.alpha.sum(),
                                              (2, 1)))


def test_fit_is_deterministic_and_ignores_threads():
    X = make_lda_corpus(300, 100, 4, doc_length=40, seed=2).X
    a = fit_cvb0(X, n_components=4, n_jobs=1)
    b = fit_cvb0(X, n_components=4, n_jobs=2)
    np.testing.assert_array_equal(a.components_, b.components_)
    c = fit_cvb0(X, n_components=4, random_state=1)
    assert not np.array_equal(a.components_, c.components_)


def test_callbacks_see_each_sweep_and_the_topics_so_far():
    X = make_lda_corpus(300, 100, 4, doc_length=40, seed=2).X
    model = OnlineLDA(4, learning_method="cvb0", max_iter=6, random_state=0)
    seen = []

    def record(metrics):
        seen.append((metrics.step, metrics.rho, metrics.bound_per_token,
                     model.components_.copy()))

    model.fit(X, callbacks=[record])
    assert [s[0] for s in seen] == list(range(1, 7)) and {s[1] for s in seen} == {1.0}
    np.testing.assert_array_equal(seen[-1][3], model.components_)
    assert not np.array_equal(seen[0][3], seen[-1][3])
    # the leave-one-out predictive improves over the sweeps
    assert seen[-1][2] > seen[0][2]


def test_learned_alpha_inputs_and_persistence(tmp_path):
    corpus = make_lda_corpus(400, 120, 4, doc_length=40, alpha=0.1, seed=6)
    X = sp.csr_matrix(corpus.X, dtype=np.int64)
    model = fit_cvb0(X, n_components=4, doc_topic_prior="auto", total_samples=400)
    assert np.all(model.state_.alpha > 0) and not np.allclose(model.state_.alpha, 0.25)
    # a list of minibatches and a single matrix are the same corpus
    parts = [corpus.X[:150], corpus.X[150:]]
    np.testing.assert_array_equal(
        fit_cvb0(parts, n_components=4, doc_topic_prior="auto").components_,
        model.components_,
    )
    theta = model.transform(corpus.X[:20])
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")
    np.testing.assert_array_equal(again.components_, model.components_)
    np.testing.assert_array_equal(again.state_.alpha, model.state_.alpha)
    again.partial_fit(corpus.X[:50])  # further training is ordinary SVI
    assert again.n_batch_iter_ == model.n_batch_iter_ + 1


def test_bad_uses_are_refused(monkeypatch):
    X = make_lda_corpus(50, 40, 3, doc_length=20, seed=1).X
    with pytest.raises(ValueError, match="not on an iterator"):
        OnlineLDA(3, learning_method="cvb0").fit(iter([X[:25], X[25:]]))  # no total_samples
    import svi_lda.methods.cvb0 as collapsed

    monkeypatch.setattr(collapsed, "MAX_PHI_BYTES", 1000)
    with pytest.raises(ValueError, match=r"non-zeros: .* GiB.*learning_method='online'"):
        OnlineLDA(3, learning_method="cvb0").fit(X)
    with pytest.raises(ValueError, match="'online', 'batch', 'cvb0'"):
        OnlineLDA(3, learning_method="gibbs").fit(X)


def test_newsgroups_cvb0_beats_batch_vb(newsgroups_dir):
    _, X, X_test = _newsgroups_fit(newsgroups_dir, 1500, 300, 10, 1)
    cvb0 = OnlineLDA(10, learning_method="cvb0", doc_topic_prior="auto", max_iter=40,
                     random_state=0).fit(X)
    vb = OnlineLDA(10, learning_method="batch", doc_topic_prior="auto", max_iter=40,
                   random_state=0).fit(X)
    assert completion_perplexity(cvb0, X_test) < completion_perplexity(vb, X_test)


def test_corpus_folder_fits_like_the_matrix(tmp_path):
    from svi_lda.corpus import from_csr

    X = sp.csr_matrix(make_lda_corpus(120, 60, 3, doc_length=30, seed=3).X)
    corpus = from_csr(X, [f"w{i}" for i in range(60)], tmp_path / "c", row_group_size=32)
    from_folder = fit_cvb0(str(corpus.path), n_components=3, max_iter=5)
    from_matrix = fit_cvb0(X, n_components=3, max_iter=5)
    np.testing.assert_array_equal(from_folder.components_, from_matrix.components_)
    assert from_folder.top_words(3)[0][0][0].startswith("w")  # the corpus's vocabulary
