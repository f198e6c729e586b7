import numpy as np
import pytest

from svi_lda.numerics.scatter import add_rows, column_sums, weighted_bincount


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_add_rows_is_bitwise_numpy_fancy_add(dtype, seed):
    rng = np.random.default_rng(seed)
    target = rng.standard_normal((500, 7)) * 10.0 ** rng.integers(-8, 8, (500, 1))
    rows = rng.choice(500, size=200, replace=False)
    values = (rng.standard_normal((200, 7)) * 1e3).astype(dtype)
    expected = target.copy()
    expected[rows] += values
    add_rows(target, rows, values)
    assert np.array_equal(target, expected)  # bitwise, not approximately


def test_add_rows_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not fit"):
        add_rows(np.zeros((4, 3)), np.array([0, 1]), np.zeros((2, 4)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_column_sums_are_row_by_row_float64_sums(dtype):
    rng = np.random.default_rng(2)
    values = (rng.standard_normal((300, 5)) * 10.0 ** rng.integers(-6, 6, (300, 1))).astype(
        dtype
    )
    expected = np.zeros(5)
    for row in values.astype(np.float64):  # the plain definition, in the same order
        expected += row
    assert np.array_equal(column_sums(values), expected)
    assert column_sums(np.zeros((0, 3))).tolist() == [0.0, 0.0, 0.0]


def test_weighted_bincount_is_numpy_bincount():
    rng = np.random.default_rng(3)
    index = rng.integers(0, 50, 1000)
    weights = rng.random(1000) * 7
    assert np.array_equal(weighted_bincount(index, weights, 60),
                          np.bincount(index, weights=weights, minlength=60))
