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


@njit(nogil=True, cache=True)
def compact_vocabulary(indices, n_features):
    """Sorted distinct values of ``indices`` and the position of each value among them.

    Equivalent to: ``np.unique(indices, return_inverse=True)`` (as int64 arrays), for
    ``indices`` in ``[0, n_features)``.
    """
    nnz = indices.shape[0]
    table = np.empty(n_features, dtype=np.int64)  # uninitialised on purpose
    distinct = np.empty(nnz, dtype=np.int64)
    n_distinct = 0
    for j in range(nnz):
        w = indices[j]
        slot = table[w]
        if slot < 0 or slot >= n_distinct or distinct[slot] != w:
            table[w] = n_distinct
            distinct[n_distinct] = w
            n_distinct += 1
    word_ids = np.sort(distinct[:n_distinct])
    for i in range(n_distinct):
        table[word_ids[i]] = i
    word_index = np.empty(nnz, dtype=np.int64)
    for j in range(nnz):
        word_index[j] = table[indices[j]]
    return word_ids, word_index
