"""Slow, plain NumPy/SciPy reference implementations, in Hoffman's onlineldavb shape.

Every Numba kernel and every fast path is checked against these. No Numba here.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln


def dirichlet_expectation(alpha: np.ndarray) -> np.ndarray:
    """E[log theta] for theta ~ Dirichlet(alpha), row-wise for 2-D input."""
    if alpha.ndim == 1:
        return digamma(alpha) - digamma(np.sum(alpha))
    return digamma(alpha) - digamma(np.sum(alpha, axis=1))[:, np.newaxis]


def squarem_reference(g0, g1, g2, alpha):
    """The SQUAREM (scheme S3) point from three successive iterates, step in [-4, -1],
    clipped at alpha."""
    r = g1 - g0
    v = g2 - g1 - r
    vv = float(v @ v)
    if vv <= 0.0:
        return g2
    a = float(np.clip(-np.sqrt(float(r @ r) / vv), -4.0, -1.0))
    return np.maximum(g0 - 2.0 * a * r + a * a * v, alpha)


def estep_reference(X, exp_elog_beta, alpha, gamma0, max_iter, tol, eps=1e-100,
                    accelerate=False):
    """Hoffman et al.'s per-document E-step over a CSR matrix.

    With ``accelerate``, every second update is followed by a SQUAREM extrapolation
    (:func:`squarem_reference`) from the gamma two updates back; the stopping rule is
    still tested on each plain update.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix, shape (n_docs, V)
    exp_elog_beta : ndarray, shape (K, V)
        Unscaled exp(E[log beta]).
    alpha : ndarray, shape (K,)
    gamma0 : ndarray, shape (n_docs, K)
        Initial gamma.

    Returns
    -------
    gamma : (n_docs, K); sstats : (K, V); word_loglik : (n_docs,); n_iter : (n_docs,)
    """
    n_docs = X.shape[0]
    gamma = np.array(gamma0, dtype=np.float64, copy=True)
    sstats = np.zeros_like(exp_elog_beta, dtype=np.float64)
    word_loglik = np.zeros(n_docs)
    n_iter = np.zeros(n_docs, dtype=np.int64)
    for d in range(n_docs):
        ids = X.indices[X.indptr[d] : X.indptr[d + 1]]
        cts = X.data[X.indptr[d] : X.indptr[d + 1]].astype(np.float64)
        if len(ids) == 0:
            gamma[d] = alpha
            continue
        gammad = gamma[d].copy()
        exp_elog_thetad = np.exp(dirichlet_expectation(gammad))
        exp_elog_betad = exp_elog_beta[:, ids]
        phinorm = exp_elog_thetad @ exp_elog_betad + eps
        it = 0
        second = False
        base = first = None
        for it in range(1, max_iter + 1):  # noqa: B007 (it is the count reported)
            lastgamma = gammad
            if second:
                first = lastgamma
            else:
                base = lastgamma
            gammad = alpha + exp_elog_thetad * ((cts / phinorm) @ exp_elog_betad.T)
            converged = np.mean(np.abs(gammad - lastgamma)) < tol
            if accelerate and not converged and it < max_iter:
                if second:
                    gammad = squarem_reference(base, first, gammad, alpha)
                second = not second
            exp_elog_thetad = np.exp(dirichlet_expectation(gammad))
            phinorm = exp_elog_thetad @ exp_elog_betad + eps
            if converged:
                break
        gamma[d] = gammad
        n_iter[d] = it
        sstats[:, ids] += np.outer(exp_elog_thetad, cts / phinorm)
        word_loglik[d] = np.sum(cts * np.log(phinorm))
    sstats *= exp_elog_beta
    return gamma, sstats, word_loglik, n_iter


def doc_bound_reference(gamma, alpha):
    """Per-document E_q[log p(theta|alpha) - log q(theta|gamma)] (the KL part of the ELBO)."""
    elog_theta = dirichlet_expectation(gamma)
    return (
        np.sum((alpha - gamma) * elog_theta, axis=1)
        + np.sum(gammaln(gamma) - gammaln(alpha), axis=1)
        + gammaln(np.sum(alpha))
        - gammaln(np.sum(gamma, axis=1))
    )


def topic_bound_reference(lam, eta):
    """E_q[log p(beta|eta) - log q(beta|lambda)] summed over topics, dense (K, V)."""
    n_features = lam.shape[1]
    elog_beta = dirichlet_expectation(lam)
    return float(
        np.sum((eta - lam) * elog_beta)
        + np.sum(gammaln(lam) - gammaln(eta))
        + np.sum(gammaln(eta * n_features) - gammaln(np.sum(lam, axis=1)))
    )


def svi_step_dense(lam, sstats_full, rho, eta, n_docs_total, batch_size):
    """Hoffman's dense natural-gradient step on lambda (K, V)."""
    return (1.0 - rho) * lam + rho * (eta + n_docs_total * sstats_full / batch_size)


def update_dir_prior_reference(prior, n_docs, logphat, rho):
    """gensim's ``ldamodel.update_dir_prior``: one damped Newton step on a Dirichlet prior.

    ``logphat`` is the mean over the ``n_docs`` documents of E[log theta_d]. Returns the old
    prior unchanged if the step would leave any component non-positive (gensim logs a
    warning there).
    """
    from scipy.special import polygamma

    prior = np.asarray(prior, dtype=np.float64)
    gradf = n_docs * (digamma(np.sum(prior)) - digamma(prior) + logphat)
    c = n_docs * polygamma(1, np.sum(prior))
    q = -n_docs * polygamma(1, prior)
    b = np.sum(gradf / q) / (1 / c + np.sum(1 / q))
    dprior = -(gradf - b) / q
    updated = rho * dprior + prior
    return updated if np.all(updated > 0) else prior


def content_keys_reference(X, seed):
    """Each CSR row's content key in NumPy, one row at a time (the kernel's definition).

    ``h = seed_key``; per non-zero, ``h = splitmix64(h ^ id)`` then
    ``h = splitmix64(h ^ float64 bits of the count)``; the key is ``splitmix64(h ^ nnz)``.
    """
    from svi_lda.numerics.hashing import CONTENT_SALT, splitmix64

    seed_key = splitmix64(np.array([seed % 2**64], dtype=np.uint64) ^ CONTENT_SALT)[0]
    keys = np.empty(X.shape[0], dtype=np.uint64)
    for d in range(X.shape[0]):
        row = X.getrow(d)
        row.sort_indices()
        h = np.array([seed_key], dtype=np.uint64)
        bits = row.data.astype(np.float64).view(np.uint64)
        for word, count_bits in zip(row.indices, bits, strict=True):
            h = splitmix64(h ^ np.uint64(word))
            h = splitmix64(h ^ count_bits)
        keys[d] = splitmix64(h ^ np.uint64(row.nnz))[0]
    return keys
def gibbs_reference(docs, words, n_topics, n_features, alpha, eta, sweep_keys):
    """Collapsed Gibbs sampling for LDA token by token in plain Python.

    ``sweep_keys[0]`` draws the initial topics as ``floor(u * K)``, ``sweep_keys[s]`` the
    uniforms of sweep s; u of token i is the top 53 bits of splitmix64(key + i) / 2**53.
    Returns the assignments after the last sweep.
    """
    from svi_lda.numerics.hashing import splitmix64

    def uniform(key, i):
        bits = splitmix64(np.array([key + np.uint64(i)], dtype=np.uint64))[0] >> np.uint64(11)
        return float(bits) * 2.0**-53

    n_docs = int(docs.max()) + 1
    z = [min(int(uniform(sweep_keys[0], i) * n_topics), n_topics - 1) for i in range(len(docs))]
    ndk = np.zeros((n_docs, n_topics))
    nwk = np.zeros((n_features, n_topics))
    nk = np.zeros(n_topics)
    for i, k in enumerate(z):
        ndk[docs[i], k] += 1
        nwk[words[i], k] += 1
        nk[k] += 1
    for key in sweep_keys[1:]:
        for i in range(len(docs)):
            d, w, k = docs[i], words[i], z[i]
            ndk[d, k] -= 1
            nwk[w, k] -= 1
            nk[k] -= 1
            p = (ndk[d] + alpha) * (nwk[w] + eta) / (nk + n_features * eta)
            cdf = np.cumsum(p)
            u = uniform(key, i) * cdf[-1]
            k = int(np.searchsorted(cdf, u, side="right"))
            k = min(k, n_topics - 1)
            z[i] = k
            ndk[d, k] += 1
            nwk[w, k] += 1
            nk[k] += 1
    return np.asarray(z)


def cooccurrence_reference(X):
    """Word co-occurrence ``Q = mean_d (x x^T - diag(x)) / (n_d (n_d - 1))`` over the
    documents of at least two tokens (``svi_lda.numerics.anchors.word_cooccurrence``)."""
    dense = np.asarray(X.toarray(), dtype=np.float64)
    lengths = dense.sum(axis=1)
    Q = np.zeros((dense.shape[1], dense.shape[1]))
    used = 0
    for x, n in zip(dense, lengths, strict=True):
        if n < 2:
            continue
        Q += (np.outer(x, x) - np.diag(x)) / (n * (n - 1))
        used += 1
    return Q / max(used, 1)


def merge_pair_reference(left, right):
    """``svi_lda.step.merge_pair`` as it was before its fused kernel: float64 zeros over
    ``np.union1d`` of the words, then ``left``'s and ``right``'s rows (and counts) added
    at their ``searchsorted`` positions, every other field zero + left + right.
    ``left``/``right`` are ``UnitStats``; so is the result."""
    from dataclasses import replace

    words = np.union1d(left.word_ids, right.word_ids)
    sstats = np.zeros((len(words), left.sstats.shape[1]), dtype=np.float64)
    counts = None if left.word_counts is None else np.zeros(len(words))
    sums = {
        "n_docs": 0, "n_tokens": 0.0, "doc_bound": 0.0, "n_iter": 0,
        "elog_theta_sum": np.zeros_like(left.elog_theta_sum),
        "theta_sum": np.zeros_like(left.theta_sum),
    }
    extras = {name: np.zeros_like(value) for name, value in left.extras.items()}
    for part in (left, right):
        positions = np.searchsorted(words, part.word_ids)
        sstats[positions] += part.sstats
        if counts is not None and part.word_counts is not None:
            counts[positions] += part.word_counts
        for name in sums:
            sums[name] = sums[name] + getattr(part, name)
        for name, value in part.extras.items():
            extras[name] = extras[name] + value
    return replace(left, word_ids=words, sstats=sstats, word_counts=counts, extras=extras,
                   **sums)
