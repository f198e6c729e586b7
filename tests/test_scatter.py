import numpy as np
import pytest

from svi_lda.numerics.scatter import add_rows


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
