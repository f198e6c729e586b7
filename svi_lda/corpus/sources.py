"""Input files -> partitions -> blocks of records (text plus kept columns).

Formats: ``.txt`` (one document per file), ``.tsv``/``.tab`` (tab-separated, header line,
no quoting), ``.csv`` (header, ``"`` quoting, newlines allowed inside quotes),
``.jsonl``/``.ndjson`` (one JSON object per line), ``.parquet`` (a text column); each may
be compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``).

A *partition* is a unit of work fixed by the input alone (never by the number of
workers): a line-aligned byte range of an uncompressed TSV/JSON Lines file, a whole
compressed/CSV/Parquet file, or a group of ``.txt`` files. A task streams its partition
in *blocks* of about ``block_bytes``, so memory is bounded by the block size.

Positions in rejects: ``line`` is the 1-based physical line of a TSV/JSON Lines file
(the header is line 1) or of a ``.txt`` file (where the bad bytes are); ``row`` is the
1-based row of a CSV file as a spreadsheet counts it (the header is row 1), or the
0-based row index of a Parquet file.

The work is split by job: :mod:`~svi_lda.corpus.files` (formats, decompression, broken
streams), :mod:`~svi_lda.corpus.partitions` (planning, ``Partition``/``Block``),
:mod:`~svi_lda.corpus.line_records` (TSV, JSON Lines) and
:mod:`~svi_lda.corpus.table_records` (CSV, Parquet); ``.txt`` files are read here. Every
public name stays importable from this module.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from svi_lda.corpus.files import (
    COMPRESSIONS,
    DEFAULT_BLOCK_BYTES,
    FORMATS,
    InputError,
    detect,
    discover,
    open_stream,
    read_whole,
)
from svi_lda.corpus.line_records import count_lines, line_blocks
from svi_lda.corpus.partitions import (
    Block,
    Partition,
    SourceOptions,
    plan_partitions,
    pos_key,
    relative_lines,
)
from svi_lda.corpus.table_records import csv_blocks, parquet_blocks
from svi_lda.text import _kernels

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_BLOCK_BYTES",
    "FORMATS",
    "Block",
    "InputError",
    "Partition",
    "SourceOptions",
    "count_lines",
    "detect",
    "discover",
    "iter_blocks",
    "open_stream",
    "plan_partitions",
    "pos_key",
    "relative_lines",
]


# -- reading -------------------------------------------------------------------------------
def iter_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    """Stream the partition's records in blocks of about ``options.block_bytes``.

    ``Block.record`` and the first element of each reject are record ordinals within
    the partition (producers number them within the block; this adds the offset).
    """
    if part.fmt == "txt":
        blocks = _txt_blocks(part, options)
    elif part.fmt == "parquet":
        blocks = parquet_blocks(part, options)
    elif part.fmt == "csv":
        blocks = csv_blocks(part, options)
    else:
        blocks = line_blocks(part, options)
    offset = 0
    for block in blocks:
        if offset:
            block.record = block.record + offset
            block.rejects = [(e[0] + offset, *e[1:]) for e in block.rejects]
        offset += block.n_records
        yield block


def _txt_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    texts: list[str] = []
    record: list[int] = []
    files: list[str] = []
    rejects: list[tuple[int, int, str, str]] = []
    losses: list[str] = []
    size = 0
    n = 0

    def block() -> Block:
        return Block(
            file=part.paths[0],
            texts=pa.array(texts, pa.large_string()),
            record=np.array(record, dtype=np.int64),
            pos=np.ones(len(texts), dtype=np.int64),
            extra={k: pa.array(files, pa.large_string()) for k in options.keep_fields},
            rejects=list(rejects),
            n_records=n,
            record_files=list(files),
            losses=list(losses),
        )

    for path in part.paths:
        data, lost = read_whole(path)
        r = n  # record number within this block
        n += 1
        buf = np.frombuffer(data, dtype=np.uint8)
        bad = int(_kernels.utf8_invalid_at(buf, np.array([0]), np.array([len(buf)]))[0])
        if bad >= 0:
            line = 1 + data.count(b"\n", 0, bad)
            rejects.append((r, line, f"undecodable bytes (invalid UTF-8) at byte {bad}", path))
            continue
        texts.append(data.decode("utf-8"))
        record.append(r)
        files.append(path)
        if lost:
            losses.append(lost)
        size += len(data)
        if size >= options.block_bytes:
            yield block()
            texts, record, files, rejects, losses, size, n = [], [], [], [], [], 0, 0
    if n:
        yield block()
