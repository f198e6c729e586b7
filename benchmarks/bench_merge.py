"""One node of the reduction tree (``svi_lda.step.merge_pair``): the fused kernel against
the plain merge it replaced, in the same run.

The plain merge is ``np.union1d`` + :class:`svi_lda.step.StatsSum` (float64 zeros over
the union, two ``searchsorted`` + two ``add_rows``), which is what ``merge_pair`` was.
Both are timed alternately, ``--repeats`` times each, on the same inputs; printed: the
median and quartiles in ms, whether the results are bitwise equal, and the load average
(other jobs share this machine's 2 cores: compare only figures of one run).

Inputs, K = ``--topics``: ``same`` = two nodes over the same ``--words`` words (as
``bench_scale_out.py`` times it), ``overlap`` = two units of 95% of the words each
(random), ``half`` = two disjoint halves; leaves in float32 (a float32 model's E-step)
and inner nodes in float64.

Then the sharded update's sum of a shard segment's units (``shard_tasks._tree_sum``):
four units of 95% of the segment's ``--words`` words each, float32, against the dense sum
it replaced (each unit spread over float64 zeros of the segment, blocks added pairwise).

With ``--fit CORPUS``: ``OnlineLDA(n_components=--topics, max_iter=1, batch_size=2048,
n_jobs=1).fit(CORPUS)`` in this process, ``--fit-rounds`` times with each merge
alternately (``svi_lda.step.merge_pair`` replaced by a timed plain or fused merge; the
models are checked bitwise equal): the fit's seconds and the seconds spent in merges.

    python benchmarks/bench_merge.py                 # 20,000 words, K=100, 60 repeats
    python benchmarks/bench_merge.py --repeats 0 --fit benchmarks/_work/lda-60000-20000-100-rg1024
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from functools import partial

import numpy as np

from svi_lda.step import StatsSum, UnitStats, merge_pair


def plain_merge(left: UnitStats, right: UnitStats) -> UnitStats:
    """merge_pair before the fused kernel."""
    merged = StatsSum(np.union1d(left.word_ids, right.word_ids), left)
    merged.add(left)
    merged.add(right)
    return merged.total


def _node(rng: np.random.Generator, ids: np.ndarray, k: int, dtype: type) -> UnitStats:
    return UnitStats(ids, rng.random((len(ids), k)).astype(dtype), 1, 1.0, np.zeros(k),
                     np.zeros(k), 0.0, 1, np.ones(len(ids)))


def _inputs(rng: np.random.Generator, v: int, case: str) -> tuple[np.ndarray, np.ndarray]:
    if case == "same":
        return np.arange(v, dtype=np.int64), np.arange(v, dtype=np.int64)
    if case == "overlap":
        return (np.sort(rng.choice(v, int(0.95 * v), replace=False)).astype(np.int64),
                np.sort(rng.choice(v, int(0.95 * v), replace=False)).astype(np.int64))
    return np.arange(0, v // 2, dtype=np.int64), np.arange(v // 2, v, dtype=np.int64)


def _equal(a: UnitStats, b: UnitStats) -> bool:
    return (np.array_equal(a.word_ids, b.word_ids)
            and a.sstats.tobytes() == b.sstats.tobytes()
            and a.word_counts.tobytes() == b.word_counts.tobytes())


def dense_tree_sum(slices: list, n: int, k: int) -> np.ndarray:
    """shard_tasks._tree_sum before the merge kernel."""
    from svi_lda.numerics.scatter import add_rows
    from svi_lda.step import reduction_tree

    nodes = []
    for positions, rows, _ in slices:
        dense = np.zeros((n, k))
        add_rows(dense, positions, rows)
        nodes.append(dense)
    for level in reduction_tree(len(nodes)):
        upper = [nodes[i] + nodes[j] for i, j in level]
        if len(nodes) % 2:
            upper.append(nodes[-1])
        nodes = upper
    return nodes[0]


def _time_pair(first, second, repeats: int) -> tuple[list[float], list[float]]:
    """Quartiles (ms) of ``first()`` and ``second()``, timed alternately."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in zip((first, second), times, strict=True):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return tuple([q * 1e3 for q in statistics.quantiles(t, n=4)] for t in times)


def time_fit(corpus_path: str, k: int, rounds: int) -> None:
    """fit's seconds and its seconds in merges, with the plain and the fused merge."""
    import svi_lda.step as step
    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus

    corpus = ParquetCorpus(corpus_path)
    print(f"corpus: {corpus}; K={k}, 1 epoch, batch_size=2048, n_jobs=1")
    fused = step.merge_pair
    words = {}
    try:
        for r in range(rounds):
            for name, merge in (("plain", plain_merge), ("fused", fused)):
                spent = [0.0, 0]

                def timed(left: UnitStats, right: UnitStats, merge=merge, spent=spent):
                    t0 = time.perf_counter()
                    out = merge(left, right)
                    spent[0] += time.perf_counter() - t0
                    spent[1] += 1
                    return out

                step.merge_pair = timed
                model = OnlineLDA(n_components=k, max_iter=1, batch_size=2048, n_jobs=1,
                                  random_state=0)
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                model.fit(corpus)
                seconds = time.perf_counter() - t0
                words[name] = model.state_.word_topic.tobytes()
                print(f"round {r + 1} {name}: fit {seconds:.2f} s, {spent[1]} merges "
                      f"{spent[0]:.2f} s ({100 * spent[0] / seconds:.1f}%), load before "
                      f"{load:.1f}", flush=True)
            print(f"models bitwise equal: {words['plain'] == words['fused']}", flush=True)
    finally:
        step.merge_pair = fused


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--words", type=int, default=20_000)
    p.add_argument("--topics", type=int, default=100)
    p.add_argument("--repeats", type=int, default=60)
    p.add_argument("--fit", help="a Parquet corpus to time fit's merges on")
    p.add_argument("--fit-rounds", type=int, default=2)
    args = p.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; "
          f"load average at start {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    if args.fit:
        time_fit(args.fit, args.topics, args.fit_rounds)
    if args.repeats < 1:
        return 0
    rng = np.random.default_rng(0)
    for case in ("same", "overlap", "half"):
        left_ids, right_ids = _inputs(rng, args.words, case)
        for dtype in (np.float32, np.float64):
            left = _node(rng, left_ids, args.topics, dtype)
            right = _node(rng, right_ids, args.topics, dtype)
            equal = _equal(merge_pair(left, right), plain_merge(left, right))  # compiles
            qp, qf = _time_pair(partial(plain_merge, left, right),
                                partial(merge_pair, left, right), args.repeats)
            print(f"{case:>7} {np.dtype(dtype).name}  {len(left_ids)} + {len(right_ids)} "
                  f"words x K={args.topics}: plain {qp[1]:.2f} ms [{qp[0]:.2f}-{qp[2]:.2f}], "
                  f"fused {qf[1]:.2f} ms [{qf[0]:.2f}-{qf[2]:.2f}] ({qp[1] / qf[1]:.1f}x), "
                  f"bitwise equal: {equal}, load {os.getloadavg()[0]:.1f}", flush=True)
    from svi_lda.distributed.sharded.shard_tasks import _tree_sum

    n, k = args.words, args.topics
    slices = [(np.sort(rng.choice(n, int(0.95 * n), replace=False)),
               rng.random((int(0.95 * n), k)).astype(np.float32), None) for _ in range(4)]
    equal = _tree_sum(tuple(slices), n, k).tobytes() == dense_tree_sum(slices, n, k).tobytes()
    qp, qf = _time_pair(partial(dense_tree_sum, slices, n, k),
                        partial(_tree_sum, tuple(slices), n, k), args.repeats)
    print(f"sharded segment sum, 4 float32 units of {int(0.95 * n)} of {n} words x K={k}: "
          f"dense {qp[1]:.2f} ms [{qp[0]:.2f}-{qp[2]:.2f}], merges {qf[1]:.2f} ms "
          f"[{qf[0]:.2f}-{qf[2]:.2f}] ({qp[1] / qf[1]:.1f}x), bitwise equal: {equal}, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
