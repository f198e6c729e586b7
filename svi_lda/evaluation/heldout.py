"""Per-unit evaluation: held-out log predictive, document ELBO terms, coherence counts.

:func:`evaluate_unit` is what runs on a Dask worker (or in process) for one row group.
Everything it returns is additive over units; :meth:`UnitEvaluation.add` sums them, and
the caller sums in unit order, so the totals do not depend on which worker ran what.

Held-out log predictive by document completion: each document's tokens are split in two
by a hash of (seed, document id, word, token number), so the split is the same however
the corpus is cut into units. The observed half folds in the document's topic
proportions theta (mean-field E-step under the topics' point estimate E[beta], as
:func:`svi_lda.evaluation.fold_in`); the held-out half is scored by
``log sum_k theta_k beta_kw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from svi_lda.batch import Batch
from svi_lda.evaluation.coherence import TopWordCounts, TopWordIndex
from svi_lda.numerics.cooccurrence import split_counts
from svi_lda.numerics.hashing import splitmix64
from svi_lda.numerics.predictive import heldout_log_predictive
from svi_lda.state import GlobalState
from svi_lda.step import EStepSettings, content_gamma, estep_unit, unit_vocabulary


@dataclass(frozen=True)
class EvaluationPayload:
    """What a unit's evaluation needs from the model (sent to each worker once)."""

    topics: np.ndarray
    """E[beta], shape (K, V), rows sum to 1."""
    alpha: np.ndarray
    settings: EStepSettings
    index: TopWordIndex
    split_seed: int
    state: GlobalState | None = None
    """The variational topics, for the document ELBO terms and topic sizes; None skips both."""
    n_threads: int = 1
    """E-step threads (results do not depend on it)."""
    model_seed: int = 0
    """The model's seed: the ELBO's E-step starts each document where ``score`` does
    (a hash of its content), so the two agree."""


@dataclass
class UnitEvaluation:
    """Additive evaluation figures of one unit (or of several, once added)."""

    counts: TopWordCounts
    n_docs: int = 0
    n_tokens: float = 0.0
    heldout_loglik: float = 0.0
    heldout_tokens: float = 0.0
    doc_bound: float = 0.0
    topic_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def add(self, other: UnitEvaluation) -> UnitEvaluation:
        """Add another unit's figures in place (call in unit order)."""
        self.counts.add(other.counts)
        self.n_docs += other.n_docs
        self.n_tokens += other.n_tokens
        self.heldout_loglik += other.heldout_loglik
        self.heldout_tokens += other.heldout_tokens
        self.doc_bound += other.doc_bound
        self.topic_tokens = (
            other.topic_tokens.copy() if self.topic_tokens.size == 0
            else self.topic_tokens + other.topic_tokens
        )
        return self


def split_batch(batch: Batch, seed: int) -> tuple[Batch, np.ndarray]:
    """The observed part of each document (a Batch, same non-zeros, some counts 0) and the
    held-out counts per non-zero (see :func:`svi_lda.numerics.cooccurrence.split_counts`)."""
    start = int(batch.indptr[0])
    indptr = np.asarray(batch.indptr, dtype=np.int64) - start
    stop = int(indptr[-1])
    indices = np.asarray(batch.indices[start : start + stop])
    counts = np.asarray(batch.counts[start : start + stop], dtype=np.float64)
    seed_key = splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    observed = np.empty(stop, dtype=np.float64)
    split_counts(indptr, indices, counts, np.asarray(batch.doc_ids, dtype=np.int64),
                 seed_key, observed)
    obs = Batch(indptr=indptr, indices=indices, counts=observed, doc_ids=batch.doc_ids,
                n_features=batch.n_features)
    return obs, counts - observed


def fold_in_batch(
    topics: np.ndarray, batch: Batch, alpha: np.ndarray, settings: EStepSettings,
    n_threads: int = 1,
) -> np.ndarray:
    """E[theta] of the batch's documents under fixed topics (K, V): (n_docs, K)."""
    ids, index = unit_vocabulary(batch)
    return _fold_in(np.ascontiguousarray(topics[:, ids].T), ids, index, batch, alpha,
                    settings, n_threads)


def _fold_in(
    word_topics: np.ndarray, ids: np.ndarray, index: np.ndarray, batch: Batch,
    alpha: np.ndarray, settings: EStepSettings, n_threads: int,
) -> np.ndarray:
    """:func:`fold_in_batch` given the unit's words (``unit_vocabulary``) and their topic
    columns ``word_topics`` (n_words, K)."""
    peak = np.maximum(word_topics.max(axis=1), 1e-300) if len(ids) else np.ones(0)
    rows = np.ascontiguousarray(word_topics / peak[:, None])
    _, gamma = estep_unit(batch, index, ids, rows, np.log(peak), alpha, settings,
                          n_threads=n_threads)
    return gamma / gamma.sum(axis=1, keepdims=True)


def heldout_loglik(
    topics: np.ndarray, theta: np.ndarray, batch: Batch, heldout: np.ndarray
) -> tuple[float, float]:
    """(sum of held-out log p(w | d), held-out tokens) for one batch's documents."""
    ids, index = unit_vocabulary(batch)
    indptr = np.asarray(batch.indptr, dtype=np.int64) - int(batch.indptr[0])
    total, tokens = heldout_log_predictive(
        indptr, index, np.ascontiguousarray(topics[:, ids].T), theta,
        np.asarray(heldout, dtype=np.float64),
    )
    return float(total), float(tokens)


def evaluate_unit(batch: Batch, payload: EvaluationPayload) -> UnitEvaluation:
    """All additive evaluation figures of one unit."""
    out = UnitEvaluation(counts=payload.index.count(batch), n_docs=batch.n_docs,
                         n_tokens=batch.n_tokens)
    observed, heldout = split_batch(batch, payload.split_seed)
    # The observed part keeps every non-zero (some with count 0): one vocabulary serves
    # the fold-in, the held-out score and the ELBO's E-step.
    ids, index = unit_vocabulary(batch)
    word_topics = np.ascontiguousarray(payload.topics[:, ids].T)
    theta = _fold_in(word_topics, ids, index, observed, payload.alpha, payload.settings,
                     payload.n_threads)
    total, tokens = heldout_log_predictive(observed.indptr, index, word_topics, theta, heldout)
    out.heldout_loglik, out.heldout_tokens = float(total), float(tokens)
    state = payload.state
    if state is not None:
        rows, shift = state.exp_elog_beta_rows(ids, n_threads=payload.n_threads)
        start = content_gamma(batch, state.n_components, payload.model_seed)
        stats, gamma = estep_unit(batch, index, ids, rows, shift, state.alpha, payload.settings,
                                  n_threads=payload.n_threads, gamma=start)
        out.doc_bound = float(stats.doc_bound)
        # gamma_dk - alpha_k is the expected number of the document's tokens in topic k.
        out.topic_tokens = (gamma - state.alpha[None, :]).sum(axis=0)
    return out
