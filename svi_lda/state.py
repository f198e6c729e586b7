"""The global variational parameters and the natural-gradient step.

lambda (K x V, Dirichlet over words per topic) is kept in the lazy form of the design
notes, section 2::

    lambda[k, w] = eta + scale * word_topic[w, k]

so the Robbins-Monro step of Hoffman et al. (2013, eq. 25)::

    lambda <- (1 - rho) * lambda + rho * (eta + (D / S) * sstats)

costs one scalar multiply for the (1 - rho) decay plus an update of the minibatch's own
columns: O(K x words in the minibatch), not O(K x V). ``topic_sums`` tracks
``sum_w word_topic[w, k]`` the same way, which is all E[log beta] needs besides the
minibatch's columns. ``word_topic`` is stored word-major (V, K) so a word's K weights are
contiguous, the layout the E-step kernel reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.special import digamma, polygamma

from svi_lda._config import FASTMATH_FLAGS, RESCALE_THRESHOLD, WORKING_FLOOR
from svi_lda.numerics.special import exp_digamma
from svi_lda.parallel import parallel_ranges


@dataclass
class GlobalState:
    """Global parameters of LDA under stochastic variational inference.

    Attributes
    ----------
    word_topic : ndarray of shape (n_features, n_components)
        W in ``lambda = eta + scale * W.T`` (float32 or float64).
    scale : float
        The lazy decay factor.
    topic_sums : ndarray of shape (n_components,), float64
        ``W.sum(axis=0)``, kept up to date incrementally.
    alpha : ndarray of shape (n_components,), float64
        Document-topic Dirichlet prior (alpha in Hoffman et al.).
    eta : float
        Symmetric topic-word Dirichlet prior (eta in Hoffman et al.).
    step : int
        Natural-gradient steps taken.
    n_docs_seen : int
        Documents processed by those steps.
    """

    word_topic: np.ndarray
    scale: float
    topic_sums: np.ndarray
    alpha: np.ndarray
    eta: float
    step: int = 0
    n_docs_seen: int = 0

    @classmethod
    def initialize(
        cls,
        n_components: int,
        n_features: int,
        *,
        alpha: np.ndarray,
        eta: float,
        seed: int,
        dtype: str = "float64",
    ) -> GlobalState:
        """Random start lambda, uniform with mean 1 and standard deviation 0.1.

        The moments of Hoffman's and scikit-learn's Gamma(100, 1/100) start, drawn five
        times faster (uniform variates): at K=100 and V=21k the gamma draw alone was a
        tenth of a pass over 20 Newsgroups. It only breaks the symmetry between topics, so
        its shape does not matter. Drawn in float64 whatever the dtype, so float32 and
        float64 models start from the same point.
        """
        rng = np.random.default_rng(seed)
        half_width = math.sqrt(3.0) * 0.1
        draw = rng.random((n_features, n_components))
        draw *= 2.0 * half_width
        draw += 1.0 - half_width - eta
        word_topic = draw.astype(dtype, copy=False)
        return cls(
            word_topic=word_topic,
            scale=1.0,
            topic_sums=word_topic.sum(axis=0, dtype=np.float64),
            alpha=np.asarray(alpha, dtype=np.float64).copy(),
            eta=float(eta),
        )

    @property
    def n_components(self) -> int:
        """Number of topics K."""
        return self.word_topic.shape[1]

    @property
    def n_features(self) -> int:
        """Vocabulary size V."""
        return self.word_topic.shape[0]

    def lambda_(self) -> np.ndarray:
        """Dense lambda, shape (n_components, n_features), float64. O(K V)."""
        return self.eta + self.scale * self.word_topic.T.astype(np.float64)

    def topic_totals(self) -> np.ndarray:
        """``sum_w lambda[k, w]`` for each topic, shape (n_components,)."""
        return self.n_features * self.eta + self.scale * self.topic_sums

    def exp_elog_beta_rows(
        self, word_ids: np.ndarray, n_threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """exp(E[log beta]) for the given words, word-major and row-scaled.

        Returns ``(rows, log_shift)``: ``rows`` has shape (len(word_ids), K) and the
        state's dtype, each row divided by its maximum; ``log_shift`` (float64) is the log
        of that maximum, so ``exp(E[log beta[k, w]]) = rows[i, k] * exp(log_shift[i])``.
        Costs O(K x len(word_ids)).
        """
        word_ids = np.asarray(word_ids, dtype=np.int64)
        rows = np.empty((len(word_ids), self.n_components), dtype=self.word_topic.dtype)
        log_shift = np.empty(len(word_ids), dtype=np.float64)
        psi_totals = digamma(self.topic_totals())
        floor = _FLOOR_OF_DTYPE[rows.dtype]
        args = (
            self.word_topic, word_ids, self.scale, self.eta, psi_totals, floor, rows, log_shift
        )
        if n_threads <= 1:  # rows are independent: no partition to make
            _exp_elog_beta_rows(*args, 0, len(word_ids))
            return rows, log_shift
        bounds = np.linspace(0, len(word_ids), n_threads + 1).astype(np.int64)
        parallel_ranges(lambda lo, hi: _exp_elog_beta_rows(*args, lo, hi), bounds, n_threads)
        return rows, log_shift

    def add_to_lambda(self, word_ids: np.ndarray, increment: np.ndarray) -> None:
        """``lambda[:, word_ids] += increment.T`` in the lazy form: O(K x len(word_ids)).

        ``word_ids`` are sorted and unique; ``increment`` has shape (len(word_ids), K).
        """
        word_ids = np.asarray(word_ids, dtype=np.int64)
        sums = np.zeros(self.n_components, dtype=np.float64)
        _lazy_add(
            self.word_topic, word_ids, np.asarray(increment, dtype=np.float64),
            1.0 / self.scale, sums, 0, len(word_ids),
        )
        self.topic_sums += sums

    def grow(self, n_new: int) -> None:
        """Append ``n_new`` words at the prior: new zero rows of W, so lambda = eta there.

        Existing word ids and values are unchanged; ``topic_sums`` needs no change (the
        prior's share of each topic total, ``V * eta``, grows with ``n_features``). Rows
        are taken from spare capacity kept behind ``word_topic`` (doubled when full), so a
        word costs amortised O(K), never a copy of the K x V matrix per step.
        """
        if n_new <= 0:
            return
        n_words = self.n_features
        spare = getattr(self, "_row_buffer", None)
        if spare is None or self.word_topic.base is not spare or len(spare) < n_words + n_new:
            capacity = max(2 * n_words, n_words + n_new, 1024)
            spare = np.zeros((capacity, self.n_components), dtype=self.word_topic.dtype)
            spare[:n_words] = self.word_topic
            self._row_buffer = spare
        spare[n_words : n_words + n_new] = 0
        self.word_topic = spare[: n_words + n_new]

    def reset_words(self, word_ids: np.ndarray) -> None:
        """Put the given words back at the prior (W rows to zero): O(K x len(word_ids)).

        Used to free vocabulary slots for reuse; other words' ids and values do not move.
        """
        word_ids = np.asarray(word_ids, dtype=np.int64)
        if len(word_ids) == 0:
            return
        self.topic_sums -= self.word_topic[word_ids].sum(axis=0, dtype=np.float64)
        self.word_topic[word_ids] = 0

    def copy(self) -> GlobalState:
        """A deep copy."""
        return GlobalState(
            word_topic=self.word_topic.copy(),
            scale=self.scale,
            topic_sums=self.topic_sums.copy(),
            alpha=self.alpha.copy(),
            eta=self.eta,
            step=self.step,
            n_docs_seen=self.n_docs_seen,
        )


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def _exp_elog_beta_rows(
    word_topic, word_ids, scale, eta, psi_totals, floor, rows, log_shift, row_start, row_stop
):
    """Equivalent to: ``e = digamma(eta + scale * W[ids]) - psi_totals``;
    ``log_shift = e.max(1)``; ``rows = maximum(exp(e - log_shift[:, None]), floor)``, for
    rows ``row_start:row_stop`` (``floor``: see ``_config.WORKING_FLOOR``).

    Uses exp(digamma(x) - psi_k) = exp_digamma(x) * exp(-psi_k): vectorised, and one log
    per word instead of K digammas and K exps.
    """
    n_topics = word_topic.shape[1]
    topic_factor = np.empty(n_topics, dtype=np.float64)
    for k in range(n_topics):
        topic_factor[k] = math.exp(-psi_totals[k])
    values = np.empty(n_topics, dtype=np.float64)
    for i in range(row_start, row_stop):
        src = word_topic[word_ids[i]]
        for k in range(n_topics):
            values[k] = exp_digamma(eta + scale * src[k]) * topic_factor[k]
        top = 0
        for k in range(1, n_topics):
            if values[k] > values[top]:
                top = k
        best = values[top]
        log_shift[i] = math.log(best)
        dst = rows[i]
        for k in range(n_topics):
            dst[k] = max(values[k] / best, floor)
        dst[top] = 1.0  # exactly, whatever the reciprocal's rounding


# WORKING_FLOOR by dtype object: dtype.name costs microseconds, a query's budget.
_FLOOR_OF_DTYPE = {np.dtype(name): value for name, value in WORKING_FLOOR.items()}

_UPDATE_CHUNK = 2048


@njit(nogil=True, cache=True, fastmath=FASTMATH_FLAGS, error_model="numpy")
def _lazy_add(word_topic, word_ids, sstats, coef, topic_sums, start, stop):
    """Equivalent to: ``inc = coef * sstats[start:stop]; W[ids[start:stop]] += inc``;
    ``topic_sums += inc.sum(0)`` (accumulated word by word, in order).
    """
    n_topics = word_topic.shape[1]
    for i in range(start, stop):
        dst = word_topic[word_ids[i]]
        src = sstats[i]
        for k in range(n_topics):
            inc = coef * src[k]
            dst[k] += inc
            topic_sums[k] += inc


def natural_gradient_step(
    state: GlobalState,
    word_ids: np.ndarray,
    sstats: np.ndarray,
    *,
    batch_n_docs: int,
    total_samples: float,
    rho: float,
    n_threads: int = 1,
) -> None:
    """Apply ``lambda <- (1 - rho) lambda + rho (eta + (D/S) sstats)`` in place.

    Parameters
    ----------
    state : GlobalState
        Updated in place (``step`` and ``n_docs_seen`` advance).
    word_ids : ndarray of int, shape (n,)
        Sorted, unique global ids of the minibatch's words.
    sstats : ndarray, shape (n, n_components)
        Sufficient statistics for those words (word-major).
    batch_n_docs : int
        S, documents in the minibatch.
    total_samples : float
        D, the (effective) corpus size.
    rho : float
        Step size in (0, 1]; ``rho == 1`` with ``S == D`` is batch CAVI.
    n_threads : int
        Threads for the column update (the result is the same for any count).
    """
    if rho >= 1.0:
        # Nothing of the old lambda survives: reset instead of scaling by zero.
        state.word_topic[...] = 0
        state.topic_sums[...] = 0.0
        state.scale = 1.0
    else:
        state.scale *= 1.0 - rho
    coef = rho * total_samples / (batch_n_docs * state.scale)
    word_ids = np.asarray(word_ids, dtype=np.int64)
    # Fixed chunks of words, whatever the thread count: each chunk's topic sums are added
    # in chunk order, so the result does not depend on n_threads.
    bounds = np.arange(0, len(word_ids) + _UPDATE_CHUNK, _UPDATE_CHUNK).clip(0, len(word_ids))
    partial = np.zeros((max(1, len(bounds) - 1), state.n_components), dtype=np.float64)
    parallel_ranges(
        lambda lo, hi: _lazy_add(
            state.word_topic, word_ids, sstats, coef, partial[lo // _UPDATE_CHUNK], lo, hi
        ),
        bounds,
        n_threads,
    )
    for chunk_sum in partial:
        state.topic_sums += chunk_sum
    if state.scale < RESCALE_THRESHOLD[state.word_topic.dtype.name]:
        # Fold the scalar back into W (amortised: once every many steps).
        state.word_topic *= state.word_topic.dtype.type(state.scale)
        state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)
        state.scale = 1.0
    state.step += 1
    state.n_docs_seen += int(batch_n_docs)


def update_alpha(
    alpha: np.ndarray, elog_theta_sum: np.ndarray, n_docs: int, rho: float
) -> np.ndarray:
    """One damped Newton step on an asymmetric Dirichlet prior alpha.

    The linear-time Newton step for a Dirichlet (Minka 2000), damped by ``rho`` as in
    Hoffman's onlineldavb and gensim's ``alpha='auto'``. ``elog_theta_sum`` is
    ``sum_d E[log theta_d]`` over the ``n_docs`` documents of the minibatch; being a sum, it
    merges across workers exactly. Returns the old alpha if the step would leave it
    non-positive.
    """
    if n_docs == 0:
        return alpha
    logphat = elog_theta_sum / n_docs
    gradf = n_docs * (digamma(alpha.sum()) - digamma(alpha) + logphat)
    c = n_docs * polygamma(1, alpha.sum())
    q = -n_docs * polygamma(1, alpha)
    b = np.sum(gradf / q) / (1.0 / c + np.sum(1.0 / q))
    updated = alpha - rho * (gradf - b) / q
    return updated if np.all(updated > 0) else alpha
