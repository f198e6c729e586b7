"""Held-out log predictive of a unit's documents under their folded-in topic mixes.

One pass over the non-zeros, K multiply-adds each: the NumPy form (gather ``theta`` rows
and topic columns per non-zero, then ``einsum``) spent most of its time copying those
gathers, about a fifth of a whole evaluation pass on 20 Newsgroups.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def heldout_log_predictive(indptr, word_index, word_topics, theta, heldout):
    """(sum of ``heldout[j] * log sum_k theta[d, k] word_topics[word_index[j], k]``, sum of
    ``heldout``) over the non-zeros ``j`` of each document ``d`` with ``heldout[j] > 0``.

    ``word_topics`` is (n_words, K): row ``i`` holds beta_k of the unit's i-th word for
    every topic k; ``word_index[j]`` is non-zero j's row in it. Sums run in non-zero order.
    """
    n_topics = theta.shape[1]
    total = 0.0
    tokens = 0.0
    for d in range(indptr.shape[0] - 1):
        for j in range(indptr[d], indptr[d + 1]):
            weight = heldout[j]
            if weight <= 0:
                continue
            row = word_index[j]
            p = 0.0
            for k in range(n_topics):
                p += theta[d, k] * word_topics[row, k]
            total += weight * np.log(p)
            tokens += weight
    return total, tokens
