"""The job of :func:`~svi_lda.distributed.fit_distributed` without a cluster: on threads.

On one machine a Dask cluster only adds cost: every step ships parameter rows to worker
processes and statistics back, and waits for a scheduler round trip, while the in-process
engine (:class:`~svi_lda.training.ThreadEngine`, what ``OnlineLDA.fit`` runs) splits the
same E-steps over this process's threads with nothing to move
(``benchmarks/results/distributed.md``, "svi-lda train on one machine"). So
:func:`fit_in_process` runs the same walk over the corpus, with the same run loop, the
same checkpoints (:mod:`svi_lda.distributed.checkpoints`) and the same ``resume``, on that
engine. ``svi-lda train`` uses it when it is given no cluster.

The model is bitwise the one ``fit_distributed`` gives for any number of workers, and the
one ``OnlineLDA.fit`` gives on the corpus folder; the checkpoints are the same files, so a
run checkpointed here can be resumed on a cluster and the other way round.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from svi_lda import storage
from svi_lda.corpus import ParquetCorpus
from svi_lda.distributed import checkpoints
from svi_lda.estimator import OnlineLDA
from svi_lda.methods import LearningMethod, default_total_samples, get_method
from svi_lda.step import StepMetrics
from svi_lda.training import Checkpointing, Minibatch, StepReport, ThreadEngine, run_loop, walk
from svi_lda.training.sources import CorpusSource

__all__ = ["fit_in_process"]


def fit_in_process(
    model: OnlineLDA,
    corpus: ParquetCorpus | str | Path,
    *,
    n_epochs: int | None = None,
    n_steps: int | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    callbacks: Sequence[Callable[[StepMetrics], object]] = (),
    on_step: Callable[[StepReport], object] | None = None,
) -> OnlineLDA:
    """Fit ``model`` on a Parquet corpus in this process, with checkpoints and resume.

    The arguments are :func:`~svi_lda.distributed.fit_distributed`'s without the cluster
    ones; the E-steps run on ``model.n_jobs`` threads (None: every core).

    Parameters
    ----------
    model : OnlineLDA
        Hyperparameters come from it. Fitted in place (from scratch unless resuming) and
        returned.
    corpus : ParquetCorpus or path
        The corpus folder.
    n_epochs : int, optional
        Passes over the corpus (default ``model.max_iter``), counted from step 0.
    n_steps : int, optional
        Stop once the model has taken this many steps in total (counted from step 0).
    checkpoint_dir : path, optional
        Folder for the checkpoint, written atomically every ``checkpoint_every`` steps
        and at the end (the format of ``fit_distributed``'s).
    checkpoint_every : int
        Steps between checkpoints (0: only at the end).
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` if there is one; the result is
        bitwise identical to an uninterrupted run.
    callbacks : sequence of callables
        Called with each step's :class:`~svi_lda.step.StepMetrics`.
    on_step : callable, optional
        Called with each step's :class:`~svi_lda.training.StepReport`.

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
    method = stepping_method(model)
    ckpt = storage.location(checkpoint_dir) if checkpoint_dir is not None else None
    start = checkpoints.start(model, corpus, ckpt, resume)
    minibatches = corpus_walk(model, method, corpus, start, n_epochs, n_steps)
    n_threads = model._n_threads()
    engine = ThreadEngine(model, method, CorpusSource(corpus), n_threads=n_threads)
    checkpointing = corpus_checkpointing(model, corpus, ckpt, checkpoint_every,
                                         pipelined=False)
    run_loop(
        model, method, engine, minibatches, total_samples=total_samples(model, method, corpus),
        n_threads=n_threads, callbacks=callbacks, on_step=on_step, checkpointing=checkpointing,
    )
    return model


def corpus_checkpointing(
    model: OnlineLDA, corpus: ParquetCorpus, ckpt: storage.Location | None, every: int,
    *, pipelined: bool,
) -> Checkpointing | None:
    """How the run loop saves a corpus walk to ``ckpt`` (None: it does not)."""
    if ckpt is None:
        return None
    return Checkpointing(
        write=lambda record: checkpoints.write_checkpoint(
            model, ckpt, corpus, record, pipelined=pipelined
        ),
        every=int(every),
    )


def stepping_method(model: OnlineLDA, who: str = "checkpointed training over a corpus"
                    ) -> LearningMethod:
    """The model's method, if it steps through minibatches of independent units (what a
    checkpointed walk over a corpus, or a cluster, can run); else a ValueError naming
    ``who`` refuses it."""
    method = get_method(model.learning_method)
    if method.grouping != "minibatches" or method.keeps_local_state:
        raise ValueError(
            f"{who} runs methods that step through minibatches of independent units, "
            f"such as learning_method='online'; got {model.learning_method!r}, which "
            "sweeps the whole corpus each step (fit it with OnlineLDA.fit)."
        )
    return method


def total_samples(model: OnlineLDA, method: LearningMethod, corpus: ParquetCorpus) -> float:
    """D: the model's ``total_samples``, else the method's default for the corpus."""
    return float(model.total_samples or default_total_samples(
        method, corpus.n_docs, corpus.n_tokens
    ))


def corpus_walk(
    model: OnlineLDA,
    method: LearningMethod,
    corpus: ParquetCorpus,
    start: dict[str, Any],
    n_epochs: int | None,
    n_steps: int | None,
) -> Iterator[Minibatch]:
    """The steps from ``start`` (a checkpoint's record) to the end of the run: epochs
    and steps are counted from step 0, so a resumed run stops where the uninterrupted one
    does."""
    minibatches: Iterator[Minibatch] = walk(
        CorpusSource(corpus), grouping=method.grouping, batch_size=int(model.batch_size),
        seed=model.random_seed_, n_epochs=int(model.max_iter if n_epochs is None else n_epochs),
        start=start,
    )
    if n_steps is not None:
        minibatches = itertools.islice(minibatches, max(0, n_steps - model.state_.step))
    return minibatches
