"""One published file -> its documents in file order, in pieces, and what was rejected.

Every format ``svi-lda ingest`` reads is read by the ingest's own readers
(:mod:`svi_lda.corpus.sources`): text, TSV, CSV, JSON Lines, Parquet with a text column,
compressed or not. A Parquet file with ``token_ids`` and ``counts`` columns is a corpus
part (as ``svi-lda ingest`` writes them): its ids refer to the ``vocabulary.parquet``
beside it, whose hash the part's metadata names.

A document's position is its *record*: its 0-based ordinal among the file's records
(rejected ones included), which is what the stream's ledger counts. Bad records are
rejected one by one, with their line or row, and the good ones are kept; a file that
cannot be read at all, or stops being readable part-way (truncated), has the rest of it
rejected with the reason, after the documents read before the fault.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from svi_lda.batch import Batch
from svi_lda.corpus.format import META_VOCAB_SHA, VOCABULARY, CorpusError
from svi_lda.corpus.sources import (
    InputError,
    SourceOptions,
    detect,
    iter_blocks,
    plan_partitions,
    pos_key,
)
from svi_lda.corpus.units import CorpusUnit, read_unit
from svi_lda.streaming.source import FolderSource
from svi_lda.text.vocabulary import Vocabulary

DEFAULT_BLOCK_BYTES = 8 << 20
# What a broken file raises while it is read: a one-line reason is recorded for it.
READ_ERRORS = (
    InputError,
    CorpusError,
    OSError,
    EOFError,
    ValueError,
    pa.ArrowException,
    lzma.LZMAError,
    zlib.error,  # bz2 raises OSError or EOFError
)


@dataclass
class Piece:
    """Consecutive accepted documents of one file.

    Exactly one of ``texts`` (raw text) and ``bow`` (counts over the part vocabulary
    ``part_words``) is set.
    """

    file: str
    records: np.ndarray
    texts: pa.Array | None = None
    bow: Batch | None = None
    part_words: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.records)

    def slice(self, start: int, stop: int) -> Piece:
        """Documents ``start:stop`` of the piece (views, no copy of the counts)."""
        if self.texts is not None:
            return Piece(self.file, self.records[start:stop], texts=self.texts[start:stop])
        b = self.bow
        sliced = Batch(
            b.indptr[start : stop + 1], b.indices, b.counts, b.doc_ids[start:stop], b.n_features
        )
        return Piece(self.file, self.records[start:stop], bow=sliced, part_words=self.part_words)


@dataclass
class FileEnd:
    """End of one file: its record count, rejected records, and why it stopped early."""

    file: str
    n_records: int
    rejects: list[dict] = field(default_factory=list)
    error: str | None = None


def read_file(
    source: FolderSource, name: str, *, text_field: str = "text",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Iterator[Piece | FileEnd]:
    """The documents of file ``name`` in pieces, then one :class:`FileEnd`."""
    fmt, _ = detect(name)
    end = FileEnd(name, 0)
    if fmt is None:
        end.error = "unknown format: the name does not end in a format svi-lda ingest reads"
        yield end
        return
    with source.local_copy(name, VOCABULARY) as folder:
        path = folder / name
        try:
            if fmt == "parquet" and _is_corpus_part(path):
                items = _part_pieces(folder, name)
            else:
                items = _text_pieces(path, name, SourceOptions(text_field, (), block_bytes))
            for item in items:
                if isinstance(item, Piece):
                    yield item
                else:
                    end.n_records += item[0]
                    end.rejects.extend(item[1])
                    if item[2] and end.error is None:
                        # A truncated compressed file, as ingest treats it: the records
                        # before the break were kept, the rest of the file is set aside.
                        end.error = _named(item[2][0], folder)
        except READ_ERRORS as exc:
            # Our own errors already say what is wrong and where; others need their kind.
            said = str(exc) if isinstance(exc, (InputError, CorpusError)) else (
                f"{type(exc).__name__}: {exc}")
            end.error = _named(said, folder)
    yield end


def _named(message: str, folder: Path) -> str:
    """``message`` with the files it names relative to the source folder (the reader sees
    the folder, or a local copy of it), as every other stream message names them."""
    return message.replace(f"{folder}/", "").replace(str(folder), "").strip()


def _text_pieces(path: Path, name: str, options: SourceOptions):
    """Pieces of a text-format file, and ``(n_records, rejects, losses)`` after each
    block (``losses``: what a truncated compressed file lost)."""
    record_offset = 0
    line_offset = 0
    for part in plan_partitions([path], options):
        key = pos_key(part.fmt)
        part_records = part_lines = 0
        for block in iter_blocks(part, options):
            if len(block.texts):
                yield Piece(name, block.record + record_offset, texts=block.texts)
            rejects = []
            for entry in block.rejects:
                pos = int(entry[1])
                if key == "line" and part.fmt != "txt":
                    pos += line_offset + 1
                rejects.append({"file": name, key: pos, "reason": entry[2]})
            part_records += block.n_records
            part_lines += block.n_lines
            yield block.n_records, rejects, block.losses
        record_offset += part_records
        line_offset += part_lines


def _is_corpus_part(path: Path) -> bool:
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        return False  # reported by the text reader, which opens it again
    return "token_ids" in names and "counts" in names


_PART_VOCABULARIES: dict[str, pa.Array] = {}


def _part_vocabulary(folder: Path, name: str, sha: str) -> pa.Array:
    """Words of the vocabulary a corpus part was written with (cached by hash)."""
    if sha in _PART_VOCABULARIES:
        return _PART_VOCABULARIES[sha]
    vpath = folder / VOCABULARY
    if not vpath.is_file():
        raise CorpusError(f"corpus part {name} has no {VOCABULARY} beside it")
    vocab = Vocabulary.load(vpath)
    if vocab.sha256 != sha:
        raise CorpusError(
            f"corpus part {name} was written for vocabulary {sha[:12]}... but the "
            f"{VOCABULARY} beside it is {vocab.sha256[:12]}..."
        )
    _PART_VOCABULARIES.clear()
    _PART_VOCABULARIES[sha] = vocab.word_array
    return vocab.word_array


def _part_pieces(folder: Path, name: str):
    """One piece per row group of a corpus part (validated by the corpus reader)."""
    pf = pq.ParquetFile(folder / name)
    sha = (pf.schema_arrow.metadata or {}).get(META_VOCAB_SHA, b"").decode()
    words = _part_vocabulary(folder, name, sha)
    row = 0
    for group in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        batch = read_unit(folder, CorpusUnit(name, group, n), n_features=len(words))
        yield Piece(name, np.arange(row, row + n, dtype=np.int64), bow=batch, part_words=words)
        yield n, [], []
        row += n
