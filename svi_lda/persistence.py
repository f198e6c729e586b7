"""Model files: safe to load from an untrusted source, written atomically.

A model folder holds

- ``model.json``: format name and version, constructor parameters, scalar state, and the
  names and SHA-256 of the files below. Written last, by atomic rename, so a reader sees
  either the old model or the new one, never a mix.
- ``arrays-<id>.npz``: the numeric state (W, topic sums, alpha; words of a plain list
  vocabulary), loaded with ``allow_pickle=False``.
- ``vocabulary-<id>.parquet`` (optional): the :class:`~svi_lda.text.Vocabulary` with
  its tokenizer settings.

Everything needed to continue training exactly is kept: lambda's lazy form, the step
count, documents seen, alpha, eta and the seed (initial gammas are a hash of the seed and
the document id, so there is no other random-generator state).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda._atomic import atomic_path, atomic_write_bytes
from svi_lda.state import GlobalState

FORMAT = "svi-lda-model"
FORMAT_VERSION = 1
MANIFEST = "model.json"


class ModelFileError(ValueError):
    """A model folder is missing, corrupt, of another format or of an unknown version."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _params_to_json(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in params.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.random.Generator):
            value = None  # resolved into the saved seed
        elif isinstance(value, np.integer | np.floating):
            value = value.item()
        out[name] = value
    return out


def save_model(model: Any, path: Path, *, extra: dict[str, Any] | None = None) -> None:
    """Save a fitted :class:`~svi_lda.OnlineLDA` to folder ``path`` atomically.

    ``extra`` is stored under ``"extra"`` in ``model.json`` (engines keep their own
    bookkeeping there, such as the units already consumed).
    """
    model._check_fitted()
    state: GlobalState = model.state_
    path.mkdir(parents=True, exist_ok=True)
    token = f"{state.step:010d}-{secrets.token_hex(4)}"
    arrays = {
        "word_topic": state.word_topic,
        "topic_sums": state.topic_sums,
        "alpha": state.alpha,
    }
    vocab = getattr(model, "vocabulary_", None)
    vocab_entry = None
    if isinstance(vocab, list | tuple):
        arrays["words"] = np.asarray(vocab, dtype=str)
    elif vocab is not None:
        vocab_name = f"vocabulary-{token}.parquet"
        vocab.save(path / vocab_name)
        vocab_entry = {"file": vocab_name, "sha256": _sha256(path / vocab_name)}
    arrays_name = f"arrays-{token}.npz"
    with atomic_path(path / arrays_name) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "params": _params_to_json(model.get_params()),
        "state": {
            "n_components": state.n_components,
            "n_features": state.n_features,
            "dtype": state.word_topic.dtype.name,
            "scale": state.scale,
            "eta": state.eta,
            "step": state.step,
            "n_docs_seen": state.n_docs_seen,
            "random_seed": model.random_seed_,
            "n_iter": getattr(model, "n_iter_", 0),
        },
        "arrays": {"file": arrays_name, "sha256": _sha256(path / arrays_name)},
        "vocabulary": vocab_entry,
        "extra": extra or {},
    }
    atomic_write_bytes(path / MANIFEST, json.dumps(manifest, indent=1).encode())
    keep = {arrays_name, vocab_entry["file"] if vocab_entry else None}
    for old in list(path.glob("arrays-*.npz")) + list(path.glob("vocabulary-*.parquet")):
        if old.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and check ``model.json`` of a model folder."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ModelFileError(
            f"{path} is not an svi-lda model folder: {MANIFEST} is missing "
            "(save one with OnlineLDA.save)."
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{manifest_path} is corrupt: not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{manifest_path} is not an svi-lda model file (format field).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{manifest_path} has format_version {manifest.get('format_version')!r}; this "
            f"svi-lda reads version {FORMAT_VERSION}. Upgrade svi-lda to load it."
        )
    _check_fields(manifest, _MANIFEST_FIELDS, manifest_path, "")
    return manifest


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
    "arrays": {"file": str, "sha256": str},
}


def _check_fields(obj: Any, fields: dict[str, Any], where: Path, prefix: str) -> None:
    """Check that ``obj`` has each field with the right JSON type (nested dicts recurse)."""
    for name, kind in fields.items():
        value = obj.get(name) if isinstance(obj, dict) else None
        label = f"{prefix}{name}"
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise ModelFileError(f"{where} is corrupt: section {label!r} is missing.")
            _check_fields(value, kind, where, label + ".")
            continue
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise ModelFileError(
                f"{where} is corrupt: field {label!r} should be {kind.__name__}, "
                f"found {value!r}."
            )


def _checked_file(path: Path, entry: dict[str, Any], what: str) -> Path:
    file = path / str(entry.get("file", ""))
    if not file.is_file() or file.parent.resolve() != path.resolve():
        raise ModelFileError(f"{path}: the {what} file {entry.get('file')!r} is missing.")
    if _sha256(file) != entry.get("sha256"):
        raise ModelFileError(
            f"{file} does not match the checksum in {MANIFEST}: the file is corrupt or was "
            "replaced."
        )
    return file


@dataclass
class SavedModel:
    """What a model folder holds, checked; :func:`svi_lda.load` makes the model of it."""

    params: dict[str, Any]
    state: GlobalState
    random_seed: int
    n_iter: int
    vocabulary: Any
    extra: dict[str, Any]


def read_model(path: str | os.PathLike[str]) -> SavedModel:
    """Read and check a model folder saved by :meth:`OnlineLDA.save` (never unpickles)."""
    path = Path(path)
    manifest = read_manifest(path)
    meta = manifest["state"]
    arrays_file = _checked_file(path, manifest["arrays"], "arrays")
    try:
        loaded = np.load(arrays_file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive of named arrays")
        with loaded as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{arrays_file} cannot be read as arrays: {exc}") from None
    k, v = int(meta["n_components"]), int(meta["n_features"])
    expected = {
        "word_topic": ((v, k), meta["dtype"]),
        "topic_sums": ((k,), "float64"),
        "alpha": ((k,), "float64"),
    }
    for name, (shape, dtype) in expected.items():
        arr = arrays.get(name)
        if arr is None or arr.shape != shape or arr.dtype.name != dtype:
            found = "missing" if arr is None else f"{arr.dtype.name} {arr.shape}"
            raise ModelFileError(
                f"{arrays_file}: array {name!r} should be {dtype} {shape}, found {found}."
            )
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{arrays_file}: array {name!r} has NaN or infinite values.")
    if np.any(arrays["alpha"] <= 0) or float(meta["eta"]) <= 0 or float(meta["scale"]) <= 0:
        raise ModelFileError(
            f"{arrays_file}: alpha, eta and the scale must be positive; the file is corrupt."
        )
    params = manifest["params"]
    if isinstance(params.get("doc_topic_prior"), list):
        params["doc_topic_prior"] = np.asarray(params["doc_topic_prior"])
    state = GlobalState(
        word_topic=arrays["word_topic"],
        scale=float(meta["scale"]),
        topic_sums=arrays["topic_sums"],
        alpha=arrays["alpha"],
        eta=float(meta["eta"]),
        step=int(meta["step"]),
        n_docs_seen=int(meta["n_docs_seen"]),
    )
    vocabulary = None
    if "words" in arrays:
        vocabulary = arrays["words"].tolist()
    elif manifest.get("vocabulary"):
        from svi_lda.text import Vocabulary

        vocabulary = Vocabulary.load(_checked_file(path, manifest["vocabulary"], "vocabulary"))
    return SavedModel(
        params=params,
        state=state,
        random_seed=int(meta["random_seed"]),
        n_iter=int(meta.get("n_iter", 0)),
        vocabulary=vocabulary,
        extra=manifest.get("extra", {}),
    )
