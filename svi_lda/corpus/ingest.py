"""Raw text to a corpus folder in two parallel passes.

Pass 1 (``count_partition``): each partition is tokenized and its words counted
(document and corpus frequency); the partial counts are summed in a tree. The merged
counts are pruned into the vocabulary, which is written to the output folder.

Pass 2 (``write_partition``): each partition is read again, tokenized, mapped through the
vocabulary and written as its own part file; rejected and empty records go to a
per-partition rejects file. Finally the rejects are concatenated in partition order and
the manifest is written, last and atomically.

Partitions depend only on the input files (see :mod:`svi_lda.corpus.sources`), counts are
exact integers and document ids are prefix sums over partitions in input order, so the
vocabulary and every output byte are the same for any number of workers. Both task
functions (in :mod:`svi_lda.corpus.ingest_passes`) are module-level and pure apart from
writing their own output files under final names via rename, so Dask may retry them; this
module plans the partitions, runs the passes in-process or on Dask and writes the manifest.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from svi_lda import storage
from svi_lda._atomic import atomic_path
from svi_lda.corpus.format import (
    DEFAULT_ROW_GROUP_SIZE,
    REJECTS,
    VOCABULARY,
    check_remote_out,
    final_dir,
    prepare_out_dir,
    publish_corpus,
)
from svi_lda.corpus.ingest_passes import (
    REJECTS_TMP,
    CountResult,
    IngestError,
    PartitionStats,
    WriteResult,
    count_partition,
    merge_count_results,
    write_partition,
)
from svi_lda.corpus.sources import (
    DEFAULT_BLOCK_BYTES,
    InputError,
    SourceOptions,
    discover,
    plan_partitions,
)
from svi_lda.corpus.writer import finish_corpus
from svi_lda.text.tokenizer import Tokenizer
from svi_lda.text.vocabulary import Vocabulary

__all__ = [
    "CountResult",
    "IngestError",
    "IngestReport",
    "PartitionStats",
    "WriteResult",
    "count_partition",
    "ingest",
    "merge_count_results",
    "write_partition",
]

logger = logging.getLogger(__name__)
ProgressFn = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    """Summary of an ingest run."""

    out_dir: Path | str
    n_files: int
    n_partitions: int
    n_read: int
    n_written: int
    n_empty: int
    n_rejected: int
    n_tokens: int
    n_features: int
    n_words_seen: int
    seconds: float
    seconds_count: float
    seconds_write: float
    rejects_path: Path | str | None = None
    first_reject: dict[str, Any] | None = field(default=None, repr=False)
    losses: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Human-readable multi-line summary."""
        rate = self.n_read / self.seconds if self.seconds > 0 else float("nan")
        lines = [
            f"corpus        {self.out_dir}",
            f"inputs        {self.n_files} files in {self.n_partitions} partitions",
            f"documents     read {self.n_read:,}  written {self.n_written:,}  "
            f"empty {self.n_empty:,}  rejected {self.n_rejected:,}",
            f"tokens        {self.n_tokens:,} written",
            f"vocabulary    {self.n_features:,} words kept of {self.n_words_seen:,} seen",
            f"time          {self.seconds:.2f} s (count {self.seconds_count:.2f} s, "
            f"write {self.seconds_write:.2f} s), {rate:,.0f} documents/s",
        ]
        if self.rejects_path is not None:
            lines.append(f"rejects       {self.rejects_path}")
        lines += [f"lost          {loss}" for loss in self.losses]
        return "\n".join(lines)


# -- orchestration -----------------------------------------------------------------------------
def _extra_fields(files: list[storage.Location], keep_fields: Sequence[str]) -> list[pa.Field]:
    """Types of kept columns: native for all-Parquet input, else strings."""
    import pyarrow.parquet as pq

    from svi_lda.corpus.files import parquet_input
    from svi_lda.corpus.sources import detect

    if files and all(detect(f)[0] == "parquet" for f in files):
        with parquet_input(files[0]) as source:
            schema = pq.read_schema(source)
        out = []
        for k in keep_fields:
            t = schema.field(k).type
            if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_large_string(t):
                t = pa.string()
            out.append(pa.field(k, t))
        return out
    return [pa.field(k, pa.string()) for k in keep_fields]


def _run(
    client: Any,
    fn: Callable,
    args_list: list[tuple],
    kwargs: dict,
    stage: str,
    progress: ProgressFn | None,
) -> list[Any]:
    """Run ``fn(*args, **kwargs)`` for each args, in-process or on Dask; results in order."""
    total = len(args_list)
    if client is None:
        out = []
        for i, args in enumerate(args_list):
            out.append(fn(*args, **kwargs))
            if progress:
                progress(stage, i + 1, total)
        return out
    from distributed import as_completed

    futures = [client.submit(fn, *args, **kwargs, pure=False) for args in args_list]
    done = 0
    for _ in as_completed(futures):
        done += 1
        if progress:
            progress(stage, done, total)
    return client.gather(futures)


def _count_all(client, parts, options, tokenizer, strict, progress) -> CountResult:
    if client is None:
        acc: list[CountResult] = []
        for i, part in enumerate(parts):
            acc.append(count_partition(part, options, tokenizer, strict))
            if len(acc) >= 8:
                acc = [merge_count_results(*acc)]
            if progress:
                progress("count", i + 1, len(parts))
        return merge_count_results(*acc)
    from distributed import as_completed

    futures = [
        client.submit(count_partition, p, options, tokenizer, strict, pure=False) for p in parts
    ]
    done = 0
    for _ in as_completed(futures):
        done += 1
        if progress:
            progress("count", done, len(parts))
    # Tree of merges on the workers, in a fixed grouping (sums are exact either way).
    level = futures
    while len(level) > 1:
        level = [
            client.submit(merge_count_results, *level[i : i + 8], pure=False)
            for i in range(0, len(level), 8)
        ]
    return level[0].result()


def ingest(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    text_field: str = "text",
    keep_fields: Sequence[str] = (),
    tokenizer: Tokenizer | None = None,
    min_df: float = 1,
    max_df: float = 1.0,
    max_features: int | None = None,
    keep_words: Sequence[str] = (),
    drop_words: Sequence[str] = (),
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    client: Any = None,
    strict: bool = False,
    keep_empty: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Turn text files into a corpus folder (vocabulary, Parquet parts, manifest).

    Parameters
    ----------
    inputs : path, URL, glob or list of them
        Files, folders (searched recursively) or glob patterns; see
        :mod:`svi_lda.corpus.sources` for the formats. Each may be an fsspec URL (a file,
        a folder/prefix or a glob: ``s3://bucket/raw/``; ``s3://`` needs the ``s3``
        extra), read in place by this process or, with a ``client``, by the workers
        (which then need the store's credentials); rejects name such files by URL.
    out_dir : path or str
        Output folder (created; must not hold a corpus unless ``overwrite``). An fsspec
        URL (``s3://bucket/corpus``) is written in a local temporary folder (``TMPDIR``;
        with a Dask ``client`` its workers must see it, as they see the inputs), then
        uploaded, the manifest last (:func:`svi_lda.corpus.format.publish_corpus`).
    text_field : str
        Column/field holding the text (TSV, CSV, JSON Lines, Parquet).
    keep_fields : sequence of str
        Columns copied to the part files (e.g. a user id or a label). For ``.txt`` input
        any name given here receives the file path.
    tokenizer : Tokenizer, optional
        Default ``Tokenizer()``.
    min_df, max_df, max_features, keep_words, drop_words
        Vocabulary pruning; see :func:`svi_lda.text.counts.select_words`.
    row_group_size : int
        Documents per row group (the training unit of work).
    block_bytes : int
        Input partition/block size in bytes: bounds memory per worker.
    client : distributed.Client, optional
        Run both passes on this Dask cluster; None runs in this process.
    strict : bool
        Fail on the first rejected record instead of counting and logging it.
    keep_empty : bool
        Write documents with no words left as empty rows (default: skip them; they are
        listed in the rejects file either way).
    overwrite : bool
        Replace a corpus already in ``out_dir``.
    progress : callable(stage, done, total), optional
        Called as partitions finish (stages "count" and "write").

    Returns
    -------
    IngestReport

    Raises
    ------
    InputError
        An input file is missing, of unknown format or lacks the text column.
    IngestError
        Nothing usable remains, or ``strict`` and a record was rejected (names file and
        line/row).
    """
    if storage.is_remote(out_dir):
        # Written in a local staging folder, then uploaded, the manifest last.
        folder = str(storage.location(out_dir))
        check_remote_out(folder, overwrite)
        with tempfile.TemporaryDirectory(prefix="svi-lda-ingest-") as staging:
            report = ingest(
                inputs, staging, text_field=text_field, keep_fields=keep_fields,
                tokenizer=tokenizer, min_df=min_df, max_df=max_df, max_features=max_features,
                keep_words=keep_words, drop_words=drop_words, row_group_size=row_group_size,
                block_bytes=block_bytes, client=client, strict=strict, keep_empty=keep_empty,
                progress=progress,
            )
            publish_corpus(Path(staging), folder)
        rejects = storage.join(folder, REJECTS) if report.rejects_path else None
        return replace(report, out_dir=folder, rejects_path=rejects)
    t0 = time.perf_counter()
    tokenizer = tokenizer if tokenizer is not None else Tokenizer()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if row_group_size < 1:
        raise ValueError(f"row_group_size must be >= 1; got {row_group_size}")
    options = SourceOptions(text_field, tuple(keep_fields), int(block_bytes))
    files = discover(list(inputs))
    if not files:
        raise InputError(f"no input files found in {list(inputs)}")
    parts = plan_partitions(files, options)
    out = prepare_out_dir(out_dir, overwrite=overwrite)
    try:
        return _ingest_into(
            out, files, parts, options, tokenizer, client, strict, progress, t0,
            text_field=text_field, keep_fields=keep_fields, min_df=min_df, max_df=max_df,
            max_features=max_features, keep_words=keep_words, drop_words=drop_words,
            row_group_size=row_group_size, block_bytes=block_bytes, keep_empty=keep_empty,
        )
    except BaseException:
        if out != final_dir(out):  # a failed re-ingest: drop it, the old corpus stays
            shutil.rmtree(out, ignore_errors=True)
        raise


def _ingest_into(
    out: Path, files, parts, options, tokenizer, client, strict, progress, t0, *,
    text_field, keep_fields, min_df, max_df, max_features, keep_words, drop_words,
    row_group_size, block_bytes, keep_empty,
) -> IngestReport:
    """The two passes and the manifest, into ``out`` (the target or a staging folder)."""
    logger.info("ingest: %d files, %d partitions -> %s", len(files), len(parts), out)

    counted = _count_all(client, parts, options, tokenizer, strict, progress)
    stats = sorted(counted.stats, key=lambda s: s.index)
    losses = [loss for s in stats for loss in s.losses]
    for loss in losses:
        logger.warning("%s", loss)
    if losses and strict:
        raise IngestError(f"{losses[0]} (strict mode)")
    vocab = Vocabulary.from_counts(
        counted.counts,
        tokenizer,
        min_df=min_df,
        max_df=max_df,
        max_features=max_features,
        keep=keep_words,
        drop=drop_words,
    )
    n_seen = len(counted.counts.words)
    del counted
    vocab.save(out / VOCABULARY)
    t1 = time.perf_counter()
    logger.info("ingest: vocabulary %d of %d words (%.2f s)", len(vocab), n_seen, t1 - t0)

    # Global document ids and line offsets: prefix sums in partition (= input) order.
    first_records = np.concatenate([[0], np.cumsum([s.n_records for s in stats])])
    line_offsets: list[int] = []
    prev_file, lines = None, 0
    for part, s in zip(parts, stats, strict=True):
        if part.paths[0] != prev_file:
            prev_file, lines = part.paths[0], 0
        line_offsets.append(lines)
        lines += s.n_lines
    extra = _extra_fields(files, keep_fields)
    (out / REJECTS_TMP).mkdir(exist_ok=True)
    args = [
        (part, options, str(out), vocab.sha256, extra, int(first_records[i]), line_offsets[i])
        for i, part in enumerate(parts)
    ]
    results = _run(
        client,
        write_partition,
        args,
        {"row_group_size": row_group_size, "keep_empty": keep_empty},
        "write",
        progress,
    )
    t2 = time.perf_counter()

    n_read = int(first_records[-1])
    n_rejected = sum(r.n_rejected for r in results)
    n_empty = sum(r.n_empty for r in results)
    n_written = sum(r.n_docs for r in results)
    first_reject = next((r.first_reject for r in results if r.first_reject), None)
    rejects_path = _concat_rejects(out, results)
    if n_written == 0:
        where = ""
        if first_reject:
            pos = {k: v for k, v in first_reject.items() if k in ("line", "row")}
            where = f"; first: {first_reject['file']}, {pos}: {first_reject['reason']}"
        raise IngestError(
            f"no usable documents in {[str(f) for f in files[:3]]}: {n_read} read, "
            f"{n_rejected} rejected, {n_empty} empty{where}"
            + (f" (see {rejects_path})" if rejects_path else "")
        )
    files_meta = [r.file for r in results if r.file is not None]
    n_tokens = sum(r.n_tokens for r in results)
    finish_corpus(
        out,
        vocab,
        files_meta,
        n_tokens=n_tokens,
        source={
            "inputs": [str(f) for f in files],
            "text_field": text_field,
            "keep_fields": list(keep_fields),
            "n_partitions": len(parts),
            "block_bytes": int(block_bytes),
        },
        counts={
            "read": n_read,
            "written": n_written,
            "empty": n_empty,
            "rejected": n_rejected,
            **({"truncated_inputs": len(losses)} if losses else {}),
        },
        extra={
            "row_group_size": row_group_size,
            "pruning": {
                "min_df": min_df,
                "max_df": max_df,
                "max_features": max_features,
                "keep": list(keep_words),
                "drop": list(drop_words),
                "n_words_seen": n_seen,
            },
        },
    )
    t3 = time.perf_counter()
    final = final_dir(out)
    return IngestReport(
        out_dir=final,
        n_files=len(files),
        n_partitions=len(parts),
        n_read=n_read,
        n_written=n_written,
        n_empty=n_empty,
        n_rejected=n_rejected,
        n_tokens=n_tokens,
        n_features=len(vocab),
        n_words_seen=n_seen,
        seconds=t3 - t0,
        seconds_count=t1 - t0,
        seconds_write=t2 - t1,
        rejects_path=final / REJECTS if rejects_path else None,
        first_reject=first_reject,
        losses=losses,
    )


def _concat_rejects(out: Path, results: list[WriteResult]) -> Path | None:
    """Concatenate per-partition rejects in partition order into ``rejects.jsonl``."""
    paths = [Path(r.rejects) for r in sorted(results, key=lambda r: r.index) if r.rejects]
    target = out / REJECTS
    if paths:
        with atomic_path(target) as tmp, open(tmp, "wb") as dst:
            for p in paths:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, dst)
    shutil.rmtree(out / REJECTS_TMP, ignore_errors=True)
    return target if paths else None
