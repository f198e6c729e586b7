"""Crash-safe file writes: temporary file in the same folder, fsync, rename, fsync folder."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename inside ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Temporary files of a crashed writer on another host (or whose pid was reused) are
# removed once they are this old; no write takes anywhere near as long.
STALE_SECONDS = 24 * 3600


def temporary_name(name: str) -> str:
    """Name of a temporary file for ``name``: hidden, ``.tmp``, with host and pid, so a
    later writer can tell whether the process that made it is still alive."""
    host = socket.gethostname().replace(".", "_")[:64] or "host"
    return f".{name}.{host}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, *, now: float | None = None) -> int:
    """Delete temporary files left in ``folder`` by writers that crashed; returns how many.

    A temporary file is stale when the process that wrote it (same host) is gone, or when
    it is older than :data:`STALE_SECONDS`. Files of live writers are left alone.
    """
    folder = Path(folder)
    now = time.time() if now is None else now
    host = socket.gethostname().replace(".", "_")[:64] or "host"
    removed = 0
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(".") and
                      p.name.endswith(".tmp")]
    except OSError:
        return 0
    for tmp in candidates:
        parts = tmp.name.rsplit(".", 4)  # [".name", host, pid, hex, "tmp"]
        try:
            stale = now - tmp.stat().st_mtime > STALE_SECONDS
            if not stale and len(parts) == 5 and parts[1] == host and parts[2].isdigit():
                stale = not _pid_alive(int(parts[2]))
            if stale:
                tmp.unlink()
                removed += 1
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Readers see either the old file or the complete new one, never a partial write.
    """
    path = Path(path)
    tmp = path.with_name(temporary_name(path.name))
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
