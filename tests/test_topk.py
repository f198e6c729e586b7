"""top_indices: each row's largest entries, equal to a stable argsort (ties to lower id)."""

from __future__ import annotations

import numpy as np
import pytest

from svi_lda.numerics.topk import top_indices


@pytest.mark.parametrize("n", [1, 3, 10, 40, 64, 65, 200, 500])
def test_equals_a_stable_argsort_with_ties(n):
    rng = np.random.default_rng(0)
    # Few distinct values: many ties, also at each row's n-th place.
    values = rng.integers(0, 7, size=(6, 200)).astype(np.float64) / 7
    values[2] = 0.5  # a row of one value
    expected = np.argsort(-values, axis=1, kind="stable")[:, : min(n, 200)]
    got = top_indices(values, n)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_topic_rows_equal_argsort(dtype):
    rng = np.random.default_rng(1)
    topics = rng.dirichlet(np.full(5000, 0.05), size=8).astype(dtype)
    topics[3, ::7] = topics[3].max()  # ties at the top
    np.testing.assert_array_equal(
        top_indices(topics, 25), np.argsort(-topics, axis=1, kind="stable")[:, :25]
    )


def test_empty_and_bad_shapes():
    assert top_indices(np.zeros((3, 4)), 0).shape == (3, 0)
    assert top_indices(np.zeros((0, 4)), 2).shape == (0, 2)
    with pytest.raises(ValueError, match="2-D"):
        top_indices(np.zeros(4), 2)
