"""One step, in pieces every engine shares.

A minibatch is a list of units (a CSR matrix, or Parquet row groups). For each unit:
``unit_vocabulary`` finds its words, the engine computes the parameter rows the method
needs (for SVI exp(E[log beta])) for the union of the minibatch's words, the method's local
step (for SVI ``estep_unit``) runs on the unit's rows, and :func:`merge_unit_stats` sums
the units' statistics along a tree of fixed shape (:func:`reduction_tree`): the one merge
every engine uses. The method's global update (for SVI ``apply_step``) then changes the
state. The in-process engine and the Dask
engine call exactly these functions, which is why they agree bitwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svi_lda.batch import Batch
from svi_lda.numerics.estep import run_estep
from svi_lda.numerics.hashing import hashed_gamma, splitmix64, splitmix64_int
from svi_lda.numerics.merge import merge_sorted_rows
from svi_lda.numerics.remap import compact_vocabulary
from svi_lda.numerics.scatter import add_rows, weighted_bincount
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState, natural_gradient_step, update_alpha


def initial_gamma(doc_ids: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """Initial gamma, a pure function of (seed, document id, topic).

    Values are uniform on [0.8, 1.2) (mean 1 as Hoffman's Gamma(100, 1/100)): enough to
    break the symmetry between topics. Being a hash rather than a random stream, a
    document starts from the same point on any worker, in any minibatch, on any run.
    Compiled (:func:`svi_lda.numerics.hashing.hashed_gamma`); bitwise
    :func:`initial_gamma_reference`.
    """
    seed_key = np.uint64(splitmix64_int(seed & 0xFFFFFFFFFFFFFFFF))
    ids = np.ascontiguousarray(np.asarray(doc_ids).astype(np.uint64))
    out = np.empty((len(ids), n_components), dtype=np.float64)
    hashed_gamma(ids, seed_key, out)
    return out


def content_gamma(batch: Batch, n_components: int, seed: int) -> np.ndarray:
    """Initial gamma of each document of ``batch`` from a hash of its content (word ids
    and counts) and ``seed``, not of its id: inference (``transform``, ``score``, the
    evaluation's ELBO) gives a document the same result wherever it sits in its input.
    Training keeps :func:`initial_gamma` by document id (the same on any worker)."""
    from svi_lda.numerics.hashing import document_content_keys

    keys = document_content_keys(batch.indptr, batch.indices, batch.counts, seed)
    return initial_gamma(keys, n_components, seed)


def initial_gamma_reference(doc_ids: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """:func:`initial_gamma` in NumPy (the definition the kernel is tested against)."""
    seed_key = splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    doc_key = splitmix64(np.asarray(doc_ids).astype(np.uint64) ^ seed_key)
    keys = doc_key[:, None] + np.arange(n_components, dtype=np.uint64)[None, :]
    bits = splitmix64(keys) >> np.uint64(11)
    return 0.8 + 0.4 * (bits.astype(np.float64) * 2.0**-53)


@dataclass(frozen=True)
class EStepSettings:
    """Settings of the local update (scikit-learn names).

    ``accelerate`` extrapolates the document updates (SQUAREM): the same fixed point and
    stopping rule in fewer passes. Batch mode turns it off, since only the plain update
    raises every document's bound monotonically.
    """

    max_doc_update_iter: int = 100
    mean_change_tol: float = 1e-3
    seed: int = 0
    accelerate: bool = True


@dataclass
class UnitStats:
    """Additive E-step output of one unit (or of a merged minibatch).

    Attributes
    ----------
    word_ids : ndarray of int64, shape (n,)
        Sorted, unique global word ids with statistics.
    sstats : ndarray of float64 or float32, shape (n, n_components)
        Sufficient statistics, word-major: float32 from a float32 model's E-step, float64
        once merged.
    n_docs, n_tokens : int, float
    elog_theta_sum : ndarray of float64, shape (n_components,)
        sum_d E[log theta_d], for learning alpha.
    theta_sum : ndarray of float64, shape (n_components,)
        sum_d E[theta_d] (normalised gamma): the documents' expected topic shares.
    doc_bound : float
        Sum of the documents' ELBO terms (nats), before the update.
    n_iter : int
        Total gamma updates over the unit's documents.
    word_counts : ndarray of float64, shape (n,), or None
        Tokens of each of ``word_ids`` in the unit (None: not counted; the records then
        use the row sums of ``sstats``, equal up to rounding).
    extras : dict of str to ndarray or float
        Further additive statistics a learning method needs (merged by addition).
    """

    word_ids: np.ndarray
    sstats: np.ndarray
    n_docs: int
    n_tokens: float
    elog_theta_sum: np.ndarray
    theta_sum: np.ndarray
    doc_bound: float
    n_iter: int
    word_counts: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)


Callback = Callable[["StepMetrics"], object]
"""What ``fit``'s callbacks are: called with each step's :class:`StepMetrics`."""


@dataclass(frozen=True)
class StepMetrics:
    """What one SVI step reports to callbacks and logs."""

    step: int
    rho: float
    n_docs: int
    n_tokens: float
    seconds: float
    docs_per_second: float
    mean_doc_iterations: float
    bound_per_token: float
    """Minibatch ELBO terms of the documents per token (nats), with lambda before the step."""

    @classmethod
    def of_pass(
        cls, number: int, *, n_docs: int, n_tokens: float, seconds: float,
        mean_doc_iterations: float, bound_per_token: float,
    ) -> StepMetrics:
        """A whole-corpus pass reported as a step (batch CAVI, CVB0): ``rho`` is 1."""
        return cls(
            step=number,
            rho=1.0,
            n_docs=n_docs,
            n_tokens=n_tokens,
            seconds=seconds,
            docs_per_second=n_docs / seconds if seconds > 0 else float("inf"),
            mean_doc_iterations=mean_doc_iterations,
            bound_per_token=bound_per_token,
        )


def unit_vocabulary(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique word ids of a unit (int64) and each non-zero's row in that list.

    O(nnz + n log n) for n distinct words, with no O(V) work (see
    :mod:`svi_lda.numerics.remap`).
    """
    start, stop = int(batch.indptr[0]), int(batch.indptr[-1])
    return compact_vocabulary(np.asarray(batch.indices[start:stop]), int(batch.n_features))


def estep_unit(
    batch: Batch,
    word_index: np.ndarray,
    word_ids: np.ndarray,
    exp_elog_beta: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    settings: EStepSettings,
    *,
    n_threads: int = 1,
    gamma: np.ndarray | None = None,
    restart: bool = False,
    word_rows: np.ndarray | None = None,
) -> tuple[UnitStats, np.ndarray]:
    """Run the E-step on one unit; return its statistics and its gamma (n_docs, K).

    ``exp_elog_beta``/``log_shift`` are the rows for ``word_ids`` (from
    :meth:`GlobalState.exp_elog_beta_rows`), or, with ``word_rows``, rows of a larger
    set of words of which ``word_rows[j]`` is word ``word_ids[j]`` (a Dask worker gets one
    set of rows for all its units). The statistics are for ``word_ids`` either way, and
    bitwise the same. ``gamma`` overrides the seeded start (warm starts in batch mode);
    it is updated in place. With ``restart``, each document is also run from the seeded
    start and keeps the better of the two results (higher bound).
    """
    start = int(batch.indptr[0])
    indptr = np.asarray(batch.indptr, dtype=np.int64) - start
    # O(1) checks: the kernel does not bounds-check, so mixed-up arrays would crash it.
    if len(word_index) != int(indptr[-1]):
        raise ValueError(
            f"word_index has {len(word_index)} entries for a unit of {int(indptr[-1])} "
            "non-zeros (see unit_vocabulary: it returns word_ids, word_index)"
        )
    if word_rows is None:
        if len(exp_elog_beta) != len(word_ids):
            raise ValueError(
                f"exp_elog_beta has {len(exp_elog_beta)} rows for {len(word_ids)} word ids"
            )
    else:
        if len(word_rows) != len(word_ids):
            raise ValueError(
                f"word_rows has {len(word_rows)} entries for {len(word_ids)} word ids"
            )
    counts = np.asarray(batch.counts[start : start + int(indptr[-1])], dtype=np.float64)
    seeded = None
    if gamma is None:
        gamma = initial_gamma(batch.doc_ids, len(alpha), settings.seed)
    elif restart:
        seeded = initial_gamma(batch.doc_ids, len(alpha), settings.seed)
    out = run_estep(
        indptr,
        word_index,
        counts,
        exp_elog_beta,
        log_shift,
        alpha,
        gamma,
        max_iter=settings.max_doc_update_iter,
        tol=settings.mean_change_tol,
        n_threads=n_threads,
        gamma_restart=seeded,
        accelerate=settings.accelerate,
        word_rows=word_rows,
    )
    sstats = out["sstats"]
    if exp_elog_beta.dtype == np.float32:
        # A float32 model's statistics travel as float32: half the bytes from each Dask
        # worker, and below the precision its lambda keeps. Merges sum them in float64.
        sstats = sstats.astype(np.float32)
    stats = UnitStats(
        word_ids=word_ids,
        sstats=sstats,
        n_docs=batch.n_docs,
        n_tokens=float(counts.sum()),
        elog_theta_sum=out["elog_theta"].sum(axis=0),
        theta_sum=(gamma / gamma.sum(axis=1, keepdims=True)).sum(axis=0),
        doc_bound=float(out["doc_bound"].sum()),
        n_iter=int(out["n_iter"].sum()),
        word_counts=weighted_bincount(word_index, counts, len(word_ids)),
    )
    return stats, gamma


class StatsSum:
    """Units' statistics summed in the order they are added (a node of the reduction tree,
    or a whole pass's sum over the vocabulary).

    Starts from zeros over ``word_ids`` (the minibatch's words, sorted); each unit's
    statistics are added at its words' rows (``positions``, found by search when not
    given). The order of the additions fixes the rounding, so engines that add the same
    units in the same order get bitwise the same sum, wherever the units were computed.
    """

    def __init__(self, word_ids: np.ndarray, like: UnitStats) -> None:
        counts = None if like.word_counts is None else np.zeros(len(word_ids))
        sstats = np.zeros((len(word_ids), like.sstats.shape[1]), dtype=np.float64)
        self.total = _zero_summaries(word_ids, sstats, counts, like)

    def add(self, part: UnitStats, positions: np.ndarray | None = None) -> None:
        """Add one unit's statistics (``positions``: row of each of its words here)."""
        total = self.total
        if positions is None:
            positions = np.searchsorted(total.word_ids, part.word_ids)
        add_rows(total.sstats, positions, part.sstats)
        if total.word_counts is not None and part.word_counts is not None:
            total.word_counts[positions] += part.word_counts
        _add_summaries(total, part)


def _zero_summaries(
    word_ids: np.ndarray, sstats: np.ndarray, word_counts: np.ndarray | None, like: UnitStats
) -> UnitStats:
    """A sum's start: the given rows, and zeros for every other field (shaped as
    ``like``'s), to which :func:`_add_summaries` adds the parts in order."""
    return UnitStats(
        word_ids=word_ids,
        sstats=sstats,
        n_docs=0,
        n_tokens=0.0,
        elog_theta_sum=np.zeros_like(like.elog_theta_sum),
        theta_sum=np.zeros_like(like.theta_sum),
        doc_bound=0.0,
        n_iter=0,
        word_counts=word_counts,
        extras={name: np.zeros_like(value) for name, value in like.extras.items()},
    )


def _add_summaries(total: UnitStats, part: UnitStats) -> None:
    """Add ``part``'s fields other than its words' rows and counts to ``total``."""
    total.elog_theta_sum += part.elog_theta_sum
    total.theta_sum += part.theta_sum
    total.doc_bound += part.doc_bound
    total.n_docs += part.n_docs
    total.n_tokens += part.n_tokens
    total.n_iter += part.n_iter
    for name, value in part.extras.items():
        total.extras[name] = total.extras[name] + value


def reduction_tree(n_parts: int) -> list[list[tuple[int, int]]]:
    """The fixed shape in which every engine sums ``n_parts`` units' statistics.

    Level by level, adjacent nodes are merged pairwise in unit order: ``(0, 1), (2, 3),
    ...``; an odd last node goes up unchanged. Each level lists the pairs ``(i, j)`` of
    node indices of the level below; the nodes of the next level are the pairs, in order,
    followed by the odd node if any. The shape depends only on ``n_parts``, never on where
    or when the units were computed, so the sum's rounding is the same in process and on
    any number of Dask workers (which run the same merges as tasks).
    """
    levels: list[list[tuple[int, int]]] = []
    width = n_parts
    while width > 1:
        levels.append([(i, i + 1) for i in range(0, width - 1, 2)])
        width = (width + 1) // 2
    return levels


def merge_pair(left: UnitStats, right: UnitStats) -> UnitStats:
    """One node of :func:`reduction_tree`: ``left + right`` over the union of their words.

    Each row is ``0.0 + left``, ``0.0 + right`` or ``(0.0 + left) + right`` in float64
    (:func:`svi_lda.numerics.merge.merge_sorted_rows`, one pass over the output), and every
    other field zero, then ``left``'s, then ``right``'s added: bitwise what adding both
    into float64 zeros over the union gives (:class:`StatsSum`), and a pure function of the
    two inputs. Word ids must be sorted and unique (a one-line ``ValueError`` otherwise).
    """
    words, sstats, counts = merge_sorted_rows(
        left.word_ids, left.sstats, left.word_counts,
        right.word_ids, right.sstats, right.word_counts,
    )
    total = _zero_summaries(words, sstats, counts, left)
    _add_summaries(total, left)
    _add_summaries(total, right)
    return total


def merge_unit_stats(parts: Sequence[UnitStats]) -> UnitStats:
    """Sum units' statistics along :func:`reduction_tree` (the order fixes the rounding).

    One unit is returned as it is; several are merged pairwise (:func:`merge_pair`) over
    the union of their words. The Dask engines run exactly these merges on the workers.
    """
    if not parts:
        raise ValueError("no statistics to merge")
    nodes = list(parts)
    for level in reduction_tree(len(nodes)):
        upper = [merge_pair(nodes[i], nodes[j]) for i, j in level]
        if len(nodes) % 2:
            upper.append(nodes[-1])
        nodes = upper
    return nodes[0]


def apply_step(
    state: GlobalState,
    stats: UnitStats,
    schedule: RobbinsMonro,
    *,
    total_samples: float,
    learn_alpha: bool,
    seconds: float,
    rho: float | None = None,
    n_threads: int = 1,
) -> StepMetrics:
    """The global update for a merged minibatch: lambda, then alpha if it is learned."""
    rho = schedule.rho(state.step) if rho is None else rho
    natural_gradient_step(
        state,
        stats.word_ids,
        stats.sstats,
        batch_n_docs=stats.n_docs,
        total_samples=total_samples,
        rho=rho,
        n_threads=n_threads,
    )
    return finish_step(state, stats, rho, learn_alpha=learn_alpha, seconds=seconds)


def finish_step(
    state: GlobalState, stats: UnitStats, rho: float, *, learn_alpha: bool, seconds: float
) -> StepMetrics:
    """What follows the topics' update in every stochastic step: alpha's update with
    weight ``rho`` if it is learned, then the step's metrics."""
    if learn_alpha:
        state.alpha = update_alpha(state.alpha, stats.elog_theta_sum, stats.n_docs, rho)
    return StepMetrics(
        step=state.step,
        rho=rho,
        n_docs=stats.n_docs,
        n_tokens=stats.n_tokens,
        seconds=seconds,
        docs_per_second=stats.n_docs / seconds if seconds > 0 else float("inf"),
        mean_doc_iterations=stats.n_iter / max(stats.n_docs, 1),
        bound_per_token=stats.doc_bound / stats.n_tokens if stats.n_tokens else 0.0,
    )


def svi_local_step(
    batch: Batch,
    word_index: np.ndarray,
    word_ids: np.ndarray,
    rows: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    settings: EStepSettings,
    *,
    n_threads: int = 1,
    word_rows: np.ndarray | None = None,
    carry: Any = None,
) -> tuple[UnitStats, Any]:
    """SVI's local step in the form every engine calls: :func:`estep_unit` from the
    seeded start (SVI keeps no state of its own between steps, so ``carry`` is unused)."""
    stats, _ = estep_unit(
        batch, word_index, word_ids, rows, log_shift, alpha, settings,
        n_threads=n_threads, word_rows=word_rows,
    )
    return stats, None


def svi_parameter_rows(
    state: GlobalState, word_ids: np.ndarray, n_threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """What SVI's local step needs of the state for ``word_ids``: exp(E[log beta]) rows."""
    return state.exp_elog_beta_rows(word_ids, n_threads=n_threads)


def minibatch_estep(
    state: GlobalState,
    units: Sequence[Batch],
    settings: EStepSettings,
    *,
    n_threads: int = 1,
    local_step: Callable[..., tuple[UnitStats, Any]] = svi_local_step,
    parameter_rows: Callable[..., tuple[np.ndarray, np.ndarray]] = svi_parameter_rows,
) -> UnitStats:
    """Local steps over a minibatch made of ``units`` in one process, merged along the
    tree of :func:`merge_unit_stats`.

    The parameter rows are computed once for the union of the units' words, as the Dask
    coordinator does, and each unit gets its words' rows.
    """
    vocabularies = [unit_vocabulary(u) for u in units]
    if len(units) == 1:
        union = vocabularies[0][0]
    else:
        union = np.unique(np.concatenate([ids for ids, _ in vocabularies]))
    rows, log_shift = parameter_rows(state, union, n_threads)
    parts = []
    for unit, (ids, index) in zip(units, vocabularies, strict=True):
        if len(units) > 1:
            pos = np.searchsorted(union, ids)
            unit_rows, unit_shift = rows[pos], log_shift[pos]
        else:  # the unit's words are the union: no copy of the K x words block
            unit_rows, unit_shift = rows, log_shift
        stats, _ = local_step(
            unit, index, ids, unit_rows, unit_shift, state.alpha, settings, n_threads=n_threads
        )
        parts.append(stats)
    return merge_unit_stats(parts)


def svi_step(
    state: GlobalState,
    units: list[Batch],
    settings: EStepSettings,
    schedule: RobbinsMonro,
    *,
    total_samples: float,
    learn_alpha: bool = False,
    n_threads: int = 1,
) -> StepMetrics:
    """One full in-process SVI step on a minibatch made of ``units``, on a bare state.

    No seeding, history or callbacks: a model trains through the run loop
    (:func:`svi_lda.training.train_step` for one minibatch).
    """
    started = time.perf_counter()
    stats = minibatch_estep(state, units, settings, n_threads=n_threads)
    return apply_step(
        state,
        stats,
        schedule,
        total_samples=total_samples,
        learn_alpha=learn_alpha,
        seconds=time.perf_counter() - started,
        n_threads=n_threads,
    )
