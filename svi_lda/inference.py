"""Inference with a fitted model: documents in, their gamma (and bound) out, the model
unchanged. The path behind ``OnlineLDA.transform``, ``score`` and ``perplexity``.

Each document starts from a hash of its own content (word ids and counts), not of its
row (:func:`svi_lda.step.content_gamma`): its result is bitwise the same wherever it
sits in the input, in whatever batch, for any number of threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from svi_lda import _sklearn_compat as sklearn_compat
from svi_lda._inputs import recognise
from svi_lda._validation import check_doc_term_matrix
from svi_lda.batch import Batch
from svi_lda.step import content_gamma, estep_unit, unit_vocabulary


@dataclass(frozen=True)
class Inferred:
    """The E-step's result for some documents.

    Attributes
    ----------
    gamma : ndarray of float64, shape (n_docs, n_components)
    doc_bound : float
        Sum of the documents' ELBO terms (nats).
    n_tokens : float
        Sum of their counts.
    float32 : bool
        The counts came as float32 (``transform`` then returns float32 rows).
    """

    gamma: np.ndarray
    doc_bound: float
    n_tokens: float
    float32: bool


def read_documents(
    model: Any, X: Any, *, first_doc_id: int | None, id2word: Any = None
) -> tuple[Batch, Any]:
    """``X`` as one Batch for partial_fit or inference, and what kind it was."""
    fitted = getattr(model, "state_", None) is not None
    n_features = model.n_features_in_ if fitted else None
    found = recognise(X, n_features=n_features, id2word=id2word)
    if found.kind == "batch":
        if fitted and X.n_features != model.n_features_in_:
            raise ValueError(
                f"Batch has {X.n_features} features, but OnlineLDA is expecting "
                f"{model.n_features_in_} features as input."
            )
        return X, found
    if found.kind in ("corpus", "minibatches"):
        raise ValueError(
            "X is a corpus or a collection of minibatches: partial_fit and transform "
            "take one matrix of documents. Use fit for a corpus, or call them on each "
            "minibatch."
        )
    if fitted and found.kind == "matrix":
        sklearn_compat.check_feature_names(model, found.feature_names)
    data = encode_texts(model, found.data) if found.kind == "texts" else found.data
    Xc = check_doc_term_matrix(data, n_features=n_features)
    if first_doc_id is None:
        first_doc_id = model.state_.n_docs_seen if fitted else 0
    return Batch.from_csr(Xc, first_doc_id=first_doc_id), found


def encode_texts(model: Any, texts: Sequence[str]) -> sp.csr_matrix:
    """Raw strings as counts over the model's vocabulary (its tokenizer)."""
    vocab = getattr(model, "vocabulary_", None)
    if vocab is None or not hasattr(vocab, "encode"):
        raise ValueError(
            "Raw text needs a model with a vocabulary and tokenizer: fit on a corpus "
            "made by 'svi-lda ingest', or pass vocabulary=Vocabulary(...) to fit."
        )
    return vocab.encode(texts).to_csr()


def infer(model: Any, X: Any) -> Inferred:
    """E-step of a fitted ``model`` on ``X`` without updating the model."""
    model._check_fitted()
    batch, found = read_documents(model, X, first_doc_id=0)
    state = model.state_
    n_threads = model._n_threads()
    ids, index = unit_vocabulary(batch)
    rows, shift = state.exp_elog_beta_rows(ids, n_threads=n_threads)
    gamma = content_gamma(batch, state.n_components, model.random_seed_)
    stats, gamma = estep_unit(
        batch, index, ids, rows, shift, state.alpha, model._settings(),
        n_threads=n_threads, gamma=gamma,
    )
    return Inferred(gamma, stats.doc_bound, stats.n_tokens, found.float32)
