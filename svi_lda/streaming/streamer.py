"""The streamer: one long-lived model that learns from the files landing in a folder.

Loop: list the folder, cut the next minibatch from the ordered document sequence
(:mod:`svi_lda.streaming.feed`), encode it (growing the vocabulary), take one step of the
model's method (SVI, or SCVB0 for ``learning_method="scvb0"``:
:func:`svi_lda.streaming.steps.take_step`), advance the ledger; every N steps or S
seconds, when the folder runs dry, and at stop, publish a snapshot.

A snapshot is the model folder itself, written by :func:`svi_lda.persistence.save_model`
with the ledger in its manifest: one atomic rename commits the state and the record of
what it has consumed together. It is both what readers load (``svi_lda.load(MODEL_DIR)``)
and the checkpoint a restarted streamer resumes from; the steps taken after it are simply
taken again, on the same documents with the same ids, so the model after a crash and
restart equals an uninterrupted run's. One streamer writes a model folder at a time (a
lock file, ``.stream.lock``, enforces it); any number of processes may read it.

Rejected records and files go to ``MODEL_DIR/rejected/<file>.jsonl``, one JSON object per
line (``file``, ``line`` or ``row``, ``reason``; a file rejected from some point on has an
entry without a position, with ``"rest_of_file": true``). The source is never modified.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from svi_lda import storage
from svi_lda.streaming.encode import encode_pieces
from svi_lda.streaming.feed import DocumentFeed, Minibatch
from svi_lda.streaming.ledger import Ledger
from svi_lda.streaming.readers import DEFAULT_BLOCK_BYTES, FileEnd
from svi_lda.streaming.scaling import StreamScaling
from svi_lda.streaming.source import FolderSource
from svi_lda.streaming.steps import metrics_label, take_step
from svi_lda.streaming.vocabulary import GrowingVocabulary
from svi_lda.text.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

ENGINE = "svi_lda.streaming"
REJECTED_SUBDIR = "rejected"
LOCK_FILE = ".stream.lock"


class StreamError(RuntimeError):
    """The stream cannot start (no topics for a new model, another writer, a bad model)."""


@dataclass(frozen=True)
class StreamSettings:
    """How a stream runs (not hyperparameters of the model).

    Attributes
    ----------
    batch_size : int
        Documents per minibatch (S).
    schedule : {"stationary", "drift"}
        Step scaling (:mod:`svi_lda.streaming.scaling`).
    drift_window : int
        Effective corpus size of the "drift" mode.
    max_vocabulary : int or None
        Cap on the vocabulary (:mod:`svi_lda.streaming.vocabulary`).
    snapshot_every : int or None
        Steps between snapshots.
    snapshot_seconds : float or None
        Seconds between snapshots (a snapshot is also taken when the folder runs dry and at
        stop).
    poll_seconds : float
        Wait between listings of the folder when it has no full minibatch.
    text_field : str
        Field holding the text (TSV, CSV, JSON Lines, Parquet).
    block_bytes : int
        Read size: bounds the memory one file takes while read.
    """

    batch_size: int = 512
    schedule: str = "stationary"
    drift_window: int = 25_000
    max_vocabulary: int | None = None
    snapshot_every: int | None = 20
    snapshot_seconds: float | None = None
    poll_seconds: float = 5.0
    text_field: str = "text"
    block_bytes: int = DEFAULT_BLOCK_BYTES


@dataclass(frozen=True)
class StreamProgress:
    """What the streamer reports after a step (or a snapshot)."""

    step: int
    files: int
    docs: int
    docs_per_second: float
    rho: float
    vocabulary_size: int
    bound_per_token: float
    snapshot_seconds: float | None = None
    figure_name: str = "ELBO"
    """What ``bound_per_token`` is: "ELBO" (SVI) or "log-predictive" (SCVB0, not a bound)."""


class Streamer:
    """Keep a model in ``model_dir`` up to date with the files landing in ``source``.

    Parameters
    ----------
    source : str or path
        The folder (local path or fsspec URL, e.g. ``s3://bucket/inbox``) where new files
        appear.
    model_dir : str or path
        The model folder (local path or fsspec URL): continued if it holds a model,
        created otherwise. On an object store there is no lock: run one streamer per
        model folder.
    n_components : int, optional
        K, required for a new model.
    settings : StreamSettings
    model_params : dict, optional
        Further :class:`~svi_lda.OnlineLDA` parameters for a new model (``random_state``
        defaults to 0, so a stream is reproducible). ``learning_method="scvb0"`` streams
        SCVB0 steps; a continued model keeps the method it was made with.
    tokenizer : Tokenizer, optional
        For a new model (default ``Tokenizer()``, as ``svi-lda ingest``).
    client : distributed.Client, optional
        Run the E-steps on this Dask cluster.
    progress : callable(StreamProgress), optional
        Called after every step.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        model_dir: str | os.PathLike[str],
        *,
        n_components: int | None = None,
        settings: StreamSettings = StreamSettings(),
        model_params: dict[str, Any] | None = None,
        tokenizer: Tokenizer | None = None,
        client: Any = None,
        progress: Callable[[StreamProgress], None] | None = None,
    ) -> None:
        self.source = FolderSource(source)
        self.model_dir = storage.location(model_dir)
        self.settings = settings
        self.client = client
        self.progress = progress
        StreamScaling(settings.schedule, settings.batch_size, settings.drift_window)  # checks
        self.scaling: StreamScaling | None = None
        self._stop = threading.Event()
        self._lock_fd: int | None = None
        self._n_components = n_components
        self._model_params = dict(model_params or {})
        self._tokenizer = tokenizer
        self.model: Any = None
        self.ledger = Ledger()
        self.vocabulary: GrowingVocabulary | None = None

    # -- life cycle -----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the stream to stop after the current step (safe from a signal handler)."""
        self._stop.set()

    def run(self, *, once: bool = False, max_steps: int | None = None,
            handle_signals: bool = True) -> Ledger:
        """Stream until stopped (or, with ``once``, until the folder is drained).

        SIGINT and SIGTERM stop it cleanly after the current step when ``handle_signals``
        (and this is the main thread). A final snapshot is written at stop. Returns the
        ledger of what the model has consumed.
        """
        restore = self._install_signals() if handle_signals else {}
        try:
            self._acquire_lock()
            self._open_model()
            s = self.settings
            self.scaling = StreamScaling(
                s.schedule, s.batch_size, s.drift_window,
                tau0=float(self.model.learning_offset), kappa=float(self.model.learning_decay),
            )
            return self._loop(once=once, max_steps=max_steps)
        finally:
            for sig, handler in restore.items():
                signal.signal(sig, handler)
            self._release_lock()

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: self.stop())
        return previous

    def _acquire_lock(self) -> None:
        if not isinstance(self.model_dir, Path):
            # An object store has no locks: one writer per model folder is up to the
            # deployment (one streamer service per model), as the README says.
            return
        self.model_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.model_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StreamError(
                f"another streamer is writing {self.model_dir} (it holds {LOCK_FILE}); "
                "one writer per model folder"
            ) from None
        self._lock_fd = fd
        # Temporary files of a writer that was killed mid-write (we are the only writer).
        for tmp in self.model_dir.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _open_model(self) -> None:
        from svi_lda.estimator import OnlineLDA, load_model

        cap = self.settings.max_vocabulary
        if storage.is_file(storage.join(self.model_dir, "model.json")):
            self.model = load_model(self.model_dir)
            extra = getattr(self.model, "load_extra_", {}) or {}
            self.ledger = Ledger.from_json(extra.get("stream"))
            self.vocabulary = GrowingVocabulary.from_model_vocabulary(
                self.model.vocabulary_, cap, self._tokenizer
            )
            logger.info(
                "continuing %s at step %d (%d documents, %d files taken)", self.model_dir,
                self.model.state_.step, self.ledger.n_docs, len(self.ledger.done),
            )
            return
        if self._n_components is None:
            raise StreamError(
                f"{self.model_dir} holds no model yet: give the number of topics "
                "(--topics K / n_components=K) to start one"
            )
        params = {"random_state": 0, "batch_size": self.settings.batch_size}
        params.update(self._model_params)
        self.model = OnlineLDA(n_components=self._n_components, **params)
        self.model._check_params()
        self.vocabulary = GrowingVocabulary([], self._tokenizer or Tokenizer(), max_size=cap)

    # -- the loop -------------------------------------------------------------------------
    def _loop(self, *, once: bool, max_steps: int | None) -> Ledger:
        s = self.settings
        feed = DocumentFeed(
            self.source, self.ledger, on_file_end=self._record_rejects,
            text_field=s.text_field, block_bytes=s.block_bytes,
        )
        feed.poll()
        unsaved = 0
        last_snapshot = time.monotonic()
        steps = 0
        window_start, window_docs = time.perf_counter(), 0
        while not self._stop.is_set() and (max_steps is None or steps < max_steps):
            batch = feed.take(s.batch_size)
            if batch is None and feed.poll():
                continue
            if batch is None and once:
                batch = feed.take(s.batch_size, final=True)
                if batch is None:
                    break
            if batch is None:
                finished = feed.take_finished_files()
                if finished.events:
                    finished.record_in(self.ledger)
                    unsaved += 1
                if unsaved:  # caught up with the folder: publish what we have
                    self._snapshot()
                    unsaved, last_snapshot = 0, time.monotonic()
                self._stop.wait(s.poll_seconds)
                continue
            metrics = self._apply(batch)
            unsaved += 1
            if metrics is None:
                continue
            steps += 1
            window_docs += metrics.n_docs
            due = (s.snapshot_every and unsaved >= s.snapshot_every) or (
                s.snapshot_seconds is not None
                and time.monotonic() - last_snapshot >= s.snapshot_seconds
            )
            snapshot_time = None
            if due:
                snapshot_time = self._snapshot()
                unsaved, last_snapshot = 0, time.monotonic()
            elapsed = time.perf_counter() - window_start
            self._report(metrics, feed, window_docs / elapsed if elapsed > 0 else 0.0,
                         snapshot_time)
            window_start, window_docs = time.perf_counter(), 0
        finished = feed.take_finished_files()
        if finished.events:
            finished.record_in(self.ledger)
            unsaved += 1
        if unsaved:
            self._snapshot()
        return self.ledger

    def _apply(self, batch: Minibatch) -> Any:
        """Encode and learn from one minibatch, then advance the ledger past it."""
        metrics = None
        if batch.n_docs:
            state = getattr(self.model, "state_", None)
            encoded = encode_pieces(batch.pieces, self.vocabulary, state, self.ledger.n_docs)
            if state is None:
                self.model._init_state(len(self.vocabulary))
            retired = self.vocabulary.take_retired()
            frequency = getattr(self.model, "term_frequency_", None)
            if len(retired) and frequency is not None:
                frequency[retired[retired < len(frequency)]] = 0.0  # the slots start afresh
            metrics = take_step(self.model, encoded, self.scaling, client=self.client)
        batch.record_in(self.ledger)
        return metrics

    def _snapshot(self) -> float:
        """Publish the model with the ledger (one atomic commit); returns seconds taken."""
        from svi_lda.persistence import save_model

        if getattr(self.model, "state_", None) is None:
            return 0.0  # nothing learned yet: no model to publish
        started = time.perf_counter()
        self.model.vocabulary_ = self.vocabulary.to_vocabulary()
        save_model(
            self.model,
            self.model_dir,
            extra={
                "engine": ENGINE,
                "stream": self.ledger.to_json(),
                "stream_settings": {k: v for k, v in asdict(self.settings).items()},
            },
        )
        seconds = time.perf_counter() - started
        logger.info("snapshot at step %d (%d documents) in %.3f s", self.model.state_.step,
                    self.ledger.n_docs, seconds)
        return seconds

    def _record_rejects(self, end: FileEnd) -> None:
        """Write a file's rejected records to ``rejected/<file>.jsonl`` (idempotent)."""
        entries = list(end.rejects)
        if end.error is not None:
            entries.append({"file": end.file, "rest_of_file": True, "reason": end.error})
            named = end.error if end.error.startswith(end.file) else f"{end.file}: {end.error}"
            logger.warning("set aside: %s", named)
        if not entries:
            return
        folder = storage.join(self.model_dir, REJECTED_SUBDIR)
        if isinstance(folder, Path):
            folder.mkdir(exist_ok=True)
        body = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
        storage.write_bytes(storage.join(folder, f"{end.file}.jsonl"), body.encode())

    def _report(self, metrics: Any, feed: DocumentFeed, docs_per_second: float,
                snapshot_time: float | None) -> None:
        progress = StreamProgress(
            step=metrics.step,
            files=len(self.ledger.done),
            docs=self.ledger.n_docs,
            docs_per_second=docs_per_second,
            rho=metrics.rho,
            vocabulary_size=self.vocabulary.n_words,
            bound_per_token=metrics.bound_per_token,
            snapshot_seconds=snapshot_time,
            figure_name="ELBO" if "ELBO" in metrics_label(self.model) else "log-predictive",
        )
        if self.progress is not None:
            self.progress(progress)


def stream(
    source: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    *,
    n_components: int | None = None,
    once: bool = False,
    max_steps: int | None = None,
    client: Any = None,
    progress: Callable[[StreamProgress], None] | None = None,
    tokenizer: Tokenizer | None = None,
    model_params: dict[str, Any] | None = None,
    **settings: Any,
) -> Ledger:
    """Stream the files of ``source`` into the model in ``model_dir`` (see :class:`Streamer`).

    ``settings`` are :class:`StreamSettings` fields (``batch_size``, ``schedule``,
    ``drift_window``, ``max_vocabulary``, ``snapshot_every``, ``snapshot_seconds``,
    ``poll_seconds``, ``text_field``, ``block_bytes``). Runs until SIGINT/SIGTERM (or
    :meth:`Streamer.stop`), or with ``once`` until the folder is drained; returns the
    ledger of what the model has consumed.

    Examples
    --------
    >>> import svi_lda
    >>> svi_lda.stream("inbox/", "model/", n_components=20, once=True)  # doctest: +SKIP
    >>> svi_lda.load("model/").transform(["a new document"])            # doctest: +SKIP
    """
    streamer = Streamer(
        source, model_dir, n_components=n_components, settings=StreamSettings(**settings),
        model_params=model_params, tokenizer=tokenizer, client=client, progress=progress,
    )
    return streamer.run(once=once, max_steps=max_steps)
