"""Queries on a sharded model too large to gather (the gather limit forced to 0): the
workers load the checkpoint's parts and answer transform and top_words without W being
assembled anywhere; the answers are the assembled model's, bitwise."""

from __future__ import annotations

import numpy as np
import pytest
from test_sharded import PARAMS, make_corpus

from svi_lda import OnlineLDA
from svi_lda.synthetic import make_lda_corpus

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("sharded-query") / "corpus")


@pytest.fixture
def too_large(dask_client, corpus, tmp_path, monkeypatch):
    """A model left in its sharded checkpoint (as one above GATHER_LIMIT_BYTES is)."""
    from svi_lda.distributed import fit_distributed
    from svi_lda.distributed.sharded import fit as sharded_fit

    monkeypatch.setattr(sharded_fit, "GATHER_LIMIT_BYTES", 0)
    ckpt = tmp_path / "ckpt"
    model = fit_distributed(dask_client, OnlineLDA(**{**PARAMS, "max_iter": 1}), corpus,
                            sharded=True, checkpoint_dir=ckpt)
    assert model.sharded_checkpoint_ == ckpt
    with pytest.raises(ValueError, match=r"ShardedModel\.open\(client, checkpoint\)"):
        model.transform(corpus)
    # svi-lda report / evaluate load a model folder: they name the API too
    from svi_lda.estimator import load_model
    from svi_lda.persistence import ModelFileError

    with pytest.raises(ModelFileError, match=r"sharded model too large .*ShardedModel\.open"):
        load_model(ckpt)
    return ckpt


@pytest.mark.parametrize("n_shards", [None, 3])
def test_transform_and_top_words_on_the_workers_equal_the_assembled_model(
    dask_client, corpus, too_large, n_shards
):
    from svi_lda.distributed.sharded import ShardedModel, load_sharded_model

    assembled = load_sharded_model(too_large)
    assembled.vocabulary_ = corpus.vocabulary
    new_docs = make_lda_corpus(60, corpus.n_features, 5, doc_length=40, seed=11).X.tocsr()
    new_docs.sort_indices()
    with ShardedModel.open(dask_client, too_large, n_shards=n_shards) as sharded:
        held = dask_client.run(lambda: __import__(
            "svi_lda.distributed.sharded.shard_tasks", fromlist=["x"]).held_bytes())
        assert sum(held.values()) == assembled.state_.word_topic.nbytes  # on the workers
        # several document batches, each pulling rows from every shard
        theta = sharded.transform(new_docs, batch_nonzeros=500)
        theta32 = sharded.transform(new_docs.astype(np.float32))
        top = sharded.top_words(12)
    np.testing.assert_array_equal(theta, assembled.transform(new_docs))
    expected32 = assembled.transform(new_docs.astype(np.float32))
    assert theta32.dtype == np.float32
    np.testing.assert_array_equal(theta32, expected32)
    assert top == assembled.top_words(12)
    assert isinstance(top[0][0][0], str)  # words, from the training corpus's vocabulary
    held = dask_client.run(lambda: __import__(
        "svi_lda.distributed.sharded.shard_tasks", fromlist=["x"]).held_bytes())
    assert sum(held.values()) == 0  # closed: the shards were dropped


def test_top_words_merge_breaks_ties_to_the_lower_id():
    from svi_lda.distributed.sharded.query import merge_top
    from svi_lda.numerics.topk import top_indices

    rng = np.random.default_rng(3)
    values = rng.integers(0, 4, size=(3, 40)).astype(np.float64)  # many ties
    candidates = []
    for lo, hi in ((0, 13), (13, 29), (29, 40)):
        top = top_indices(values[:, lo:hi], 5)
        candidates.append((top + lo, np.take_along_axis(values[:, lo:hi], top, axis=1)))
    ids, merged = merge_top(candidates, 5)
    np.testing.assert_array_equal(ids, top_indices(values, 5))
    np.testing.assert_array_equal(merged, np.take_along_axis(values, ids, axis=1))
