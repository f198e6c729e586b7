"""Training on a real Dask LocalCluster (worker processes): exactness, faults, bad input.

The reference for every comparison is in-process ``OnlineLDA.fit`` on the same corpus:
the distributed engine must reproduce it bitwise (``np.array_equal``, no tolerance).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from svi_lda import OnlineLDA
from svi_lda.corpus import CorpusError, ParquetCorpus, from_csr
from svi_lda.synthetic import make_lda_corpus

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(180)]

PARAMS = dict(
    n_components=4,
    batch_size=200,  # 4 row groups per step: summation order matters (a+b+c != c+b+a)
    max_iter=3,
    doc_topic_prior="auto",  # alpha is learned in distributed mode too
    random_state=3,
)


def make_corpus(path: Path, *, n_docs: int = 600, n_features: int = 300, seed: int = 1,
                row_group_size: int = 50, prefix: str = "w") -> ParquetCorpus:
    syn = make_lda_corpus(n_docs, n_features, 4, doc_length=40, seed=seed)
    words = [f"{prefix}{i}" for i in range(n_features)]
    return from_csr(syn.X, words, path, row_group_size=row_group_size)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> ParquetCorpus:
    return make_corpus(tmp_path_factory.mktemp("dist") / "corpus")


@pytest.fixture(scope="module")
def reference(corpus) -> OnlineLDA:
    """In-process training over the same minibatches."""
    return OnlineLDA(**PARAMS).fit(corpus)


def assert_same_model(a: OnlineLDA, b: OnlineLDA) -> None:
    assert a.n_batch_iter_ == b.n_batch_iter_
    assert a.state_.scale == b.state_.scale
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    np.testing.assert_array_equal(a.doc_topic_prior_, b.doc_topic_prior_)
    assert a.state_.n_docs_seen == b.state_.n_docs_seen


def test_two_worker_processes_equal_in_process(dask_client, corpus, reference):
    from svi_lda.distributed import fit_distributed

    reports = []
    # scatter_bytes=0: every unit's rows go straight to its worker (the large-V path)
    model = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, on_step=reports.append,
                            scatter_bytes=0)
    assert_same_model(model, reference)
    assert model.n_iter_ == 3
    assert model.bound_history_ == reference.bound_history_
    # the run loop's records too: same merge, same order, so bitwise the same
    for key in ("step", "n_docs_seen", "figure", "rho", "n_features"):
        assert model.history_[key] == reference.history_[key]
    np.testing.assert_array_equal(model.term_frequency_, reference.term_frequency_)
    np.testing.assert_array_equal(model.topic_token_counts_, reference.topic_token_counts_)
    np.testing.assert_array_equal(model.topic_doc_counts_, reference.topic_doc_counts_)
    # alpha was really learned (not left at 1/K)
    assert not np.allclose(model.doc_topic_prior_, 1 / 4)
    # only the columns of each unit travel: never K x V per task
    k, v = 4, corpus.n_features
    for r in reports:
        assert 0 < r.bytes_to_workers < r.n_units * k * v * 8
    # both workers did E-steps
    assert len(dask_client.scheduler_info()["workers"]) == 2


def test_one_worker_and_threads_equal_in_process(corpus, reference):
    from distributed import Client, LocalCluster

    from svi_lda.distributed import fit_distributed

    for kwargs in (
        dict(n_workers=1, threads_per_worker=1, processes=True),
        dict(n_workers=1, threads_per_worker=2, processes=False),
    ):
        with LocalCluster(dashboard_address="127.0.0.1:0", **kwargs) as cluster, Client(
            cluster
        ) as c:
            model = fit_distributed(c, OnlineLDA(**PARAMS), corpus)
        assert_same_model(model, reference)


def test_four_worker_processes_equal_in_process_with_the_merge_on_the_workers(
    corpus, reference
):
    """Issue 16: 4 worker processes, the step's rows shipped once (one block, to one
    worker) and copied on by the workers, and the units' statistics summed on the workers
    along the fixed tree; the coordinator gathers one result per step, and the model is
    bitwise in process's. The coordinator holds no future per unit (the reads keep their
    units in the workers' caches), and the caches are empty after the run."""
    from distributed import Client, LocalCluster, get_task_stream

    from svi_lda.distributed import fit_distributed, unit_cache
    from svi_lda.distributed.engine import READ_AHEAD

    reports, held = [], []

    def on_step(report) -> None:
        reports.append(report)
        held.append(list(client.futures))

    with LocalCluster(n_workers=4, threads_per_worker=1, processes=True,
                      dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client, get_task_stream(client) as stream:
        model = fit_distributed(client, OnlineLDA(**PARAMS), corpus, on_step=on_step)
        left = client.run(unit_cache.cached_units)
    assert left and set(left.values()) == {0}
    # per step: the root, the rows' block, and the union of each minibatch read ahead
    for keys in held:
        assert len(keys) <= 2 + READ_AHEAD + 1, keys
        assert not [k for k in keys if any(s in k for s in ("-read-", "-load-", "-estep-"))], keys
    assert_same_model(model, reference)
    assert model.bound_history_ == reference.bound_history_
    kinds: dict[str, list[str]] = {}
    rows: dict[str, list[str]] = {}
    for record in stream.data:
        kinds.setdefault(record["key"].split("-")[2], []).append(record["worker"])
        if record["key"].split("-")[2] == "rows":
            kind = "block" if record["key"].endswith("-block") else "copy"
            rows.setdefault(kind, []).append(record["worker"])
    steps = len(reports)
    assert steps == 9
    # 4 units a step: 3 merges (2 then 1) run as worker tasks, never here
    assert len(kinds["merge"]) == 3 * steps
    assert len(kinds["read"]) == 4 * steps  # each unit read once
    # the rows leave the coordinator once a step, as one block (inline here: small
    # rows), and the workers copy it to the 3 others: 4 workers hold it
    assert len(rows["block"]) == steps and len(rows["copy"]) == 3 * steps
    assert len(set(rows["block"] + rows["copy"])) == 4
    assert len(set(kinds["estep"])) == 4
    # what comes back is the merged statistics of the minibatch's words, once
    k = PARAMS["n_components"]
    for r in reports:
        assert r.bytes_from_workers <= 4 * corpus.n_features * (k * 8 + 8 + 8 + 4)


def test_n_steps_and_epochs(dask_client, corpus):
    from svi_lda.distributed import fit_distributed

    part = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=4)
    assert part.n_batch_iter_ == 4
    ref = OnlineLDA(**{**PARAMS, "max_iter": 1}).fit(corpus)
    one = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_epochs=1)
    assert_same_model(one, ref)


def test_pipelined_mode_is_reproducible_but_not_synchronous(dask_client, corpus, reference):
    from distributed import Client, LocalCluster

    from svi_lda.distributed import fit_distributed

    stale = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, pipelined=True)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as c:
        again = fit_distributed(c, OnlineLDA(**PARAMS), corpus, pipelined=True)
    assert_same_model(stale, again)  # fixed staleness of one step: still deterministic
    assert stale.n_batch_iter_ == reference.n_batch_iter_
    assert not np.array_equal(stale.state_.word_topic, reference.state_.word_topic)
    # and it is still a sensible model: same order of minibatch bound as synchronous SVI
    assert abs(stale.bound_history_[-1] - reference.bound_history_[-1]) < 0.5


def staleness_one_reference(corpus: ParquetCorpus, params: dict) -> OnlineLDA:
    """In-process SVI where step t's E-steps see the parameters after update t - 1."""
    from svi_lda.corpus import plan_minibatches
    from svi_lda.step import apply_step, minibatch_estep

    model = OnlineLDA(**params)
    model._init_state(corpus.n_features)
    groups = [
        [corpus.read_unit(u) for u in group]
        for epoch in range(model.max_iter)
        for group in plan_minibatches(corpus.units, model.batch_size, epoch=epoch,
                                      seed=model.random_seed_)
    ]
    model._seed_if_new(groups[0])
    seen = model.state_.copy()  # what the next E-steps are computed from
    for units in groups:
        stats = minibatch_estep(seen, units, model._settings())
        seen = model.state_.copy()
        apply_step(model.state_, stats, model._schedule(), total_samples=corpus.n_docs,
                   learn_alpha=model._learn_alpha, seconds=1.0)
    return model


def test_pipelined_mode_is_svi_with_a_staleness_of_one_step(dask_client, corpus):
    from svi_lda.distributed import fit_distributed

    stale = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, pipelined=True)
    expected = staleness_one_reference(corpus, PARAMS)
    np.testing.assert_array_equal(stale.state_.word_topic, expected.state_.word_topic)
    np.testing.assert_array_equal(stale.state_.topic_sums, expected.state_.topic_sums)
    np.testing.assert_array_equal(stale.doc_topic_prior_, expected.doc_topic_prior_)


def test_worker_sigkill_does_not_change_the_result(tmp_path):
    """SIGKILL one worker process mid-run: the job finishes with the same model.

    With ``scatter_bytes=0`` the dead worker takes with it the rows scattered to it, as
    well as the row groups it had read: both must be recovered.
    """
    from distributed import Client, LocalCluster

    from svi_lda.distributed import fit_distributed

    corpus = make_corpus(tmp_path / "big", n_docs=1600, row_group_size=100)
    params = {**PARAMS, "batch_size": 400, "n_components": 8}
    reference = OnlineLDA(**params).fit(corpus)
    killed: dict[str, int] = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        before = client.run(os.getpid)

        def kill_one() -> None:
            addr, pid = sorted(before.items())[0]
            os.kill(pid, signal.SIGKILL)  # a worker process this test started
            killed[addr] = pid

        def on_step(report) -> None:
            if report.metrics.step == 3:
                # a moment later, while step 4's E-steps run on the workers
                threading.Timer(0.02, kill_one).start()

        model = fit_distributed(client, OnlineLDA(**params), corpus, on_step=on_step,
                                scatter_bytes=0)
        client.wait_for_workers(2, timeout=60)
        after = set(client.run(os.getpid).values())
    assert killed, "the worker was not killed"
    assert next(iter(killed.values())) not in after  # a new process replaced it
    assert_same_model(model, reference)


def _set_paused(paused: bool, dask_worker=None) -> None:
    """Pause a worker (it runs no task and fetches no input) or let it run again."""
    from distributed.core import Status

    dask_worker.status = Status.paused if paused else Status.running


def test_rows_scattered_to_a_worker_killed_before_the_local_steps_are_sent_again(corpus):
    """The rows of a step are scattered once, as one block to one worker; SIGKILL that
    worker while the other, paused, has not copied the block yet (a paused worker runs no
    task and fetches no input: a busy one would, which made the loss a race): the step is
    sent again with its rows inline and its merged statistics are bitwise the in-process
    ones."""
    from distributed import Client, LocalCluster

    from svi_lda.corpus import read_unit
    from svi_lda.distributed import checkpoints
    from svi_lda.distributed.engine import DaskEngine
    from svi_lda.distributed.inflight import InFlight
    from svi_lda.methods import get_method
    from svi_lda.step import minibatch_estep
    from svi_lda.training import Minibatch

    model = OnlineLDA(**PARAMS)
    checkpoints.start(model, corpus, None, False)
    units = corpus.units[:4]
    expected = minibatch_estep(model.state_, [read_unit(corpus.path, u) for u in units],
                               model._settings())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        engine = DaskEngine(client=client, model=model, method=get_method("online"),
                            corpus=corpus, pipelined=False, estep_threads=1,
                            scatter_bytes=0, direct=True)
        step = InFlight(Minibatch(0, 0, False, list(units)))
        engine.load(step)
        client.gather(step.ids)
        engine.prepare(step)
        pids = client.run(os.getpid)
        # the block goes to the step's first worker; the other is paused (it copies
        # nothing). The holder itself must run: a scatter skips paused workers.
        first = next(w for w in step.workers if w is not None)
        others = [w for w in pids if w != first]
        client.run(_set_paused, True, workers=others)
        engine.submit_esteps(step)
        assert len(step.scattered) == 1  # the whole block, on one worker
        holder = sorted(client.who_has(step.scattered[:1]).values())[0][0]
        assert holder == first
        os.kill(pids[holder], signal.SIGKILL)  # a worker process this test started
        client.run(_set_paused, False, workers=others)
        stats = engine.collect(step)
    np.testing.assert_array_equal(stats.word_ids, expected.word_ids)
    np.testing.assert_array_equal(stats.sstats, expected.sstats)
    assert stats.doc_bound == expected.doc_bound
    assert "retry" in step.root.key  # the step really was sent again


def test_numba_on_workers_is_warm_and_single_threaded(dask_client, corpus):
    from svi_lda.distributed import fit_distributed, tasks

    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=1)
    info = dask_client.run(tasks.worker_threads_info)
    threads = sum(w["nthreads"] for w in dask_client.scheduler_info()["workers"].values())
    for worker_info in info.values():
        assert worker_info["numba_threads_in_use"] == 1 or worker_info["numba_num_threads"] == 1
        assert threads * 1 <= worker_info["cores"]  # Dask threads x Numba threads <= cores

    def plugin_names(dask_worker):
        return sorted(dask_worker.plugins)

    for names in dask_client.run(plugin_names).values():
        assert "svi-lda-numba-warmup" in names
    # warm: a tiny E-step no longer compiles anything
    times = dask_client.run(tasks.warm_up)
    assert max(times.values()) < 0.5


def test_local_cluster_is_sized_to_the_machine():
    from distributed import Client

    from svi_lda.distributed import available_cores, local_cluster

    with local_cluster() as cluster, Client(cluster) as client:
        workers = client.scheduler_info()["workers"].values()
        assert sum(w["nthreads"] for w in workers) == available_cores()
        env = client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
        assert set(env.values()) == {"1"}


# -- bad input ---------------------------------------------------------------------------


def test_missing_row_group_file_names_it(dask_client, tmp_path):
    from svi_lda.distributed import fit_distributed

    corpus = make_corpus(tmp_path / "c")
    victim = corpus.path / corpus.units[-1].file
    victim.unlink()
    with pytest.raises(CorpusError, match=victim.name):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus)
    with pytest.raises(CorpusError, match=victim.name):  # and when opening by path
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus.path)


def test_corrupt_row_group_names_file(dask_client, tmp_path):
    from svi_lda.distributed import fit_distributed

    corpus = make_corpus(tmp_path / "c", row_group_size=300)
    victim = corpus.path / corpus.units[0].file
    data = bytearray(victim.read_bytes())
    data[4:-8] = bytes(len(data) - 12)  # keep the PAR1 magic, destroy the rest
    victim.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=victim.name):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus)


def test_resume_on_other_vocabulary_is_refused(dask_client, tmp_path, corpus):
    from svi_lda.distributed import CheckpointError, fit_distributed

    ckpt = tmp_path / "ckpt"
    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=2,
                    checkpoint_dir=ckpt, checkpoint_every=1)
    other = make_corpus(tmp_path / "other", prefix="x")
    with pytest.raises(CheckpointError, match="vocabulary") as err:
        fit_distributed(dask_client, OnlineLDA(**PARAMS), other, checkpoint_dir=ckpt,
                        resume=True)
    assert str(ckpt) in str(err.value) and str(other.path) in str(err.value)
    with pytest.raises(CheckpointError, match="n_components"):
        fit_distributed(dask_client, OnlineLDA(**{**PARAMS, "n_components": 5}), corpus,
                        checkpoint_dir=ckpt, resume=True)


def test_unreachable_scheduler_names_address():
    from svi_lda.distributed import SchedulerUnreachableError, connect

    started = time.perf_counter()
    with pytest.raises(SchedulerUnreachableError, match="tcp://127.0.0.1:9"):
        connect("tcp://127.0.0.1:9", timeout=1.0)
    assert time.perf_counter() - started < 30


def test_resume_in_process_is_bitwise(dask_client, corpus, reference, tmp_path):
    """Stop after 5 steps with checkpoints every 2, resume: same model as no stop.

    3 minibatches per epoch, so step 5 ends in the middle of the second epoch.
    """
    from svi_lda.distributed import fit_distributed
    from svi_lda.estimator import load_model

    ckpt = tmp_path / "ckpt"
    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=5,
                    checkpoint_dir=ckpt, checkpoint_every=2)
    saved = load_model(ckpt)
    assert saved.n_batch_iter_ == 5  # the final checkpoint at the stop
    extra = saved.load_extra_
    assert extra["epoch"] == 1 and extra["position"] == 2
    assert len(extra["consumed_units"]) == 8  # 2 minibatches of 4 row groups
    resumed = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                              resume=True)
    assert_same_model(resumed, reference)


def test_balance_units_keeps_data_in_place_unless_a_worker_would_pile_up():
    from svi_lda.distributed.placement import balance_units

    # every read landed on A (an idle worker stole them): half the E-steps move to B
    assert balance_units(["A"] * 4, ["A", "B"], [1] * 4) == ["A", "B", "A", "B"]
    # already balanced: nothing moves
    assert balance_units(["A", "B", "A", "B"], ["A", "B"], [1] * 4) == ["A", "B", "A", "B"]
    # 3 on A, 1 on B: one unit moves, the fewest that balance
    moved = balance_units(["A", "A", "B", "A"], ["A", "B"], [1] * 4)
    assert moved.count("A") == moved.count("B") == 2
    assert sum(o != m for o, m in zip(["A", "A", "B", "A"], moved, strict=True)) == 1
    # unknown or dead owners go to the least loaded worker; no workers: no preference
    assert balance_units([None, "C"], ["A", "B"], [1, 1]) == ["A", "B"]
    assert balance_units(["A"], [], [1]) == [None]


def test_balance_units_gives_a_worker_running_behind_fewer_units():
    from svi_lda.distributed.placement import balance_units

    owners = ["A", "B", "A", "B"]
    # A still has two units of the previous step queued: three of this step's go to B
    placed = balance_units(owners, ["A", "B"], [1] * 4, backlog={"A": 2})
    assert placed.count("A") == 1 and placed.count("B") == 3
    # a backlog under one unit's weight moves nothing; no backlog is no backlog
    assert balance_units(owners, ["A", "B"], [10] * 4, backlog={"A": 5}) == owners
    assert balance_units(owners, ["A", "B"], [1] * 4, backlog={}) == owners



def test_local_cluster_turns_off_dask_housekeeping_the_steps_do_not_need():
    import dask
    from distributed import Client

    from svi_lda.distributed import local_cluster

    with local_cluster(1, 1, dashboard=False) as cluster, Client(cluster) as client:
        assert "stealing" not in cluster.scheduler.extensions
        profiling = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        assert list(profiling.values()) == [False]
    # only while the cluster starts: the caller's configuration is left as it was
    assert dask.config.get("distributed.worker.profile.enabled") is True


def test_resumed_runs_write_checkpoints_that_resume_again(dask_client, corpus, reference,
                                                          tmp_path):
    """Issue 12, item 1: a chain of resumes, each stopping in the middle of an epoch.

    3 minibatches per epoch: steps 2, 4, 5 and 7 end inside an epoch, so each checkpoint
    must carry the units its run consumed plus those the run it resumed had consumed.
    """
    from svi_lda.distributed import fit_distributed
    from svi_lda.estimator import load_model

    ckpt = tmp_path / "ckpt"
    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=2,
                    checkpoint_dir=ckpt, checkpoint_every=3)
    for stop in (4, 5, 7, 8):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=stop,
                        checkpoint_dir=ckpt, checkpoint_every=3, resume=True)
        saved = load_model(ckpt)
        assert saved.n_batch_iter_ == stop
        # 4 row groups a minibatch, and the epoch's minibatches before the stop
        assert len(saved.load_extra_["consumed_units"]) == 4 * (stop % 3)
    resumed = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                              resume=True)
    assert_same_model(resumed, reference)
    # The records survive the resumes too: every step's figure, once.
    assert resumed.bound_history_ == reference.bound_history_
    assert resumed.history_["step"] == reference.history_["step"]


def test_one_graph_runs_each_task_on_its_worker_and_futures_only_for_wanted_keys(
    dask_client,
):
    """submit_graph: a step's tasks in one message, each on the worker it names (the
    engine's placement rests on it), futures only for the keys asked for."""
    import operator
    import uuid

    from svi_lda.distributed.graphs import GraphBuilder, submit_graph

    pids = dask_client.run(os.getpid)
    workers = sorted(pids)
    assert len(workers) == 2
    tag = uuid.uuid4().hex
    for attempt in range(2):  # all on one worker (left alone, Dask spreads them), then the other
        graph = GraphBuilder()
        where = [graph.add(f"pid-{tag}-{attempt}-{i}", os.getpid, worker=workers[attempt])
                 for i in range(6)]
        leaves = [graph.add(f"leaf-{tag}-{attempt}-{i}", np.full, 3, i) for i in range(3)]
        inner = graph.add(f"inner-{tag}-{attempt}", operator.add, leaves[0], leaves[1])
        root = graph.add(f"root-{tag}-{attempt}", np.concatenate, [inner, leaves[2]])
        assert len(graph) == 11
        keys = [root.key, *(ref.key for ref in where)]
        futures = submit_graph(dask_client, graph, keys)
        assert list(futures) == keys
        assert inner.key not in dask_client.futures and leaves[0].key not in dask_client.futures
        np.testing.assert_array_equal(futures[root.key].result(), [1, 1, 1, 2, 2, 2])
        assert [futures[ref.key].result() for ref in where] == [pids[workers[attempt]]] * 6
        for f in futures.values():
            f.release()


def test_a_step_with_fewer_units_than_workers_is_reported(dask_client, corpus, caplog):
    from svi_lda.distributed import fit_distributed
    from svi_lda.distributed.coordinator import workers_wait

    # The corpus has row groups of 50 documents: 200 a step is 4 units.
    assert workers_wait(corpus, 200, 4) is None
    assert workers_wait(corpus, 200, 1) is None
    reason = workers_wait(corpus, 100, 16)
    assert reason is not None
    assert "2 unit(s)" in reason and "16 worker threads" in reason
    assert "14 of them wait every" in reason and "800 documents" in reason
    with caplog.at_level(logging.WARNING, logger="svi_lda.distributed.coordinator"):
        fit_distributed(dask_client, OnlineLDA(**{**PARAMS, "batch_size": 50}), corpus,
                        n_steps=1)
    # the fixture's cluster: 2 workers of 1 thread each, so 2 threads and 1 waits
    assert any("1 unit(s)" in r.getMessage() and "2 worker threads" in r.getMessage()
               and "1 of them waits every" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="svi_lda.distributed.coordinator"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=1)
    assert not any("keeps every thread busy" in r.getMessage() for r in caplog.records)
