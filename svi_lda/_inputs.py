"""Which kind of input a user passed, recognised once, before anything reads it.

``fit``, ``partial_fit`` and ``transform`` take matrices (scipy sparse, NumPy, anything
with ``__array__``), pandas DataFrames of counts, gensim-style bag-of-words documents (a
list or any iterable of them, such as ``gensim.corpora.MmCorpus``, or a single document),
lists of raw strings, and for ``fit`` also corpus folders and streams of minibatches.
:func:`recognise` turns the in-memory kinds into one CSR matrix and passes the other kinds
through untouched, so that no input is misread as another (a bag-of-words document is not
an n x 2 matrix, a DataFrame is not a stream of minibatches).
"""

from __future__ import annotations

import itertools
import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from svi_lda._validation import check_doc_term_matrix
from svi_lda.batch import Batch


@dataclass(frozen=True)
class Recognised:
    """An input after recognition.

    Attributes
    ----------
    data : object
        A CSR matrix or array-like of counts for in-memory inputs; the input itself for
        kinds the caller dispatches on (corpus folders, minibatch lists and streams,
        :class:`~svi_lda.batch.Batch`, lists of strings).
    kind : str
        "matrix", "texts", "batch", "minibatches" (a list, or an iterator when
        ``data`` is one) or "corpus".
    float32 : bool
        The counts came as float32 (``transform`` then returns float32, as scikit-learn).
    feature_names : ndarray of str or None
        Column names of a DataFrame whose columns are all strings.
    words : list of str or None
        The words of an ``id2word`` mapping, by id.
    """

    data: Any
    kind: str
    float32: bool = False
    feature_names: np.ndarray | None = None
    words: list[str] | None = None


def recognise(X: Any, *, n_features: int | None, id2word: Any = None) -> Recognised:
    """Recognise the kind of ``X`` (see the module docstring).

    ``n_features`` is the fitted model's vocabulary size (None before fit); bag-of-words
    documents take theirs from it, from ``id2word`` (a gensim ``Dictionary`` or a mapping
    of ids to words), or from the corpus's ``num_terms``, and are refused when none is
    known: the largest id seen is not the vocabulary size.
    """
    width = _id2word_size(id2word)
    if width is not None and n_features is not None and width != n_features:
        raise ValueError(
            f"id2word has {width} ids but the model was fitted with {n_features} features; "
            "pass the dictionary the model was trained with."
        )
    words = _id2word_words(id2word, width)
    width = width if width is not None else n_features
    if isinstance(X, Batch):
        return Recognised(X, "batch")
    if isinstance(X, str | os.PathLike) or type(X).__name__ == "ParquetCorpus":
        return Recognised(X, "corpus")
    if sp.issparse(X):
        return Recognised(_check_not_complex(X), "matrix", float32=X.dtype == np.float32)
    if isinstance(X, np.ndarray):
        return Recognised(_check_not_complex(X), "matrix", float32=X.dtype == np.float32)
    frame = _pandas_kind(X)
    if frame == "DataFrame":
        return _from_dataframe(X)
    if frame == "Series":
        if X.dtype == object and len(X) and isinstance(X.iloc[0], str):
            return Recognised(list(X), "texts")
        raise ValueError(
            f"X is a pandas Series of shape {X.shape}: expected a 2-D array of counts. "
            "Reshape your data with X.to_frame().T if it is a single document."
        )
    if isinstance(X, list | tuple):
        return _from_sequence(X, width, words)
    if hasattr(X, "__array__"):
        arr = np.asarray(X)
        return Recognised(_check_not_complex(arr), "matrix", float32=arr.dtype == np.float32)
    if isinstance(X, Iterable):
        return _from_iterable(X, width, words)
    return Recognised(X, "matrix")


def is_texts(X: Any) -> bool:
    """``X`` is a non-empty list or tuple of raw strings (judged by its first item)."""
    return isinstance(X, list | tuple) and len(X) > 0 and isinstance(X[0], str)


def fit_input(
    X: Any, *, vocabulary: Any, id2word: Any
) -> tuple[Any, Any, np.ndarray | None]:
    """What ``fit`` trains on: (data, vocabulary, DataFrame column names or None).

    Matrices and a Batch become one validated CSR matrix; corpus folders and minibatch
    collections pass through. The vocabulary is ``vocabulary``, else ``id2word``'s words,
    else a DataFrame's column names. Raw strings are refused (ingest them first).
    """
    found = recognise(X, n_features=None, id2word=id2word)
    data = found.data
    if found.kind == "batch":
        data = data.to_csr()
    elif found.kind == "texts":
        raise ValueError(
            "fit does not take raw strings: ingest them first ('svi-lda ingest' or "
            "svi_lda.corpus.ingest) and fit on the corpus folder."
        )
    if found.kind in ("matrix", "batch"):
        data = check_doc_term_matrix(data, n_features=None)
    if vocabulary is None:
        vocabulary = found.words
    if vocabulary is None and found.feature_names is not None:
        vocabulary = found.feature_names.tolist()
    return data, vocabulary, found.feature_names


def _check_not_complex(X: Any) -> Any:
    if np.iscomplexobj(X):
        raise ValueError(
            "Complex data not supported: X has dtype "
            f"{X.dtype}; LDA needs real, non-negative word counts."
        )
    return X


def _pandas_kind(X: Any) -> str | None:
    module = type(X).__module__
    if module.startswith("pandas") and type(X).__name__ in ("DataFrame", "Series"):
        return type(X).__name__
    return None


def _from_dataframe(frame: Any) -> Recognised:
    non_numeric = [
        name for name, dtype in frame.dtypes.items()
        if not (dtype.kind in "biuf" or getattr(dtype, "subtype", np.dtype(object)).kind in "biuf")
    ]
    if non_numeric:
        raise ValueError(
            f"X is a pandas DataFrame with non-numeric column {non_numeric[0]!r}: LDA needs "
            "word counts. For a column of text, count its words first, e.g. "
            "CountVectorizer().fit_transform(df[column]), or write a corpus with "
            "'svi-lda ingest' / svi_lda.corpus.ingest and fit on that."
        )
    names = None
    if len(frame.columns) and all(isinstance(c, str) for c in frame.columns):
        names = np.asarray(frame.columns, dtype=object)
    if len(frame.columns) and all(hasattr(d, "subtype") for d in frame.dtypes):
        data = frame.sparse.to_coo().tocsr()
    else:
        data = frame.to_numpy()
    return Recognised(data, "matrix", float32=data.dtype == np.float32, feature_names=names)


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], numbers.Integral)
        and not isinstance(item[0], bool)
        and isinstance(item[1], numbers.Real)
    )


def _is_bow_document(item: Any) -> bool:
    """A list/tuple of (word id, count) 2-tuples (judged by its first entry)."""
    return isinstance(item, list | tuple) and (len(item) == 0 or _is_pair(item[0]))


def _from_sequence(X: list | tuple, width: int | None, words: list[str] | None) -> Recognised:
    if len(X) == 0:
        return Recognised(X, "matrix")
    if all(isinstance(x, str) for x in X):
        return Recognised(X, "texts")
    if all(sp.issparse(x) or isinstance(x, Batch) for x in X):
        return Recognised(X, "minibatches")
    if all(_is_pair(x) for x in X):
        # One bag-of-words document (gensim's convention); a dense matrix has list rows.
        return Recognised(bow_documents_to_csr([X], width, source="X"), "matrix", words=words)
    if all(_is_bow_document(x) for x in X):
        return Recognised(bow_documents_to_csr(X, width, source="X"), "matrix", words=words)
    return Recognised(X, "matrix")


def _from_iterable(X: Iterable, width: int | None, words: list[str] | None) -> Recognised:
    iterator = iter(X)
    try:
        first = next(iterator)
    except StopIteration:
        raise ValueError(f"X ({type(X).__name__}) is empty: no documents to use.") from None
    stream = itertools.chain([first], iterator)
    if _is_bow_document(first):
        if width is None and getattr(X, "num_terms", None) is not None:
            width = int(X.num_terms)
        return Recognised(
            bow_documents_to_csr(stream, width, source=type(X).__name__), "matrix", words=words
        )
    if sp.issparse(first) or isinstance(first, Batch | np.ndarray):
        return Recognised(stream, "minibatches")
    if isinstance(first, list | tuple) and first and _is_bow_document(first[0]):
        # Chunks of bag-of-words documents (as gensim's chunked streams): one minibatch
        # each, converted as they are read.
        if width is None:
            raise _no_vocabulary_size(type(X).__name__)
        chunks = (
            bow_documents_to_csr(chunk, width, source=f"minibatch {i}")
            for i, chunk in enumerate(stream)
        )
        return Recognised(chunks, "minibatches", words=words)
    if isinstance(first, str):
        return Recognised(list(stream), "texts")
    raise ValueError(
        f"X is an iterable ({type(X).__name__}) of {type(first).__name__}: expected "
        "bag-of-words documents (lists of (word_id, count) pairs), sparse minibatches or "
        "strings."
    )


def bow_documents_to_csr(
    docs: Iterable[Any], width: int | None, *, source: str
) -> sp.csr_matrix:
    """gensim bag-of-words documents as CSR with ``width`` columns (duplicates summed).

    Raises ValueError naming the document when one is not a list of (id, count) pairs, an
    id is outside ``[0, width)``, or ``width`` is unknown.
    """
    if width is None:
        raise _no_vocabulary_size(source)
    indptr, ids, counts = [0], [], []
    for row, doc in enumerate(docs):
        if not _is_bow_document(doc) or not all(_is_pair(p) for p in doc):
            raise ValueError(
                f"{source}: document {row} is not a list of (word_id, count) pairs "
                f"(found {type(doc).__name__}: {str(doc)[:60]})."
            )
        ids.extend(p[0] for p in doc)
        counts.extend(p[1] for p in doc)
        indptr.append(len(ids))
    ids_arr = np.asarray(ids, dtype=np.int64)
    if ids_arr.size and (ids_arr.min() < 0 or ids_arr.max() >= width):
        bad = int(np.flatnonzero((ids_arr < 0) | (ids_arr >= width))[0])
        row = int(np.searchsorted(indptr, bad, side="right") - 1)
        raise ValueError(
            f"{source}: document {row} has word id {int(ids_arr[bad])}, outside the "
            f"vocabulary [0, {width})."
        )
    X = sp.csr_matrix(
        (np.asarray(counts, dtype=np.float64), ids_arr, np.asarray(indptr, dtype=np.int64)),
        shape=(len(indptr) - 1, width),
    )
    X.sum_duplicates()
    return X


def _no_vocabulary_size(source: str) -> ValueError:
    return ValueError(
        f"{source} holds bag-of-words documents, which do not say how many words the "
        "vocabulary has (the largest id seen is not its size): pass "
        "id2word=<your gensim Dictionary> to fit or partial_fit."
    )


def _id2word_size(id2word: Any) -> int | None:
    if id2word is None:
        return None
    keys = list(id2word.keys()) if hasattr(id2word, "keys") else list(range(len(id2word)))
    return int(max(keys)) + 1 if keys else 0


def _id2word_words(id2word: Any, width: int | None) -> list[str] | None:
    if id2word is None or width is None:
        return None
    try:
        return [str(id2word[i]) for i in range(width)]
    except (KeyError, IndexError):
        return None  # ids with gaps: no word list, the size still holds
