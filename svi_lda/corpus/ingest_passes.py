"""The two worker tasks of ingest, one partition each (see :mod:`svi_lda.corpus.ingest`).

Pass 1 (``count_partition``) counts records, lines and words; ``merge_count_results``
sums such results exactly. Pass 2 (``write_partition``) tokenizes again, maps through the
vocabulary and writes the partition's part file and its rejects. Both are module-level
and pure apart from writing their own output files under final names via rename, so
Dask may retry them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from svi_lda._atomic import atomic_path
from svi_lda.corpus.format import (
    DEFAULT_ROW_GROUP_SIZE,
    VOCABULARY,
    PartWriter,
    csr_to_table,
    part_name,
    part_schema,
)
from svi_lda.corpus.sources import (
    Block,
    Partition,
    SourceOptions,
    count_lines,
    iter_blocks,
    pos_key,
    relative_lines,
)
from svi_lda.text.counts import WordCounts
from svi_lda.text.tokenizer import Tokenizer
from svi_lda.text.vocabulary import Vocabulary

REJECTS_TMP = "_rejects"  # per-partition rejects files, concatenated at the end


class IngestError(ValueError):
    """Ingest cannot produce a usable corpus (or ``strict`` met a bad record)."""


# -- pass 1 ----------------------------------------------------------------------------------
@dataclass
class PartitionStats:
    """What pass 1 learns about a partition besides its words."""

    index: int
    n_records: int
    n_lines: int
    n_rejected: int
    losses: list[str] = field(default_factory=list)


@dataclass
class CountResult:
    """Merged pass-1 output of one or more partitions."""

    stats: list[PartitionStats]
    counts: WordCounts


def _absolute_line_slow(part: Partition, rel: int) -> int:
    """Line number of a relative position by counting the file's earlier lines (errors only)."""
    if not relative_lines(part.fmt, part.compression, part.start):
        return rel + 1
    before = count_lines(Partition(0, part.fmt, part.paths, None, 0, part.start))
    return before + rel + 1


def _reject_record(part: Partition, block: Block, entry: tuple, line_offset: int) -> dict:
    pos = entry[1]
    if pos_key(part.fmt) == "line" and part.fmt != "txt":
        pos = pos + line_offset + 1
    return {"file": block.reject_file(entry), pos_key(part.fmt): int(pos), "reason": entry[2]}


def count_partition(
    part: Partition, options: SourceOptions, tokenizer: Tokenizer, strict: bool = False
) -> CountResult:
    """Pass 1 on one partition: record/line counts and word counts (worker task)."""
    counts: list[WordCounts] = []
    losses: list[str] = []
    n_records = n_rejected = n_lines = 0
    for block in iter_blocks(part, options):
        n_lines += block.n_lines
        losses.extend(block.losses)
        if block.rejects and strict:
            e = block.rejects[0]
            rel = e[1]
            where = (
                f"line {_absolute_line_slow(part, rel)}"
                if pos_key(part.fmt) == "line" and part.fmt != "txt"
                else f"{pos_key(part.fmt)} {rel}"
            )
            raise IngestError(f"{block.reject_file(e)}, {where}: {e[2]} (strict mode)")
        n_records += block.n_records
        n_rejected += len(block.rejects)
        tokens = tokenizer.tokenize_arrow(block.texts, drop_stop_words=False)
        counts.append(WordCounts.from_tokens(tokens, tokenizer.stop_word_set))
        if len(counts) >= 8:
            counts = [WordCounts.merge(counts)]
    merged = WordCounts.merge(counts) if counts else WordCounts.empty()
    stats = PartitionStats(part.index, n_records, n_lines, n_rejected, losses)
    return CountResult([stats], merged)


def merge_count_results(*results: CountResult) -> CountResult:
    """Sum pass-1 results (worker task; associative and exact)."""
    return CountResult(
        [s for r in results for s in r.stats], WordCounts.merge([r.counts for r in results])
    )


# -- pass 2 ----------------------------------------------------------------------------------
@dataclass
class WriteResult:
    """Pass-2 output of one partition."""

    index: int
    file: dict[str, Any] | None
    n_docs: int
    n_tokens: int
    n_empty: int
    n_rejected: int
    rejects: str | None
    first_reject: dict[str, Any] | None


_VOCAB_CACHE: dict[tuple[str, str], Vocabulary] = {}


def _vocabulary(out_dir: str, sha: str) -> Vocabulary:
    """The output vocabulary, loaded once per worker process."""
    key = (out_dir, sha)
    if key not in _VOCAB_CACHE:
        vocab = Vocabulary.load(Path(out_dir) / VOCABULARY)
        if vocab.sha256 != sha:
            raise IngestError(f"{out_dir}/{VOCABULARY} changed while ingest was running")
        _VOCAB_CACHE.clear()
        _VOCAB_CACHE[key] = vocab
    return _VOCAB_CACHE[key]


def write_partition(
    part: Partition,
    options: SourceOptions,
    out_dir: str,
    vocabulary_sha256: str,
    extra_fields: list[pa.Field],
    first_record: int,
    line_offset: int,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    keep_empty: bool = False,
) -> WriteResult:
    """Pass 2 on one partition: write ``part-<index>.parquet`` and its rejects (worker task)."""
    vocab = _vocabulary(out_dir, vocabulary_sha256)
    tokenizer = vocab.tokenizer
    schema = part_schema(len(vocab), vocab.sha256, extra_fields)
    out = Path(out_dir)
    writer = PartWriter(out / part_name(part.index), schema, row_group_size)
    rej_dir = out / REJECTS_TMP
    rej_path = rej_dir / f"rejects-{part.index:05d}.jsonl"
    n_tokens = n_empty = n_rejected = 0
    first_reject = None
    try:
        with atomic_path(rej_path) as rej_tmp, open(rej_tmp, "w", encoding="utf-8") as rej:
            for block in iter_blocks(part, options):
                entries = []
                for e in block.rejects:
                    entries.append((int(e[0]), _reject_record(part, block, e, line_offset)))
                n_rejected += len(block.rejects)
                tokens = tokenizer.tokenize_arrow(block.texts, drop_stop_words=False)
                indptr, indices, counts = vocab.encode_tokens(tokens)
                lengths = np.diff(indptr)
                empty = lengths == 0
                for i in np.flatnonzero(empty):
                    e = (
                        int(block.record[i]),
                        int(block.pos[i]),
                        "empty document: no words left after tokenizing and vocabulary pruning",
                        block.record_file(int(i)),
                    )
                    entries.append((e[0], _reject_record(part, block, e, line_offset)))
                n_empty += int(empty.sum())
                for rec, entry in sorted(entries, key=lambda t: t[0]):
                    entry["doc_id"] = first_record + rec
                    if first_reject is None:
                        first_reject = entry
                    rej.write(json.dumps(entry, ensure_ascii=False) + "\n")
                rows = np.arange(len(lengths)) if keep_empty else np.flatnonzero(~empty)
                if len(rows) == 0:
                    continue
                # Empty rows hold no tokens, so dropping them leaves indices/counts as they are.
                sel_indptr = np.concatenate([[0], indptr[rows + 1]])
                extra = {f.name: block.extra[f.name].take(pa.array(rows)) for f in extra_fields}
                writer.write(
                    csr_to_table(
                        sel_indptr,
                        indices,
                        counts,
                        first_record + block.record[rows],
                        schema,
                        extra,
                    )
                )
                n_tokens += int(counts.sum(dtype=np.int64))
            rej.flush()
        groups = writer.close()
    except BaseException:
        writer.abort()
        raise
    entry = writer.entry() if groups else None
    if n_rejected + n_empty == 0:
        rej_path.unlink(missing_ok=True)
    return WriteResult(
        part.index,
        entry,
        int(sum(groups)),
        n_tokens,
        n_empty,
        n_rejected,
        str(rej_path) if n_rejected + n_empty else None,
        first_reject,
    )
