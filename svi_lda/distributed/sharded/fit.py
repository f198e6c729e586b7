"""Sharded training: :func:`fit_sharded`, the sharded mode of ``fit_distributed``.

W (K x V) is split by vocabulary over the workers (:mod:`.layout`); the coordinator holds
alpha, the lazy scale, the K topic sums, the schedule and the records (O(K + V) floats,
never K x V). Works for ``learning_method="online"`` (exact SVI); other methods are
refused. Results are bitwise those of ``OnlineLDA.fit`` on the same corpus for any number
of workers and shards.

A worker killed during the run loses its shards. They are **recovered from the last
checkpoint plus the steps since**: the run drops the remaining shards, reloads every shard
from the last complete checkpoint (or draws the start again if none was written yet) on
the workers still alive, and replays the steps since, which are deterministic, so the
result is bitwise the uninterrupted one. Callbacks and ``on_step`` see the replayed steps
again.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda.distributed.checkpoints import CheckpointError
from svi_lda.distributed.sharded import checkpoint as sharded_checkpoint
from svi_lda.distributed.sharded import shard_tasks
from svi_lda.distributed.sharded.engine import (
    ShardedEngine,
    ShardedRun,
    ShardLost,
    alive_workers,
)
from svi_lda.distributed.sharded.layout import assign_shards, shard_bounds
from svi_lda.methods import default_total_samples, get_method
from svi_lda.state import GlobalState
from svi_lda.step import StepMetrics
from svi_lda.training import Checkpointing, StepReport, run_loop, walk
from svi_lda.training.report import init_records
from svi_lda.training.sources import CorpusSource

logger = logging.getLogger("svi_lda.distributed.sharded")

SHARDED_ABOVE_BYTES = 2 * 2**30
"""``fit_distributed(sharded=None)`` shards a model whose W (K x V) is larger than this."""

GATHER_LIMIT_BYTES = 2 * 2**30
"""At the end, W is assembled on the coordinator (``model.state_``) only up to this size."""

MAX_RECOVERIES = 5

SHARDED_METHODS = ("online",)


def model_bytes(model: Any, n_features: int) -> int:
    """Bytes of W for ``model`` over ``n_features`` words."""
    return int(model.n_components) * int(n_features) * np.dtype(model.dtype).itemsize


def choose_sharded(
    sharded: bool | None, model: Any, n_features: int,
    checkpoint_dir: storage.Location | None,
    resume: bool,
) -> bool:
    """Resolve ``fit_distributed``'s ``sharded`` argument (None: automatic).

    Automatic: sharded when resuming a sharded checkpoint, or when W would be larger
    than :data:`SHARDED_ABOVE_BYTES` and the method can be sharded.
    """
    has_sharded = resume and sharded_checkpoint.has_checkpoint(checkpoint_dir)
    if sharded is None:
        return has_sharded or (
            model.learning_method in SHARDED_METHODS
            and model_bytes(model, n_features) > SHARDED_ABOVE_BYTES
        )
    if not sharded and has_sharded:
        raise CheckpointError(
            f"{checkpoint_dir} holds a sharded checkpoint: resume it with sharded=True "
            "(--sharded)"
        )
    return bool(sharded)


class ShardedOnline:
    """``learning_method="online"`` whose global update is made by the shards' owners."""

    def __init__(self, engine: ShardedEngine) -> None:
        base = get_method("online")
        self.engine = engine
        for name in ("name", "figure_label", "grouping", "seeds_topics",
                     "keeps_local_state", "corpus_size_unit", "cumulative_statistics"):
            setattr(self, name, getattr(base, name))

    def global_update(self, state: GlobalState, stats: Any, context: Any
                      ) -> tuple[StepMetrics, float]:
        metrics = self.engine.apply_update(stats, context)
        return metrics, metrics.bound_per_token


def _new_run(client: Any, bounds: np.ndarray, dtype: str) -> ShardedRun:
    workers = sorted(alive_workers(client) or client.scheduler_info().get("workers", {}))
    return ShardedRun(client, uuid.uuid4().hex[:12], bounds,
                      assign_shards(len(bounds) - 1, workers), dtype)


def _drop(client: Any, token: str) -> None:
    try:
        client.run(shard_tasks.drop_run, token, on_error="ignore")
    except Exception as exc:  # best effort: a worker may be dying
        logger.info("could not drop run %s everywhere: %s", token, exc)


def _start_fresh(run: ShardedRun, model: Any, corpus: Any) -> dict[str, Any]:
    """Draw the start on the shards; the coordinator's part (as ``_init_state``)."""
    n_features, k = corpus.n_features, int(model.n_components)
    from svi_lda import _params

    eta = 1.0 / k if model.topic_word_prior is None else float(model.topic_word_prior)
    run.wait([
        run.submit(shard_tasks.init_shard, run.token, s, int(run.bounds[s]),
                   int(run.bounds[s + 1]), k, eta, model.random_seed_, model.dtype,
                   shard=s, key="init")
        for s in range(run.n_shards)
    ])
    topic_sums = _column_sums(run)
    model._check_params()
    model.state_ = sharded_checkpoint.coordinator_state(
        n_features, k, model.dtype, scale=1.0, topic_sums=topic_sums,
        alpha=_params.initial_alpha(k, model.doc_topic_prior), eta=eta, step=0,
        n_docs_seen=0,
    )
    model.n_features_in_ = n_features
    model.n_iter_ = 0
    model.vocabulary_ = corpus.vocabulary
    init_records(model, get_method("online"))
    model._topics_assigned = False
    from svi_lda.training import start_record

    return start_record()


def _column_sums(run: ShardedRun) -> np.ndarray:
    futures, carry = [], None
    for s in range(run.n_shards):
        carry = run.submit(shard_tasks.column_sums_chain, run.token, s, carry, None,
                           shard=s, key="sums")
        futures.append(carry)
    return run.wait(futures)[-1]


def _load(run: ShardedRun, folder: storage.Location, manifest: dict[str, Any]) -> None:
    sharded_checkpoint.load_shards(run, folder, manifest, verify=True, key="load")


def fit_sharded(
    client: Any,
    model: Any,
    corpus: Any,
    *,
    n_epochs: int,
    n_steps: int | None = None,
    checkpoint_dir: storage.Location | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    estep_threads: int = 1,
    n_shards: int | None = None,
    callbacks: Sequence[Callable[[StepMetrics], object]] = (),
    on_step: Callable[[StepReport], object] | None = None,
) -> Any:
    """Fit ``model`` with W sharded by vocabulary over the workers (see the module notes).

    Parameters are ``fit_distributed``'s; ``n_shards`` defaults to the number of workers
    at the start. Returns ``model``; its ``state_`` holds W when W is at most
    :data:`GATHER_LIMIT_BYTES`; else W stays in the sharded checkpoint
    ``checkpoint_dir`` (required then), ``model.sharded_checkpoint_`` names it, and the
    model refuses queries until :func:`load_sharded_model` assembles it where it fits.
    """
    if model.learning_method not in SHARDED_METHODS:
        raise ValueError(
            f"sharded training supports learning_method='online' only; got "
            f"{model.learning_method!r} (train it without sharding)"
        )
    model._check_params()
    too_big = model_bytes(model, corpus.n_features) > GATHER_LIMIT_BYTES
    if too_big and checkpoint_dir is None:
        raise ValueError(
            "a sharded model larger than the coordinator may hold needs checkpoint_dir: "
            "that is where the trained model is written"
        )
    if resume and checkpoint_dir is not None and storage.is_file(
        storage.join(checkpoint_dir, "model.json")
    ):
        raise CheckpointError(
            f"{checkpoint_dir} holds a checkpoint of unsharded training: resume it without "
            "sharding"
        )
    workers = sorted(alive_workers(client) or client.scheduler_info().get("workers", {}))
    shards = int(n_shards or max(1, len(workers)))
    bounds = shard_bounds(corpus.n_features, shards)
    method = get_method("online")
    total_samples = float(model.total_samples or default_total_samples(
        method, corpus.n_docs, corpus.n_tokens
    ))
    run = _new_run(client, bounds, model.dtype)
    if resume and sharded_checkpoint.has_checkpoint(checkpoint_dir):
        assert checkpoint_dir is not None
        manifest, record = sharded_checkpoint.restore(model, corpus, checkpoint_dir)
        _load(run, checkpoint_dir, manifest)
    else:
        if resume:
            logger.warning("no checkpoint in %s: starting from step 0", checkpoint_dir)
        model.random_seed_ = model._resolve_seed()
        record = _start_fresh(run, model, corpus)
    for attempt in range(MAX_RECOVERIES + 1):
        engine = ShardedEngine(
            run=run, model=model, method_name="online", corpus=corpus,
            estep_threads=estep_threads,
            write_checkpoint=None if checkpoint_dir is None else (
                lambda rec, run=run: sharded_checkpoint.write_checkpoint(
                    run, model, checkpoint_dir, corpus, rec)
            ),
        )
        minibatches = walk(
            CorpusSource(corpus), grouping="minibatches", batch_size=int(model.batch_size),
            seed=model.random_seed_, n_epochs=n_epochs, start=record,
        )
        if n_steps is not None:
            minibatches = itertools.islice(minibatches, max(0, n_steps - model.state_.step))
        checkpointing = None
        if checkpoint_dir is not None:
            checkpointing = Checkpointing(write=engine.request_checkpoint,
                                          every=int(checkpoint_every))
        try:
            run_loop(model, ShardedOnline(engine), engine, minibatches,
                     total_samples=total_samples, n_threads=1, callbacks=callbacks,
                     on_step=on_step, checkpointing=checkpointing)
            break
        except ShardLost as exc:
            if attempt == MAX_RECOVERIES:
                raise
            logger.warning("%s: recovering the shards from the last checkpoint", exc)
            _drop(client, run.token)
            run = _new_run(client, bounds, model.dtype)
            if sharded_checkpoint.has_checkpoint(checkpoint_dir):
                assert checkpoint_dir is not None
                manifest, record = sharded_checkpoint.restore(model, corpus, checkpoint_dir)
                _load(run, checkpoint_dir, manifest)
            else:
                record = _start_fresh(run, model, corpus)
    if not too_big:
        rows = run.wait([run.submit(shard_tasks.shard_rows_all, run.token, s, shard=s,
                                    key="gather") for s in range(run.n_shards)])
        state = model.state_
        model.state_ = GlobalState(
            word_topic=np.concatenate(rows), scale=state.scale, topic_sums=state.topic_sums,
            alpha=state.alpha, eta=state.eta, step=state.step, n_docs_seen=state.n_docs_seen,
        )
    else:
        model.sharded_checkpoint_ = checkpoint_dir
    _drop(client, run.token)
    return model
