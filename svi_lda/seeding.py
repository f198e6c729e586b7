"""Topics started from documents: each topic's lambda begins with a few documents' counts.

A random start leaves the K topics nearly alike, and the first minibatches then decide
which topics survive: some merge, others starve and end as mixtures of rare words from
unrelated documents. Adding a few documents' word counts to each topic first gives every
topic its own starting point (as k-means is started from data points). Measured on 20
Newsgroups, K=100, one pass with the default priors (``benchmarks/bench_20ng.py``):
held-out perplexity 3,649 -> 3,522, NPMI -0.246 -> -0.169, and 16.9 -> 14.4 gamma updates
per document (topics that differ converge sooner). On planted 5-topic corpora (2,000
documents, 6 passes, seeds 0 to 11): 4.8 instead of 3.7 of 5 topics recovered on average,
all 5 in 11 of 12 seeds.

Which documents: among the first minibatch's non-empty documents, the
``DOCS_PER_TOPIC * K`` whose hash of (seed, document id) is smallest, in hash order; the
document of rank r goes to topic ``r % K``, and ``SEED_WEIGHT`` times its counts are
added to that topic's lambda. Being a pure function of the seed and the document ids, the
choice and the numbers added are the same in process and on a Dask cluster, where each
worker proposes its own unit's candidates (:func:`seed_candidates`) and the coordinator
keeps the smallest (:func:`merge_candidates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svi_lda.batch import Batch
from svi_lda.numerics.hashing import splitmix64
from svi_lda.state import GlobalState

# Documents per topic and the weight of their counts. A sweep on 20 Newsgroups (K = 20 and
# 100) and planted corpora: 1 to 10 documents all help; 3 with weight 10 was best overall.
DOCS_PER_TOPIC = 3
SEED_WEIGHT = 10.0
# Mixed into the seed so the choice of documents is not correlated with initial gamma.
_SALT = np.uint64(0x5EED_D0C5)


@dataclass(frozen=True)
class SeedDocuments:
    """Candidate documents for seeding, in increasing ``(key, doc_id)`` order (CSR)."""

    keys: np.ndarray  # uint64, shape (n,)
    doc_ids: np.ndarray  # int64, shape (n,)
    indptr: np.ndarray  # int64, shape (n + 1,), starting at 0
    indices: np.ndarray  # int64, shape (nnz,)
    counts: np.ndarray  # float64, shape (nnz,)


def document_keys(doc_ids: np.ndarray, seed: int) -> np.ndarray:
    """The hash that orders documents for seeding: a pure function of (seed, doc id)."""
    seed_key = splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) ^ _SALT)
    return splitmix64(np.asarray(doc_ids).astype(np.uint64) ^ seed_key)


def seed_candidates(batch: Batch, seed: int, n_pick: int) -> SeedDocuments:
    """The ``n_pick`` non-empty documents of ``batch`` with the smallest keys.

    Whatever the minibatch's split into units, its ``n_pick`` smallest documents are among
    the union of each unit's ``n_pick`` smallest, so workers can propose candidates alone.
    """
    indptr = np.asarray(batch.indptr, dtype=np.int64)
    start, stop = int(indptr[0]), int(indptr[-1])
    doc_ids = np.asarray(batch.doc_ids, dtype=np.int64)
    every = SeedDocuments(
        keys=document_keys(doc_ids, seed),
        doc_ids=doc_ids,
        indptr=indptr - start,
        indices=np.asarray(batch.indices[start:stop], dtype=np.int64),
        counts=np.asarray(batch.counts[start:stop], dtype=np.float64),
    )
    return _smallest(every, n_pick)


def merge_candidates(parts: Sequence[SeedDocuments], n_pick: int) -> SeedDocuments:
    """The ``n_pick`` smallest documents among several units' candidates."""
    offsets = np.cumsum([0] + [int(p.indptr[-1]) for p in parts])
    union = SeedDocuments(
        keys=np.concatenate([p.keys for p in parts]),
        doc_ids=np.concatenate([p.doc_ids for p in parts]),
        indptr=np.concatenate(
            [[0]] + [p.indptr[1:] + off for p, off in zip(parts, offsets[:-1], strict=True)]
        ).astype(np.int64),
        indices=np.concatenate([p.indices for p in parts]),
        counts=np.concatenate([p.counts for p in parts]),
    )
    return _smallest(union, n_pick)


def _smallest(docs: SeedDocuments, n_pick: int) -> SeedDocuments:
    """The ``n_pick`` non-empty documents of ``docs`` in increasing (key, doc id) order."""
    rows = np.flatnonzero(np.diff(docs.indptr) > 0)
    rows = rows[np.lexsort((docs.doc_ids[rows], docs.keys[rows]))][:n_pick]
    starts, stops = docs.indptr[rows], docs.indptr[rows + 1]
    take = np.concatenate(
        [np.arange(a, b) for a, b in zip(starts, stops, strict=True)] or [np.zeros(0, np.int64)]
    ).astype(np.int64)
    return SeedDocuments(
        keys=docs.keys[rows],
        doc_ids=docs.doc_ids[rows],
        indptr=np.concatenate([[0], np.cumsum(stops - starts)]).astype(np.int64),
        indices=docs.indices[take],
        counts=docs.counts[take],
    )


def seed_increment(docs: SeedDocuments, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """What seeding adds to lambda: ``(word_ids, increment)``, increment (n, K) word-major.

    The document of rank r adds ``SEED_WEIGHT`` times its counts to topic ``r % K``.
    """
    word_ids, position = np.unique(docs.indices, return_inverse=True)
    increment = np.zeros((len(word_ids), n_components), dtype=np.float64)
    for rank in range(len(docs.doc_ids)):
        lo, hi = docs.indptr[rank], docs.indptr[rank + 1]
        increment[position[lo:hi], rank % n_components] += SEED_WEIGHT * docs.counts[lo:hi]
    return word_ids, increment


def n_seed_documents(n_components: int) -> int:
    """How many documents seeding uses."""
    return DOCS_PER_TOPIC * n_components


def apply_seed(state: GlobalState, docs: SeedDocuments) -> None:
    """Add the chosen documents' counts to their topics (lambda += increment)."""
    word_ids, increment = seed_increment(docs, state.n_components)
    state.add_to_lambda(word_ids, increment)


def seed_topics(state: GlobalState, units: Sequence[Batch], seed: int) -> None:
    """Seed ``state``'s topics from the documents of ``units`` (in process)."""
    n_pick = n_seed_documents(state.n_components)
    apply_seed(state, merge_candidates([seed_candidates(u, seed, n_pick) for u in units], n_pick))
