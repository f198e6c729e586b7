"""Queries on a sharded model too large to gather (the gather limit forced to 0): the
workers load the checkpoint's parts and answer transform and top_words without W being
assembled anywhere; the answers are the assembled model's, bitwise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma
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
    assert assembled.vocabulary_.sha256 == corpus.vocabulary.sha256  # raw text works too
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


@pytest.mark.parametrize("n_shards,chunk_words", [(None, None), (3, 700)])
def test_score_and_perplexity_on_the_workers_equal_the_assembled_model(
    dask_client, corpus, too_large, n_shards, chunk_words, monkeypatch
):
    """Bitwise the assembled model's ELBO and perplexity. With 700-word chunks the
    3,000 words make chunks held whole by one shard and chunks cut between two shards;
    with the default 8,192 the one chunk is cut between all the shards."""
    from svi_lda import bounds
    from svi_lda.distributed.sharded import ShardedModel, bound_tasks, load_sharded_model

    if chunk_words is not None:  # the chunks are part of the bound's definition
        monkeypatch.setattr(bounds, "CHUNK_WORDS", chunk_words)
        monkeypatch.setattr(bound_tasks, "CHUNK_WORDS", chunk_words)
    assembled = load_sharded_model(too_large)
    new_docs = make_lda_corpus(60, corpus.n_features, 5, doc_length=40, seed=12).X.tocsr()
    new_docs.sort_indices()
    no_tokens = new_docs[:2].copy()
    no_tokens.data[:] = 0
    no_tokens.eliminate_zeros()
    with ShardedModel.open(dask_client, too_large, n_shards=n_shards) as sharded:
        n_pieces = [len(p) for p in bound_tasks.bound_chunks(sharded.run.bounds, corpus.n_features)]
        chunk_sums = sharded._topic_bound_chunks()
        score = sharded.score(new_docs, batch_nonzeros=500)  # several document batches
        perplexity = sharded.perplexity(new_docs)
        perplexity32 = sharded.perplexity(new_docs.astype(np.float32), batch_nonzeros=300)
        errors = []
        for bad in (lambda m: m.perplexity(no_tokens), lambda m: m.score(np.ones((1, 5)))):
            with pytest.raises(ValueError) as info:
                bad(sharded)
            errors.append(str(info.value))
    if chunk_words is not None:
        assert 1 in n_pieces and max(n_pieces) > 1  # both kinds of chunk
    else:
        assert n_pieces == [sharded.run.n_shards]
    # each chunk's sum is the assembled model's (bitwise: a sum of the pieces' sums
    # would round differently), so is the bound
    state = assembled.state_
    psi_totals = digamma(state.topic_totals())
    size = bounds.CHUNK_WORDS
    expected = [np.sum(bounds.topic_bound_terms(state.word_topic[lo:lo + size], state.scale,
                                                state.eta, psi_totals))
                for lo in range(0, corpus.n_features, size)]
    assert [s for s, _ in chunk_sums] == expected
    assert score == assembled.score(new_docs)
    assert perplexity == assembled.perplexity(new_docs)
    assert perplexity32 == assembled.perplexity(new_docs.astype(np.float32))
    # the same one-line errors as the assembled model's
    for bad, message in zip((lambda m: m.perplexity(no_tokens),
                             lambda m: m.score(np.ones((1, 5)))), errors, strict=True):
        with pytest.raises(ValueError) as info:
            bad(assembled)
        assert str(info.value) == message and "\n" not in message


def test_bound_chunks_with_small_chunks(monkeypatch):
    from svi_lda.distributed.sharded import bound_tasks

    monkeypatch.setattr(bound_tasks, "CHUNK_WORDS", 6)
    assert bound_tasks.bound_chunks(np.array([0, 4, 5, 5, 19]), 19) == [
        [(0, 0, 4), (1, 4, 5), (3, 5, 6)], [(3, 6, 12)], [(3, 12, 18)], [(3, 18, 19)],
    ]


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


def test_open_takes_the_model_folder_checks_parts_unless_told_and_refuses_when_closed(
    dask_client, too_large, tmp_path
):
    import json
    import shutil

    from svi_lda.distributed import CheckpointError
    from svi_lda.distributed.sharded import ShardedModel

    # svi-lda train --sharded --out OUT leaves the checkpoint in OUT/checkpoint
    out = tmp_path / "out"
    shutil.copytree(too_large, out / "checkpoint")
    with pytest.raises(CheckpointError, match=r"holds no sharded\.json, nor does its "
                                              r"checkpoint folder: pass .*--out folder"):
        ShardedModel.open(dask_client, tmp_path)
    with ShardedModel.open(dask_client, out) as sharded:
        assert sharded.checkpoint == out / "checkpoint"
        top = sharded.top_words(5)
    with ShardedModel.open(dask_client, too_large) as direct:
        assert top == direct.top_words(5)

    # closed: a one-line error before any work goes to the workers (whose shards are gone)
    for query in (lambda: sharded.top_words(5), lambda: sharded.transform(np.ones((1, 5))),
                  lambda: sharded.score(np.ones((1, 5))),
                  lambda: sharded.perplexity(np.ones((1, 5)))):
        with pytest.raises(RuntimeError, match=r"was closed .*ShardedModel\.open") as info:
            query()
        assert "\n" not in str(info.value)
    sharded.close()  # closing again does nothing

    # a part altered after its manifest (same size): refused unless verify=False
    checkpoint = out / "checkpoint"
    part = checkpoint / json.loads((checkpoint / "sharded.json").read_text())["parts"][0]["file"]
    data = bytearray(part.read_bytes())
    data[-1] ^= 1
    part.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"contents differ from the manifest's sha256"):
        ShardedModel.open(dask_client, out)
    with ShardedModel.open(dask_client, out, verify=False) as unchecked:
        assert len(unchecked.top_words(5)) == len(top)


def test_top_words_as_ids_is_a_warning(corpus, tmp_path, caplog):
    from svi_lda.distributed.sharded.query import _vocabulary

    with caplog.at_level("WARNING", logger="svi_lda.distributed.sharded"):
        assert _vocabulary({"corpus": str(tmp_path / "gone"), "vocabulary_sha256": ""}) is None
        assert _vocabulary({"corpus": str(corpus.path), "vocabulary_sha256": "other"}) is None
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no vocabulary for the sharded model" in m for m in messages)
    assert any("changed since training: top words as ids" in m for m in messages)


def test_chunk_sums_from_shards_are_the_dense_sums():
    """The workers' functions on held shards of a random W (run here, in the test
    process): each chunk's sum, whole or joined from its pieces, is bitwise NumPy's sum
    of the dense chunk's terms (a sum of the pieces' sums would round differently)."""
    from svi_lda import bounds
    from svi_lda.distributed.sharded import bound_tasks, shard_tasks

    rng = np.random.default_rng(4)
    k, v, size = 6, 1000, 150
    word_topic = (rng.random((v, k)) * 10.0 ** rng.integers(-3, 3, (v, 1))).astype(np.float32)
    psi_totals = digamma(rng.random(k) * 1e3 + 100)
    edges = np.array([0, 37, 220, 230, 401, 640, 777, 905, 1000])
    token = "chunk-sums-test"
    try:
        for s in range(len(edges) - 1):
            shard_tasks._SHARDS[(token, s)] = shard_tasks.Shard(
                int(edges[s]), int(edges[s + 1]), word_topic[edges[s]:edges[s + 1]], 0)
        found, differs = [], 0
        for lo in range(0, v, size):
            pieces = [(s, max(lo, int(edges[s])), min(lo + size, int(edges[s + 1])))
                      for s in range(len(edges) - 1)
                      if max(lo, int(edges[s])) < min(lo + size, int(edges[s + 1]))]
            if len(pieces) == 1:
                s, a, b = pieces[0]
                found.append(bound_tasks.shard_bound_sums(token, s, [(a, b)], 0.3, 0.05,
                                                    psi_totals)[0])
            else:
                parts = [bound_tasks.shard_bound_piece(token, s, a, b, 0.3, 0.05, psi_totals)
                         for s, a, b in pieces]
                found.append(bound_tasks.chunk_sum(*parts))
                differs += found[-1] != sum(float(np.sum(p)) for p in parts)
    finally:
        for s in range(len(edges) - 1):
            shard_tasks._SHARDS.pop((token, s), None)
    expected = [float(np.sum(bounds.topic_bound_terms(word_topic[lo:lo + size], 0.3, 0.05,
                                                      psi_totals)))
                for lo in range(0, v, size)]
    assert found == expected
    assert differs  # the data can tell a joined chunk from a sum of the pieces' sums


def test_each_part_is_verified_once_by_the_worker_holding_most_of_it():
    from svi_lda.distributed.sharded.part_io import verifier_of_parts

    parts = [("a", 0, 50), ("b", 50, 100)]
    assert verifier_of_parts(parts, np.array([0, 50, 100])) == [0, 1]  # as written
    assert verifier_of_parts(parts, np.array([0, 34, 67, 100])) == [0, 2]  # 34 < 16+17
    assert verifier_of_parts(parts, np.array([0, 25, 75, 100])) == [0, 1]  # tie: first
    assert verifier_of_parts(parts, np.array([0, 100])) == [0, 0]


@pytest.mark.parametrize("n_shards", [None, 3])
def test_open_verifies_the_parts_on_the_workers_not_here(
    dask_client, too_large, tmp_path, monkeypatch, n_shards
):
    """ShardedModel.open(verify=True) leaves the parts' sha256 to the workers that load
    them (this process hashing a part fails the test), still refuses a damaged part with
    the part's name, whatever the shard layout, and leaves no shard behind on a refusal."""
    import json
    import shutil

    from svi_lda.distributed import CheckpointError
    from svi_lda.distributed.sharded import ShardedModel, part_io, shard_tasks

    real = part_io.file_sha256

    def only_small_files(loc):  # this process may hash the coordinator's file only
        assert "part-" not in str(loc), f"the coordinator read a part: {loc}"
        return real(loc)

    monkeypatch.setattr(part_io, "file_sha256", only_small_files)
    with ShardedModel.open(dask_client, too_large, n_shards=n_shards) as sharded:
        assert len(sharded.top_words(3)) == PARAMS["n_components"]
    copy = tmp_path / "damaged"
    shutil.copytree(too_large, copy)
    part = copy / json.loads((copy / "sharded.json").read_text())["parts"][-1]["file"]
    data = bytearray(part.read_bytes())
    data[-1] ^= 1
    part.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=rf"{part.name}: contents differ from the "
                                              "manifest's sha256"):
        ShardedModel.open(dask_client, copy, n_shards=n_shards)
    held = dask_client.run(shard_tasks.held_bytes)
    assert sum(held.values()) == 0


def test_a_lost_shard_owner_says_how_to_reopen(dask_client, too_large):
    """A worker holding a query model's shards is gone (here: an owner address no worker
    has): the error says the shards are lost and how to get the model back."""
    from svi_lda.distributed.sharded import ShardedModel
    from svi_lda.distributed.sharded.engine import ShardLost

    with ShardedModel.open(dask_client, too_large) as sharded:
        sharded.run.owners[0] = "tcp://127.0.0.1:9"
        with pytest.raises(ShardLost, match=r"holding shards died: their shards of .* are "
                                            r"gone; open the model again with "
                                            r"ShardedModel\.open\(client, checkpoint\)"):
            sharded.top_words(3)
