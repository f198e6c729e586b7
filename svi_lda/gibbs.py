"""Collapsed Gibbs sampling for LDA: the MCMC baseline our variational fits are checked
against (mean-field VI is known to under-cover the posterior; the sampler is not).

For small and medium corpora: memory is one topic per token (int64) plus the D x K and
V x K counts. The kernel is :mod:`svi_lda.numerics.gibbs`; this module expands a
document-term matrix into tokens, runs the chain and averages the topic estimates
``(n_wk + eta) / (n_k + V eta)`` over the last ``n_samples`` sweeps (the posterior mean
of beta given the sampled z, averaged along the chain).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.special import gammaln

from svi_lda._validation import check_doc_term_matrix, check_positive_float, check_positive_int
from svi_lda.numerics.gibbs import gibbs_initialize, gibbs_sweep
from svi_lda.numerics.hashing import splitmix64


def sweep_key(seed: int, sweep: int) -> np.uint64:
    """Hash key of sweep ``sweep`` (0 is the initial assignment) for ``seed``."""
    seed_key = splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    with np.errstate(over="ignore"):
        return splitmix64(np.array([seed_key + np.uint64(sweep)], dtype=np.uint64))[0]


def expand_tokens(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """(document, word) of every token of a count matrix, in document then word order."""
    X = check_doc_term_matrix(X, n_features=None, require_integer=True)
    counts = X.data.astype(np.int64)
    rows = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))
    return np.repeat(rows, counts), np.repeat(X.indices.astype(np.int64), counts)


class GibbsLDA:
    """LDA by collapsed Gibbs sampling (Griffiths & Steyvers 2004), seeded and deterministic.

    Parameters
    ----------
    n_components : int
        Number of topics K.
    doc_topic_prior : float or None, default=None
        Symmetric alpha; None means 1 / n_components (as :class:`~svi_lda.OnlineLDA`).
    topic_word_prior : float or None, default=None
        Symmetric eta; None means 1 / n_components (as :class:`~svi_lda.OnlineLDA`).
    n_iter : int, default=200
        Sweeps over all tokens.
    n_samples : int, default=20
        The last this-many sweeps are averaged into ``topic_word_`` and ``doc_topic_``.
    random_state : int, default=0
        Seeds the initial assignment and every draw (by hash, so the chain is reproducible).

    Attributes
    ----------
    topic_word_ : ndarray of shape (n_components, n_features)
        Averaged ``(n_wk + eta) / (n_k + V eta)``; rows sum to 1.
    doc_topic_ : ndarray of shape (n_docs, n_components)
        Averaged ``(n_dk + alpha) / (N_d + K alpha)``.
    assignments_ : ndarray of int64
        Topic of every token after the last sweep (document then word order).
    log_likelihood_history_ : list of float
        log p(w | z) after each sweep (nats), the usual convergence trace.
    seconds_ : float
    """

    def __init__(
        self,
        n_components: int,
        *,
        doc_topic_prior: float | None = None,
        topic_word_prior: float | None = None,
        n_iter: int = 200,
        n_samples: int = 20,
        random_state: int = 0,
    ) -> None:
        self.n_components = n_components
        self.doc_topic_prior = doc_topic_prior
        self.topic_word_prior = topic_word_prior
        self.n_iter = n_iter
        self.n_samples = n_samples
        self.random_state = random_state

    @property
    def doc_topic_prior_(self) -> np.ndarray:
        """alpha, shape (n_components,)."""
        k = self.n_components
        return np.full(k, 1.0 / k if self.doc_topic_prior is None else self.doc_topic_prior)

    @property
    def topic_word_prior_(self) -> float:
        """eta."""
        return 1.0 / self.n_components if self.topic_word_prior is None else float(
            self.topic_word_prior
        )

    def fit(self, X: Any) -> GibbsLDA:
        """Run the chain on the count matrix X (n_docs, n_features); returns self."""
        check_positive_int(self.n_components, "n_components")
        check_positive_int(self.n_iter, "n_iter")
        check_positive_int(self.n_samples, "n_samples")
        check_positive_float(self.topic_word_prior_, "topic_word_prior")
        check_positive_float(float(self.doc_topic_prior_[0]), "doc_topic_prior")
        started = time.perf_counter()
        X = check_doc_term_matrix(X, n_features=None, require_integer=True)
        n_docs, n_features = X.shape
        k = self.n_components
        alpha, eta = self.doc_topic_prior_, self.topic_word_prior_
        docs, words = expand_tokens(X)
        z = np.empty(len(docs), dtype=np.int64)
        doc_topic = np.zeros((n_docs, k), dtype=np.int64)
        word_topic = np.zeros((n_features, k), dtype=np.int64)
        totals = np.zeros(k, dtype=np.int64)
        seed = int(self.random_state)
        gibbs_initialize(docs, words, sweep_key(seed, 0), z, doc_topic, word_topic, totals)
        topic_word = np.zeros((k, n_features))
        doc_mix = np.zeros((n_docs, k))
        lengths = np.asarray(X.sum(axis=1)).ravel()
        self.log_likelihood_history_: list[float] = []
        n_samples = min(self.n_samples, self.n_iter)
        for sweep in range(1, self.n_iter + 1):
            gibbs_sweep(docs, words, sweep_key(seed, sweep), alpha, eta, z, doc_topic,
                        word_topic, totals)
            self.log_likelihood_history_.append(word_log_likelihood(word_topic, totals, eta))
            if sweep > self.n_iter - n_samples:
                topic_word += ((word_topic + eta) / (totals + n_features * eta)).T
                doc_mix += (doc_topic + alpha) / (lengths + alpha.sum())[:, None]
        self.topic_word_ = topic_word / n_samples
        self.doc_topic_ = doc_mix / n_samples
        self.assignments_ = z
        self.n_features_in_ = n_features
        self.seconds_ = time.perf_counter() - started
        return self

    def get_topics(self) -> np.ndarray:
        """Topic-word distributions, shape (n_components, n_features); rows sum to 1."""
        return self.topic_word_ / self.topic_word_.sum(axis=1, keepdims=True)


def word_log_likelihood(word_topic: np.ndarray, topic_totals: np.ndarray, eta: float) -> float:
    """log p(w | z) with beta integrated out (Griffiths & Steyvers 2004, eq. 2), in nats."""
    n_features, k = word_topic.shape
    return float(
        k * (gammaln(n_features * eta) - n_features * gammaln(eta))
        + np.sum(gammaln(word_topic + eta))
        - np.sum(gammaln(topic_totals + n_features * eta))
    )
