"""The tokenizer: text to words, in linear time whatever the pattern.

:meth:`Tokenizer.tokenize_arrow` tokenizes a whole block of documents at once and
:meth:`Tokenizer.tokenize` is the same on one string, so ingest and a model's
``transform`` always agree. Arrow lowercases; then, when the token pattern is a maximal
run of word characters (the default, and the usual ``\\w+`` / ``\\w\\w+`` / ``\\w{n,}``
forms, with or without ``\\b``), a Numba kernel cuts the runs straight out of the UTF-8
buffer with Python's meaning of ``\\w``, giving exactly ``re.findall``'s tokens. Any other
pattern runs on RE2 through Arrow (:mod:`svi_lda.text.re2`): a pattern from an untrusted
model file cannot make tokenizing take exponential time.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from svi_lda.text import _kernels, re2
from svi_lda.text.stopwords import ENGLISH_STOP_WORDS

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"

# Token patterns that mean "a maximal run of at least n word characters".
_WORD_RUN = re.compile(r"^(?:\(\?u\))?(\\b)?\\w(?:\\w\+|\+|\{(\d+),\})(\\b)?$")


def _word_run_min(pattern: str) -> int | None:
    """Minimum run length if ``pattern`` is a plain word-character run, else None."""
    m = _WORD_RUN.match(pattern)
    if m is None or bool(m.group(1)) != bool(m.group(3)):
        return None
    if m.group(2) is not None:
        return max(int(m.group(2)), 1)
    return 2 if r"\w\w+" in pattern else 1


@functools.lru_cache(maxsize=2)
def _word_table(ascii_only: bool = False) -> np.ndarray:
    """``table[code point]`` is True where Python's ``re`` matches ``\\w``.

    The full table takes ~0.4 s to build once per process; ASCII-only text (checked per
    block) gets by with the first 128 entries.
    """
    n = 0x80 if ascii_only else 0x110000
    table = np.fromiter((chr(c).isalnum() for c in range(n)), dtype=np.bool_, count=n)
    table[ord("_")] = True
    return table


@dataclass(frozen=True)
class Tokens:
    """Tokens of a block of documents, flat, as Arrow-style buffers.

    ``data[offsets[t]:offsets[t + 1]]`` is token ``t`` (UTF-8) and document ``d`` owns
    tokens ``doc_offsets[d]:doc_offsets[d + 1]``.
    """

    data: np.ndarray
    offsets: np.ndarray
    doc_offsets: np.ndarray

    @property
    def n_docs(self) -> int:
        """Number of documents."""
        return len(self.doc_offsets) - 1

    @property
    def n_tokens(self) -> int:
        """Number of tokens over all documents."""
        return len(self.offsets) - 1

    def as_arrow(self) -> pa.LargeStringArray:
        """The flat tokens as an Arrow array (zero copy)."""
        return pa.LargeStringArray.from_buffers(
            self.n_tokens, pa.py_buffer(self.offsets), pa.py_buffer(self.data)
        )


def _string_buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 data, int64 absolute offsets) of a string/binary array; nulls read as ''."""
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    _, off_buf, data_buf = texts.buffers()[:3]
    large = pa.types.is_large_string(texts.type) or pa.types.is_large_binary(texts.type)
    off_type = np.int64 if large else np.int32
    offsets = np.frombuffer(off_buf, dtype=off_type)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, "u1")
    return data, offsets.astype(np.int64, copy=False)


def _compact(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Buffers of ``arr`` rebased so that offsets start at 0."""
    data, offsets = _string_buffers(arr)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def _to_arrow_strings(texts: Any) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts), type=pa.large_string())
    if pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type):
        return texts
    raise TypeError(f"texts must be strings; got an Arrow array of type {texts.type}")


@dataclass(frozen=True)
class Tokenizer:
    """Split text into words.

    Parameters
    ----------
    lowercase : bool, default True
        Lowercase the text before matching.
    token_pattern : str, default ``r"(?u)\\b\\w\\w+\\b"``
        A regular expression whose matches are the tokens, as in scikit-learn's
        ``CountVectorizer`` (at most one capturing group, whose match is then the token).
        Word-run patterns behave exactly as in Python; others run on RE2, which has no
        backreferences or lookaround and whose ``\\b`` is ASCII (see
        :mod:`svi_lda.text.re2`).
    min_length : int, default 2
        Drop tokens shorter than this many characters.
    max_length : int or None, default None
        Drop tokens longer than this many characters (None: no limit).
    stop_words : None, "english" or sequence of str
        Words to drop after lowercasing; "english" is :data:`ENGLISH_STOP_WORDS`.
    """

    lowercase: bool = True
    token_pattern: str = DEFAULT_TOKEN_PATTERN
    min_length: int = 2
    max_length: int | None = None
    stop_words: str | tuple[str, ...] | None = None
    _re2: tuple[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.token_pattern, str):
            raise ValueError(f"token_pattern must be a str; got {self.token_pattern!r:.60}")
        object.__setattr__(self, "_re2", re2.check(self.token_pattern))
        if not isinstance(self.lowercase, bool | np.bool_):
            raise ValueError(f"lowercase must be a bool; got {self.lowercase!r:.60}")
        if type(self.min_length) is not int or self.min_length < 1:
            raise ValueError(f"min_length must be an int >= 1; got {self.min_length!r:.60}")
        if self.max_length is not None and (
            type(self.max_length) is not int or self.max_length < self.min_length
        ):
            raise ValueError(
                f"max_length must be None or an int >= min_length; got {self.max_length!r:.60}"
            )
        sw = self.stop_words
        if isinstance(sw, str):
            if sw != "english":
                raise ValueError(f"stop_words must be None, 'english' or a list; got {sw!r}")
        elif sw is not None:
            if not all(isinstance(w, str) for w in sw):
                raise ValueError("stop_words must be strings")
            object.__setattr__(self, "stop_words", tuple(sorted(set(sw))))

    # -- settings --------------------------------------------------------------------------
    @functools.cached_property
    def stop_word_set(self) -> frozenset[str]:
        """The stop words as a set (empty when none)."""
        if self.stop_words is None:
            return frozenset()
        if self.stop_words == "english":
            return ENGLISH_STOP_WORDS
        return frozenset(self.stop_words)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings; ``Tokenizer.from_dict(t.to_dict()) == t``."""
        sw = self.stop_words
        return {
            "lowercase": self.lowercase,
            "token_pattern": self.token_pattern,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "stop_words": list(sw) if isinstance(sw, tuple) else sw,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        unknown = set(d) - {"lowercase", "token_pattern", "min_length", "max_length", "stop_words"}
        if unknown:
            raise ValueError(f"unknown tokenizer settings {sorted(unknown)}")
        return cls(**d)

    # -- tokenizing --------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """The tokens of one text, in order (:meth:`tokenize_arrow` on one document).

        Examples
        --------
        >>> Tokenizer(stop_words="english").tokenize("The Cat sat on 2 mats!")
        ['cat', 'sat', 'mats']
        """
        return self.tokenize_arrow([text]).as_arrow().to_pylist()

    def tokenize_arrow(self, texts: Any, *, drop_stop_words: bool = True) -> Tokens:
        """Tokenize many documents at once; same tokens as :meth:`tokenize` on each.

        Parameters
        ----------
        texts : Arrow string array, chunked array, or iterable of str
            Nulls count as empty documents.
        drop_stop_words : bool, default True
            Callers that map tokens through a vocabulary without the stop words may skip
            this step (it is a hash lookup per token).
        """
        texts = _to_arrow_strings(texts)
        run_min = _word_run_min(self.token_pattern)
        if run_min is None:
            tokens = self._tokenize_regex(texts)
        else:
            if self.lowercase:
                texts = pc.utf8_lower(texts)
            data, offsets = _string_buffers(texts)
            hi = self.max_length if self.max_length is not None else np.iinfo(np.int64).max
            tokens = Tokens(
                *_kernels.word_runs(
                    data,
                    offsets,
                    _word_table(ascii_only=not data.size or int(data.max()) < 0x80),
                    max(run_min, self.min_length),
                    hi,
                )
            )
        if drop_stop_words and self.stop_word_set and tokens.n_tokens:
            tokens = self._drop(tokens, pc.is_in(tokens.as_arrow(), self._stop_array()))
        return tokens

    def _stop_array(self) -> pa.Array:
        return pa.array(sorted(self.stop_word_set), type=pa.large_string())

    def _tokenize_regex(self, texts: pa.Array) -> Tokens:
        """Any other pattern: RE2 over the whole block (linear time), then the lengths."""
        texts = texts.cast(pa.large_string())
        if texts.null_count:
            texts = pc.fill_null(texts, "")
        if self.lowercase:
            texts = pc.utf8_lower(texts)
        matches, doc_offsets = re2.find_all(texts, *self._re2)
        data, offsets = _compact(matches.cast(pa.large_string()))
        tokens = Tokens(data, offsets, doc_offsets)
        if not tokens.n_tokens:
            return tokens
        length = pc.utf8_length(tokens.as_arrow()).to_numpy(zero_copy_only=False)
        short = length < self.min_length
        if self.max_length is not None:
            short |= length > self.max_length
        return self._drop(tokens, pa.array(short)) if short.any() else tokens

    @staticmethod
    def _drop(tokens: Tokens, mask: pa.Array) -> Tokens:
        """Remove the tokens where ``mask`` is true."""
        drop = mask.to_numpy(zero_copy_only=False)
        keep = ~drop
        kept_per_doc = (
            np.add.reduceat(np.append(keep, False).astype(np.int64), tokens.doc_offsets[:-1])
            if tokens.n_docs
            else np.zeros(0, np.int64)
        )
        # reduceat misreads empty documents (start == next start); fix them up.
        empty = tokens.doc_offsets[1:] == tokens.doc_offsets[:-1]
        kept_per_doc[empty] = 0
        doc_offsets = np.concatenate([[0], np.cumsum(kept_per_doc)]).astype(np.int64)
        data, offsets = _compact(tokens.as_arrow().filter(pa.array(keep)))
        return Tokens(data, offsets, doc_offsets)
