"""Anchor-word topic recovery (Arora, Ge, Halpern, Mimno, Moitra, Sontag, Wu & Zhu, ICML
2013): topics from the word co-occurrence matrix of a sample of documents.

Three pieces, each a function of its inputs only (no thread-dependent sums):

- :func:`word_cooccurrence`: ``Q[a, b]``, the probability that two distinct tokens drawn
  from a document are words a and b, averaged over documents of at least two tokens::

      Q = mean_d (x_d x_d^T - diag(x_d)) / (n_d (n_d - 1))

  accumulated by a Numba kernel in which each thread owns a range of rows of ``Q`` and
  adds documents in order (the same bits for any number of threads);
- :func:`find_anchors`: K anchor words, by greedy Gram-Schmidt on a seeded random
  projection of the row-normalised ``Q`` (``Qbar[a] = p(w2 | w1 = a)``);
- :func:`recover_l2`: for each word a, the point ``C[a]`` of the simplex minimising
  ``|| Qbar[a] - C[a] Qbar[anchors] ||^2`` (``C[a, k] = p(z = k | w = a)``), by
  accelerated projected gradient (FISTA) with the exact Lipschitz step.
  ``topics[k, a]`` is then ``C[a, k] p(a)`` normalised over a.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from svi_lda.parallel import parallel_ranges, split_by_weight


@njit(nogil=True, cache=True)
def cooccurrence_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, doc_weight: np.ndarray,
    row_lo: int, row_hi: int, out: np.ndarray,
) -> None:
    """Add ``doc_weight[d] * (x_d x_d^T - diag(x_d))`` to rows ``row_lo:row_hi`` of ``out``.

    ``out`` is (M, M) float64; ``indices`` of a document must be unique. Documents are
    added in order, so each entry's sum has one order whatever the row ranges.

    Equivalent to: ``out[lo:hi] += (X.T @ diag(w) @ X - diag(X.T @ w * ...))[lo:hi]``
    (see ``tests/reference.py::cooccurrence_reference``).
    """
    for d in range(indptr.shape[0] - 1):
        w = doc_weight[d]
        if w == 0.0:
            continue
        lo = indptr[d]
        hi = indptr[d + 1]
        for i in range(lo, hi):
            a = indices[i]
            if a < row_lo or a >= row_hi:
                continue
            xa = data[i] * w
            row = out[a]
            for j in range(lo, hi):
                row[indices[j]] += xa * data[j]
            row[a] -= xa


def word_cooccurrence(X: sp.csr_matrix, n_threads: int = 1) -> np.ndarray:
    """The word co-occurrence matrix ``Q`` (M, M) of the documents of ``X`` (n, M).

    Documents with fewer than two tokens are left out. ``Q`` sums to 1 (if any document
    counts); bitwise the same for any ``n_threads``. Memory: M x M float64.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    X.sum_duplicates()
    lengths = np.asarray(X.sum(axis=1)).ravel()
    usable = lengths >= 2.0
    doc_weight = np.zeros(X.shape[0])
    doc_weight[usable] = 1.0 / (lengths[usable] * (lengths[usable] - 1.0))
    n_words = X.shape[1]
    out = np.zeros((n_words, n_words))
    # Row ranges of similar work: a row's work is its non-zeros times their documents' sizes.
    doc_nnz = np.diff(X.indptr).astype(np.float64)
    work = np.bincount(X.indices, weights=np.repeat(doc_nnz, np.diff(X.indptr)),
                       minlength=n_words)
    bounds = split_by_weight(np.concatenate(([0.0], np.cumsum(work + 1.0))),
                             4 * max(1, n_threads))
    indptr = X.indptr.astype(np.int64)
    indices = X.indices.astype(np.int64)
    parallel_ranges(
        lambda lo, hi: cooccurrence_rows(indptr, indices, X.data, doc_weight, lo, hi, out),
        bounds, n_threads,
    )
    n_used = int(usable.sum())
    if n_used:
        out /= n_used
    return out


def find_anchors(
    qbar: np.ndarray, candidates: np.ndarray, n_anchors: int, *, seed: int,
    projection_dim: int = 1000,
) -> np.ndarray:
    """Indices of ``n_anchors`` anchor words among ``candidates`` (indices into ``qbar``).

    ``qbar`` is the row-normalised co-occurrence matrix. Its candidate rows are projected
    on ``projection_dim`` seeded Gaussian directions, then the anchors are chosen
    greedily: the row farthest from the origin, then (with that row as the origin) the
    row farthest from the span of those chosen, removing each new direction
    (Gram-Schmidt), as in the paper's FastAnchorWords.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) < n_anchors:
        raise ValueError(
            f"only {len(candidates)} words are frequent enough to be anchor words for "
            f"{n_anchors} topics: the corpus is too small for init='anchors' "
            "(meant for about a million documents); use the default init='documents'"
        )
    rng = np.random.default_rng(seed)
    n_cols = qbar.shape[1]
    dim = min(projection_dim, n_cols)
    projection = rng.standard_normal((n_cols, dim)) / np.sqrt(dim)
    points = qbar[candidates] @ projection
    chosen = [int(np.argmax(np.einsum("ij,ij->i", points, points)))]
    points = points - points[chosen[0]]
    for _ in range(1, n_anchors):
        norms = np.einsum("ij,ij->i", points, points)
        norms[chosen] = -1.0
        best = int(np.argmax(norms))
        chosen.append(best)
        direction = points[best] / np.sqrt(max(norms[best], 1e-300))
        points -= np.outer(points @ direction, direction)
    return candidates[np.array(chosen, dtype=np.int64)]


def project_rows_to_simplex(Y: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``Y`` onto the probability simplex (sort-based,
    Held, Wolfe & Crowder 1974)."""
    n, k = Y.shape
    ordered = -np.sort(-Y, axis=1)
    cumulative = np.cumsum(ordered, axis=1) - 1.0
    ranks = np.arange(1, k + 1)
    positive = ordered - cumulative / ranks > 0
    last = k - 1 - np.argmax(positive[:, ::-1], axis=1)
    shift = cumulative[np.arange(n), last] / (last + 1)
    return np.maximum(Y - shift[:, None], 0.0)


def recover_l2(qbar: np.ndarray, anchors: np.ndarray, *, iterations: int = 500) -> np.ndarray:
    """``C`` (M, K): each word's point of the simplex nearest (in L2) to its ``qbar`` row
    among the convex combinations of the anchors' rows.

    Minimises ``C[a] G C[a]^T - 2 C[a] b[a]`` with ``G = Qbar_S Qbar_S^T`` and
    ``b = Qbar Qbar_S^T``, for all words at once, by FISTA with step ``1 / (2 max eig G)``.
    """
    rows = qbar[anchors]
    gram = rows @ rows.T
    linear = qbar @ rows.T
    lipschitz = 2.0 * float(np.linalg.eigvalsh(gram)[-1])
    n_words, n_topics = linear.shape
    current = np.full((n_words, n_topics), 1.0 / n_topics)
    current[anchors] = np.eye(n_topics)
    point, momentum = current.copy(), 1.0
    for _ in range(iterations):
        gradient = 2.0 * (point @ gram - linear)
        following = project_rows_to_simplex(point - gradient / lipschitz)
        next_momentum = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * momentum * momentum))
        point = following + ((momentum - 1.0) / next_momentum) * (following - current)
        current, momentum = following, next_momentum
    return current


def anchor_topics(
    X: sp.csr_matrix, n_topics: int, *, seed: int, min_anchor_docs: int = 50,
    n_threads: int = 1, iterations: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Topics over the columns of ``X`` (a sample of documents, n x M) by anchor words.

    Returns ``(topics, weights)``: ``topics`` (K, M), rows sum to 1; ``weights`` (K,),
    each topic's share of the tokens, ``p(z = k)``. Anchor candidates are the words in at
    least ``min_anchor_docs`` documents of the sample.
    """
    Q = word_cooccurrence(X, n_threads)
    p_word = Q.sum(axis=1)
    qbar = Q / np.maximum(p_word, 1e-300)[:, None]
    doc_freq = np.diff(sp.csc_matrix(X).indptr)
    candidates = np.flatnonzero((doc_freq >= min_anchor_docs) & (p_word > 0))
    anchors = find_anchors(qbar, candidates, n_topics, seed=seed)
    C = recover_l2(qbar, anchors, iterations=iterations)
    joint = C * p_word[:, None]  # p(w, z)
    weights = joint.sum(axis=0)
    topics = (joint / np.maximum(weights, 1e-300)).T
    return topics, weights / weights.sum()
