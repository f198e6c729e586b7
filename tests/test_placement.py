"""The coordinator's per-step bookkeeping of words (pure functions, no cluster)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda.distributed.placement import union_of


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 60), unique=True), max_size=6), st.integers(61, 200))
def test_union_of_is_unique_and_searchsorted(lists, bound):
    arrays = [np.array(sorted(x), dtype=np.int32) for x in lists]
    union, where = union_of(arrays, bound)
    expected = np.unique(np.concatenate(arrays)) if arrays else np.zeros(0)
    np.testing.assert_array_equal(union, expected)
    assert len(where) == len(arrays)
    for a, w in zip(arrays, where, strict=True):
        np.testing.assert_array_equal(w, np.searchsorted(expected, a))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_local_step_from_the_union_is_bitwise_the_local_step_on_its_rows(seed):
    """A worker finds a unit's rows in the block of the whole minibatch's union: the same
    statistics, bitwise, as from the unit's own rows."""
    from svi_lda.batch import Batch
    from svi_lda.distributed.tasks import PreparedUnit, union_local_step_task
    from svi_lda.methods import get_method
    from svi_lda.state import GlobalState
    from svi_lda.step import EStepSettings, estep_unit, unit_vocabulary
    from svi_lda.synthetic import make_lda_corpus

    rng = np.random.default_rng(seed)
    X = make_lda_corpus(12, 60, 3, doc_length=15, seed=seed % 1000).X
    batch = Batch.from_csr(X)
    ids, index = unit_vocabulary(batch)
    union = np.unique(np.concatenate([ids, rng.choice(60, 20)]))
    state = GlobalState.initialize(3, 60, alpha=np.full(3, 0.3), eta=0.1, seed=seed % 1000,
                                   dtype=("float32", "float64")[seed % 2])
    rows, shift = state.exp_elog_beta_rows(union)
    positions = np.searchsorted(union, ids)
    settings_ = EStepSettings(seed=1)
    got = union_local_step_task(
        get_method("online").name, PreparedUnit("u", batch, ids, index),
        (rows, shift, union.astype(np.int32)), state.alpha, settings_,
    )
    want, _ = estep_unit(batch, index, ids, rows[positions], shift[positions], state.alpha,
                         settings_)
    np.testing.assert_array_equal(got.sstats, want.sstats)
    assert got.doc_bound == want.doc_bound


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**31 + 5), unique=True), min_size=2, max_size=7))
def test_union_of_words_on_the_workers_tree_is_the_union(lists):
    """The tree of union_word_ids tasks (as the engine builds it) gives the sorted
    distinct words of all units: the coordinator gathers this one array."""
    from svi_lda.batch import Batch
    from svi_lda.distributed.tasks import PreparedUnit, union_word_ids
    from svi_lda.step import reduction_tree

    empty = Batch(np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32),
                  np.zeros(0, np.int64), 2**31 + 6)
    nodes = [PreparedUnit("u", empty, np.array(sorted(x), dtype=np.int64), np.zeros(0))
             for x in lists]
    for level in reduction_tree(len(nodes)):
        upper = [union_word_ids(nodes[i], nodes[j]) for i, j in level]
        nodes = upper + nodes[len(upper) * 2:]
    expected = np.unique(np.concatenate([np.array(x, dtype=np.int64) for x in lists]))
    np.testing.assert_array_equal(nodes[0], expected)
    if expected.size:  # int32 on the wire when the ids fit
        assert nodes[0].dtype == (np.int32 if expected[-1] < 2**31 else np.int64)


def test_rows_are_copied_down_a_binary_tree_one_copy_per_worker():
    """add_broadcast: copy i is made on targets[i] from copy (i - 1) // 2, so every
    worker receives the rows once and sends them at most twice, and the graph grows with
    the workers (not with their square)."""
    from svi_lda.distributed.graphs import GraphBuilder
    from svi_lda.distributed.rows import add_broadcast

    graph = GraphBuilder()
    targets = [f"w{i}" for i in range(7)]
    root = graph.add("block", tuple, [1, 2])
    copies = add_broadcast(graph, root, targets, key="r")
    assert copies[0] is root and len(copies) == 7 and len(graph) == 7
    for i in range(1, 7):
        (task,) = graph.layers[targets[i]].values()  # made on its own worker
        assert task.key == copies[i].key
        assert task.dependencies == {copies[(i - 1) // 2].key}
    senders = [(i - 1) // 2 for i in range(1, 7)]
    assert max(senders.count(j) for j in range(7)) == 2
