"""OnlineLDA in scikit-learn code: pipelines, grid search, cross-validation, set_output,
feature names, clone, and every LatentDirichletAllocation parameter (newest scikit-learn).

The flows run on a real slice of 20 Newsgroups (``newsgroups_dir``).
"""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda import OnlineLDA
from svi_lda.synthetic import make_lda_corpus

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.decomposition import LatentDirichletAllocation  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402

K, V = 4, 80


@pytest.fixture(scope="module")
def texts(newsgroups_dir):
    with gzip.open(newsgroups_dir / "train.tsv.gz", "rt", encoding="utf-8") as f:
        next(f)
        lines = [line for _, line in zip(range(1200), f, strict=False)]
    return [line.rstrip("\n").split("\t", 1)[1] for line in lines]


@pytest.fixture(scope="module")
def X():
    return make_lda_corpus(150, V, K, doc_length=30, alpha=0.3, eta=0.1, seed=4).X.tocsr()


def _lda(**kw):
    return OnlineLDA(**{"n_components": 8, "max_iter": 3, "random_state": 0, "n_jobs": 1,
                        **kw})


# -- the flows of the issue, on 20 Newsgroups ---------------------------------------------
def test_pipeline_transform_score_and_set_output(texts):
    pipe = Pipeline([("counts", CountVectorizer(stop_words="english", min_df=5)),
                     ("lda", _lda())])
    theta = pipe.fit(texts[:1000]).transform(texts[1000:])
    assert theta.shape == (200, 8)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)
    assert np.isfinite(pipe.score(texts[1000:]))
    # CountVectorizer has no set_output, so the last step is set directly.
    pipe.named_steps["lda"].set_output(transform="pandas")
    frame = pipe.transform(texts[1000:1010])
    assert list(frame.columns) == [f"onlinelda{k}" for k in range(8)]
    np.testing.assert_array_equal(frame.to_numpy(), theta[:10])


def test_grid_search_and_cross_val_score_give_finite_scores(texts):
    counts = CountVectorizer(stop_words="english", min_df=5).fit_transform(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Scoring failed" and fit-failure warnings fail
        search = GridSearchCV(_lda(max_iter=2), {"n_components": [4, 8]}, cv=3,
                              error_score="raise").fit(counts)
        scores = cross_val_score(_lda(max_iter=2), counts, cv=3, error_score="raise")
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_["n_components"] in (4, 8)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    pipe = Pipeline([("counts", CountVectorizer(stop_words="english", min_df=5)),
                     ("lda", _lda(max_iter=2))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        piped = cross_val_score(pipe, texts, cv=3, error_score="raise")
    assert np.all(np.isfinite(piped))


# -- scikit-learn's set_output and feature-name checks (not part of check_estimator) ------
@pytest.mark.filterwarnings("ignore:Estimator OnlineLDA does not inherit")
@pytest.mark.filterwarnings("ignore:X (has|does not have valid) feature names")  # on purpose
@pytest.mark.parametrize(
    "check",
    [
        "check_set_output_transform",
        "check_set_output_transform_pandas",
        "check_global_output_transform_pandas",
        "check_dataframe_column_names_consistency",
        "check_transformer_get_feature_names_out",
        "check_transformer_get_feature_names_out_pandas",
        "check_get_feature_names_out_error",
    ],
)
def test_scikit_learns_output_and_feature_name_checks(check):
    run = getattr(estimator_checks, check, None)
    if run is None:
        pytest.skip(f"{check} is not in this scikit-learn")
    run("OnlineLDA", OnlineLDA(n_components=2, max_iter=2, n_jobs=1))


# -- parameters and attributes -----------------------------------------------------------
def test_every_scikit_learn_parameter_is_accepted(X):
    params = LatentDirichletAllocation(
        n_components=K, random_state=np.random.RandomState(0), evaluate_every=1,
        perp_tol=1e-1, max_iter=4,
    ).get_params()
    model = OnlineLDA(**params).fit(X)  # the issue: RandomState, evaluate_every refused
    assert set(params) <= set(model.get_params())
    assert model.n_iter_ <= 4 and np.isfinite(model.bound_)
    np.testing.assert_allclose(model.bound_, model.perplexity(X), rtol=1e-12)
    twin = clone(model)
    assert twin.get_params()["evaluate_every"] == 1 and not hasattr(twin, "components_")


def test_evaluate_every_stops_when_perplexity_settles(X):
    runs = {
        tol: _lda(n_components=K, max_iter=30, evaluate_every=1, perp_tol=tol).fit(X)
        for tol in (1e-12, 1e3)
    }
    assert runs[1e-12].n_iter_ > runs[1e3].n_iter_ == 2  # stops after the 2nd evaluation
    quiet = _lda(n_components=K, max_iter=3).fit(X)
    assert quiet.n_iter_ == 3 and np.isfinite(quiet.bound_)
    # Without evaluation, bound_ is estimated from the last pass (no extra pass).
    assert 0.5 < quiet.bound_ / quiet.perplexity(X) < 2.0
    with pytest.raises(ValueError, match="evaluate_every"):
        _lda(n_components=K, evaluate_every=1, total_samples=150).fit(iter([X]))


def test_exp_dirichlet_component_is_scikit_learns_definition(X):
    from scipy.special import digamma

    model = _lda(n_components=K).fit(X)
    lam = model.components_
    expected = np.exp(digamma(lam) - digamma(lam.sum(axis=1))[:, None])
    np.testing.assert_allclose(model.exp_dirichlet_component_, expected, rtol=1e-12)


def test_assigning_components_loads_topics_and_warm_starts(X):
    source = LatentDirichletAllocation(n_components=K, learning_method="batch", max_iter=5,
                                       random_state=0).fit(X)
    model = OnlineLDA(n_components=K, doc_topic_prior=source.doc_topic_prior_,
                      topic_word_prior=source.topic_word_prior_, random_state=0, n_jobs=1)
    model.components_ = source.components_  # a fresh model: topics loaded
    np.testing.assert_allclose(model.components_, source.components_, rtol=1e-6)  # float32
    theta = model.transform(X)
    agree = np.mean(theta.argmax(axis=1) == source.transform(X).argmax(axis=1))
    assert agree > 0.9
    model.partial_fit(X)  # continues from the loaded topics (no seeding from documents)
    drift = np.abs(model.get_topics() - source.components_ / source.components_.sum(1)[:, None])
    assert drift.max() < 0.05
    fitted = _lda(n_components=K).fit(X)
    step = fitted.n_batch_iter_
    fitted.components_ = fitted.components_ * 2.0  # a fitted model keeps its step count
    assert fitted.n_batch_iter_ == step
    np.testing.assert_allclose(fitted.components_.sum(), 2 * _lda(n_components=K).fit(X)
                               .components_.sum(), rtol=1e-6)  # stored as float32
    with pytest.raises(ValueError, match="components_ must have shape"):
        fitted.components_ = np.ones((K + 1, V))


def test_random_state_random_state_instance_is_drawn_from(X):
    a = _lda(n_components=K, random_state=np.random.RandomState(0)).fit(X)
    b = _lda(n_components=K, random_state=np.random.RandomState(0)).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)


def test_get_feature_names_out_and_pipeline_names(X):
    model = _lda(n_components=K).fit(sp.csr_matrix(X))
    names = model.get_feature_names_out()
    assert names.dtype == object and list(names) == [f"onlinelda{k}" for k in range(K)]


def test_scikit_learn_is_not_imported_by_svi_lda():
    # Optional and slow to import: fitting, transforming and a NotFittedError leave it out.
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from svi_lda import NotFittedError, OnlineLDA\n"
        "X = np.random.default_rng(0).integers(0, 3, (30, 12))\n"
        "m = OnlineLDA(3, max_iter=1, n_jobs=1).fit(X)\n"
        "m.partial_fit(X); m.transform(X); m.score(X); m.get_feature_names_out()\n"
        "try:\n"
        "    OnlineLDA(3).transform(X)\n"
        "except NotFittedError as e:\n"
        "    assert type(e) is NotFittedError, type(e)\n"
        "assert not [n for n in sys.modules if n.split('.')[0] == 'sklearn']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_model_with_a_random_state_instance_saves_and_loads(X, tmp_path):
    import pickle

    from svi_lda import load

    model = _lda(n_components=K, random_state=np.random.RandomState(1), evaluate_every=2,
                 perp_tol=0.5).fit(X)
    model.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.evaluate_every == 2 and loaded.perp_tol == 0.5
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    with pytest.raises(sklearn.exceptions.NotFittedError) as info:
        OnlineLDA(2).transform(X)
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is type(info.value) and str(again) == str(info.value)
