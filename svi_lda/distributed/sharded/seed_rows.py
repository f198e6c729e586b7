"""Seeding's increment (``init="documents"``) kept sparse, for sharded training.

:func:`svi_lda.seeding.seed_increment` returns a dense (seed words x K) block: at K=1000
the seed documents (3 per topic) can hold hundreds of thousands of words, gigabytes in
float64, more than a sharded coordinator should hold. Here the same values are kept as
their non-zero entries, and densified a block of words at a time where the in-process
kernel must run on them (:func:`svi_lda.state._lazy_add`), so every value and every sum
is bitwise the in-process one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from svi_lda.seeding import SEED_WEIGHT, SeedDocuments
from svi_lda.state import _lazy_add

# Words densified at a time (x K x 8 bytes: 16 MiB at K=1000).
BLOCK_WORDS = 2048


@dataclass(frozen=True)
class SparseIncrement:
    """Non-zero entries of seeding's increment, sorted by word then topic.

    Attributes
    ----------
    word_ids : ndarray of int64, shape (n,)
        Sorted distinct words with entries.
    rows, topics : ndarray of int64, shape (nnz,)
        Each entry's row of ``word_ids`` and its topic.
    values : ndarray of float64, shape (nnz,)
    n_components : int
    """

    word_ids: np.ndarray
    rows: np.ndarray
    topics: np.ndarray
    values: np.ndarray
    n_components: int

    def restrict(self, lo: int, hi: int) -> SparseIncrement:
        """The entries of words ``lo <= id < hi``, their ids made relative to ``lo``."""
        w0, w1 = np.searchsorted(self.word_ids, [lo, hi])
        e0, e1 = np.searchsorted(self.rows, [w0, w1])
        return SparseIncrement(
            self.word_ids[w0:w1] - lo, self.rows[e0:e1] - w0, self.topics[e0:e1],
            self.values[e0:e1], self.n_components,
        )

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(word ids, dense rows) for consecutive blocks of :data:`BLOCK_WORDS` words."""
        for start in range(0, len(self.word_ids), BLOCK_WORDS):
            stop = min(len(self.word_ids), start + BLOCK_WORDS)
            e0, e1 = np.searchsorted(self.rows, [start, stop])
            dense = np.zeros((stop - start, self.n_components))
            dense[self.rows[e0:e1] - start, self.topics[e0:e1]] = self.values[e0:e1]
            yield self.word_ids[start:stop], dense


def sparse_seed_increment(docs: SeedDocuments, n_components: int) -> SparseIncrement:
    """:func:`svi_lda.seeding.seed_increment`'s values as non-zero entries.

    An entry sums its documents' ``SEED_WEIGHT * count`` in rank order, from zero, as the
    dense version adds them.
    """
    n_docs = len(docs.doc_ids)
    ranks = np.repeat(np.arange(n_docs), np.diff(docs.indptr))
    words = np.asarray(docs.indices, dtype=np.int64)
    topics = ranks % n_components
    values = SEED_WEIGHT * np.asarray(docs.counts, dtype=np.float64)
    keys = words * n_components + topics
    order = np.argsort(keys, kind="stable")  # ties stay in rank order
    keys, values = keys[order], values[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    rank_in_group = np.arange(len(keys)) - starts[group]
    summed = np.zeros(len(starts))
    for j in range(int(rank_in_group.max(initial=-1)) + 1):  # 1st, 2nd, ... of each entry
        take = rank_in_group == j
        summed[group[take]] += values[take]
    unique_keys = keys[starts]
    entry_words = unique_keys // n_components
    word_ids, rows = np.unique(entry_words, return_inverse=True)
    return SparseIncrement(word_ids, rows.astype(np.int64), unique_keys % n_components,
                           summed, n_components)


def lazy_add_sparse(word_topic: np.ndarray, increment: SparseIncrement, coef: float,
                    sums: np.ndarray) -> None:
    """``GlobalState.add_to_lambda``'s kernel over ``increment``, block by block: W rows
    (ids relative to ``word_topic``) get ``coef * increment`` and ``sums`` the per-topic
    sums, accumulated word by word in order exactly as one call over all words."""
    for word_ids, dense in increment.blocks():
        _lazy_add(word_topic, word_ids, dense, coef, sums, 0, len(word_ids))


def increment_sums(increment: SparseIncrement, coef: float) -> np.ndarray:
    """The per-topic sums seeding adds to ``topic_sums`` (no W needed)."""
    sums = np.zeros(increment.n_components)
    for _, dense in increment.blocks():
        scratch = np.zeros_like(dense)
        _lazy_add(scratch, np.arange(len(dense)), dense, coef, sums, 0, len(dense))
    return sums
