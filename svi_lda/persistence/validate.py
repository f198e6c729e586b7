"""Content checks of a model folder: what a crafted file with valid checksums could
still get wrong (shapes, dtypes, finiteness, positivity, consistency, parameters)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda.persistence.arrays import ArraySpec
from svi_lda.persistence.manifest import ModelFileError

HISTORY_KEYS = ("step", "n_docs_seen", "figure", "rho", "n_features", "seconds")
# Relative tolerance of topic_sums against word_topic.sum(axis=0): topic_sums is summed in
# float64 from the increments while W rounds each update to its dtype.
TOPIC_SUM_RTOL = {"float32": 1e-2, "float64": 1e-6}
# Decompressed size a vocabulary file may declare per word (id, df, cf and the word).
VOCABULARY_BYTES_PER_WORD = 4096


def array_specs(meta: dict[str, Any]) -> dict[str, ArraySpec]:
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


def check_state_fields(meta: dict[str, Any], where: Path) -> None:
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


def check_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: Path) -> None:
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


def build_estimator(estimator: type, params: Any, meta: dict[str, Any], where: Path) -> Any:
    """An ``estimator`` (OnlineLDA) from saved parameters; every problem becomes a
    ModelFileError. The class is passed in, so persistence never imports the estimator."""
    known = [p for p in inspect.signature(estimator.__init__).parameters if p != "self"]
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
        model = estimator(**params)
        model._check_params()
        model._initial_alpha()
    except Exception as exc:  # noqa: BLE001 - any failure of crafted parameters is a bad file
        raise ModelFileError(f"{where}: invalid parameters: {exc}") from None
    return model


def load_vocabulary(file: Path, data: bytes, n_features: int) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from svi_lda.text import Vocabulary

    try:
        meta = pq.read_metadata(pa.BufferReader(data))
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception as exc:  # noqa: BLE001 - whatever a crafted file triggers
        raise ModelFileError(f"{file} is not a valid vocabulary: {exc}") from None
    # Checked before decompressing: a small crafted file must not expand without bound.
    if meta.num_rows != n_features or declared > VOCABULARY_BYTES_PER_WORD * n_features + 2**20:
        raise ModelFileError(
            f"{file} declares {meta.num_rows} words ({declared} bytes) but the model has "
            f"{n_features}; the file is corrupt or was replaced."
        )
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
