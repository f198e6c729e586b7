"""A minibatch in flight on the Dask cluster: the futures and arrays of one step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svi_lda.corpus import CorpusUnit
from svi_lda.distributed.unit_cache import UnitSource
from svi_lda.training import Minibatch


@dataclass
class InFlight:
    """One minibatch in flight on the cluster: its futures and what was computed for it."""

    minibatch: Minibatch
    # The worker each unit's E-step runs on, from balance_units (None: no preference).
    workers: list[str | None] = field(default_factory=list)
    alive: set[str] = field(default_factory=set)
    # Where each unit is read (kept in that worker's cache), and where its tasks find it.
    sources: list[UnitSource] = field(default_factory=list)
    read_on: list[str | None] = field(default_factory=list)
    # The future of the union of the units' words (one, united on the workers).
    ids: list[Any] = field(default_factory=list)
    # Each unit's local step: a future in pipelined mode, else None (the local steps
    # and merges live on the scheduler, only the root is held here).
    esteps: list[Any] = field(default_factory=list)
    union: np.ndarray | None = None
    # exp(E[log beta]) rows and log shifts for the union, and alpha, when the E-steps go out.
    rows: np.ndarray | None = None
    log_shift: np.ndarray | None = None
    alpha: np.ndarray | None = None
    # The rows' block when scattered (a future, held and released with the step; empty
    # when the block went inline) and the reduction tree's root (the one result gathered).
    scattered: list[Any] = field(default_factory=list)
    root: Any = None
    bytes_out: int = 0
    bytes_in: int = 0
    started: float = 0.0
    coordinator_seconds: float = 0.0

    @property
    def units(self) -> list[CorpusUnit]:
        """The minibatch's row groups."""
        return self.minibatch.units

    @property
    def epoch(self) -> int:
        """The pass the minibatch belongs to."""
        return self.minibatch.epoch

    @property
    def position(self) -> int:
        """The minibatch's index in its pass's plan."""
        return self.minibatch.position

    def release(self) -> None:
        """Release the step's futures and drop its arrays."""
        futures = (self.root, *self.esteps, *self.scattered, *self.ids)
        for f in futures:
            if f is not None:  # None: a local step not submitted (an error came first)
                f.release()
        self.esteps, self.scattered = [], []
        self.ids, self.root = [], None
        self.rows = self.log_shift = self.alpha = None
