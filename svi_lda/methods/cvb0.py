"""``learning_method="cvb0"``: batch collapsed variational Bayes (CVB0) over a whole corpus.

For small corpora where topic quality matters more than a bound: on 20 Newsgroups CVB0
beats mean-field batch VB, and tomotopy's collapsed Gibbs sampler in its own time, on
held-out perplexity (``benchmarks/results/core.md``). The kernels and the equations are
in :mod:`svi_lda.numerics.cvb0`. After the sweeps the model holds the Dirichlet
``lambda = eta + word_topic`` (the expected counts plus the prior), so ``components_``,
``transform``, ``perplexity``, ``save`` and further ``partial_fit`` steps work as for any
other fit, and its normalised rows are CVB0's topic estimate.

CVB0 updates its counts token by token, so it does not split into independent units: its
unit is the whole corpus (``grouping="whole"``), its local step is one sweep that carries
the per-token distributions and the counts from sweep to sweep, and its global update
puts the counts into the state (and takes a Minka step on alpha when it is learned). The
per-topic statistics of the model are those of the last sweep: ``topic_token_counts_``
the expected tokens per topic (the column sums of the counts), ``topic_doc_counts_`` the
sum over documents of (n_dk + alpha_k) / (N_d + sum(alpha)), ``term_frequency_`` the
corpus's word counts.

Memory: one float32 distribution over the K topics per non-zero of the document-term
matrix (20 Newsgroups, 946,473 non-zeros x K=100 x 4 bytes = 361 MiB), refused above
``MAX_PHI_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import digamma

from svi_lda.batch import Batch
from svi_lda.methods import UpdateContext
from svi_lda.numerics.cvb0 import cvb0_initialize, cvb0_sweep
from svi_lda.state import GlobalState
from svi_lda.step import EStepSettings, StepMetrics, UnitStats

MAX_PHI_BYTES = 8 * 2**30
"""Largest per-non-zero topic table (bytes) ``learning_method="cvb0"`` will allocate."""

_ALPHA_FLOOR = 1e-8


@dataclass(frozen=True)
class CVB0Settings:
    """What a sweep needs besides alpha: the seed of the initial assignment and eta."""

    seed: int
    eta: float


@dataclass
class _Sweeps:
    """What CVB0 carries from sweep to sweep (the whole corpus's local state)."""

    phi: np.ndarray
    doc_topic: np.ndarray
    word_topic: np.ndarray
    topic_totals: np.ndarray
    doc_lengths: np.ndarray
    word_counts: np.ndarray


def cvb0_local_step(
    batch: Batch,
    word_index: np.ndarray,
    word_ids: np.ndarray,
    rows: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    settings: CVB0Settings,
    *,
    n_threads: int = 1,
    word_rows: np.ndarray | None = None,
    carry: Any = None,
) -> tuple[UnitStats, Any]:
    """One CVB0 sweep over ``batch`` (the whole corpus), continuing from ``carry``.

    The statistics hold the expected word-topic counts of every word (``word_ids`` is
    0..V-1), ``doc_bound`` the sweep's leave-one-out log predictive (nats; see
    :func:`~svi_lda.numerics.cvb0.cvb0_sweep`) and the sums of Minka's alpha step at the
    ``alpha`` of the sweep.
    """
    n_docs, n_features = batch.n_docs, batch.n_features
    n_topics = len(alpha)
    start = int(batch.indptr[0])
    indptr = np.asarray(batch.indptr, dtype=np.int64) - start
    nnz = int(indptr[-1])
    indices = np.asarray(batch.indices[start : start + nnz], dtype=np.int64)
    counts = np.asarray(batch.counts[start : start + nnz], dtype=np.float64)
    if carry is None:
        phi_bytes = nnz * n_topics * 4
        if phi_bytes > MAX_PHI_BYTES:
            raise ValueError(
                f"learning_method='cvb0' keeps a float32 distribution over the {n_topics} "
                f"topics for each of the {nnz:,} non-zeros: {phi_bytes / 2**30:.1f} GiB, "
                f"above the {MAX_PHI_BYTES / 2**30:.0f} GiB limit. Use "
                "learning_method='online' for a corpus this large."
            )
        carry = _Sweeps(
            phi=np.empty((nnz, n_topics), dtype=np.float32),
            doc_topic=np.zeros((n_docs, n_topics)),
            word_topic=np.zeros((n_features, n_topics)),
            topic_totals=np.zeros(n_topics),
            doc_lengths=np.asarray(batch.to_csr().sum(axis=1), dtype=np.float64).ravel(),
            word_counts=np.bincount(indices, weights=counts, minlength=n_features),
        )
        seed_key = np.uint64(settings.seed % 2**64)
        cvb0_initialize(indptr, indices, counts, seed_key, carry.phi, carry.doc_topic,
                        carry.word_topic, carry.topic_totals)
    log_predictive = cvb0_sweep(
        indptr, indices, counts, alpha, float(settings.eta), carry.phi, carry.doc_topic,
        carry.word_topic, carry.topic_totals,
    )
    doc_lengths = carry.doc_lengths
    numerator, denominator = minka_sums(alpha, carry.doc_topic, doc_lengths)
    theta = (carry.doc_topic + alpha) / (doc_lengths + alpha.sum())[:, None]
    stats = UnitStats(
        word_ids=np.arange(n_features, dtype=np.int64),
        sstats=carry.word_topic,
        n_docs=n_docs,
        n_tokens=float(counts.sum()),
        elog_theta_sum=np.zeros(n_topics),
        theta_sum=theta.sum(axis=0),
        doc_bound=float(log_predictive),
        n_iter=n_docs,
        word_counts=carry.word_counts,
        extras={"minka_numerator": numerator, "minka_denominator": np.float64(denominator)},
    )
    return stats, carry


@dataclass(frozen=True)
class CollapsedVB0:
    """Batch CVB0: one sweep per step over the corpus held in memory."""

    name: str = "cvb0"
    figure_label: str = "leave-one-out log predictive per token (nats, not a bound)"
    grouping: str = "whole"
    seeds_topics: bool = False
    keeps_local_state: bool = True
    corpus_size_unit: str = "documents"
    cumulative_statistics: bool = False

    def settings(self, base: EStepSettings, state: GlobalState) -> CVB0Settings:
        return CVB0Settings(seed=base.seed, eta=state.eta)

    def parameter_rows(
        self, state: GlobalState, word_ids: np.ndarray, n_threads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # A sweep works from its own counts: nothing of the state's rows is needed.
        return np.zeros((len(word_ids), 0)), np.zeros(len(word_ids))

    local_step = staticmethod(cvb0_local_step)

    def global_update(
        self, state: GlobalState, stats: UnitStats, context: UpdateContext
    ) -> tuple[StepMetrics, float]:
        # O(V K) against the sweep's O(nnz K): callbacks see (and may save) the topics now.
        state.word_topic = stats.sstats.astype(state.word_topic.dtype)
        state.scale = 1.0
        state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)
        if context.learn_alpha:
            state.alpha = minka_from_sums(
                state.alpha, stats.extras["minka_numerator"],
                float(stats.extras["minka_denominator"]),
            )
        state.step += 1
        state.n_docs_seen += stats.n_docs
        per_token = stats.doc_bound / stats.n_tokens if stats.n_tokens else 0.0
        metrics = StepMetrics.of_pass(
            state.step, n_docs=stats.n_docs, n_tokens=stats.n_tokens,
            seconds=context.seconds, mean_doc_iterations=1.0, bound_per_token=per_token,
        )
        return metrics, per_token


METHOD = CollapsedVB0()


def minka_sums(
    alpha: np.ndarray, doc_topic: np.ndarray, doc_lengths: np.ndarray
) -> tuple[np.ndarray, float]:
    """The two sums of Minka's fixed-point step (see :func:`minka_alpha_step`)."""
    alpha_sum = alpha.sum()
    numerator = (digamma(doc_topic + alpha) - digamma(alpha)).sum(axis=0)
    denominator = float((digamma(doc_lengths + alpha_sum) - digamma(alpha_sum)).sum())
    return numerator, denominator


def minka_from_sums(alpha: np.ndarray, numerator: np.ndarray, denominator: float) -> np.ndarray:
    """alpha after Minka's step, from :func:`minka_sums` (floored at 1e-8)."""
    if denominator <= 0:
        return alpha
    return np.maximum(alpha * numerator / denominator, _ALPHA_FLOOR)


def minka_alpha_step(
    alpha: np.ndarray, doc_topic: np.ndarray, doc_lengths: np.ndarray
) -> np.ndarray:
    """One step of Minka's fixed-point update of an asymmetric Dirichlet prior.

    ``alpha_k <- alpha_k * sum_d [psi(n_dk + alpha_k) - psi(alpha_k)]
    / sum_d [psi(N_d + sum(alpha)) - psi(sum(alpha))]`` (Minka 2000, eq. 55; the update
    tomotopy and MALLET make from expected or sampled counts). Floored at 1e-8 so a topic
    that lost every token keeps a positive prior.
    """
    return minka_from_sums(alpha, *minka_sums(alpha, doc_topic, doc_lengths))
