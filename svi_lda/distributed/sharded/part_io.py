"""Checkpoint part files of sharded training at a local path or an fsspec URL.

A part is a ``.npy`` file of rows of W (no pickle). Locally it is written atomically
(temporary file, then rename); on an object store it is written to a local temporary
file first (its sha256 taken there) and uploaded in one object, which appears whole or
not at all. Rows are read back by range: a worker loading rows ``lo:hi`` of a part
reads only those bytes (``mmap`` locally, a ranged read on a store).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda._atomic import atomic_write_with

BLOCK_BYTES = 1 << 22


class PartChecksumError(ValueError):
    """A part's bytes differ from the sha256 its manifest records."""


def file_sha256(loc: storage.Location) -> str:
    """sha256 of the file at ``loc`` (a path or a URL), read in blocks."""
    digest = hashlib.sha256()
    with storage.open_read(loc) as f:
        for block in iter(lambda: f.read(BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class _HashingWriter:
    """A binary file that hashes what goes through it (so a part is not read back)."""

    def __init__(self, f: Any) -> None:
        self.f, self.digest, self.nbytes = f, hashlib.sha256(), 0

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.nbytes += len(memoryview(data).cast("B"))
        return self.f.write(data)


def _write_local(target: Path, rows: np.ndarray) -> dict[str, Any]:
    """Write ``rows`` atomically as ``.npy`` at ``target``; its ``nbytes`` and ``sha256``."""
    written: dict[str, Any] = {}

    def save(temp: Path) -> None:
        with open(temp, "wb") as f:
            out = _HashingWriter(f)
            np.save(out, rows, allow_pickle=False)  # type: ignore[arg-type]
            written.update(nbytes=out.nbytes, sha256=out.digest.hexdigest())

    atomic_write_with(target, save)
    return written


def write_rows(loc: str, rows: np.ndarray) -> dict[str, Any]:
    """Write ``rows`` as a ``.npy`` file at ``loc`` (absolute path or URL); returns its
    ``nbytes`` and ``sha256``."""
    where = storage.location(loc)
    if isinstance(where, Path):
        return _write_local(where, rows)
    handle, name = tempfile.mkstemp(suffix=".npy", prefix="svi-lda-part-")
    os.close(handle)
    temp = Path(name)
    try:
        info = _write_local(temp, rows)
        storage.upload(temp, where)
    finally:
        temp.unlink(missing_ok=True)
    return info


def read_rows(loc: str, start: int, stop: int, dtype: str) -> np.ndarray:
    """Rows ``start:stop`` of the 2-D ``.npy`` file at ``loc``, as ``dtype``."""
    where = storage.location(loc)
    if isinstance(where, Path):
        block = np.load(where, mmap_mode="r", allow_pickle=False)
        return np.array(block[start:stop], dtype=dtype)
    with storage.open_read(where) as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, stored = (
            np.lib.format.read_array_header_1_0(f) if version == (1, 0)
            else np.lib.format.read_array_header_2_0(f)
        )
        if fortran or len(shape) != 2 or stored.hasobject:
            raise ValueError(f"{loc}: not a C-ordered 2-D array of numbers")
        row_bytes = shape[1] * stored.itemsize
        f.seek(f.tell() + start * row_bytes)
        data = f.read((stop - start) * row_bytes)
    if len(data) != (stop - start) * row_bytes:
        raise ValueError(f"{loc}: truncated ({len(data)} bytes for rows {start}:{stop})")
    rows = np.frombuffer(data, dtype=stored).reshape(stop - start, shape[1])
    return np.array(rows, dtype=dtype)


def read_rows_verified(
    loc: str, start: int, stop: int, dtype: str, sha256: str
) -> np.ndarray:
    """Rows ``start:stop`` of the ``.npy`` file at ``loc`` after checking the whole file's
    sha256 (:class:`PartChecksumError` if it differs). The file is read once: hashed
    block by block as it is read, then parsed from those bytes, so a worker that loads a
    whole part verifies it for free."""
    digest = hashlib.sha256()
    blocks = []
    with storage.open_read(storage.location(loc)) as f:
        for block in iter(lambda: f.read(BLOCK_BYTES), b""):
            digest.update(block)
            blocks.append(block)
    if digest.hexdigest() != sha256:
        raise PartChecksumError(f"{loc}: contents differ from the manifest's sha256")
    block = np.load(io.BytesIO(b"".join(blocks)), allow_pickle=False)
    if block.ndim != 2:
        raise ValueError(f"{loc}: not a 2-D array of numbers")
    return np.array(block[start:stop], dtype=dtype)


def verifier_of_parts(parts: list[tuple[str, int, int]], bounds: np.ndarray) -> list[int]:
    """For each part ``(file, lo, hi)``, the shard (rows ``bounds[s]:bounds[s + 1]``) that
    checks its sha256: the one holding most of its rows (the first on a tie), so each part
    is hashed once, on a worker, and with the layout it was written in each worker hashes
    exactly the part it loads."""
    owners = []
    for _, lo, hi in parts:
        overlap = [min(hi, int(bounds[s + 1])) - max(lo, int(bounds[s]))
                   for s in range(len(bounds) - 1)]
        owners.append(int(np.argmax(overlap)))
    return owners
