"""The on-disk corpus format (version 1): schema, part-file writer, manifest.

A corpus is a folder::

    part-00000.parquet ...   doc_id int64, token_ids list<int32> (sorted, unique),
                             counts list<int32> (> 0), optional kept user columns;
                             row groups of ``row_group_size`` documents, zstd
    vocabulary.parquet       id int32, word string, df int64, cf int64 (+ tokenizer JSON)
    manifest.json            written last, atomically: counts, files, row groups, hashes
    rejects.jsonl            optional: one JSON object per record that was not written

Each part file also carries ``n_features`` and the vocabulary hash in its schema
metadata, so a worker can check a row group without reading the manifest.

Checksums (added within version 1; corpora without them are still read): the manifest
records each part file's size, the SHA-256 of its footer and of every row group's bytes,
the SHA-256 of the vocabulary file, and ``content_sha256`` over its own canonical JSON.
The reader checks the footers and the vocabulary on open and each row group as it reads
it, so a flipped byte anywhere gives a :class:`CorpusError` naming the file instead of a
decoder error or, worse, silently different counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from svi_lda._atomic import (
    atomic_write_bytes,
    fsync_dir,
    remove_stale_temporaries,
    temporary_name,
)
from svi_lda.persistence.manifest import content_checksum

FORMAT = "svi-lda-corpus"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.parquet"
REJECTS = "rejects.jsonl"
DEFAULT_ROW_GROUP_SIZE = 1024
META_N_FEATURES = b"svi_lda.n_features"
META_VOCAB_SHA = b"svi_lda.vocabulary_sha256"
STAGING_PREFIX = ".replacing-"
BASE_FIELDS = (
    pa.field("doc_id", pa.int64(), nullable=False),
    pa.field("token_ids", pa.list_(pa.field("item", pa.int32(), nullable=False))),
    pa.field("counts", pa.list_(pa.field("item", pa.int32(), nullable=False))),
)


class CorpusError(ValueError):
    """A corpus folder or one of its files is missing, malformed or inconsistent."""


def row_group_ranges(meta: pq.FileMetaData) -> list[tuple[int, int]]:
    """Byte range ``[start, stop)`` of each row group's column chunks in a part file."""
    ranges = []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        starts, stops = [], []
        for j in range(rg.num_columns):
            col = rg.column(j)
            start = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset:
                start = min(start, col.dictionary_page_offset)
            starts.append(start)
            stops.append(start + col.total_compressed_size)
        ranges.append((min(starts), max(stops)) if starts else (4, 4))
    return ranges


def sha256_range(fh, start: int, stop: int) -> str:
    """SHA-256 of bytes ``[start, stop)`` of an open binary file."""
    digest = hashlib.sha256()
    fh.seek(start)
    left = stop - start
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest() if left == 0 else "truncated"


def part_checksums(path: str | os.PathLike) -> dict[str, Any]:
    """Size, footer SHA-256 and per-row-group SHA-256 of a part file (manifest fields)."""
    meta = pq.read_metadata(path)
    ranges = row_group_ranges(meta)
    size = os.path.getsize(path)
    footer_start = max([4, *(stop for _, stop in ranges)])
    with open(path, "rb") as fh:
        return {
            "size": size,
            "footer_sha256": sha256_range(fh, footer_start, size),
            "row_group_sha256": [sha256_range(fh, a, b) for a, b in ranges],
        }


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a whole file."""
    with open(path, "rb") as fh:
        return sha256_range(fh, 0, os.path.getsize(path))


def part_name(index: int) -> str:
    """File name of part ``index``: ``part-00000.parquet``."""
    return f"part-{index:05d}.parquet"


def part_schema(
    n_features: int, vocabulary_sha256: str, extra: list[pa.Field] | tuple = ()
) -> pa.Schema:
    """Schema of a part file, with the metadata that ties it to its vocabulary."""
    return pa.schema(
        list(BASE_FIELDS) + list(extra),
        metadata={
            META_N_FEATURES: str(int(n_features)).encode(),
            META_VOCAB_SHA: vocabulary_sha256.encode(),
        },
    )


def csr_to_table(
    indptr: np.ndarray,
    indices: np.ndarray,
    counts: np.ndarray,
    doc_ids: np.ndarray,
    schema: pa.Schema,
    extra: dict[str, pa.Array] | None = None,
) -> pa.Table:
    """Rows of a part file from CSR arrays (``indptr`` starting at 0, int32 ids/counts)."""
    offsets = pa.array(np.asarray(indptr, dtype=np.int32))
    token_ids = pa.ListArray.from_arrays(
        offsets, pa.array(np.asarray(indices, dtype=np.int32)), type=schema.field("token_ids").type
    )
    cnt = pa.ListArray.from_arrays(
        offsets, pa.array(np.asarray(counts, dtype=np.int32)), type=schema.field("counts").type
    )
    cols = [pa.array(np.asarray(doc_ids, dtype=np.int64)), token_ids, cnt]
    for f in list(schema)[3:]:
        cols.append((extra or {})[f.name].cast(f.type))
    return pa.Table.from_arrays(cols, schema=schema)


class PartWriter:
    """Write one part file in row groups of exactly ``row_group_size`` rows (last smaller).

    Rows are buffered across :meth:`write` calls so that row-group boundaries do not
    depend on how the caller chunked its input. The file appears under its final name only
    on :meth:`close` (temporary name + rename), so a crashed or repeated task never
    leaves a half-written part behind.
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema, row_group_size: int) -> None:
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1; got {row_group_size}")
        self.path = Path(path)
        self.schema = schema
        self.row_group_size = row_group_size
        self.row_groups: list[int] = []
        self.checksums: dict[str, Any] = {}
        self.n_tokens = 0
        self._tmp = self.path.with_name(temporary_name(self.path.name))
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._n_pending = 0

    @property
    def n_docs(self) -> int:
        """Rows written so far (including buffered ones)."""
        return sum(self.row_groups) + self._n_pending

    def write(self, table: pa.Table) -> None:
        """Append rows (a table with this writer's schema)."""
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._n_pending += table.num_rows
        if self._n_pending >= self.row_group_size:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        n_full = (table.num_rows // self.row_group_size) * self.row_group_size
        stop = table.num_rows if final else n_full
        if self._writer is None and stop > 0:
            self._writer = pq.ParquetWriter(
                self._tmp,
                self.schema,
                compression="zstd",
                use_dictionary=False,
                write_statistics=["doc_id"],
            )
        for start in range(0, stop, self.row_group_size):
            piece = table.slice(start, min(self.row_group_size, stop - start))
            self._writer.write_table(piece.combine_chunks(), row_group_size=self.row_group_size)
            self.row_groups.append(piece.num_rows)
        rest = table.slice(stop)
        self._pending = [rest] if rest.num_rows else []
        self._n_pending = rest.num_rows

    def close(self) -> list[int]:
        """Write what is left, move the file into place; returns the row-group sizes."""
        self._flush(final=True)
        if self._writer is None:
            return []
        self._writer.close()
        with open(self._tmp, "rb+") as f:
            os.fsync(f.fileno())
        self.checksums = part_checksums(self._tmp)
        os.replace(self._tmp, self.path)
        return self.row_groups

    def entry(self) -> dict[str, Any]:
        """The manifest entry of the closed part file (name, counts, checksums)."""
        return {
            "path": self.path.name,
            "n_docs": int(sum(self.row_groups)),
            "row_groups": list(self.row_groups),
            **self.checksums,
        }

    def abort(self) -> None:
        """Drop the temporary file (after an error)."""
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


def write_manifest(out_dir: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically: the corpus exists from this moment on."""
    out_dir = Path(out_dir)
    fsync_dir(out_dir)  # part files and vocabulary are durable before the manifest names them
    body = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
    vocabulary = out_dir / VOCABULARY
    if vocabulary.is_file():
        body["vocabulary_file_sha256"] = file_sha256(vocabulary)
    body["content_sha256"] = content_checksum(body)
    atomic_write_bytes(out_dir / MANIFEST, (json.dumps(body, indent=1) + "\n").encode())
    if out_dir.name.startswith(STAGING_PREFIX):
        _replace_corpus(out_dir, out_dir.parent)


def _is_corpus_file(name: str) -> bool:
    return name.startswith("part-") or name in (MANIFEST, VOCABULARY, REJECTS)


def prepare_out_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """The folder to write a new corpus into; refuses to mix with an existing corpus.

    Returns ``out_dir`` itself when it holds no corpus. With ``overwrite`` and a corpus
    already there, returns a hidden staging folder inside ``out_dir``: the old corpus stays
    whole and readable until :func:`write_manifest` of the new one succeeds, which then
    moves the new files into place (so a failed re-ingest leaves the old corpus).
    Staging folders and temporary files of earlier crashed writers are removed.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CorpusError(f"output path {out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    for stale in out_dir.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    old = [p for p in out_dir.iterdir() if p.name == MANIFEST or p.name.startswith("part-")]
    if old and not overwrite:
        raise CorpusError(
            f"output folder {out_dir} already holds a corpus ({old[0].name}); "
            "choose an empty folder or pass overwrite=True (--overwrite)"
        )
    if not old:
        for p in out_dir.iterdir():
            if p.name in (VOCABULARY, REJECTS):
                p.unlink()
        return out_dir
    staging = out_dir / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
    staging.mkdir()
    return staging


def final_dir(out_dir: str | os.PathLike) -> Path:
    """Where a corpus written into ``out_dir`` (maybe a staging folder) ends up."""
    out_dir = Path(out_dir)
    return out_dir.parent if out_dir.name.startswith(STAGING_PREFIX) else out_dir


def _replace_corpus(staging: Path, target: Path) -> None:
    """Swap the complete new corpus in ``staging`` for the old one in ``target``.

    The old manifest goes first (the folder is never a valid corpus of mixed files), the
    new manifest comes last; only renames happen in between.
    """
    (target / MANIFEST).unlink(missing_ok=True)
    fsync_dir(target)
    for p in list(target.iterdir()):
        if p.is_file() and _is_corpus_file(p.name):
            p.unlink()
    for p in sorted(staging.iterdir(), key=lambda q: q.name == MANIFEST):
        if p.is_file():
            os.replace(p, target / p.name)
    fsync_dir(target)
    with contextlib.suppress(OSError):
        shutil.rmtree(staging)


def check_remote_out(folder: str, overwrite: bool) -> None:
    """Refuse to write a corpus into the remote ``folder`` if one is there (unless
    ``overwrite``), as :func:`prepare_out_dir` does for a local folder."""
    from svi_lda import storage

    storage.check_output(folder, folder=True)  # a missing bucket fails before any work
    old = [n for n in storage.list_names(folder) if n == MANIFEST or n.startswith("part-")]
    if old and not overwrite:
        raise CorpusError(
            f"output folder {folder} already holds a corpus ({old[0]}); "
            "choose an empty folder or pass overwrite=True (--overwrite)"
        )


def publish_corpus(local_dir: Path, folder: str) -> None:
    """Upload the finished corpus in ``local_dir`` to the remote ``folder``.

    An object store has no rename, so the order carries the guarantee: the old manifest
    is deleted first (the folder is never a valid corpus of mixed files), then the parts,
    the vocabulary and the rejects are uploaded, the new manifest last; corpus files of
    the old corpus that the new one lacks are deleted after that.
    """
    from svi_lda import storage

    storage.remove(storage.join(folder, MANIFEST))
    others = {n for n in storage.list_names(folder) if not _is_corpus_file(n)}
    storage.publish_folder(local_dir, folder, last=MANIFEST, keep=others)
