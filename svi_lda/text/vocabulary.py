"""The vocabulary: word <-> id, frequencies, the tokenizer that made it, and encoding.

Saved as one Parquet file (``id``, ``word``, ``df``, ``cf``; tokenizer settings and the
vocabulary hash in the schema metadata), never pickled, always written atomically.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from svi_lda._atomic import atomic_write_with
from svi_lda.batch import Batch
from svi_lda.text import _kernels
from svi_lda.text.counts import WordCounts, select_words
from svi_lda.text.tokenizer import Tokenizer, Tokens, _compact

VOCABULARY_FORMAT = "svi-lda-vocabulary"
VOCABULARY_FORMAT_VERSION = 1
_META_FORMAT = b"svi_lda.format"
_META_TOKENIZER = b"svi_lda.tokenizer"
_META_SHA = b"svi_lda.vocabulary_sha256"


def vocabulary_sha256(words: pa.Array) -> str:
    """Hash of the id -> word mapping (UTF-8 words in id order, length-delimited).

    Only the words and their order enter it: two vocabularies with the same hash encode
    text to the same ids. Frequencies and tokenizer settings do not.
    """
    data, offsets = _compact(words.cast(pa.large_string()))
    h = hashlib.sha256(b"svi-lda-vocabulary-v1\n")
    h.update(np.int64(len(words)).tobytes())
    h.update(offsets.astype("<i8").tobytes())
    h.update(data.tobytes())
    return h.hexdigest()


class Vocabulary:
    """Words with ids ``0..V-1``, their frequencies, and the tokenizer that produced them.

    Parameters
    ----------
    words : sequence of str or Arrow string array
        Word ``i`` has id ``i``. Must be unique.
    document_frequency, corpus_frequency : array-like of int, shape (V,), optional
        Number of documents containing each word, and its total count (zeros if unknown).
    tokenizer : Tokenizer or None
        Needed to encode raw text (:meth:`encode`).
    """

    def __init__(
        self,
        words: Sequence[str] | pa.Array,
        document_frequency: Any = None,
        corpus_frequency: Any = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        arr = words if isinstance(words, pa.Array) else pa.array(list(words), pa.large_string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            raise TypeError(f"vocabulary words must be strings; got Arrow type {arr.type}")
        arr = arr.cast(pa.large_string())
        if arr.null_count:
            raise ValueError("vocabulary words must not be null")
        if pc.count_distinct(arr).as_py() != len(arr):
            vc = pc.value_counts(arr)
            dup = vc.field("values").filter(pc.greater(vc.field("counts"), 1))
            raise ValueError(f"vocabulary words must be unique; repeated: {dup[:5].to_pylist()}")
        self._words = arr
        self.document_frequency = self._freq(document_frequency, "document_frequency")
        self.corpus_frequency = self._freq(corpus_frequency, "corpus_frequency")
        if tokenizer is not None and not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a Tokenizer or None; got {type(tokenizer)}")
        self.tokenizer = tokenizer

    def _freq(self, values: Any, name: str) -> np.ndarray:
        if values is None:
            return np.zeros(len(self._words), dtype=np.int64)
        a = np.asarray(values)
        if a.shape != (len(self._words),):
            raise ValueError(f"{name} must have shape ({len(self._words)},); got {a.shape}")
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0):
            raise ValueError(f"{name} must hold non-negative integers")
        return a.astype(np.int64)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_counts(
        cls,
        counts: WordCounts,
        tokenizer: Tokenizer | None = None,
        *,
        min_df: float = 1,
        max_df: float = 1.0,
        max_features: int | None = None,
        keep: Sequence[str] = (),
        drop: Sequence[str] = (),
    ) -> Vocabulary:
        """Prune merged counts (see :func:`svi_lda.text.counts.select_words`); ids in word order."""
        sel = select_words(
            counts, min_df=min_df, max_df=max_df, max_features=max_features, keep=keep, drop=drop
        )
        return cls(
            counts.words.take(pa.array(sel)), counts.df[sel], counts.cf[sel], tokenizer=tokenizer
        )

    # -- lookups -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._words)

    def __repr__(self) -> str:
        return (
            f"Vocabulary({len(self)} words, sha256={self.sha256[:12]}, tokenizer={self.tokenizer})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (
            self.sha256 == other.sha256
            and np.array_equal(self.document_frequency, other.document_frequency)
            and np.array_equal(self.corpus_frequency, other.corpus_frequency)
            and self.tokenizer == other.tokenizer
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def word_array(self) -> pa.LargeStringArray:
        """The words as an Arrow array (id order)."""
        return self._words

    @functools.cached_property
    def words(self) -> list[str]:
        """The words as a list (``words[i]`` has id ``i``)."""
        return self._words.to_pylist()

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def id_of(self, word: str) -> int | None:
        """The id of ``word``, or None if it is not in the vocabulary."""
        return self._index.get(word)

    get = id_of

    def ids_of(self, words: Iterable[str] | pa.Array) -> np.ndarray:
        """Ids of many words at once (int32, -1 where a word is not in the vocabulary)."""
        arr = words if isinstance(words, pa.Array) else pa.array(list(words), pa.large_string())
        ids = pc.index_in(arr.cast(pa.large_string()), value_set=self._words)
        return pc.fill_null(ids, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)

    @functools.cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the id -> word mapping (see :func:`vocabulary_sha256`)."""
        return vocabulary_sha256(self._words)

    # -- encoding ------------------------------------------------------------------------------
    @functools.cached_property
    def _stop_ids(self) -> np.ndarray:
        if self.tokenizer is None or not self.tokenizer.stop_word_set:
            return np.zeros(0, dtype=np.int32)
        ids = self.ids_of(sorted(self.tokenizer.stop_word_set))
        return ids[ids >= 0]

    def token_ids(self, tokens: Tokens) -> np.ndarray:
        """Id of each token (int64, -1 for words not in the vocabulary and stop words)."""
        if tokens.n_tokens == 0:
            return np.zeros(0, dtype=np.int64)
        # Look up each distinct token once in the cached word -> id dict: O(tokens +
        # distinct tokens). (pc.index_in would hash all V words on every call: 2 ms a
        # query at V = 20,000, forty times the E-step of a short document.)
        enc = pc.dictionary_encode(tokens.as_arrow())
        index = self._index
        distinct = enc.dictionary.to_pylist()
        ids = np.fromiter((index.get(w, -1) for w in distinct), np.int64, len(distinct))
        out = ids[enc.indices.to_numpy(zero_copy_only=False)]
        if len(self._stop_ids):
            out[np.isin(out, self._stop_ids)] = -1
        return out

    def encode_tokens(self, tokens: Tokens) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR ``(indptr int64, indices int32, counts int32)`` of tokenized documents."""
        return _kernels.bag_of_words(self.token_ids(tokens), tokens.doc_offsets)

    def encode(
        self,
        texts: Iterable[str] | pa.Array,
        first_doc_id: int = 0,
        *,
        doc_ids: Any = None,
    ) -> Batch:
        """Tokenize raw texts and count in-vocabulary words: one :class:`Batch` row per text.

        Words not in the vocabulary (and stop words) are dropped; a text with none left
        is an empty row. ``doc_ids`` defaults to ``first_doc_id + arange(n)``.

        Examples
        --------
        >>> v = Vocabulary(["cat", "mat"], tokenizer=Tokenizer())
        >>> v.encode(["The cat sat on the mat, cat!"]).to_csr().toarray()
        array([[2., 1.]])
        """
        if self.tokenizer is None:
            raise ValueError(
                "this Vocabulary has no tokenizer, so it cannot encode raw text; "
                "build it with tokenizer=Tokenizer(...)"
            )
        tokens = self.tokenizer.tokenize_arrow(texts, drop_stop_words=False)
        indptr, indices, counts = self.encode_tokens(tokens)
        n = tokens.n_docs
        if doc_ids is None:
            doc_ids = np.arange(first_doc_id, first_doc_id + n, dtype=np.int64)
        doc_ids = np.asarray(doc_ids, dtype=np.int64)
        if doc_ids.shape != (n,):
            raise ValueError(f"doc_ids must have shape ({n},); got {doc_ids.shape}")
        return Batch(indptr, indices, counts, doc_ids, len(self))

    # -- persistence ---------------------------------------------------------------------------
    def to_table(self) -> pa.Table:
        """The vocabulary as an Arrow table with its metadata."""
        meta = {
            _META_FORMAT: f"{VOCABULARY_FORMAT}/{VOCABULARY_FORMAT_VERSION}".encode(),
            _META_TOKENIZER: json.dumps(
                None if self.tokenizer is None else self.tokenizer.to_dict()
            ).encode(),
            _META_SHA: self.sha256.encode(),
        }
        schema = pa.schema(
            [("id", pa.int32()), ("word", pa.string()), ("df", pa.int64()), ("cf", pa.int64())],
            metadata=meta,
        )
        return pa.table(
            [
                pa.array(np.arange(len(self), dtype=np.int32)),
                self._words.cast(pa.string()),
                pa.array(self.document_frequency),
                pa.array(self.corpus_frequency),
            ],
            schema=schema,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write to one Parquet file, atomically (readers never see a partial file)."""
        table = self.to_table()
        atomic_write_with(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a file written by :meth:`save`; checks ids, types and the stored hash."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} does not exist")
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(
                f"vocabulary file {path} is not a readable Parquet file: {exc}"
            ) from exc
        return cls.from_table(table, source=str(path))

    @classmethod
    def from_table(cls, table: pa.Table, source: str = "<table>") -> Vocabulary:
        """Inverse of :meth:`to_table`."""
        meta = table.schema.metadata or {}
        fmt = meta.get(_META_FORMAT, b"").decode()
        if fmt != f"{VOCABULARY_FORMAT}/{VOCABULARY_FORMAT_VERSION}":
            raise ValueError(
                f"{source}: not an svi-lda vocabulary (format {fmt!r}, expected "
                f"'{VOCABULARY_FORMAT}/{VOCABULARY_FORMAT_VERSION}')"
            )
        expected = {"id": pa.int32(), "word": pa.string(), "df": pa.int64(), "cf": pa.int64()}
        for name, typ in expected.items():
            if name not in table.column_names or table.schema.field(name).type != typ:
                found = table.schema.field(name).type if name in table.column_names else "missing"
                raise ValueError(f"{source}: column {name!r} must be {typ}; found {found}")
        ids = table.column("id").to_numpy()
        if not np.array_equal(ids, np.arange(len(ids))):
            raise ValueError(f"{source}: ids must be 0..V-1 in order")
        tok = json.loads(meta.get(_META_TOKENIZER, b"null"))
        vocab = cls(
            table.column("word").combine_chunks(),
            table.column("df").to_numpy(),
            table.column("cf").to_numpy(),
            tokenizer=None if tok is None else Tokenizer.from_dict(tok),
        )
        stored = meta.get(_META_SHA, b"").decode()
        if stored and stored != vocab.sha256:
            raise ValueError(
                f"{source}: stored vocabulary hash {stored[:12]}... does not match its words "
                f"({vocab.sha256[:12]}...); the file is corrupt"
            )
        return vocab
