"""The coordinator: exact SVI over a Parquet corpus on a Dask cluster.

The coordinator (the process holding the ``Client``) owns the global parameters and
walks the corpus exactly as in-process ``OnlineLDA.fit`` does: per epoch
``plan_minibatches(corpus.units, batch_size, epoch=epoch, seed=seed)``, one step per
group of whole row groups. For each step:

1. every unit of the group is read on a worker (``load_unit``, deterministic key: the data
   stays there) and its word ids come back (``unit_word_ids``); this is prefetched two
   steps ahead;
2. the coordinator computes exp(E[log beta]) rows for the union of the group's words,
   once, from its state, and sends each worker only the rows of its units' words, once
   (``estep_task``);
3. the units' statistics are gathered and summed **in unit order** (``merge_unit_stats``)
   and the same ``apply_step`` as in-process training makes the update.

Because every piece is the in-process code and the summation order is fixed, the model
after N steps is bitwise identical for any number of workers or threads, and to
``OnlineLDA.fit`` on the same corpus. ``pipelined=True`` is the named exception: the
E-steps of step t+1 start from the parameters before step t's update lands (a fixed
staleness of one step: still reproducible for any number of workers, but not equal to
synchronous SVI).

Fault tolerance: tasks are pure, so Dask recomputes whatever a dead worker held. The
coordinator checkpoints (:mod:`svi_lda.distributed.checkpoints`, atomically) the state,
the step, the seed (which with the epoch fixes the plan and every initial gamma), the
epoch, the position in its plan and the units already consumed in it; ``resume=True``
continues from there bitwise identically. Where E-steps run and which rows each worker
gets: :mod:`svi_lda.distributed.placement`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda import seeding
from svi_lda.corpus import CorpusError, CorpusUnit, ParquetCorpus, plan_minibatches
from svi_lda.distributed import checkpoints, tasks
from svi_lda.distributed.checkpoints import Position, write_checkpoint
from svi_lda.distributed.placement import (
    balance_units,
    round_robin,
    union_of,
    words_by_worker,
)
from svi_lda.distributed.plugins import NumbaWarmup
from svi_lda.estimator import OnlineLDA
from svi_lda.numerics.scatter import add_rows
from svi_lda.step import StepMetrics, UnitStats, apply_step

logger = logging.getLogger(__name__)

# Above this size a worker's rows for a step go straight to it (scatter direct), once for
# all its units, instead of each unit's rows inside its task through the scheduler (which
# costs this process a second copy and sends words shared by units once per unit).
SCATTER_BYTES = 2**20
# Minibatches whose row groups are read ahead of the one in progress.
READ_AHEAD = 2
# How long the start-up probe waits for each worker to answer a direct connection.
DIRECT_PROBE_SECONDS = 5.0
_MAX_RESUBMITS = 3


@dataclass(frozen=True)
class StepReport:
    """What the coordinator reports after each step (for progress display and logs).

    Attributes
    ----------
    metrics : StepMetrics
        The same record in-process training passes to callbacks.
    epoch, position : int
        Epoch of the step and its index in that epoch's plan.
    n_units : int
        Row groups in the minibatch.
    bytes_to_workers, bytes_from_workers : int
        Array payload sent with the step's tasks (exp(E[log beta]) rows, shifts, alpha)
        and returned by them (word ids, sufficient statistics).
    wall_seconds : float
        Time since the previous step ended (includes coordinator work).
    coordinator_seconds : float
        Coordinator compute of the step: exp(E[log beta]) rows, merge and update (the
        serial part while workers wait, in exact mode).
    checkpointed : bool
        Whether a checkpoint was written after this step.
    """

    metrics: StepMetrics
    epoch: int
    position: int
    n_units: int
    bytes_to_workers: int
    bytes_from_workers: int
    wall_seconds: float
    coordinator_seconds: float
    checkpointed: bool


@dataclass
class _Step:
    """One minibatch in flight."""

    epoch: int
    position: int
    last_in_epoch: bool
    units: list[CorpusUnit]
    # The worker each unit's E-step runs on, from balance_units (None: no preference).
    workers: list[str | None] = field(default_factory=list)
    alive: set[str] = field(default_factory=set)
    loads: list[Any] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    esteps: list[Any] = field(default_factory=list)
    union: np.ndarray | None = None
    # Row of the union for each word of each unit.
    positions: list[np.ndarray] = field(default_factory=list)
    # Rows of the union for the words of each worker's units, and for each unit the row
    # of each of its words among them (from the placement).
    worker_words: dict[str | None, np.ndarray] = field(default_factory=dict)
    word_rows: list[np.ndarray] = field(default_factory=list)
    # exp(E[log beta]) rows and log shifts for the union, and alpha, when the E-steps go out.
    rows: np.ndarray | None = None
    log_shift: np.ndarray | None = None
    alpha: np.ndarray | None = None
    scattered: list[Any] = field(default_factory=list)
    bytes_out: int = 0
    bytes_in: int = 0
    started: float = 0.0
    coordinator_seconds: float = 0.0

    def release(self) -> None:
        for f in (*self.esteps, *self.scattered, *self.ids, *self.loads):
            if f is not None:  # None: an E-step not submitted (an error came first)
                f.release()
        self.esteps, self.scattered, self.ids, self.loads = [], [], [], []
        self.positions, self.word_rows, self.worker_words = [], [], {}
        self.rows = self.log_shift = self.alpha = None


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
    checkpoint_dir : path, optional
        Folder for the checkpoint (a model folder plus bookkeeping; see
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
        A worker's exp(E[log beta]) rows for a step (the words of all its units, sent
        once) at least this large go directly to it (``scatter(direct=True)``); smaller,
        each unit's own rows go inside its task, via the scheduler. If that worker dies
        its tasks are resubmitted with their rows inline. Only with direct transfers (see
        ``direct``).
    direct : bool, optional
        Move the step's arrays (statistics back, large rows out) directly between this
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
    if model.learning_method != "online":
        raise ValueError(
            "fit_distributed runs stochastic variational inference: it needs "
            f"learning_method='online'; got {model.learning_method!r}."
        )
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    start = checkpoints.start(model, corpus, ckpt, resume)
    n_epochs = int(model.max_iter if n_epochs is None else n_epochs)
    total_samples = float(model.total_samples or corpus.n_docs)

    client.register_plugin(NumbaWarmup())
    if direct is None:
        direct = workers_reachable(client)
        if not direct:
            logger.warning(
                "some Dask workers do not answer a direct connection from this process: "
                "arrays go through the scheduler (slower; pass direct=False to skip this check)"
            )
    run = _Run(
        client=client,
        model=model,
        corpus=corpus,
        total_samples=total_samples,
        checkpoint_dir=ckpt,
        checkpoint_every=int(checkpoint_every),
        pipelined=pipelined,
        estep_threads=int(estep_threads),
        scatter_bytes=int(scatter_bytes),
        direct=bool(direct),
        callbacks=callbacks,
        on_step=on_step,
    )
    run.walk(_walk(corpus, model, start, n_epochs, n_steps))
    if ckpt is not None and run.last_saved_step != model.state_.step:
        run.checkpoint(run.next_position)
    return model


# -- setup ------------------------------------------------------------------------------


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


def _walk(
    corpus: ParquetCorpus,
    model: OnlineLDA,
    start: Position,
    n_epochs: int,
    n_steps: int | None,
) -> Iterator[_Step]:
    """The minibatches still to do, in the in-process order."""
    step = model.state_.step
    for epoch in range(start.epoch, n_epochs):
        plan = plan_minibatches(
            corpus.units, int(model.batch_size), epoch=epoch, seed=model.random_seed_
        )
        first = start.position if epoch == start.epoch else 0
        for position in range(first, len(plan)):
            if n_steps is not None and step >= n_steps:
                return
            step += 1
            yield _Step(epoch, position, position == len(plan) - 1, plan[position])


# -- the loop ---------------------------------------------------------------------------


def _empty_stats(word_ids: np.ndarray | None, like: UnitStats) -> UnitStats:
    """The zero :class:`UnitStats` that ``merge_unit_stats`` starts its sum from."""
    assert word_ids is not None
    return UnitStats(
        word_ids=word_ids,
        sstats=np.zeros((len(word_ids), like.sstats.shape[1]), dtype=np.float64),
        n_docs=0,
        n_tokens=0,
        elog_theta_sum=np.zeros_like(like.elog_theta_sum),
        doc_bound=0.0,
        n_iter=0,
    )


class _Run:
    def __init__(
        self,
        *,
        client: Any,
        model: OnlineLDA,
        corpus: ParquetCorpus,
        total_samples: float,
        checkpoint_dir: Path | None,
        checkpoint_every: int,
        pipelined: bool,
        estep_threads: int,
        scatter_bytes: int,
        direct: bool,
        callbacks: Sequence[Callable[[StepMetrics], object]],
        on_step: Callable[[StepReport], object] | None,
    ) -> None:
        self.scatter_bytes = scatter_bytes
        self.direct = direct
        self.client = client
        self.model = model
        self.corpus = corpus
        self.corpus_path = str(corpus.path.resolve())
        self.total_samples = total_samples
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.pipelined = pipelined
        self.estep_threads = estep_threads
        self.callbacks = callbacks
        self.on_step = on_step
        self.settings = model._settings()
        self.schedule = model._schedule()
        # Exact mode: the coordinator computes while the workers wait, so it may use every
        # core. Pipelined: the workers are computing meanwhile; one thread leaves them the
        # other cores (on 2 cores, two threads slowed a single worker's E-steps).
        self.n_threads = 1 if pipelined else model._n_threads()
        self.token = uuid.uuid4().hex[:12]
        self.last_saved_step = model.state_.step
        self.next_position = (0, 0, [])
        self._consumed: list[str] = []

    # Futures -----------------------------------------------------------------------
    def load(self, step: _Step, *, priority: int = 0) -> None:
        """Submit the reads of a minibatch's row groups (data stays on the workers).

        ``priority`` orders the reads against the E-steps already queued on a worker: a
        negative one lets the worker finish its E-steps first and read while it would
        otherwise wait for the coordinator's update.
        """
        n_features = self.corpus.n_features
        for unit, worker in zip(step.units, self._placement(step.units), strict=True):
            name = f"{self.token}-{step.epoch}-{unit.key}"
            data = self.client.submit(
                tasks.load_unit,
                self.corpus_path,
                unit,
                n_features,
                key=f"svi-lda-load-{name}",
                workers=[worker] if worker else None,
                allow_other_workers=worker is not None,  # Dask refuses it without workers=
                priority=priority,
            )
            step.loads.append(data)
            step.ids.append(
                self.client.submit(
                    tasks.unit_word_ids, data, key=f"svi-lda-ids-{name}", priority=priority
                )
            )

    def _placement(self, units: list[CorpusUnit]) -> list[str | None]:
        """Spread a minibatch's units over the workers by documents (a preference only).

        Left to itself the scheduler may hand every read of the next minibatch to the
        first worker that frees up. No unit has data yet, so this is
        :func:`balance_units` with no owners.
        """
        return balance_units(
            [None] * len(units), sorted(self._alive_workers()), [u.n_docs for u in units]
        )

    def seed_if_new(self, step: _Step) -> None:
        """Before the first step, seed the topics from its documents (``init="documents"``).

        Each worker proposes its unit's candidates; the coordinator keeps the smallest, so
        the topics start exactly as in :meth:`OnlineLDA.fit` on the same minibatches.
        """
        if self.model.init != "documents" or self.model.state_.step != 0:
            return
        n_pick = seeding.n_seed_documents(self.model.state_.n_components)
        futures = [
            self.client.submit(
                tasks.seed_candidates_task,
                data,
                self.model.random_seed_,
                n_pick,
                key=f"svi-lda-seed-{self.token}-{step.units[i].key}",
                priority=10,
            )
            for i, data in enumerate(step.loads)
        ]
        try:
            parts = self._gather(futures, step)
        finally:
            for f in futures:
                f.release()
        seeding.apply_seed(self.model.state_, seeding.merge_candidates(parts, n_pick))

    def prepare(
        self, step: _Step, *, wait: bool = True, backlog: dict[str, int] | None = None
    ) -> None:
        """Gather a minibatch's word ids, find the union of its words and place its
        E-steps (once).

        Depends only on the documents, so exact mode does it while the previous step's
        E-steps run, off the critical path; ``wait=False`` does nothing unless the reads
        are done (waiting would delay merging the E-steps' results as they come). A
        worker that dies after the placement is handled when the E-steps are sent.
        ``backlog``: documents each worker still has queued (see :func:`balance_units`).
        """
        if step.union is not None:
            return
        if not wait and not all(f.done() for f in step.ids):
            return
        t0 = time.perf_counter()
        wire_ids = self._gather(step.ids, step)
        step.bytes_in += sum(i.nbytes for i in wire_ids)
        union, step.positions = union_of(wire_ids, self.corpus.n_features)
        step.alive = self._alive_workers()
        step.workers = balance_units(
            self._data_owners(step), sorted(step.alive), [u.n_docs for u in step.units],
            backlog,
        )
        step.worker_words, step.word_rows = words_by_worker(
            step.positions, step.workers, len(union)
        )
        step.union = union
        step.coordinator_seconds += time.perf_counter() - t0

    def submit_esteps(self, step: _Step, behind: _Step | None = None) -> None:
        """Send each worker the rows of exp(E[log beta]) for its units' words, from the
        state now, and submit the E-steps.

        ``behind``: the step whose E-steps are still running (pipelined mode). A worker
        that lags behind the other with them gets fewer of this step's: with a fixed
        share each, the lag of a slower worker grows step by step until the faster one
        runs out of queued E-steps and idles.
        """
        step.started = time.perf_counter()
        self.prepare(step, backlog=None if behind is None else self._backlog(behind))
        t0 = time.perf_counter()
        state = self.model.state_
        step.rows, step.log_shift = state.exp_elog_beta_rows(
            step.union, n_threads=self.n_threads
        )
        step.alpha = state.alpha.copy()
        shipped = self._ship_rows(step)
        step.esteps = [None] * len(step.units)
        # Each worker's first E-step goes in first, so no worker waits for another's.
        for i in round_robin(step.workers):
            step.esteps[i] = self._submit_estep(
                step, i, shipped.get(step.workers[i]), attempt=0, alive=step.alive
            )
        step.coordinator_seconds += time.perf_counter() - t0

    @staticmethod
    def _backlog(step: _Step) -> dict[str, int]:
        """Documents of ``step``'s E-steps not finished yet, by the worker placed on."""
        backlog: dict[str, int] = {}
        for unit, worker, future in zip(step.units, step.workers, step.esteps, strict=True):
            if worker is not None and future is not None and not future.done():
                backlog[worker] = backlog.get(worker, 0) + unit.n_docs
        return backlog

    def _data_owners(self, step: _Step) -> list[str | None]:
        """The worker holding each unit's documents now (an idle worker may have stolen
        the read), or None."""
        who = self.client.who_has(step.loads)
        return [min(who.get(f.key, ()), default=None) for f in step.loads]

    def _alive_workers(self) -> set[str]:
        return set(self.client.scheduler_info().get("workers", {}))

    def _ship_rows(self, step: _Step) -> dict[str | None, Any]:
        """Scatter each worker its rows (for all its units' words, once) straight from this
        process, all workers at once, when they are large (``scatter_bytes``) and
        transfers are direct. Returns the futures by worker; a unit whose worker has none
        gets its own rows inside its task."""
        assert step.rows is not None
        targets = [
            w for w, words in step.worker_words.items()
            if self.direct and w in step.alive
            and words.size * step.rows[:1].nbytes >= self.scatter_bytes
        ]
        if not targets:
            return {}
        arrays = [step.rows[step.worker_words[w]] for w in targets]

        async def scatter_all() -> list[Any]:
            return await asyncio.gather(
                *(
                    self.client.scatter(
                        rows, workers=[w], direct=True, hash=False, asynchronous=True
                    )
                    for w, rows in zip(targets, arrays, strict=True)
                ),
                return_exceptions=True,
            )

        shipped: dict[str | None, Any] = {}
        results = self.client.sync(scatter_all)
        for w, rows, result in zip(targets, arrays, results, strict=True):
            if isinstance(result, (OSError, TimeoutError)):  # the worker just died
                logger.warning("scatter to %s failed (%s): rows go inline", w, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                shipped[w] = result
                step.scattered.append(result)
                step.bytes_out += rows.nbytes
        return shipped

    def _submit_estep(
        self, step: _Step, i: int, rows: Any, *, attempt: int, alive: set[str]
    ) -> Any:
        """Submit unit ``i``'s E-step on the worker ``balance_units`` chose, as a
        preference. ``rows``: the future of its worker's scattered rows, or None to send
        the unit's own rows inside the task."""
        assert step.rows is not None and step.log_shift is not None
        worker = step.workers[i]
        if rows is None:
            positions = step.positions[i]
            word_rows = None
            rows = step.rows[positions]
            step.bytes_out += rows.nbytes
        else:
            positions = step.worker_words[worker]
            word_rows = step.word_rows[i]
            step.bytes_out += word_rows.nbytes
        unit_shift = step.log_shift[positions]
        step.bytes_out += unit_shift.nbytes + step.alpha.nbytes
        if worker is not None and worker not in alive:
            worker = None  # it died since the placement: let the scheduler choose
        key = f"svi-lda-estep-{self.token}-{step.epoch}-{step.units[i].key}"
        return self.client.submit(
            tasks.estep_task,
            step.loads[i],
            rows,
            unit_shift,
            step.alpha,
            self.settings,
            self.estep_threads,
            word_rows,
            key=key if attempt == 0 else f"{key}-retry{attempt}",
            workers=[worker] if worker else None,
            allow_other_workers=worker is not None,  # a preference, so a dead worker's
            # E-step still runs elsewhere
        )

    def collect(self, step: _Step, between: Callable[[], object] | None = None) -> UnitStats:
        """The E-step results summed in unit order, each added as soon as it arrives.

        The arithmetic is exactly :func:`~svi_lda.step.merge_unit_stats` (zeros, then each
        unit's statistics added in unit order at its words' rows of the minibatch's
        vocabulary), so the sum is bitwise the in-process one; adding while later units
        still compute takes the merge off the critical path. ``between`` is called after
        each merge but the last (work that can wait for the workers). Tasks whose
        scattered rows were lost with their worker are resubmitted with the rows inline.
        """
        merged: UnitStats | None = None
        first: UnitStats | None = None
        n = len(step.esteps)
        for i in range(n):
            for attempt in range(1, _MAX_RESUBMITS + 2):
                try:
                    part: UnitStats = self._gather([step.esteps[i]], step)[0]
                    step.bytes_in += part.sstats.nbytes
                    t0 = time.perf_counter()
                    if n == 1:
                        first = part
                    else:
                        if merged is None:
                            merged = _empty_stats(step.union, part)
                        add_rows(merged.sstats, step.positions[i], part.sstats)
                        merged.elog_theta_sum += part.elog_theta_sum
                        merged.doc_bound += part.doc_bound
                        merged.n_docs += part.n_docs
                        merged.n_tokens += part.n_tokens
                        merged.n_iter += part.n_iter
                    step.coordinator_seconds += time.perf_counter() - t0
                    if between is not None and i < n - 1:
                        between()
                    break
                except RuntimeError as exc:
                    lost = isinstance(exc.__cause__, CancelledError)
                    if not lost or attempt > _MAX_RESUBMITS:
                        raise
                    logger.warning(
                        "E-step of %s lost its scattered input (worker died): resubmitting",
                        step.units[i].key,
                    )
                    step.esteps[i].release()
                    step.esteps[i] = self._submit_estep(
                        step, i, None, attempt=attempt, alive=self._alive_workers()
                    )
        result = first if n == 1 else merged
        assert result is not None
        return result

    def _gather(self, futures: list[Any], step: _Step) -> list[Any]:
        try:
            # direct: straight from the workers, not relayed (and copied) by the scheduler
            return self.client.gather(futures, direct=self.direct)
        except CorpusError:
            raise
        except Exception as exc:
            keys = ", ".join(u.key for u in step.units)
            raise RuntimeError(
                f"a task of epoch {step.epoch}, minibatch {step.position} (row groups "
                f"{keys} of {self.corpus.path}) failed: {type(exc).__name__}: {exc}"
            ) from exc

    # Loop ----------------------------------------------------------------------------
    def walk(self, steps: Iterator[_Step]) -> None:
        current = next(steps, None)
        if current is None:
            return
        # Minibatches whose row groups are being read ahead of their E-steps.
        ahead: deque[_Step] = deque()

        def read_ahead() -> None:
            # Two minibatches ahead, so that the coordinator never waits for the reads
            # when it sends the next E-steps. Exact mode reads below the E-steps'
            # priority: a worker reads once it has finished its E-steps of the step, while
            # the coordinator merges and updates, not between two E-steps on the critical
            # path. Pipelined mode always has E-steps queued, so reads go first (a read is
            # ~30 ms against ~400 ms for an E-step) and the ids are there when needed.
            while len(ahead) < READ_AHEAD:
                step = next(steps, None)
                if step is None:
                    return
                self.load(step, priority=10 if self.pipelined else -10)
                ahead.append(step)

        try:
            self.load(current, priority=10)
            self.seed_if_new(current)
            self.submit_esteps(current)
            read_ahead()
            if self.pipelined and ahead:
                # Staleness one: step t+1's E-steps use the parameters step t's use, so
                # workers have the next step queued while the coordinator merges and
                # updates, and a worker that finishes early need not wait for the other.
                self.submit_esteps(ahead[0], behind=current)
            wall = last_update = time.perf_counter()
            while current is not None:
                # The next minibatch's ids, once read, are gathered while the workers compute.
                upcoming = ahead[0] if ahead and not self.pipelined else None
                stats = self.collect(
                    current,
                    between=None if upcoming is None
                    else lambda step=upcoming: self.prepare(step, wait=False),
                )
                t0 = time.perf_counter()
                metrics = apply_step(
                    self.model.state_,
                    stats,
                    self.schedule,
                    total_samples=self.total_samples,
                    learn_alpha=self.model._learn_alpha,
                    # pipelined E-steps start a step early: count the step from the last update
                    seconds=t0 - max(current.started, last_update),
                    n_threads=self.n_threads,
                )
                current.coordinator_seconds += time.perf_counter() - t0
                current.release()
                self._advance(current)
                last_update = time.perf_counter()
                # The next E-steps go out before checkpointing and reporting, which then run
                # while the workers compute.
                done, current = current, (ahead.popleft() if ahead else None)
                if not self.pipelined and current is not None:
                    self.submit_esteps(current)
                elif self.pipelined and ahead:
                    # from the parameters after this update
                    self.submit_esteps(ahead[0], behind=current)
                read_ahead()  # after the E-steps, which an idle worker must start first
                saved = self._maybe_checkpoint()
                now = time.perf_counter()
                self._report(done, metrics, now - wall, saved)
                wall = now
        except BaseException:
            for step in (current, *ahead):
                if step is not None:
                    step.release()
            raise

    def _advance(self, step: _Step) -> None:
        if step.last_in_epoch:
            self.model.n_iter_ = step.epoch + 1
            self._consumed = []
            self.next_position = (step.epoch + 1, 0, [])
        else:
            self._consumed.extend(u.key for u in step.units)
            self.next_position = (step.epoch, step.position + 1, list(self._consumed))

    def _maybe_checkpoint(self) -> bool:
        if self.checkpoint_dir is None or self.checkpoint_every <= 0:
            return False
        if self.model.state_.step % self.checkpoint_every:
            return False
        self.checkpoint(self.next_position)
        return True

    def checkpoint(self, position: tuple[int, int, list[str]]) -> None:
        """Write the checkpoint for the walk's ``position`` (epoch, index, consumed)."""
        assert self.checkpoint_dir is not None
        epoch, index, consumed = position
        write_checkpoint(
            self.model, self.checkpoint_dir, self.corpus, epoch=epoch, position=index,
            consumed=consumed, pipelined=self.pipelined,
        )
        self.last_saved_step = self.model.state_.step

    def _report(self, step: _Step, metrics: StepMetrics, wall: float, saved: bool) -> None:
        self.model.bound_history_.append(metrics.bound_per_token)
        logger.debug(
            "step %d: rho=%.4f docs=%d %.0f docs/s bound/token=%.4f sent=%d B received=%d B",
            metrics.step, metrics.rho, metrics.n_docs, metrics.docs_per_second,
            metrics.bound_per_token, step.bytes_out, step.bytes_in,
        )
        for callback in self.callbacks:
            callback(metrics)
        if self.on_step is not None:
            self.on_step(
                StepReport(
                    metrics=metrics,
                    epoch=step.epoch,
                    position=step.position,
                    n_units=len(step.units),
                    bytes_to_workers=step.bytes_out,
                    bytes_from_workers=step.bytes_in,
                    wall_seconds=wall,
                    coordinator_seconds=step.coordinator_seconds,
                    checkpointed=saved,
                )
            )


def perplexity_bound(bound_per_token: float) -> float:
    """exp(-bound per token): the minibatch perplexity bound shown in progress lines."""
    return math.exp(-bound_per_token) if bound_per_token < 700 else float("inf")
