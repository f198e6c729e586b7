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
from svi_lda._config import PHINORM_EPS, WORKING_FLOOR
from svi_lda._inputs import recognise
from svi_lda._validation import MAX_COUNT, check_doc_term_matrix, counts_in_range
from svi_lda.batch import Batch
from svi_lda.numerics.estep import estep_documents
from svi_lda.parallel import parallel_ranges, split_by_weight
from svi_lda.state import GlobalState
from svi_lda.step import EStepSettings, content_gamma, unit_vocabulary


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
    """E-step of a fitted ``model`` on ``X`` without updating the model.

    A canonical CSR matrix of valid counts (the common query) skips recognition and
    re-validation (:func:`_valid_csr`); anything else goes through :func:`read_documents`.
    Either way the same arrays reach the same kernels, so the results are bitwise equal.
    """
    batch, float32 = query_batch(model, X)
    gamma, doc_bound = document_estep(
        model.state_, batch, model._settings(), model._n_threads(), model.random_seed_
    )
    n_tokens = float(np.asarray(batch.counts, dtype=np.float64).sum())
    return Inferred(gamma, float(doc_bound.sum()), n_tokens, float32)


def fold_in(model: Any, X: Any, method_fold_in: Any) -> tuple[np.ndarray, bool]:
    """Documents' topic weights by a method's own fold-in (``LearningMethod.fold_in``,
    e.g. SCVB0's local step) instead of SVI's E-step: (weights (n_docs, K), whether the
    counts came as float32). Rows divided by their sums are the topic proportions. The
    same input handling as :func:`infer`, and documents started from their content."""
    batch, float32 = query_batch(model, X)
    weights = method_fold_in(model.state_, batch, model.random_seed_, model._n_threads())
    return weights, float32


def query_batch(model: Any, X: Any) -> tuple[Batch, bool]:
    """``X`` as one Batch (``indptr`` from 0, no document ids: inference starts documents
    from their content) and whether its counts came as float32."""
    model._check_fitted()
    state = model.state_
    if _valid_csr(model, X):
        indptr, indices, counts, float32 = X.indptr, X.indices, X.data, X.dtype == np.float32
    else:
        batch, found = read_documents(model, X, first_doc_id=0)
        indptr, indices, counts, float32 = batch.indptr, batch.indices, batch.counts, found.float32
    start, stop = int(indptr[0]), int(indptr[-1])
    batch = Batch(
        indptr=np.asarray(indptr, dtype=np.int64) - start,
        indices=indices[start:stop],
        counts=counts[start:stop],
        doc_ids=_NO_IDS,  # inference starts documents from their content, not ids
        n_features=state.n_features,
    )
    return batch, float32


_NO_IDS = np.empty(0, dtype=np.int64)
_CSR_TYPES = (sp.csr_matrix, sp.csr_array)
_COUNT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int64),
                 np.dtype(np.int32))
# Below this many non-zeros the documents run on the calling thread: handing so little
# work (~0.1 ms at K=100) to the pool costs about as much as it saves. Per-document
# results do not depend on the split.
_INLINE_NONZEROS = 512
# The E-step's phinorm guard (a scalar of the working dtype) and floor, by dtype object
# (``dtype.name`` costs microseconds a call).
_WORKING_CONSTANTS = {
    np.dtype(name): (np.dtype(name).type(PHINORM_EPS[name]), WORKING_FLOOR[name])
    for name in ("float32", "float64")
}


def _valid_csr(model: Any, X: Any) -> bool:
    """X is a CSR matrix that :func:`check_doc_term_matrix` would pass unchanged: the
    model's width, counts in (0, 2**53] (no zeros, NaN or inf), canonical (sorted, no
    duplicates), and no column names to check against the model's."""
    return (
        type(X) in _CSR_TYPES
        and X.shape[0] > 0
        and X.shape[1] == model.n_features_in_
        and X.dtype in _COUNT_DTYPES
        and getattr(model, "feature_names_in_", None) is None
        and X.has_canonical_format
        and counts_in_range(X.data, MAX_COUNT)
    )


def document_estep(
    state: GlobalState, batch: Batch, settings: EStepSettings, n_threads: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """gamma (n_docs, K) and each document's bound for ``batch`` (``indptr`` from 0),
    each document started from its content: the E-step of :func:`~svi_lda.step.estep_unit`
    without the sufficient statistics, which inference does not need."""
    ids, index = unit_vocabulary(batch)
    if batch.indptr[-1] < _INLINE_NONZEROS:
        n_threads = 1
    rows, shift = state.exp_elog_beta_rows(ids, n_threads=n_threads)
    gamma = content_gamma(batch, state.n_components, seed)
    counts = np.asarray(batch.counts, dtype=np.float64)
    n_docs, n_topics = gamma.shape
    outs = (
        np.empty((n_docs, n_topics), dtype=np.float64),  # exp(E[log theta])
        np.empty((n_docs, n_topics), dtype=np.float64),  # E[log theta]
        np.empty(len(counts), dtype=np.float64),  # n / phinorm
        np.empty(n_docs, dtype=np.float64),  # the documents' bounds
        np.empty(n_docs, dtype=np.int64),  # iterations
    )
    args = (batch.indptr, index, counts, rows, shift, state.alpha, gamma, *outs)
    eps, floor = _WORKING_CONSTANTS[rows.dtype]
    tail = (settings.max_doc_update_iter, settings.mean_change_tol, eps, floor,
            settings.accelerate)
    if n_threads <= 1:
        estep_documents(*args, 0, n_docs, *tail)
    else:
        parallel_ranges(
            lambda lo, hi: estep_documents(*args, lo, hi, *tail),
            split_by_weight(batch.indptr + np.arange(n_docs + 1), 4 * n_threads),
            n_threads,
        )
    return gamma, outs[3]
