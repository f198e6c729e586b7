"""The largest entries of each row of a matrix, without sorting whole rows.

A stable ``argsort`` of every topic's V probabilities costs O(K V log V): 37 ms for 20
topics over the 21,392 words of 20 Newsgroups, more than the coherence counting it serves.
One pass per row keeping the best n so far costs O(V) when n is small (a new entry enters
only if it beats the n-th best).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MAX_KEPT = 64  # beyond this, insertion into the kept list costs more than a sort


def top_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Column ids of each row's ``n`` largest values, largest first, shape (rows, n).

    Equivalent to ``np.argsort(-values, axis=1, kind="stable")[:, :n]`` (ties go to the
    lower column id) for finite values; ``n`` is cut to the number of columns.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"top_indices needs a 2-D array; got shape {values.shape}")
    n_rows, n_cols = values.shape
    n = max(0, min(int(n), n_cols))
    if n == 0 or n_rows == 0:
        return np.empty((n_rows, n), dtype=np.int64)
    if n > _MAX_KEPT or values.dtype.kind != "f":
        return np.argsort(-values, axis=1, kind="stable")[:, :n].astype(np.int64)
    out = np.empty((n_rows, n), dtype=np.int64)
    _top_rows(np.ascontiguousarray(values), out)
    return out


@njit(nogil=True, cache=True)
def _top_rows(values, out):
    """Fill ``out[r]`` with row r's ``out.shape[1]`` largest, largest first, ties by id."""
    n = out.shape[1]
    kept = np.empty(n, dtype=values.dtype)
    for r in range(values.shape[0]):
        size = 0
        for j in range(values.shape[1]):
            v = values[r, j]
            if size == n and not v > kept[n - 1]:
                continue  # an equal value came later: the lower id stays ahead
            p = size if size < n else n - 1
            # Shift down the kept entries smaller than v (strictly: ties keep their place).
            while p > 0 and kept[p - 1] < v:
                kept[p] = kept[p - 1]
                out[r, p] = out[r, p - 1]
                p -= 1
            kept[p] = v
            out[r, p] = j
            if size < n:
                size += 1
