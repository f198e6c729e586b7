"""The minibatch vocabulary remap against np.unique."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda.numerics.remap import compact_vocabulary


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 3000), st.integers(1, 10**6),
       st.sampled_from([np.int32, np.int64]))
def test_compact_vocabulary_equals_unique_with_inverse(seed, nnz, n_features, dtype):
    rng = np.random.default_rng(seed)
    # Few distinct words and many repeats, or mostly distinct ones.
    pool = rng.choice(n_features, size=min(n_features, int(rng.integers(1, 500))),
                      replace=False)
    indices = (pool[rng.integers(0, len(pool), size=nnz)] if rng.random() < 0.5
               else rng.integers(0, n_features, size=nnz)).astype(dtype)
    word_ids, word_index = compact_vocabulary(indices, n_features)
    expected_ids, expected_index = np.unique(indices, return_inverse=True)
    np.testing.assert_array_equal(word_ids, expected_ids)
    np.testing.assert_array_equal(word_index, expected_index)
    assert word_ids.dtype == np.int64 and word_index.dtype == np.int64


def test_compact_vocabulary_ignores_stale_table_contents():
    # The table is uninitialised; whatever it holds must not fake membership. Run twice on
    # inputs built to collide with entries an earlier call left behind.
    a = np.array([5, 3, 5, 9], dtype=np.int64)
    b = np.array([9, 3, 7, 7, 3], dtype=np.int64)
    for _ in range(50):
        for x in (a, b):
            ids, index = compact_vocabulary(x, 10)
            np.testing.assert_array_equal(ids[index], x)
            np.testing.assert_array_equal(ids, np.unique(x))
