"""Where corpora and models live: a local folder, or a folder on an object store.

Every place that accepts a local path also accepts an fsspec URL (``s3://bucket/corpus``,
``gs://...``, ``az://...``, ``memory://...``: whatever protocol fsspec and its plugins
provide; ``s3://`` needs the ``s3`` extra, which installs s3fs). A location is kept as a
:class:`~pathlib.Path` when it is local (``file://`` URLs become paths), so local
behaviour is exactly what it was, and as its URL string (no trailing slash) when it is
remote.

Credentials and endpoints come from the places fsspec and the store's SDK read: for S3
the usual ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_PROFILE`` /
``AWS_ENDPOINT_URL``, and fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL``,
``FSSPEC_S3_KEY``..., or files in ``~/.config/fsspec``). Dask workers read from the store
themselves, so they need the same environment.

Object stores have no rename, so a remote folder is written file by file, the file that
makes it valid (a model's or a corpus's manifest) last: a reader that finds the manifest
finds every file it names, and checks each against the manifest's SHA-256.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

Location = Path | str

# Protocols whose first path component is a bucket (or container) that must exist already:
# writing under a missing one fails only at the first write, after all the work.
_BUCKET_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})


class StorageError(ValueError):
    """A location cannot be used: its protocol is unknown or not installed, its bucket
    does not exist, or its local folder cannot be made."""


def is_remote(value: str | os.PathLike[str] | None) -> bool:
    """Whether ``value`` is a URL of a non-local filesystem (``file://`` is local)."""
    if value is None or isinstance(value, Path):
        return False
    text = os.fspath(value)
    return "://" in text and not text.startswith("file://")


def location(value: str | os.PathLike[str]) -> Location:
    """``value`` as a :class:`Path` (local) or a URL without trailing slash (remote)."""
    text = os.fspath(value)
    if is_remote(text):
        return text.rstrip("/")
    if isinstance(text, str) and text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    return Path(value)


def join(folder: Location, name: str) -> Location:
    """The location of ``name`` inside ``folder``."""
    if isinstance(folder, Path):
        return folder / name
    return f"{folder}/{name}"


def absolute(loc: Location) -> str:
    """A location as a string other processes can use (an absolute path, or the URL)."""
    return str(loc.resolve()) if isinstance(loc, Path) else loc


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it.

    Raises
    ------
    StorageError
        The protocol is unknown or its package is not installed (with what to install).
    """
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        extra = " (pip install 'svi-lda[s3]')" if url.startswith(("s3://", "s3a://")) else ""
        raise StorageError(f"cannot open {url}: {exc}{extra}") from None
    except ValueError as exc:
        first = " ".join(str(exc).split())
        raise StorageError(f"cannot open {url}: {first}") from None


def check_output(loc: Location, *, folder: bool = False, make_parent: bool = False) -> None:
    """Fail now, in one line naming ``loc``, if writing there is bound to fail later.

    A URL: its protocol must be installed and, on an object store, its bucket must exist.
    A local file (``folder=False``): its parent folder must exist (with ``make_parent``,
    for a writer that creates it: be creatable). A local folder: it must not be a file,
    and its nearest existing ancestor must be a folder (the writer creates it).

    Raises
    ------
    StorageError
        The location cannot be written; the message names it and says why.
    """
    if isinstance(loc, Path):
        _check_local_output(loc, folder=folder, make_parent=make_parent)
        return
    fs, path = filesystem(loc)
    protocol = loc.split("://", 1)[0].lower()
    if protocol not in _BUCKET_PROTOCOLS:
        return
    bucket = path.strip("/").split("/", 1)[0]
    try:
        exists = fs.exists(bucket)
    except OSError as exc:
        first = " ".join(str(exc).split())
        raise StorageError(f"cannot reach {loc}: {first}") from None
    if not exists:
        raise StorageError(f"cannot write {loc}: bucket {bucket!r} does not exist")


def _check_local_output(loc: Path, *, folder: bool, make_parent: bool = False) -> None:
    if folder:
        if loc.exists() and not loc.is_dir():
            raise StorageError(f"cannot write folder {loc}: a file of that name exists")
        ancestor = loc.absolute()
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise StorageError(f"cannot write folder {loc}: {ancestor} is not a folder")
        return
    if loc.is_dir():
        raise StorageError(f"cannot write {loc}: it is a folder")
    if make_parent:
        _check_local_output(loc.absolute().parent, folder=True)
        return
    parent = loc.absolute().parent
    if not parent.is_dir():
        raise StorageError(f"cannot write {loc}: folder {parent} does not exist")


def _remote(loc: str, *, fresh: bool = False) -> tuple[Any, str]:
    fs, path = filesystem(loc)
    if fresh:
        # Another process may have written here since this filesystem listed it.
        fs.invalidate_cache(path)
        parent = path.rsplit("/", 1)[0]
        if parent != path:
            fs.invalidate_cache(parent)
    return fs, path


def is_file(loc: Location) -> bool:
    """Whether a file (an object) exists at ``loc``."""
    if isinstance(loc, Path):
        return loc.is_file()
    fs, path = _remote(loc, fresh=True)
    try:
        return fs.isfile(path)
    except OSError:
        return False


def file_size(loc: Location) -> int:
    """Size in bytes of the file at ``loc`` (FileNotFoundError when absent)."""
    if isinstance(loc, Path):
        return loc.stat().st_size
    fs, path = _remote(loc)
    return int(fs.size(path))


def read_bytes(loc: Location, limit: int | None = None) -> bytes:
    """The bytes of the file at ``loc`` (at most ``limit`` + 1 when ``limit`` is given).

    Raises FileNotFoundError when there is no such file, on either kind of location.
    """
    if isinstance(loc, Path):
        with open(loc, "rb") as fh:
            return fh.read() if limit is None else fh.read(limit + 1)
    fs, path = _remote(loc, fresh=True)
    if limit is None:
        return fs.cat_file(path)
    with fs.open(path, "rb") as fh:
        return fh.read(limit + 1)


def open_read(loc: Location, block_size: int = 1 << 16) -> IO[bytes]:
    """A seekable binary file object for reading ``loc`` (the caller closes it).

    Remote: each request fetches at least ``block_size`` bytes ahead of a read. The
    default is small (headers and footers are read in small pieces, row groups whole);
    streaming a large file front to back wants a few MiB.
    """
    if isinstance(loc, Path):
        return open(loc, "rb")  # noqa: SIM115 - the caller closes it
    fs, path = _remote(loc)
    return fs.open(path, "rb", cache_type="readahead", block_size=block_size)


def write_bytes(loc: Location, data: bytes) -> None:
    """Write a whole file: atomically (temp + rename) locally, one PUT on a store (an
    object appears whole or not at all)."""
    if isinstance(loc, Path):
        from svi_lda._atomic import atomic_write_bytes

        atomic_write_bytes(loc, data)
        return
    fs, path = _remote(loc)
    fs.pipe_file(path, data)


def upload(local_file: Path, loc: str) -> None:
    """Copy the local file ``local_file`` to the remote location ``loc``."""
    fs, path = _remote(loc)
    fs.put_file(str(local_file), path)


def list_names(folder: Location) -> list[str]:
    """Names of the files directly in ``folder`` (empty when it does not exist)."""
    if isinstance(folder, Path):
        try:
            return sorted(p.name for p in folder.iterdir() if p.is_file())
        except (FileNotFoundError, NotADirectoryError):
            return []
    fs, path = _remote(folder, fresh=True)
    try:
        entries = fs.ls(path, detail=True)
    except FileNotFoundError:
        return []
    return sorted(
        e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"
    )


def remove(loc: Location) -> None:
    """Delete the file at ``loc`` (nothing when it is already gone)."""
    if isinstance(loc, Path):
        loc.unlink(missing_ok=True)
        return
    fs, path = _remote(loc)
    try:
        fs.rm_file(path)
    except FileNotFoundError:
        pass


def remove_folder(loc: Location) -> None:
    """Delete ``loc`` and everything under it (nothing when it does not exist)."""
    if isinstance(loc, Path):
        import shutil

        shutil.rmtree(loc, ignore_errors=True)
        return
    fs, path = _remote(loc, fresh=True)
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass


def publish_folder(local_dir: Path, folder: str, *, last: str, keep: set[str]) -> None:
    """Upload the files of ``local_dir`` into the remote ``folder``, ``last`` at the end.

    Files of ``folder`` that are neither uploaded nor in ``keep`` are deleted after
    ``last`` is written (the folder then holds the new content and what ``keep`` names).
    """
    names = sorted(p.name for p in local_dir.iterdir() if p.is_file())
    for name in names:
        if name != last:
            upload(local_dir / name, join(folder, name))
    if last in names:
        upload(local_dir / last, join(folder, last))
    for name in list_names(folder):
        if name not in names and name not in keep:
            remove(join(folder, name))


def open_parquet(loc: Location, row_group: int | None = None) -> IO[bytes]:
    """A binary file object for reading the Parquet file at ``loc`` (the caller closes it).

    Remote: with ``row_group`` given, the footer and that row group's bytes are fetched
    up front in as few requests as possible (fsspec's ``open_parquet_file``), so reading
    the row group, and hashing its bytes, costs no further round trips.
    """
    if isinstance(loc, Path):
        return open(loc, "rb")  # noqa: SIM115 - the caller closes it
    fs, path = _remote(loc)
    if row_group is None:
        return fs.open(path, "rb", cache_type="readahead", block_size=1 << 16)
    from fsspec.parquet import open_parquet_file

    return open_parquet_file(path, fs=fs, row_groups=[row_group], engine="pyarrow")
