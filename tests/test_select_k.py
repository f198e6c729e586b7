"""``svi-lda select-k``: picks the true K of a synthetic corpus; Dask equals in process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from svi_lda.corpus import ParquetCorpus, from_csr
from svi_lda.evaluation import held_out_documents
from svi_lda.evaluation.select_k import KResult, recommend, select_k
from svi_lda.evaluation.split import split_corpus
from svi_lda.synthetic import make_lda_corpus


@pytest.fixture(scope="module")
def eight_topics(tmp_path_factory):
    corpus = make_lda_corpus(1500, 400, 8, doc_length=100, alpha=0.1, eta=0.02, seed=1)
    out = tmp_path_factory.mktemp("eight")
    return from_csr(corpus.X, [f"w{i}" for i in range(400)], out / "c", row_group_size=256)


def test_split_corpus_partitions_by_document_id(eight_topics, tmp_path):
    train, held = split_corpus(eight_topics, tmp_path, 0.2, seed=0)
    ids = eight_topics.doc_ids()
    mask = held_out_documents(ids, 0.2, 0)
    np.testing.assert_array_equal(np.sort(held.doc_ids()), np.sort(ids[mask]))
    np.testing.assert_array_equal(np.sort(train.doc_ids()), np.sort(ids[~mask]))
    X = eight_topics.to_csr()
    assert (train.to_csr() != X[np.flatnonzero(~mask)]).nnz == 0
    assert train.vocabulary.sha256 == eight_topics.vocabulary.sha256


def test_picks_the_true_number_of_topics(eight_topics, tmp_path, capsys):
    from pipelines.cli import main

    code = main(["select-k", str(eight_topics.path), "--topics", "4", "6", "8", "12", "16",
                 "--method", "batch", "--passes", "30", "--held-out", "0.2",
                 "--json", str(tmp_path / "k.json"), "--plot", str(tmp_path / "k.png")])
    out = capsys.readouterr().out
    assert code == 0, out
    figures = json.loads((tmp_path / "k.json").read_text())
    assert figures["recommended"] == 8, out
    assert figures["picks"]["held-out log predictive"] == 8
    assert figures["picks"]["NPMI"] == 8
    assert [r["n_topics"] for r in figures["results"]] == [4, 6, 8, 12, 16]
    assert "recommended K=8" in out
    assert (tmp_path / "k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _result(k, lp):
    return KResult(n_topics=k, elbo_per_token=None, log_predictive_per_token=lp, npmi=0.0,
                   diversity=1.0, seconds=0.0)


def test_recommendation_takes_the_knee():
    flat_after_8 = [_result(4, -4.0), _result(8, -3.45), _result(12, -3.42)]
    assert recommend(flat_after_8)[0] == 8
    assert recommend(flat_after_8, knee=0.99)[0] == 12
    falling = [_result(4, -3.0), _result(8, -3.2)]
    k, reason = recommend(falling)
    assert k == 4 and "smaller" in reason


@pytest.mark.distributed
def test_dask_fits_equal_in_process(dask_client, tmp_path):
    corpus = make_lda_corpus(300, 100, 3, doc_length=50, seed=5)
    folder = from_csr(corpus.X, [f"w{i}" for i in range(100)], tmp_path / "c",
                      row_group_size=64)
    local = select_k(folder, [2, 3], method="batch", passes=5, held_out=0.2,
                     work_dir=tmp_path / "local")
    remote = select_k(ParquetCorpus(folder.path), [2, 3], method="batch", passes=5,
                      held_out=0.2, client=dask_client, work_dir=tmp_path / "remote")
    for a, b in zip(local.results, remote.results, strict=True):
        assert a.log_predictive_per_token == b.log_predictive_per_token
        assert a.elbo_per_token == b.elbo_per_token and a.npmi == b.npmi
    assert local.recommended == remote.recommended


def test_bad_grid_is_a_clear_error(eight_topics):
    with pytest.raises(ValueError, match="at least two"):
        select_k(eight_topics, [5])


def test_curves_as_html(tmp_path):
    pytest.importorskip("bokeh")  # the report's plotting library (its own extra)
    from svi_lda.evaluation.select_k import KSelection, plot_selection

    results = [_result(k, -3.0 - 1.0 / k) for k in (2, 4, 8)]
    selection = KSelection(results, {"held-out log predictive": 8}, 4, "why", "online",
                           0.1, 90, 10)
    page = plot_selection(selection, tmp_path / "k.html").read_text()
    assert "<html" in page.lower() and "held-out log predictive per token" in page
    assert "cdn.bokeh.org" not in page  # inlined: opens without a network
