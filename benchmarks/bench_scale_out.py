"""The coordinator's bytes and CPU per step as the number of workers grows (issue 16).

Runs ``fit_distributed`` with 1, 2, 4, ... single-threaded worker processes on this
machine, with a fixed minibatch per worker (``--units-per-worker`` row groups), and
measures in this process (the coordinator: it holds the ``Client`` and the model; the
scheduler and the workers run in a separate process tree, so their traffic is not
counted here):

- bytes received and sent: every byte this process reads from or writes to a TCP
  socket, counted at the socket calls of Tornado's ``IOStream`` (which Dask's TCP comms
  use), so serialisation headers, task graphs and the scheduler's messages are in;
- CPU seconds: ``psutil`` user + system time of this process (all its threads); and,
  measured first with the client connected and idle, the CPU per second that Dask's
  periodic work costs (the client's heartbeat and scheduler-info polling): with many
  workers on 2 cores a step's wall time grows with the workers and that cost with it, so
  "mean less idle" subtracts the idle rate times the mean step wall time (psutil's 10 ms
  ticks make the idle rate's resolution 10 ms / ``--idle-seconds``: 5 s was too coarse);
- the engine's own payload counters (``bytes_to_workers``/``bytes_from_workers``), for
  comparison.

The first ``--warm-up`` steps are left out; medians over the remaining steps are printed,
and for the CPU also the mean (psutil's CPU times move in 10 ms ticks).
With many workers on 2 cores the E-steps slow down (they share the cores): what this
measures is the coordinator's cost per step, not throughput.

To measure the code before a change, run this same script with a Python environment in
which that version of svi-lda is installed (the workers are started with the same
interpreter):

    python benchmarks/bench_scale_out.py --workers 1 2 4 8 16
    /tmp/old-venv/bin/python benchmarks/bench_scale_out.py --workers 1 2 4 8 16
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_distributed import generate  # noqa: E402

SOCKET_BYTES = {"in": 0, "out": 0}

CLUSTER_SCRIPT = """
import sys, time
from svi_lda.distributed import local_cluster
cluster = local_cluster(int(sys.argv[1]), 1, dashboard=False, memory_limit=sys.argv[2])
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
cluster.close()
"""


def count_socket_bytes() -> None:
    """Count every byte this process's Tornado streams move through their sockets."""
    from tornado import iostream

    write, read = iostream.IOStream.write_to_fd, iostream.IOStream.read_from_fd

    def write_to_fd(self, data):  # type: ignore[no-untyped-def]
        n = write(self, data)
        SOCKET_BYTES["out"] += n
        return n

    def read_from_fd(self, buf):  # type: ignore[no-untyped-def]
        n = read(self, buf)
        SOCKET_BYTES["in"] += n or 0
        return n

    iostream.IOStream.write_to_fd = write_to_fd
    iostream.IOStream.read_from_fd = read_from_fd


def cpu_seconds() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def run(n_workers: int, args: argparse.Namespace, corpus_path: Path) -> dict[str, float]:
    from distributed import Client

    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.distributed import fit_distributed

    corpus = ParquetCorpus(corpus_path)
    batch_size = args.units_per_worker * args.row_group * n_workers
    # the scheduler and the workers in their own processes: this one is the coordinator
    cluster = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_SCRIPT, str(n_workers), args.memory_limit],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert cluster.stdout is not None and cluster.stdin is not None
        address = cluster.stdout.readline().strip()
        samples: list[tuple[float, float, int, int, int, int]] = []
        with Client(address) as client:
            client.wait_for_workers(n_workers, timeout=120)
            # Dask's own periodic work (the client's heartbeat and scheduler-info
            # polling, O(workers) each) costs CPU per second, not per step: measured
            # idle here, so that it can be told apart from the steps' cost
            time.sleep(1.0)
            c0, w0 = cpu_seconds(), time.perf_counter()
            time.sleep(args.idle_seconds)
            idle_rate = (cpu_seconds() - c0) / (time.perf_counter() - w0)

            def on_step(report) -> None:  # type: ignore[no-untyped-def]
                samples.append((time.perf_counter(), cpu_seconds(), SOCKET_BYTES["in"],
                                SOCKET_BYTES["out"], report.bytes_from_workers,
                                report.bytes_to_workers))

            model = OnlineLDA(n_components=args.topics, batch_size=batch_size,
                              random_state=0, max_iter=1000)
            samples.append((time.perf_counter(), cpu_seconds(), SOCKET_BYTES["in"],
                            SOCKET_BYTES["out"], 0, 0))
            extra = {} if args.scatter_bytes is None else {"scatter_bytes": args.scatter_bytes}
            fit_distributed(client, model, corpus, n_steps=args.steps, on_step=on_step,
                            **extra)
        cluster.stdin.close()
        cluster.wait(timeout=120)
    finally:
        if cluster.poll() is None:
            cluster.kill()  # the cluster process this benchmark started
    steady = list(zip(samples[args.warm_up:-1], samples[args.warm_up + 1:], strict=True))

    def median(f) -> float:  # type: ignore[no-untyped-def]
        return statistics.median(f(a, b) for a, b in steady)

    wall_mean = (steady[-1][1][0] - steady[0][0][0]) / len(steady)
    cpu_mean = (steady[-1][1][1] - steady[0][0][1]) / len(steady)
    out = {
        "workers": n_workers,
        "docs_step": batch_size,
        "steps": len(steady),
        "wall": median(lambda a, b: b[0] - a[0]),
        "cpu": median(lambda a, b: b[1] - a[1]),
        # psutil counts CPU in clock ticks (10 ms): the mean over the steady steps
        # resolves what a per-step median cannot
        "cpu_mean": cpu_mean,
        "idle_ms_per_s": idle_rate * 1e3,
        # the mean less what the same wall time costs an idle coordinator: on 2 cores a
        # step's wall time grows with the workers, and with it Dask's periodic work
        "cpu_steps": cpu_mean - idle_rate * wall_mean,
        "mb_in": median(lambda a, b: (b[2] - a[2]) / 1e6),
        "mb_out": median(lambda a, b: (b[3] - a[3]) / 1e6),
        "payload_in": median(lambda a, b: b[4] / 1e6),
        "payload_out": median(lambda a, b: b[5] / 1e6),
        "load": os.getloadavg()[0],
    }
    print(f"{n_workers:>3} workers  {batch_size:>6} docs/step  steps {out['steps']}  "
          f"wall {out['wall']:.2f} s  coordinator CPU {out['cpu']:.3f} s "
          f"(mean {out['cpu_mean']:.4f} s; idle {out['idle_ms_per_s']:.2f} ms/s, "
          f"mean less idle {out['cpu_steps']:.4f} s)  "
          f"socket in {out['mb_in']:.1f} MB  out {out['mb_out']:.1f} MB  "
          f"(engine payload in {out['payload_in']:.1f} MB, out {out['payload_out']:.1f} MB)  "
          f"load {out['load']:.1f}", flush=True)
    return out


def time_merge(n_words: int, k: int, repeats: int = 10) -> None:
    """Milliseconds of one node of the workers' reduction tree (``merge_pair``) at this
    size: two leaves (float32 statistics, as a float32 model's E-step returns) and two
    float64 inner nodes, over the same ``n_words`` words."""
    try:
        from svi_lda.step import UnitStats, merge_pair
    except ImportError:  # code from before the reduction tree
        return
    rng = np.random.default_rng(0)
    words = np.arange(n_words, dtype=np.int64)

    def node(dtype: type) -> UnitStats:
        return UnitStats(words, rng.random((n_words, k)).astype(dtype), 1, 1.0,
                         np.zeros(k), np.zeros(k), 0.0, 1, np.ones(n_words))

    for dtype in (np.float32, np.float64):
        a, b = node(dtype), node(dtype)
        merge_pair(a, b)  # compile outside the timing
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            merge_pair(a, b)
            times.append(time.perf_counter() - t0)
        print(f"merge_pair of two {np.dtype(dtype).name} nodes, {n_words} words x K={k}: "
              f"{statistics.median(times) * 1e3:.1f} ms median of {repeats}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--docs", type=int, default=60_000)
    p.add_argument("--vocab", type=int, default=20_000)
    p.add_argument("--doc-length", type=float, default=100.0)
    p.add_argument("--topics", type=int, default=100)
    p.add_argument("--row-group", type=int, default=1024)
    p.add_argument("--units-per-worker", type=int, default=1)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warm-up", type=int, default=2)
    p.add_argument("--memory-limit", default="1.5GiB", help="per worker")
    p.add_argument("--idle-seconds", type=float, default=20.0,
                   help="measure the connected coordinator's idle CPU this long first")
    p.add_argument("--scatter-bytes", type=int, default=None,
                   help="fit_distributed's scatter_bytes (rows at least this large are "
                        "scattered straight to the workers; else inline in the graph)")
    args = p.parse_args(argv)

    import svi_lda

    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"load average at start {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"svi_lda from {Path(svi_lda.__file__).parent}")
    path = generate(args.docs, args.vocab, args.doc_length, args.row_group)
    print(f"K={args.topics}, V={args.vocab}, row groups of {args.row_group} docs, "
          f"{args.units_per_worker} per worker and step; medians over steps "
          f"{args.warm_up + 1}-{args.steps}")
    time_merge(args.vocab, args.topics)
    count_socket_bytes()
    rows = [run(n, args, path) for n in args.workers]
    several = [r for r in rows if r["workers"] >= 2]
    if len(several) >= 2:
        for key, name in (("mb_in", "bytes in"), ("mb_out", "bytes out"), ("cpu", "CPU"),
                          ("cpu_mean", "mean CPU"), ("cpu_steps", "mean CPU less idle")):
            values = [r[key] for r in several]
            print(f"{name} per step, {several[0]['workers']}-{several[-1]['workers']} "
                  f"workers: max/min {max(values) / min(values):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
