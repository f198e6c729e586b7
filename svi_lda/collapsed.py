"""``learning_method="cvb0"``: batch collapsed variational Bayes (CVB0) over a whole corpus.

For small corpora where topic quality matters more than a bound: on 20 Newsgroups CVB0
beats mean-field batch VB, and tomotopy's collapsed Gibbs sampler in its own time, on
held-out perplexity (``benchmarks/results/core.md``). The kernels and the equations are
in :mod:`svi_lda.numerics.cvb0`. After the sweeps the model holds the Dirichlet
``lambda = eta + word_topic`` (the expected counts plus the prior), so ``components_``,
``transform``, ``perplexity``, ``save`` and further ``partial_fit`` steps work as for any
other fit, and its normalised rows are CVB0's topic estimate.

Memory: one float32 distribution over the K topics per non-zero of the document-term
matrix (20 Newsgroups, 946,473 non-zeros x K=100 x 4 bytes = 361 MiB), refused above
``MAX_PHI_BYTES``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma

from svi_lda.numerics.cvb0 import cvb0_initialize, cvb0_sweep
from svi_lda.step import StepMetrics

if TYPE_CHECKING:
    from svi_lda.estimator import Callback, OnlineLDA
    from svi_lda.state import GlobalState

logger = logging.getLogger("svi_lda.estimator")

MAX_PHI_BYTES = 8 * 2**30
"""Largest per-non-zero topic table (bytes) ``learning_method="cvb0"`` will allocate."""

_ALPHA_FLOOR = 1e-8


def fit_cvb0(model: OnlineLDA, X: sp.csr_matrix, callbacks: Sequence[Callback]) -> None:
    """Run ``model.max_iter`` CVB0 sweeps over ``X`` and leave the result in ``model.state_``.

    ``model.state_`` must be freshly initialised (its alpha, eta and dtype are used). Each
    sweep is reported to ``callbacks`` as a :class:`~svi_lda.step.StepMetrics` with
    ``rho`` 1, one update per non-zero, and ``bound_per_token`` the leave-one-out log
    predictive per token in nats (see :func:`~svi_lda.numerics.cvb0.cvb0_sweep`); it is
    also appended to ``model.bound_history_``. With ``doc_topic_prior="auto"``, alpha takes
    one step of Minka's fixed-point iteration after every sweep.
    """
    state = model.state_
    n_docs, n_features = X.shape
    n_topics = state.n_components
    phi_bytes = X.nnz * n_topics * 4
    if phi_bytes > MAX_PHI_BYTES:
        raise ValueError(
            f"learning_method='cvb0' keeps a float32 distribution over the {n_topics} topics "
            f"for each of the {X.nnz:,} non-zeros: {phi_bytes / 2**30:.1f} GiB, above the "
            f"{MAX_PHI_BYTES / 2**30:.0f} GiB limit. Use learning_method='online' for a "
            "corpus this large."
        )
    indptr = np.asarray(X.indptr, dtype=np.int64)
    indices = np.asarray(X.indices, dtype=np.int64)
    counts = np.asarray(X.data, dtype=np.float64)
    phi = np.empty((X.nnz, n_topics), dtype=np.float32)
    doc_topic = np.zeros((n_docs, n_topics))
    word_topic = np.zeros((n_features, n_topics))
    topic_totals = np.zeros(n_topics)
    seed_key = np.uint64(model.random_seed_ % 2**64)
    cvb0_initialize(indptr, indices, counts, seed_key, phi, doc_topic, word_topic, topic_totals)
    doc_lengths = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    n_tokens = float(counts.sum())
    alpha = state.alpha.copy()
    for sweep in range(int(model.max_iter)):
        t0 = time.perf_counter()
        log_predictive = cvb0_sweep(
            indptr, indices, counts, alpha, float(state.eta), phi, doc_topic, word_topic,
            topic_totals,
        )
        if model._learn_alpha:
            alpha = minka_alpha_step(alpha, doc_topic, doc_lengths)
        seconds = time.perf_counter() - t0
        # O(V K) against the sweep's O(nnz K): callbacks see (and may save) the topics now.
        _store(state, word_topic, alpha, sweeps=sweep + 1, n_docs=n_docs)
        per_token = log_predictive / n_tokens if n_tokens else 0.0
        model.bound_history_.append(per_token)
        model.n_iter_ += 1
        metrics = StepMetrics.of_pass(
            sweep + 1, n_docs=n_docs, n_tokens=n_tokens, seconds=seconds,
            mean_doc_iterations=1.0, bound_per_token=per_token,
        )
        if model.verbose:
            logger.info("sweep %d: log predictive %.4f nats per token, %.0f docs/s",
                        sweep + 1, per_token, metrics.docs_per_second)
        for callback in callbacks:
            callback(metrics)


def _store(
    state: GlobalState, word_topic: np.ndarray, alpha: np.ndarray, *, sweeps: int, n_docs: int
) -> None:
    """Put the expected counts into the state as ``lambda = eta + word_topic``."""
    state.word_topic = word_topic.astype(state.word_topic.dtype)
    state.scale = 1.0
    state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)
    state.alpha = alpha.copy()
    state.step = sweeps
    state.n_docs_seen = n_docs * sweeps


def minka_alpha_step(
    alpha: np.ndarray, doc_topic: np.ndarray, doc_lengths: np.ndarray
) -> np.ndarray:
    """One step of Minka's fixed-point update of an asymmetric Dirichlet prior.

    ``alpha_k <- alpha_k * sum_d [psi(n_dk + alpha_k) - psi(alpha_k)]
    / sum_d [psi(N_d + sum(alpha)) - psi(sum(alpha))]`` (Minka 2000, eq. 55; the update
    tomotopy and MALLET make from expected or sampled counts). Floored at 1e-8 so a topic
    that lost every token keeps a positive prior.
    """
    alpha_sum = alpha.sum()
    numerator = (digamma(doc_topic + alpha) - digamma(alpha)).sum(axis=0)
    denominator = float((digamma(doc_lengths + alpha_sum) - digamma(alpha_sum)).sum())
    if denominator <= 0:
        return alpha
    return np.maximum(alpha * numerator / denominator, _ALPHA_FLOOR)
