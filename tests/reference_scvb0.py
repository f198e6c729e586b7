"""SCVB0 (Foulds et al. 2013) in plain NumPy, one token clump at a time: the reference the
kernels of :mod:`svi_lda.numerics.scvb0` and the global update are checked against.

Same equations as the module docstring there, written the direct way: each token's
responsibility ``gamma`` is formed and normalised explicitly, and the statistics are the
sum over tokens of ``c * gamma`` (not the kernel's product form). No Numba.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def local_reference(
    X: sp.csr_matrix,
    n_phi: np.ndarray,
    n_z: np.ndarray,
    eta: float,
    alpha: np.ndarray,
    start: np.ndarray,
    *,
    burn_in: int,
    step_scale: float,
    step_offset: float,
    step_decay: float,
):
    """The local step over documents ``X`` (CSR, n_docs x V) given global counts.

    Parameters
    ----------
    n_phi : (V, K) expected word-topic counts; n_z : (K,) topic totals.
    start : (n_docs, K) positive start values (rescaled to each document's length).

    Returns
    -------
    n_theta : (n_docs, K) after burn-in; stats : (V, K) sum over tokens of c * gamma;
    loglik : (n_docs,) sum_w c log(sum_k beta_wk (n_theta_k + alpha_k) / (C_j + sum alpha))
    """
    n_docs, n_words = X.shape
    beta = (n_phi + eta) / (n_z + n_words * eta)[None, :]
    n_theta = np.zeros((n_docs, len(alpha)))
    stats = np.zeros((n_words, len(alpha)))
    loglik = np.zeros(n_docs)
    for d in range(n_docs):
        ids = X.indices[X.indptr[d] : X.indptr[d + 1]]
        cts = X.data[X.indptr[d] : X.indptr[d + 1]].astype(np.float64)
        length = cts.sum()
        if len(ids) == 0:
            continue
        theta = start[d] * (length / start[d].sum())
        t = 0.0
        for _ in range(burn_in):
            for w, c in zip(ids, cts, strict=True):
                gamma = beta[w] * (theta + alpha)
                gamma /= gamma.sum()
                r = min(step_scale * (step_offset + t) ** -step_decay, 1.0)
                keep = (1.0 - r) ** c
                theta = keep * theta + (1.0 - keep) * length * gamma
                t += c
        n_theta[d] = theta
        for w, c in zip(ids, cts, strict=True):
            p = beta[w] * (theta + alpha)
            stats[w] += c * p / p.sum()
            loglik[d] += c * np.log(p.sum() / (length + alpha.sum()))
    return n_theta, stats, loglik


def global_reference(n_phi, stats, rho, corpus_docs, batch_docs):
    """``N_phi <- (1 - rho) N_phi + rho (D / S) stats`` (dense; N_z is its column sum):
    D the corpus's documents, S the minibatch's."""
    return (1.0 - rho) * n_phi + rho * (corpus_docs / batch_docs) * stats
