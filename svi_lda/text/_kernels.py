"""Numba kernels for text: UTF-8 validation, word-run tokenization, bag-of-words counting.

They work on Arrow-style buffers (a ``uint8`` data buffer plus ``int64`` offsets) so that
a whole block of documents is processed in one call with no Python object per token.
None of them reads module globals, so they are compiled with ``cache=True``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _utf8_char_len(data, i, stop):  # pragma: no cover - compiled
    """Length of the valid UTF-8 sequence starting at ``data[i]``, or 0 if invalid.

    Same acceptance rules as Python's strict ``bytes.decode("utf-8")``: no overlong forms,
    no surrogates, nothing above U+10FFFF.
    """
    b0 = data[i]
    if b0 < 0x80:
        return 1
    if b0 < 0xC2:
        return 0
    if b0 < 0xE0:
        n = 2
    elif b0 < 0xF0:
        n = 3
    elif b0 < 0xF5:
        n = 4
    else:
        return 0
    if i + n > stop:
        return 0
    b1 = data[i + 1]
    if b1 < 0x80 or b1 > 0xBF:
        return 0
    if n == 3:
        if b0 == 0xE0 and b1 < 0xA0:
            return 0
        if b0 == 0xED and b1 > 0x9F:
            return 0
    elif n == 4:
        if b0 == 0xF0 and b1 < 0x90:
            return 0
        if b0 == 0xF4 and b1 > 0x8F:
            return 0
    for k in range(2, n):
        bk = data[i + k]
        if bk < 0x80 or bk > 0xBF:
            return 0
    return n


@njit(cache=True, nogil=True)
def utf8_invalid_at(data, starts, stops):  # pragma: no cover - compiled
    """Byte offset of the first invalid UTF-8 sequence in each span, or -1 if valid.

    Equivalent to: ``[first error position of data[s:e].decode("utf-8")] for s, e in spans``.
    """
    n = len(starts)
    out = np.full(n, -1, dtype=np.int64)
    for d in range(n):
        i = starts[d]
        stop = stops[d]
        while i < stop:
            if data[i] < 0x80:
                i += 1
                continue
            k = _utf8_char_len(data, i, stop)
            if k == 0:
                out[d] = i - starts[d]
                break
            i += k
    return out


@njit(cache=True, nogil=True)
def _decode(data, i):  # pragma: no cover - compiled
    """(code point, byte length) at ``data[i]`` of already validated UTF-8."""
    b0 = data[i]
    if b0 < 0x80:
        return np.int64(b0), 1
    if b0 < 0xE0:
        return np.int64(((b0 & 0x1F) << 6) | (data[i + 1] & 0x3F)), 2
    if b0 < 0xF0:
        cp = ((b0 & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
        return np.int64(cp), 3
    cp = (
        ((b0 & 0x07) << 18)
        | ((data[i + 1] & 0x3F) << 12)
        | ((data[i + 2] & 0x3F) << 6)
        | (data[i + 3] & 0x3F)
    )
    return np.int64(cp), 4


@njit(cache=True, nogil=True)
def _scan_runs(
    data, offsets, is_word, min_chars, max_chars, fill, tok_data, tok_offsets, doc_offsets
):  # pragma: no cover - compiled
    """Count (``fill=False``) or copy out (``fill=True``) the kept word runs."""
    n_docs = len(offsets) - 1
    n_table = len(is_word)
    t = 0
    pos = 0
    if fill:
        tok_offsets[0] = 0
        doc_offsets[0] = 0
    for d in range(n_docs):
        i = offsets[d]
        stop = offsets[d + 1]
        run_start = -1
        run_chars = 0
        while True:
            word = False
            k = 0
            if i < stop:
                cp, k = _decode(data, i)
                word = cp < n_table and is_word[cp]
            if word:
                if run_start < 0:
                    run_start = i
                    run_chars = 0
                run_chars += 1
            elif run_start >= 0:
                if run_chars >= min_chars and run_chars <= max_chars:
                    if fill:
                        for j in range(run_start, i):
                            tok_data[pos] = data[j]
                            pos += 1
                        tok_offsets[t + 1] = pos
                    else:
                        pos += i - run_start
                    t += 1
                run_start = -1
            if i >= stop:
                break
            i += k
        if fill:
            doc_offsets[d + 1] = t
    return t, pos


@njit(cache=True, nogil=True)
def word_runs(data, offsets, is_word, min_chars, max_chars):  # pragma: no cover - compiled
    """Tokenize documents into maximal runs of word characters.

    Parameters
    ----------
    data : uint8 array
        Valid UTF-8 bytes of all documents.
    offsets : int64 array, shape (n_docs + 1,)
        Document ``d`` is ``data[offsets[d]:offsets[d + 1]]``.
    is_word : bool array indexed by code point
        Python's ``\\w`` (``str.isalnum() or "_"``); code points past its end are not words.
    min_chars, max_chars : int
        Keep runs with ``min_chars <= length in characters <= max_chars``.

    Returns
    -------
    tok_data : uint8 array
        The kept tokens' bytes, back to back.
    tok_offsets : int64 array, shape (n_tokens + 1,)
    doc_offsets : int64 array, shape (n_docs + 1,)
        Tokens of document ``d`` are ``doc_offsets[d]:doc_offsets[d + 1]``.

    Equivalent to: ``[[t for t in re.findall(r"\\w+", doc) if min_chars <= len(t) <=
    max_chars] for doc in docs]``.
    """
    # Pass 1 sizes the outputs, pass 2 fills them: no reallocation, no Python objects.
    dummy8 = np.empty(0, dtype=np.uint8)
    dummy64 = np.empty(1, dtype=np.int64)
    n_tok, n_bytes = _scan_runs(
        data, offsets, is_word, min_chars, max_chars, False, dummy8, dummy64, dummy64
    )
    tok_data = np.empty(n_bytes, dtype=np.uint8)
    tok_offsets = np.empty(n_tok + 1, dtype=np.int64)
    doc_offsets = np.empty(len(offsets), dtype=np.int64)
    _scan_runs(
        data, offsets, is_word, min_chars, max_chars, True, tok_data, tok_offsets, doc_offsets
    )
    return tok_data, tok_offsets, doc_offsets


@njit(cache=True, nogil=True)
def document_frequency(ids, doc_offsets, n_words):  # pragma: no cover - compiled
    """Document and corpus frequency of each id (ids < 0 are ignored).

    Equivalent to: ``df[w] = #{d : w in ids[doc d]}``, ``cf = bincount(ids[ids >= 0])``.
    """
    df = np.zeros(n_words, dtype=np.int64)
    cf = np.zeros(n_words, dtype=np.int64)
    last = np.full(n_words, -1, dtype=np.int64)
    for d in range(len(doc_offsets) - 1):
        for t in range(doc_offsets[d], doc_offsets[d + 1]):
            w = ids[t]
            if w < 0:
                continue
            cf[w] += 1
            if last[w] != d:
                last[w] = d
                df[w] += 1
    return df, cf


@njit(cache=True, nogil=True)
def bag_of_words(ids, doc_offsets):  # pragma: no cover - compiled
    """Per-document sorted unique ids and their counts, as CSR (ids < 0 are dropped).

    Returns ``indptr`` (int64, n_docs + 1), ``indices`` (int32), ``counts`` (int32).
    Equivalent to: ``np.unique(ids[doc d][ids >= 0], return_counts=True)`` for each ``d``.
    """
    n_docs = len(doc_offsets) - 1
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    indices = np.empty(len(ids), dtype=np.int32)
    counts = np.empty(len(ids), dtype=np.int32)
    nnz = 0
    for d in range(n_docs):
        a = doc_offsets[d]
        b = doc_offsets[d + 1]
        if b > a:
            row = np.sort(ids[a:b])
            prev = -1
            for t in range(len(row)):
                w = row[t]
                if w < 0:
                    continue
                if w == prev:
                    counts[nnz - 1] += 1
                else:
                    indices[nnz] = w
                    counts[nnz] = 1
                    nnz += 1
                    prev = w
        indptr[d + 1] = nnz
    return indptr, indices[:nnz].copy(), counts[:nnz].copy()


@njit(cache=True, nogil=True)
def field_spans(buf, line_starts, line_stops, n_fields, want):  # pragma: no cover - compiled
    """Byte spans of selected tab-separated fields on each line.

    ``want`` holds field indexes. Returns ``(starts, stops, n_found)`` where ``starts`` and
    ``stops`` have shape ``(n_lines, len(want))`` and ``n_found`` is the number of fields on
    each line (a line is well formed when it equals ``n_fields``).
    """
    n = len(line_starts)
    m = len(want)
    starts = np.zeros((n, m), dtype=np.int64)
    stops = np.zeros((n, m), dtype=np.int64)
    n_found = np.zeros(n, dtype=np.int64)
    for r in range(n):
        s = line_starts[r]
        e = line_stops[r]
        f = 0
        fs = s
        for i in range(s, e + 1):
            if i == e or buf[i] == 9:
                for j in range(m):
                    if want[j] == f:
                        starts[r, j] = fs
                        stops[r, j] = i
                f += 1
                fs = i + 1
                if f > n_fields:
                    break
        n_found[r] = f
    return starts, stops, n_found


@njit(cache=True, nogil=True)
def gather_spans(buf, starts, stops):  # pragma: no cover - compiled
    """Copy byte spans back to back: Arrow-style ``(data, offsets)``."""
    n = len(starts)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    for r in range(n):
        offsets[r + 1] = offsets[r] + (stops[r] - starts[r])
    out = np.empty(offsets[n], dtype=np.uint8)
    for r in range(n):
        out[offsets[r] : offsets[r + 1]] = buf[starts[r] : stops[r]]
    return out, offsets
