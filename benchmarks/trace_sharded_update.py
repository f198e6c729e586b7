"""Where a sharded step's update time goes: Dask's task stream of the update tasks.

Trains ``fit_distributed(sharded=True)`` for a few steps on a generated corpus (K=1000,
V=20,000, 2 workers of one thread, minibatches of 256 documents of 40 words) and prints,
per step, from the workers' own records: each shard's update task (compute seconds),
the fold task if there is one, and the update's critical path (first update task's start
to the last update or fold task's end). Run it on two versions of the code to compare
a chain of shard updates with updates run at once.

Usage::

    .venv/bin/python benchmarks/trace_sharded_update.py

Other jobs share this machine: the load average is printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def main() -> None:
    from distributed import Client, LocalCluster, get_task_stream

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_sharded import make_corpus

    from svi_lda import OnlineLDA
    from svi_lda.distributed import fit_distributed

    root = Path(tempfile.mkdtemp(prefix="trace-sharded-"))
    corpus = make_corpus(root / "corpus", 2048, 20_000, 40, seed=1)

    def model() -> OnlineLDA:
        return OnlineLDA(n_components=1000, batch_size=256, max_doc_update_iter=20,
                         random_state=0, dtype="float32")

    print(f"load average before: {os.getloadavg()}")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit=0,
                      env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        fit_distributed(client, model(), corpus, sharded=True, n_steps=2)  # warm-up
        with get_task_stream(client) as stream:
            fit_distributed(client, model(), corpus, sharded=True, n_steps=8)
    steps: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for task in stream.data:
        key = str(task["key"])
        if "-shard-update-" not in key and "-shard-fold-" not in key:
            continue
        step = key.split("-shard-")[1].split("-")[2]  # update-<epoch>-<position>-...
        for part in task["startstops"]:
            if part["action"] == "compute":
                steps[step].append((key.rsplit("-", 1)[-1] + (" fold" if "fold" in key
                                                              else ""),
                                    part["start"], part["stop"]))
    paths = []
    for step in sorted(steps, key=int):
        tasks = sorted(steps[step], key=lambda t: t[1])
        path = max(t[2] for t in tasks) - min(t[1] for t in tasks)
        paths.append(path)
        shown = "  ".join(f"{name} {stop - start:.3f}" for name, start, stop in tasks)
        print(f"step {step}: critical path {path:.3f} s; compute s: {shown}")
    print(f"median critical path: {statistics.median(paths):.3f} s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
