"""``model.json``: format, versions, checksums and the JSON types of every field.

Version 2 (written now) adds ``content_sha256``, a SHA-256 over the canonical JSON of all
the other fields, so a flipped byte inside ``model.json`` is caught like one inside the
files it names; a ``generation`` counter; and ``attributes`` (optional fitted
attributes that are not arrays). Version 1 (no content checksum) is still read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

FORMAT = "svi-lda-model"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "model.json"
# A model.json of a real model is a few kB plus the attributes; refuse to parse absurd ones.
MAX_MANIFEST_BYTES = 256 << 20


class ModelFileError(ValueError):
    """A model folder is missing, corrupt, of another format or of an unknown version."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """The bytes ``content_sha256`` is computed over: sorted keys, no whitespace."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def content_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of every field but ``content_sha256`` itself."""
    fields = {k: v for k, v in manifest.items() if k != "content_sha256"}
    return sha256_bytes(canonical_json(fields))


def parse_manifest(data: bytes, where: Path) -> dict[str, Any]:
    """Parse and check the bytes of a ``model.json`` (any readable version)."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{where} is corrupt: not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not an svi-lda model file (format field).")
    version = manifest.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{where} has format_version {version!r}; this svi-lda reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}. Upgrade svi-lda to load it."
        )
    if version >= 2:
        stored = manifest.get("content_sha256")
        if not isinstance(stored, str) or stored != content_checksum(manifest):
            raise ModelFileError(
                f"{where} is corrupt: its content does not match its content_sha256 (a byte "
                "was changed, or the file was edited by hand)."
            )
    check_fields(manifest, _MANIFEST_FIELDS, where, "")
    for section in ("vocabulary",):
        entry = manifest.get(section)
        if entry is not None:
            check_fields({section: entry}, {section: _FILE_ENTRY}, where, "")
    for section in ("extra", "attributes"):
        if not isinstance(manifest.get(section, {}), dict):
            raise ModelFileError(f"{where} is corrupt: section {section!r} is not an object.")
    return manifest


def read_manifest_bytes(path: str | Path) -> bytes:
    """The raw bytes of ``path/model.json`` (ModelFileError when absent or absurd).

    ``path`` may be an fsspec URL (see :mod:`svi_lda.storage`).
    """
    from svi_lda import storage

    path = storage.location(path)
    manifest_path = storage.join(path, MANIFEST)
    try:
        data = storage.read_bytes(manifest_path, limit=MAX_MANIFEST_BYTES)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        sharded = find_sharded_checkpoint(path)
        if sharded is not None:
            raise ModelFileError(
                f"{path} holds no {MANIFEST} but a sharded model too large to assemble "
                f"in one process, in {sharded}: query it on a Dask cluster with "
                f"svi_lda.distributed.sharded.ShardedModel.open(client, {str(sharded)!r}), "
                "or assemble it where it fits with load_sharded_model"
            ) from None
        raise ModelFileError(
            f"{path} is not an svi-lda model folder: {MANIFEST} is missing "
            "(save one with OnlineLDA.save)."
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{manifest_path} cannot be read: {exc}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ModelFileError(f"{manifest_path} is larger than any model file: corrupt.")
    return data


def find_sharded_checkpoint(path: Any) -> Any:
    """The sharded checkpoint at ``path`` or in its ``checkpoint`` folder (where
    ``svi-lda train --sharded`` leaves a model too large to gather), or None."""
    from svi_lda import storage

    for folder in (path, storage.join(path, "checkpoint")):
        try:
            # svi_lda.distributed.sharded.checkpoint.MANIFEST: not imported, as that module
            # imports this package (a cycle)
            if storage.is_file(storage.join(folder, "sharded.json")):
                return folder
        except (OSError, ValueError):
            return None
    return None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check ``model.json`` of a model folder."""
    from svi_lda import storage

    path = storage.location(path)
    return parse_manifest(read_manifest_bytes(path), storage.join(path, MANIFEST))


_FILE_ENTRY = {"file": str, "sha256": str}
_STATE_FIELDS = {
    "n_components": int,
    "n_features": int,
    "dtype": str,
    "scale": float,
    "eta": float,
    "step": int,
    "n_docs_seen": int,
    "random_seed": int,
}
_MANIFEST_FIELDS = {
    "params": dict,
    "state": _STATE_FIELDS,
    "arrays": _FILE_ENTRY,
}


def check_fields(obj: Any, fields: dict[str, Any], where: Path, prefix: str) -> None:
    """Check that ``obj`` has each field with the right JSON type (nested dicts recurse)."""
    for name, kind in fields.items():
        value = obj.get(name) if isinstance(obj, dict) else None
        label = f"{prefix}{name}"
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise ModelFileError(f"{where} is corrupt: section {label!r} is missing.")
            check_fields(value, kind, where, label + ".")
            continue
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise ModelFileError(
                f"{where} is corrupt: field {label!r} should be {kind.__name__}, "
                f"found {value!r:.80}."
            )
