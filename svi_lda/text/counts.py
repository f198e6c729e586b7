"""Word counts of a block of documents, their merge, and vocabulary pruning.

A :class:`WordCounts` is what the first ingest pass produces per partition: every word
seen with its document frequency (df) and corpus frequency (cf). Counts are integers, so
merging partials in any grouping gives exactly the same totals: this is what makes the
vocabulary independent of how the input was split among workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from svi_lda.text import _kernels
from svi_lda.text.tokenizer import Tokens


@dataclass(frozen=True)
class WordCounts:
    """Words with document and corpus frequencies over ``n_docs`` documents."""

    words: pa.Array
    df: np.ndarray
    cf: np.ndarray
    n_docs: int

    @classmethod
    def empty(cls) -> WordCounts:
        """No words, no documents."""
        z = np.zeros(0, dtype=np.int64)
        return cls(pa.array([], type=pa.large_string()), z, z.copy(), 0)

    @classmethod
    def from_tokens(cls, tokens: Tokens, stop_words: frozenset[str] = frozenset()) -> WordCounts:
        """Count the tokens of a block; stop words are removed from the result."""
        if tokens.n_tokens == 0:
            out = cls.empty()
            return WordCounts(out.words, out.df, out.cf, tokens.n_docs)
        enc = pc.dictionary_encode(tokens.as_arrow())
        ids = enc.indices.to_numpy().astype(np.int64, copy=False)
        words = enc.dictionary
        df, cf = _kernels.document_frequency(ids, tokens.doc_offsets, len(words))
        out = cls(words, df, cf, tokens.n_docs)
        if stop_words:
            keep = pc.invert(pc.is_in(words, pa.array(sorted(stop_words), pa.large_string())))
            out = out._take(np.flatnonzero(keep.to_numpy(zero_copy_only=False)))
        return out

    def _take(self, idx: np.ndarray) -> WordCounts:
        return WordCounts(self.words.take(pa.array(idx)), self.df[idx], self.cf[idx], self.n_docs)

    @staticmethod
    def merge(parts: Iterable[WordCounts]) -> WordCounts:
        """Sum counts over parts; the result is sorted by word (code point order)."""
        parts = [p for p in parts]
        n_docs = sum(p.n_docs for p in parts)
        parts = [p for p in parts if len(p.words)]
        if not parts:
            out = WordCounts.empty()
            return WordCounts(out.words, out.df, out.cf, n_docs)
        table = pa.table(
            {
                "word": pa.concat_arrays([p.words.cast(pa.large_string()) for p in parts]),
                "df": np.concatenate([p.df for p in parts]),
                "cf": np.concatenate([p.cf for p in parts]),
            }
        )
        agg = table.group_by("word", use_threads=False).aggregate([("df", "sum"), ("cf", "sum")])
        agg = agg.sort_by("word")
        return WordCounts(
            agg.column("word").combine_chunks(),
            agg.column("df_sum").to_numpy().astype(np.int64),
            agg.column("cf_sum").to_numpy().astype(np.int64),
            n_docs,
        )


def _doc_limit(value: float, n_docs: int, name: str) -> float:
    """sklearn's convention: an int is a document count, a float in [0, 1] a proportion."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be an int or a float; got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"{name} as a float is a proportion of documents in [0, 1]; got {value!r} "
                f"(pass an int for an absolute document count)"
            )
        return float(value) * n_docs
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value!r}")
    return float(value)


def select_words(
    counts: WordCounts,
    *,
    min_df: float = 1,
    max_df: float = 1.0,
    max_features: int | None = None,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> np.ndarray:
    """Indexes into ``counts.words`` of the words to keep, in word order.

    Rules (deterministic, same as scikit-learn's ``CountVectorizer`` where they overlap):
    ``min_df <= df <= max_df`` (ints are document counts, floats proportions of
    ``counts.n_docs``); words in ``drop`` are removed; then at most ``max_features`` words,
    the most frequent by corpus frequency (ties by word). Words in ``keep`` that occur
    at least once are always kept and count towards ``max_features``.
    """
    n = len(counts.words)
    lo = _doc_limit(min_df, counts.n_docs, "min_df")
    hi = _doc_limit(max_df, counts.n_docs, "max_df")
    if max_features is not None and (not isinstance(max_features, int) or max_features < 0):
        raise ValueError(f"max_features must be None or an int >= 0; got {max_features!r}")
    words = counts.words.cast(pa.large_string())
    present = counts.df > 0
    forced = np.zeros(n, dtype=bool)
    if keep:
        forced = (
            pc.is_in(words, pa.array(list(keep), pa.large_string())).to_numpy(zero_copy_only=False)
            & present
        )
    ok = present & (counts.df >= lo) & (counts.df <= hi) & ~forced
    if drop:
        dropped = pc.is_in(words, pa.array(list(drop), pa.large_string())).to_numpy(
            zero_copy_only=False
        )
        ok &= ~dropped
        forced &= ~dropped
    chosen = np.flatnonzero(ok)
    if max_features is not None:
        room = max(max_features - int(forced.sum()), 0)
        if len(chosen) > room:
            # Words are sorted, so a stable sort on -cf breaks ties by word.
            order = np.argsort(-counts.cf[chosen], kind="stable")[:room]
            chosen = chosen[order]
    sel = np.union1d(chosen, np.flatnonzero(forced))
    # Back to word order (counts may come unsorted from a single block).
    sub = words.take(pa.array(sel))
    return sel[pc.sort_indices(sub).to_numpy()]
