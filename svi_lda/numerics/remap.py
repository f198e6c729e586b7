"""A minibatch's own vocabulary: its sorted distinct word ids and each non-zero's row.

``np.unique(indices, return_inverse=True)`` sorts all non-zeros: O(nnz log nnz), about a
tenth of a pass over 20 Newsgroups. A table indexed by word id makes it O(nnz) plus a sort
of the distinct words only. The table is left uninitialised (a "sparse set": an entry is
trusted only if it points back at its word), so nothing here costs O(V): a step stays
flat as the vocabulary grows.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def compact_vocabulary(indices: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``indices`` and the position of each value among them.

    Equivalent to: ``np.unique(indices, return_inverse=True)`` (as int64 arrays), for
    ``indices`` in ``[0, n_features)``.
    """
    table = np.empty(n_features, dtype=np.int64)  # uninitialised on purpose
    # NumPy sorts the distinct words 13x faster than Numba's np.sort (0.09 against 1.19
    # ms for 11,500 ids), so the sort happens between the two compiled passes.
    word_ids = np.sort(_distinct(indices, table))
    return word_ids, _positions(indices, word_ids, table)


@njit(nogil=True, cache=True)
def _distinct(indices, table):
    """The distinct values of ``indices`` in order of first appearance (sparse set)."""
    nnz = indices.shape[0]
    distinct = np.empty(nnz, dtype=np.int64)
    n_distinct = 0
    for j in range(nnz):
        w = indices[j]
        slot = table[w]
        if slot < 0 or slot >= n_distinct or distinct[slot] != w:
            table[w] = n_distinct
            distinct[n_distinct] = w
            n_distinct += 1
    return distinct[:n_distinct]


@njit(nogil=True, cache=True)
def _positions(indices, word_ids, table):
    """Row of ``word_ids`` for each of ``indices`` (``table`` is overwritten)."""
    for i in range(word_ids.shape[0]):
        table[word_ids[i]] = i
    word_index = np.empty(indices.shape[0], dtype=np.int64)
    for j in range(indices.shape[0]):
        word_index[j] = table[indices[j]]
    return word_index
