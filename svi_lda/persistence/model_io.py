"""Saving, loading (fully validated) and refreshing model folders.

A model folder holds

- ``model.json``: format name and version, constructor parameters, scalar state, the
  names and SHA-256 of the files below, and a SHA-256 of its own content. Written last,
  by atomic rename, so a reader sees either the old model or the new one, never a mix.
  On an object store (the folder given as a URL, :mod:`svi_lda.storage`) there is no
  rename: the files below are uploaded first and ``model.json`` last, one whole object,
  so the guarantee is the same; a folder without it, or with a part that does not match
  its checksum, is refused.
- ``arrays-<generation>-<id>.npz``: the numeric state (W, topic sums, alpha; optional
  fitted attributes; the words of a plain list vocabulary).
- ``vocabulary-<generation>-<id>.parquet`` (optional): the
  :class:`~svi_lda.text.Vocabulary` with its tokenizer settings.

The files of the previous generation are kept until the next save has committed, so a
reader that has just read ``model.json`` can still open what it names while a writer
saves again; older generations are deleted. A reader that loses that race anyway (two
saves between reading the manifest and opening the arrays) reads the new manifest and
tries again.

Loading trusts nothing: checksums guard against accidents, and the content itself is
checked (shapes, dtypes, finiteness, positivity of lambda, consistency of the topic sums,
parameters) so that a crafted file raises :class:`ModelFileError` instead of loading a
model that fails, or computes nonsense, later.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda._atomic import atomic_path, atomic_write_bytes, remove_stale_temporaries
from svi_lda.persistence.arrays import read_arrays, write_arrays
from svi_lda.persistence.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    ModelFileError,
    content_checksum,
    parse_manifest,
    read_manifest_bytes,
    sha256_bytes,
)
from svi_lda.persistence.validate import (
    HISTORY_KEYS,
    array_specs,
    build_estimator,
    check_arrays,
    check_state_fields,
    load_vocabulary,
)
from svi_lda.state import GlobalState
from svi_lda.storage import Location

_LOAD_ATTEMPTS = 10


class _FileVanished(ModelFileError):
    """A file named by model.json is gone (a concurrent save may have replaced it)."""


# -- saving ------------------------------------------------------------------------------------
def _params_to_json(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in params.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.random.Generator | np.random.RandomState):
            value = None  # resolved into the saved seed
        elif isinstance(value, np.integer | np.floating):
            value = value.item()
        out[name] = value
    return out


def _float_vector(value: Any, name: str, length: int | None, nonnegative: bool) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or (length is not None and arr.shape != (length,)):
        want = "a 1-D array" if length is None else f"shape ({length},)"
        raise ValueError(f"cannot save the model: {name} should have {want}; got {arr.shape}")
    if nonnegative and not (np.all(np.isfinite(arr)) and np.all(arr >= 0)):
        raise ValueError(f"cannot save the model: {name} must be finite and >= 0")
    return arr


def _optional_arrays(model: Any, k: int, v: int) -> dict[str, np.ndarray]:
    """The optional fitted attributes stored as arrays (validated: a saved file loads)."""
    out: dict[str, np.ndarray] = {}
    history = getattr(model, "bound_history_", None)
    if history is not None:
        out["bound_history"] = _float_vector(history, "bound_history_", None, False)
    for name, length in (
        ("term_frequency_", v), ("topic_token_counts_", k), ("topic_doc_counts_", k)
    ):
        value = getattr(model, name, None)
        if value is not None:
            out[name.rstrip("_")] = _float_vector(value, name, length, True)
    runs = getattr(model, "history_", None)
    if runs is not None:
        if not isinstance(runs, dict) or set(runs) != set(HISTORY_KEYS):
            raise ValueError(
                f"cannot save the model: history_ must be a dict with keys {HISTORY_KEYS}"
            )
        columns = {key: _float_vector(runs[key], f"history_[{key!r}]", None, False)
                   for key in HISTORY_KEYS}
        if len({len(c) for c in columns.values()}) > 1:
            raise ValueError("cannot save the model: the lists of history_ differ in length")
        out.update({f"history_{key}": col for key, col in columns.items()})
    return out


def _previous_files(path: Location) -> tuple[int, set[str]]:
    """Generation and file names of the model now in ``path`` (nothing if unreadable)."""
    try:
        old = json.loads(storage.read_bytes(storage.join(path, MANIFEST)))
        names = {old["arrays"]["file"]}
        if old.get("vocabulary"):
            names.add(old["vocabulary"]["file"])
        generation = old.get("generation", 0)
        return (generation if type(generation) is int else 0), {str(n) for n in names}
    except (OSError, ValueError, KeyError, TypeError):
        return 0, set()


def save_model(
    model: Any, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None
) -> None:
    """Save a fitted :class:`~svi_lda.OnlineLDA` to folder ``path`` atomically.

    ``path`` may be an fsspec URL (``s3://bucket/model``): the arrays and vocabulary
    files are uploaded first and ``model.json``, which names them with their SHA-256,
    last, so a reader sees the old model or the new one (see :mod:`svi_lda.storage`).

    ``extra`` is stored under ``"extra"`` in ``model.json`` (engines keep their own
    bookkeeping there, such as the units already consumed).

    Raises
    ------
    ValueError
        If the state is not finite (float32 overflow: counts too large for the dtype) or
        an optional fitted attribute is malformed; nothing is written then.
    """
    model._check_fitted()
    path = storage.location(path)
    state: GlobalState = model.state_
    k, v = state.n_components, state.n_features
    if not (
        np.all(np.isfinite(state.topic_sums))
        and np.all(np.isfinite(state.alpha))
        and math.isfinite(state.scale)
        and np.all(np.isfinite(state.word_topic))
    ):
        raise ValueError(
            f"cannot save the model: its state has NaN or infinite values (dtype "
            f"{state.word_topic.dtype.name}). Counts this large overflow the model's "
            "statistics; use dtype='float64' or smaller counts."
        )
    if model.n_components != k:
        raise ValueError(
            f"cannot save the model: n_components={model.n_components!r} but its state has "
            f"{k} topics (set_params after fitting?)"
        )
    arrays = {"word_topic": state.word_topic, "topic_sums": state.topic_sums,
              "alpha": state.alpha, **_optional_arrays(model, k, v)}
    attributes: dict[str, Any] = {}
    label = getattr(model, "figure_label_", None)
    if label is not None:
        if not isinstance(label, str):
            raise ValueError("cannot save the model: figure_label_ must be a str")
        attributes["figure_label_"] = label

    if isinstance(path, str):
        with tempfile.TemporaryDirectory(prefix="svi-lda-save-") as staging:
            _save_files(model, path, Path(staging), arrays, attributes, extra)
        return
    path.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    _save_files(model, path, path, arrays, attributes, extra)


def _save_files(
    model: Any,
    path: Location,
    staging: Path,
    arrays: dict[str, np.ndarray],
    attributes: dict[str, Any],
    extra: dict[str, Any] | None,
) -> None:
    """Write the files of a new generation into ``staging`` (``path`` itself when local),
    then make them the model in ``path``: the manifest last, the files of generations
    older than the previous one deleted."""
    state: GlobalState = model.state_
    k, v = state.n_components, state.n_features
    generation, previous = _previous_files(path)
    generation += 1
    token = f"{generation:08d}-{secrets.token_hex(4)}"
    vocab = getattr(model, "vocabulary_", None)
    vocab_entry = None
    if isinstance(vocab, list | tuple):
        arrays["words"] = np.asarray(vocab, dtype=str)
    elif vocab is not None:
        vocab_name = f"vocabulary-{token}.parquet"
        vocab.save(staging / vocab_name)
        vocab_entry = {"file": vocab_name, "sha256": _file_sha256(staging / vocab_name)}
    arrays_name = f"arrays-{token}.npz"
    with atomic_path(staging / arrays_name) as tmp, open(tmp, "wb") as fh:
        write_arrays(fh, arrays)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generation": generation,
        "params": _params_to_json(model.get_params()),
        "state": {
            "n_components": k,
            "n_features": v,
            "dtype": state.word_topic.dtype.name,
            "scale": state.scale,
            "eta": state.eta,
            "step": state.step,
            "n_docs_seen": state.n_docs_seen,
            "random_seed": model.random_seed_,
            "n_iter": int(getattr(model, "n_iter_", 0)),
        },
        "arrays": {"file": arrays_name, "sha256": _file_sha256(staging / arrays_name)},
        "vocabulary": vocab_entry,
        "attributes": attributes,
        "extra": extra or {},
    }
    manifest["content_sha256"] = content_checksum(manifest)
    # Keep this generation and the previous one (a reader may be opening it right now).
    keep = {arrays_name, vocab_entry["file"] if vocab_entry else None} | previous
    manifest_bytes = json.dumps(manifest, indent=1).encode()
    if isinstance(path, str):
        # No rename on an object store: the parts go up first, the manifest naming them
        # (with their checksums) last; each object appears whole or not at all.
        (staging / MANIFEST).write_bytes(manifest_bytes)
        storage.publish_folder(staging, path, last=MANIFEST, keep=_not_model_files(path, keep))
        return
    atomic_write_bytes(path / MANIFEST, manifest_bytes)
    for old in list(path.glob("arrays-*.npz")) + list(path.glob("vocabulary-*.parquet")):
        if old.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def _is_model_file(name: str) -> bool:
    return (name.startswith("arrays-") and name.endswith(".npz")) or (
        name.startswith("vocabulary-") and name.endswith(".parquet")
    )


def _not_model_files(path: str, keep: set[str | None]) -> set[str]:
    """What a remote save leaves in ``path``: the previous generation (``keep``) and
    files that are not a model's (a log, a checkpoint folder's objects are not listed)."""
    return {n for n in storage.list_names(path) if not _is_model_file(n)} | {
        n for n in keep if n
    }


def _file_sha256(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


# -- loading -----------------------------------------------------------------------------------
def _read_named_file(path: Location, entry: dict[str, Any], what: str) -> tuple[Location, bytes]:
    """Bytes of a file named by the manifest, inside the folder, matching its checksum."""
    name = entry["file"]
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ModelFileError(f"{path}: the {what} file name {name!r} is not a plain file name.")
    file = storage.join(path, name)
    try:
        if isinstance(file, Path) and file.resolve().parent != Path(path).resolve():
            raise ModelFileError(
                f"{path}: the {what} file {name!r} is a link to outside the model folder."
            )
        data = storage.read_bytes(file)
    except FileNotFoundError:
        raise _FileVanished(f"{path}: the {what} file {name!r} is missing.") from None
    except OSError as exc:
        raise ModelFileError(f"{file} cannot be read: {exc}") from None
    if sha256_bytes(data) != entry["sha256"]:
        raise ModelFileError(
            f"{file} does not match the checksum in {MANIFEST}: the file is corrupt or was "
            "replaced."
        )
    return file, data


def _load_once(path: Location, manifest_bytes: bytes, estimator: type) -> Any:
    where = storage.join(path, MANIFEST)
    manifest = parse_manifest(manifest_bytes, where)
    meta = manifest["state"]
    check_state_fields(meta, where)
    # The arrays first: their sizes, checked against the file's, bound K and V before the
    # parameters (alpha has K entries) are acted on.
    arrays_file, data = _read_named_file(path, manifest["arrays"], "arrays")
    arrays = read_arrays(data, array_specs(meta), arrays_file)
    del data
    check_arrays(meta, arrays, arrays_file)
    model = build_estimator(estimator, manifest["params"], meta, where)
    vocabulary = None
    if "words" in arrays:
        vocabulary = arrays["words"].tolist()
    elif manifest.get("vocabulary"):
        vocab_file, vocab_data = _read_named_file(path, manifest["vocabulary"], "vocabulary")
        vocabulary = load_vocabulary(vocab_file, vocab_data, meta["n_features"])
    attributes = manifest.get("attributes", {})
    label = attributes.get("figure_label_")
    if label is not None and not isinstance(label, str):
        raise ModelFileError(f"{where}: attribute figure_label_ is not a string.")

    model.state_ = GlobalState(
        word_topic=arrays["word_topic"],
        scale=float(meta["scale"]),
        topic_sums=arrays["topic_sums"],
        alpha=arrays["alpha"],
        eta=float(meta["eta"]),
        step=int(meta["step"]),
        n_docs_seen=int(meta["n_docs_seen"]),
    )
    model.random_seed_ = int(meta["random_seed"])
    model.n_features_in_ = int(meta["n_features"])
    model.n_iter_ = int(meta.get("n_iter", 0))
    model.bound_history_ = arrays["bound_history"].tolist() if "bound_history" in arrays else []
    for name in ("term_frequency", "topic_token_counts", "topic_doc_counts"):
        if name in arrays:
            setattr(model, name + "_", arrays[name])
    if "history_step" in arrays:
        model.history_ = {key: arrays[f"history_{key}"].tolist() for key in HISTORY_KEYS}
    if label is not None:
        model.figure_label_ = label
    model.vocabulary_ = vocabulary
    model.load_extra_ = manifest.get("extra", {})
    model._model_source = (path, sha256_bytes(manifest_bytes))
    return model


def load_model(path: str | os.PathLike[str], *, estimator: type) -> Any:
    """Load a model saved by :meth:`OnlineLDA.save` (never unpickles anything).

    Every file is checked against its SHA-256 and the content itself is validated, so a
    corrupt, truncated or crafted folder raises :class:`ModelFileError` (naming the
    file) rather than loading or failing later. A save running at the same time is
    safe: the model loaded is the old one or the new one, complete. ``estimator`` is the
    class to build (``svi_lda.load`` passes ``OnlineLDA``).

    Raises
    ------
    ModelFileError
        The folder is not a valid model of a readable format version.
    """
    path = storage.location(path)
    manifest_bytes = read_manifest_bytes(path)
    for _ in range(_LOAD_ATTEMPTS):
        try:
            return _load_once(path, manifest_bytes, estimator)
        except _FileVanished:
            again = read_manifest_bytes(path)
            if again == manifest_bytes:
                raise
            manifest_bytes = again  # a save replaced the model meanwhile: read the new one
    return _load_once(path, manifest_bytes, estimator)


def refresh_model(model: Any) -> bool:
    """Reload ``model`` from the folder it was loaded from if a newer save is there.

    Returns True when the model changed (its parameters, state and attributes are
    replaced by the folder's; changes made in memory since loading are discarded), False
    when the folder still holds the model that was loaded.

    Raises
    ------
    ValueError
        If the model was not loaded from a folder.
    ModelFileError
        If the folder now holds an invalid model (the model is then left unchanged).
    """
    source = getattr(model, "_model_source", None)
    if source is None:
        raise ValueError("refresh needs a model loaded with svi_lda.load(folder).")
    path, digest = source
    if sha256_bytes(read_manifest_bytes(path)) == digest:
        return False
    fresh = load_model(path, estimator=type(model))
    model.__dict__.clear()
    model.__dict__.update(fresh.__dict__)
    return True
