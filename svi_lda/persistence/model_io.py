"""Saving, loading (fully validated) and refreshing model folders.

A model folder holds

- ``model.json``: format name and version, constructor parameters, scalar state, the
  names and SHA-256 of the files below, and a SHA-256 of its own content. Written last,
  by atomic rename, so a reader sees either the old model or the new one, never a mix.
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
import inspect
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda._atomic import atomic_path, atomic_write_bytes, remove_stale_temporaries
from svi_lda.persistence.arrays import ArraySpec, read_arrays, write_arrays
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
from svi_lda.state import GlobalState

HISTORY_KEYS = ("step", "n_docs_seen", "figure", "rho", "n_features", "seconds")
# Relative tolerance of topic_sums against word_topic.sum(axis=0): topic_sums is summed in
# float64 from the increments while W rounds each update to its dtype.
TOPIC_SUM_RTOL = {"float32": 1e-2, "float64": 1e-6}
_LOAD_ATTEMPTS = 10


class _FileVanished(ModelFileError):
    """A file named by model.json is gone (a concurrent save may have replaced it)."""


# -- saving ------------------------------------------------------------------------------------
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


def _previous_files(path: Path) -> tuple[int, set[str]]:
    """Generation and file names of the model now in ``path`` (nothing if unreadable)."""
    try:
        old = json.loads((path / MANIFEST).read_bytes())
        names = {old["arrays"]["file"]}
        if old.get("vocabulary"):
            names.add(old["vocabulary"]["file"])
        generation = old.get("generation", 0)
        return (generation if type(generation) is int else 0), {str(n) for n in names}
    except (OSError, ValueError, KeyError, TypeError):
        return 0, set()


def save_model(model: Any, path: Path, *, extra: dict[str, Any] | None = None) -> None:
    """Save a fitted :class:`~svi_lda.OnlineLDA` to folder ``path`` atomically.

    ``extra`` is stored under ``"extra"`` in ``model.json`` (engines keep their own
    bookkeeping there, such as the units already consumed).

    Raises
    ------
    ValueError
        If the state is not finite (float32 overflow: counts too large for the dtype) or
        an optional fitted attribute is malformed; nothing is written then.
    """
    model._check_fitted()
    path = Path(path)
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

    path.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    generation, previous = _previous_files(path)
    generation += 1
    token = f"{generation:08d}-{secrets.token_hex(4)}"
    vocab = getattr(model, "vocabulary_", None)
    vocab_entry = None
    if isinstance(vocab, list | tuple):
        arrays["words"] = np.asarray(vocab, dtype=str)
    elif vocab is not None:
        vocab_name = f"vocabulary-{token}.parquet"
        vocab.save(path / vocab_name)
        vocab_entry = {"file": vocab_name, "sha256": _file_sha256(path / vocab_name)}
    arrays_name = f"arrays-{token}.npz"
    with atomic_path(path / arrays_name) as tmp, open(tmp, "wb") as fh:
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
        "arrays": {"file": arrays_name, "sha256": _file_sha256(path / arrays_name)},
        "vocabulary": vocab_entry,
        "attributes": attributes,
        "extra": extra or {},
    }
    manifest["content_sha256"] = content_checksum(manifest)
    atomic_write_bytes(path / MANIFEST, json.dumps(manifest, indent=1).encode())
    # Keep this generation and the previous one (a reader may be opening it right now).
    keep = {arrays_name, vocab_entry["file"] if vocab_entry else None} | previous
    for old in list(path.glob("arrays-*.npz")) + list(path.glob("vocabulary-*.parquet")):
        if old.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def _file_sha256(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


# -- loading -----------------------------------------------------------------------------------
def _read_named_file(path: Path, entry: dict[str, Any], what: str) -> tuple[Path, bytes]:
    """Bytes of a file named by the manifest, inside the folder, matching its checksum."""
    name = entry["file"]
    file = path / name
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ModelFileError(f"{path}: the {what} file name {name!r} is not a plain file name.")
    try:
        if file.resolve().parent != path.resolve():
            raise ModelFileError(
                f"{path}: the {what} file {name!r} is a link to outside the model folder."
            )
        with open(file, "rb") as fh:
            data = fh.read()
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


def _array_specs(meta: dict[str, Any]) -> dict[str, ArraySpec]:
    k, v, dtype = meta["n_components"], meta["n_features"], meta["dtype"]
    vec = ("float64",)
    specs = {
        "word_topic": ArraySpec((v, k), (dtype,)),
        "topic_sums": ArraySpec((k,), vec),
        "alpha": ArraySpec((k,), vec),
        "words": ArraySpec((v,), ("str",), required=False),
        "bound_history": ArraySpec((None,), vec, required=False),
        "term_frequency": ArraySpec((v,), vec, required=False),
        "topic_token_counts": ArraySpec((k,), vec, required=False),
        "topic_doc_counts": ArraySpec((k,), vec, required=False),
    }
    for key in HISTORY_KEYS:
        specs[f"history_{key}"] = ArraySpec((None,), vec, required=False)
    return specs


def _check_state_fields(meta: dict[str, Any], where: Path) -> None:
    bad = None
    if meta["dtype"] not in ("float32", "float64"):
        bad = f"dtype {meta['dtype']!r} (float32 or float64)"
    elif meta["n_components"] < 1 or meta["n_features"] < 1:
        bad = "n_components and n_features (>= 1)"
    elif not (math.isfinite(meta["eta"]) and meta["eta"] > 0):
        bad = f"eta {meta['eta']!r} (finite, > 0)"
    elif not (math.isfinite(meta["scale"]) and meta["scale"] > 0):
        bad = f"scale {meta['scale']!r} (finite, > 0)"
    elif meta["step"] < 0 or meta["n_docs_seen"] < 0:
        bad = "step and n_docs_seen (>= 0)"
    elif not 0 <= meta["random_seed"] < 2**64:
        bad = f"random_seed {meta['random_seed']!r} (0 <= seed < 2**64)"
    elif type(meta.get("n_iter", 0)) is not int or meta.get("n_iter", 0) < 0:
        bad = f"n_iter {meta.get('n_iter')!r} (an int >= 0)"
    if bad:
        raise ModelFileError(f"{where} is corrupt: invalid state field {bad}.")


def _check_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: Path) -> None:
    """Content checks: what a crafted file with matching checksums could still get wrong."""
    for name, arr in arrays.items():
        if name in ("words", "bound_history") or name.startswith("history_"):
            continue
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{where}: array {name!r} has NaN or infinite values.")
    if np.any(arrays["alpha"] <= 0):
        raise ModelFileError(f"{where}: alpha must be positive; the file is corrupt.")
    for name in ("term_frequency", "topic_token_counts", "topic_doc_counts"):
        if name in arrays and np.any(arrays[name] < 0):
            raise ModelFileError(f"{where}: array {name!r} must be >= 0; the file is corrupt.")
    word_topic = arrays["word_topic"]
    eta, scale = float(meta["eta"]), float(meta["scale"])
    smallest = eta + scale * float(word_topic.min())
    if not smallest > 0:
        raise ModelFileError(
            f"{where}: lambda = eta + scale * word_topic must be positive everywhere; its "
            f"smallest value is {smallest:g}. The file is corrupt."
        )
    sums = word_topic.sum(axis=0, dtype=np.float64)
    size = np.abs(word_topic).sum(axis=0, dtype=np.float64)
    rtol = TOPIC_SUM_RTOL[word_topic.dtype.name]
    off = np.abs(arrays["topic_sums"] - sums) > rtol * size + np.finfo(np.float64).tiny
    if off.any():
        topic = int(np.flatnonzero(off)[0])
        raise ModelFileError(
            f"{where}: topic_sums[{topic}] = {arrays['topic_sums'][topic]:g} but word_topic's "
            f"column sums to {sums[topic]:g} (allowed relative difference {rtol:g}); the file "
            "is corrupt."
        )
    lengths = {len(arrays[f"history_{key}"]) for key in HISTORY_KEYS if f"history_{key}" in arrays}
    present = sum(f"history_{key}" in arrays for key in HISTORY_KEYS)
    if present not in (0, len(HISTORY_KEYS)) or len(lengths) > 1:
        raise ModelFileError(f"{where}: the history_ arrays are incomplete or differ in length.")


def _build_estimator(params: Any, meta: dict[str, Any], where: Path) -> Any:
    """An OnlineLDA from saved parameters; every problem becomes a ModelFileError."""
    from svi_lda.estimator import OnlineLDA

    known = [p for p in inspect.signature(OnlineLDA.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ModelFileError(f"{where}: unknown parameter(s) {unknown[:5]}; the file is corrupt.")
    n_components = params.get("n_components")
    if type(n_components) is not int or n_components != meta["n_components"]:
        raise ModelFileError(
            f"{where}: parameter n_components={n_components!r:.40} disagrees with the arrays "
            f"({meta['n_components']} topics); the file is corrupt."
        )
    rs = params.get("random_state")
    if rs is not None and type(rs) is not int:
        raise ModelFileError(f"{where}: parameter random_state={rs!r:.40} is not an int.")
    params = dict(params)
    if isinstance(params.get("doc_topic_prior"), list):
        try:
            params["doc_topic_prior"] = np.asarray(params["doc_topic_prior"], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{where}: parameter doc_topic_prior is invalid: {exc}") from None
    try:
        model = OnlineLDA(**params)
        model._check_params()
        model._initial_alpha()
    except Exception as exc:  # noqa: BLE001 - any failure of crafted parameters is a bad file
        raise ModelFileError(f"{where}: invalid parameters: {exc}") from None
    return model


def _load_vocabulary(file: Path, data: bytes, n_features: int) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from svi_lda.text import Vocabulary

    try:
        vocab = Vocabulary.from_table(pq.read_table(pa.BufferReader(data)), source=str(file))
    except Exception as exc:  # noqa: BLE001 - whatever a crafted file triggers
        raise ModelFileError(f"{file} is not a valid vocabulary: {exc}") from None
    if len(vocab) != n_features:
        raise ModelFileError(
            f"{file} has {len(vocab)} words but the model has {n_features}; the file is "
            "corrupt or was replaced."
        )
    return vocab


def _load_once(path: Path, manifest_bytes: bytes) -> Any:
    where = path / MANIFEST
    manifest = parse_manifest(manifest_bytes, where)
    meta = manifest["state"]
    _check_state_fields(meta, where)
    model = _build_estimator(manifest["params"], meta, where)
    arrays_file, data = _read_named_file(path, manifest["arrays"], "arrays")
    arrays = read_arrays(data, _array_specs(meta), arrays_file)
    del data
    _check_arrays(meta, arrays, arrays_file)
    vocabulary = None
    if "words" in arrays:
        vocabulary = arrays["words"].tolist()
    elif manifest.get("vocabulary"):
        vocab_file, vocab_data = _read_named_file(path, manifest["vocabulary"], "vocabulary")
        vocabulary = _load_vocabulary(vocab_file, vocab_data, meta["n_features"])
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


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by :meth:`OnlineLDA.save` (never unpickles anything).

    Every file is checked against its SHA-256 and the content itself is validated, so a
    corrupt, truncated or crafted folder raises :class:`ModelFileError` (naming the
    file) rather than loading or failing later. A save running at the same time is
    safe: the model loaded is the old one or the new one, complete.

    Raises
    ------
    ModelFileError
        The folder is not a valid model of a readable format version.
    """
    path = Path(path)
    manifest_bytes = read_manifest_bytes(path)
    for _ in range(_LOAD_ATTEMPTS):
        try:
            return _load_once(path, manifest_bytes)
        except _FileVanished:
            again = read_manifest_bytes(path)
            if again == manifest_bytes:
                raise
            manifest_bytes = again  # a save replaced the model meanwhile: read the new one
    return _load_once(path, manifest_bytes)


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
    fresh = load_model(path)
    model.__dict__.clear()
    model.__dict__.update(fresh.__dict__)
    return True
