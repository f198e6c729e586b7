"""The Dask engine: a learning method's local steps on the workers of a Dask cluster.

Driven by the run loop (:func:`svi_lda.training.run_loop`) like the in-process engine,
over the minibatches of a Parquet corpus. For each minibatch:

1. every unit is read on a worker, which keeps it in its own memory
   (:mod:`svi_lda.distributed.unit_cache`: no Dask result, so no future here per unit)
   and returns its word ids; the union of the units' words is found on the workers along
   the step's fixed tree (``union_word_ids``), so this process gathers one array; this
   is prefetched ``READ_AHEAD`` minibatches ahead;
2. this process computes the method's parameter rows (for SVI exp(E[log beta])) for the
   union of the minibatch's words, once, from its state, and sends them once, in one
   message, to one worker; the workers copy them on to each other along a tree
   (:mod:`svi_lda.distributed.rows`) and each unit's local step takes the copy on its
   worker, and its unit from that worker's cache (read again on a miss);
3. the units' statistics are summed on the workers along the reduction tree of
   :mod:`svi_lda.distributed.tree` (a shape fixed by the units alone; the in-process
   engine sums along the same tree), and this process gathers the root; the loop then
   makes the method's global update, exactly as in process.

Because every piece is the in-process code and the summation order is fixed, the model
after N steps is bitwise identical for any number of workers or threads, and to
``OnlineLDA.fit`` on the same corpus. ``pipelined=True`` is the named exception: the
local steps of step t+1 start from the parameters before step t's update lands (a fixed
staleness of one step: still reproducible for any number of workers, but not equal to
synchronous SVI).

Tasks are pure, so Dask recomputes whatever a dead worker held; a step whose scattered
rows died with their worker is sent again with its rows inside tasks. Where local steps
run: :mod:`svi_lda.distributed.placement`.

This process's cost per step barely grows with the units: each of the two stages (the
reads, the local steps with their merges) goes to the scheduler as one graph of O(units)
tasks and references (:mod:`svi_lda.distributed.graphs`), with a future only for what it
gathers (the union, the root: O(1) futures a step, so the scheduler reports O(1) keys to
it); the rows leave in one message; and it gathers one small array (the union) and one
merged result. A read placed on one worker and a local step run on another (stolen, or
the worker died) costs a second read of the unit, never a different result.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError
from typing import Any

import numpy as np

from svi_lda import seeding, storage
from svi_lda.corpus import CorpusError, CorpusUnit, ParquetCorpus
from svi_lda.distributed import tasks, unit_cache
from svi_lda.distributed.graphs import GraphBuilder, submit_graph
from svi_lda.distributed.inflight import InFlight
from svi_lda.distributed.placement import balance_units
from svi_lda.distributed.rows import ship_rows
from svi_lda.distributed.tree import add_reduction
from svi_lda.distributed.unit_cache import UnitSource
from svi_lda.methods import LearningMethod
from svi_lda.step import UnitStats
from svi_lda.training import Minibatch, StepInput

logger = logging.getLogger("svi_lda.distributed.coordinator")

# Above this size a step's rows go straight to the workers (scatter direct), instead of
# inside tasks through the scheduler (which costs this process a second copy).
SCATTER_BYTES = 2**20
# Minibatches whose row groups are read ahead of the one in progress.
READ_AHEAD = 2
_MAX_RESUBMITS = 3


class DaskEngine:
    """Runs a method's local steps on a Dask cluster's workers (see the module notes).

    Parameters
    ----------
    client : distributed.Client
    model : OnlineLDA
        Its state gives the parameter rows (and is seeded, on request).
    method : LearningMethod
        A method without local state between passes (its local step is a pure task).
    corpus : ParquetCorpus
        Workers read its row groups at the same path.
    pipelined : bool
        Send step t+1's local steps from the parameters before step t's update.
    estep_threads : int
        Kernel threads per task.
    scatter_bytes : int
        A step's rows at least this large go directly to the workers.
    direct : bool
        Move arrays directly between this process and the workers.
    """

    def __init__(
        self,
        *,
        client: Any,
        model: Any,
        method: LearningMethod,
        corpus: ParquetCorpus,
        pipelined: bool,
        estep_threads: int,
        scatter_bytes: int,
        direct: bool,
    ) -> None:
        self.scatter_bytes = scatter_bytes
        self.direct = direct
        self.client = client
        self.model = model
        self.method = method
        self.corpus = corpus
        self.corpus_path = storage.absolute(corpus.path)  # workers read it: path or URL
        self.pipelined = pipelined
        self.estep_threads = estep_threads
        self.settings = method.settings(model._settings(), model.state_)
        # Exact mode: the coordinator computes while the workers wait, so it may use every
        # core. Pipelined: the workers are computing meanwhile; one thread leaves them the
        # other cores (on 2 cores, two threads slowed a single worker's E-steps).
        self.n_threads = 1 if pipelined else model._n_threads()
        self.token = uuid.uuid4().hex[:12]
        self._steps: Iterator[InFlight] = iter(())
        self._current: InFlight | None = None
        # Minibatches whose row groups are being read ahead of their local steps.
        self._ahead: deque[InFlight] = deque()
        self._last_update = 0.0

    # Futures -----------------------------------------------------------------------
    def load(self, step: InFlight, *, priority: int = 0) -> None:
        """Submit the reads of a minibatch's row groups and the union of their words
        along the fixed tree, in one graph; hold a future for the union alone.

        Each read keeps its unit in its worker's cache (:mod:`.unit_cache`) and returns
        only the unit's word ids, so this process holds no future per unit. ``priority``
        orders the reads against the E-steps already queued on a worker: a negative one
        lets the worker finish its E-steps first and read while it would otherwise wait
        for the coordinator's update.
        """
        step.sources = [
            UnitSource(self.token, self.corpus_path, unit, self.corpus.n_features,
                       step.epoch)
            for unit in step.units
        ]
        step.read_on = self._placement(step.units)
        graph = GraphBuilder()
        reads = [
            graph.add(
                f"svi-lda-read-{self.token}-{step.epoch}-{source.unit.key}",
                unit_cache.read_unit_ids, source, worker=worker,
            )
            for source, worker in zip(step.sources, step.read_on, strict=True)
        ]
        union = add_reduction(
            graph, reads, key=f"svi-lda-ids-{self.token}-{step.epoch}-{step.position}",
            merge=tasks.union_word_ids,
        )
        futures = submit_graph(self.client, graph, [union.key], priority=priority)
        step.ids = [futures[union.key]]

    def _placement(self, units: list[CorpusUnit]) -> list[str | None]:
        """Spread a minibatch's units over the workers by documents (a preference only).

        Left to itself the scheduler may hand every read of the next minibatch to the
        first worker that frees up. No unit has data yet, so this is
        :func:`balance_units` with no owners.
        """
        return balance_units(
            [None] * len(units), sorted(self._alive_workers()), [u.n_docs for u in units]
        )

    def seed(self, step: InFlight) -> None:
        """Seed the topics from the step's documents (``init="documents"``).

        Each worker proposes its unit's candidates; the coordinator keeps the smallest, so
        the topics start exactly as in :meth:`OnlineLDA.fit` on the same minibatches.
        """
        n_pick = seeding.n_seed_documents(self.model.state_.n_components)
        futures = [
            self.client.submit(
                unit_cache.cached_seed_candidates,
                source,
                self.model.random_seed_,
                n_pick,
                key=f"svi-lda-seed-{self.token}-{source.unit.key}",
                priority=10,
                # where the unit was read (a preference: a miss reads it again)
                **({} if worker is None else {"workers": [worker], "allow_other_workers": True}),
            )
            for source, worker in zip(step.sources, step.read_on, strict=True)
        ]
        try:
            parts = self._gather(futures, step)
        finally:
            for f in futures:
                f.release()
        seeding.apply_seed(self.model.state_, seeding.merge_candidates(parts, n_pick))

    def prepare(
        self, step: InFlight, *, wait: bool = True, backlog: dict[str, int] | None = None
    ) -> None:
        """Gather the union of a minibatch's words (united on the workers) and place its
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
        (union,) = self._gather(step.ids, step)
        step.bytes_in += union.nbytes
        union = union.astype(np.int64)
        step.alive = self._alive_workers()
        # The units are where their reads were placed (a read stolen by another worker
        # only costs a second read: the cache is keyed by unit, not by worker).
        step.workers = balance_units(
            step.read_on, sorted(step.alive), [u.n_docs for u in step.units], backlog
        )
        step.union = union
        step.coordinator_seconds += time.perf_counter() - t0

    def submit_esteps(self, step: InFlight, behind: InFlight | None = None) -> None:
        """Compute the rows of exp(E[log beta]) for the step's words from the state now,
        send them, and submit the local steps and the reduction.

        ``behind``: the step whose local steps are still running (pipelined mode). A
        worker that lags behind the other with them gets fewer of this step's: with a
        fixed share each, the lag of a slower worker grows step by step until the faster
        one runs out of queued local steps and idles.
        """
        step.started = time.perf_counter()
        self.prepare(step, backlog=None if behind is None else self._backlog(behind))
        t0 = time.perf_counter()
        state = self.model.state_
        step.rows, step.log_shift = self.method.parameter_rows(
            state, step.union, self.n_threads
        )
        step.alpha = state.alpha.copy()
        self._submit_graph(step, attempt=0, alive=step.alive)
        step.coordinator_seconds += time.perf_counter() - t0

    def _submit_graph(self, step: InFlight, *, attempt: int, alive: set[str]) -> None:
        """Ship the rows (once, to the first worker the step uses, copied on along a
        tree to the others) and submit, in one graph, each unit's local step on the worker
        ``balance_units`` chose (a preference) and the reduction tree. A retry
        (``attempt`` > 0) sends the rows inside a task."""
        assert step.rows is not None and step.log_shift is not None
        assert step.alpha is not None
        suffix = "" if attempt == 0 else f"-retry{attempt}"
        name = f"{self.token}-{step.epoch}-{step.position}{suffix}"
        placed = [w if w in alive else None for w in step.workers]
        targets = list(dict.fromkeys(w for w in placed if w is not None)) or [None]
        scatter = attempt == 0 and self.direct and step.rows.nbytes >= self.scatter_bytes
        graph = GraphBuilder()
        copies, sent, scattered = ship_rows(
            self.client, graph, step.rows, step.log_shift, step.union, targets,
            key=f"svi-lda-rows-{name}", scatter=scatter,
        )
        step.scattered.extend(scattered)  # held (and released) with the step
        step.bytes_out += sent + step.alpha.nbytes
        # A local step takes the copy of the rows on its worker (one reference: the
        # graph grows with the units, not with units x workers), or the first one if
        # the scheduler chose its worker. Alpha and the settings go once, shared.
        copy_on = dict(zip(targets, copies, strict=True))
        alpha = graph.add(f"svi-lda-alpha-{name}", tasks.value, step.alpha)
        settings = graph.add(f"svi-lda-settings-{name}", tasks.value, self.settings)
        esteps = [
            graph.add(
                f"svi-lda-estep-{self.token}-{step.epoch}-{step.units[i].key}{suffix}",
                unit_cache.cached_local_step, self.method.name, step.sources[i],
                copy_on.get(placed[i], copies[0]), alpha, settings, self.estep_threads,
                worker=placed[i],  # a preference: a dead worker's local step runs elsewhere
            )
            for i in range(len(step.units))
        ]
        root = add_reduction(graph, esteps, key=f"svi-lda-merge-{name}")
        # Futures for the local steps too in pipelined mode (its placement counts the
        # ones not done); else for the root alone: the rest lives on the scheduler.
        wanted = [root.key, *(e.key for e in esteps if self.pipelined and e is not root)]
        futures = submit_graph(self.client, graph, list(dict.fromkeys(wanted)))
        step.root = futures[root.key]
        step.esteps = [futures.get(e.key) for e in esteps]

    @staticmethod
    def _backlog(step: InFlight) -> dict[str, int]:
        """Documents of ``step``'s E-steps not finished yet, by the worker placed on."""
        backlog: dict[str, int] = {}
        for unit, worker, future in zip(step.units, step.workers, step.esteps, strict=True):
            # (pipelined mode holds a future for each local step)
            if worker is not None and future is not None and not future.done():
                backlog[worker] = backlog.get(worker, 0) + unit.n_docs
        return backlog

    def _alive_workers(self) -> set[str]:
        # nthreads(): the workers' addresses alone (scheduler_info() brings every
        # worker's metrics too: many times the bytes, decoded by this process)
        return set(self.client.nthreads())

    def collect(self, step: InFlight, upcoming: InFlight | None = None) -> UnitStats:
        """The root of the step's reduction: its units' statistics summed on the workers.

        While waiting, the word ids of ``upcoming`` (the next minibatch) are gathered and
        its union found as soon as they are read (off the critical path). A step whose
        scattered rows were lost with their worker is sent again with its rows inline.
        """
        for attempt in range(1, _MAX_RESUBMITS + 2):
            try:
                if upcoming is not None:
                    self._wait(step, upcoming)
                stats: UnitStats = self._gather([step.root], step)[0]
                break
            except RuntimeError as exc:
                lost = isinstance(exc.__cause__, CancelledError)
                if not lost or attempt > _MAX_RESUBMITS:
                    raise
                logger.warning(
                    "a local step of minibatch %d lost its scattered rows (worker died): "
                    "sending the step again", step.position,
                )
                self._release_graph(step)
                self._submit_graph(step, attempt=attempt, alive=self._alive_workers())
        step.bytes_in += stats.sstats.nbytes + stats.word_ids.nbytes
        if stats.word_counts is not None:
            step.bytes_in += stats.word_counts.nbytes
        return stats

    def _wait(self, step: InFlight, upcoming: InFlight) -> None:
        """Until ``step``'s root is ready, prepare ``upcoming`` once its reads are done."""
        from distributed import wait

        while not step.root.done():
            pending = [f for f in upcoming.ids if not f.done()]
            if not pending:
                self.prepare(upcoming, wait=False)
                return
            # wait() uses the default client: make it this engine's (a process may hold
            # several clients, on different event loops)
            with self.client.as_current():
                wait([step.root, *pending], return_when="FIRST_COMPLETED")

    @staticmethod
    def _release_graph(step: InFlight) -> None:
        for f in (step.root, *step.esteps, *step.scattered):
            if f is not None:
                f.release()
        step.root, step.esteps, step.scattered = None, [], []

    def _gather(self, futures: list[Any], step: InFlight) -> list[Any]:
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

    # The engine protocol (svi_lda.training.loop.Engine) --------------------------------
    def start(self, minibatches: Iterator[Minibatch], *, seed_first: bool) -> None:
        """Read the first minibatch, seed the topics from it if asked, send its local
        steps, and read ahead."""
        self._steps = (InFlight(m) for m in minibatches)
        self._current = next(self._steps, None)
        if self._current is None:
            return
        current = self._current
        self.load(current, priority=10)
        if seed_first:
            self.seed(current)
        self.submit_esteps(current)
        self._read_ahead()
        if self.pipelined and self._ahead:
            # Staleness one: step t+1's local steps use the parameters step t's use, so
            # workers have the next step queued while the coordinator merges and
            # updates, and a worker that finishes early need not wait for the other.
            self.submit_esteps(self._ahead[0], behind=current)
        self._last_update = time.perf_counter()

    def next_result(self) -> StepInput | None:
        """Gather and merge the current minibatch's statistics."""
        current = self._current
        if current is None:
            return None
        # The next minibatch's ids, once read, are gathered while the workers compute.
        upcoming = self._ahead[0] if self._ahead and not self.pipelined else None
        stats = self.collect(current, upcoming)
        return StepInput(
            current.minibatch,
            stats,
            # pipelined local steps start a step early: count the step from the last update
            started=max(current.started, self._last_update),
            bytes_to_workers=current.bytes_out,
            bytes_from_workers=current.bytes_in,
            coordinator_seconds=current.coordinator_seconds,
        )

    def updated(self, done: StepInput) -> None:
        """Send the next minibatch's local steps from the updated state; read ahead."""
        assert self._current is not None
        self._current.release()
        self._last_update = time.perf_counter()
        self._current = self._ahead.popleft() if self._ahead else None
        if not self.pipelined and self._current is not None:
            self.submit_esteps(self._current)
        elif self.pipelined and self._ahead:
            # from the parameters after this update
            self.submit_esteps(self._ahead[0], behind=self._current)
        self._read_ahead()  # after the local steps, which an idle worker must start first

    def close(self) -> None:
        """Release the futures of every minibatch still in flight and drop this run's
        units from the workers' caches."""
        for step in (self._current, *self._ahead):
            if step is not None:
                step.release()
        self._current = None
        self._ahead.clear()
        try:
            self.client.run(unit_cache.drop_run, self.token, on_error="ignore")
        except Exception as exc:  # closing after a failure: the cluster may be gone
            logger.warning("could not drop this run's cached units on the workers: %s", exc)

    def _read_ahead(self) -> None:
        # READ_AHEAD minibatches ahead, so that the coordinator never waits for the reads
        # when it sends the next local steps. Exact mode reads below the local steps'
        # priority: a worker reads once it has finished its local steps of the step, while
        # the coordinator merges and updates, not between two of them on the critical
        # path. Pipelined mode always has local steps queued, so reads go first (a read is
        # ~30 ms against ~400 ms for an E-step) and the ids are there when needed.
        while len(self._ahead) < READ_AHEAD:
            step = next(self._steps, None)
            if step is None:
                return
            self.load(step, priority=10 if self.pipelined else -10)
            self._ahead.append(step)
