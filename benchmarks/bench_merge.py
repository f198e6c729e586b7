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

    python benchmarks/bench_merge.py                 # 20,000 words, K=100, 60 repeats
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--words", type=int, default=20_000)
    p.add_argument("--topics", type=int, default=100)
    p.add_argument("--repeats", type=int, default=60)
    args = p.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; "
          f"load average at start {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    rng = np.random.default_rng(0)
    for case in ("same", "overlap", "half"):
        left_ids, right_ids = _inputs(rng, args.words, case)
        for dtype in (np.float32, np.float64):
            left = _node(rng, left_ids, args.topics, dtype)
            right = _node(rng, right_ids, args.topics, dtype)
            equal = _equal(merge_pair(left, right), plain_merge(left, right))  # compiles
            times: dict[str, list[float]] = {"plain": [], "fused": []}
            for _ in range(args.repeats):
                for name, merge in (("plain", plain_merge), ("fused", merge_pair)):
                    t0 = time.perf_counter()
                    merge(left, right)
                    times[name].append(time.perf_counter() - t0)
            q = {name: statistics.quantiles(t, n=4) for name, t in times.items()}
            plain, fused = q["plain"][1] * 1e3, q["fused"][1] * 1e3
            print(f"{case:>7} {np.dtype(dtype).name}  {len(left_ids)} + {len(right_ids)} "
                  f"words x K={args.topics}: plain {plain:.2f} ms "
                  f"[{q['plain'][0] * 1e3:.2f}-{q['plain'][2] * 1e3:.2f}], fused "
                  f"{fused:.2f} ms [{q['fused'][0] * 1e3:.2f}-{q['fused'][2] * 1e3:.2f}] "
                  f"({plain / fused:.1f}x), bitwise equal: {equal}, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
