"""Checkpoints of distributed training: what they hold, writing them, resuming from them.

A checkpoint is a model folder (:func:`svi_lda.persistence.save_model`, written
atomically) whose extra metadata records the engine, the epoch, the position in that
epoch's minibatch plan and the row groups already consumed in it. With the state, the
step and the seed (which fix the plan and every initial gamma) that is enough to continue
bitwise identically.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda.corpus import ParquetCorpus, plan_minibatches
from svi_lda.estimator import OnlineLDA, load_model
from svi_lda.persistence import MANIFEST, save_model
from svi_lda.storage import Location
from svi_lda.training import start_record

logger = logging.getLogger("svi_lda.distributed.coordinator")

ENGINE = "svi_lda.distributed"
CHECKPOINT_VERSION = 1

# Parameters that change the trajectory: a checkpoint continues only with the same ones.
TRAJECTORY_PARAMS = (
    "n_components",
    "doc_topic_prior",
    "topic_word_prior",
    "learning_decay",
    "learning_offset",
    "batch_size",
    "total_samples",
    "max_doc_update_iter",
    "mean_change_tol",
    "dtype",
)


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed on this corpus with this model."""


# What a checkpoint restores besides the state, when the model file holds it (the
# records of the run loop: see svi_lda.training.report).
_RECORDS = ("history_", "figure_label_", "term_frequency_", "topic_token_counts_",
            "topic_doc_counts_")


def start(
    model: OnlineLDA, corpus: ParquetCorpus, ckpt: Location | None, resume: bool
) -> dict[str, Any]:
    """Initialise ``model`` (or restore it from the checkpoint); the ``resume`` record
    the walk starts from (:func:`svi_lda.training.walk`). ``ckpt`` is a local folder or a
    URL (:mod:`svi_lda.storage`)."""
    if resume and ckpt is not None and storage.is_file(storage.join(ckpt, MANIFEST)):
        return restore(model, corpus, ckpt)
    if resume:
        logger.warning("no checkpoint in %s: starting from step 0", ckpt)
    model._init_state(corpus.n_features)
    model.vocabulary_ = corpus.vocabulary
    return start_record()


def restore(model: OnlineLDA, corpus: ParquetCorpus, ckpt: Location) -> dict[str, Any]:
    """Load the checkpoint in ``ckpt`` into ``model``, after checking it was written by
    this engine, on this corpus's vocabulary and plan, with the same parameters.

    Returns the record of where the walk continues, with the units consumed in the
    current epoch, so that the checkpoints of the resumed run can be resumed in turn.
    """
    saved = load_model(ckpt)
    extra = saved.load_extra_
    if extra.get("engine") != ENGINE:
        raise CheckpointError(
            f"{ckpt} is a model folder but not a checkpoint of fit_distributed "
            "(no bookkeeping of consumed row groups): cannot resume from it."
        )
    sha = extra.get("vocabulary_sha256")
    if saved.n_features_in_ != corpus.n_features or sha != corpus.vocabulary.sha256:
        raise CheckpointError(
            f"the checkpoint {ckpt} was trained on a vocabulary of {saved.n_features_in_} "
            f"words (sha256 {str(sha)[:12]}...) but the corpus {corpus.path} has "
            f"{corpus.n_features} words (sha256 {corpus.vocabulary.sha256[:12]}...): "
            "resume on the corpus it was trained on, or start a new model."
        )
    differ = [
        name
        for name in TRAJECTORY_PARAMS
        if not _same(getattr(model, name), getattr(saved, name))
    ]
    if differ:
        shown = ", ".join(
            f"{n}={getattr(model, n)!r} (checkpoint: {getattr(saved, n)!r})" for n in differ
        )
        raise CheckpointError(
            f"cannot resume {ckpt} with different parameters: {shown}. Use the parameters "
            "of the run that wrote it, or start a new model."
        )
    epoch, position = int(extra["epoch"]), int(extra["position"])
    plan = plan_minibatches(
        corpus.units, int(saved.batch_size), epoch=epoch, seed=saved.random_seed_
    )
    planned = [u.key for group in plan[:position] for u in group]
    if planned != list(extra.get("consumed_units", [])):
        raise CheckpointError(
            f"the checkpoint {ckpt} consumed row groups {extra.get('consumed_units', [])[:4]}"
            f"... in epoch {epoch}, but the corpus {corpus.path} now plans {planned[:4]}...: "
            "the corpus changed since the checkpoint was written."
        )
    model.state_ = saved.state_
    model.random_seed_ = saved.random_seed_
    model.n_features_in_ = saved.n_features_in_
    model.n_iter_ = saved.n_iter_
    model.vocabulary_ = corpus.vocabulary
    model.bound_history_ = list(getattr(saved, "bound_history_", []) or [])
    for name in _RECORDS:
        if getattr(saved, name, None) is not None:
            setattr(model, name, getattr(saved, name))
    logger.info(
        "resuming %s at step %d (epoch %d, minibatch %d)", ckpt, model.state_.step, epoch,
        position,
    )
    return start_record(epoch, position, planned)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and float(a) == float(b)
    return a == b


def write_checkpoint(
    model: OnlineLDA,
    checkpoint_dir: Location,
    corpus: ParquetCorpus,
    record: dict[str, Any],
    *,
    pipelined: bool,
) -> None:
    """Write state + step + seed + the walk's ``record`` (epoch, position in its plan,
    units consumed in it), atomically."""
    epoch, position = int(record["epoch"]), int(record["position"])
    started = time.perf_counter()
    save_model(
        model,
        checkpoint_dir,
        extra={
            "engine": ENGINE,
            "checkpoint_version": CHECKPOINT_VERSION,
            "epoch": epoch,
            "position": position,
            "consumed_units": list(record["consumed_units"]),
            "corpus": storage.absolute(corpus.path),
            "vocabulary_sha256": corpus.vocabulary.sha256,
            "pipelined": pipelined,
        },
    )
    logger.info(
        "checkpoint at step %d (epoch %d, minibatch %d) written to %s in %.2f s",
        model.state_.step, epoch, position, checkpoint_dir, time.perf_counter() - started,
    )
