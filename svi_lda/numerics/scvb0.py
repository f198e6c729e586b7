"""The local step of stochastic collapsed variational Bayes (SCVB0), compiled with Numba.

Foulds, Boyles, DuBois, Smyth & Welling (KDD 2013). Global expected counts ``N_phi``
(V x K, word-topic) and ``N_z`` (K, topic totals); per document j, expected topic counts
``N_theta_j`` (K). A token of word w in document j has the CVB0 responsibility::

    gamma_k  proportional to  beta[w, k] * (N_theta_j[k] + alpha_k),
    beta[w, k] = (N_phi[w, k] + eta) / (N_z[k] + V eta)

Per document (:func:`scvb0_documents`):

- start: ``N_theta_j = C_j * u / sum(u)`` with ``u`` hashed from (seed, document id), as
  SVI's gamma start (:func:`svi_lda.numerics.hashing.hashed_gamma`), ``C_j`` the length;
- ``burn_in`` sweeps over the document's non-zeros in order, each non-zero (word w,
  count c) a clump of c identical tokens (the paper's clumping, section 3.4)::

      r = s / (tau + t) ** kappa,   t = tokens of the document visited so far (all sweeps)
      keep = (1 - r) ** c
      N_theta_j <- keep * N_theta_j + (1 - keep) * C_j * gamma(w)
      t <- t + c

- the statistics pass, with ``N_theta_j`` as the burn-in left it: ``norm_jw =
  sum_k beta[w, k] (N_theta_j[k] + alpha_k)``, ``ratio_jw = c / norm_jw``. The
  minibatch's token-level statistics ``sum over tokens of gamma`` at each word are then
  ``beta[w] * sum_j ratio_jw * (N_theta_j + alpha)``: the product form of SVI's
  sufficient statistics, accumulated word-major by the same kernel
  (:func:`svi_lda.numerics.estep.accumulate_sstats`, threads on disjoint word ranges, sums
  in document order).

Unlike the paper's Algorithm 1, the statistics pass does not move ``N_theta_j`` again:
every token of the document is scored against the same counts. That is what lets the
statistics take SVI's product form (and its thread-invariant word-major sum) instead of
a K-vector per token.

Documents write only their own rows, so threads given disjoint document ranges do not
race and the results are bitwise the same for any number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from svi_lda._config import FASTMATH_FLAGS
from svi_lda.numerics.estep import accumulate_sstats
from svi_lda.parallel import parallel_ranges, split_by_weight


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def topic_word_rows(word_rows, topic_totals, out):
    """Equivalent to: ``out = word_rows / topic_totals`` (row-wise), i.e. ``beta[w, k]``.

    ``word_rows`` holds ``N_phi[w] + eta`` for the unit's words (any float dtype),
    ``topic_totals`` is ``N_z + V eta``.
    """
    n_topics = topic_totals.shape[0]
    inv = np.empty(n_topics, dtype=np.float64)
    for k in range(n_topics):
        inv[k] = 1.0 / topic_totals[k]
    for i in range(word_rows.shape[0]):
        src = word_rows[i]
        dst = out[i]
        for k in range(n_topics):
            dst[k] = np.float64(src[k]) * inv[k]


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def scvb0_documents(
    indptr,
    word_index,
    counts,
    beta,
    alpha,
    n_theta,
    theta_weight,
    ratio,
    doc_loglik,
    doc_start,
    doc_stop,
    burn_in,
    step_scale,
    step_offset,
    step_decay,
):
    """Run the SCVB0 document update for documents ``doc_start:doc_stop`` in place.

    Parameters
    ----------
    indptr : int64 array, shape (n_docs + 1,), starting at 0
    word_index : int array, shape (nnz,)
        Row of ``beta`` for each non-zero.
    counts : float64 array, shape (nnz,)
    beta : float64 array, shape (n_rows, K)
        ``(N_phi[w] + eta) / (N_z + V eta)`` for the words (see :func:`topic_word_rows`).
    alpha : float64 array, shape (K,)
    n_theta : float64 array, shape (n_docs, K)
        The hashed start ``u`` on entry (any positive values: they are rescaled to sum to
        the document's length); ``N_theta_j`` after the burn-in on exit.
    theta_weight : float64 array, shape (n_docs, K)
        Output: ``N_theta_j + alpha``.
    ratio : float64 array, shape (nnz,)
        Output: ``c / sum_k beta[w, k] (N_theta_j[k] + alpha_k)``.
    doc_loglik : float64 array, shape (n_docs,)
        Output: ``sum_w c log(sum_k beta[w, k] (N_theta_j[k] + alpha_k) / (C_j + sum
        alpha))``: the document's tokens scored under the counts after burn-in (nats).
    burn_in : int
        Sweeps that move ``N_theta_j`` before the statistics pass.
    step_scale, step_offset, step_decay : float
        ``s``, ``tau``, ``kappa`` of the per-token step ``r = s / (tau + t) ** kappa``.

    Equivalent to: the per-document loop of ``tests/reference_scvb0.py::local_reference``.
    """
    n_topics = alpha.shape[0]
    weights = np.empty(n_topics, dtype=np.float64)
    alpha_sum = 0.0
    for k in range(n_topics):
        alpha_sum += alpha[k]
    for d in range(doc_start, doc_stop):
        lo = indptr[d]
        hi = indptr[d + 1]
        nt = n_theta[d]
        length = 0.0
        for j in range(lo, hi):
            length += counts[j]
        start_total = 0.0
        for k in range(n_topics):
            start_total += nt[k]
        start_scale = length / start_total
        for k in range(n_topics):
            nt[k] *= start_scale
        tokens_seen = 0.0
        for _ in range(burn_in):
            for j in range(lo, hi):
                c = counts[j]
                if c <= 0.0:
                    continue
                row = beta[word_index[j]]
                total = 0.0
                for k in range(n_topics):
                    value = row[k] * (nt[k] + alpha[k])
                    weights[k] = value
                    total += value
                r = step_scale * (step_offset + tokens_seen) ** -step_decay
                keep = (1.0 - min(r, 1.0)) ** c
                move = (1.0 - keep) * length / total
                for k in range(n_topics):
                    nt[k] = keep * nt[k] + move * weights[k]
                tokens_seen += c
        tw = theta_weight[d]
        for k in range(n_topics):
            tw[k] = nt[k] + alpha[k]
        ll = 0.0
        for j in range(lo, hi):
            c = counts[j]
            row = beta[word_index[j]]
            total = 0.0
            for k in range(n_topics):
                total += row[k] * tw[k]
            ratio[j] = c / total
            if c > 0.0:
                ll += c * math.log(total)
        doc_loglik[d] = ll - length * math.log(length + alpha_sum) if hi > lo else 0.0


def fold_in_documents(
    indptr: np.ndarray,
    word_index: np.ndarray,
    counts: np.ndarray,
    beta: np.ndarray,
    alpha: np.ndarray,
    n_theta: np.ndarray,
    *,
    burn_in: int,
    step_scale: float = 1.0,
    step_offset: float = 10.0,
    step_decay: float = 0.9,
    n_threads: int = 1,
) -> np.ndarray:
    """The document update of :func:`scvb0_documents` alone (no statistics): returns
    ``N_theta + alpha`` (n_docs, K) after ``burn_in`` sweeps from the start ``n_theta``
    (moved in place). Bitwise the same for any ``n_threads``."""
    n_docs, n_topics = n_theta.shape
    theta_weight = np.empty((n_docs, n_topics), dtype=np.float64)
    ratio = np.empty(len(counts), dtype=np.float64)
    doc_loglik = np.empty(n_docs, dtype=np.float64)
    if indptr[-1] < _INLINE_NONZEROS:
        n_threads = 1
    parallel_ranges(
        lambda lo, hi: scvb0_documents(
            indptr, word_index, counts, beta, alpha, n_theta, theta_weight, ratio, doc_loglik,
            lo, hi, int(burn_in), float(step_scale), float(step_offset), float(step_decay),
        ),
        split_by_weight(indptr + np.arange(n_docs + 1), 4 * max(1, n_threads)),
        n_threads,
    )
    return theta_weight


# Fewer non-zeros than this run on the calling thread (as inference's E-step does).
_INLINE_NONZEROS = 512


def run_scvb0_local(
    indptr: np.ndarray,
    word_index: np.ndarray,
    counts: np.ndarray,
    beta: np.ndarray,
    alpha: np.ndarray,
    n_theta: np.ndarray,
    *,
    burn_in: int,
    step_scale: float,
    step_offset: float,
    step_decay: float,
    n_threads: int = 1,
    word_rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Run the SCVB0 local step over a CSR unit, optionally on several threads.

    ``n_theta`` (n_docs, K) holds the hashed start on entry and ``N_theta`` on exit.
    ``word_index`` gives each non-zero's row of the statistics (the unit's words);
    ``beta`` holds those words' rows, or, with ``word_rows``, a larger set of rows of
    which ``word_rows[i]`` is the unit's word ``i``. Returns ``sstats`` (n_unit_words, K),
    the expected token counts ``sum over tokens of gamma`` at each word, ``theta_weight``
    (``N_theta + alpha``), ``doc_loglik`` (n_docs,). Bitwise the same for any
    ``n_threads``.
    """
    n_docs, n_topics = n_theta.shape
    if word_rows is None:
        n_words = beta.shape[0]
        beta_row = np.arange(n_words, dtype=np.int64)
        row_index = word_index
    else:
        n_words = len(word_rows)
        beta_row = np.asarray(word_rows, dtype=np.int64)
        row_index = beta_row[word_index]
    theta_weight = np.empty((n_docs, n_topics), dtype=np.float64)
    ratio = np.empty(len(counts), dtype=np.float64)
    doc_loglik = np.empty(n_docs, dtype=np.float64)
    sstats = np.empty((n_words, n_topics), dtype=np.float64)
    doc_bounds = split_by_weight(indptr + np.arange(n_docs + 1), 4 * max(1, n_threads))
    parallel_ranges(
        lambda lo, hi: scvb0_documents(
            indptr, row_index, counts, beta, alpha, n_theta, theta_weight, ratio, doc_loglik,
            lo, hi, int(burn_in), float(step_scale), float(step_offset), float(step_decay),
        ),
        doc_bounds,
        n_threads,
    )
    word_bounds = np.linspace(0, n_words, max(1, n_threads) + 1).astype(np.int64)
    parallel_ranges(
        lambda lo, hi: accumulate_sstats(
            indptr, word_index, ratio, theta_weight, beta, beta_row, lo, hi, sstats
        ),
        word_bounds,
        n_threads,
    )
    return {
        "sstats": sstats,
        "theta_weight": theta_weight,
        "doc_loglik": doc_loglik,
    }
