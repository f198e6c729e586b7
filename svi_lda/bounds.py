"""The global (topic) part of the LDA evidence lower bound.

The document part comes out of the E-step kernel (``doc_bound``); together they give the
ELBO of Hoffman et al. (2010, eq. 3; 2013, eq. 15 for LDA), in nats.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln

from svi_lda.state import GlobalState

# Words per chunk of the sum. Part of the result's definition (each chunk is summed
# pairwise by NumPy, the chunks one after another), so a sharded model sums the same
# chunks (:meth:`svi_lda.distributed.sharded.ShardedModel.score`).
CHUNK_WORDS = 8192


def topic_bound(state: GlobalState) -> float:
    """E_q[log p(beta | eta)] - E_q[log q(beta | lambda)] summed over topics, in nats.

    Dense: O(K V), computed in chunks of words so memory stays O(K x chunk). Used by
    ``score``, batch-mode ELBO tracking and tests, never inside an SVI step.
    """
    totals = state.topic_totals()
    psi_totals = digamma(totals)
    chunks = (
        topic_bound_terms(state.word_topic[start : start + CHUNK_WORDS], state.scale,
                          state.eta, psi_totals)
        for start in range(0, state.n_features, CHUNK_WORDS)
    )
    return fold_topic_bound(totals, state.eta, state.n_features,
                            ((np.sum(terms), terms.size) for terms in chunks))


def topic_bound_terms(
    word_topic: np.ndarray, scale: float, eta: float, psi_totals: np.ndarray
) -> np.ndarray:
    """The bound's terms of some words' rows of W (word-major, shape (n, K)), float64
    (lambda = eta + scale * W, element by element as :meth:`GlobalState.lambda_`)."""
    lam = eta + scale * word_topic.astype(np.float64)
    elog_beta = digamma(lam) - psi_totals
    return (eta - lam) * elog_beta + gammaln(lam)


def fold_topic_bound(
    totals: np.ndarray, eta: float, n_features: int, chunk_sums: Iterable[tuple[Any, int]]
) -> float:
    """The topic bound from each :data:`CHUNK_WORDS`-word chunk's ``(sum of its terms,
    number of terms)``, in word order, added one after another."""
    total = float(np.sum(gammaln(eta * n_features) - gammaln(totals)))
    for chunk_sum, size in chunk_sums:
        total += float(chunk_sum) - gammaln(eta) * size
    return total
