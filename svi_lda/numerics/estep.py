"""The local (E-step) update of mean-field LDA, compiled with Numba.

Per document d with word counts n_w, Hoffman et al. (2010, Algorithm 2; 2013, Figure 6)
iterate until the mean absolute change in gamma falls below ``tol``::

    expElogtheta = exp(digamma(gamma) - digamma(sum(gamma)))
    phinorm_w    = sum_k expElogtheta_k * expElogbeta_kw
    gamma        = alpha + expElogtheta * sum_w (n_w / phinorm_w) * expElogbeta_kw

and the minibatch's sufficient statistics are
``sstats_kw = sum_d expElogtheta_dk * (n_dw / phinorm_dw) * expElogbeta_kw``.

Layout and determinism
----------------------
``exp_elog_beta`` holds only the minibatch's words, word-major: shape (n_batch_words, K), so
each word's K topic weights are one contiguous row. Its rows may be scaled by any positive
per-word factor (we scale each to a maximum of 1 so float32 never underflows): the factor
cancels in phi and in the sufficient statistics, and ``log_shift`` restores it in the
log-likelihood.

``estep_documents`` writes only per-document outputs (gamma, expElogtheta, n/phinorm), so
threads given disjoint document ranges never race. ``accumulate_sstats`` then sums over
documents in document order for each word, with threads given disjoint word ranges: the
result is bitwise the same for any number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from svi_lda._config import FASTMATH_FLAGS, PHINORM_EPS, WORKING_FLOOR
from svi_lda.numerics.special import digamma, exp_digamma, exp_dirichlet_expectation
from svi_lda.parallel import parallel_ranges, split_by_weight

# Largest |a| of a SQUAREM step (see _squarem_extrapolate).
_SQUAREM_MAX_STEP = 4.0


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def estep_documents(
    indptr,
    word_index,
    counts,
    exp_elog_beta,
    log_shift,
    alpha,
    gamma,
    exp_elog_theta,
    elog_theta,
    ratio,
    doc_bound,
    n_iter,
    doc_start,
    doc_stop,
    max_iter,
    tol,
    phinorm_eps,
    floor,
    accelerate,
):
    """Run the mean-field document update for documents ``doc_start:doc_stop`` in place.

    Parameters
    ----------
    indptr : int64 array, shape (n_docs + 1,), starting at 0
    word_index : int array, shape (nnz,)
        Row of ``exp_elog_beta`` for each non-zero.
    counts : float64 array, shape (nnz,)
    exp_elog_beta : float32 or float64 array, shape (n_batch_words, K)
        exp(E[log beta]) for the minibatch's words, each row scaled by exp(-log_shift).
        Its dtype is the working precision of the inner loop (float32: twice the SIMD
        lanes); gamma, the bound and all outputs are float64 either way.
    log_shift : float64 array, shape (n_batch_words,)
    alpha : float64 array, shape (K,)
    gamma : float64 array, shape (n_docs, K)
        Initial gamma on entry, converged gamma on exit.
    exp_elog_theta : float64 array, shape (n_docs, K)
        Output: exp(E[log theta]) at the final gamma.
    elog_theta : float64 array, shape (n_docs, K)
        Output: E[log theta] at the final gamma.
    ratio : float64 array, shape (nnz,)
        Output: n_w / phinorm_w at the final gamma (scaled rows).
    doc_bound : float64 array, shape (n_docs,)
        Output: the document's ELBO terms in nats with phi at its optimum,
        ``sum_w n_w log sum_k exp(E[log theta_k] + E[log beta_kw])``
        ``+ E[log p(theta|alpha)] - E[log q(theta|gamma)]``.
    n_iter : int64 array, shape (n_docs,)
        Output: gamma updates made per document.
    max_iter, tol : int, float
        At most ``max_iter`` gamma updates; stop once an update changes gamma by less
        than ``tol`` on average.
    phinorm_eps : scalar of exp_elog_beta's dtype
        Guard added to phinorm (1e-100 in float64, 1e-30 in float32).
    floor : float
        Least value of the scaled topic weights in the working dtype, so that no product
        in the inner loop is subnormal (``_config.WORKING_FLOOR``).
    accelerate : bool
        Extrapolate every second update (SQUAREM; see :func:`_squarem_extrapolate`). The
        fixed point and the stopping rule are unchanged; it gets there in fewer passes.

    Equivalent to: the per-document loop of ``tests/reference.py::estep_reference``.
    """
    n_topics = alpha.shape[0]
    work = exp_elog_beta.dtype
    acc = np.empty(n_topics, dtype=work)
    et_work = np.empty(n_topics, dtype=work)
    longest = 0
    for d in range(doc_start, doc_stop):
        longest = max(longest, indptr[d + 1] - indptr[d])
    doc_rows = np.empty((longest, n_topics), dtype=work)
    doc_counts = np.empty(longest, dtype=work)
    doc_ratio = np.empty(longest, dtype=work)
    # gamma two updates ago and one update ago, for the extrapolation.
    g_base = np.empty(n_topics, dtype=np.float64)
    g_first = np.empty(n_topics, dtype=np.float64)
    alpha_sum = 0.0
    lgamma_alpha = 0.0
    for k in range(n_topics):
        alpha_sum += alpha[k]
        lgamma_alpha += math.lgamma(alpha[k])
    for d in range(doc_start, doc_stop):
        lo = indptr[d]
        hi = indptr[d + 1]
        g = gamma[d]
        et = exp_elog_theta[d]
        if hi == lo:
            # An empty document's optimum is the prior itself.
            for k in range(n_topics):
                g[k] = alpha[k]
            exp_dirichlet_expectation(g, et)
            _theta_terms(g, alpha, alpha_sum, lgamma_alpha, elog_theta[d])
            doc_bound[d] = 0.0
            n_iter[d] = 0
            continue
        # The document's rows and counts, contiguous, in the working precision: every pass
        # below streams through them in order.
        n_words = hi - lo
        for i in range(n_words):
            src = exp_elog_beta[word_index[lo + i]]
            dst = doc_rows[i]
            for k in range(n_topics):
                dst[k] = src[k]
            doc_counts[i] = counts[lo + i]
        # exp(E[log theta]) is only needed up to a factor: the update is invariant to it
        # (phinorm and the accumulator scale inversely). So the loop uses exp(digamma(g))
        # (vectorised, no digamma of the sum) divided by its maximum (nothing underflows
        # in float32), and normalises once at the end.
        _exp_digamma_rows(g, et)
        scale = _scaled_copy(et, et_work, floor)
        converged = False
        it = 0
        second = False  # whether the next update is the second of an extrapolation cycle
        while True:
            # One fused pass: phinorm for each word, then accumulate its contribution.
            _full_pass(doc_counts, doc_rows, et_work, n_words, acc, doc_ratio, phinorm_eps)
            # The ratios now match gamma: stop here so the statistics use the final gamma.
            if converged or it >= max_iter:
                break
            if accelerate:
                saved = g_first if second else g_base
                for k in range(n_topics):
                    saved[k] = g[k]
            change = 0.0
            for k in range(n_topics):
                new = alpha[k] + float(et_work[k]) * float(acc[k])
                change += abs(new - g[k])
                g[k] = new
            it += 1
            converged = change / n_topics < tol
            # Never end on an extrapolated point: the final gamma must be an update's
            # output (sum_k gamma = sum(alpha) + N_d, and phi optimal for it).
            if accelerate and not converged and it < max_iter:
                if second:
                    _squarem_extrapolate(g_base, g_first, g, alpha)
                second = not second
            _exp_digamma_rows(g, et)
            scale = _scaled_copy(et, et_work, floor)
        # Normalise: exp(E[log theta]) = exp(digamma(g)) / exp(digamma(sum g)); the ratios
        # were computed with et * scale, so they carry 1 / scale.
        g_sum = 0.0
        for k in range(n_topics):
            g_sum += g[k]
        norm = exp_digamma(g_sum)
        inv_norm = 1.0 / norm
        for k in range(n_topics):
            et[k] *= inv_norm
        ll = 0.0
        for i in range(n_words):
            r = float(doc_ratio[i]) * scale * norm
            ratio[lo + i] = r
            c = counts[lo + i]
            if c > 0.0:
                # phinorm = c / ratio, shifted back to the unscaled exp(E[log beta]).
                ll += c * (math.log(c / r) + log_shift[word_index[lo + i]])
        doc_bound[d] = ll + _theta_terms(g, alpha, alpha_sum, lgamma_alpha, elog_theta[d])
        n_iter[d] = it


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def _squarem_extrapolate(g0, g1, g2, alpha):
    """Overwrite ``g2`` with the SQUAREM step from three successive iterates.

    Equivalent to: ``r = g1 - g0; v = g2 - g1 - r; a = clip(-|r| / |v|, -4, -1)``;
    ``g2[:] = max(g0 - 2 a r + a**2 v, alpha)``.

    The gamma update is a fixed-point map g -> F(g) that converges linearly, slowly for
    long documents. SQUAREM (Varadhan & Roland 2008, scheme S3) extrapolates along the
    last two steps; ``a = -1`` gives back ``g2`` itself. The step is capped at 4: near the
    fixed point r and v are rounding noise and an uncapped ratio of the two jumps
    anywhere (the cap also measured as fast as larger ones on 20 Newsgroups). Clipping at
    alpha keeps the point inside the map's range (every F(g) is at least alpha). The next
    updates start from the extrapolated point, so the stopping rule still tests
    ``|F(g) - g|``.
    """
    rr = 0.0
    vv = 0.0
    for k in range(g0.shape[0]):
        r = g1[k] - g0[k]
        v = g2[k] - g1[k] - r
        rr += r * r
        vv += v * v
    if vv <= 0.0:
        return
    a = max(min(-math.sqrt(rr / vv), -1.0), -_SQUAREM_MAX_STEP)
    for k in range(g0.shape[0]):
        r = g1[k] - g0[k]
        v = g2[k] - g1[k] - r
        g2[k] = max(g0[k] - 2.0 * a * r + a * a * v, alpha[k])


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def _scaled_copy(et, et_work, floor):
    """et_work = maximum(et / max(et), floor) in the working dtype; returns 1 / max(et)."""
    top = et[0]
    for k in range(1, et.shape[0]):
        top = max(top, et[k])
    scale = 1.0 / top
    for k in range(et.shape[0]):
        et_work[k] = max(et[k] * scale, floor)
    return scale


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def _full_pass(counts, rows, et, n_words, acc, ratio, eps):
    """acc = sum_w (n_w / phinorm_w) * row_w; ratio_w = n_w / phinorm_w (working dtype).

    Four words per step: four independent dot products hide the reduction latency, and
    ``acc`` is loaded and stored once per four rows instead of once per row.
    """
    n_topics = et.shape[0]
    zero = eps - eps  # typed like the working dtype
    for k in range(n_topics):
        acc[k] = zero
    j = 0
    while j + 4 <= n_words:
        r0 = rows[j]
        r1 = rows[j + 1]
        r2 = rows[j + 2]
        r3 = rows[j + 3]
        p0 = zero
        p1 = zero
        p2 = zero
        p3 = zero
        for k in range(n_topics):
            e = et[k]
            p0 += e * r0[k]
            p1 += e * r1[k]
            p2 += e * r2[k]
            p3 += e * r3[k]
        q0 = counts[j] / (p0 + eps)
        q1 = counts[j + 1] / (p1 + eps)
        q2 = counts[j + 2] / (p2 + eps)
        q3 = counts[j + 3] / (p3 + eps)
        ratio[j] = q0
        ratio[j + 1] = q1
        ratio[j + 2] = q2
        ratio[j + 3] = q3
        for k in range(n_topics):
            acc[k] += (q0 * r0[k] + q1 * r1[k]) + (q2 * r2[k] + q3 * r3[k])
        j += 4
    while j < n_words:
        row = rows[j]
        p = zero
        for k in range(n_topics):
            p += et[k] * row[k]
        q = counts[j] / (p + eps)
        ratio[j] = q
        for k in range(n_topics):
            acc[k] += q * row[k]
        j += 1


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def _exp_digamma_rows(g, out):
    """Equivalent to: ``out[:] = np.exp(digamma(g))`` (vectorised)."""
    for k in range(g.shape[0]):
        out[k] = exp_digamma(g[k])


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def _theta_terms(g, alpha, alpha_sum, lgamma_alpha, elog_out):
    """Write E[log theta] into ``elog_out``; return E[log p(theta|alpha) - log q(theta|g)]."""
    g_sum = 0.0
    for k in range(g.shape[0]):
        g_sum += g[k]
    psi_sum = digamma(g_sum)
    total = math.lgamma(alpha_sum) - lgamma_alpha - math.lgamma(g_sum)
    for k in range(g.shape[0]):
        e = digamma(g[k]) - psi_sum
        elog_out[k] = e
        total += (alpha[k] - g[k]) * e + math.lgamma(g[k])
    return total


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def accumulate_sstats(
    indptr, word_index, ratio, exp_elog_theta, exp_elog_beta, beta_row, word_start, word_stop,
    sstats,
):
    """Sufficient statistics for batch words ``word_start:word_stop``, in document order.

    Equivalent to: ``sstats[w] = exp_elog_beta[beta_row[w]] * sum_d ratio[d, w] *
    exp_elog_theta[d]`` for each w in the range (rows outside the range are left
    untouched). ``word_index`` gives each non-zero's row of ``sstats``; ``beta_row`` maps
    that row to its row of ``exp_elog_beta`` (which may hold more words than the batch).
    """
    n_topics = exp_elog_theta.shape[1]
    for w in range(word_start, word_stop):
        for k in range(n_topics):
            sstats[w, k] = 0.0
    n_docs = indptr.shape[0] - 1
    for d in range(n_docs):
        et = exp_elog_theta[d]
        for j in range(indptr[d], indptr[d + 1]):
            w = word_index[j]
            if w < word_start or w >= word_stop:
                continue
            r = ratio[j]
            row = sstats[w]
            for k in range(n_topics):
                row[k] += r * et[k]
    for w in range(word_start, word_stop):
        row = sstats[w]
        eb = exp_elog_beta[beta_row[w]]
        for k in range(n_topics):
            row[k] *= eb[k]


def run_estep(
    indptr: np.ndarray,
    word_index: np.ndarray,
    counts: np.ndarray,
    exp_elog_beta: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    gamma: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    n_threads: int = 1,
    gamma_restart: np.ndarray | None = None,
    accelerate: bool = True,
    word_rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Run the E-step over a CSR minibatch, optionally on several threads.

    ``gamma`` (n_docs, K) is updated in place. Returns a dict with ``exp_elog_theta``
    and ``elog_theta`` (n_docs, K), ``sstats`` (n_batch_words, K), ``doc_bound`` (n_docs,)
    and ``n_iter`` (n_docs,). Results are bitwise identical for any ``n_threads``.
    The inner loop runs in ``exp_elog_beta``'s dtype. With ``gamma_restart`` (n_docs, K), each
    document is also run from that start and keeps whichever result has the higher
    bound, so the bound is never below what ``gamma`` alone reaches. ``accelerate``
    turns on SQUAREM extrapolation of the document updates (same fixed point and stopping
    rule, fewer passes); without it every update is the plain coordinate-ascent step, so
    each document's bound rises monotonically. With ``word_rows``, ``exp_elog_beta`` and
    ``log_shift`` may hold more words than the batch (a Dask worker's rows for all its
    units): ``word_index`` then gives each non-zero's batch word and ``word_rows`` that
    word's row; ``sstats`` are for the batch's words either way.
    """
    n_docs, n_topics = gamma.shape
    if word_rows is None:
        n_words = exp_elog_beta.shape[0]
        beta_row = np.arange(n_words, dtype=np.int64)
        row_index = word_index
    else:
        # The statistics stay the batch's own size: O(batch words), not O(rows sent).
        n_words = len(word_rows)
        beta_row = np.asarray(word_rows, dtype=np.int64)
        row_index = beta_row[word_index]
    exp_elog_theta = np.empty((n_docs, n_topics), dtype=np.float64)
    elog_theta = np.empty((n_docs, n_topics), dtype=np.float64)
    ratio = np.empty(len(counts), dtype=np.float64)
    doc_bound = np.empty(n_docs, dtype=np.float64)
    n_iter = np.empty(n_docs, dtype=np.int64)
    sstats = np.empty((n_words, n_topics), dtype=np.float64)
    args = (indptr, row_index, counts, exp_elog_beta, log_shift, alpha, gamma)
    outs = (exp_elog_theta, elog_theta, ratio, doc_bound, n_iter)
    eps = exp_elog_beta.dtype.type(PHINORM_EPS[exp_elog_beta.dtype.name])
    floor = WORKING_FLOOR[exp_elog_beta.dtype.name]
    # Several chunks per thread: documents converge at different speeds.
    doc_bounds = split_by_weight(indptr + np.arange(n_docs + 1), 4 * max(1, n_threads))

    def documents(args, outs):
        parallel_ranges(
            lambda lo, hi: estep_documents(
                *args, *outs, lo, hi, max_iter, tol, eps, floor, accelerate
            ),
            doc_bounds,
            n_threads,
        )

    documents(args, outs)
    if gamma_restart is not None:
        gamma_b = np.array(gamma_restart, dtype=np.float64, copy=True)
        outs_b = tuple(np.empty_like(a) for a in outs)
        documents((*args[:-1], gamma_b), outs_b)
        better = outs_b[3] > doc_bound
        gamma[better] = gamma_b[better]
        better_nonzeros = np.repeat(better, np.diff(indptr))
        for mine, theirs in zip(outs, outs_b, strict=True):
            if mine is ratio:
                mine[better_nonzeros] = theirs[better_nonzeros]
            elif mine is n_iter:
                mine += theirs
            else:
                mine[better] = theirs[better]
    word_bounds = np.linspace(0, n_words, max(1, n_threads) + 1).astype(np.int64)
    parallel_ranges(
        lambda lo, hi: accumulate_sstats(
            indptr, word_index, ratio, exp_elog_theta, exp_elog_beta, beta_row, lo, hi, sstats
        ),
        word_bounds,
        n_threads,
    )
    return {
        "exp_elog_theta": exp_elog_theta,
        "elog_theta": elog_theta,
        "sstats": sstats,
        "doc_bound": doc_bound,
        "n_iter": n_iter,
    }
