"""The coordinator's per-step bookkeeping of words (pure functions, no cluster)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda.distributed.placement import union_of, words_by_worker


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


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), unique=True, min_size=1), min_size=1, max_size=6),
       st.data())
def test_each_worker_gets_rows_for_exactly_its_units_words(lists, data):
    arrays = [np.array(sorted(x)) for x in lists]
    union, positions = union_of(arrays, 41)
    workers = [data.draw(st.sampled_from(["a", "b", None])) for _ in arrays]
    worker_words, word_rows = words_by_worker(positions, workers, len(union))
    for w in set(workers):
        mine = [p for p, u in zip(positions, workers, strict=True) if u == w]
        np.testing.assert_array_equal(worker_words[w], np.unique(np.concatenate(mine)))
    for p, w, rows in zip(positions, workers, word_rows, strict=True):
        np.testing.assert_array_equal(worker_words[w][rows], p)
