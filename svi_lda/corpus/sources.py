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
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import glob
import gzip
import json
import lzma
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from svi_lda.text import _kernels

FORMATS = {
    ".txt": "txt",
    ".text": "txt",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}
DEFAULT_BLOCK_BYTES = 32 << 20


class InputError(ValueError):
    """An input file cannot be used at all (named, with the reason and the fix)."""


# What decompressors raise on a truncated or corrupt stream (Arrow: OSError).
_STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, pa.ArrowException)


class _StreamBroken(Exception):
    """A compressed input ends early or is corrupt; ``message`` says what was lost."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def detect(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """(format, compression) from the file name, e.g. ``("tsv", "gzip")``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    comp = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if comp:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    return fmt, comp


@contextlib.contextmanager
def open_stream(path: str | os.PathLike, compression: str | None = "infer") -> Iterator[IO]:
    """Open a file for binary reading, decompressing on the fly."""
    if compression == "infer":
        compression = detect(path)[1]
    if compression == "xz":
        f: Any = lzma.open(path, "rb")
    elif compression in ("gzip", "bz2", "zstd") and pa.Codec.is_available(compression):
        f = pa.input_stream(str(path), compression=compression)
    elif compression == "gzip":
        f = gzip.open(path, "rb")
    elif compression == "bz2":
        f = bz2.open(path, "rb")
    elif compression is None:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    else:
        raise InputError(f"{path}: compression {compression!r} is not available")
    try:
        yield f
    finally:
        f.close()


def discover(inputs: list[str | os.PathLike]) -> list[Path]:
    """Expand folders (recursively) and globs into a sorted list of readable input files."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(q for q in p.rglob("*") if q.is_file() and detect(q)[0])
            if not files:
                raise InputError(f"folder {p} holds no files of a known format ({_known()})")
            found.extend(files)
        elif p.is_file():
            if detect(p)[0] is None:
                raise InputError(f"{p}: unknown format; file names must end in {_known()}")
            found.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise InputError(f"input {item} does not exist and matches no files")
            found.extend(m for m in matches if detect(m)[0])
    seen: set[Path] = set()
    return [p for p in found if not (p in seen or seen.add(p))]


def _known() -> str:
    return ", ".join(sorted(FORMATS)) + " (optionally + " + ", ".join(sorted(COMPRESSIONS)) + ")"


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


# -- planning ------------------------------------------------------------------------------
def plan_partitions(files: list[Path], options: SourceOptions) -> list[Partition]:
    """Cut the inputs into partitions; depends only on the files and ``block_bytes``."""
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
            txt_bytes += path.stat().st_size
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


def _line_ranges(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``size`` bytes, each starting at a line start."""
    total = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
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


def _read_header(path: Path, fmt: str, comp: str | None, options: SourceOptions) -> tuple:
    if fmt == "jsonl":
        return ()
    try:
        return _read_header_of(path, fmt, comp, options)
    except _STREAM_ERRORS as exc:
        raise InputError(f"{path}: cannot read the header line ({_one_line(exc)})") from None


def _read_header_of(path: Path, fmt: str, comp: str | None, options: SourceOptions) -> tuple:
    with open_stream(path, comp) as f:
        if fmt == "tsv":
            raw = _first_line(f)
            try:
                cols = tuple(raw.rstrip(b"\r\n").decode("utf-8").split("\t"))
            except UnicodeDecodeError:
                raise InputError(f"{path}, line 1: the header is not valid UTF-8") from None
        else:
            try:
                cols = tuple(next(csv.reader([_first_line(f).decode("utf-8").rstrip("\r")])))
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


def _first_line(f: IO) -> bytes:
    """The first line of a stream (works on Arrow streams, which lack ``readline``)."""
    data = b""
    while b"\n" not in data:
        piece = f.read(1 << 16)
        if not piece:
            break
        data += piece
    return data.split(b"\n", 1)[0]


def _check_parquet_columns(path: Path, options: SourceOptions) -> None:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            f"{path}: not a readable Parquet file ({_one_line(exc)}); it may be truncated"
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


# -- reading -------------------------------------------------------------------------------
def iter_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    """Stream the partition's records in blocks of about ``options.block_bytes``.

    ``Block.record`` and the first element of each reject are record ordinals within
    the partition (producers number them within the block; this adds the offset).
    """
    if part.fmt == "txt":
        blocks = _txt_blocks(part, options)
    elif part.fmt == "parquet":
        blocks = _parquet_blocks(part, options)
    elif part.fmt == "csv":
        blocks = _csv_blocks(part, options)
    else:
        blocks = _line_blocks(part, options)
    offset = 0
    for block in blocks:
        if offset:
            block.record = block.record + offset
            block.rejects = [(e[0] + offset, *e[1:]) for e in block.rejects]
        offset += block.n_records
        yield block


def count_lines(part: Partition) -> int:
    """Physical lines in a line-format partition (pass 1 gives these to pass 2)."""
    n = 0
    for buf, _ in _line_chunks(part, 8 << 20):
        n += _n_lines(buf)
    return n


def _n_lines(buf: np.ndarray) -> int:
    if not len(buf):
        return 0
    return int(np.count_nonzero(buf == 10)) + (buf[-1] != 10)


def _line_chunks(part: Partition, block_bytes: int) -> Iterator[tuple[np.ndarray, int]]:
    """Chunks of whole lines as uint8 arrays, with the number of lines before each."""
    path = part.paths[0]
    remaining = None if part.stop is None else part.stop - part.start
    lines_before = 0
    carry = b""
    with open_stream(path, part.compression) as f:
        if part.start:
            f.seek(part.start)
        while True:
            want = block_bytes if remaining is None else min(block_bytes, remaining)
            data, broken = _read_upto(f, want, path, part.compression is not None)
            if broken is not None:
                # Keep the whole lines read before the break; the cut last line is lost.
                data = carry + data
                cut = data.rfind(b"\n") + 1
                if cut:
                    buf = np.frombuffer(data, dtype=np.uint8, count=cut)
                    yield buf, lines_before
                    lines_before += _n_lines(buf)
                raise _StreamBroken(
                    f"{path}: the compressed file is truncated or corrupt after line "
                    f"{lines_before} ({_one_line(broken)}); the lines before it were kept, "
                    "the rest of the file is lost"
                )
            if remaining is not None:
                remaining -= len(data)
            if not data:
                if carry:
                    buf = np.frombuffer(carry, dtype=np.uint8)
                    yield buf, lines_before
                return
            data = carry + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            buf = np.frombuffer(data, dtype=np.uint8, count=cut)
            yield buf, lines_before
            lines_before += _n_lines(buf)
            carry = data[cut:]


_PIECE = 1 << 16  # compressed streams are read in pieces so a break loses little


def _read_upto(f: IO, want: int, path: str, compressed: bool) -> tuple[bytes, Exception | None]:
    """Up to ``want`` bytes; for a compressed stream that breaks, the bytes read before
    the break and the error (an uncompressed file's read error is an InputError)."""
    if want <= 0:
        return b"", None
    if not compressed:
        try:
            return f.read(want), None
        except _STREAM_ERRORS as exc:
            raise InputError(f"{path}: read error ({_one_line(exc)})") from None
    pieces: list[bytes] = []
    got = 0
    while got < want:
        try:
            piece = f.read(min(_PIECE, want - got))
        except _STREAM_ERRORS as exc:
            return b"".join(pieces), exc
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces), None


def _split_lines(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (excluding ``\\r\\n``) of every line in ``buf``."""
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl + 1])
    stops = np.concatenate([nl, [len(buf)]])
    if starts[-1] == len(buf):  # buffer ends with a newline: no extra line
        starts, stops = starts[:-1], stops[:-1]
    cr = (stops > starts) & (buf[np.maximum(stops - 1, 0)] == 13)
    return starts.astype(np.int64), (stops - cr).astype(np.int64)


def _strings(buf: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> pa.LargeStringArray:
    data, offsets = _kernels.gather_spans(buf, starts, stops)
    return pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))


def _lost(file: str, message: str, keep_fields: tuple[str, ...]) -> Block:
    """An empty block that only reports data lost to a truncated input."""
    empty = pa.array([], pa.large_string())
    return Block(file, empty, np.zeros(0, np.int64), np.zeros(0, np.int64),
                 {k: empty for k in keep_fields}, losses=[message])


def _line_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    try:
        yield from _line_blocks_of(part, options)
    except _StreamBroken as exc:
        yield _lost(part.paths[0], exc.message, options.keep_fields)


def _line_blocks_of(part: Partition, options: SourceOptions) -> Iterator[Block]:
    file = part.paths[0]
    for buf, lines_before in _line_chunks(part, options.block_bytes):
        starts, stops = _split_lines(buf)
        lines = lines_before + np.arange(len(starts), dtype=np.int64)
        if part.at_file_start and part.fmt == "tsv" and lines_before == 0:
            starts, stops, lines = starts[1:], stops[1:], lines[1:]  # header
        if part.fmt == "tsv":
            block = _tsv_block(file, buf, starts, stops, lines, part.header, options)
        else:
            block = _jsonl_block(file, buf, starts, stops, lines, options)
        block.n_lines = _n_lines(buf)
        yield block


def _tsv_block(file, buf, starts, stops, lines, header, options) -> Block:
    names = (options.text_field, *options.keep_fields)
    want = np.array([header.index(n) for n in names], dtype=np.int64)
    fs, fe, n_found = _kernels.field_spans(buf, starts, stops, len(header), want)
    rejects: list[tuple[int, int, str]] = []
    ok = n_found == len(header)
    for r in np.flatnonzero(~ok):
        rejects.append(
            (
                int(r),
                int(lines[r]),
                f"malformed row: expected {len(header)} tab-separated fields, "
                f"found {int(n_found[r])}",
            )
        )
    for j, name in enumerate(names):
        bad_at = _kernels.utf8_invalid_at(buf, fs[:, j], fe[:, j])
        for r in np.flatnonzero(ok & (bad_at >= 0)):
            rejects.append(
                (
                    int(r),
                    int(lines[r]),
                    f"undecodable bytes (invalid UTF-8) in field {name!r} at byte {int(bad_at[r])}",
                )
            )
            ok[r] = False
    keep = np.flatnonzero(ok)
    rejects.sort()
    return Block(
        file=file,
        texts=_strings(buf, fs[keep, 0], fe[keep, 0]),
        record=keep.astype(np.int64),
        pos=lines[keep],
        extra={
            n: _strings(buf, fs[keep, j + 1], fe[keep, j + 1])
            for j, n in enumerate(options.keep_fields)
        },
        rejects=rejects,
        n_records=len(starts),
    )


def _jsonl_block(file, buf, starts, stops, lines, options) -> Block:
    raw = buf.tobytes()
    texts: list[str] = []
    record: list[int] = []
    pos: list[int] = []
    extra: dict[str, list] = {k: [] for k in options.keep_fields}
    rejects: list[tuple[int, int, str]] = []
    tf = options.text_field
    n = 0
    for s, e, line in zip(starts.tolist(), stops.tolist(), lines.tolist(), strict=True):
        chunk = raw[s:e]
        if not chunk.strip():
            continue  # blank lines are not records
        r = n
        n += 1
        try:
            obj = json.loads(chunk)
        except UnicodeDecodeError as exc:
            rejects.append((r, line, f"undecodable bytes (invalid UTF-8) at byte {exc.start}"))
            continue
        except ValueError as exc:
            rejects.append((r, line, f"invalid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            rejects.append((r, line, f"not a JSON object (found {type(obj).__name__})"))
            continue
        if tf not in obj:
            rejects.append((r, line, f"missing field {tf!r}"))
            continue
        text = obj[tf]
        if not isinstance(text, str):
            what = "null" if text is None else type(text).__name__
            rejects.append((r, line, f"field {tf!r} is not a string (found {what})"))
            continue
        texts.append(text)
        record.append(r)
        pos.append(line)
        for k in options.keep_fields:
            v = obj.get(k)
            extra[k].append(v if isinstance(v, str) or v is None else json.dumps(v))
    return Block(
        file=file,
        texts=pa.array(texts, pa.large_string()),
        record=np.array(record, dtype=np.int64),
        pos=np.array(pos, dtype=np.int64),
        extra={k: pa.array(v, pa.large_string()) for k, v in extra.items()},
        rejects=rejects,
        n_records=n,
    )


def _binary_block_checked(col: pa.Array, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Invalid-UTF-8 positions (-1 = ok) and null mask of a binary/string column."""
    if col.null_count:
        nulls = col.is_null().to_numpy(zero_copy_only=False)
    else:
        nulls = np.zeros(len(col), dtype=bool)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return np.full(len(col), -1, dtype=np.int64), nulls
    col = col.cast(pa.large_binary())
    _, off_buf, data_buf = col.buffers()[:3]
    offsets = np.frombuffer(off_buf, dtype=np.int64)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf else np.zeros(0, np.uint8)
    return _kernels.utf8_invalid_at(data, offsets[:-1], offsets[1:]), nulls


def _table_block(file, table: pa.Table, rows: np.ndarray, options, null_reason) -> Block:
    """Shared CSV/Parquet logic: validate text and kept columns, build the block."""
    n = table.num_rows
    ok = np.ones(n, dtype=bool)
    rejects: list[tuple[int, int, str]] = []
    for name in (options.text_field, *options.keep_fields):
        col = table.column(name).combine_chunks()
        if not (
            pa.types.is_binary(col.type)
            or pa.types.is_large_binary(col.type)
            or pa.types.is_string(col.type)
            or pa.types.is_large_string(col.type)
        ):
            continue  # typed Parquet metadata columns are kept as they are
        bad_at, nulls = _binary_block_checked(col, name)
        if name == options.text_field:
            for r in np.flatnonzero(ok & nulls):
                rejects.append((int(r), int(rows[r]), null_reason(name)))
                ok[r] = False
        for r in np.flatnonzero(ok & (bad_at >= 0) & ~nulls):
            rejects.append(
                (
                    int(r),
                    int(rows[r]),
                    f"undecodable bytes (invalid UTF-8) in field {name!r} at byte {int(bad_at[r])}",
                )
            )
            ok[r] = False
    keep = pa.array(np.flatnonzero(ok))
    kept = table.take(keep)

    def as_text(col: pa.ChunkedArray) -> pa.Array:
        col = col.combine_chunks()
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            col = col.cast(pa.large_binary()).view(pa.large_string())
        return col.cast(pa.large_string()) if pa.types.is_string(col.type) else col

    rejects.sort()
    return Block(
        file=file,
        texts=as_text(kept.column(options.text_field)),
        record=np.flatnonzero(ok).astype(np.int64),
        pos=rows[ok],
        extra={k: as_text(kept.column(k)) for k in options.keep_fields},
        rejects=rejects,
        n_records=n,
    )


def _csv_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    progress = [2]
    try:
        yield from _csv_blocks_of(part, options, progress)
    except _STREAM_ERRORS as exc:
        where = f"{part.paths[0]}: cannot be read from row {progress[0]} on ({_one_line(exc)})"
        if part.compression is None:
            raise InputError(where) from None
        yield _lost(
            part.paths[0],
            f"{where}: the compressed file is truncated or corrupt; the rows before were "
            "kept, the rest of the file is lost",
            options.keep_fields,
        )


def _csv_blocks_of(part: Partition, options: SourceOptions, progress: list[int]):
    file = part.paths[0]
    names = (options.text_field, *options.keep_fields)
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append(
            (
                int(row.number) if row.number is not None else -1,
                f"malformed row: expected {row.expected_columns} columns, "
                f"found {row.actual_columns}",
            )
        )
        return "skip"

    with open_stream(file, part.compression) as f:
        reader = pcsv.open_csv(
            f,
            read_options=pcsv.ReadOptions(
                block_size=min(options.block_bytes, 1 << 30), use_threads=False
            ),
            parse_options=pcsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.large_binary() for n in names}, include_columns=list(names)
            ),
        )
        next_row = 2  # spreadsheet row of the next record (the header is row 1)
        n_rec = 0
        for rb in reader:
            table = pa.Table.from_batches([rb])
            bad = sorted(r for r, _ in invalid if r >= next_row)
            rows = np.arange(next_row, next_row + table.num_rows, dtype=np.int64)
            for r in bad:
                rows[rows >= r] += 1
            stop = int(rows[-1]) + 1 if len(rows) else next_row
            mine = [(r, why) for r, why in invalid if next_row <= r < stop]
            invalid[:] = [(r, why) for r, why in invalid if r >= stop]
            block = _table_block(file, table, rows, options, lambda n: f"field {n!r} is empty/null")
            block.record = rows[block.record] - next_row
            block.rejects = sorted(
                [(int(rows[i]) - next_row, p, why) for i, p, why in block.rejects]
                + [(r - next_row, r, why) for r, why in mine]
            )
            block.n_records = stop - next_row
            n_rec += block.n_records
            next_row = stop
            progress[0] = next_row
            yield block
        if invalid:  # malformed rows after the last good one
            rows_left = sorted(invalid)
            yield Block(
                file,
                pa.array([], pa.large_string()),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                {k: pa.array([], pa.large_string()) for k in options.keep_fields},
                [(r - next_row, r, why) for r, why in rows_left],
                rows_left[-1][0] + 1 - next_row,
            )


def _parquet_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    file = part.paths[0]
    names = [options.text_field, *options.keep_fields]
    row = 0
    rows_per_batch = max(1024, min(1 << 20, options.block_bytes // 2048))
    try:
        pf = pq.ParquetFile(file)
        for rb in pf.iter_batches(batch_size=rows_per_batch, columns=names, use_threads=False):
            table = pa.Table.from_batches([rb])
            rows = np.arange(row, row + table.num_rows, dtype=np.int64)
            yield _table_block(file, table, rows, options, lambda n: f"field {n!r} is null")
            row += table.num_rows
    except (OSError, RuntimeError, pa.ArrowException) as exc:
        raise InputError(
            f"{file}: not a readable Parquet file from row {row} on ({_one_line(exc)})"
        ) from None


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
        data, lost = _read_whole(path)
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


def _read_whole(path: str) -> tuple[bytes, str | None]:
    """A whole (maybe compressed) file; a truncated compressed file gives its readable
    prefix (cut back to the last whole UTF-8 character) and a message saying so."""
    chunks: list[bytes] = []
    with open_stream(path) as f:
        while True:
            try:
                chunk = f.read(_PIECE)
            except _STREAM_ERRORS as exc:
                if detect(path)[1] is None:
                    raise InputError(f"{path}: read error ({_one_line(exc)})") from None
                data = b"".join(chunks)
                cut = len(data)
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as bad:
                    if bad.reason == "unexpected end of data":
                        cut = bad.start  # a character cut in half by the truncation
                return data[:cut], (
                    f"{path}: the compressed file is truncated or corrupt after {cut} bytes "
                    f"({_one_line(exc)}); its first {cut} bytes were kept as the document"
                )
            if not chunk:
                return b"".join(chunks), None
            chunks.append(chunk)
