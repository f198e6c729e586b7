"""The sharded update made by every shard at once, then the short fold in word order,
against the in-process natural_gradient_step, bitwise, in one process (the shards held
here as on a worker): W, the chunked topic sums and the statistics' column sums, for
shards larger and smaller than an update chunk, empty ones, and a reset (rho = 1)."""

from __future__ import annotations

import numpy as np
import pytest

from svi_lda.distributed.sharded import shard_tasks
from svi_lda.distributed.sharded.layout import segments
from svi_lda.numerics.scatter import column_sums
from svi_lda.state import GlobalState, natural_gradient_step

CHUNK = shard_tasks.CHUNK
V, K = 20_000, 6


def sharded_step(start: GlobalState, bounds, union, sstats, rho, n_docs, total):
    """One update through shard_update / shard_fold over shards ``bounds``; returns
    (W, topic_sums, statistics' column sums)."""
    state = GlobalState(start.word_topic.copy(), start.scale, start.topic_sums.copy(),
                        start.alpha, start.eta, start.step, start.n_docs_seen)
    reset = rho >= 1.0
    if reset:
        state.topic_sums, state.scale = np.zeros(K), 1.0
    else:
        state.scale *= 1.0 - rho
    coef = rho * total / (n_docs * state.scale)
    cuts = segments(union, bounds)
    try:
        for s in range(len(bounds) - 1):
            shard_tasks._SHARDS[("t", s)] = shard_tasks.Shard(
                int(bounds[s]), int(bounds[s + 1]),
                start.word_topic[bounds[s]:bounds[s + 1]].copy(), 0)
        updates = []
        for s in range(len(bounds) - 1):  # any order: they are independent
            lo, hi = int(cuts[s]), int(cuts[s + 1])
            piece = (np.arange(hi - lo), sstats[lo:hi], None)
            updates.append(shard_tasks.shard_update(
                "t", s, 0, union[lo:hi] - bounds[s], lo, len(union), coef, reset, s == 0,
                piece))
        folds, carry = [updates[0]], updates[0]  # the first shard folded in its update
        for s in range(1, len(bounds) - 1):
            carry = shard_tasks.shard_fold("t", s, 0, updates[s], carry)
            folds.append(carry)
        chunks = sorted((c for r in (*updates, *folds[1:]) for c in r["chunks"]),
                        key=lambda c: c[0])
        assert [i for i, _ in chunks] == list(range(-(-len(union) // CHUNK)))
        for _, chunk in chunks:
            state.topic_sums += chunk
        rows = np.concatenate([shard_tasks.shard_rows_all("t", s)
                               for s in range(len(bounds) - 1)])
    finally:
        shard_tasks.drop_run("t")
    return rows, state.topic_sums, folds[-1]["carry"]["colsum"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rho", [0.3, 1.0])
@pytest.mark.parametrize("bounds", [
    [0, V],  # one shard
    [0, 9_000, V],  # two, one chunk straddling
    [0, 1_000, 1_500, 1_600, 1_600, 14_000, V],  # shards inside one chunk, an empty one
])
def test_parallel_update_then_fold_is_the_in_process_step_bitwise(dtype, rho, bounds):
    rng = np.random.default_rng(5)
    start = GlobalState.initialize(K, V, alpha=np.ones(K), eta=0.01, seed=3, dtype=dtype)
    start.scale = 0.7
    union = np.unique(rng.integers(0, V, 7_000))  # > 2 chunks of words
    sstats = rng.gamma(0.5, 3.0, size=(len(union), K))
    expected = GlobalState(start.word_topic.copy(), start.scale, start.topic_sums.copy(),
                           start.alpha, start.eta, 0, 0)
    natural_gradient_step(expected, union, sstats, batch_n_docs=50, total_samples=900.0,
                          rho=rho)
    bounds = np.asarray(bounds)
    w, sums, colsum = sharded_step(start, bounds, union, sstats, rho, 50, 900.0)
    np.testing.assert_array_equal(w, expected.word_topic)
    np.testing.assert_array_equal(sums, expected.topic_sums)
    np.testing.assert_array_equal(colsum, column_sums(sstats))


def test_an_update_or_fold_run_twice_applies_once():
    start = GlobalState.initialize(K, 100, alpha=np.ones(K), eta=0.01, seed=3)
    shard_tasks._SHARDS[("t", 0)] = shard_tasks.Shard(0, 100, start.word_topic.copy(), 0)
    try:
        piece = (np.arange(3), np.ones((3, K)), None)
        first = shard_tasks.shard_update("t", 0, 0, np.array([1, 5, 9]), 0, 3, 0.5, False,
                                         False, piece)
        after = shard_tasks.shard_rows_all("t", 0)
        again = shard_tasks.shard_update("t", 0, 0, np.array([1, 5, 9]), 0, 3, 0.5, False,
                                         False, piece)
        assert again is first
        np.testing.assert_array_equal(shard_tasks.shard_rows_all("t", 0), after)
        fold = shard_tasks.shard_fold("t", 0, 0, first, None)
        assert shard_tasks.shard_fold("t", 0, 0, first, None) is fold
        with pytest.raises(RuntimeError, match="no update of step 1 to fold"):
            shard_tasks.shard_fold("t", 0, 1, first, None)
    finally:
        shard_tasks.drop_run("t")
