"""The folder a stream reads: which files are ready, in which order, and local access.

Publishing convention (write, then rename)
------------------------------------------
A producer writes a file under a name the streamer ignores and renames it, in the same
folder, to its final name when it is complete. Ignored names: those starting with ``.``
or ``_`` (the Hadoop/Spark convention for hidden and in-progress files, e.g.
``.part-0007.jsonl.tmp`` or ``_temporary``) and those ending in ``.tmp``. A rename within
a folder is atomic on local and network file systems, and an object store's put is
atomic too, so a visible name always holds a complete file. A file written in place under
its final name breaks the convention: the streamer may read it half-written (it will then
be read as it was, or rejected if unreadable).

Order: files directly in the folder (no subfolders), by name (code point order), each
exactly once. Give files increasing names (a timestamp or sequence number first): a file
that appears later under a name sorting before files already taken is still taken, after
them, and a warning says so.

Names that belong to a corpus folder's metadata (``manifest.json``, ``vocabulary.parquet``,
``rejects.jsonl``) are never documents: they are skipped, so a folder that ``svi-lda
ingest`` writes into can be streamed as its parts appear.

Files are listed and fetched through fsspec (a local path, a ``file://`` URL, or any
protocol fsspec knows, such as ``s3://``: a remote file is copied to a temporary local
file while it is read; remote listings are not cached between polls).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec

from svi_lda import storage
from svi_lda.corpus.format import MANIFEST, REJECTS, VOCABULARY

METADATA_NAMES = frozenset({MANIFEST, VOCABULARY, REJECTS})


def is_published(name: str) -> bool:
    """Whether a file name is final under the publishing convention (see module doc)."""
    return not (name.startswith((".", "_")) or name.endswith(".tmp"))


@dataclass(frozen=True)
class SourceFile:
    """A published file of the source folder."""

    name: str
    size: int


class FolderSource:
    """A folder of published files, read through fsspec.

    Parameters
    ----------
    url : str or path
        A local folder or a ``file://`` URL (any fsspec URL works the same way).
    """

    def __init__(self, url: str | os.PathLike[str]) -> None:
        self.url = str(url)
        # One-line errors naming the URL (and the extra to install for s3://).
        self.fs, self.root = storage.filesystem(self.url)
        self.root = self.root.rstrip("/") or "/"
        self.is_local = "file" in _protocols(self.fs)
        # On an object store a folder is a prefix, which exists only once a file is under
        # it: an empty inbox is fine there, a missing bucket fails at the first listing.
        if self.is_local and not self.fs.isdir(self.root):
            raise FileNotFoundError(f"stream source {self.url} is not a folder")

    def list_published(self) -> list[SourceFile]:
        """Published files directly in the folder, sorted by name (metadata names left out)."""
        self.fs.invalidate_cache(self.root)  # remote listings are cached: poll afresh
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            if self.is_local:
                raise
            entries = []  # an empty prefix
        out = []
        for entry in entries:
            if entry.get("type") != "file":
                continue
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if is_published(name) and name not in METADATA_NAMES:
                out.append(SourceFile(name, int(entry.get("size") or 0)))
        return sorted(out, key=lambda f: f.name)

    def exists(self, name: str) -> bool:
        """Whether ``name`` is (still) in the folder."""
        self.fs.invalidate_cache(self._path(name))
        return self.fs.isfile(self._path(name))

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root != "/" else f"/{name}"

    @contextlib.contextmanager
    def local_copy(self, *names: str) -> Iterator[Path]:
        """A local folder holding ``names``: the source folder itself when it is local,
        otherwise a temporary folder they are copied into (removed afterwards)."""
        if self.is_local:
            yield Path(self.root)
            return
        tmp = Path(tempfile.mkdtemp(prefix="svi-lda-stream-"))
        try:
            for name in names:
                if self.fs.isfile(self._path(name)):
                    self.fs.get(self._path(name), str(tmp / name))
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
