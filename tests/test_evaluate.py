"""Streamed evaluation: coherence counts, token split, held-out log predictive, ELBO,
row-group and Dask invariance, the ``svi-lda evaluate`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda import OnlineLDA
from svi_lda.batch import Batch
from svi_lda.corpus import ParquetCorpus, from_csr
from svi_lda.evaluation import (
    coherence_counts,
    count_top_words,
    evaluate,
    fold_in,
    npmi_coherence,
    top_word_ids,
)
from svi_lda.evaluation.heldout import heldout_loglik, split_batch
from svi_lda.numerics.hashing import splitmix64
from svi_lda.synthetic import make_lda_corpus


@pytest.fixture(scope="module")
def corpus():
    return make_lda_corpus(300, 200, 5, doc_length=60, alpha=0.2, eta=0.05, seed=3)


@pytest.fixture(scope="module")
def model(corpus):
    return OnlineLDA(5, learning_method="batch", max_iter=8, random_state=0, n_jobs=1).fit(
        corpus.X
    )


@pytest.fixture(scope="module")
def folder(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    words = [f"w{i}" for i in range(corpus.n_features)]
    return from_csr(corpus.X, words, out, row_group_size=37)  # 9 row groups, uneven


def test_top_word_counts_match_plain_products(corpus, model):
    counts = count_top_words(model.get_topics(), corpus.X, top_n=7)
    present = (corpus.X > 0).astype(np.int64).toarray()
    for k, words in enumerate(top_word_ids(model.get_topics(), 7)):
        p = present[:, words]
        np.testing.assert_array_equal(counts.counts[k], p.T @ p)
    assert counts.n_docs == corpus.n_docs


def _umass_reference(topics, X, top_n, smoothing):
    present = (X > 0).toarray()
    per_topic = []
    for row in topics:
        top = np.argsort(-row, kind="stable")[:top_n]
        vals = []
        for j in range(1, top_n):
            for i in range(j):
                d_i = present[:, top[i]].sum()
                d_ij = (present[:, top[i]] & present[:, top[j]]).sum()
                vals.append(np.log((d_ij + smoothing) / d_i))
        per_topic.append(np.mean(vals))
    return float(np.mean(per_topic))


def test_npmi_and_umass_match_reference_computations(corpus, model):
    topics = model.get_topics()
    counts = count_top_words(topics, corpus.X, top_n=10)
    assert counts.npmi() == pytest.approx(npmi_coherence(topics, corpus.X, top_n=10), rel=1e-12)
    assert counts.umass() == pytest.approx(_umass_reference(topics, corpus.X, 10, 1.0), rel=1e-12)


def test_npmi_and_umass_reproduce_gensim_with_its_epsilon():
    gensim = pytest.importorskip("gensim")
    from gensim.corpora import Dictionary
    from gensim.models.coherencemodel import CoherenceModel

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    texts = [list(rng.choice(words, size=rng.integers(1, 12))) for _ in range(80)]
    dictionary = Dictionary(texts)
    bow = [dictionary.doc2bow(t) for t in texts]
    X = sp.lil_matrix((len(bow), len(dictionary)))
    for d, doc in enumerate(bow):
        for w, c in doc:
            X[d, w] = c
    topic_word = rng.dirichlet(np.full(len(dictionary), 0.3), size=4)
    top = top_word_ids(topic_word, 6)
    named = [[dictionary[int(w)] for w in row] for row in top]
    counts = count_top_words(topic_word, X.tocsr(), top_n=6)
    umass = CoherenceModel(topics=named, corpus=bow, dictionary=dictionary,
                           coherence="u_mass", topn=6, processes=1).get_coherence()
    npmi = CoherenceModel(topics=named, texts=texts, dictionary=dictionary,
                          coherence="c_npmi", topn=6, processes=1,
                          window_size=max(map(len, texts)) + 1).get_coherence()
    assert gensim is not None
    assert counts.umass(smoothing=1e-12 * len(bow)) == pytest.approx(umass, rel=1e-9)
    assert counts.npmi(epsilon=1e-12) == pytest.approx(npmi, rel=1e-9)


def _split_reference(batch, seed):
    # Token by token, in NumPy: token i of word w in doc d is observed iff the top bit of
    # splitmix64(splitmix64(splitmix64(d ^ key) + w) + i) is 0.
    key = splitmix64(np.array([seed], dtype=np.uint64))[0]
    observed = []
    for d in range(batch.n_docs):
        doc_key = splitmix64(np.array([batch.doc_ids[d]], dtype=np.uint64) ^ key)[0]
        for j in range(batch.indptr[d], batch.indptr[d + 1]):
            word_key = splitmix64(np.array([doc_key + np.uint64(batch.indices[j])]))[0]
            tokens = word_key + np.arange(int(batch.counts[j]), dtype=np.uint64)
            observed.append(int(np.sum((splitmix64(tokens) >> np.uint64(63)) == 0)))
    return np.asarray(observed, dtype=np.float64)


def test_token_split_matches_reference_and_ignores_units(corpus):
    X = corpus.X[:40]
    whole = Batch.from_csr(X)
    observed, heldout = split_batch(whole, seed=5)
    np.testing.assert_array_equal(observed.counts, _split_reference(whole, 5))
    np.testing.assert_array_equal(observed.counts + heldout, X.data)
    assert 0.4 < observed.counts.sum() / X.sum() < 0.6
    part = Batch.from_csr(X[20:], first_doc_id=20)
    np.testing.assert_array_equal(split_batch(part, 5)[0].counts,
                                  observed.counts[X.indptr[20]:])


def test_heldout_log_predictive_matches_a_plain_computation(corpus, model):
    topics = model.get_topics()
    report = evaluate(model, corpus.X, held_out=False)
    observed, heldout = split_batch(Batch.from_csr(corpus.X), seed=0)
    obs = sp.csr_matrix((observed.counts, corpus.X.indices, corpus.X.indptr),
                        shape=corpus.X.shape)
    theta = fold_in(topics, obs, doc_topic_prior=model.doc_topic_prior_)
    rows = np.repeat(np.arange(corpus.n_docs), np.diff(corpus.X.indptr))
    p = (theta[rows] * topics[:, corpus.X.indices].T).sum(axis=1)
    expected = np.sum(heldout * np.log(p)) / heldout.sum()
    assert report.log_predictive_per_token == pytest.approx(expected, rel=1e-9)
    assert report.held_out is False
    # On the training corpus (share 1 of the topic terms) the ELBO is score() per token.
    assert report.elbo_per_token == pytest.approx(
        model.score(corpus.X) / corpus.X.sum(), rel=1e-9
    )
    assert sum(report.topic_tokens) == pytest.approx(corpus.X.sum(), rel=1e-6)
    assert report.diversity == pytest.approx(
        len(np.unique(top_word_ids(topics, 25))) / (5 * 25)
    )


def test_heldout_kernel_matches_numpy_on_a_unit(corpus):
    # The compiled held-out score against the plain gather-and-sum, on a unit whose
    # indptr does not start at 0 and with some held-out counts 0.
    rng = np.random.default_rng(4)
    X = corpus.X[10:60]
    batch = Batch.from_csr(X, first_doc_id=10)
    topics = rng.dirichlet(np.full(X.shape[1], 0.1), size=5)
    theta = rng.dirichlet(np.full(5, 0.5), size=X.shape[0])
    heldout = rng.integers(0, 3, size=X.nnz).astype(np.float64)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    p = np.einsum("ik,ki->i", theta[rows], topics[:, X.indices])
    keep = heldout > 0
    total, tokens = heldout_loglik(topics, theta, batch, heldout)
    assert tokens == heldout.sum()
    assert total == pytest.approx(float(np.sum(heldout[keep] * np.log(p[keep]))), rel=1e-12)


def test_streamed_over_row_groups_equals_in_memory(corpus, model, folder):
    in_memory = evaluate(model, corpus.X)
    streamed = evaluate(model, folder)
    assert len(ParquetCorpus(folder.path).units) == 9
    assert streamed.npmi == in_memory.npmi == pytest.approx(
        npmi_coherence(model, corpus.X), rel=1e-12
    )
    assert streamed.umass == in_memory.umass
    assert streamed.log_predictive_per_token == pytest.approx(
        in_memory.log_predictive_per_token, rel=1e-12
    )
    assert streamed.elbo_per_token == pytest.approx(in_memory.elbo_per_token, rel=1e-12)
    np.testing.assert_allclose(streamed.topic_tokens, in_memory.topic_tokens, rtol=1e-12)


def test_coherence_counts_read_word_ids_only_and_equal_in_memory(corpus, model, folder):
    in_memory = count_top_words(model.get_topics(), corpus.X, top_n=8)
    streamed = coherence_counts(model, folder, top_n=8)
    np.testing.assert_array_equal(streamed.counts, in_memory.counts)
    assert streamed.n_docs == in_memory.n_docs == corpus.n_docs
    np.testing.assert_array_equal(coherence_counts(model, corpus.X, top_n=8).counts,
                                  in_memory.counts)
    # The word-ids-only read: the same documents and words, every count 1.
    pc = ParquetCorpus(folder.path)
    full, ids = pc.read_unit(pc.units[2]), pc.read_unit(pc.units[2], with_counts=False)
    np.testing.assert_array_equal(ids.indptr, full.indptr)
    np.testing.assert_array_equal(ids.indices, full.indices)
    np.testing.assert_array_equal(ids.doc_ids, full.doc_ids)
    assert np.all(ids.counts == 1) and len(ids.counts) == len(full.counts)
    with pytest.raises(ValueError, match="vocabulary"):
        coherence_counts(model.get_topics()[:, :50], folder)


@pytest.mark.distributed
def test_coherence_counts_on_dask_equal_in_process(model, folder, dask_client):
    local = coherence_counts(model, folder, top_n=8)
    remote = coherence_counts(model, folder, dask_client, top_n=8)
    np.testing.assert_array_equal(remote.counts, local.counts)
    assert remote.n_docs == local.n_docs


@pytest.mark.distributed
def test_dask_equals_in_process(model, folder, dask_client):
    local = evaluate(model, folder).to_dict()
    remote = evaluate(model, folder, dask_client).to_dict()
    local.pop("seconds"), remote.pop("seconds")
    assert remote == local  # bitwise: units are added in the same order


def test_method_without_elbo_reports_its_own_figure(corpus):
    cvb0 = OnlineLDA(5, learning_method="cvb0", max_iter=5, random_state=0).fit(corpus.X)
    report = evaluate(cvb0, corpus.X)
    assert report.elbo_per_token is None
    assert "no ELBO" in report.training_figure_label
    assert report.training_figure == pytest.approx(cvb0.bound_history_[-1])
    assert "ELBO per token: none" in report.format()


def test_wrong_vocabulary_is_a_clear_error(model):
    with pytest.raises(ValueError, match="words in its vocabulary"):
        evaluate(model, sp.csr_matrix(np.ones((3, 7))))


def test_evaluate_command(model, folder, tmp_path, capsys):
    from pipelines.cli import main
    from svi_lda.persistence import save_model

    save_model(model, tmp_path / "model", extra={"corpus": str(folder.path)})
    out_json = tmp_path / "figures.json"
    assert main(["evaluate", str(tmp_path / "model"), str(folder.path),
                 "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "held out: no (training data)" in text
    assert "log predictive per token" in text and "ELBO per token" in text
    figures = json.loads(out_json.read_text())
    assert figures["held_out"] is False
    assert figures["log_predictive_perplexity"] == pytest.approx(
        np.exp(-figures["log_predictive_per_token"])
    )
    assert main(["evaluate", str(tmp_path / "model"), str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.distributed
def test_evaluate_command_on_a_cluster(model, folder, tmp_path, capsys, dask_client):
    from pipelines.cli import main
    from svi_lda.persistence import save_model

    save_model(model, tmp_path / "model")
    local = evaluate(model, folder)
    assert main(["evaluate", str(tmp_path / "model"), str(folder.path), "--held-out",
                 "--scheduler", dask_client.scheduler.address,
                 "--json", str(tmp_path / "f.json")]) == 0
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["held_out"] is True and "as stated" in figures["held_out_reason"]
    assert figures["log_predictive_per_token"] == local.log_predictive_per_token
    assert figures["npmi"] == local.npmi
