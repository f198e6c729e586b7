"""Sharded training (W split by vocabulary over the workers) on real worker processes.

The reference is in-process ``OnlineLDA.fit`` on the same corpus: the sharded engine must
reproduce it bitwise (no tolerance), with 2 and 3 workers, through a checkpoint and
resume, and through a SIGKILLed worker.
"""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest
from scipy import sparse

from svi_lda import OnlineLDA
from svi_lda._config import RESCALE_THRESHOLD
from svi_lda.corpus import from_csr
from svi_lda.synthetic import make_lda_corpus

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(240)]

# 3 minibatches of 4 row groups an epoch; 3,000 words with documents of 120 tokens make
# unions of more than 2,048 words, so the update's chunks of words straddle shards.
PARAMS = dict(n_components=5, batch_size=200, max_iter=2, doc_topic_prior="auto",
              random_state=7, dtype="float32")


def make_corpus(path, *, n_docs=600, n_features=3000, seed=2, row_group_size=50):
    """Half LDA documents, half documents of 40 words drawn uniformly (wide vocabulary)."""
    syn = make_lda_corpus(n_docs // 2, n_features, 5, doc_length=40, seed=seed)
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_docs - n_docs // 2), 40)
    wide = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, rng.integers(0, n_features, len(rows)))),
        shape=(n_docs - n_docs // 2, n_features),
    )
    x = sparse.vstack([syn.X, wide]).tocsr()[rng.permutation(n_docs)]
    return from_csr(x, [f"w{i}" for i in range(n_features)], path,
                    row_group_size=row_group_size)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("sharded") / "corpus")


@pytest.fixture
def rescale_often(monkeypatch):
    """Fold the lazy scale into W at almost every step (in process and sharded alike):
    the rescale's column sums must be continued shard to shard bitwise too."""
    monkeypatch.setitem(RESCALE_THRESHOLD, "float32", 0.6)


@pytest.fixture
def reference(corpus, rescale_often):
    return OnlineLDA(**PARAMS).fit(corpus)


def assert_same_model(a: OnlineLDA, b: OnlineLDA) -> None:
    assert a.n_batch_iter_ == b.n_batch_iter_
    assert a.state_.scale == b.state_.scale
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    np.testing.assert_array_equal(a.doc_topic_prior_, b.doc_topic_prior_)
    assert a.state_.n_docs_seen == b.state_.n_docs_seen
    assert a.bound_history_ == b.bound_history_
    np.testing.assert_array_equal(a.term_frequency_, b.term_frequency_)
    np.testing.assert_array_equal(a.topic_token_counts_, b.topic_token_counts_)
    np.testing.assert_array_equal(a.topic_doc_counts_, b.topic_doc_counts_)


def test_the_corpus_exercises_chunks_across_shards(corpus):
    """Guard on the fixture: a minibatch's words exceed one update chunk (2,048)."""
    from svi_lda.corpus import plan_minibatches
    from svi_lda.corpus.units import read_unit
    from svi_lda.distributed.sharded.shard_tasks import CHUNK

    group = plan_minibatches(corpus.units, 200, epoch=0, seed=0)[0]
    words = set()
    for unit in group:
        batch = read_unit(str(corpus.path), unit, n_features=corpus.n_features)
        words.update(np.asarray(batch.indices).tolist())
    assert len(words) > CHUNK


def test_sharded_two_workers_equal_in_process(dask_client, corpus, reference):
    from svi_lda.distributed import fit_distributed

    reports = []
    model = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, sharded=True,
                            on_step=reports.append)
    assert_same_model(model, reference)
    for key in ("step", "n_docs_seen", "figure", "rho", "n_features"):
        assert model.history_[key] == reference.history_[key]
    # the coordinator moves K-sized totals and the minibatch's word lists, never K x V
    k, v = PARAMS["n_components"], corpus.n_features
    for r in reports:
        assert r.bytes_from_workers < k * v * 4


def test_sharded_three_workers_and_five_shards_equal_in_process(corpus, reference):
    from distributed import Client, LocalCluster

    from svi_lda.distributed.sharded import fit_sharded

    with LocalCluster(n_workers=3, threads_per_worker=1, processes=True,
                      dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        three = fit_sharded(client, OnlineLDA(**PARAMS), corpus, n_epochs=2)
        five = fit_sharded(client, OnlineLDA(**PARAMS), corpus, n_epochs=2, n_shards=5)
        held = client.run(lambda: __import__(
            "svi_lda.distributed.sharded.shard_tasks", fromlist=["x"]).held_bytes())
    assert_same_model(three, reference)
    assert_same_model(five, reference)
    assert sum(held.values()) == 0  # the runs dropped their shards


def test_seeded_start_float64_equal_in_process(dask_client, corpus):
    """init="documents" (the default) and float64, with a rescale never reached."""
    from svi_lda.distributed import fit_distributed

    params = {**PARAMS, "dtype": "float64", "max_iter": 1}
    reference = OnlineLDA(**params).fit(corpus)
    model = fit_distributed(dask_client, OnlineLDA(**params), corpus, sharded=True)
    assert_same_model(model, reference)


def test_sharded_checkpoint_parts_and_resume_equal_uninterrupted(
    dask_client, corpus, reference, tmp_path
):
    """Stop after 4 steps (checkpoints every 3 and at the stop), resume: same model."""
    from svi_lda.distributed import fit_distributed
    from svi_lda.distributed.sharded import load_sharded_model

    ckpt = tmp_path / "ckpt"
    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=4, sharded=True,
                    checkpoint_dir=ckpt, checkpoint_every=3)
    names = sorted(p.name for p in ckpt.iterdir())
    assert names == ["coordinator.step4.npz", "part-00000-of-00002.step4.npy",
                     "part-00001-of-00002.step4.npy", "sharded.json"]
    partial = load_sharded_model(ckpt)
    assert partial.n_batch_iter_ == 4
    # sharded=None resumes a sharded checkpoint in sharded mode
    resumed = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                              resume=True)
    assert_same_model(resumed, reference)
    assert resumed.history_["step"] == reference.history_["step"]
    assert_same_model(load_sharded_model(ckpt), reference)


def test_a_model_too_large_to_gather_refuses_queries_and_loads_from_its_checkpoint(
    dask_client, corpus, reference, tmp_path, monkeypatch
):
    """Above the gather limit W stays on the shards: the returned model must not answer
    from its zero stand-in, and its checkpoint holds the trained model."""
    from svi_lda.distributed import fit_distributed
    from svi_lda.distributed.sharded import fit as sharded_fit
    from svi_lda.distributed.sharded import load_sharded_model

    monkeypatch.setattr(sharded_fit, "GATHER_LIMIT_BYTES", 0)  # every model is "too large"
    ckpt = tmp_path / "ckpt"
    model = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, sharded=True,
                            checkpoint_dir=ckpt)
    assert model.sharded_checkpoint_ == ckpt
    for query in (lambda: model.components_, lambda: model.transform(corpus),
                  lambda: model.save(tmp_path / "saved")):
        with pytest.raises(ValueError, match="sharded checkpoint"):
            query()
    assert_same_model(load_sharded_model(ckpt), reference)


def test_incomplete_or_damaged_checkpoint_is_refused(dask_client, corpus, tmp_path):
    from svi_lda.distributed import CheckpointError, fit_distributed

    ckpt = tmp_path / "ckpt"
    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=2, sharded=True,
                    checkpoint_dir=ckpt)
    manifest = ckpt / "sharded.json"
    text = manifest.read_text()
    manifest.write_text(text.replace('"version": 1', '"version": 99'))
    with pytest.raises(CheckpointError, match="sharded checkpoint version 99; this svi-lda "
                                              "reads version 1"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                        resume=True)
    manifest.write_text(text)
    part = ckpt / "part-00001-of-00002.step2.npy"
    data = part.read_bytes()
    part.write_bytes(data[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="differ from the manifest's sha256"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                        resume=True)
    part.unlink()
    with pytest.raises(CheckpointError, match=r"incomplete: part-00001-of-00002\.step2\.npy "
                                              "is missing"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                        resume=True)
    with pytest.raises(CheckpointError, match="sharded checkpoint: resume it with sharded"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                        resume=True, sharded=False)


def test_other_methods_and_pipelined_are_refused(dask_client, corpus):
    from svi_lda.distributed import fit_distributed

    with pytest.raises(ValueError, match="learning_method='online' only; got 'scvb0'"):
        fit_distributed(dask_client, OnlineLDA(**{**PARAMS, "learning_method": "scvb0"}),
                        corpus, sharded=True)
    with pytest.raises(ValueError, match="pipelined=True is not supported"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, sharded=True,
                        pipelined=True)


def test_sharded_worker_sigkill_recovers_from_checkpoint(corpus, reference, tmp_path):
    """SIGKILL a worker holding shards mid-run: its shards are reloaded from the last
    checkpoint and the steps since replayed; the model is the uninterrupted one."""
    from distributed import Client, LocalCluster

    from svi_lda.distributed import fit_distributed

    killed: dict[str, int] = {}
    steps: list[int] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        before = client.run(os.getpid)

        def kill_one() -> None:
            addr, pid = sorted(before.items())[1]
            os.kill(pid, signal.SIGKILL)  # a worker process this test started
            killed[addr] = pid

        def on_step(report) -> None:
            steps.append(report.metrics.step)
            if report.metrics.step == 4 and not killed:
                # while step 5's local steps run: the last checkpoint is step 3's
                threading.Timer(0.05, kill_one).start()

        model = fit_distributed(client, OnlineLDA(**PARAMS), corpus, sharded=True,
                                checkpoint_dir=tmp_path / "ckpt", checkpoint_every=3,
                                on_step=on_step)
    assert killed, "the worker was not killed"
    assert steps.count(4) == 2  # step 4 replayed after the recovery from step 3
    assert_same_model(model, reference)


def test_shard_start_is_initialize_in_blocks_and_sums_continue_across_shards(monkeypatch):
    """Each shard draws its rows of GlobalState.initialize's start (the generator advanced
    to the shard, in small blocks); W.sum(axis=0) continued shard to shard is bitwise."""
    from svi_lda.distributed.sharded import shard_tasks
    from svi_lda.state import GlobalState

    monkeypatch.setattr(shard_tasks, "INIT_BLOCK_VALUES", 1000)
    bounds = [0, 1234, 4000, 5003]
    for dtype in ("float32", "float64"):
        start = GlobalState.initialize(7, 5003, alpha=np.ones(7), eta=0.1, seed=9, dtype=dtype)
        carry = None
        try:
            for s in range(3):
                shard_tasks.init_shard("t", s, bounds[s], bounds[s + 1], 7, 0.1, 9, dtype)
                carry = shard_tasks.column_sums_chain("t", s, carry)
            rows = np.concatenate([shard_tasks.shard_rows_all("t", s) for s in range(3)])
        finally:
            shard_tasks.drop_run("t")
        np.testing.assert_array_equal(rows, start.word_topic)
        np.testing.assert_array_equal(carry, start.topic_sums)


def test_train_cli_sharded_matches_in_process(dask_client, corpus, tmp_path):
    from pipelines.train import main
    from svi_lda.estimator import load_model

    out = tmp_path / "model"
    args = [str(corpus.path), "--topics", "5", "--out", str(out), "--batch-size", "200",
            "--seed", "7", "--alpha", "auto", "--epochs", "1", "--sharded",
            "--scheduler", dask_client.scheduler.address]
    assert main(args) == 0
    assert (out / "checkpoint" / "sharded.json").is_file()
    reference = OnlineLDA(**{**PARAMS, "max_iter": 1}).fit(corpus)
    np.testing.assert_array_equal(load_model(out).components_, reference.components_)
    assert main(args) == 2  # the sharded checkpoint is not silently discarded


def test_sparse_seed_increment_is_the_dense_one_bitwise(monkeypatch, corpus):
    """Seeding's increment kept sparse and applied block by block: same W and topic sums
    as GlobalState.add_to_lambda with seeding.seed_increment's dense block."""
    from svi_lda import seeding
    from svi_lda.corpus.units import read_unit
    from svi_lda.distributed.sharded import seed_rows
    from svi_lda.state import GlobalState

    monkeypatch.setattr(seed_rows, "BLOCK_WORDS", 100)
    k = 4  # few topics: several seed documents share a topic, so entries add up
    units = [read_unit(str(corpus.path), u, n_features=corpus.n_features)
             for u in corpus.units[:4]]
    n_pick = 40
    docs = seeding.merge_candidates([seeding.seed_candidates(u, 3, n_pick) for u in units],
                                    n_pick)
    word_ids, dense = seeding.seed_increment(docs, k)
    sparse = seed_rows.sparse_seed_increment(docs, k)
    np.testing.assert_array_equal(sparse.word_ids, word_ids)
    rebuilt = np.concatenate([rows for _, rows in sparse.blocks()])
    np.testing.assert_array_equal(rebuilt, dense)
    for dtype in ("float32", "float64"):
        state = GlobalState.initialize(k, corpus.n_features, alpha=np.ones(k), eta=0.2,
                                       seed=1, dtype=dtype)
        state.scale = 0.37  # coef = 1 / scale is not 1
        sharded = state.copy()
        state.add_to_lambda(word_ids, dense)
        coef = 1.0 / sharded.scale
        sums = seed_rows.increment_sums(sparse, coef)
        cut = corpus.n_features // 3
        for lo, hi in ((0, cut), (cut, corpus.n_features)):
            seed_rows.lazy_add_sparse(sharded.word_topic[lo:hi], sparse.restrict(lo, hi),
                                      coef, np.zeros(k))
        sharded.topic_sums += sums
        np.testing.assert_array_equal(sharded.word_topic, state.word_topic)
        np.testing.assert_array_equal(sharded.topic_sums, state.topic_sums)
