"""Parameter and data checks with messages that name the field and the fix."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numba import njit

# Counts above this are not whole numbers in float64, and overflow a float32 model's
# statistics (its lambda / scale reaches 3.4e38) into a non-finite model.
MAX_COUNT = float(2**53)


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit`` (scikit-learn's exception of the same name)."""


def check_doc_term_matrix(
    X: object,
    *,
    n_features: int | None,
    name: str = "X",
    require_integer: bool = False,
    allow_empty: bool = False,
) -> sp.csr_matrix:
    """Validate a document-term count matrix and return it as CSR.

    Sparse integer or floating counts keep their dtype (the E-step converts each minibatch
    as it goes, so the whole corpus is not copied); anything else becomes float64.

    Accepts scipy sparse matrices/arrays, dense array-likes, and gensim-style
    bag-of-words lists (a list of documents, each a list of ``(word_id, count)``). Raises
    ``ValueError`` for negative, NaN, infinite or too large (> 2**53) counts, a wrong
    number of columns, non-integer counts where ``require_integer``, or an empty matrix.
    """
    if _is_bow_corpus(X):
        X = bow_to_csr(X, n_features=n_features, name=name)
    elif sp.issparse(X):
        if np.iscomplexobj(X):
            raise ValueError(f"Complex data not supported: {name} must hold real counts.")
        X = sp.csr_matrix(X)
        if not np.issubdtype(X.dtype, np.integer) and not np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float64)
    else:
        if np.iscomplexobj(X):
            raise ValueError(f"Complex data not supported: {name} must hold real counts.")
        try:
            arr = np.asarray(X, dtype=np.float64)
        except TypeError as exc:
            # TypeError, as NumPy and scikit-learn raise for non-numeric entries.
            raise TypeError(f"{name} must hold numbers (word counts): {exc}") from None
        except ValueError as exc:
            raise ValueError(
                f"{name} must be a scipy.sparse matrix, a 2-D array of counts or a list of "
                f"bag-of-words documents; got {type(X).__name__} ({exc})"
            ) from None
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (n_documents, n_features); got an array of shape "
                f"{arr.shape}. Reshape your data with X.reshape(1, -1) if it is a single "
                "document."
            )
        X = sp.csr_matrix(arr)
    if X.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} has no documents (shape {X.shape}); pass at least one row.")
    if X.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
            f"required: {name} has no words (columns)."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but OnlineLDA is expecting {n_features} "
            "features as input: use the same vocabulary (columns) as in fit."
        )
    data = X.data
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        first = np.flatnonzero(~np.isfinite(data))[0]
        row = int(np.searchsorted(X.indptr, first, side="right") - 1)
        raise ValueError(f"{name} contains NaN or infinite counts (first in row {row}).")
    if data.size and data.max() > MAX_COUNT:
        row = int(np.searchsorted(X.indptr, int(np.argmax(data)), side="right") - 1)
        raise ValueError(
            f"{name} contains a count of {float(data.max()):.3g} (first in row {row}); counts "
            f"above {MAX_COUNT:.3g} (2**53) overflow the model's statistics. Scale them down."
        )
    if data.size and data.min() < 0:
        row = int(np.searchsorted(X.indptr, int(np.argmin(data)), side="right") - 1)
        raise ValueError(
            f"Negative values in data passed to OnlineLDA: {name} contains negative counts "
            f"(first in row {row}); LDA needs counts >= 0."
        )
    if require_integer and data.size and np.any(data != np.round(data)):
        row = int(
            np.searchsorted(X.indptr, np.flatnonzero(data != np.round(data))[0], side="right") - 1
        )
        raise ValueError(
            f"{name} contains non-integer counts (first in row {row}); this operation splits "
            "documents into tokens and needs whole-number counts."
        )
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    if np.any(X.data == 0):
        X = X.copy()  # never prune the caller's matrix in place
        X.eliminate_zeros()
    return X


@njit(nogil=True, cache=True)
def counts_in_range(data, limit):
    """Whether every count is in (0, limit]: what :func:`check_doc_term_matrix` passes
    without a copy (no zeros to prune, no NaN, inf, negative or too large count), in
    one compiled pass instead of four NumPy reductions (queries: a per-call cost)."""
    for i in range(data.shape[0]):
        x = data[i]
        if not (x > 0 and x <= limit):  # NaN fails both comparisons
            return False
    return True


def _is_bow_corpus(X: object) -> bool:
    if not isinstance(X, Sequence) or isinstance(X, str | bytes) or len(X) == 0:
        return False
    first = X[0]
    if not isinstance(first, Sequence) or isinstance(first, str | bytes):
        return False
    return len(first) == 0 or (isinstance(first[0], tuple) and len(first[0]) == 2)


def bow_to_csr(
    docs: Sequence[Sequence[tuple[int, float]]], *, n_features: int | None, name: str = "X"
) -> sp.csr_matrix:
    """Convert gensim-style bag-of-words documents to CSR (duplicates summed)."""
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    pairs = [pair for doc in docs for pair in doc]
    ids = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    counts = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
    width = n_features if n_features is not None else (int(ids.max()) + 1 if ids.size else 0)
    if ids.size and (ids.min() < 0 or ids.max() >= width):
        bad = int(np.flatnonzero((ids < 0) | (ids >= width))[0])
        row = int(np.searchsorted(indptr, bad, side="right") - 1)
        raise ValueError(
            f"{name}: document {row} has word id {int(ids[bad])}, outside the vocabulary "
            f"[0, {width})."
        )
    X = sp.csr_matrix((counts, ids, indptr), shape=(len(docs), width))
    X.sum_duplicates()
    return X


def check_positive_int(value: object, name: str, owner: str = "OnlineLDA") -> int:
    """``value`` as an int >= 1, or a scikit-learn-style ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be an int in the range [1, inf). "
            f"Got {value!r} instead."
        )
    return int(value)


def check_positive_float(value: object, name: str, owner: str = "OnlineLDA") -> float:
    """``value`` as a float > 0, or a scikit-learn-style ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a float in the range (0, inf). "
            f"Got {value!r} instead."
        )
    return float(value)
