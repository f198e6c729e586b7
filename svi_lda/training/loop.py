"""The run loop: the one place where steps are taken, whatever the input, engine or method.

Every fit goes through :func:`run_loop`: in-process ``fit`` and ``partial_fit``, the Dask
engine (:func:`svi_lda.distributed.fit_distributed`) and a stream. It asks its *engine*
for the merged statistics of the next minibatch (the engine runs the method's local steps
on the minibatch's units, wherever they run, and sums them along the fixed tree of
:func:`~svi_lda.step.merge_unit_stats`), applies the *method*'s global update, lets the engine
send out the next local steps, checkpoints, and reports (:mod:`svi_lda.training.report`).
The minibatches come from a *source* (:mod:`svi_lda.training.sources`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from svi_lda.methods import LearningMethod, UpdateContext
from svi_lda.step import StepMetrics, UnitStats
from svi_lda.training.report import StepReport, record_step, report_step
from svi_lda.training.sources import Minibatch


@dataclass
class StepInput:
    """What an engine hands the loop for one minibatch.

    Attributes
    ----------
    minibatch : Minibatch
    stats : UnitStats
        The units' statistics, merged along the fixed tree of unit order.
    started : float
        ``time.perf_counter()`` when the minibatch's local steps started (or the last
        update, if later): the step's ``seconds`` count from here.
    bytes_to_workers, bytes_from_workers : int
        Array payload moved for this step (0 in process).
    coordinator_seconds : float
        Work of this process for the step that the local steps did not overlap.
    """

    minibatch: Minibatch
    stats: UnitStats
    started: float
    bytes_to_workers: int = 0
    bytes_from_workers: int = 0
    coordinator_seconds: float = 0.0


class Engine(Protocol):
    """Runs the method's local steps on the units of each minibatch, in order."""

    def start(self, minibatches: Iterator[Minibatch], *, seed_first: bool) -> None:
        """Take the minibatches to do; with ``seed_first``, seed the topics from the
        first one's documents before its local steps (``init="documents"``)."""
        ...

    def next_result(self) -> StepInput | None:
        """The next minibatch's merged statistics (None when there are no more)."""
        ...

    def updated(self, done: StepInput) -> None:
        """The state changed after ``done``: local steps waiting for it may go out."""
        ...

    def close(self) -> None:
        """Release what is in flight (also after an error)."""
        ...


@dataclass(frozen=True)
class Checkpointing:
    """Where and how often the loop saves the model with its ``resume`` record.

    ``write(record)`` must save the model state and the record atomically, together.
    """

    write: Callable[[dict[str, Any]], None]
    every: int = 0


def run_loop(
    model: Any,
    method: LearningMethod,
    engine: Engine,
    minibatches: Iterator[Minibatch],
    *,
    total_samples: float,
    n_threads: int,
    callbacks: Sequence[Callable[[StepMetrics], object]] = (),
    on_step: Callable[[StepReport], object] | None = None,
    checkpointing: Checkpointing | None = None,
) -> StepMetrics | None:
    """Take one step per minibatch of ``minibatches`` on ``model`` (whose state exists).

    Parameters
    ----------
    model : OnlineLDA
        Its ``state_`` is updated in place; its history and per-topic statistics grow.
    method : LearningMethod
        The local step the engine runs and the global update made here.
    engine : Engine
    minibatches : iterator of Minibatch
        The steps to take, in order (:func:`~svi_lda.training.sources.walk`).
    total_samples : float
        D, the corpus size a minibatch's statistics are scaled to.
    n_threads : int
        Threads of the global update.
    callbacks : sequence of callables
        Called with each step's :class:`~svi_lda.step.StepMetrics`.
    on_step : callable, optional
        Called with each step's :class:`~svi_lda.training.report.StepReport`.
    checkpointing : Checkpointing, optional
        Saves every ``every`` steps (counted on the model's step) and, if the last step
        was not saved, once more at the end.

    Returns
    -------
    StepMetrics or None
        The last step's metrics (None if there was no step).
    """
    state = model.state_
    schedule = model._schedule()
    # Topics assigned by the user (``components_ = ...``) are not reseeded.
    seed_first = (
        method.seeds_topics and model.init == "documents" and state.step == 0
        and not getattr(model, "_topics_assigned", False)
    )
    last_saved = state.step
    record: dict[str, Any] | None = None
    metrics: StepMetrics | None = None
    engine.start(minibatches, seed_first=seed_first)
    try:
        wall = time.perf_counter()
        while (done := engine.next_result()) is not None:
            t0 = time.perf_counter()
            context = UpdateContext(
                schedule=schedule,
                total_samples=total_samples,
                learn_alpha=model._learn_alpha,
                n_threads=n_threads,
                seconds=t0 - done.started,
            )
            metrics, bound_entry = method.global_update(state, done.stats, context)
            done.coordinator_seconds += time.perf_counter() - t0
            # The next local steps go out before checkpointing and reporting, which then
            # run while they compute.
            engine.updated(done)
            if done.minibatch.last_in_epoch:
                model.n_iter_ = done.minibatch.epoch + 1
            record = done.minibatch.resume
            # Recorded before a checkpoint saves the model: a run resumed from it has this
            # step's history and statistics, as the uninterrupted run has.
            record_step(model, method, done.stats, metrics, bound_entry)
            saved = False
            if checkpointing is not None and checkpointing.every > 0 and (
                state.step % checkpointing.every == 0
            ):
                checkpointing.write(record)
                last_saved, saved = state.step, True
            now = time.perf_counter()
            report_step(
                model, method, metrics,
                report=StepReport(
                    metrics=metrics,
                    epoch=done.minibatch.epoch,
                    position=done.minibatch.position,
                    n_units=len(done.minibatch.units),
                    bytes_to_workers=done.bytes_to_workers,
                    bytes_from_workers=done.bytes_from_workers,
                    wall_seconds=now - wall,
                    coordinator_seconds=done.coordinator_seconds,
                    checkpointed=saved,
                ),
                last_in_epoch=done.minibatch.last_in_epoch,
                callbacks=callbacks,
                on_step=on_step,
            )
            wall = now
    finally:
        engine.close()
    if checkpointing is not None and record is not None and last_saved != state.step:
        checkpointing.write(record)
    return metrics
