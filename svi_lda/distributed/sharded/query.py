"""Queries on a sharded model too large to gather: W stays on the workers.

:class:`ShardedModel` loads a sharded checkpoint's parts onto the workers of a Dask
cluster (each worker reads only its shards' rows, from a folder or an fsspec URL) and
answers, without assembling W anywhere:

- ``transform(X)``: documents in batches; for each batch the shards that own its words
  compute their rows of exp(E[log beta]) (the kernel training uses), and a worker pulls
  the pieces and runs the E-step of :func:`svi_lda.inference.document_estep`. Each
  document starts from its content, so its row is bitwise the assembled model's
  ``transform``, whatever the batches.
- ``top_words(n)``: lambda's row sums continued shard to shard in word order (the order
  NumPy sums the assembled lambda in, so bitwise the same), then each shard's best ``n``
  words per topic of lambda / row sums, merged by (probability, lower id first): the
  assembled model's ``top_words``.
- ``score(X)`` / ``perplexity(X)``: the documents' bounds from the E-steps of
  ``transform``, summed in document order, plus the topic bound of
  :func:`svi_lda.bounds.topic_bound` summed chunk by chunk on the shards that own the
  chunk's words (a chunk cut by a shard boundary: its pieces joined on a worker), the
  chunks added in order on the coordinator: the assembled model's, bitwise.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import digamma

from svi_lda import storage
from svi_lda.batch import Batch
from svi_lda.bounds import fold_topic_bound
from svi_lda.distributed.checkpoints import CheckpointError
from svi_lda.distributed.sharded import checkpoint as sharded_checkpoint
from svi_lda.distributed.sharded import shard_tasks
from svi_lda.distributed.sharded.bound_tasks import (
    bound_chunks,
    chunk_sum,
    shard_bound_piece,
    shard_bound_sums,
)
from svi_lda.distributed.sharded.checkpoint import corpus_vocabulary as _vocabulary
from svi_lda.distributed.sharded.engine import ShardedRun, alive_workers
from svi_lda.distributed.sharded.layout import assign_shards, segments, shard_bounds
from svi_lda.persistence.manifest import find_sharded_checkpoint
from svi_lda.state import _FLOOR_OF_DTYPE
from svi_lda.step import unit_vocabulary

logger = logging.getLogger("svi_lda.distributed.sharded")

# Non-zeros per document batch of transform: a batch's rows (at most this many words x K)
# are what one E-step task pulls from the shards.
BATCH_NONZEROS = 1 << 16


@dataclass
class _PulledRows:
    """Stands for the model's state in :func:`svi_lda.inference.document_estep`: the
    rows of the batch's words were computed by the shards that own them."""

    rows: np.ndarray
    log_shift: np.ndarray
    alpha: np.ndarray
    n_components: int

    def exp_elog_beta_rows(
        self, word_ids: np.ndarray, n_threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(word_ids) != len(self.rows):
            raise RuntimeError(f"{len(self.rows)} rows pulled for {len(word_ids)} words")
        return self.rows, self.log_shift


def query_estep(
    batch: Batch, alpha: np.ndarray, settings: Any, seed: int,
    *pieces: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """gamma of ``batch``'s documents from the shards' pieces of rows (in shard order)."""
    return _pulled_estep(batch, alpha, settings, seed, pieces)[0]


def query_doc_bounds(
    batch: Batch, alpha: np.ndarray, settings: Any, seed: int,
    *pieces: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Each of ``batch``'s documents' terms of the ELBO (nats), as :func:`query_estep`."""
    return _pulled_estep(batch, alpha, settings, seed, pieces)[1]


def _pulled_estep(
    batch: Batch, alpha: np.ndarray, settings: Any, seed: int,
    pieces: tuple[tuple[np.ndarray, np.ndarray], ...],
) -> tuple[np.ndarray, np.ndarray]:
    from svi_lda.inference import document_estep

    state = _PulledRows(np.concatenate([p[0] for p in pieces]),
                        np.concatenate([p[1] for p in pieces]), alpha, len(alpha))
    return document_estep(state, batch, settings, 1, seed)  # type: ignore[arg-type]


def _lambda_blocks(token: str, shard: int, scale: float, eta: float) -> Any:
    """The shard's rows of lambda (word-major, float64) in blocks of rows, in order."""
    held = shard_tasks._get(token, shard)
    k = held.word_topic.shape[1]
    block = max(1, shard_tasks.INIT_BLOCK_VALUES // max(k, 1))
    for start in range(0, len(held.word_topic), block):
        # as GlobalState.lambda_: eta + scale * W.astype(float64), element by element
        yield start, eta + scale * held.word_topic[start:start + block].astype(np.float64)


def lambda_sums_chain(
    token: str, shard: int, carry: np.ndarray | None, scale: float, eta: float
) -> np.ndarray:
    """Continue lambda's per-topic sums over this shard's words from ``carry``."""
    k = shard_tasks._get(token, shard).word_topic.shape[1]
    out = np.zeros(k) if carry is None else np.array(carry)
    for _, lam in _lambda_blocks(token, shard, scale, eta):
        shard_tasks._accumulate_rows(lam, out)
    return out


def shard_top(
    token: str, shard: int, n: int, scale: float, eta: float, row_sums: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(global word ids, probabilities) of each topic's best ``n`` of this shard's words,
    shape (K, <= n each block); ties: lower id first."""
    from svi_lda.numerics.topk import top_indices

    held = shard_tasks._get(token, shard)
    ids, values = [], []
    for start, lam in _lambda_blocks(token, shard, scale, eta):
        topics = lam.T / row_sums[:, None]  # as OnlineLDA.get_topics, element by element
        top = top_indices(topics, n)
        ids.append(top + held.lo + start)
        values.append(np.take_along_axis(topics, top, axis=1))
    k = held.word_topic.shape[1]
    if not ids:
        return np.zeros((k, 0), dtype=np.int64), np.zeros((k, 0))
    return np.concatenate(ids, axis=1), np.concatenate(values, axis=1)


def merge_top(
    candidates: list[tuple[np.ndarray, np.ndarray]], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each topic's best ``n`` among the shards' candidates: (ids, values), shape (K, n),
    largest first, ties to the lower id (as :func:`svi_lda.numerics.topk.top_indices`)."""
    ids = np.concatenate([c[0] for c in candidates], axis=1)
    values = np.concatenate([c[1] for c in candidates], axis=1)
    out_ids = np.empty((len(ids), min(n, ids.shape[1])), dtype=np.int64)
    out_values = np.empty(out_ids.shape)
    for k in range(len(ids)):
        order = np.lexsort((ids[k], -values[k]))[: out_ids.shape[1]]
        out_ids[k], out_values[k] = ids[k][order], values[k][order]
    return out_ids, out_values


class ShardedModel:
    """A sharded checkpoint's model, held by the workers of a Dask cluster and queried
    there (W is never assembled). Open it with :meth:`open`; :meth:`close` (or a
    ``with`` block) drops the shards from the workers.

    Attributes
    ----------
    n_components, n_features : int
    checkpoint : path or str
        The sharded checkpoint it was loaded from.
    vocabulary : Vocabulary or None
        The training corpus's vocabulary when its folder can be read (words in
        ``top_words``), else None (word ids).
    """

    def __init__(self, run: ShardedRun, checkpoint: storage.Location,
                 manifest: dict[str, Any], arrays: dict[str, np.ndarray],
                 vocabulary: Any) -> None:
        self.run = run
        run.on_loss = (f": their shards of {checkpoint} are gone; open the model again with "
                       "ShardedModel.open(client, checkpoint)")
        self.checkpoint = checkpoint
        self.manifest = manifest
        self.vocabulary = vocabulary
        self.n_components = int(manifest["n_components"])
        self.n_features = int(manifest["n_features"])
        self.scale = float(manifest["scale"])
        self.eta = float(manifest["eta"])
        # The coordinator's part as a model (W a zero stand-in): reads the queries' inputs
        # exactly as OnlineLDA.transform does, and gives the E-step's settings.
        self._reader = sharded_checkpoint.estimator_from_manifest(manifest)
        self._reader.n_features_in_ = self.n_features
        self._reader.vocabulary_ = vocabulary
        self._reader.state_ = sharded_checkpoint.coordinator_state(
            self.n_features, self.n_components, manifest["dtype"], scale=self.scale,
            topic_sums=arrays["topic_sums"], alpha=arrays["alpha"], eta=self.eta,
            step=int(manifest["step"]), n_docs_seen=int(manifest["n_docs_seen"]),
        )
        self.closed = False

    @classmethod
    def open(cls, client: Any, checkpoint: str | Any, *, n_shards: int | None = None,
             verify: bool = True) -> ShardedModel:
        """Load the sharded checkpoint ``checkpoint`` onto ``client``'s workers, one shard
        per worker by default.

        Parameters
        ----------
        client : distributed.Client
        checkpoint : path or str
            The checkpoint folder, or the model folder of ``svi-lda train --sharded``
            (``--out``) that holds it in ``checkpoint/``: a folder or an fsspec URL that
            this process and the workers can read.
        n_shards : int, optional
            How many shards to cut the vocabulary into (default: one per worker).
        verify : bool, default True
            Check every part's sha256 against the manifest. Each part is hashed by the
            worker that loads most of its rows, as it reads them (with one shard per
            part, as written, no byte is read twice and this process reads none of W);
            pass False to skip it. Parts are checked for presence and size either way.

        Raises
        ------
        CheckpointError
            The checkpoint is missing, incomplete or damaged (the message names the file).
        """
        folder = storage.location(checkpoint)
        found = find_sharded_checkpoint(folder)
        try:
            manifest = sharded_checkpoint.read_manifest(found or folder, verify=verify,
                                                        parts_here=False)
        except CheckpointError as exc:
            if found is not None:
                raise
            raise CheckpointError(
                f"{exc}; {folder} holds no {sharded_checkpoint.MANIFEST}, nor does its "
                "checkpoint folder: pass a sharded checkpoint folder or the --out folder of "
                "svi-lda train --sharded"
            ) from exc
        folder = found or folder
        arrays = sharded_checkpoint.read_npz(
            storage.join(folder, manifest["coordinator"]["file"]))
        workers = sorted(alive_workers(client) or client.scheduler_info().get("workers", {}))
        bounds = shard_bounds(int(manifest["n_features"]), int(n_shards or len(workers)))
        run = ShardedRun(client, uuid.uuid4().hex[:12], bounds,
                         assign_shards(len(bounds) - 1, workers), manifest["dtype"])
        sharded_checkpoint.load_shards(run, folder, manifest, verify=verify, key="query-load")
        return cls(run, folder, manifest, arrays, _vocabulary(manifest))

    def __enter__(self) -> ShardedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the shards from the workers (the model cannot be queried afterwards;
        closing again does nothing)."""
        if self.closed:
            return
        self.closed = True
        self.run.client.run(shard_tasks.drop_run, self.run.token, on_error="ignore")

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(
                f"this ShardedModel of {self.checkpoint} was closed (its shards were "
                "dropped from the workers): open it again with ShardedModel.open"
            )

    def transform(self, X: Any, *, batch_nonzeros: int = BATCH_NONZEROS) -> np.ndarray:
        """Topic distribution of each document, shape (n_documents, n_components): the
        assembled model's ``OnlineLDA.transform`` (same inputs; float32 counts give
        float32 rows), computed on the workers."""
        from svi_lda.inference import query_batch

        self._check_open()
        batch, float32 = query_batch(self._reader, X)
        gammas = self.run.wait(self._estep_tasks(query_estep, batch, batch_nonzeros))
        gamma = (np.concatenate(gammas) if gammas
                 else np.zeros((0, self.n_components)))
        theta = gamma / gamma.sum(axis=1, keepdims=True)
        return theta.astype(np.float32) if float32 else theta

    def score(self, X: Any, y: object = None, *,
              batch_nonzeros: int = BATCH_NONZEROS) -> float:
        """Evidence lower bound of X under the model, in nats (higher is better): the
        assembled model's ``OnlineLDA.score``, bitwise, computed on the workers.

        The documents' terms come from E-steps on the workers (as :meth:`transform`), the
        topics' prior terms from the shards that own the words, chunk by chunk as
        :func:`svi_lda.bounds.topic_bound` sums them; the coordinator adds up one number
        per document and per chunk of words, in order.
        """
        doc_bound, topic_bound, _ = self._bound(X, batch_nonzeros)
        return doc_bound + topic_bound

    def perplexity(self, X: Any, *, batch_nonzeros: int = BATCH_NONZEROS) -> float:
        """exp(-score(X) / number of tokens in X): the assembled model's
        ``OnlineLDA.perplexity``, bitwise, computed as :meth:`score`."""
        doc_bound, topic_bound, n_tokens = self._bound(X, batch_nonzeros, need_tokens=True)
        return float(np.exp(-(doc_bound + topic_bound) / n_tokens))

    def _bound(self, X: Any, batch_nonzeros: int,
               need_tokens: bool = False) -> tuple[float, float, float]:
        """(the documents' ELBO terms summed, the topic bound, the documents' tokens), as
        ``OnlineLDA`` computes them; the E-steps and the shards' sums run together."""
        from svi_lda.inference import query_batch

        self._check_open()
        batch, _ = query_batch(self._reader, X)
        n_tokens = float(np.asarray(batch.counts, dtype=np.float64).sum())
        if need_tokens and n_tokens <= 0:
            raise ValueError("perplexity needs documents with at least one token.")
        estep = self._estep_tasks(query_doc_bounds, batch, batch_nonzeros)
        topic, in_order = self._topic_bound_tasks()
        found = self.run.wait(estep + topic)
        bounds = found[:len(estep)]
        # one array in document order, summed at once: NumPy's sum of the assembled
        # model's array of bounds, whatever the batches
        doc_bound = float(np.concatenate(bounds).sum()) if bounds else 0.0
        return doc_bound, self._fold(in_order(found[len(estep):])), n_tokens

    def _estep_tasks(self, fn: Any, batch: Batch, batch_nonzeros: int) -> list[Any]:
        """``fn(part, alpha, settings, seed, *pieces)`` on a worker for each batch of
        about ``batch_nonzeros`` non-zeros of ``batch``, the pieces the rows of its words
        from the shards that own them; the futures in document order."""
        run, state = self.run, self._reader.state_
        psi_totals = digamma(state.topic_totals())
        floor = _FLOOR_OF_DTYPE[np.dtype(run.dtype)]
        settings, seed = self._reader._settings(), self._reader.random_seed_
        call = uuid.uuid4().hex[:8]
        futures = []
        for lo, hi in _document_batches(batch.indptr, batch_nonzeros):
            part = Batch(indptr=batch.indptr[lo:hi + 1] - batch.indptr[lo],
                         indices=batch.indices[batch.indptr[lo]:batch.indptr[hi]],
                         counts=batch.counts[batch.indptr[lo]:batch.indptr[hi]],
                         doc_ids=batch.doc_ids, n_features=batch.n_features)
            ids, _ = unit_vocabulary(part)
            cuts = segments(ids, run.bounds)
            pieces = [
                run.submit(shard_tasks.shard_rows, run.token, s, state.step,
                           ids[cuts[s]:cuts[s + 1]] - run.bounds[s], state.scale,
                           state.eta, psi_totals, floor, shard=s, key=f"query-rows-{call}-{lo}")
                for s in range(run.n_shards)
            ]
            futures.append(run.client.submit(
                fn, part, state.alpha, settings, seed, *pieces,
                key=f"svi-lda-query-estep-{run.token}-{uuid.uuid4().hex[:8]}", pure=False,
            ))
        return futures

    def _fold(self, chunk_sums: list[tuple[float, int]]) -> float:
        """:func:`svi_lda.bounds.topic_bound` from the chunks' sums, in word order."""
        state = self._reader.state_
        return fold_topic_bound(state.topic_totals(), state.eta, self.n_features, chunk_sums)

    def _topic_bound_chunks(self) -> list[tuple[float, int]]:
        """Each chunk's (sum of the topic bound's terms, number of terms), in word order."""
        futures, in_order = self._topic_bound_tasks()
        return in_order(self.run.wait(futures))

    def _topic_bound_tasks(self) -> tuple[list[Any], Any]:
        """Submit the topic bound's chunk sums: each shard sums the chunks it holds whole;
        a chunk cut by a shard boundary is summed by a task that joins its pieces (at most
        one such chunk per boundary). Returns the futures and the function that puts their
        results in word order as (sum, number of terms) per chunk."""
        run, state = self.run, self._reader.state_
        args = (state.scale, state.eta, digamma(state.topic_totals()))
        call = uuid.uuid4().hex[:8]
        chunks = bound_chunks(run.bounds, self.n_features)
        whole: dict[int, list[tuple[int, int]]] = {}
        cut: list[Any] = []
        for pieces in chunks:
            if len(pieces) == 1:
                s, lo, hi = pieces[0]
                whole.setdefault(s, []).append((lo, hi))
            else:
                cut.append(run.client.submit(
                    chunk_sum,
                    *[run.submit(shard_bound_piece, run.token, s, lo, hi, *args, shard=s,
                                 key=f"query-bound-piece-{call}-{lo}")
                      for s, lo, hi in pieces],
                    key=f"svi-lda-query-bound-chunk-{run.token}-{call}-{pieces[0][1]}",
                    pure=False,
                ))
        shards = sorted(whole)
        futures = [
            run.submit(shard_bound_sums, run.token, s, whole[s], *args, shard=s,
                       key=f"query-bound-{call}")
            for s in shards
        ] + cut
        k = self.n_components

        def in_order(results: list[Any]) -> list[tuple[float, int]]:
            sums = {s: iter(found) for s, found in zip(shards, results, strict=False)}
            cut_sums = iter(results[len(shards):])
            return [
                (next(sums[p[0][0]]) if len(p) == 1 else next(cut_sums),
                 (p[-1][2] - p[0][1]) * k)
                for p in chunks
            ]

        return futures, in_order

    def top_words(self, n: int = 10) -> list[list[tuple[str | int, float]]]:
        """For each topic, its ``n`` most probable words (or ids) with their
        probabilities: the assembled model's ``OnlineLDA.top_words``."""
        self._check_open()
        run = self.run
        futures, carry = [], None
        for s in range(run.n_shards):
            carry = run.submit(lambda_sums_chain, run.token, s, carry, self.scale, self.eta,
                               shard=s, key=f"query-sums-{uuid.uuid4().hex[:8]}")
            futures.append(carry)
        row_sums = run.wait(futures)[-1]
        candidates = run.wait([
            run.submit(shard_top, run.token, s, int(n), self.scale, self.eta, row_sums,
                       shard=s, key=f"query-top-{uuid.uuid4().hex[:8]}")
            for s in range(run.n_shards)
        ])
        ids, values = merge_top(candidates, int(n))
        vocab = self.vocabulary
        words = vocab if vocab is None or isinstance(vocab, list | tuple) else vocab.words
        return [
            [((words[j] if words is not None else int(j)), float(v))
             for j, v in zip(row_ids, row_values, strict=True)]
            for row_ids, row_values in zip(ids, values, strict=True)
        ]


def _document_batches(indptr: np.ndarray, nonzeros: int) -> list[tuple[int, int]]:
    """Consecutive document ranges of about ``nonzeros`` non-zeros each (at least one
    document each)."""
    n_docs = len(indptr) - 1
    out, lo = [], 0
    while lo < n_docs:
        hi = int(np.searchsorted(indptr, indptr[lo] + max(1, nonzeros), side="right")) - 1
        hi = min(n_docs, max(hi, lo + 1))
        out.append((lo, hi))
        lo = hi
    return out
