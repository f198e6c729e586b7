"""Anchor-word topic recovery (Arora, Ge, Halpern, Mimno, Moitra, Sontag, Wu & Zhu, ICML
2013): topics from the word co-occurrence matrix of a sample of documents.

The pieces, each a function of its inputs only (no thread-dependent sums):

- :func:`word_cooccurrence`: ``Q[a, b]``, the probability that two distinct tokens drawn
  from a document are words a and b, averaged over documents of at least two tokens::

      Q = mean_d (x_d x_d^T - diag(x_d)) / (n_d (n_d - 1))

  for every word a (rows) and the first ``n_columns`` words b, accumulated by a Numba
  kernel in which each thread owns ranges of rows and adds documents in order (the same
  bits for any number of threads); :func:`word_marginals`: its full row sums ``p(a)``;
- :func:`find_anchors_denoised` (the start's) or :func:`find_anchors`: K anchor words,
  by greedy Gram-Schmidt on the rows ``Qbar[a] = Q[a] / p(a) = p(w2 | w1 = a)``
  projected on the top-K eigenspace of ``Q`` (:func:`signal_subspace`) or on seeded
  random directions;
- :func:`recover_l2` (the start's): for each word a, the point ``C[a]`` of the simplex
  minimising ``|| Qbar[a] - C[a] Qbar[anchors] ||^2`` (``C[a, k] = p(z = k | w = a)``),
  by accelerated projected gradient (FISTA) with the exact Lipschitz step;
  :func:`recover_kl`: the KL objective instead, by exponentiated gradient.
  ``topics[k, a]`` is then ``C[a, k] p(a)`` normalised over a.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from svi_lda.parallel import parallel_ranges, split_by_weight

ROWS_BYTES_PER_RANGE = 2 << 20


@njit(nogil=True, cache=True)
def cooccurrence_upper_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, doc_weight: np.ndarray,
    n_columns: int, row_lo: int, row_hi: int, out: np.ndarray,
) -> None:
    """Add ``doc_weight[d] * (x_d x_d^T - diag(x_d))`` to rows ``row_lo:row_hi`` of ``out``
    (M, n_columns): for a row ``a < n_columns`` its upper triangle (``b >= a``) only, for
    a row ``a >= n_columns`` all its columns.

    ``indices`` of a document must be unique and sorted, so a document's words from
    ``row_lo`` on are found by bisection, its column words come first and each row is
    walked forward. Documents are added in order, so each entry's sum has one order
    whatever the row ranges. Mirroring the strict upper triangle of the first
    ``n_columns`` rows gives the full matrix (``tests/reference.py::cooccurrence_reference``).
    """
    for d in range(indptr.shape[0] - 1):
        w = doc_weight[d]
        if w == 0.0:
            continue
        lo = indptr[d]
        hi = indptr[d + 1]
        first = lo + np.searchsorted(indices[lo:hi], row_lo)
        for i in range(first, hi):
            a = indices[i]
            if a >= row_hi:
                break
            xa = data[i] * w
            row = out[a]
            if a < n_columns:
                row[a] += xa * (data[i] - 1.0)
                start = i + 1
            else:
                start = lo
            for j in range(start, hi):
                b = indices[j]
                if b >= n_columns:
                    break
                row[b] += xa * data[j]


def word_cooccurrence(
    X: sp.csr_matrix, n_threads: int = 1, n_columns: int | None = None
) -> np.ndarray:
    """The word co-occurrence matrix ``Q`` of the documents of ``X`` (n, M): all M words'
    rows over the first ``n_columns`` words (default M).

    ``Q[a, b]`` is the probability that two distinct tokens drawn from a document are
    words a and b, averaged over the documents of at least two tokens; its square part
    is symmetric and ``Q`` sums to 1 when ``n_columns`` is M (if any document counts).
    Bitwise the same for any ``n_threads``. Memory: M x n_columns float64. The work of
    the rows past ``n_columns`` is proportional to their words' occurrences, so rare
    words add rows cheaply.
    """
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)  # sorted below: not the caller's
    X.sum_duplicates()
    X.sort_indices()  # the kernel bisects each document's words
    n_rows = X.shape[1]
    n_columns = n_rows if n_columns is None else int(n_columns)
    doc_weight = cooccurrence_weights(X)
    out = np.zeros((n_rows, n_columns))
    # Row ranges of similar work: a non-zero's work is about the column words of its
    # document (half of them for a column word's row: the upper triangle).
    doc_of = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    doc_columns = np.bincount(doc_of, weights=X.indices < n_columns, minlength=X.shape[0])
    work = np.bincount(X.indices, weights=doc_columns[doc_of], minlength=n_rows)
    work[:n_columns] *= 0.5
    # Ranges of about 2 MB of rows, so a range's rows stay in cache while every document
    # is walked for it: measured 2x faster than 8 ranges of 18 MB (round 4).
    n_ranges = max(4 * max(1, n_threads), out.nbytes // ROWS_BYTES_PER_RANGE)
    bounds = split_by_weight(np.concatenate(([0.0], np.cumsum(work + 1.0))), n_ranges)
    parallel_ranges(
        lambda lo, hi: cooccurrence_upper_rows(
            X.indptr, X.indices, X.data, doc_weight, n_columns, lo, hi, out),
        bounds, n_threads,
    )
    square = out[:n_columns]
    square += np.triu(square, 1).T
    n_used = int((doc_weight > 0).sum())
    if n_used:
        out /= n_used
    return out


def cooccurrence_weights(X: sp.csr_matrix) -> np.ndarray:
    """Each document's weight ``1 / (n_d (n_d - 1))``, 0 below two tokens."""
    lengths = np.asarray(X.sum(axis=1)).ravel()
    usable = lengths >= 2.0
    weight = np.zeros(X.shape[0])
    weight[usable] = 1.0 / (lengths[usable] * (lengths[usable] - 1.0))
    return weight


def word_marginals(X: sp.csr_matrix) -> np.ndarray:
    """``p(w)`` of the co-occurrence: ``mean_d x_d / n_d`` over the documents of at least
    two tokens, the full row sums of ``Q`` (over every word, not only its columns)."""
    X = sp.csr_matrix(X, dtype=np.float64)
    lengths = np.asarray(X.sum(axis=1)).ravel()
    usable = lengths >= 2.0
    weight = np.where(usable, 1.0 / np.maximum(lengths, 1.0), 0.0)
    return np.asarray(X.T @ weight).ravel() / max(int(usable.sum()), 1)


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
    rng = np.random.default_rng(seed)
    n_cols = qbar.shape[1]
    dim = min(projection_dim, n_cols)
    projection = rng.standard_normal((n_cols, dim)) / np.sqrt(dim)
    return _greedy_anchors(qbar[candidates] @ projection, candidates, n_anchors)


def _greedy_anchors(points: np.ndarray, candidates: np.ndarray, n_anchors: int) -> np.ndarray:
    """FastAnchorWords' greedy Gram-Schmidt on ``points``, the candidates' projected rows."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) < n_anchors:
        raise ValueError(
            f"only {len(candidates)} words are frequent enough to be anchor words for "
            f"{n_anchors} topics: the corpus is too small for init='anchors' "
            "(meant for about a million documents); use the default init='documents'"
        )
    points = np.array(points, dtype=np.float64)
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


def signal_subspace(Q: np.ndarray, rank: int, *, seed: int, power_steps: int = 4) -> np.ndarray:
    """An orthonormal basis (M, rank) of the top-``rank`` eigenspace of the symmetric ``Q``.

    Seeded randomized subspace iteration (Halko, Martinsson & Tropp 2011): ``power_steps``
    products with ``Q`` from a Gaussian start with 10 extra columns, re-orthonormalised
    after each, then the Rayleigh-Ritz step keeps the ``rank`` eigenvectors of largest
    magnitude. The population ``Q = A E[theta theta^T] A^T`` has rank K and its rows span
    the topics, so this is the space the anchor search needs; the sampled ``Q``'s
    remaining directions are noise.
    """
    rng = np.random.default_rng(seed)
    n_words = Q.shape[0]
    width = min(n_words, rank + 10)
    basis = _orthonormal(rng.standard_normal((n_words, width)))
    for _ in range(power_steps):
        basis = _orthonormal(Q @ basis)
    small = basis.T @ Q @ basis
    values, vectors = np.linalg.eigh(0.5 * (small + small.T))
    keep = np.argsort(-np.abs(values), kind="stable")[: min(rank, width)]
    return basis @ vectors[:, keep]


def _orthonormal(Y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the span of ``Y``'s columns, by the eigendecomposition of
    its small Gram matrix, twice (as CholeskyQR2); directions below 1e-10 of the largest
    are dropped. Matrix products only: LAPACK's QR took 0.3-1.8 s on the shared VM."""
    for _ in range(2):
        values, vectors = np.linalg.eigh(Y.T @ Y)
        keep = values > 1e-10 * max(float(values[-1]), 1e-300)
        Y = Y @ (vectors[:, keep] / np.sqrt(values[keep]))
    return Y


def find_anchors_denoised(
    qbar: np.ndarray, Q: np.ndarray, candidates: np.ndarray, n_anchors: int, *, seed: int,
    rank: int | None = None,
) -> np.ndarray:
    """:func:`find_anchors` on the candidates' rows projected on ``Q``'s top-``rank``
    eigenspace (default ``n_anchors``) instead of random directions: the projection
    removes the sampling noise outside the topics' span, which otherwise makes the rows
    of rarer words look farthest out."""
    basis = signal_subspace(Q, n_anchors if rank is None else rank, seed=seed)
    return _greedy_anchors(qbar[candidates] @ basis, candidates, n_anchors)


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


def recover_kl(
    qbar: np.ndarray, anchors: np.ndarray, *, iterations: int = 100,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """``C`` (M, K): each word's point of the simplex minimising
    ``KL(Qbar[a] || C[a] Qbar[anchors])``, the paper's RecoverKL.

    Exponentiated gradient on all words at once, each word with its own step, doubled
    after a step that lowers its objective and halved (the step undone) after one that
    does not, so each word's objective never increases. ``start`` (default: uniform, the
    anchors at their own vertex) may be RecoverL2's solution.
    """
    rows = qbar[anchors]
    n_words, n_topics = qbar.shape[0], len(anchors)
    if start is None:
        current = np.full((n_words, n_topics), 1.0 / n_topics)
        current[anchors] = np.eye(n_topics)
    else:
        current = np.maximum(start, 1e-12)
        current /= current.sum(axis=1, keepdims=True)
    tiny = 1e-300
    support = qbar > 0

    def objective(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mixed = C @ rows
        ratio = np.where(support, qbar / np.maximum(mixed, tiny), 0.0)
        value = -np.where(support, qbar * np.log(np.maximum(mixed, tiny)), 0.0).sum(axis=1)
        return value, ratio

    value, ratio = objective(current)
    step = np.ones(n_words)
    for _ in range(iterations):
        gradient = -(ratio @ rows.T)
        with np.errstate(divide="ignore"):
            exponent = np.log(current) - step[:, None] * gradient
        trial = np.exp(exponent - exponent.max(axis=1, keepdims=True))
        trial /= trial.sum(axis=1, keepdims=True)
        trial_value, trial_ratio = objective(trial)
        better = trial_value <= value
        current[better] = trial[better]
        value[better] = trial_value[better]
        ratio[better] = trial_ratio[better]
        step = np.where(better, np.minimum(2.0 * step, 1e6), 0.5 * step)
    return current


def anchor_topics(
    X: sp.csr_matrix, n_topics: int, *, seed: int, n_columns: int | None = None,
    min_anchor_docs: int = 50, n_threads: int = 1, iterations: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Topics over the columns of ``X`` (a sample of documents, n x M) by anchor words.

    Each of the M words' rows of the co-occurrence is taken over the first ``n_columns``
    words (default M) and divided by the word's marginal (:func:`word_marginals`), so
    it is exactly a convex combination of the anchors' rows; the anchors are searched
    among the rows projected on the topics' span (:func:`find_anchors_denoised`).
    Returns ``(topics, weights)``: ``topics`` (K, M), rows sum to 1; ``weights`` (K,),
    each topic's share of the tokens, ``p(z = k)``. Anchor candidates are the words in at
    least ``min_anchor_docs`` documents of the sample.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    X.sum_duplicates()
    n_columns = X.shape[1] if n_columns is None else int(n_columns)
    Q = word_cooccurrence(X, n_threads, n_columns)
    p_word = word_marginals(X)
    qbar = Q / np.maximum(p_word, 1e-300)[:, None]
    doc_freq = np.bincount(X.indices[X.data > 0], minlength=X.shape[1])
    candidates = np.flatnonzero((doc_freq >= min_anchor_docs) & (p_word > 0))
    anchors = find_anchors_denoised(qbar, Q[:n_columns], candidates, n_topics, seed=seed)
    C = recover_l2(qbar, anchors, iterations=iterations)
    joint = C * p_word[:, None]  # p(w, z)
    weights = joint.sum(axis=0)
    topics = (joint / np.maximum(weights, 1e-300)).T
    return topics, weights / weights.sum()
