"""The coordinator: exact SVI over a Parquet corpus on a Dask cluster.

The coordinator (the process holding the ``Client``) owns the global parameters and
walks the corpus exactly as in-process ``OnlineLDA.fit`` does: per epoch
``plan_minibatches(corpus.units, batch_size, epoch=epoch, seed=seed)``, one step per
group of whole row groups. :func:`fit_distributed` sets the walk up and hands it to the
run loop (:func:`svi_lda.training.run_loop`) with the Dask engine
(:class:`~svi_lda.distributed.engine.DaskEngine`): the loop, the merge, the update and
the records are the in-process ones, which is why the result is bitwise the same for any
number of workers or threads.

Fault tolerance: tasks are pure, so Dask recomputes whatever a dead worker held. The loop
checkpoints (:mod:`svi_lda.distributed.checkpoints`, atomically) the state, the step, the
seed (which with the epoch fixes the plan and every initial gamma), the epoch, the
position in its plan and the units already consumed in it; ``resume=True`` continues
from there bitwise identically, as many times as needed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from svi_lda import storage
from svi_lda.corpus import ParquetCorpus, plan_minibatches
from svi_lda.distributed import checkpoints
from svi_lda.distributed.engine import SCATTER_BYTES, DaskEngine
from svi_lda.distributed.in_process import (
    corpus_checkpointing,
    corpus_walk,
    stepping_method,
    total_samples,
)
from svi_lda.distributed.plugins import NumbaWarmup
from svi_lda.distributed.sharded import choose_sharded, fit_sharded
from svi_lda.estimator import OnlineLDA
from svi_lda.step import StepMetrics
from svi_lda.training import StepReport, run_loop

logger = logging.getLogger(__name__)

# How long the start-up probe waits for each worker to answer a direct connection.
DIRECT_PROBE_SECONDS = 5.0

__all__ = ["StepReport", "fit_distributed", "perplexity_bound", "workers_reachable"]


def fit_distributed(
    client: Any,
    model: OnlineLDA,
    corpus: ParquetCorpus | str | Path,
    *,
    n_epochs: int | None = None,
    n_steps: int | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    pipelined: bool = False,
    estep_threads: int = 1,
    scatter_bytes: int = SCATTER_BYTES,
    direct: bool | None = None,
    callbacks: Sequence[Callable[[StepMetrics], object]] = (),
    on_step: Callable[[StepReport], object] | None = None,
    sharded: bool | None = None,
) -> OnlineLDA:
    """Fit ``model`` on a Parquet corpus with E-steps on a Dask cluster.

    Parameters
    ----------
    client : distributed.Client
        Connected to the cluster (a LocalCluster or a remote scheduler). Workers must be
        able to read ``corpus``'s folder at the same path.
    model : OnlineLDA
        Hyperparameters come from it (``n_components``, ``batch_size``, priors, schedule,
        ``random_state``, ...). Fitted in place (from scratch unless resuming) and returned.
    corpus : ParquetCorpus or path
        The corpus folder. The coordinator reads only its manifest, vocabulary and
        Parquet metadata; row groups are read by the workers.
    n_epochs : int, optional
        Passes over the corpus (default ``model.max_iter``). Counted from step 0, so a
        resumed run stops where the uninterrupted run would.
    n_steps : int, optional
        Stop once the model has taken this many steps in total (also counted from 0).
    checkpoint_dir : path or str, optional
        Folder or fsspec URL for the checkpoint (a model folder plus bookkeeping; see
        :func:`svi_lda.persistence.save_model`). Written atomically every
        ``checkpoint_every`` steps and at the end.
    checkpoint_every : int
        Steps between checkpoints (0: only at the end).
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` if there is one. The result
        is bitwise identical to an uninterrupted run (exact mode).
    pipelined : bool
        Start step t+1's E-steps before step t's update lands (staleness 1): they are
        queued with step t's, from the same parameters, so the workers have work queued
        while the coordinator merges and updates. Results are reproducible for
        any number of workers but differ from synchronous SVI, and a resumed pipelined
        run is not bitwise equal to an uninterrupted one (the step after the checkpoint
        restarts from fresh parameters).
    estep_threads : int
        Kernel threads per E-step task (keep Dask threads x this <= cores).
    scatter_bytes : int
        A step's exp(E[log beta]) rows (for the union of its words, sent once, as one
        block to one worker, which the workers copy on to each other along a binary
        tree) at least this large go straight to that worker (``scatter(direct=True)``,
        one message); smaller, the block goes inside a task, via the scheduler. If the
        worker holding a scattered block dies, the step is sent again with the block
        inside a task. Only with direct transfers (see ``direct``).
    direct : bool, optional
        Move the step's arrays (merged statistics back, large rows out) directly between this
        process and the workers instead of through the scheduler, which saves a hop and a
        copy of every array. ``None`` (default): direct if every worker answers a
        connection from this process at the start (true for a LocalCluster and for a
        client on the workers' network, as in ``deploy/``), else through the scheduler.
        ``False`` always goes through the scheduler (a client that can reach only the
        scheduler). The result is the same either way.
    callbacks : sequence of callables
        Called with each step's :class:`~svi_lda.step.StepMetrics`, as in ``fit``.
    on_step : callable, optional
        Called with each step's :class:`StepReport` (progress display).
    sharded : bool, optional
        Split W (K x V) by vocabulary over the workers, which then make the update of
        their columns (:mod:`svi_lda.distributed.sharded`; ``learning_method="online"``
        only, not ``pipelined``). ``None`` (default): sharded when W is larger than
        ``SHARDED_ABOVE_BYTES`` or when resuming a sharded checkpoint.

    Returns
    -------
    OnlineLDA
        ``model``, fitted.

    Raises
    ------
    CorpusError
        A row group is missing or corrupt (the message names the file and row group).
    CheckpointError
        The checkpoint does not match the corpus's vocabulary or the model's parameters.
    """
    if not isinstance(corpus, ParquetCorpus):
        corpus = ParquetCorpus(corpus)
    # E-steps run one per worker thread: count the cluster's threads, not its workers
    warn_if_workers_wait(corpus, int(model.batch_size), sum(client.nthreads().values()))
    # -- sharded mode (svi_lda.distributed.sharded): a separate engine and checkpoints --
    ckpt = storage.location(checkpoint_dir) if checkpoint_dir is not None else None
    if choose_sharded(sharded, model, corpus.n_features, ckpt, resume):
        if pipelined:
            raise ValueError("sharded training is exact SVI: pipelined=True is not supported")
        client.register_plugin(NumbaWarmup())
        return fit_sharded(
            client, model, corpus, n_epochs=int(model.max_iter if n_epochs is None else n_epochs),
            n_steps=n_steps, checkpoint_dir=ckpt, checkpoint_every=checkpoint_every,
            resume=resume, estep_threads=estep_threads, callbacks=callbacks, on_step=on_step,
        )
    # -- end of the sharded mode's hook --
    method = stepping_method(model, "fit_distributed")
    start = checkpoints.start(model, corpus, ckpt, resume)
    minibatches = corpus_walk(model, method, corpus, start, n_epochs, n_steps)

    client.register_plugin(NumbaWarmup())
    if direct is None:
        direct = workers_reachable(client)
        if not direct:
            logger.warning(
                "some Dask workers do not answer a direct connection from this process: "
                "arrays go through the scheduler (slower; pass direct=False to skip this check)"
            )
    engine = DaskEngine(
        client=client,
        model=model,
        method=method,
        corpus=corpus,
        pipelined=pipelined,
        estep_threads=int(estep_threads),
        scatter_bytes=int(scatter_bytes),
        direct=bool(direct),
    )
    checkpointing = corpus_checkpointing(model, corpus, ckpt, checkpoint_every,
                                         pipelined=pipelined)
    run_loop(
        model, method, engine, minibatches,
        total_samples=total_samples(model, method, corpus),
        n_threads=engine.n_threads, callbacks=callbacks, on_step=on_step,
        checkpointing=checkpointing,
    )
    return model


def workers_wait(corpus: ParquetCorpus, batch_size: int, n_threads: int) -> str | None:
    """Why some of the cluster's ``n_threads`` worker threads would get no E-step in a
    typical step, or None if all get one.

    A step's local steps are its units (row groups), never split by the number of
    workers (that is what keeps results bitwise across worker counts), and each runs on
    one worker thread, so a step of ``batch_size`` documents keeps at most as many
    threads busy as it has units.
    """
    units = corpus.units
    if not units or n_threads < 2:
        return None
    per_unit = max(1, round(sum(u.n_docs for u in units) / len(units)))
    plan = plan_minibatches(units, batch_size)
    typical = sorted(len(group) for group in plan)[len(plan) // 2]
    if typical >= n_threads:
        return None
    idle = n_threads - typical
    return (
        f"each step has {typical} unit(s) (row groups of ~{per_unit} documents) for "
        f"{n_threads} worker threads (one E-step per thread), so {idle} of them "
        f"{'waits' if idle == 1 else 'wait'} every step: a batch size of at least "
        f"{n_threads * per_unit} documents keeps every thread busy "
        f"(--batch-size, or OnlineLDA(batch_size=...))"
    )


def warn_if_workers_wait(corpus: ParquetCorpus, batch_size: int, n_threads: int) -> None:
    """Log :func:`workers_wait`'s reason as a warning, if there is one."""
    reason = workers_wait(corpus, batch_size, n_threads)
    if reason:
        logger.warning(reason)


def workers_reachable(
    client: Any, addresses: Sequence[str] | None = None, timeout: float = DIRECT_PROBE_SECONDS
) -> bool:
    """Whether this process can open a connection to every worker of ``client``'s cluster.

    Direct gathers and scatters need it. Dask itself falls back to the scheduler when a
    worker cannot be reached, but only after its connect timeout (30 s by default) on
    every transfer; probing once up front avoids paying that per step.

    Parameters
    ----------
    client : distributed.Client
        A connected, synchronous client.
    addresses : sequence of str, optional
        Worker addresses to try (default: every worker the scheduler knows).
    timeout : float
        Seconds to wait for each worker's answer.

    Returns
    -------
    bool
        True if every worker answered (or there are no workers yet).
    """
    if addresses is None:
        addresses = sorted(client.scheduler_info().get("workers", {}))

    async def probe() -> None:
        for address in addresses:
            # ``identity`` is a trivial RPC; its connection stays in the client's pool,
            # which the direct gathers reuse.
            await asyncio.wait_for(client.rpc(address).identity(), timeout)

    try:
        client.sync(probe)
    except (OSError, TimeoutError) as exc:
        logger.info("direct connection to the workers failed: %s", exc)
        return False
    return True


def perplexity_bound(bound_per_token: float) -> float:
    """exp(-bound per token): the minibatch perplexity bound shown in progress lines."""
    return math.exp(-bound_per_token) if bound_per_token < 700 else float("inf")
