"""Checkpoints of sharded training: one part per shard plus the coordinator's part.

Layout of the checkpoint folder::

    sharded.json                          the manifest: the commit point
    coordinator.step<T>.npz               alpha, topic sums, records (no pickle)
    part-<s>-of-<S>.step<T>.npy           rows lo:hi of W, written by shard s's owner

Each shard's owner writes its part atomically (temporary file, then rename) under a
name carrying the step; once every part is written the coordinator writes its arrays,
then replaces the manifest atomically, then removes the previous step's files. A
checkpoint is complete only when the manifest and every part it lists are there, with
the sizes and sha256 it records: :func:`read_manifest` refuses anything else with a
:class:`~svi_lda.distributed.checkpoints.CheckpointError` naming the missing or damaged
file, and a run killed while writing leaves the previous checkpoint whole.

The folder may be a local path or an fsspec URL (:mod:`svi_lda.storage`): on an object
store each part is one object uploaded whole by its shard's owner, the manifest is written
after every part and the coordinator's arrays, so the same commit rule holds. The workers
then need the store's credentials and endpoint in their environment.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda.corpus import plan_minibatches
from svi_lda.distributed.checkpoints import TRAJECTORY_PARAMS, CheckpointError, _same
from svi_lda.distributed.sharded import part_io, shard_tasks
from svi_lda.state import GlobalState
from svi_lda.training import start_record
from svi_lda.training.report import HISTORY_KEYS

logger = logging.getLogger("svi_lda.distributed.sharded")

MANIFEST = "sharded.json"
FORMAT = "svi-lda-sharded-checkpoint"
VERSION = 1
ENGINE = "svi_lda.distributed.sharded"


def has_checkpoint(folder: storage.Location | None) -> bool:
    """Whether ``folder`` (a path or an URL) holds a sharded checkpoint's manifest."""
    return folder is not None and storage.is_file(storage.join(folder, MANIFEST))


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_npz(loc: storage.Location) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file at ``loc`` (no pickle)."""
    with np.load(io.BytesIO(storage.read_bytes(loc)), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def coordinator_state(
    n_features: int, n_components: int, dtype: str, *, scale: float, topic_sums: np.ndarray,
    alpha: np.ndarray, eta: float, step: int, n_docs_seen: int,
) -> GlobalState:
    """The coordinator's part of the state: everything but W, which the shards hold. W's
    field is a read-only view of one zero with W's shape, so sizes read right and any
    write fails loudly; a model left this way after training refuses queries
    (``OnlineLDA._check_fitted``, via ``sharded_checkpoint_``)."""
    return GlobalState(
        word_topic=np.broadcast_to(np.zeros((), dtype=dtype), (n_features, n_components)),
        scale=float(scale), topic_sums=np.array(topic_sums, dtype=np.float64),
        alpha=np.array(alpha, dtype=np.float64), eta=float(eta), step=int(step),
        n_docs_seen=int(n_docs_seen),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def write_checkpoint(run: Any, model: Any, folder: storage.Location, corpus: Any,
                     record: dict[str, Any]) -> None:
    """Write every shard's part, then the coordinator's arrays, then the manifest."""
    started = time.perf_counter()
    if isinstance(folder, Path):
        folder.mkdir(parents=True, exist_ok=True)
    state = model.state_
    step, n_shards = state.step, run.n_shards
    names = [f"part-{s:05d}-of-{n_shards:05d}.step{step}.npy" for s in range(n_shards)]
    infos = run.wait([
        run.submit(shard_tasks.write_part, run.token, s,
                   storage.absolute(storage.join(folder, names[s])),
                   shard=s, key=f"write-{step}")
        for s in range(n_shards)
    ])
    for s, info in enumerate(infos):
        if info["step"] != step:
            raise RuntimeError(f"shard {s} wrote step {info['step']}, expected {step}")
    arrays = {
        "alpha": state.alpha, "topic_sums": state.topic_sums,
        "term_frequency": np.asarray(model.term_frequency_, dtype=np.float64),
        "topic_token_counts": np.asarray(model.topic_token_counts_, dtype=np.float64),
        "topic_doc_counts": np.asarray(model.topic_doc_counts_, dtype=np.float64),
        "bound_history": np.asarray(model.bound_history_, dtype=np.float64),
        **{f"history_{k}": np.asarray(model.history_[k], dtype=np.float64)
           for k in HISTORY_KEYS},
    }
    coordinator = f"coordinator.step{step}.npz"
    coordinator_bytes = _npz_bytes(arrays)
    storage.write_bytes(storage.join(folder, coordinator), coordinator_bytes)
    params = {name: _jsonable(value) for name, value in model.get_params().items()
              if isinstance(_jsonable(value), (int, float, str, list, type(None)))}
    manifest = {
        "format": FORMAT, "version": VERSION, "engine": ENGINE,
        "step": step, "epoch": int(record["epoch"]), "position": int(record["position"]),
        "consumed_units": list(record["consumed_units"]),
        "corpus": storage.absolute(corpus.path), "vocabulary_sha256": corpus.vocabulary.sha256,
        "n_features": state.n_features, "n_components": state.n_components,
        "dtype": run.dtype, "eta": state.eta, "scale": state.scale,
        "n_docs_seen": state.n_docs_seen, "random_seed": int(model.random_seed_),
        "n_iter": int(model.n_iter_), "figure_label": model.figure_label_,
        "params": params,
        "coordinator": {"file": coordinator,
                        "sha256": hashlib.sha256(coordinator_bytes).hexdigest()},
        "parts": [
            {"file": names[s], "lo": int(run.bounds[s]), "hi": int(run.bounds[s + 1]),
             "nbytes": info["nbytes"], "sha256": info["sha256"]}
            for s, info in enumerate(infos)
        ],
    }
    storage.write_bytes(storage.join(folder, MANIFEST),
                        json.dumps(manifest, indent=1).encode())
    keep = {coordinator, *names, MANIFEST}
    for name in storage.list_names(folder):
        if name not in keep and name.startswith(("part-", "coordinator.step")):
            storage.remove(storage.join(folder, name))
    logger.info("sharded checkpoint at step %d (%d parts) written to %s in %.2f s",
                step, n_shards, folder, time.perf_counter() - started)


def read_manifest(
    folder: storage.Location, *, verify: bool = True, parts_here: bool = True
) -> dict[str, Any]:
    """The manifest of a complete checkpoint; ``CheckpointError`` for anything else.

    ``verify`` checks the files' sha256; ``parts_here=False`` leaves the parts' to the
    workers that load them (:func:`load_shards`), so this process does not read the
    whole model: it then hashes only the coordinator's file.
    """
    path = storage.join(folder, MANIFEST)
    try:
        manifest = json.loads(storage.read_bytes(path))
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable sharded checkpoint manifest ({exc})"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a sharded checkpoint manifest (format field)")
    if manifest.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: sharded checkpoint version {manifest.get('version')!r}; this svi-lda "
            f"reads version {VERSION}"
        )
    files = [manifest["coordinator"]] + list(manifest["parts"])
    covered = 0
    for part in manifest["parts"]:
        if part["lo"] != covered:
            raise CheckpointError(f"{path}: parts do not cover the vocabulary at {covered}")
        covered = part["hi"]
    if covered != manifest["n_features"]:
        raise CheckpointError(f"{path}: parts cover {covered} of {manifest['n_features']} words")
    for entry in files:
        file = storage.join(folder, entry["file"])
        if not storage.is_file(file):
            raise CheckpointError(
                f"the sharded checkpoint {folder} is incomplete: {entry['file']} is missing "
                "(a checkpoint is complete only when every part is written)"
            )
        if "nbytes" in entry and storage.file_size(file) != entry["nbytes"]:
            raise CheckpointError(
                f"{file}: {storage.file_size(file)} bytes, the manifest records "
                f"{entry['nbytes']}"
            )
        here = parts_here or entry is manifest["coordinator"]
        if verify and here and part_io.file_sha256(file) != entry["sha256"]:
            raise CheckpointError(f"{file}: contents differ from the manifest's sha256")
    return manifest


def load_shards(
    run: Any, folder: storage.Location, manifest: dict[str, Any], *, verify: bool, key: str
) -> None:
    """Load the checkpoint's W into ``run``'s shards on the workers; with ``verify``, each
    part's sha256 is checked by the worker holding most of its rows, as it loads them
    (``CheckpointError`` naming the part if one differs)."""
    parts = part_files(folder, manifest)
    checks: list[dict[str, str]] = [{} for _ in range(run.n_shards)]
    if verify:
        owners = part_io.verifier_of_parts(parts, run.bounds)
        for (path, _, _), entry, shard in zip(parts, manifest["parts"], owners, strict=True):
            checks[shard][path] = entry["sha256"]
    try:
        run.wait([
            run.submit(shard_tasks.load_shard, run.token, s, int(run.bounds[s]),
                       int(run.bounds[s + 1]), parts, int(manifest["step"]), run.dtype,
                       checks[s], shard=s, key=key)
            for s in range(run.n_shards)
        ])
    except Exception as exc:
        # the shards that did load must not stay in the workers' memory
        run.client.run(shard_tasks.drop_run, run.token, on_error="ignore")
        if isinstance(exc, part_io.PartChecksumError):
            raise CheckpointError(str(exc)) from None
        raise


def restore(
    model: Any, corpus: Any, folder: storage.Location
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Put the checkpoint's coordinator part into ``model`` after checking it matches the
    corpus and the parameters; returns (manifest, the walk's resume record). The parts'
    sha256 are left to :func:`load_shards`, which the caller runs next."""
    manifest = read_manifest(folder, parts_here=False)
    if (manifest["n_features"] != corpus.n_features
            or manifest["vocabulary_sha256"] != corpus.vocabulary.sha256):
        raise CheckpointError(
            f"the checkpoint {folder} was trained on another vocabulary "
            f"({manifest['n_features']} words) than the corpus {corpus.path} "
            f"({corpus.n_features} words): resume on the corpus it was trained on."
        )
    saved = manifest["params"]
    differ = [n for n in TRAJECTORY_PARAMS
              if n in saved and not _same(_jsonable(getattr(model, n)), saved[n])]
    if differ:
        shown = ", ".join(f"{n}={getattr(model, n)!r} (checkpoint: {saved[n]!r})"
                          for n in differ)
        raise CheckpointError(f"cannot resume {folder} with different parameters: {shown}")
    epoch, position = manifest["epoch"], manifest["position"]
    plan = plan_minibatches(corpus.units, int(model.batch_size), epoch=epoch,
                            seed=manifest["random_seed"])
    planned = [u.key for group in plan[:position] for u in group]
    if planned != manifest["consumed_units"]:
        raise CheckpointError(
            f"the checkpoint {folder} does not match the corpus {corpus.path}'s plan: the "
            "corpus changed since the checkpoint was written."
        )
    a = read_npz(storage.join(folder, manifest["coordinator"]["file"]))
    model.random_seed_ = int(manifest["random_seed"])
    model.state_ = coordinator_state(
        manifest["n_features"], manifest["n_components"], manifest["dtype"],
        scale=manifest["scale"], topic_sums=a["topic_sums"], alpha=a["alpha"],
        eta=manifest["eta"], step=manifest["step"], n_docs_seen=manifest["n_docs_seen"],
    )
    _restore_records(model, manifest, a)
    model.vocabulary_ = corpus.vocabulary
    logger.info("resuming sharded checkpoint %s at step %d (epoch %d, minibatch %d)",
                folder, manifest["step"], epoch, position)
    return manifest, start_record(epoch, position, planned)


def _restore_records(model: Any, manifest: dict[str, Any], a: dict[str, np.ndarray]) -> None:
    """The model's sizes, records and per-topic statistics from a sharded checkpoint."""
    model.n_features_in_ = manifest["n_features"]
    model.n_iter_ = manifest["n_iter"]
    model.figure_label_ = manifest["figure_label"]
    model.history_ = {k: a[f"history_{k}"].tolist() for k in HISTORY_KEYS}
    model.bound_history_ = a["bound_history"].tolist()
    model.term_frequency_ = a["term_frequency"].copy()
    model.topic_token_counts_ = a["topic_token_counts"].copy()
    model.topic_doc_counts_ = a["topic_doc_counts"].copy()
    model._topics_assigned = False


def part_files(
    folder: storage.Location, manifest: dict[str, Any]
) -> list[tuple[str, int, int]]:
    """(absolute path or URL, lo, hi) of every part, for :func:`shard_tasks.load_shard`."""
    return [(storage.absolute(storage.join(folder, p["file"])), p["lo"], p["hi"])
            for p in manifest["parts"]]


def estimator_from_manifest(manifest: dict[str, Any]) -> Any:
    """An ``OnlineLDA`` with the checkpoint's parameters and random seed (no state).

    ``random_state`` is left at its default: the manifest keeps only a JSON form of it,
    and the seed drawn from it (``random_seed_``) is what the model's results use."""
    from svi_lda.estimator import OnlineLDA

    params = {k: v for k, v in manifest["params"].items() if k != "random_state"}
    model = OnlineLDA(**params)
    model.random_seed_ = int(manifest["random_seed"])
    return model


def load_sharded_model(folder: str | Path) -> Any:
    """Assemble a sharded checkpoint (a folder or an fsspec URL) into an ``OnlineLDA`` (W
    in this process: only for a model that fits in memory; see
    :class:`~svi_lda.distributed.sharded.ShardedModel` for one that does not)."""
    folder = storage.location(folder)
    manifest = read_manifest(folder)
    model = estimator_from_manifest(manifest)
    model.random_state = manifest["params"].get("random_state")
    a = read_npz(storage.join(folder, manifest["coordinator"]["file"]))
    word_topic = np.concatenate([
        part_io.read_rows(path, 0, hi - lo, manifest["dtype"])
        for path, lo, hi in part_files(folder, manifest)
    ])
    model.state_ = GlobalState(
        word_topic=word_topic, scale=float(manifest["scale"]),
        topic_sums=a["topic_sums"].copy(), alpha=a["alpha"].copy(), eta=float(manifest["eta"]),
        step=int(manifest["step"]), n_docs_seen=int(manifest["n_docs_seen"]),
    )
    _restore_records(model, manifest, a)
    vocabulary = corpus_vocabulary(manifest)
    if vocabulary is not None:  # raw text and top words as words, as ShardedModel has them
        model.vocabulary_ = vocabulary
    return model


def corpus_vocabulary(manifest: dict[str, Any]) -> Any:
    """The training corpus's vocabulary, or None when its folder cannot be read here."""
    from svi_lda.corpus import CorpusError, ParquetCorpus

    try:
        vocabulary = ParquetCorpus(manifest["corpus"]).vocabulary
    except (CorpusError, OSError, ValueError) as exc:
        logger.warning("no vocabulary for the sharded model (%s): top words as ids", exc)
        return None
    if vocabulary.sha256 != manifest["vocabulary_sha256"]:
        logger.warning("the corpus %s changed since training: top words as ids",
                    manifest["corpus"])
        return None
    return vocabulary
