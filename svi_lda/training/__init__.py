"""Training: one run loop over a source of units, driven by an engine, for any method.

:func:`run_loop` takes the steps; sources (:mod:`svi_lda.training.sources`) say which units
make each step; engines run the method's local steps (:class:`ThreadEngine` in process,
``svi_lda.distributed`` on Dask); methods (:mod:`svi_lda.methods`) supply the local step
and the global update; :mod:`svi_lda.training.report` records each step on the model.
"""

from svi_lda.training.fit import fit_model, train_step
from svi_lda.training.loop import Checkpointing, Engine, StepInput, run_loop
from svi_lda.training.report import HISTORY_KEYS, StepReport, init_records
from svi_lda.training.sources import (
    InMemoryUnits,
    Minibatch,
    UnitSource,
    start_record,
    walk,
)
from svi_lda.training.threads import ThreadEngine

__all__ = [
    "HISTORY_KEYS",
    "Checkpointing",
    "Engine",
    "InMemoryUnits",
    "Minibatch",
    "StepInput",
    "StepReport",
    "ThreadEngine",
    "UnitSource",
    "fit_model",
    "init_records",
    "run_loop",
    "start_record",
    "train_step",
    "walk",
]
