"""The sharded engine: W lives on the workers, split by vocabulary; the coordinator keeps
K-sized totals, alpha, the schedule and the bookkeeping.

For each minibatch (exact SVI, as :class:`~svi_lda.distributed.engine.DaskEngine`):

1. the units are read on workers (``load_unit``) and their word ids gathered; the
   coordinator forms the sorted union and cuts it into one segment per shard;
2. each shard's owner computes the rows of exp(E[log beta]) of its segment
   (``shard_rows``, from the coordinator's ``psi(topic totals)``: K floats), and each
   unit's local step pulls the pieces peer to peer (Dask moves them between workers);
3. each unit's statistics are cut by shard on the worker that computed them; the
   coordinator gathers only the K-sized summaries (alpha's statistic, bound, counts);
4. the update, in two parts. Every shard at once (``shard_update``): sum its segment's
   statistics in unit order, apply the lazy natural-gradient update to its rows, and sum
   the increments of the update chunks that start in its segment. Then a short chain in
   word order (``shard_fold``) finishes the two sums the in-process update runs across
   words: the chunk that straddles a shard boundary (the next shard adds its head's
   increments, at most one chunk of words, to the running sum it is handed) and the
   statistics' column sums (for the records). These are O(K) values per word without
   access to W, a small part of the update; the first shard starts the fold in its update
   task, so two shards take two tasks in a row, as the old chain of updates did. The
   coordinator gets the per-chunk topic sums and adds them in chunk order, so
   ``topic_sums``, alpha and the records are bitwise the in-process ones.

A worker that dies takes shards with it: the engine raises :class:`ShardLost` and the
run recovers from the last checkpoint and replays the steps since
(:mod:`svi_lda.distributed.sharded.fit`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import digamma

from svi_lda import seeding, storage
from svi_lda._config import RESCALE_THRESHOLD
from svi_lda.distributed import tasks
from svi_lda.distributed.sharded import shard_tasks
from svi_lda.distributed.sharded.layout import segments
from svi_lda.distributed.sharded.seed_rows import increment_sums, sparse_seed_increment
from svi_lda.methods import UpdateContext
from svi_lda.numerics.remap import compact_vocabulary
from svi_lda.state import _FLOOR_OF_DTYPE
from svi_lda.step import StepMetrics, UnitStats, finish_step, merge_unit_stats
from svi_lda.training import Minibatch, StepInput

logger = logging.getLogger("svi_lda.distributed.sharded")

# Seconds between checks that the shards' owners are alive while waiting for tasks.
POLL_SECONDS = 0.5


class ShardLost(RuntimeError):
    """A worker holding shards died: the run must recover them (from a checkpoint)."""


def alive_workers(client: Any) -> set[str] | None:
    """Addresses of the workers the scheduler knows, or None if it did not answer."""
    try:
        info = client.sync(client.scheduler.identity, n_workers=-1)
    except (OSError, TimeoutError):
        return None
    return set(info.get("workers", {}))


@dataclass
class ShardedRun:
    """The shards of one run on the cluster: bounds, owners and the run's token.

    Every task touching a shard is pinned to its owner (no other worker holds it).
    """

    client: Any
    token: str
    bounds: np.ndarray
    owners: list[str]
    dtype: str
    # What a user can do when an owner dies (the training run recovers by itself; a
    # query model says how to reopen).
    on_loss: str = ""

    @property
    def n_shards(self) -> int:
        return len(self.owners)

    def submit(self, fn: Any, *args: Any, shard: int, key: str) -> Any:
        return self.client.submit(
            fn, *args, key=f"svi-lda-shard-{key}-{self.token}-s{shard}",
            workers=[self.owners[shard]], allow_other_workers=False, pure=False,
        )

    def alive(self) -> set[str] | None:
        """The workers the scheduler knows now, or None if it did not answer.

        Asks the scheduler directly: ``Client.scheduler_info`` swallows a failed query and
        returns its cached value, whose periodic refresh carries no worker list, so under
        load every worker would look gone.
        """
        return alive_workers(self.client)

    def check_owners(self) -> None:
        alive = self.alive()
        if alive is None:
            return  # unknown: keep waiting
        dead = sorted(set(self.owners) - alive)
        if dead:
            raise ShardLost(f"worker(s) {', '.join(dead)} holding shards died{self.on_loss}")

    def wait(self, futures: list[Any]) -> list[Any]:
        """Gather ``futures``; raise :class:`ShardLost` as soon as an owner is gone."""
        from distributed import wait

        while True:
            try:
                wait(futures, timeout=POLL_SECONDS)
                break
            except TimeoutError:
                self.check_owners()
        try:
            return self.client.gather(futures)  # K-sized results: no need to go direct
        except Exception:
            self.check_owners()  # a task failed because its worker died
            raise


@dataclass
class ShardedStep:
    """One minibatch in flight: its futures and the cut of its words over the shards."""

    minibatch: Minibatch
    loads: list[Any] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    preferred: list[str] = field(default_factory=list)
    union: np.ndarray | None = None
    positions: list[np.ndarray] = field(default_factory=list)
    cuts: np.ndarray | None = None
    slices: list[list[Any]] = field(default_factory=list)  # [shard][unit]
    others: list[Any] = field(default_factory=list)
    started: float = 0.0
    bytes_out: int = 0
    bytes_in: int = 0
    coordinator_seconds: float = 0.0

    def release(self) -> None:
        for f in (*self.others, *(f for row in self.slices for f in row), *self.ids,
                  *self.loads):
            f.release()
        self.others, self.slices, self.ids, self.loads = [], [], [], []


class ShardedEngine:
    """The run loop's engine for a sharded run (see the module notes).

    Parameters
    ----------
    run : ShardedRun
        The shards (initialised or loaded) on the workers.
    model : OnlineLDA
        Its ``state_`` holds the coordinator's part: scale, topic sums, alpha, step (its
        ``word_topic`` is a read-only zero view of W's shape: W is on the shards).
    method_name : str
        The registered local step the workers run (``"online"``).
    corpus : ParquetCorpus
    estep_threads : int
    """

    def __init__(
        self, *, run: ShardedRun, model: Any, method_name: str, corpus: Any,
        estep_threads: int,
        write_checkpoint: Any = None,
    ) -> None:
        self.run = run
        self.write_checkpoint = write_checkpoint
        self._pending: dict[str, Any] | None = None
        self._closed = False
        self.client = run.client
        self.model = model
        self.method_name = method_name
        self.corpus = corpus
        self.corpus_path = storage.absolute(corpus.path)  # workers read it: path or URL
        self.estep_threads = estep_threads
        self.settings = model._settings()
        self._steps: Iterator[ShardedStep] = iter(())
        self._current: ShardedStep | None = None
        self._ahead: deque[ShardedStep] = deque()

    # reading ----------------------------------------------------------------------------
    def _load(self, step: ShardedStep, priority: int) -> None:
        workers = sorted(self.run.alive() or ()) or [None]
        for i, unit in enumerate(step.minibatch.units):
            worker = workers[i % len(workers)]
            name = f"{self.run.token}-{step.minibatch.epoch}-{unit.key}"
            data = self.client.submit(
                tasks.load_unit, self.corpus_path, unit, self.corpus.n_features,
                key=f"svi-lda-shload-{name}", workers=[worker] if worker else None,
                allow_other_workers=worker is not None, priority=priority,
            )
            step.loads.append(data)
            step.preferred.append(worker)
            step.ids.append(self.client.submit(
                tasks.unit_word_ids, data, key=f"svi-lda-shids-{name}", priority=priority
            ))

    def _read_ahead(self) -> None:
        while len(self._ahead) < 1:
            step = next(self._steps, None)
            if step is None:
                return
            self._load(step, priority=-10)
            self._ahead.append(step)

    # seeding ----------------------------------------------------------------------------
    def seed(self, step: ShardedStep) -> None:
        """``init="documents"``: the units propose candidates, the coordinator keeps the
        smallest (as in process) and each shard adds its words' part of the increment."""
        state = self.model.state_
        n_pick = seeding.n_seed_documents(state.n_components)
        futures = [
            self.client.submit(
                tasks.seed_candidates_task, data, self.model.random_seed_, n_pick,
                key=f"svi-lda-shseed-{self.run.token}-{step.minibatch.units[i].key}",
            )
            for i, data in enumerate(step.loads)
        ]
        parts = self.run.wait(futures)
        increment = sparse_seed_increment(
            seeding.merge_candidates(parts, n_pick), state.n_components
        )
        coef = 1.0 / state.scale
        sums = increment_sums(increment, coef)  # as GlobalState.add_to_lambda's
        self.run.wait([
            self.run.submit(
                shard_tasks.seed_shard, self.run.token, s,
                increment.restrict(int(self.run.bounds[s]), int(self.run.bounds[s + 1])),
                coef, shard=s, key="seed",
            )
            for s in range(self.run.n_shards)
        ])
        state.topic_sums += sums

    # a step -----------------------------------------------------------------------------
    def _submit_local_steps(self, step: ShardedStep) -> None:
        state = self.model.state_
        run = self.run
        t0 = time.perf_counter()
        wire_ids = run.wait(step.ids)
        step.bytes_in += sum(i.nbytes for i in wire_ids)
        lengths = [len(i) for i in wire_ids]
        union, where = compact_vocabulary(
            np.concatenate([np.asarray(i, dtype=np.int64) for i in wire_ids])
            if wire_ids else np.zeros(0, dtype=np.int64),
            self.corpus.n_features,
        )
        cut_at = np.cumsum(lengths)[:-1]
        step.positions = [p.astype(np.int64) for p in np.split(where, cut_at)]
        step.union = union
        step.cuts = cuts = segments(union, run.bounds)
        psi_totals = digamma(state.topic_totals())
        floor = _FLOOR_OF_DTYPE[np.dtype(run.dtype)]
        tag = f"{step.minibatch.epoch}-{step.minibatch.position}"
        pieces = [
            run.submit(
                shard_tasks.shard_rows, run.token, s, state.step,
                union[cuts[s]:cuts[s + 1]] - run.bounds[s], state.scale, state.eta,
                psi_totals, floor, shard=s, key=f"rows-{tag}",
            )
            for s in range(run.n_shards)
        ]
        step.bytes_out += union.nbytes + run.n_shards * psi_totals.nbytes
        alpha = state.alpha.copy()
        step.slices = [[] for _ in range(run.n_shards)]
        summaries = []
        for i, unit in enumerate(step.minibatch.units):
            estep = self.client.submit(
                shard_tasks.sharded_local_step, self.method_name, step.loads[i],
                step.positions[i], alpha, self.settings, self.estep_threads, *pieces,
                key=f"svi-lda-shestep-{run.token}-{tag}-{unit.key}",
                workers=[step.preferred[i]] if step.preferred[i] else None,
                allow_other_workers=True, pure=False,
            )
            step.bytes_out += step.positions[i].nbytes + alpha.nbytes
            summaries.append(self.client.submit(
                shard_tasks.unit_summary, estep, key=f"svi-lda-shsum-{run.token}-{tag}-{i}",
                pure=False,
            ))
            for s in range(run.n_shards):
                step.slices[s].append(self.client.submit(
                    shard_tasks.stats_slice, estep, step.positions[i], int(cuts[s]),
                    int(cuts[s + 1]), key=f"svi-lda-shslice-{run.token}-{tag}-{i}-{s}",
                    pure=False,
                ))
            step.others.append(estep)
        step.others.extend(pieces)
        step.others.extend(summaries)
        step.coordinator_seconds += time.perf_counter() - t0
        self._summaries = summaries

    def _merged_summary(self, step: ShardedStep) -> UnitStats:
        parts: list[UnitStats] = self.run.wait(self._summaries)
        step.bytes_in += sum(p.elog_theta_sum.nbytes + p.theta_sum.nbytes for p in parts)
        # along the reduction tree every engine sums units with (the order fixes rounding)
        total = merge_unit_stats(parts)
        total.word_ids = step.union
        return total

    def apply_update(self, stats: UnitStats, context: UpdateContext) -> StepMetrics:
        """The global update of the current minibatch, made by the shards' owners.

        Afterwards ``stats`` carries what the records need: ``word_counts`` of the
        minibatch's words, and as ``sstats`` one row, the statistics' column sums
        (their only use in the records); the statistics themselves stay on the shards.
        """
        step = self._current
        assert step is not None and step.cuts is not None and step.union is not None
        state = self.model.state_
        run = self.run
        t0 = time.perf_counter()
        rho = context.schedule.rho(state.step)
        reset = rho >= 1.0
        if reset:
            state.topic_sums = np.zeros(state.n_components)
            state.scale = 1.0
        else:
            state.scale *= 1.0 - rho
        coef = rho * context.total_samples / (stats.n_docs * state.scale)
        tag = f"{step.minibatch.epoch}-{step.minibatch.position}"
        results, folds = self._update_chain(step, coef, reset, tag)
        chunks = sorted((c for r in (*results, *folds) for c in r["chunks"]),
                        key=lambda c: c[0])
        last = folds[-1] if folds else results[0]  # the end of the fold
        for _, chunk_sum in chunks:
            state.topic_sums += chunk_sum
        if state.scale < RESCALE_THRESHOLD[run.dtype]:
            # fold the scalar into W on the shards; W.sum(axis=0) continued shard to shard
            sums = self._rescale_chain(state.scale, tag)
            state.topic_sums = sums
            state.scale = 1.0
        state.step += 1
        state.n_docs_seen += int(stats.n_docs)
        metrics = finish_step(state, stats, rho, learn_alpha=context.learn_alpha,
                              seconds=context.seconds)
        stats.word_counts = np.concatenate([r["counts"] for r in results])
        stats.sstats = last["carry"]["colsum"][None, :]
        step.bytes_in += sum(r["counts"].nbytes for r in results) + sum(
            c.nbytes for r in (*results, *folds) for _, c in r["chunks"]
        )
        step.coordinator_seconds += time.perf_counter() - t0
        return metrics

    def _update_chain(
        self, step: ShardedStep, coef: float, reset: bool, tag: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every shard's update at once (``shard_update``), then the short chain in word
        order (``shard_fold``) that finishes the sums running across shards."""
        run, state = self.run, self.model.state_
        cuts, union = step.cuts, step.union
        assert cuts is not None and union is not None
        updates = [
            run.submit(
                shard_tasks.shard_update, run.token, s, state.step,
                union[cuts[s]:cuts[s + 1]] - run.bounds[s], int(cuts[s]), len(union), coef,
                reset, s == 0, *step.slices[s], shard=s, key=f"update-{tag}",
            )
            for s in range(run.n_shards)
        ]
        folds, carry = [], updates[0]  # the first shard folds in its update task
        for s in range(1, run.n_shards):
            carry = run.submit(shard_tasks.shard_fold, run.token, s, state.step, updates[s],
                               carry, shard=s, key=f"fold-{tag}")
            folds.append(carry)
        step.others.extend(updates + folds)
        return run.wait(updates), run.wait(folds)

    def _rescale_chain(self, factor: float, tag: str) -> np.ndarray:
        run = self.run
        futures, carry = [], None
        for s in range(run.n_shards):
            carry = run.submit(
                shard_tasks.column_sums_chain, run.token, s, carry, factor, shard=s,
                key=f"rescale-{tag}",
            )
            futures.append(carry)
        return run.wait(futures)[-1]

    # checkpoints ------------------------------------------------------------------------
    def request_checkpoint(self, record: dict[str, Any]) -> None:
        """The run loop's checkpoint hook. The loop asks before it records the step
        (history, bound, per-topic counts); the checkpoint is written once it has, before
        the next step's local steps go out (or at :meth:`close`), so that a resumed run
        has every record of the steps before it. Nothing changes the shards meanwhile."""
        self._pending = record
        if self._closed:
            self._flush()

    def _flush(self) -> None:
        record, self._pending = self._pending, None
        if record is not None:
            self.write_checkpoint(record)

    # the engine protocol (svi_lda.training.loop.Engine) --------------------------------
    def start(self, minibatches: Iterator[Minibatch], *, seed_first: bool) -> None:
        self._steps = (ShardedStep(m) for m in minibatches)
        self._current = next(self._steps, None)
        if self._current is None:
            return
        self._load(self._current, priority=10)
        if seed_first:
            self.seed(self._current)
        self._read_ahead()

    def next_result(self) -> StepInput | None:
        self._flush()
        current = self._current
        if current is None:
            return None
        current.started = time.perf_counter()
        self._submit_local_steps(current)
        stats = self._merged_summary(current)
        return StepInput(
            current.minibatch, stats, started=current.started,
            bytes_to_workers=current.bytes_out, bytes_from_workers=current.bytes_in,
            coordinator_seconds=current.coordinator_seconds,
        )

    def updated(self, done: StepInput) -> None:
        assert self._current is not None
        self._current.release()
        self._current = self._ahead.popleft() if self._ahead else None
        self._read_ahead()

    def close(self) -> None:
        self._closed = True
        try:
            self._flush()
        except Exception as exc:  # after an error: the previous checkpoint stays whole
            logger.warning("checkpoint not written: %s", exc)
        for step in (self._current, *self._ahead):
            if step is not None:
                step.release()
        self._current = None
        self._ahead.clear()
