"""The rows of one node of the reduction tree: two parts' statistics over the union of
their sorted word ids, in one pass over the output.

The plain way (``np.union1d``, float64 zeros over the union, two ``searchsorted`` and two
row additions) passes over the K x union block four times; at 20,000 words x K=100 that
is 16 MB each time. Here a two-pointer walk over the two sorted id lists writes each
output row once: ``0.0 + a``, ``0.0 + b`` or ``(0.0 + a) + b``, widened to float64. Those
are exactly the additions the plain way makes, in the same order, so the result is
bitwise the same (the ``0.0 +`` is kept: it turns a -0.0 into +0.0, as adding into zeros
does). The GIL is free while it runs (Dask runs merges on worker threads).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# What the walk does with the word counts: none (the left part has none, so the plain
# way's result has none), the left part's only, or both parts'.
_NO_COUNTS, _LEFT_COUNTS, _BOTH_COUNTS = 0, 1, 2


def merge_sorted_rows(
    left_ids: np.ndarray,
    left_rows: np.ndarray,
    left_counts: np.ndarray | None,
    right_ids: np.ndarray,
    right_rows: np.ndarray,
    right_counts: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``left + right`` over the union of their words: (union ids, rows, counts).

    Parameters
    ----------
    left_ids, right_ids : ndarray of int, shape (n,) and (m,)
        Strictly increasing word ids.
    left_rows, right_rows : ndarray of float32 or float64, shape (n, K) and (m, K)
        Each word's row (statistics), C-contiguous or not.
    left_counts, right_counts : ndarray of float64, shape (n,) and (m,), or None
        Each word's count. The result has counts when ``left_counts`` has (a word the
        right part lacks counts, or all of the right part's when it has none, add zero).

    Returns
    -------
    ids : ndarray, shape (u,)
        The sorted union, of the ids' common dtype (as ``np.union1d``).
    rows : ndarray of float64, shape (u, K)
    counts : ndarray of float64, shape (u,), or None

    Raises
    ------
    ValueError
        Shapes that do not fit, or ids that are not strictly increasing (the message
        says which side).
    """
    left_ids, right_ids = np.asarray(left_ids), np.asarray(right_ids)
    for side, ids, rows, counts in (("left", left_ids, left_rows, left_counts),
                                    ("right", right_ids, right_rows, right_counts)):
        if rows.ndim != 2 or ids.ndim != 1 or rows.shape[0] != ids.shape[0]:
            raise ValueError(f"the {side} part has {ids.shape[0]} word ids for statistics "
                             f"of shape {rows.shape}")
        if counts is not None and counts.shape != ids.shape:
            raise ValueError(f"the {side} part has {ids.shape[0]} word ids for "
                             f"{counts.shape[0]} word counts")
    if left_rows.shape[1] != right_rows.shape[1]:
        raise ValueError(f"cannot merge statistics of {left_rows.shape[1]} and "
                         f"{right_rows.shape[1]} topics")
    size = _union_size(left_ids, right_ids)
    if size < 0:
        side = "left" if size == -1 else "right"
        raise ValueError(f"the {side} part's word ids are not strictly increasing "
                         "(sorted and unique, as unit_vocabulary returns them)")
    ids = np.empty(size, dtype=np.result_type(left_ids.dtype, right_ids.dtype))
    rows = np.empty((size, left_rows.shape[1]), dtype=np.float64)
    if left_counts is None:
        mode, counts = _NO_COUNTS, None
    else:
        mode = _LEFT_COUNTS if right_counts is None else _BOTH_COUNTS
        counts = np.empty(size, dtype=np.float64)
    no_counts = np.empty(0, dtype=np.float64)
    _merge_rows(
        left_ids, left_rows, no_counts if left_counts is None else left_counts,
        right_ids, right_rows, no_counts if right_counts is None else right_counts,
        mode, ids, rows, no_counts if counts is None else counts,
    )
    return ids, rows, counts


@njit(nogil=True, cache=True)
def _union_size(a, b):
    """Size of the union of sorted ``a`` and ``b``; -1 / -2 if ``a`` / ``b`` is not
    strictly increasing."""
    for i in range(1, a.shape[0]):
        if a[i] <= a[i - 1]:
            return -1
    for j in range(1, b.shape[0]):
        if b[j] <= b[j - 1]:
            return -2
    i = j = n = 0
    while i < a.shape[0] and j < b.shape[0]:
        if a[i] < b[j]:
            i += 1
        elif b[j] < a[i]:
            j += 1
        else:
            i += 1
            j += 1
        n += 1
    return n + (a.shape[0] - i) + (b.shape[0] - j)


@njit(nogil=True, cache=True)
def _merge_rows(a_ids, a_rows, a_counts, b_ids, b_rows, b_counts, mode, out_ids, out_rows,
                out_counts):
    # No fastmath: "0.0 + x" must stay (it maps -0.0 to +0.0), and each element gets the
    # plain way's IEEE additions in its order: zeros + left, then + right.
    na, nb = a_ids.shape[0], b_ids.shape[0]
    n_topics = out_rows.shape[1]
    i = j = 0
    for o in range(out_ids.shape[0]):
        take_a = j >= nb or (i < na and a_ids[i] <= b_ids[j])
        take_b = i >= na or (j < nb and b_ids[j] <= a_ids[i])
        row = out_rows[o]
        if take_a and take_b:
            out_ids[o] = a_ids[i]
            src_a, src_b = a_rows[i], b_rows[j]
            for k in range(n_topics):
                row[k] = (0.0 + src_a[k]) + src_b[k]
            if mode == 2:
                out_counts[o] = (0.0 + a_counts[i]) + b_counts[j]
            elif mode == 1:
                out_counts[o] = 0.0 + a_counts[i]
            i += 1
            j += 1
        elif take_a:
            out_ids[o] = a_ids[i]
            src_a = a_rows[i]
            for k in range(n_topics):
                row[k] = 0.0 + src_a[k]
            if mode != 0:
                out_counts[o] = 0.0 + a_counts[i]
            i += 1
        else:
            out_ids[o] = b_ids[j]
            src_b = b_rows[j]
            for k in range(n_topics):
                row[k] = 0.0 + src_b[k]
            if mode == 2:
                out_counts[o] = 0.0 + b_counts[j]
            elif mode == 1:
                out_counts[o] = 0.0
            j += 1
