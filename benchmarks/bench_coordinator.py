"""The coordinator's own costs behind two choices in ``svi_lda.distributed``.

1. Merging a unit's statistics into the minibatch's: NumPy's ``merged[rows] += part``
   against the compiled :func:`svi_lda.numerics.scatter.add_rows` (bitwise the same sum),
   at the size of one 4,096-document unit of the distributed benchmark (19,000 of 20,000
   words, K = 100).
2. Finding a 4-unit minibatch's union of words (units of 19,000 of 20,000 words):
   ``np.unique`` + ``searchsorted`` against
   :func:`svi_lda.distributed.placement.union_of` (the same arrays).
3. What an idle 2-worker LocalCluster costs in CPU, with Dask's defaults and with
   ``local_cluster``'s ``CLUSTER_CONFIG``: the event-loop thread of this process (client,
   scheduler and nannies) and each worker process.

    python benchmarks/bench_coordinator.py
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time

import numpy as np
import psutil

IDLE_SECONDS = 10.0


def time_merge(repeats: int = 50) -> None:
    from svi_lda.numerics.scatter import add_rows

    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(20_000, 19_000, replace=False))
    for dtype in (np.float32, np.float64):
        part = rng.random((19_000, 100)).astype(dtype)
        a, b = np.zeros((20_000, 100)), np.zeros((20_000, 100))
        add_rows(b, rows, part)  # compile outside the timing
        b[:] = 0.0
        t0 = time.perf_counter()
        for _ in range(repeats):
            a[rows] += part
        numpy_ms = (time.perf_counter() - t0) / repeats * 1e3
        t0 = time.perf_counter()
        for _ in range(repeats):
            add_rows(b, rows, part)
        kernel_ms = (time.perf_counter() - t0) / repeats * 1e3
        print(f"merge of a 19,000 x 100 {np.dtype(dtype).name} unit: NumPy {numpy_ms:.2f} ms, "
              f"add_rows {kernel_ms:.2f} ms ({numpy_ms / kernel_ms:.1f}x), bitwise equal: "
              f"{np.array_equal(a, b)}")


def time_union(repeats: int = 20) -> None:
    from svi_lda.distributed.placement import union_of

    rng = np.random.default_rng(0)
    ids = [np.sort(rng.choice(20_000, 19_000, replace=False)).astype(np.int32)
           for _ in range(4)]

    def with_numpy():
        union = np.unique(np.concatenate(ids))
        return union, [np.searchsorted(union, i) for i in ids]

    def with_remap():
        return union_of(ids, 20_000)

    a, b = with_numpy(), with_remap()  # compile outside the timing
    same = np.array_equal(a[0], b[0]) and all(map(np.array_equal, a[1], b[1]))
    times = []
    for f in (with_numpy, with_remap):
        t0 = time.perf_counter()
        for _ in range(repeats):
            f()
        times.append((time.perf_counter() - t0) / repeats * 1e3)
    print(f"union of 4 units' words: np.unique + searchsorted "
          f"{times[0]:.1f} ms, union_of {times[1]:.1f} ms, same arrays: {same}")


def _thread_cpu() -> dict[int, tuple[str, float]]:
    names = {t.native_id: t.name for t in threading.enumerate()}
    return {t.id: (names.get(t.id, "?"), t.user_time + t.system_time)
            for t in psutil.Process().threads()}


def _worker_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def idle_cost(label: str, make_cluster) -> None:
    from distributed import Client

    with make_cluster() as cluster, Client(cluster) as client:
        time.sleep(2.0)  # start-up done
        before, wbefore = _thread_cpu(), client.run(_worker_cpu)
        time.sleep(IDLE_SECONDS)
        after, wafter = _thread_cpu(), client.run(_worker_cpu)
    loop = sum(cpu - before.get(tid, ("", 0.0))[1]
               for tid, (name, cpu) in after.items() if name == "IO loop")
    workers = [(wafter[a] - wbefore[a]) / IDLE_SECONDS * 1e3 for a in sorted(wafter)]
    print(f"idle 2-worker cluster, {label}: event loop of this process "
          f"{loop / IDLE_SECONDS * 1e3:.0f} ms CPU/s; workers "
          f"{', '.join(f'{w:.0f}' for w in workers)} ms CPU/s")


def main() -> int:
    from distributed import LocalCluster

    from svi_lda.distributed import local_cluster
    from svi_lda.distributed.cluster import _THREAD_ENV

    print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores; load average "
          f"{os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    time_merge()
    time_union()
    idle_cost("Dask defaults", lambda: LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, env=dict(_THREAD_ENV)))
    idle_cost("local_cluster (CLUSTER_CONFIG)", lambda: local_cluster(2, 1, dashboard=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
