"""Seeded synthetic corpora drawn from the LDA generative model.

Used by the topic-recovery tests and the benchmarks: the true topics (beta) and document
mixtures (theta) are known, so a fitted model can be scored against them.

The generative process (Blei et al. 2003), for K topics over V words::

    beta_k  ~ Dirichlet(eta)           for each topic k
    theta_d ~ Dirichlet(alpha)         for each document d
    N_d     ~ Poisson(doc_length)
    z_di    ~ Categorical(theta_d),  w_di ~ Categorical(beta_{z_di})

is sampled without a Python loop over documents or tokens: each document's topic counts
are one multinomial draw, and for each topic all its tokens (across documents) are drawn
at once by inverse-CDF sampling, then assigned to documents in order (tokens are i.i.d.
given the topic, so the order is immaterial).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["SyntheticCorpus", "make_lda_corpus", "sample_documents"]


@dataclass(frozen=True)
class SyntheticCorpus:
    """A bag-of-words corpus with the topics and mixtures that generated it.

    Attributes
    ----------
    X : scipy.sparse.csr_matrix of float64, shape (n_docs, n_features)
        Word counts, sorted indices, no explicit zeros.
    topics : ndarray of float64, shape (n_components, n_features)
        True topic-word distributions (beta in Blei et al.); rows sum to 1.
    theta : ndarray of float64, shape (n_docs, n_components)
        True document-topic proportions; rows sum to 1.
    alpha : float
        Symmetric document-topic Dirichlet concentration used to draw ``theta``.
    eta : float
        Symmetric topic-word Dirichlet concentration used to draw ``topics``.
    """

    X: sp.csr_matrix
    topics: np.ndarray
    theta: np.ndarray
    alpha: float
    eta: float

    @property
    def n_docs(self) -> int:
        """Number of documents."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Vocabulary size V."""
        return int(self.X.shape[1])

    @property
    def n_components(self) -> int:
        """Number of true topics K."""
        return int(self.topics.shape[0])


def _sample_categorical(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` i.i.d. indices from the distribution ``p`` by inverse CDF."""
    cdf = np.cumsum(p)
    u = rng.random(size) * cdf[-1]
    idx = np.searchsorted(cdf, u, side="right")
    # Guard against u == cdf[-1] after rounding.
    np.minimum(idx, len(p) - 1, out=idx)
    return idx


def make_lda_corpus(
    n_docs: int,
    n_features: int,
    n_components: int,
    *,
    doc_length: float = 100.0,
    alpha: float = 0.1,
    eta: float = 0.01,
    seed: int | np.random.Generator = 0,
    topics: np.ndarray | None = None,
) -> SyntheticCorpus:
    """Draw a corpus from the LDA generative model.

    Parameters
    ----------
    n_docs : int
        Number of documents D (>= 0).
    n_features : int
        Vocabulary size V (>= 1).
    n_components : int
        Number of topics K (>= 1).
    doc_length : float, default=100.0
        Mean document length; each N_d is Poisson(doc_length), so empty documents can occur
        when it is small.
    alpha : float, default=0.1
        Symmetric Dirichlet concentration of the document-topic proportions theta.
    eta : float, default=0.01
        Symmetric Dirichlet concentration of the topic-word distributions beta.
    seed : int or numpy.random.Generator, default=0
        Seed; the same seed gives the same corpus.
    topics : ndarray of shape (n_components, n_features), optional
        Use these topics instead of drawing them (rows must sum to 1); lets a large corpus
        be drawn in chunks (one seed per chunk) from the same topics.

    Returns
    -------
    SyntheticCorpus
        Counts ``X`` (CSR, float64), true ``topics`` (K, V) and ``theta`` (D, K).

    Examples
    --------
    >>> corpus = make_lda_corpus(100, 500, 5, seed=1)
    >>> corpus.X.shape, corpus.topics.shape, corpus.theta.shape
    ((100, 500), (5, 500), (100, 5))
    """
    if n_docs < 0 or n_features < 1 or n_components < 1:
        raise ValueError(
            "make_lda_corpus needs n_docs >= 0, n_features >= 1 and n_components >= 1; "
            f"got n_docs={n_docs}, n_features={n_features}, n_components={n_components}"
        )
    if not (doc_length >= 0 and alpha > 0 and eta > 0):
        raise ValueError(
            "make_lda_corpus needs doc_length >= 0, alpha > 0 and eta > 0; "
            f"got doc_length={doc_length}, alpha={alpha}, eta={eta}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if topics is None:
        topics = rng.dirichlet(np.full(n_features, eta), size=n_components)
    else:
        topics = np.asarray(topics, dtype=np.float64)
        if topics.shape != (n_components, n_features):
            raise ValueError(
                f"make_lda_corpus: topics must have shape ({n_components}, {n_features}); "
                f"got {topics.shape}"
            )
    theta = rng.dirichlet(np.full(n_components, alpha), size=n_docs)
    lengths = rng.poisson(doc_length, size=n_docs)
    X = sample_documents(topics, theta, lengths, rng)
    return SyntheticCorpus(X=X, topics=topics, theta=theta, alpha=float(alpha), eta=float(eta))


def sample_documents(
    topics: np.ndarray, theta: np.ndarray, lengths: np.ndarray, rng: np.random.Generator
) -> sp.csr_matrix:
    """Draw documents from given topics, mixtures and lengths (the last two steps of the
    generative process in the module docstring).

    Parameters
    ----------
    topics : ndarray of shape (n_components, n_features)
        Topic-word distributions; rows sum to 1.
    theta : ndarray of shape (n_docs, n_components)
        Document-topic proportions; rows sum to 1.
    lengths : ndarray of int, shape (n_docs,)
        Tokens per document.
    rng : numpy.random.Generator

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (n_docs, n_features)
        Word counts, sorted indices, no explicit zeros.
    """
    n_components, n_features = topics.shape
    n_docs = len(lengths)
    # (D, K) tokens per document and topic: one multinomial draw per document, vectorised.
    topic_counts = rng.multinomial(lengths, theta) if n_docs else np.zeros((0, n_components))
    topic_counts = np.asarray(topic_counts, dtype=np.int64)

    rows, cols = [], []
    doc_index = np.arange(n_docs, dtype=np.int64)
    for k in range(n_components):
        n_k = topic_counts[:, k]
        total = int(n_k.sum())
        if total == 0:
            continue
        rows.append(np.repeat(doc_index, n_k))
        cols.append(_sample_categorical(rng, topics[k], total))
    if rows:
        row = np.concatenate(rows)
        col = np.concatenate(cols)
    else:
        row = col = np.zeros(0, dtype=np.int64)
    # COO -> CSR sums duplicates; it is a counting sort on rows, then per-row index sorts.
    X = sp.csr_matrix((np.ones(len(row), dtype=np.float64), (row, col)), shape=(n_docs, n_features))
    X.sum_duplicates()
    X.sort_indices()
    return X
