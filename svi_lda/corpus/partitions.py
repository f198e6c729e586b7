"""Partitions (units of input work fixed by the input alone) and the blocks they yield.

Planning cuts the inputs into partitions and checks each file's header or schema up
front, so a file that cannot be used at all fails before any work starts.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from svi_lda import storage
from svi_lda.corpus.files import (
    DEFAULT_BLOCK_BYTES,
    STREAM_ERRORS,
    InputError,
    detect,
    first_line,
    one_line,
    open_stream,
    parquet_input,
)


@dataclass(frozen=True)
class SourceOptions:
    """How to read records: the text field, fields to keep, block size."""

    text_field: str = "text"
    keep_fields: tuple[str, ...] = ()
    block_bytes: int = DEFAULT_BLOCK_BYTES


@dataclass(frozen=True)
class Partition:
    """A unit of input work (see the module docstring)."""

    index: int
    fmt: str
    paths: tuple[str, ...]
    compression: str | None = None
    start: int = 0
    stop: int | None = None
    header: tuple[str, ...] = ()

    @property
    def at_file_start(self) -> bool:
        """Whether the partition begins at the first byte of its file."""
        return self.start == 0


@dataclass
class Block:
    """Accepted records of a stretch of a partition, plus what was rejected there.

    ``pos`` is the record's line (relative to the partition's first line, 0-based) for
    line formats, and its absolute row (see the module docstring) otherwise.
    """

    file: str
    texts: pa.Array
    record: np.ndarray
    pos: np.ndarray
    extra: dict[str, pa.Array] = field(default_factory=dict)
    rejects: list[tuple] = field(default_factory=list)  # (record, pos, reason[, file])
    n_records: int = 0
    n_lines: int = 0  # physical lines consumed (line formats), header included
    record_files: list[str] | None = None  # per accepted record, when files differ (.txt)
    losses: list[str] = field(default_factory=list)  # truncated inputs: what was lost

    def reject_file(self, entry: tuple) -> str:
        """File a reject entry refers to."""
        return entry[3] if len(entry) > 3 else self.file

    def record_file(self, i: int) -> str:
        """File of accepted record ``i`` of this block."""
        return self.record_files[i] if self.record_files is not None else self.file


def pos_key(fmt: str) -> str:
    """Name of the position field in rejects for a format: "line" or "row"."""
    return "row" if fmt in ("csv", "parquet") else "line"


def relative_lines(fmt: str, compression: str | None, start: int) -> bool:
    """Whether positions of this partition are relative (need a line offset from pass 1)."""
    return fmt in ("tsv", "jsonl") and compression is None and start > 0


def lost_block(file: str, message: str, keep_fields: tuple[str, ...]) -> Block:
    """An empty block that only reports data lost to a truncated input."""
    empty = pa.array([], pa.large_string())
    return Block(file, empty, np.zeros(0, np.int64), np.zeros(0, np.int64),
                 {k: empty for k in keep_fields}, losses=[message])


# -- planning ------------------------------------------------------------------------------
def plan_partitions(files: list[storage.Location], options: SourceOptions) -> list[Partition]:
    """Cut the inputs (local paths or URLs) into partitions; depends only on the files and
    ``block_bytes``."""
    parts: list[Partition] = []
    txt: list[str] = []
    txt_bytes = 0

    def flush_txt() -> None:
        nonlocal txt, txt_bytes
        if txt:
            parts.append(Partition(len(parts), "txt", tuple(txt)))
            txt, txt_bytes = [], 0

    for path in files:
        fmt, comp = detect(path)
        if fmt == "txt":
            txt.append(str(path))
            txt_bytes += storage.file_size(path)
            if txt_bytes >= options.block_bytes or len(txt) >= 50_000:
                flush_txt()
            continue
        flush_txt()
        if fmt == "parquet":
            _check_parquet_columns(path, options)
            parts.append(Partition(len(parts), fmt, (str(path),)))
            continue
        header = _read_header(path, fmt, comp, options)
        if fmt in ("tsv", "jsonl") and comp is None:
            for a, b in _line_ranges(path, options.block_bytes):
                parts.append(Partition(len(parts), fmt, (str(path),), None, a, b, header))
        else:
            parts.append(Partition(len(parts), fmt, (str(path),), comp, 0, None, header))
    flush_txt()
    return parts


def _line_ranges(path: storage.Location, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``size`` bytes, each starting at a line start."""
    total = storage.file_size(path)
    cuts = [0]
    with storage.open_read(path) as f:
        target = size
        while target < total:
            f.seek(target - 1)
            f.readline()  # to the end of the line that byte target-1 is on
            pos = f.tell()
            if pos >= total:
                break
            if pos > cuts[-1]:
                cuts.append(pos)
            target = max(pos, target) + size
    cuts.append(total)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _read_header(
    path: storage.Location, fmt: str, comp: str | None, options: SourceOptions
) -> tuple:
    if fmt == "jsonl":
        return ()
    try:
        return _read_header_of(path, fmt, comp, options)
    except STREAM_ERRORS as exc:
        raise InputError(f"{path}: cannot read the header line ({one_line(exc)})") from None


def _read_header_of(
    path: storage.Location, fmt: str, comp: str | None, options: SourceOptions
) -> tuple:
    with open_stream(path, comp) as f:
        if fmt == "tsv":
            raw = first_line(f)
            try:
                cols = tuple(raw.rstrip(b"\r\n").decode("utf-8").split("\t"))
            except UnicodeDecodeError:
                raise InputError(f"{path}, line 1: the header is not valid UTF-8") from None
        else:
            try:
                cols = tuple(next(csv.reader([first_line(f).decode("utf-8").rstrip("\r")])))
            except (UnicodeDecodeError, StopIteration):
                raise InputError(f"{path}, row 1: no readable header") from None
    if not cols or cols == ("",):
        raise InputError(f"{path}: empty file or no header line")
    missing = [c for c in (options.text_field, *options.keep_fields) if c not in cols]
    if missing:
        raise InputError(
            f"{path}: no column {missing[0]!r} in the header (line 1); columns are "
            f"{list(cols)[:20]}. Pass the right --text-field/--keep"
        )
    return cols


def _check_parquet_columns(path: storage.Location, options: SourceOptions) -> None:
    try:
        with parquet_input(path) as source:
            schema = pq.read_schema(source)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            f"{path}: not a readable Parquet file ({one_line(exc)}); it may be truncated"
        ) from None
    for c in (options.text_field, *options.keep_fields):
        if c not in schema.names:
            raise InputError(
                f"{path}: no column {c!r}; columns are {schema.names[:20]}. "
                "Pass the right --text-field/--keep"
            )
    t = schema.field(options.text_field).type
    if not (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_string_view(t)
    ):
        raise InputError(f"{path}: column {options.text_field!r} must hold text; found {t}")
