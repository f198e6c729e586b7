"""Quality measures that compare topic models from any library on equal terms.

Every function here takes a topic-word matrix (rows are word distributions), so gensim's,
scikit-learn's, tomotopy's and ours are scored by the same code. All logs are natural.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from svi_lda._validation import check_doc_term_matrix
from svi_lda.batch import Batch
from svi_lda.numerics.topk import top_indices
from svi_lda.step import EStepSettings, estep_unit, unit_vocabulary


def _topic_word(model_or_topics: Any) -> np.ndarray:
    if hasattr(model_or_topics, "get_topics"):
        topics = np.asarray(model_or_topics.get_topics(), dtype=np.float64)
    else:
        topics = np.asarray(model_or_topics, dtype=np.float64)
    if topics.ndim != 2 or np.any(topics < 0):
        raise ValueError("topic_word must be a (n_topics, n_words) array of probabilities.")
    return topics / topics.sum(axis=1, keepdims=True)


def split_tokens(
    X: Any, *, seed: int = 0, fraction: float = 0.5
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split each document's tokens at random into an observed and a held-out part.

    Each word's count c is split as Binomial(c, fraction) observed and the rest held out,
    which is a uniformly random split of the document's tokens. Needs integer counts.
    """
    X = check_doc_term_matrix(X, n_features=None, require_integer=True)
    rng = np.random.default_rng(seed)
    observed = rng.binomial(X.data.astype(np.int64), fraction).astype(np.float64)
    # copy=True: eliminate_zeros below must not edit X's index arrays in place.
    obs = sp.csr_matrix((observed, X.indices, X.indptr), shape=X.shape, copy=True)
    held = sp.csr_matrix((X.data - observed, X.indices, X.indptr), shape=X.shape, copy=True)
    obs.eliminate_zeros()
    held.eliminate_zeros()
    return obs, held


def fold_in(
    topic_word: Any,
    X: Any,
    *,
    doc_topic_prior: float | np.ndarray,
    max_iter: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
) -> np.ndarray:
    """Topic proportions of documents under fixed topics: E[theta], shape (n_docs, K).

    The mean-field E-step with exp(E[log beta]) replaced by the point estimate beta, the
    usual way to fold new documents into any trained topic model.
    """
    topics = _topic_word(topic_word)
    n_topics, n_words = topics.shape
    X = check_doc_term_matrix(X, n_features=n_words)
    alpha = np.broadcast_to(np.asarray(doc_topic_prior, dtype=np.float64), (n_topics,)).copy()
    batch = Batch.from_csr(X)
    ids, index = unit_vocabulary(batch)
    cols = topics[:, ids].T
    peak = np.maximum(cols.max(axis=1), 1e-300)
    rows = np.ascontiguousarray(cols / peak[:, None])
    settings = EStepSettings(max_doc_update_iter=max_iter, mean_change_tol=tol, seed=seed)
    _, gamma = estep_unit(batch, index, ids, rows, np.log(peak), alpha, settings)
    return gamma / gamma.sum(axis=1, keepdims=True)


def completion_perplexity(
    topic_word: Any,
    X: Any,
    *,
    doc_topic_prior: float | np.ndarray | None = None,
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 1e-3,
) -> float:
    """Held-out perplexity by document completion (lower is better).

    Half of each test document's tokens (chosen at random, ``seed``) fold in its topic
    proportions; the other half is scored: ``exp(-sum log p(w) / n_heldout_tokens)`` with
    ``p(w) = sum_k theta_k beta_kw``.

    Parameters
    ----------
    topic_word : OnlineLDA or array of shape (n_topics, n_words)
        A fitted model (its E[beta] is used) or any topic-word matrix.
    X : sparse matrix of integer counts, shape (n_docs, n_words)
    doc_topic_prior : float or array, optional
        alpha for folding in; defaults to the model's, or 1 / n_topics for a matrix.
    """
    topics = _topic_word(topic_word)
    if doc_topic_prior is None:
        doc_topic_prior = (
            topic_word.doc_topic_prior_
            if hasattr(topic_word, "doc_topic_prior_")
            else 1.0 / topics.shape[0]
        )
    observed, heldout = split_tokens(X, seed=seed)
    theta = fold_in(
        topics, observed, doc_topic_prior=doc_topic_prior, max_iter=max_iter, tol=tol, seed=seed
    )
    coo = heldout.tocoo()
    if coo.nnz == 0:
        raise ValueError("No held-out tokens: the test documents are too short.")
    # p(w | d) for the held-out non-zeros only, in chunks to bound memory.
    loglik = 0.0
    for start in range(0, coo.nnz, 65536):
        r = coo.row[start : start + 65536]
        c = coo.col[start : start + 65536]
        p = np.einsum("ik,ki->i", theta[r], topics[:, c])
        loglik += float(np.sum(coo.data[start : start + 65536] * np.log(p)))
    return float(np.exp(-loglik / coo.data.sum()))


def npmi_coherence(
    topic_word: Any, reference: Any, *, top_n: int = 10, per_topic: bool = False
) -> float | np.ndarray:
    """Mean NPMI of each topic's top words, from document co-occurrence in ``reference``.

    NPMI(i, j) = log(P(i, j) / (P(i) P(j))) / -log P(i, j), with -1 for pairs that never
    co-occur (Bouma 2009; as in Röder et al. 2015's C_NPMI with whole-document windows).
    Higher is better; in [-1, 1].
    """
    topics = _topic_word(topic_word)
    ref = check_doc_term_matrix(reference, n_features=topics.shape[1], name="reference")
    present = (ref > 0).astype(np.float64).tocsc()
    n_docs = present.shape[0]
    scores = []
    for row in topics:
        top = np.argsort(-row, kind="stable")[:top_n]
        sub = present[:, top]
        joint = (sub.T @ sub).toarray() / n_docs
        single = np.diag(joint).copy()
        iu = np.triu_indices(len(top), k=1)
        p_ij = joint[iu]
        p_i, p_j = single[iu[0]], single[iu[1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            npmi = np.log(p_ij / (p_i * p_j)) / -np.log(p_ij)
        npmi = np.where(p_ij > 0, npmi, -1.0)
        # A pair present in every document has P = 1: NPMI is 1 by continuity.
        npmi = np.where(p_ij >= 1.0, 1.0, npmi)
        scores.append(float(np.mean(npmi)))
    arr = np.asarray(scores)
    return arr if per_topic else float(arr.mean())


def topic_diversity(topic_word: Any, *, top_n: int = 25) -> float:
    """Fraction of distinct words among all topics' top ``top_n`` words (Dieng et al.)."""
    topics = _topic_word(topic_word)
    top = top_indices(topics, top_n)
    return float(len(np.unique(top)) / top.size)
