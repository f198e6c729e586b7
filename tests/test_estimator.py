"""OnlineLDA: scikit-learn protocol, determinism, transform, priors, batch-mode ELBO."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda import NotFittedError, OnlineLDA
from svi_lda.batch import Batch
from svi_lda.synthetic import make_lda_corpus
from tests._tolerances import DTYPE_RTOL, MONOTONE_SLACK
from tests.reference import (
    dirichlet_expectation,
    doc_bound_reference,
    estep_reference,
    topic_bound_reference,
)

K, V = 5, 200


@pytest.fixture(scope="module")
def X():
    return make_lda_corpus(300, V, K, doc_length=40, alpha=0.2, eta=0.05, seed=11).X


@pytest.fixture(scope="module")
def fitted(X):
    return OnlineLDA(K, batch_size=100, max_iter=3, random_state=0, n_jobs=1).fit(X)


# -- scikit-learn protocol ---------------------------------------------------------------
def test_sklearn_clone_get_set_params(X):
    from sklearn.base import clone

    model = OnlineLDA(7, learning_decay=0.9, random_state=3, doc_topic_prior="auto")
    params = model.get_params()
    assert params["n_components"] == 7 and params["learning_decay"] == 0.9
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    assert model.set_params(max_iter=4, batch_size=64) is model
    assert model.max_iter == 4 and model.batch_size == 64
    with pytest.raises(ValueError, match="Invalid parameter"):
        model.set_params(no_such_parameter=1)
    assert "n_components=7" in repr(model)


def test_fit_and_partial_fit_return_self(X):
    model = OnlineLDA(K, max_iter=1, batch_size=150, random_state=0, n_jobs=1)
    assert model.fit(X) is model
    assert model.n_features_in_ == V and model.components_.shape == (K, V)
    model = OnlineLDA(K, total_samples=300, random_state=0, n_jobs=1)
    assert model.partial_fit(X[:100]) is model and model.n_batch_iter_ == 1


def test_partial_fit_defaults_to_scikit_learns_total_samples(X):
    # scikit-learn's total_samples=1e6, so code written for it runs unchanged.
    default = OnlineLDA(K, random_state=0, n_jobs=1).partial_fit(X[:50]).partial_fit(X[50:99])
    explicit = OnlineLDA(K, total_samples=1e6, random_state=0, n_jobs=1)
    explicit.partial_fit(X[:50]).partial_fit(X[50:99])
    np.testing.assert_array_equal(default.components_, explicit.components_)
    assert default.total_samples is None


def test_iterator_without_total_samples_raises(X):
    with pytest.raises(ValueError, match="total_samples"):
        OnlineLDA(K).fit(iter([X[:10], X[10:20]]))


SKLEARN_MESSAGE = r"^The '{name}' parameter of OnlineLDA must be .+\. Got .+ instead\.$"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_components", 0),
        ("n_components", 2.5),
        ("max_iter", 0),
        ("batch_size", -1),
        ("max_doc_update_iter", 0),
        ("mean_change_tol", 0.0),
        ("learning_method", "stochastic"),
        ("dtype", "float16"),
        ("total_samples", -5),
        ("topic_word_prior", 0.0),
        ("doc_topic_prior", -1.0),
        ("doc_topic_prior", [0.1, 0.2]),
        ("doc_topic_prior", "symmetric"),
        ("random_state", "seed"),
        ("learning_decay", 0.3),
        ("learning_offset", -1.0),
        ("n_jobs", 0),
        ("evaluate_every", 1.5),
        ("perp_tol", -0.1),
    ],
)
def test_parameter_errors_in_sklearn_style_at_fit_time(X, name, value):
    model = OnlineLDA(K, max_iter=1, n_jobs=1).set_params(**{name: value})  # no error here
    with pytest.raises(ValueError) as info:
        model.fit(X[:20])
    message = str(info.value)
    assert re.match(SKLEARN_MESSAGE.format(name=name), message), message


# -- determinism -------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["online", "batch"])
def test_results_bitwise_equal_for_any_thread_count(X, method):
    kw = dict(learning_method=method, batch_size=100, max_iter=2, random_state=5)
    one = OnlineLDA(K, n_jobs=1, **kw).fit(X)
    two = OnlineLDA(K, n_jobs=2, **kw).fit(X)
    np.testing.assert_array_equal(two.components_, one.components_)
    np.testing.assert_array_equal(two.transform(X[:50]), one.transform(X[:50]))
    again = OnlineLDA(K, n_jobs=1, **kw).fit(X)  # and for a seed, run to run
    np.testing.assert_array_equal(again.components_, one.components_)


def test_random_state_changes_the_fit(X):
    a = OnlineLDA(K, max_iter=1, random_state=1, n_jobs=1).fit(X)
    b = OnlineLDA(K, max_iter=1, random_state=2, n_jobs=1).fit(X)
    assert not np.allclose(a.components_, b.components_)
    OnlineLDA(K, max_iter=1, random_state=np.random.default_rng(0), n_jobs=1).fit(X)


# -- transform ---------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(0, 10_000))
def test_transform_rows_positive_and_sum_to_one(fitted, seed, n_docs, max_count):
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, max_count + 1, size=(n_docs, V)) * (rng.random((n_docs, V)) < 0.05)
    theta = fitted.transform(sp.csr_matrix(dense.astype(np.float64)))
    assert theta.shape == (n_docs, K) and np.all(theta > 0)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)


def test_empty_documents_get_normalized_alpha(X):
    alpha = np.array([0.1, 0.2, 0.3, 0.4, 1.0])
    model = OnlineLDA(K, doc_topic_prior=alpha, max_iter=1, random_state=0, n_jobs=1).fit(X)
    theta = model.transform(sp.csr_matrix((3, V)))
    np.testing.assert_allclose(theta, np.tile(alpha / alpha.sum(), (3, 1)), rtol=1e-15)
    mixed = sp.vstack([X[:2], sp.csr_matrix((1, V))]).tocsr()
    np.testing.assert_allclose(model.transform(mixed)[2], alpha / alpha.sum(), rtol=1e-15)


def test_transform_accepts_gensim_bag_of_words(fitted, X):
    docs = X[:6]
    bow = [list(zip(row.indices.tolist(), row.data.tolist(), strict=True)) for row in docs]
    bow[2] = []  # an empty document
    expected = fitted.transform(sp.vstack([docs[:2], sp.csr_matrix((1, V)), docs[3:]]))
    np.testing.assert_array_equal(fitted.transform(bow), expected)
    np.testing.assert_array_equal(fitted.transform(docs.toarray()), fitted.transform(docs))


# -- dtypes ------------------------------------------------------------------------------
def test_float32_and_float64_agree(X):
    # Documents run to their fixed point: with a loose tolerance the two precisions stop
    # (and extrapolate) at different iterates, a difference of E-step tolerance, not dtype.
    kw = dict(total_samples=300, random_state=0, n_jobs=1, mean_change_tol=1e-8,
              max_doc_update_iter=2000)
    m64, m32 = OnlineLDA(K, dtype="float64", **kw), OnlineLDA(K, dtype="float32", **kw)
    for start in range(0, 300, 100):
        m64.partial_fit(X[start : start + 100])
        m32.partial_fit(X[start : start + 100])
    assert m32.state_.word_topic.dtype == np.float32
    assert m64.state_.word_topic.dtype == np.float64
    np.testing.assert_allclose(m32.components_, m64.components_, rtol=DTYPE_RTOL)
    np.testing.assert_allclose(m32.transform(X[:20]), m64.transform(X[:20]), rtol=1e-3)


# -- priors ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["online", "batch"])
def test_auto_alpha_is_learned_and_stays_positive(X, method):
    model = OnlineLDA(K, doc_topic_prior="auto", learning_method=method, batch_size=100,
                      max_iter=4, random_state=0, n_jobs=1).fit(X)
    alpha = model.doc_topic_prior_
    assert alpha.shape == (K,) and np.all(alpha > 0) and np.all(np.isfinite(alpha))
    assert not np.allclose(alpha, 1.0 / K)
    # The corpus was drawn with alpha = 0.2 per topic: the learned total is in range.
    assert 0.1 < alpha.sum() < 10


# -- ELBO --------------------------------------------------------------------------------
def test_batch_mode_elbo_is_monotone_and_exact(X):
    model = OnlineLDA(K, learning_method="batch", max_iter=12, random_state=2, n_jobs=1,
                      max_doc_update_iter=200, mean_change_tol=1e-4, dtype="float64")
    # Only to read the initial lambda for the reference below: the random start plus the
    # seed documents, picked from the whole corpus as one unit (fit splits it into
    # minibatch-sized units: the choice does not depend on the split).
    model._init_state(V)
    model._seed_if_new([Batch.from_csr(sp.csr_matrix(X))])
    lam0 = model.state_.lambda_()
    model.fit(X)
    bounds = np.asarray(model.bound_history_)
    assert len(bounds) == 12
    drops = bounds[:-1] - bounds[1:]
    assert np.all(drops <= MONOTONE_SLACK * np.abs(bounds[1:])), drops.max()
    assert bounds[-1] > bounds[0]
    # The first pass's ELBO is the full ELBO at (initial lambda, converged gamma).
    from svi_lda.step import initial_gamma

    alpha = model.doc_topic_prior_
    gamma0 = initial_gamma(np.arange(X.shape[0]), K, model.random_seed_)
    gamma, _, word_loglik, _ = estep_reference(
        X, np.exp(dirichlet_expectation(lam0)), alpha, gamma0, 200, 1e-4
    )
    expected = (word_loglik + doc_bound_reference(gamma, alpha)).sum()
    expected += topic_bound_reference(lam0, model.state_.eta)
    assert bounds[0] == pytest.approx(expected, rel=1e-9)


def test_score_non_decreasing_in_max_doc_update_iter(fitted, X):
    model = OnlineLDA(**fitted.get_params())
    model.state_, model.random_seed_ = fitted.state_, fitted.random_seed_
    model.n_features_in_ = fitted.n_features_in_
    scores = []
    for n in range(1, 10):
        model.set_params(max_doc_update_iter=n, mean_change_tol=1e-300)
        scores.append(model.score(X[:60]))
    scores = np.asarray(scores)
    assert np.all(np.diff(scores) >= -MONOTONE_SLACK * np.abs(scores[1:])), np.diff(scores)
    assert scores[-1] > scores[0]


def test_perplexity_improves_with_training(X):
    model = OnlineLDA(K, total_samples=300, random_state=0, n_jobs=1)
    model.partial_fit(X[:100])
    first = model.perplexity(X)
    for _ in range(3):
        for start in range(0, 300, 100):
            model.partial_fit(X[start : start + 100])
    assert model.perplexity(X) < first
    assert np.isfinite(model.score(X))


def test_fit_on_list_of_minibatches_and_transform_before_fit(X):
    model = OnlineLDA(K, max_iter=2, random_state=0, n_jobs=1).fit([X[:150], X[150:]])
    assert model.n_batch_iter_ == 4
    with pytest.raises(NotFittedError, match="not fitted"):
        OnlineLDA(K).transform(X)


def test_not_fitted_error_is_what_scikit_learn_code_catches(X):
    # Like scikit-learn's NotFittedError: a ValueError, and an AttributeError so that
    # hasattr(model, "components_") is False before fit.
    with pytest.raises(ValueError):
        OnlineLDA(K).transform(X)
    assert not hasattr(OnlineLDA(K), "components_")


def test_batch_mode_reports_each_pass_to_callbacks(X):
    seen = []
    model = OnlineLDA(K, learning_method="batch", max_iter=3, random_state=0, n_jobs=1)
    model.fit(X, callbacks=[seen.append])
    assert [m.step for m in seen] == [1, 2, 3]
    assert all(m.rho == 1.0 and m.n_docs == X.shape[0] for m in seen)
    assert [m.n_tokens for m in seen] == [float(X.sum())] * 3
    np.testing.assert_allclose([m.bound_per_token * m.n_tokens for m in seen],
                               model.bound_history_, rtol=1e-12)


@pytest.mark.parametrize("method", ["online", "batch"])
def test_integer_counts_fit_exactly_as_float_counts(X, method):
    as_float = sp.csr_matrix(X, dtype=np.float64)
    as_int = sp.csr_matrix(X, dtype=np.int64)
    models = [
        OnlineLDA(K, learning_method=method, max_iter=2, batch_size=40, random_state=0,
                  n_jobs=1).fit(data)
        for data in (as_float, as_int)
    ]
    np.testing.assert_array_equal(models[1].components_, models[0].components_)
    np.testing.assert_array_equal(models[1].transform(as_int), models[0].transform(as_float))
