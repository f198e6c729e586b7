"""merge_pair's fused kernel against the plain NumPy merge it replaced (tests/reference.py):
bitwise, on every field, for float32 and float64 statistics."""

import numpy as np
import pytest
from reference import merge_pair_reference

from svi_lda.numerics.merge import merge_sorted_rows
from svi_lda.step import UnitStats, merge_pair, merge_unit_stats


def _bits(a):
    """The bytes of an array (so -0.0 != 0.0 and NaN == NaN, unlike ==)."""
    a = np.ascontiguousarray(a)
    return a.dtype, a.shape, a.view(np.uint8).tobytes()


def _part(rng, ids, k, dtype, *, counts=True, extras=True, signed=False):
    ids = np.asarray(ids, dtype=np.int64)
    # statistics over many orders of magnitude, so every addition rounds
    values = rng.random((len(ids), k)) * 10.0 ** rng.integers(-6, 6, (len(ids), 1))
    if signed:
        values *= rng.choice([-1.0, 1.0], values.shape)
    return UnitStats(
        word_ids=ids,
        sstats=values.astype(dtype),
        n_docs=int(rng.integers(1, 100)),
        n_tokens=float(rng.random() * 1e4),
        elog_theta_sum=-rng.random(k) * 50,
        theta_sum=rng.random(k) * 20,
        doc_bound=float(-rng.random() * 1e5),
        n_iter=int(rng.integers(1, 1000)),
        word_counts=rng.integers(1, 50, len(ids)).astype(np.float64) if counts else None,
        extras={"extra": rng.random(k), "scalar": float(rng.random())} if extras else {},
    )


def _assert_bitwise(got, expected):
    for name in ("word_ids", "sstats", "elog_theta_sum", "theta_sum"):
        assert _bits(getattr(got, name)) == _bits(getattr(expected, name)), name
    if expected.word_counts is None:
        assert got.word_counts is None
    else:
        assert _bits(got.word_counts) == _bits(expected.word_counts)
    for name in ("n_docs", "n_tokens", "doc_bound", "n_iter"):
        g, e = getattr(got, name), getattr(expected, name)
        assert type(g) is type(e) and _bits(np.array(g)) == _bits(np.array(e)), name
    assert got.extras.keys() == expected.extras.keys()
    for name, value in expected.extras.items():
        assert _bits(np.asarray(got.extras[name])) == _bits(np.asarray(value)), name


def _word_sets(rng, v):
    """Pairs of sorted word sets: random sparse, one or both empty, disjoint, identical,
    nested, interleaved one by one."""
    a = np.sort(rng.choice(v, size=v // 7, replace=False))
    b = np.sort(rng.choice(v, size=v // 3, replace=False))
    evens, odds = np.arange(0, v, 2), np.arange(1, v, 2)
    return {
        "random": (a, b),
        "left empty": (a[:0], b),
        "right empty": (a, b[:0]),
        "both empty": (a[:0], b[:0]),
        "disjoint": (np.arange(0, v // 2), np.arange(v // 2, v)),
        "disjoint, right first": (np.arange(v // 2, v), np.arange(0, v // 2)),
        "identical": (a, a.copy()),
        "nested": (a, np.union1d(a, b)),
        "interleaved": (evens, odds),
        "one word each": (a[:1], a[:1]),
    }


@pytest.mark.parametrize("left_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("right_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merge_pair_is_bitwise_the_plain_numpy_merge(left_dtype, right_dtype, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 40))
    for case, (a, b) in _word_sets(rng, 3000).items():
        left = _part(rng, a, k, left_dtype)
        right = _part(rng, b, k, right_dtype)
        got = merge_pair(left, right)
        assert got.sstats.dtype == np.float64, case
        _assert_bitwise(got, merge_pair_reference(left, right))


@pytest.mark.parametrize("left_counts", [True, False])
@pytest.mark.parametrize("right_counts", [True, False])
def test_word_counts_follow_the_left_part(left_counts, right_counts):
    """Counts are kept when the left part has them (the right's added if it has them)."""
    rng = np.random.default_rng(5)
    left = _part(rng, [1, 4, 7, 9], 3, np.float32, counts=left_counts, extras=False)
    right = _part(rng, [0, 4, 8, 9, 12], 3, np.float64, counts=right_counts, extras=False)
    got = merge_pair(left, right)
    _assert_bitwise(got, merge_pair_reference(left, right))
    assert (got.word_counts is None) == (not left_counts)


def test_signed_zeros_nan_and_inf_are_as_adding_into_zeros():
    """-0.0 on one side becomes +0.0 (0.0 + -0.0), and -0.0 + -0.0 too, as adding into
    float64 zeros gives (a bare copy would keep -0.0): statistics are >= 0, so only an
    exact negative zero could tell, and it does not."""
    k = 4
    nan, inf = np.nan, np.inf
    left = _part(np.random.default_rng(0), [0, 1, 2], k, np.float64, extras=False)
    right = _part(np.random.default_rng(1), [1, 2, 3], k, np.float64, extras=False)
    left.sstats[:] = [[-0.0, 1.0, nan, -0.0], [-0.0, -0.0, inf, 2.0], [1.0, -0.0, -inf, inf]]
    right.sstats[:] = [[-0.0, 0.0, 3.0, -inf], [0.0, -0.0, nan, inf], [-0.0, 5.0, 1.0, -1.0]]
    got = merge_pair(left, right)
    _assert_bitwise(got, merge_pair_reference(left, right))
    assert not np.signbit(got.sstats[0, 0])  # left only: 0.0 + -0.0
    assert not np.signbit(got.sstats[1, 0])  # both: (0.0 + -0.0) + -0.0
    assert not np.signbit(got.sstats[3, 0])  # right only
    assert np.signbit((-0.0) + (-0.0))  # what a merge without the zeros would have given


def test_mixed_id_dtypes_give_the_common_dtype():
    rng = np.random.default_rng(3)
    left = _part(rng, [2, 5, 11], 2, np.float32)
    right = _part(rng, [1, 5], 2, np.float32)
    right.word_ids = right.word_ids.astype(np.int32)
    got = merge_pair(left, right)
    _assert_bitwise(got, merge_pair_reference(left, right))
    assert got.word_ids.dtype == np.int64


def test_merge_unit_stats_over_many_units_is_the_reference_tree():
    rng = np.random.default_rng(7)
    parts = [_part(rng, np.sort(rng.choice(500, size=int(rng.integers(0, 120)), replace=False)),
                   8, np.float32) for _ in range(7)]
    nodes = list(parts)
    while len(nodes) > 1:  # the reduction tree, with the reference merge
        upper = [merge_pair_reference(nodes[i], nodes[i + 1])
                 for i in range(0, len(nodes) - 1, 2)]
        nodes = upper + ([nodes[-1]] if len(nodes) % 2 else [])
    _assert_bitwise(merge_unit_stats(parts), nodes[0])


def test_bad_parts_are_one_line_errors():
    rows = np.ones((3, 2))
    good = np.array([1, 2, 3])
    cases = [
        (np.array([1, 3, 2]), rows, good, rows, "left part's word ids are not strictly"),
        (good, rows, np.array([1, 1, 2]), rows, "right part's word ids are not strictly"),
        (good, np.ones((2, 2)), good, rows, r"left part has 3 word ids for statistics of "
                                            r"shape \(2, 2\)"),
        (good, rows, good, np.ones((3, 5)), "cannot merge statistics of 2 and 5 topics"),
    ]
    for left_ids, left_rows, right_ids, right_rows, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            merge_sorted_rows(left_ids, left_rows, None, right_ids, right_rows, None)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="right part has 3 word ids for 2 word counts"):
        merge_sorted_rows(good, rows, np.ones(3), good, rows, np.ones(2))


def test_non_contiguous_rows():
    """A slice of a larger block (as a shard's segment of a unit's rows) merges the same."""
    rng = np.random.default_rng(9)
    block = rng.random((40, 12)).astype(np.float32)
    ids = np.arange(0, 80, 2)
    got = merge_sorted_rows(ids[::2], block[::2, ::3], None, ids[1::2], block[1::2, ::3], None)
    expected = np.zeros((40, 4))
    expected[0::2] += block[::2, ::3]
    expected[1::2] += block[1::2, ::3]
    assert _bits(got[1]) == _bits(expected)
    np.testing.assert_array_equal(got[0], ids)


def _dense_tree_sum(slices, n, k):
    """The sharded update's tree sum as it was: each unit's rows spread over float64
    zeros of the whole segment, the dense blocks added pairwise along the tree."""
    nodes = []
    for positions, rows, _ in slices:
        dense = np.zeros((n, k))
        dense[positions] += rows
        nodes.append(dense)
    while len(nodes) > 1:
        upper = [nodes[i] + nodes[i + 1] for i in range(0, len(nodes) - 1, 2)]
        nodes = upper + ([nodes[-1]] if len(nodes) % 2 else [])
    return nodes[0] if nodes else np.zeros((n, k))


@pytest.mark.parametrize("n_units", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sharded_tree_sum_is_the_dense_tree_sum(n_units, dtype):
    """The sharded update sums a segment's units with the merge kernel over their rows
    and spreads only the root: bitwise the dense sum it replaced, -0.0 included."""
    from svi_lda.distributed.sharded.shard_tasks import _tree_sum

    rng = np.random.default_rng(n_units)
    n, k = 300, 5
    slices = []
    for _ in range(n_units):
        positions = np.sort(rng.choice(n, size=int(rng.integers(0, 200)), replace=False))
        rows = rng.random((len(positions), k)) * 10.0 ** rng.integers(-5, 5, (len(positions), 1))
        rows[rng.random(rows.shape) < 0.1] = -0.0
        slices.append((positions, rows.astype(dtype), None))
    got = _tree_sum(tuple(slices), n, k)
    assert _bits(got) == _bits(_dense_tree_sum(slices, n, k))
