"""Sharded training of a model larger than the coordinator should hold (issue 16).

Trains ``fit_distributed(sharded=True)`` on a generated corpus at K topics and V words
(default K=1000, V=1,000,000: W is 4 GB in float32) on a LocalCluster, and prints:

- the coordinator's peak RSS above its level before the fit (sampled every 20 ms) and
  its traced peak of Python/NumPy allocations (tracemalloc), against K x V x 4 bytes;
- each worker's shard bytes and RSS (peak over the steps);
- per step: wall seconds and the update's seconds (the shards' updates, run at once,
  and the short fold in word order after them, timed on the coordinator), for V and for
  V / 10 with the same minibatches' sizes, to show the update's cost does not grow
  with V;
- the time to write the final checkpoint's parts (done by the workers).

The trained model is left in the sharded checkpoint (nothing is gathered on the
coordinator: ``GATHER_LIMIT_BYTES`` is set to 0 here).

Usage::

    .venv/bin/python benchmarks/bench_sharded.py                       # K=1000, V=1M
    .venv/bin/python benchmarks/bench_sharded.py --topics 100 --words 200000   # quick

Other jobs share this machine: the load average is printed with the timings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
import traceback
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import psutil
import scipy.sparse as sp


def make_corpus(path: Path, n_docs: int, n_words: int, doc_length: int, seed: int):
    """Documents of ``doc_length`` distinct-ish words drawn uniformly from ``n_words``."""
    from svi_lda.corpus import from_csr

    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_docs), doc_length)
    cols = rng.integers(0, n_words, len(rows))
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_docs, n_words))
    x.sum_duplicates()
    return from_csr(x, [f"w{i}" for i in range(n_words)], path, row_group_size=128)


class RssSampler:
    """Peak RSS of this process, sampled on a thread."""

    def __init__(self, every: float = 0.02) -> None:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(client, corpus, args, n_steps: int, ckpt: Path) -> dict:
    from svi_lda import OnlineLDA
    from svi_lda.distributed import fit_distributed
    from svi_lda.distributed.sharded import engine as sharded_engine
    from svi_lda.distributed.sharded import fit as sharded_fit
    from svi_lda.distributed.sharded import shard_tasks

    sharded_fit.GATHER_LIMIT_BYTES = 0  # leave the model in the checkpoint's parts
    update_seconds: list[float] = []
    original = sharded_engine.ShardedEngine.apply_update

    def timed(self, stats, context):
        t0 = time.perf_counter()
        try:
            return original(self, stats, context)
        finally:
            update_seconds.append(time.perf_counter() - t0)

    sharded_engine.ShardedEngine.apply_update = timed
    reports, workers_peak = [], {}

    def on_step(report) -> None:
        reports.append(report)
        held = client.run(shard_tasks.held_bytes)
        rss = client.run(lambda: psutil.Process().memory_info().rss)
        for w in held:
            old = workers_peak.get(w, (0, 0))
            workers_peak[w] = (max(old[0], held[w]), max(old[1], rss[w]))

    model = OnlineLDA(n_components=args.topics, batch_size=args.batch_size,
                      max_doc_update_iter=args.doc_iterations, random_state=0,
                      dtype="float32")
    before = psutil.Process().memory_info().rss
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with RssSampler() as sampler:
            fit_distributed(client, model, corpus, sharded=True, n_steps=n_steps,
                            checkpoint_dir=ckpt, checkpoint_every=0, on_step=on_step)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        sharded_engine.ShardedEngine.apply_update = original
    total = time.perf_counter() - started
    return {
        "rss_increase": sampler.peak - before, "traced_peak": traced_peak,
        "workers": workers_peak, "walls": [r.wall_seconds for r in reports],
        "updates": update_seconds, "total": total,
        "checkpoint": sum(p.stat().st_size for p in ckpt.iterdir()),
        "sent": [r.bytes_to_workers for r in reports],
        "received": [r.bytes_from_workers for r in reports],
    }


def update_kernel_seconds(k: int, shard_words: int, n_words: int, repeats: int) -> float:
    """Median seconds of one shard's update task (``shard_update``) in this process, for
    ``n_words`` random words of a minibatch on a shard of ``shard_words`` rows: the
    update's own cost, without the cluster's scheduling or the other jobs' tasks."""
    from svi_lda.distributed.sharded import shard_tasks

    rng = np.random.default_rng(0)
    token = "bench"
    shard_tasks.init_shard(token, 0, 0, shard_words, k, 0.01, 0, "float32")
    times = []
    try:
        for step in range(repeats):
            ids = np.unique(rng.integers(0, shard_words, n_words))
            piece = (np.arange(len(ids)), rng.random((len(ids), k)).astype(np.float32),
                     np.ones(len(ids)))
            t0 = time.perf_counter()
            # the update and its fold (column sums) in one task, as the first shard's
            shard_tasks.shard_update(token, 0, step, ids, 0, len(ids), 0.5, False, True,
                                     piece)
            times.append(time.perf_counter() - t0)
    finally:
        shard_tasks.drop_run(token)
    return statistics.median(times[1:])


def show(label: str, k: int, v: int, result: dict) -> None:
    params = k * v * 4
    mib = 2**20
    print(f"\n== {label}: K={k}, V={v:,}: W = {params / mib:,.0f} MiB (float32)")
    print(f"coordinator: peak RSS increase {result['rss_increase'] / mib:,.1f} MiB "
          f"({100 * result['rss_increase'] / params:.2f}% of W); traced peak "
          f"{result['traced_peak'] / mib:,.1f} MiB ({100 * result['traced_peak'] / params:.2f}%)")
    for w, (held, rss) in sorted(result["workers"].items()):
        print(f"worker {w}: shards {held / mib:,.0f} MiB, peak RSS {rss / mib:,.0f} MiB")
    print("step wall s:   " + " ".join(f"{s:.2f}" for s in result["walls"]))
    print("update s:      " + " ".join(f"{s:.3f}" for s in result["updates"]))
    print(f"median update (steps after the first): "
          f"{statistics.median(result['updates'][1:] or result['updates']):.3f} s")
    print(f"coordinator bytes per step: sent {statistics.median(result['sent']) / mib:.2f} "
          f"MiB, received {statistics.median(result['received']) / mib:.2f} MiB")
    print(f"fit total {result['total']:.1f} s (start, steps, final checkpoint of "
          f"{result['checkpoint'] / mib:,.0f} MiB written by the workers)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--topics", type=int, default=1000)
    p.add_argument("--words", type=int, default=1_000_000)
    p.add_argument("--docs", type=int, default=1024)
    p.add_argument("--doc-length", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--doc-iterations", type=int, default=20,
                   help="max_doc_update_iter (bounds the E-step's cost at large K)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--shards", type=int, default=None, help="default: one per worker")
    p.add_argument("--kernel-only", action="store_true",
                   help="only time one shard's update task in process, at V/10 and V")
    args = p.parse_args()
    from distributed import Client, LocalCluster

    def show_large_graph(message, category, filename, lineno, file=None, line=None):
        # where a large task graph is sent from (there should be none)
        print(f"warning: {message}")
        traceback.print_stack(limit=8)

    warnings.showwarning = show_large_graph

    print(f"load average before: {os.getloadavg()}")
    print(f"machine: {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB")
    n_words = args.batch_size * args.doc_length
    for v in (args.words // 10, args.words):
        seconds = update_kernel_seconds(args.topics, v // args.workers, n_words, 6)
        print(f"update task alone, K={args.topics}, shard of {v // args.workers:,} rows "
              f"(V={v:,} over {args.workers}), {n_words:,} draws of words: median "
              f"{seconds * 1000:.1f} ms (load {os.getloadavg()[0]:.1f})")
    if args.kernel_only:
        return
    root = Path(tempfile.mkdtemp(prefix="bench-sharded-"))
    try:
        n_steps = args.docs // args.batch_size
        corpora = {}
        for label, v in (("V", args.words), ("V/10", args.words // 10)):
            t0 = time.perf_counter()
            corpora[label] = (v, make_corpus(root / f"corpus-{v}", args.docs, v,
                                             args.doc_length, seed=1))
            print(f"corpus V={v:,}: {args.docs} docs made in {time.perf_counter() - t0:.1f} s")
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, memory_limit=0,
                          env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
            for label in ("V/10", "V"):
                v, corpus = corpora[label]
                result = run(client, corpus, args, n_steps, root / f"ckpt-{v}")
                show(label, args.topics, v, result)
                print(f"load average: {os.getloadavg()}")
                shutil.rmtree(root / f"ckpt-{v}", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
