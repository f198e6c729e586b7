"""The arrays file: an uncompressed ``.npz`` written by NumPy, read by a strict parser.

The reader never unpickles and never trusts a size it has not checked: every member's
``.npy`` header is read and compared with the shape and dtype the caller expects before
any data is allocated, so a header claiming 1e9 rows fails cleanly instead of with a
``MemoryError``, and a member is at most as large as the file on disk.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svi_lda.persistence.manifest import ModelFileError

_MAX_HEADER = 1 << 16


@dataclass(frozen=True)
class ArraySpec:
    """What a member must be: a shape (None = any length on that axis) and dtype names."""

    shape: tuple[int | None, ...]
    dtypes: tuple[str, ...]
    required: bool = True


def write_arrays(fh, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` to the open binary file ``fh``."""
    np.savez(fh, **arrays)


def _header(stream, where: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Parse a ``.npy`` header: (shape, fortran_order, dtype, header bytes)."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                stream, max_header_size=_MAX_HEADER
            )
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                stream, max_header_size=_MAX_HEADER
            )
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise ModelFileError(f"{where}: not a valid .npy header ({exc}).") from None
    return shape, fortran, dtype, stream.tell()


# Zip flag bits a model file never sets: encrypted (0), compressed patched data (5),
# strong encryption (6). zipfile refuses them only when the member is read.
_ENCRYPTED_OR_PATCHED = 0x1 | 0x20 | 0x40


def read_arrays(
    data: bytes, specs: dict[str, ArraySpec], where: Path
) -> dict[str, np.ndarray]:
    """Parse the bytes of an arrays file, checking every member against ``specs``.

    Members not in ``specs`` are an error (a foreign or tampered file). Returns
    writable arrays in native byte order.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{where} is not a valid arrays archive (.npz): {exc}.") from None
    out: dict[str, np.ndarray] = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        label = f"{where}, array {name!r}"
        if name not in specs or not info.filename.endswith(".npy") or name in out:
            raise ModelFileError(f"{where} holds an unexpected member {info.filename!r}.")
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > len(data):
            raise ModelFileError(f"{label}: compressed or larger than the file; corrupt.")
        if info.flag_bits & _ENCRYPTED_OR_PATCHED:  # zipfile would refuse it mid-read
            raise ModelFileError(f"{label}: marked encrypted or patched; corrupt.")
        try:
            raw = archive.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ModelFileError(f"{label} cannot be read: {exc}.") from None
        out[name] = _parse_member(raw, specs[name], label)
    missing = [name for name, spec in specs.items() if spec.required and name not in out]
    if missing:
        raise ModelFileError(f"{where} lacks the array(s) {missing}; the file is corrupt.")
    return out


def _parse_member(raw: bytes, spec: ArraySpec, label: str) -> np.ndarray:
    stream = io.BytesIO(raw)
    shape, fortran, dtype, offset = _header(stream, label)
    name = dtype.name
    if dtype.kind == "U":
        name = "str"
    if dtype.hasobject or name not in spec.dtypes:
        raise ModelFileError(
            f"{label} should have dtype {' or '.join(spec.dtypes)}; found {dtype}."
        )
    if len(shape) != len(spec.shape) or any(
        want is not None and got != want for got, want in zip(shape, spec.shape, strict=True)
    ):
        want = tuple("n" if s is None else s for s in spec.shape)
        raise ModelFileError(f"{label} should have shape {want}; found {shape}.")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count < 0 or count * dtype.itemsize != len(raw) - offset:
        raise ModelFileError(
            f"{label}: its header announces {shape} x {dtype.itemsize} bytes but the member "
            f"holds {len(raw) - offset}; the file is truncated or corrupt."
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    arr = arr.reshape(shape, order="F" if fortran else "C")
    return np.array(arr, dtype=dtype.newbyteorder("="), order="C")
