"""SCVB0 (learning_method="scvb0"): kernels against plain NumPy, invariants, the estimator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from svi_lda import OnlineLDA, load
from svi_lda.batch import Batch
from svi_lda.corpus import from_csr
from svi_lda.evaluation import completion_perplexity, npmi_coherence
from svi_lda.methods.scvb0 import (
    FOLD_IN_SWEEPS,
    CollapsedSettings,
    content_start,
    document_start,
    scvb0_global_update,
    scvb0_local_step,
    scvb0_parameter_rows,
)
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState
from svi_lda.step import unit_vocabulary
from svi_lda.synthetic import make_lda_corpus
from tests.reference_scvb0 import global_reference, local_reference

SETTINGS = CollapsedSettings(burn_in=3, step_scale=1.0, step_offset=10.0, step_decay=0.9, seed=5)


def small_corpus(seed: int = 0, n_docs: int = 14, n_features: int = 17) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_features, density=0.35, format="csr", random_state=seed)
    X.data = rng.integers(1, 6, size=X.nnz).astype(np.float64)
    X = X.tolil()
    X[4, :] = 0  # an empty document
    return X.tocsr()


def random_state(n_features: int, n_topics: int, seed: int = 1) -> GlobalState:
    rng = np.random.default_rng(seed)
    state = GlobalState(
        word_topic=rng.gamma(1.0, 3.0, size=(n_features, n_topics)),
        scale=0.37,
        topic_sums=np.zeros(n_topics),
        alpha=rng.uniform(0.05, 0.5, n_topics),
        eta=0.02,
    )
    state.topic_sums = state.word_topic.sum(axis=0)
    return state


def local_both_ways(X, state, settings, n_threads=1):
    batch = Batch.from_csr(X, first_doc_id=100)
    ids, index = unit_vocabulary(batch)
    rows, shift = scvb0_parameter_rows(state, ids)
    stats, theta_weight = scvb0_local_step(
        batch, index, ids, rows, shift, state.alpha, settings, n_threads=n_threads
    )
    n_phi = state.scale * state.word_topic
    start = document_start(batch.doc_ids, state.n_components, settings.seed)
    ref = local_reference(
        X, n_phi, n_phi.sum(axis=0), state.eta, state.alpha, start,
        burn_in=settings.burn_in, step_scale=settings.step_scale,
        step_offset=settings.step_offset, step_decay=settings.step_decay,
    )
    return ids, stats, theta_weight, ref


@pytest.mark.parametrize("burn_in", [0, 1, 3])
def test_local_step_matches_numpy_reference(burn_in):
    X = small_corpus()
    state = random_state(X.shape[1], 6)
    settings = CollapsedSettings(burn_in=burn_in, seed=5)
    ids, stats, theta_weight, (n_theta, ref_stats, loglik) = local_both_ways(X, state, settings)
    np.testing.assert_allclose(theta_weight, n_theta + state.alpha, rtol=1e-10)
    np.testing.assert_allclose(stats.sstats, ref_stats[ids], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats.doc_bound, loglik.sum(), rtol=1e-10)
    # Every token's responsibility sums to 1: the statistics hold all the unit's tokens.
    np.testing.assert_allclose(stats.sstats.sum(), X.sum(), rtol=1e-12)
    # The counts after burn-in sum to each document's length.
    np.testing.assert_allclose(n_theta.sum(axis=1), np.asarray(X.sum(axis=1)).ravel())


def test_burn_in_moves_counts_towards_the_topics():
    X = small_corpus(3)
    state = random_state(X.shape[1], 6, seed=4)
    _, _, still, _ = local_both_ways(X, state, CollapsedSettings(burn_in=0, seed=5))
    _, _, moved, _ = local_both_ways(X, state, CollapsedSettings(burn_in=2, seed=5))
    assert not np.allclose(still, moved)


def test_global_update_matches_dense_reference():
    X = small_corpus(2)
    state = random_state(X.shape[1], 6, seed=7)
    before = state.scale * state.word_topic.copy()
    batch = Batch.from_csr(X)
    ids, index = unit_vocabulary(batch)
    rows, shift = scvb0_parameter_rows(state, ids)
    stats, _ = scvb0_local_step(batch, index, ids, rows, shift, state.alpha, SETTINGS)
    full = np.zeros_like(before)
    full[ids] = stats.sstats
    corpus_docs = 10 * X.shape[0]
    schedule = RobbinsMonro(tau0=3.0, kappa=0.8)
    metrics = scvb0_global_update(
        state, stats, schedule, total_samples=corpus_docs, learn_alpha=False, seconds=1.0
    )
    expected = global_reference(before, full, metrics.rho, corpus_docs, X.shape[0])
    np.testing.assert_allclose(state.scale * state.word_topic, expected, rtol=1e-12)
    np.testing.assert_allclose(state.scale * state.topic_sums, expected.sum(axis=0), rtol=1e-12)
    assert state.n_docs_seen == X.shape[0]


# -- the estimator ------------------------------------------------------------------------
PARAMS = dict(n_components=4, learning_method="scvb0", batch_size=100, max_iter=2,
              random_state=3)


def planted(seed: int = 1, n_docs: int = 600, n_features: int = 300):
    return make_lda_corpus(n_docs, n_features, 4, doc_length=40, alpha=0.1, eta=0.01, seed=seed)


def assert_same_model(a: OnlineLDA, b: OnlineLDA) -> None:
    assert a.n_batch_iter_ == b.n_batch_iter_
    assert a.state_.scale == b.state_.scale
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    np.testing.assert_array_equal(a.doc_topic_prior_, b.doc_topic_prior_)


def mean_matched_tv(estimated: np.ndarray, true: np.ndarray) -> float:
    """Mean over true topics of the total-variation distance to the Hungarian-matched
    estimated topic."""
    tv = 0.5 * np.abs(true[:, None, :] - estimated[None, :, :]).sum(axis=2)
    rows, cols = linear_sum_assignment(tv)
    return float(tv[rows, cols].mean())


def test_planted_topics_recovered_in_one_pass():
    corpus = make_lda_corpus(4000, 500, 8, doc_length=80, alpha=0.1, eta=0.01, seed=4)
    model = OnlineLDA(8, learning_method="scvb0", max_iter=1, batch_size=100,
                      doc_topic_prior=0.1, topic_word_prior=0.01, random_state=0, n_jobs=2)
    model.fit(corpus.X)
    tv = 0.5 * np.abs(corpus.topics[:, None, :] - model.get_topics()[None]).sum(axis=2)
    rows, cols = linear_sum_assignment(tv)
    matched = tv[rows, cols]
    # Like SVI (tests/test_recovery.py), one pass can merge two planted topics into one
    # local optimum (measured here: 6 topics within 0.14, two at 0.47 and 0.93); all
    # others must be found.
    assert np.sum(matched < 0.15) >= 6, np.sort(matched)
    rng = np.random.default_rng(0)
    assert mean_matched_tv(rng.dirichlet(np.full(500, 0.01), 8), corpus.topics) > 0.8
    held = make_lda_corpus(500, 500, 8, doc_length=80, alpha=0.1, eta=0.01, seed=4)
    fitted = completion_perplexity(model, held.X)
    oracle = completion_perplexity(corpus.topics, held.X, doc_topic_prior=0.1)
    assert fitted < 1.3 * oracle, (fitted, oracle)  # measured 1.20 (the merged pair)


def test_results_do_not_depend_on_the_number_of_threads():
    X = planted().X
    one = OnlineLDA(**PARAMS, n_jobs=1).fit(X)
    two = OnlineLDA(**PARAMS, n_jobs=2).fit(X)
    three = OnlineLDA(**PARAMS, n_jobs=3).fit(X)
    assert_same_model(one, two)
    assert_same_model(one, three)


def test_corpus_size_is_in_documents_for_fit_and_partial_fit():
    X = planted().X
    default = OnlineLDA(**{**PARAMS, "max_iter": 1}).fit([X[:300], X[300:]])
    explicit = OnlineLDA(**{**PARAMS, "max_iter": 1, "total_samples": X.shape[0]}).fit(
        [X[:300], X[300:]]
    )
    assert_same_model(default, explicit)
    # partial_fit takes SCVB0 steps, with total_samples in documents too
    stepped = OnlineLDA(**{**PARAMS, "total_samples": X.shape[0]})
    stepped.partial_fit(X[:300]).partial_fit(X[300:])
    assert_same_model(default, stepped)
    by_tokens = OnlineLDA(**{**PARAMS, "max_iter": 1, "total_samples": float(X.sum())}).fit(
        [X[:300], X[300:]]
    )
    assert not np.array_equal(by_tokens.state_.word_topic, default.state_.word_topic)


def test_partial_fit_default_corpus_size_is_a_million_documents():
    X = planted().X
    default = OnlineLDA(**PARAMS).partial_fit(X[:300])
    explicit = OnlineLDA(**{**PARAMS, "total_samples": 1e6}).partial_fit(X[:300])
    assert_same_model(default, explicit)
    # the expected counts then stand for 1e6 documents of this minibatch's mean length
    rho = default.history_["rho"][0]
    counts = default.components_.sum() - default.state_.eta * default.components_.size
    assert counts == pytest.approx(rho * 1e6 * X[:300].sum() / 300, rel=0.01)


def test_iterator_needs_total_samples_in_documents():
    X = planted().X
    with pytest.raises(ValueError, match="number of documents"):
        OnlineLDA(**PARAMS).fit(iter([X[:300], X[300:]]))
    streamed = OnlineLDA(**{**PARAMS, "total_samples": X.shape[0]}).fit(
        iter([X[:300], X[300:]])
    )
    listed = OnlineLDA(**{**PARAMS, "max_iter": 1}).fit([X[:300], X[300:]])
    assert_same_model(streamed, listed)


def test_corpus_folder_fit_uses_its_document_count(tmp_path):
    syn = planted()
    corpus = from_csr(syn.X, [f"w{i}" for i in range(syn.n_features)], tmp_path / "c",
                      row_group_size=50)
    default = OnlineLDA(**PARAMS).fit(corpus.path)
    explicit = OnlineLDA(**{**PARAMS, "total_samples": float(corpus.n_docs)}).fit(corpus)
    assert_same_model(default, explicit)
    assert default.vocabulary_ is not None


def test_components_are_expected_counts_plus_eta():
    X = planted().X
    model = OnlineLDA(**{**PARAMS, "max_iter": 1, "batch_size": X.shape[0]})
    model.fit(X)
    # One step with rho_1 from a start of about one count per entry: the counts hold
    # (1 - rho) of the start and rho of the corpus's tokens.
    counts = model.components_ - model.state_.eta
    rho = model.history_["rho"][0] if hasattr(model, "history_") else None
    assert np.all(counts > 0)
    start_total = counts.sum() - (rho or 0) * X.sum()
    assert rho is not None and 0 < start_total < X.shape[1] * 4 * 1.2
    np.testing.assert_allclose(model.state_.topic_totals(),
                               model.components_.sum(axis=1), rtol=1e-6)  # float32 W


def test_alpha_is_learned():
    X = planted().X
    model = OnlineLDA(**{**PARAMS, "doc_topic_prior": "auto"}).fit(X)
    alpha = model.doc_topic_prior_
    assert np.all(alpha > 0) and not np.allclose(alpha, 1 / 4)


def test_save_load_round_trip_continues_exactly(tmp_path):
    X = planted().X
    model = OnlineLDA(**{**PARAMS, "total_samples": X.shape[0]}).fit(X)
    model.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.learning_method == "scvb0"
    assert_same_model(model, loaded)
    np.testing.assert_array_equal(model.transform(X[:20]), loaded.transform(X[:20]))
    model.partial_fit(X[:100])
    loaded.partial_fit(X[:100])
    assert_same_model(model, loaded)


def test_transform_rows_are_distributions():
    syn = planted()
    model = OnlineLDA(**PARAMS).fit(syn.X)
    theta = model.transform(syn.X[:50])
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)
    # documents are assigned to their dominant planted topic consistently
    matched = linear_sum_assignment(-(model.get_topics() @ syn.topics.T))[1]
    agree = np.mean(theta.argmax(axis=1) == matched[syn.theta[:50].argmax(axis=1)])
    assert agree > 0.7, agree


def test_transform_is_the_scvb0_local_step_against_numpy():
    """transform folds documents in by FOLD_IN_SWEEPS sweeps of the SCVB0 document update
    from their content-hashed start (the NumPy reference), not by SVI's E-step."""
    syn = planted()
    model = OnlineLDA(**PARAMS).fit(syn.X)
    X = small_corpus(4, n_docs=12, n_features=syn.n_features)
    theta = model.transform(X)
    state = model.state_
    n_phi = state.scale * state.word_topic.astype(np.float64)
    start = content_start(Batch.from_csr(X), state.n_components, model.random_seed_)
    # the kernel reads float32 beta rows (the model's dtype); the reference float64
    n_theta, _, _ = local_reference(
        X, n_phi, n_phi.sum(axis=0), state.eta, state.alpha, start,
        burn_in=FOLD_IN_SWEEPS, step_scale=1.0, step_offset=10.0, step_decay=0.9,
    )
    expected = (n_theta + state.alpha) / (n_theta + state.alpha).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(theta, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(theta[4], state.alpha / state.alpha.sum())  # empty document
    svi = OnlineLDA(**{**PARAMS, "learning_method": "online"})
    svi.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    assert not np.allclose(svi.transform(X), theta, atol=1e-3)  # SVI's E-step differs


def test_transform_rows_do_not_depend_on_position_batch_or_threads():
    syn = planted()
    model = OnlineLDA(**PARAMS).fit(syn.X)
    X = syn.X[:200]
    whole = model.transform(X)
    shuffled = np.random.default_rng(0).permutation(200)
    np.testing.assert_array_equal(model.transform(X[shuffled]), whole[shuffled])
    np.testing.assert_array_equal(model.transform(X[17:18]), whole[17:18])
    model.set_params(n_jobs=1)
    np.testing.assert_array_equal(model.transform(X), whole)
    model.set_params(n_jobs=3)
    np.testing.assert_array_equal(model.transform(X), whole)
    text32 = model.transform(X.astype(np.float32))
    assert text32.dtype == np.float32


def test_newsgroups_slice_sanity(newsgroups_dir):
    from sklearn.feature_extraction.text import CountVectorizer

    from tests.test_recovery import read_newsgroups

    train = read_newsgroups(newsgroups_dir / "train.tsv.gz", 1500)
    test = read_newsgroups(newsgroups_dir / "test.tsv.gz", 300)
    vec = CountVectorizer(stop_words="english", min_df=5, max_df=0.5, max_features=3000)
    X = vec.fit_transform(train).astype(np.float64)
    X_test = vec.transform(test).astype(np.float64)
    common = dict(n_components=10, batch_size=128, max_iter=2, random_state=0, n_jobs=2)
    model = OnlineLDA(learning_method="scvb0", **common).fit(X)
    svi = OnlineLDA(**common).fit(X)
    assert np.all(np.isfinite(model.components_)) and np.all(model.components_ > 0)
    ours, theirs = completion_perplexity(model, X_test), completion_perplexity(svi, X_test)
    assert ours < theirs, (ours, theirs)
    assert npmi_coherence(model, X) > npmi_coherence(svi, X)
    random_topics = np.random.default_rng(0).dirichlet(np.ones(X.shape[1]), 10)
    assert npmi_coherence(model, X) > npmi_coherence(random_topics, X) + 0.1


@pytest.mark.distributed
@pytest.mark.timeout(180)
def test_dask_one_and_two_workers_equal_in_process(dask_client, tmp_path):
    from distributed import Client, LocalCluster

    from svi_lda.distributed import fit_distributed

    syn = planted()
    corpus = from_csr(syn.X, [f"w{i}" for i in range(syn.n_features)], tmp_path / "c",
                      row_group_size=50)
    params = {**PARAMS, "batch_size": 200, "doc_topic_prior": "auto"}
    reference = OnlineLDA(**params).fit(corpus)
    two = fit_distributed(dask_client, OnlineLDA(**params), corpus, scatter_bytes=0)
    assert_same_model(two, reference)
    assert two.bound_history_ == reference.bound_history_
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as c:
        one = fit_distributed(c, OnlineLDA(**params), corpus)
    assert_same_model(one, reference)


def test_document_start_is_a_pure_function_of_seed_and_document_id():
    ids = np.array([7, 3, 1_000_000_007, 0], dtype=np.int64)
    start = document_start(ids, 5, seed=9)
    np.testing.assert_array_equal(document_start(ids[::-1], 5, seed=9), start[::-1])
    assert np.all(np.isfinite(start)) and np.all(start >= 0.01)
    assert not np.array_equal(document_start(ids, 5, seed=10), start)
    # a Dirichlet(1) point once normalised: far from uniform, unlike SVI's 0.8-1.2 start
    shares = start / start.sum(axis=1, keepdims=True)
    assert shares.max() > 0.4


@pytest.mark.distributed
@pytest.mark.timeout(180)
def test_train_cli_method_scvb0_resumes_to_the_in_process_model(dask_client, tmp_path, capsys):
    from pipelines.train import main
    from svi_lda.estimator import load_model

    syn = planted(n_docs=800)
    corpus_dir = tmp_path / "corpus"
    from_csr(syn.X, [f"w{i}" for i in range(syn.n_features)], corpus_dir, row_group_size=50)
    out = tmp_path / "model"
    args = [str(corpus_dir), "--topics", "4", "--out", str(out), "--batch-size", "100",
            "--seed", "11", "--alpha", "auto", "--log-every", "1", "--method", "scvb0",
            "--scheduler", dask_client.scheduler.address, "--checkpoint-every", "2"]
    # stop after 5 of the 16 steps (a checkpoint at step 4), then resume to the end
    assert main([*args, "--steps", "5"]) == 0
    assert "log-predictive/token" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    resumed = load_model(out)
    reference = OnlineLDA(4, learning_method="scvb0", batch_size=100, random_state=11,
                          doc_topic_prior="auto", max_iter=2).fit(corpus_dir)
    assert resumed.learning_method == "scvb0"
    assert_same_model(resumed, reference)
