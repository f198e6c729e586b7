"""Conversions from bag-of-words data people already have into a corpus folder.

scipy CSR + words, scikit-learn ``CountVectorizer`` output, gensim ``Dictionary`` plus a
bag-of-words corpus, and the UCI bag-of-words files (``docword.*.txt`` + ``vocab.*.txt``).
Every row becomes a document (empty rows too, so row ``i`` keeps ``doc_id = i`` unless ids
are given), and the matrix read back with ``ParquetCorpus(out).to_csr()`` equals the input.
Scikit-learn and gensim are not imported here: the objects passed in are only duck-typed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import scipy.sparse as sp

from svi_lda import storage
from svi_lda.corpus.format import DEFAULT_ROW_GROUP_SIZE
from svi_lda.corpus.reader import ParquetCorpus
from svi_lda.corpus.sources import open_stream
from svi_lda.corpus.writer import CorpusWriter
from svi_lda.text.tokenizer import Tokenizer

_CHUNK_ROWS = 65536


def _integral_counts(data: np.ndarray, what: str) -> np.ndarray:
    """Counts as int32, or a clear error for negative, non-integer or huge values."""
    data = np.asarray(data)
    if data.size == 0:
        return data.astype(np.int32)
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise ValueError(f"{what}: counts must be numbers; found dtype {data.dtype}")
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{what}: counts must be finite; found NaN or infinity")
        frac = data != np.round(data)
        if frac.any():
            raise ValueError(
                f"{what}: counts must be whole numbers (a bag of words, not tf-idf or "
                f"normalised weights); found {data[np.flatnonzero(frac)[0]]!r}"
            )
    if data.min() < 0:
        raise ValueError(f"{what}: counts must be non-negative; found {data.min()!r}")
    if data.max() > np.iinfo(np.int32).max:
        raise ValueError(f"{what}: counts must fit in int32; found {data.max()!r}")
    return data.astype(np.int32)


def _write_csr(writer: CorpusWriter, X: sp.csr_matrix, doc_ids: np.ndarray) -> None:
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        chunk = X[start : start + _CHUNK_ROWS]
        writer.add(
            chunk.indptr.astype(np.int64),
            chunk.indices.astype(np.int32),
            chunk.data,
            doc_ids[start : start + chunk.shape[0]],
        )


def _csr_checked(X: Any, what: str) -> sp.csr_matrix:
    if not sp.issparse(X):
        X = sp.csr_matrix(np.asarray(X))
    X = sp.csr_matrix(X, copy=True)
    X.data = _integral_counts(X.data, what)
    X.sum_duplicates()  # also sorts indices
    X.eliminate_zeros()
    return X


def from_csr(
    X: Any,
    words: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    doc_ids: Any = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    tokenizer: Tokenizer | None = None,
    overwrite: bool = False,
) -> ParquetCorpus:
    """Write a documents x words count matrix and its words as a corpus folder.

    Parameters
    ----------
    X : sparse or dense matrix, shape (n_docs, n_words)
        Non-negative whole-number counts (duplicates are summed, zeros dropped).
    words : sequence of str, length n_words
        ``words[j]`` is column ``j``; unique.
    out_dir : path or str
        New (or empty) folder: a local path or an fsspec URL (``s3://bucket/corpus``).
    doc_ids : array-like of int, optional
        Document ids (default ``0..n_docs-1``).
    row_group_size : int
        Documents per row group.
    tokenizer : Tokenizer, optional
        Stored with the vocabulary so raw text can be encoded later.
    overwrite : bool
        Replace a corpus already in ``out_dir``.

    Returns
    -------
    ParquetCorpus
    """
    X = _csr_checked(X, "from_csr")
    words = list(words)
    if X.shape[1] != len(words):
        raise ValueError(f"X has {X.shape[1]} columns but {len(words)} words were given")
    ids = np.arange(X.shape[0], dtype=np.int64) if doc_ids is None else np.asarray(doc_ids)
    if ids.shape != (X.shape[0],) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"doc_ids must be {X.shape[0]} integers; got {ids.dtype} {ids.shape}")
    writer = CorpusWriter(out_dir, words, row_group_size=row_group_size, overwrite=overwrite)
    _write_csr(writer, X, ids.astype(np.int64))
    return writer.close(tokenizer=tokenizer, source={"kind": "csr", "shape": list(X.shape)})


def tokenizer_from_sklearn(vectorizer: Any) -> Tokenizer | None:
    """A :class:`Tokenizer` equivalent to a word-level ``CountVectorizer``, if there is one."""
    p = vectorizer.get_params()
    if (
        p.get("analyzer") != "word"
        or p.get("tokenizer") is not None
        or p.get("preprocessor") is not None
        or tuple(p.get("ngram_range", (1, 1))) != (1, 1)
        or p.get("strip_accents") is not None
    ):
        return None
    sw = p.get("stop_words")
    if sw is not None and sw != "english":
        sw = list(sw)
    return Tokenizer(
        lowercase=bool(p.get("lowercase", True)),
        token_pattern=p.get("token_pattern") or r"(?u)\b\w\w+\b",
        min_length=1,
        stop_words=sw,
    )


def from_sklearn(
    vectorizer: Any, X: Any, out_dir: str | os.PathLike, **kwargs: Any
) -> ParquetCorpus:
    """Write a fitted scikit-learn ``CountVectorizer`` and its output matrix as a corpus.

    The vectorizer's words become the vocabulary (same column order); when its settings
    are expressible (word analyzer, no custom callables) the equivalent tokenizer is
    stored too, so raw text encodes the same way. Other arguments as :func:`from_csr`.
    """
    words = [str(w) for w in vectorizer.get_feature_names_out()]
    kwargs.setdefault("tokenizer", tokenizer_from_sklearn(vectorizer))
    return from_csr(X, words, out_dir, **kwargs)


def from_gensim(
    dictionary: Any,
    bow_corpus: Iterable[Sequence[tuple[int, Any]]],
    out_dir: str | os.PathLike,
    *,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    tokenizer: Tokenizer | None = None,
    overwrite: bool = False,
) -> ParquetCorpus:
    """Write a gensim ``Dictionary`` and a bag-of-words corpus (streamed) as a corpus.

    ``bow_corpus`` is any iterable of documents, each a list of ``(word_id, count)``, as
    produced by ``dictionary.doc2bow``; it is read once, in chunks, so it may be larger
    than memory. Word ids must be ``0..len(dictionary)-1`` (call
    ``dictionary.compactify()`` after filtering).
    """
    n_words = len(dictionary)
    id2token = {int(i): t for t, i in dictionary.token2id.items()}
    if sorted(id2token) != list(range(n_words)):
        raise ValueError(
            "gensim Dictionary ids are not 0..len-1; call dictionary.compactify() first"
        )
    words = [id2token[i] for i in range(n_words)]
    writer = CorpusWriter(out_dir, words, row_group_size=row_group_size, overwrite=overwrite)
    rows: list[Sequence[tuple[int, Any]]] = []
    n_done = 0

    def flush() -> None:
        nonlocal n_done
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        flat = [pair for r in rows for pair in r]
        ids = np.fromiter((p[0] for p in flat), dtype=np.int64, count=len(flat))
        vals = np.fromiter((p[1] for p in flat), dtype=np.float64, count=len(flat))
        what = f"from_gensim (documents {n_done}..{n_done + len(rows) - 1})"
        if ids.size and (ids.min() < 0 or ids.max() >= n_words):
            raise ValueError(f"{what}: word ids must be in [0, {n_words}); found {ids.max()}")
        X = sp.csr_matrix((_integral_counts(vals, what), ids, indptr), shape=(len(rows), n_words))
        X.sum_duplicates()
        X.eliminate_zeros()
        _write_csr(writer, X, np.arange(n_done, n_done + len(rows), dtype=np.int64))
        n_done += len(rows)
        rows.clear()

    for doc in bow_corpus:
        rows.append(doc)
        if len(rows) >= _CHUNK_ROWS:
            flush()
    if rows:
        flush()
    return writer.close(tokenizer=tokenizer, source={"kind": "gensim", "n_docs": n_done})


def from_uci(
    docword_path: str | os.PathLike,
    vocab_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    tokenizer: Tokenizer | None = None,
    overwrite: bool = False,
) -> ParquetCorpus:
    """Convert the UCI bag-of-words format (streamed; gzip etc. allowed).

    Each path may be an fsspec URL (``s3://bucket/uci/docword.nytimes.txt.gz``), read in
    place.

    ``docword`` holds ``D``, ``W``, ``NNZ`` on three lines, then ``docID wordID count``
    lines (1-based ids, sorted by docID); ``vocab`` holds one word per line. Document ``k``
    gets ``doc_id = k - 1``; documents with no lines become empty rows.
    """
    docword_path, vocab_path = storage.location(docword_path), storage.location(vocab_path)
    with open_stream(vocab_path) as f:
        words = [w.rstrip("\r") for w in f.read().decode("utf-8").split("\n")]
    if words and words[-1] == "":
        words.pop()
    with open_stream(docword_path) as f:
        head = b""
        while head.count(b"\n") < 3:
            piece = f.read(1 << 12)
            if not piece:
                break
            head += piece
    header = [h.strip().decode("ascii", "replace") for h in head.split(b"\n")[:3]]
    with open_stream(docword_path) as f:
        try:
            n_docs, n_words, nnz = (int(h) for h in header)
        except ValueError:
            raise ValueError(
                f"{docword_path}: the first three lines must be D, W and NNZ; found {header}"
            ) from None
        if n_words != len(words):
            raise ValueError(
                f"{docword_path} says W={n_words} but {vocab_path} has {len(words)} words"
            )
        writer = CorpusWriter(out_dir, words, row_group_size=row_group_size, overwrite=overwrite)
        reader = pcsv.open_csv(
            f,
            read_options=pcsv.ReadOptions(
                column_names=["doc", "word", "count"],
                skip_rows=3,
                block_size=16 << 20,
                use_threads=True,
            ),
            parse_options=pcsv.ParseOptions(delimiter=" "),
            convert_options=pcsv.ConvertOptions(
                column_types={"doc": pa.int64(), "word": pa.int64(), "count": pa.float64()}
            ),
        )
        next_doc = 1  # first document id not yet written
        carry = [np.zeros(0, np.int64)] * 3
        seen = 0
        line = 4
        for rb in reader:
            doc, word, cnt = (rb.column(i).to_numpy(zero_copy_only=False) for i in range(3))
            where = f"{docword_path} lines {line}..{line + len(doc) - 1}"
            line += len(doc)
            seen += len(doc)
            doc = np.concatenate([carry[0], doc])
            word = np.concatenate([carry[1], word])
            cnt = np.concatenate([carry[2], cnt])
            if doc.size and (np.any(np.diff(doc) < 0) or doc[0] < next_doc):
                raise ValueError(f"{where}: docword lines must be sorted by docID")
            if doc.size and (doc.max() > n_docs or word.min() < 1 or word.max() > n_words):
                raise ValueError(
                    f"{where}: docID must be in [1, {n_docs}] and wordID in [1, {n_words}]"
                )
            last = doc[-1] if doc.size else next_doc
            done = doc < last  # the last document may continue in the next block
            next_doc = _write_uci_docs(
                writer, doc[done], word[done], cnt[done], next_doc, int(last), n_words, where
            )
            carry = [doc[~done], word[~done], cnt[~done]]
        next_doc = _write_uci_docs(writer, *carry, next_doc, n_docs + 1, n_words, str(docword_path))
    if seen != nnz:
        raise ValueError(f"{docword_path} says NNZ={nnz} but has {seen} entry lines")
    return writer.close(
        tokenizer=tokenizer,
        source={"kind": "uci", "docword": str(docword_path), "vocab": str(vocab_path)},
    )


def _write_uci_docs(
    writer: CorpusWriter,
    doc: np.ndarray,
    word: np.ndarray,
    cnt: np.ndarray,
    first: int,
    stop: int,
    n_words: int,
    where: str,
) -> int:
    """Write documents ``first..stop-1`` (1-based) from sorted triples; returns ``stop``."""
    n = stop - first
    if n <= 0:
        return first
    X = sp.csr_matrix((_integral_counts(cnt, where), (doc - first, word - 1)), shape=(n, n_words))
    X.sum_duplicates()
    X.eliminate_zeros()
    _write_csr(writer, X, np.arange(first - 1, stop - 1, dtype=np.int64))
    return stop
