"""The global (topic) part of the LDA evidence lower bound.

The document part comes out of the E-step kernel (``doc_bound``); together they give the
ELBO of Hoffman et al. (2010, eq. 3; 2013, eq. 15 for LDA), in nats.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from svi_lda.state import GlobalState

_CHUNK_WORDS = 8192


def topic_bound(state: GlobalState) -> float:
    """E_q[log p(beta | eta)] - E_q[log q(beta | lambda)] summed over topics, in nats.

    Dense: O(K V), computed in chunks of words so memory stays O(K x chunk). Used by
    ``score``, batch-mode ELBO tracking and tests, never inside an SVI step.
    """
    totals = state.topic_totals()
    psi_totals = digamma(totals)
    eta = state.eta
    n_features = state.n_features
    total = float(np.sum(gammaln(eta * n_features) - gammaln(totals)))
    for start in range(0, n_features, _CHUNK_WORDS):
        block = state.word_topic[start : start + _CHUNK_WORDS].astype(np.float64)
        lam = eta + state.scale * block
        elog_beta = digamma(lam) - psi_totals
        total += float(np.sum((eta - lam) * elog_beta + gammaln(lam))) - gammaln(eta) * lam.size
    return total
