"""Counting documents in which each topic's top words occur, alone and in pairs.

Topic coherence (NPMI, UMass) needs, for each topic k and each pair of its top words,
the number of documents holding both. Counting only those pairs keeps memory at
K x T x T for T top words, instead of a V x V co-occurrence matrix. Counts are integers,
so per-unit tables add up to the same total in any order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from svi_lda.numerics.hashing import splitmix64_one


def top_word_members(top: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Index from word to the (topic, rank) places it holds in ``top`` (K, T).

    Returns ``(slot, member_ptr, member_topic, member_rank)``: ``slot[w]`` is -1 for a
    word in no topic's top words, else its row i in the member lists, whose places are
    ``member_topic[member_ptr[i]:member_ptr[i + 1]]`` and ``member_rank[...]``. ``slot``
    stops at the largest top word (at most V int32: far less than the K x V topics). A
    word appears at most once per topic.
    """
    top = np.asarray(top, dtype=np.int64)
    n_topics, n_top = top.shape
    flat = top.ravel()
    order = np.argsort(flat, kind="stable")
    words, starts = np.unique(flat[order], return_index=True)
    member_ptr = np.append(starts, len(flat)).astype(np.int64)
    member_topic = (order // n_top).astype(np.int64)
    member_rank = (order % n_top).astype(np.int64)
    slot = np.full(int(words[-1]) + 1 if len(words) else 0, -1, dtype=np.int32)
    slot[words] = np.arange(len(words), dtype=np.int32)
    return slot, member_ptr, member_topic, member_rank


@njit(nogil=True, cache=True)
def count_top_word_documents(
    indptr, indices, slot, member_ptr, member_topic, member_rank, counts
):
    """Add each document's top-word occurrences into ``counts`` (K, T, T), int64.

    ``counts[k, i, i]`` gains 1 for each document holding topic k's i-th top word, and
    ``counts[k, i, j]`` (both orders) for each document holding its i-th and j-th.
    ``indices`` of a document must be unique (a bag of words); ``slot`` etc. come from
    :func:`top_word_members`.

    Equivalent to: ``P = (X[:, top[k]] > 0); counts[k] += P.T @ P`` for every topic k.
    """
    n_topics, n_top = counts.shape[0], counts.shape[1]
    held = np.empty((n_topics, n_top), dtype=np.int64)
    n_held = np.zeros(n_topics, dtype=np.int64)
    touched = np.empty(n_topics, dtype=np.int64)
    n_slots = slot.shape[0]
    for d in range(indptr.shape[0] - 1):
        n_touched = 0
        for j in range(indptr[d], indptr[d + 1]):
            w = indices[j]
            if w >= n_slots:
                continue
            i = slot[w]
            if i < 0:
                continue
            for m in range(member_ptr[i], member_ptr[i + 1]):
                k = member_topic[m]
                if n_held[k] == 0:
                    touched[n_touched] = k
                    n_touched += 1
                held[k, n_held[k]] = member_rank[m]
                n_held[k] += 1
        for t in range(n_touched):
            k = touched[t]
            for a in range(n_held[k]):
                ra = held[k, a]
                counts[k, ra, ra] += 1
                for b in range(a + 1, n_held[k]):
                    rb = held[k, b]
                    counts[k, ra, rb] += 1
                    counts[k, rb, ra] += 1
            n_held[k] = 0


@njit(nogil=True, cache=True)
def split_counts(indptr, indices, counts, doc_ids, seed_key, observed):
    """Split each document's tokens into an observed and a held-out part by a hash.

    Token ``i`` of word ``w`` in document ``doc`` is observed when the top bit of
    ``splitmix64(splitmix64(splitmix64(doc ^ seed_key) + w) + i)`` is 0: a fair coin per
    token that depends only on (seed, document id, word, i), not on how documents are
    grouped into units or workers. ``observed[j]`` receives the observed count of non-zero
    ``j`` (the held-out count is ``counts[j] - observed[j]``).
    """
    for d in range(indptr.shape[0] - 1):
        doc_key = splitmix64_one(np.uint64(doc_ids[d]) ^ seed_key)
        for j in range(indptr[d], indptr[d + 1]):
            word_key = splitmix64_one(doc_key + np.uint64(indices[j]))
            c = np.int64(counts[j])
            kept = 0
            for i in range(c):
                if (splitmix64_one(word_key + np.uint64(i)) >> np.uint64(63)) == np.uint64(0):
                    kept += 1
            observed[j] = kept
