"""The in-process engine: local steps on this process's threads.

A minibatch's parameter rows are computed once for the union of its units' words and each
unit's local step runs on its rows (the Numba kernels release the GIL and split a unit's
documents over ``n_threads``); the units' statistics are summed along the tree of
:func:`~svi_lda.step.merge_unit_stats`, as on a Dask cluster. A pass
(``grouping="pass"`` or ``"whole"``) reads its units one at a time, sums their statistics
over the whole vocabulary and keeps each unit's ``carry`` for the next pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from svi_lda.methods import LearningMethod
from svi_lda.seeding import seed_topics
from svi_lda.step import StatsSum, UnitStats, minibatch_estep, unit_vocabulary
from svi_lda.training.loop import StepInput
from svi_lda.training.sources import Minibatch, UnitSource


class ThreadEngine:
    """Runs ``method``'s local steps on ``source``'s units in this process.

    Parameters
    ----------
    model : OnlineLDA
        Its state is read for the parameter rows (and seeded, on request).
    method : LearningMethod
    source : UnitSource
        Reads the minibatches' unit references.
    n_threads : int
        Threads of each local step and of the parameter rows.
    """

    def __init__(
        self, model: Any, method: LearningMethod, source: UnitSource, *, n_threads: int
    ) -> None:
        if method.keeps_local_state and method.grouping == "minibatches":
            raise ValueError(
                f"learning method {method.name!r} keeps state per unit between passes, "
                "which needs the same units in every step: give it grouping 'pass' or "
                "'whole'."
            )
        self.model = model
        self.method = method
        self.source = source
        self.n_threads = n_threads
        self.settings = method.settings(model._settings(), model.state_)
        self._minibatches: Iterator[Minibatch] = iter(())
        self._seed_first = False
        # Each unit's local state between passes (methods with keeps_local_state).
        self._carry: dict[str, Any] = {}

    def start(self, minibatches: Iterator[Minibatch], *, seed_first: bool) -> None:
        self._minibatches = iter(minibatches)
        self._seed_first = seed_first

    def next_result(self) -> StepInput | None:
        minibatch = next(self._minibatches, None)
        if minibatch is None:
            return None
        if self.method.grouping == "minibatches":
            units = [self.source.read(ref) for ref in minibatch.units]
            self._seed(units)
            started = time.perf_counter()
            stats = minibatch_estep(
                self.model.state_, units, self.settings, n_threads=self.n_threads,
                local_step=self.method.local_step, parameter_rows=self.method.parameter_rows,
            )
        else:
            if self._seed_first:
                self._seed([self.source.read(ref) for ref in minibatch.units])
            started = time.perf_counter()
            stats = self._pass(minibatch.units)
        return StepInput(minibatch, stats, started)

    def _seed(self, units: list[Any]) -> None:
        if self._seed_first:
            seed_topics(self.model.state_, units, self.model.random_seed_)
            self._seed_first = False

    def _pass(self, refs: list[Any]) -> UnitStats:
        """Local steps on every unit, one read at a time, summed over all words."""
        state = self.model.state_
        total: StatsSum | None = None
        for ref in refs:
            unit = self.source.read(ref)
            word_ids, word_index = unit_vocabulary(unit)
            rows, log_shift = self.method.parameter_rows(state, word_ids, self.n_threads)
            key = self.source.key(ref)
            stats, carry = self.method.local_step(
                unit, word_index, word_ids, rows, log_shift, state.alpha, self.settings,
                n_threads=self.n_threads, carry=self._carry.get(key),
            )
            if self.method.keeps_local_state:
                self._carry[key] = carry
            if total is None:
                total = StatsSum(np.arange(state.n_features, dtype=np.int64), stats)
            total.add(stats, stats.word_ids)  # word ids are the rows of a dense sum
        assert total is not None, "a pass over no units"
        return total.total

    def updated(self, done: StepInput) -> None:
        """Nothing runs ahead in process."""

    def close(self) -> None:
        """Nothing in flight in process."""
