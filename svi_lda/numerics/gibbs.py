"""Collapsed Gibbs sampling for LDA (Griffiths & Steyvers 2004): the sweep kernel.

Each token i (document d, word w) holds a topic z_i. A sweep visits the tokens in order;
for each it removes the token from the counts, draws a new topic from

    p(z_i = k | rest)  proportional to  (n_dk + alpha_k) * (n_wk + eta) / (n_k + V eta)

by inverse CDF, and adds it back. The uniform of token i in sweep s is a hash of
(seed, s, i) (:func:`hashed_uniform`): no random generator lives in the kernel, and the
chain is the same on any machine for a given seed. Counts are integers, so they are exact.
Sweeps are sequential (each draw sees every earlier one).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from svi_lda._config import FASTMATH_FLAGS
from svi_lda.numerics.hashing import splitmix64_one


@njit(nogil=True, cache=True, inline="always")
def hashed_uniform(sweep_key, i):
    """Uniform on [0, 1): the top 53 bits of ``splitmix64(sweep_key + i)`` over 2**53."""
    return np.float64(splitmix64_one(sweep_key + np.uint64(i)) >> np.uint64(11)) * 2.0**-53


@njit(nogil=True, cache=True)
def gibbs_initialize(docs, words, sweep_key, z, doc_topic, word_topic, topic_totals):
    """Start each token at topic ``floor(u * K)`` (u hashed as in a sweep) and count.

    Equivalent to: ``z = floor(hashed_uniform(key, arange(n)) * K)``; the counts
    ``doc_topic[d, k]``, ``word_topic[w, k]``, ``topic_totals[k]`` of tokens in topic k.
    The counts must be zero on entry.
    """
    n_topics = topic_totals.shape[0]
    for i in range(docs.shape[0]):
        k = min(np.int64(hashed_uniform(sweep_key, i) * n_topics), n_topics - 1)
        z[i] = k
        doc_topic[docs[i], k] += 1
        word_topic[words[i], k] += 1
        topic_totals[k] += 1


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS)
def gibbs_sweep(docs, words, sweep_key, alpha, eta, z, doc_topic, word_topic, topic_totals):
    """One collapsed Gibbs sweep over all tokens in order, in place (module docstring).

    ``docs``/``words`` give each token's document and word; ``z`` its topic. Counts are
    int64: ``doc_topic`` (D, K), ``word_topic`` (V, K), ``topic_totals`` (K,).
    """
    n_topics = topic_totals.shape[0]
    v_eta = word_topic.shape[0] * eta
    cdf = np.empty(n_topics, dtype=np.float64)
    for i in range(docs.shape[0]):
        d = docs[i]
        w = words[i]
        old = z[i]
        doc_topic[d, old] -= 1
        word_topic[w, old] -= 1
        topic_totals[old] -= 1
        total = 0.0
        for k in range(n_topics):
            total += (
                (doc_topic[d, k] + alpha[k]) * (word_topic[w, k] + eta)
                / (topic_totals[k] + v_eta)
            )
            cdf[k] = total
        u = hashed_uniform(sweep_key, i) * total
        new = n_topics - 1
        for k in range(n_topics):
            if u < cdf[k]:
                new = k
                break
        z[i] = new
        doc_topic[d, new] += 1
        word_topic[w, new] += 1
        topic_totals[new] += 1
