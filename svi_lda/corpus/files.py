"""Input files: names and formats, discovery, decompression, and streams that break.

An input is a local path or an fsspec URL (``s3://bucket/raw/docs.tsv.gz``, a folder or
prefix such as ``s3://bucket/raw/``, or a glob; see :mod:`svi_lda.storage`). A remote
file is read in place through fsspec, never copied whole, so Dask workers read their
own partitions from the store; messages name it by its URL.

A truncated or corrupt compressed input is not fatal: readers keep what was readable
before the break and report what was lost (``StreamBroken`` carries that message).
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import lzma
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from svi_lda import storage

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
REMOTE_READ_AHEAD = 4 << 20  # bytes per request when a remote input is read front to back


class InputError(ValueError):
    """An input file cannot be used at all (named, with the reason and the fix)."""


# What decompressors raise on a truncated or corrupt stream (Arrow: OSError).
STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, pa.ArrowException)


class StreamBroken(Exception):
    """A compressed input ends early or is corrupt; ``message`` says what was lost."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def one_line(exc: BaseException) -> str:
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
    """Open a file (a local path or an fsspec URL) for binary reading, decompressing on
    the fly."""
    if compression == "infer":
        compression = detect(path)[1]
    if compression not in (None, "gzip", "bz2", "xz") and not (
        compression == "zstd" and pa.Codec.is_available("zstd")
    ):
        raise InputError(f"{path}: compression {compression!r} is not available")
    with contextlib.ExitStack() as stack:
        # The decompressors read a local path or any binary file object alike.
        source: Any = str(path)
        if storage.is_remote(path):
            source = stack.enter_context(storage.open_read(source, REMOTE_READ_AHEAD))
        if compression == "xz":
            f: Any = lzma.open(source, "rb")
        elif compression in ("gzip", "bz2", "zstd") and pa.Codec.is_available(compression):
            f = pa.input_stream(source, compression=compression)
        elif compression == "gzip":
            f = gzip.open(source, "rb")
        elif compression == "bz2":
            f = bz2.open(source, "rb")
        elif isinstance(source, str):
            f = open(source, "rb")  # noqa: SIM115 - closed below
        else:
            f = source
        stack.callback(f.close)
        yield f


@contextlib.contextmanager
def parquet_input(path: str | os.PathLike) -> Iterator[Any]:
    """What ``pyarrow.parquet`` opens for ``path``: a local path, or an open remote file."""
    if not storage.is_remote(path):
        yield str(path)
        return
    with storage.open_read(str(path), REMOTE_READ_AHEAD) as f:
        yield f


def discover(inputs: list[str | os.PathLike]) -> list[storage.Location]:
    """Expand folders (recursively) and globs into a sorted list of readable input files.

    Local inputs become :class:`Path` objects, remote ones (fsspec URLs: a file, a folder
    or prefix, or a glob) full URLs of their files.
    """
    found: list[storage.Location] = []
    for item in inputs:
        p = storage.location(item)
        if isinstance(p, str):
            found.extend(_discover_remote(p))
        elif p.is_dir():
            files = sorted(q for q in p.rglob("*") if q.is_file() and detect(q)[0])
            if not files:
                raise InputError(f"folder {p} holds no files of a known format ({_known()})")
            found.extend(files)
        elif p.is_file():
            if detect(p)[0] is None:
                raise InputError(f"{p}: unknown format; file names must end in {_known()}")
            found.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(p), recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise InputError(f"input {item} does not exist and matches no files")
            found.extend(m for m in matches if detect(m)[0])
    seen: set[storage.Location] = set()
    return [p for p in found if not (p in seen or seen.add(p))]


def _discover_remote(url: str) -> list[str]:
    """The input files a URL names: itself, the files under it (a folder or prefix,
    recursively) or those its glob matches; in the order a local folder's would be."""
    try:
        fs, path = storage.filesystem(url)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    fs.invalidate_cache()  # files may have arrived since this filesystem last listed
    try:
        if any(c in path for c in "*?["):  # a glob pattern
            names = [m for m in fs.glob(path) if fs.isfile(m)]
            if not names:
                raise InputError(f"input {url} matches no files")
        elif fs.isfile(path):
            if detect(path)[0] is None:
                raise InputError(f"{url}: unknown format; file names must end in {_known()}")
            names = [path]
        elif fs.isdir(path):
            names = fs.find(path)
            if not any(detect(n)[0] for n in names):
                raise InputError(f"folder {url} holds no files of a known format ({_known()})")
        else:
            raise InputError(f"input {url} does not exist and matches no files")
    except OSError as exc:
        raise InputError(f"input {url} cannot be listed ({one_line(exc)})") from None
    urls = [fs.unstrip_protocol(n) for n in names if detect(n)[0]]
    return sorted(urls, key=lambda u: u.split("/"))  # as Paths sort: part by part


def _known() -> str:
    return ", ".join(sorted(FORMATS)) + " (optionally + " + ", ".join(sorted(COMPRESSIONS)) + ")"


# Compressed streams are read in pieces so that a break loses little: Arrow's
# decompressor raises on a read that runs into a cut, losing that whole read. Smaller
# pieces measured no slower (4 KiB to 64 KiB, a 58 MB .tsv.gz).
PIECE = 1 << 12


def first_line(f: IO) -> bytes:
    """The first line of a stream (works on Arrow streams, which lack ``readline``).

    Read in small pieces: a compressed file truncated after its header must still give
    the header (a 64 KiB read would run into the cut and raise), so that the lines
    before the cut are kept and only the rest is set aside.
    """
    data = b""
    while b"\n" not in data:
        piece = f.read(PIECE)
        if not piece:
            break
        data += piece
    return data.split(b"\n", 1)[0]


def read_upto(f: IO, want: int, path: str, compressed: bool) -> tuple[bytes, Exception | None]:
    """Up to ``want`` bytes; for a compressed stream that breaks, the bytes read before
    the break and the error (an uncompressed file's read error is an InputError)."""
    if want <= 0:
        return b"", None
    if not compressed:
        try:
            return f.read(want), None
        except STREAM_ERRORS as exc:
            raise InputError(f"{path}: read error ({one_line(exc)})") from None
    pieces: list[bytes] = []
    got = 0
    while got < want:
        try:
            piece = f.read(min(PIECE, want - got))
        except STREAM_ERRORS as exc:
            return b"".join(pieces), exc
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces), None


def read_whole(path: str) -> tuple[bytes, str | None]:
    """A whole (maybe compressed) file; a truncated compressed file gives its readable
    prefix (cut back to the last whole UTF-8 character) and a message saying so."""
    chunks: list[bytes] = []
    with open_stream(path) as f:
        while True:
            try:
                chunk = f.read(PIECE)
            except STREAM_ERRORS as exc:
                if detect(path)[1] is None:
                    raise InputError(f"{path}: read error ({one_line(exc)})") from None
                data = b"".join(chunks)
                cut = len(data)
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as bad:
                    if bad.reason == "unexpected end of data":
                        cut = bad.start  # a character cut in half by the truncation
                return data[:cut], (
                    f"{path}: the compressed file is truncated or corrupt after {cut} bytes "
                    f"({one_line(exc)}); its first {cut} bytes were kept as the document"
                )
            if not chunk:
                return b"".join(chunks), None
            chunks.append(chunk)
