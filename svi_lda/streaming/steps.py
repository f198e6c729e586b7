"""The one place the streamer takes a step: through the run loop
(:func:`svi_lda.training.run_loop`), in this process or with its local steps on a Dask
cluster.

A minibatch is split into units of ``UNIT_DOCS`` documents (fixed, whatever the number of
workers or threads). In process, :func:`svi_lda.training.train_step` runs them on the
:class:`~svi_lda.training.ThreadEngine`; on a cluster, :class:`ClusterEngine` sends each
unit's local step, with the rows of exp(E[log beta]) for its words, as a task, and the
workers sum the results along the reduction tree every engine uses
(:mod:`svi_lda.distributed.tree`, :func:`svi_lda.step.merge_unit_stats` in process), so
both give bitwise the same model and this process gathers one result per step. The run
loop then makes the global update and records the step (history, per-topic statistics)
on the model.

The step is the model's own method's (``learning_method``: SVI for "online", SCVB0 for
"scvb0"; SVI for the methods that sweep a whole corpus, "batch" and "cvb0", as
``partial_fit`` does). The stream's step scaling (:mod:`svi_lda.streaming.scaling`)
reaches the loop as D (``total_samples``, in documents for every method) and as the
step's rho, which :class:`StreamStep` uses instead of the model's Robbins-Monro schedule.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from svi_lda.batch import Batch
from svi_lda.methods import UpdateContext, get_method
from svi_lda.seeding import seed_topics
from svi_lda.state import GlobalState
from svi_lda.step import StepMetrics, UnitStats, unit_vocabulary
from svi_lda.streaming.scaling import StreamScaling
from svi_lda.training import Minibatch, StepInput, run_loop, train_step

UNIT_DOCS = 512


@dataclass(frozen=True)
class _FixedRho:
    """A schedule whose every step has the same rho (this step's, from the scaling)."""

    value: float

    def rho(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class StreamStep:
    """A learning method (``base``) whose global update takes the rho the stream's scaling
    chose for this step instead of the model's schedule; everything else is ``base``'s.
    Picklable (it travels to Dask workers with the local steps)."""

    base: Any
    rho: float = 1.0

    def __getattr__(self, name: str) -> Any:
        if name in ("base", "rho") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def local_step(self, *args: Any, **kwargs: Any) -> tuple[UnitStats, Any]:
        return self.base.local_step(*args, **kwargs)

    def global_update(
        self, state: GlobalState, stats: UnitStats, context: UpdateContext
    ) -> tuple[StepMetrics, float]:
        fixed = dataclasses.replace(context, schedule=_FixedRho(self.rho))
        return self.base.global_update(state, stats, fixed)


def stream_method(model: Any, rho: float) -> StreamStep:
    """The method a stream steps ``model`` with: its own when it steps through
    minibatches, else SVI; with the scaling's ``rho``."""
    base = get_method(model.learning_method)
    if base.grouping != "minibatches":
        base = get_method("online")
    return StreamStep(base, rho)


def metrics_label(model: Any) -> str:
    """What the figure of a stream step of ``model`` is (its method's ``figure_label``)."""
    return stream_method(model, 1.0).figure_label


def split_units(batch: Batch, unit_docs: int = UNIT_DOCS) -> list[Batch]:
    """Consecutive units of at most ``unit_docs`` documents (views of ``batch``)."""
    bounds = list(range(0, batch.n_docs, unit_docs)) + [batch.n_docs]
    return [
        Batch(batch.indptr[a : b + 1], batch.indices, batch.counts, batch.doc_ids[a:b],
              batch.n_features)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ] or [batch]


def take_step(
    model: Any, batch: Batch, scaling: StreamScaling, *, client: Any = None,
) -> StepMetrics:
    """One step of ``model`` (an OnlineLDA with a state) on ``batch``, by its method.

    The documents seen before are the model's (``state_.n_docs_seen``: a model trained
    before it streams counts its training documents too). With ``client`` (a
    ``distributed.Client``) the units' local steps run on the cluster.
    """
    units = split_units(batch)
    seen = model.state_.n_docs_seen
    method = stream_method(model, scaling.rho(model.state_.step, seen, batch.n_docs))
    total = scaling.total_samples(seen, batch.n_docs)
    if client is None:
        return train_step(model, units, total_samples=total, method=method)
    engine = ClusterEngine(client, model, method)
    step = Minibatch(0, 0, False, units)
    metrics = run_loop(model, method, engine, iter([step]), total_samples=total,
                       n_threads=model._n_threads())
    assert metrics is not None
    return metrics


class ClusterEngine:
    """A run-loop engine for minibatches of Batches held in memory (a stream): each
    unit's local step is a Dask task (the unit and its words' rows travel with it; the
    state stays here) and the workers merge the results (one gathered per step). The
    Dask engine proper reads Parquet row groups on the workers."""

    def __init__(self, client: Any, model: Any, method: StreamStep) -> None:
        self.client = client
        self.model = model
        self.method = method
        self.settings = method.settings(model._settings(), model.state_)
        self._minibatches: Iterator[Minibatch] = iter(())
        self._seed_first = False

    def start(self, minibatches: Iterator[Minibatch], *, seed_first: bool) -> None:
        self._minibatches = iter(minibatches)
        self._seed_first = seed_first

    def next_result(self) -> StepInput | None:
        minibatch = next(self._minibatches, None)
        if minibatch is None:
            return None
        state = self.model.state_
        units = minibatch.units
        if self._seed_first:
            seed_topics(state, units, self.model.random_seed_)
            self._seed_first = False
        started = time.perf_counter()
        vocabularies = [unit_vocabulary(u) for u in units]
        words = np.unique(np.concatenate([ids for ids, _ in vocabularies]))
        rows, log_shift = self.method.parameter_rows(state, words, self.model._n_threads())
        futures = []
        for unit, (ids, index) in zip(units, vocabularies, strict=True):
            pos = np.searchsorted(words, ids)
            futures.append(self.client.submit(
                _local_step_task, self.method, unit, index, ids, rows[pos], log_shift[pos],
                state.alpha, self.settings, pure=False,
            ))
        from svi_lda.distributed.tree import submit_reduction

        root, merges = submit_reduction(
            self.client, futures, key=f"svi-lda-stream-merge-{uuid.uuid4().hex[:12]}"
        )
        try:
            stats = self.client.gather(root)
        finally:
            for f in (root, *merges, *futures):
                f.release()
        return StepInput(minibatch, stats, started)

    def updated(self, done: StepInput) -> None:
        """Nothing runs ahead: the next minibatch is not known yet."""

    def close(self) -> None:
        """Each step's futures are gathered before the step ends."""


def _local_step_task(method: StreamStep, unit: Batch, *args: Any) -> UnitStats:
    """A unit's local step on a worker (pure: Dask may re-run it anywhere)."""
    stats, _ = method.local_step(unit, *args)
    return stats
