"""Topic coherence from document co-occurrence of each topic's top words, streamed.

:class:`TopWordCounts` holds, for K topics and their T top words, the number of documents
holding each word and each pair (K x T x T integers: memory does not grow with V or with
the corpus). It is filled unit by unit (one Parquet row group at a time) and added up;
NPMI and UMass are then read off it.

Definitions (natural logs; N documents, D(w) documents holding w, D(w, v) holding both):

- NPMI (Bouma 2009; Röder et al. 2015's C_NPMI with whole-document windows):
  ``log(P(w, v) / (P(w) P(v))) / -log P(w, v)`` with P = D / N, averaged over the pairs
  of a topic's top words; -1 for a pair that never co-occurs (its limit), 1 for one that
  is in every document. ``epsilon`` > 0 instead adds epsilon to P(w, v) in both logs, as
  gensim's ``c_npmi`` does (1e-12).
- UMass (Mimno et al. 2011): ``log((D(w_i, w_j) + smoothing) / D(w_i))`` over the pairs
  with ``w_i`` ranked above ``w_j``, averaged. ``smoothing=1`` is the paper's; gensim's
  ``u_mass`` adds 1e-12 to the probability, i.e. ``smoothing = 1e-12 * N``.

Each is averaged over a topic's pairs, then over topics (as gensim aggregates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from svi_lda.batch import Batch
from svi_lda.numerics.cooccurrence import count_top_word_documents, top_word_members
from svi_lda.numerics.topk import top_indices


def top_word_ids(topic_word: np.ndarray, top_n: int) -> np.ndarray:
    """Each topic's ``top_n`` most probable word ids, most probable first, shape (K, T).

    Ties go to the lower word id (a stable sort), as in :func:`npmi_coherence`.
    """
    return top_indices(np.asarray(topic_word), top_n)


@dataclass
class TopWordCounts:
    """Document counts of each topic's top words and of their pairs.

    Attributes
    ----------
    top : ndarray of int64, shape (K, T)
        Word ids, most probable first.
    counts : ndarray of int64, shape (K, T, T)
        ``counts[k, i, i]`` documents holding ``top[k, i]``; ``counts[k, i, j]`` documents
        holding both ``top[k, i]`` and ``top[k, j]``.
    n_docs : int
        Documents counted (empty ones too).
    """

    top: np.ndarray
    counts: np.ndarray
    n_docs: int

    @classmethod
    def empty(cls, top: np.ndarray) -> TopWordCounts:
        """Zero counts for the top words ``top`` (K, T)."""
        k, t = top.shape
        return cls(top=top, counts=np.zeros((k, t, t), dtype=np.int64), n_docs=0)

    def add(self, other: TopWordCounts) -> TopWordCounts:
        """Add the counts of another part of the corpus (same top words), in place."""
        self.counts += other.counts
        self.n_docs += other.n_docs
        return self

    def npmi(self, *, epsilon: float = 0.0, per_topic: bool = False) -> float | np.ndarray:
        """Mean NPMI over each topic's pairs, then over topics (see the module docstring)."""
        n = float(max(self.n_docs, 1))
        p = self.counts / n
        single = np.diagonal(p, axis1=1, axis2=2)
        iu = np.triu_indices(p.shape[1], k=1)
        p_ij = p[:, iu[0], iu[1]]
        p_i, p_j = single[:, iu[0]], single[:, iu[1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            npmi = np.log((p_ij + epsilon) / (p_i * p_j)) / -np.log(p_ij + epsilon)
        if epsilon == 0.0:
            npmi = np.where(p_ij > 0, npmi, -1.0)
            npmi = np.where(p_ij >= 1.0, 1.0, npmi)
        npmi = np.where(p_i * p_j > 0, npmi, -1.0)
        return _aggregate(npmi, per_topic)

    def umass(self, *, smoothing: float = 1.0, per_topic: bool = False) -> float | np.ndarray:
        """Mean UMass over each topic's ranked pairs, then over topics (module docstring).

        Pairs whose higher-ranked word occurs in no document have no value and are left
        out of the mean.
        """
        single = np.diagonal(self.counts, axis1=1, axis2=2).astype(np.float64)
        iu = np.triu_indices(self.counts.shape[1], k=1)
        d_ij = self.counts[:, iu[0], iu[1]].astype(np.float64)
        d_i = single[:, iu[0]]
        with np.errstate(divide="ignore", invalid="ignore"):
            umass = np.where(d_i > 0, np.log((d_ij + smoothing) / d_i), np.nan)
        return _aggregate(umass, per_topic)


def _aggregate(values: np.ndarray, per_topic: bool) -> float | np.ndarray:
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(values)
        sums = np.where(valid, values, 0.0).sum(axis=1)
        n = valid.sum(axis=1)
        topic = np.where(n > 0, sums / np.maximum(n, 1), np.nan)
    if per_topic:
        return topic
    return float(np.nanmean(topic)) if np.any(~np.isnan(topic)) else float("nan")


class TopWordIndex:
    """The top words of every topic, arranged for the counting kernel (built once)."""

    def __init__(self, top: np.ndarray) -> None:
        self.top = np.ascontiguousarray(top, dtype=np.int64)
        self.slot, self.member_ptr, self.member_topic, self.member_rank = top_word_members(
            self.top
        )

    def count(self, batch: Batch) -> TopWordCounts:
        """Counts over the documents of one unit."""
        out = TopWordCounts.empty(self.top)
        start = int(batch.indptr[0])
        indptr = np.asarray(batch.indptr, dtype=np.int64) - start
        # int32 from Parquet as it is: a cast would copy every non-zero.
        indices = np.asarray(batch.indices[start : start + int(indptr[-1])])
        count_top_word_documents(
            indptr, indices, self.slot, self.member_ptr, self.member_topic,
            self.member_rank, out.counts,
        )
        out.n_docs = batch.n_docs
        return out


def count_top_words(topic_word: Any, X: Any, *, top_n: int = 10) -> TopWordCounts:
    """:class:`TopWordCounts` of a topic-word matrix over a document-term matrix in memory.

    For a corpus folder, :func:`svi_lda.evaluation.evaluate` streams the same counts unit
    by unit.
    """
    from svi_lda._validation import check_doc_term_matrix

    top = top_word_ids(topic_word, top_n)
    X = check_doc_term_matrix(X, n_features=np.asarray(topic_word).shape[1], name="reference")
    return TopWordIndex(top).count(Batch.from_csr(X))
