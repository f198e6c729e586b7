"""CPU that an idle coordinator spends per second of wall time with n workers connected.

A ``Client`` connected to a cluster of n single-threaded worker processes (started in a
separate process tree, as ``bench_scale_out.py`` does) and doing nothing still runs Dask's
periodic work (its heartbeat and scheduler-info polling, which grows with the workers).
On this 2-core machine a step's wall time grows with the number of workers, so that cost
lands in ``bench_scale_out.py``'s per-step CPU; this measures it alone:

    python benchmarks/coordinator_idle_cpu.py 2 4 8 16
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale_out import CLUSTER_SCRIPT, cpu_seconds  # noqa: E402


def idle_rate(n_workers: int, seconds: float) -> float:
    """Milliseconds of this process's CPU per second with ``n_workers`` connected."""
    from distributed import Client

    cluster = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_SCRIPT, str(n_workers), "1.5GiB"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert cluster.stdout is not None and cluster.stdin is not None
        address = cluster.stdout.readline().strip()
        with Client(address) as client:
            client.wait_for_workers(n_workers, timeout=120)
            time.sleep(3)
            c0, w0 = cpu_seconds(), time.perf_counter()
            time.sleep(seconds)
            rate = (cpu_seconds() - c0) / (time.perf_counter() - w0)
        cluster.stdin.close()
        cluster.wait(timeout=120)
    finally:
        if cluster.poll() is None:
            cluster.kill()  # the cluster process this script started
    return rate * 1e3


def main(argv: list[str] | None = None) -> int:
    workers = [int(a) for a in (argv if argv is not None else sys.argv[1:])] or [2, 16]
    print(f"machine: {psutil.cpu_count()} cores; load average at start {os.getloadavg()}")
    for n in workers:
        rate = idle_rate(n, 20.0)
        print(f"{n:>3} workers: idle coordinator CPU {rate:.2f} ms per second of wall "
              f"(resolution 0.5; load {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
