"""Where the coordinator's CPU per step goes, at a given number of workers (issue 16).

Runs the same set-up as ``bench_scale_out.py`` (a cluster of ``--workers`` single-threaded
worker processes in a separate process tree, one row group of 1,024 documents per worker
and step) and profiles this process, the coordinator, with ``yappi`` on its CPU clock,
every thread (the ``Client``'s event loop runs in a thread of its own), over the steady
steps only (profiling starts after ``--warm-up`` steps). Prints the CPU per step of each
thread and the functions with the most CPU per step (own time and inclusive).

    python benchmarks/profile_coordinator.py --workers 2
    python benchmarks/profile_coordinator.py --workers 16
    py-spy record -r 200 -f raw -o out.txt -- python benchmarks/profile_coordinator.py \
        --workers 16 --no-yappi

(yappi's cost per Python call inflates pure-Python code such as pickling a graph many
times over; a sampling profiler does not.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_distributed import generate  # noqa: E402
from bench_scale_out import CLUSTER_SCRIPT  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--units", type=int, default=None,
                   help="row groups per step (default: one per worker)")
    p.add_argument("--warm-up", type=int, default=3)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--pattern", default="", help="also list functions whose name has this")
    p.add_argument("--no-yappi", action="store_true",
                   help="no profiler here: run under a sampling profiler (py-spy) instead")
    args = p.parse_args(argv)

    import psutil
    import yappi
    from distributed import Client

    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.distributed import fit_distributed

    corpus = ParquetCorpus(generate(60_000, 20_000, 100.0, 1024))
    cluster = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_SCRIPT, str(args.workers), "1.5GiB"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    marks: list[tuple[float, float]] = []
    profiled = 0
    seen = 0
    try:
        assert cluster.stdout is not None and cluster.stdin is not None
        address = cluster.stdout.readline().strip()
        with Client(address) as client:
            client.wait_for_workers(args.workers, timeout=120)
            yappi.set_clock_type("cpu")

            def on_step(report) -> None:  # type: ignore[no-untyped-def]
                nonlocal profiled, seen
                seen += 1
                if seen == args.warm_up:
                    if not args.no_yappi:
                        yappi.start(builtins=True, profile_threads=True)
                    marks.append((time.perf_counter(), _cpu(psutil)))
                elif seen > args.warm_up:
                    profiled += 1

            model = OnlineLDA(n_components=100, batch_size=1024 * (args.units or args.workers),
                              random_state=0, max_iter=1000)
            fit_distributed(client, model, corpus, n_steps=args.steps, on_step=on_step)
            yappi.stop()
            marks.append((time.perf_counter(), _cpu(psutil)))
        cluster.stdin.close()
        cluster.wait(timeout=120)
    finally:
        if cluster.poll() is None:
            cluster.kill()  # the cluster process this script started
    n = max(profiled, 1)
    wall = (marks[1][0] - marks[0][0]) / n
    cpu = (marks[1][1] - marks[0][1]) / n
    print(f"{args.workers} workers, {args.units or args.workers} units a step: {n} steps "
          f"profiled, wall {wall * 1e3:.1f} ms/step, "
          f"process CPU (psutil) {cpu * 1e3:.1f} ms/step, load {os.getloadavg()}")
    if args.no_yappi:
        return 0
    threads = yappi.get_thread_stats()
    for t in sorted(threads, key=lambda t: -t.ttot):
        print(f"  thread {t.name:<28} {t.ttot / n * 1e3:8.2f} ms/step")
    stats = yappi.get_func_stats()
    print("\nown time (tsub), ms per step:")
    for s in sorted(stats, key=lambda s: -s.tsub)[: args.top]:
        print(f"  {s.tsub / n * 1e3:7.2f}  {s.ncall / n:8.1f} calls  {_name(s)}")
    print("\ninclusive (ttot), ms per step:")
    for s in sorted(stats, key=lambda s: -s.ttot)[: args.top]:
        print(f"  {s.ttot / n * 1e3:7.2f}  {s.ncall / n:8.1f} calls  {_name(s)}")
    if args.pattern:
        print(f"\nfunctions matching {args.pattern!r} (inclusive, ms per step):")
        for s in sorted(stats, key=lambda s: -s.ttot):
            if args.pattern in _name(s):
                print(f"  {s.ttot / n * 1e3:7.2f}  {s.ncall / n:8.1f} calls  {_name(s)}")
    return 0


def _cpu(psutil) -> float:  # type: ignore[no-untyped-def]
    t = psutil.Process().cpu_times()
    return t.user + t.system


def _name(s) -> str:  # type: ignore[no-untyped-def]
    module = s.module.replace(str(Path(sys.prefix)), "").split("site-packages/")[-1]
    return f"{s.name} ({module}:{s.lineno})"


if __name__ == "__main__":
    raise SystemExit(main())
