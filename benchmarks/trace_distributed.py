"""Where a distributed step's time goes: worker utilisation, gaps and imbalance.

Runs ``fit_distributed`` on a LocalCluster of 1 or 2 worker processes over the corpus
that ``bench_distributed.py`` generates, records Dask's task stream (the start and stop of
every task on every worker) and prints, for the steady steps (the first two steps are
warm-up):

- per worker: E-steps run, mean compute seconds per E-step, reads (``load``) and their
  mean seconds, and utilisation (E-step compute / wall time of the steady steps);
- per step: the span of its E-steps, the gap from the last E-step of the step before to
  the first of this one (the coordinator's merge, update, rows and transfers; exact
  mode), and the imbalance (the last worker to finish against the first);
- the medians of those;
- the CPU budget of the steady steps: CPU seconds per step of this process (coordinator
  and scheduler) and of the workers, less the E-steps' compute: the side work (reads,
  transfers, merge, update, rows, Dask's own) that every step needs besides its E-steps.

With ``--workers 1 2`` both runs are made and the scaling they allow is printed. All the
work of a step must run on the machine's cores, so with 2 workers on 2 cores a step
takes at least (E-step compute + side work) / 2; one worker leaves a core to the side
work and takes its E-steps plus the gap. The ratio of the two bounds how far 2 workers
can scale over 1 on this machine, whatever the balance and the gaps.

    python benchmarks/trace_distributed.py --workers 2
    python benchmarks/trace_distributed.py --workers 1 2
    python benchmarks/trace_distributed.py --workers 1 --steps 16
    python benchmarks/trace_distributed.py --workers 2 --pipelined

Timings come from the task stream (the workers' own clocks, on one machine here); CPU
times from psutil (this process and the worker processes, all on this machine). The
E-steps' share of the CPU budget is their task-stream time, which counts any wait for a
core while they run, so under contention it overstates their CPU and understates the
side work.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_distributed import add_corpus_arguments, generate  # noqa: E402

from svi_lda.distributed.cluster import available_cores  # noqa: E402


def task_kind(key: str) -> str:
    # keys are "svi-lda-<kind>-<token>-..." (see svi_lda.distributed.coordinator)
    return key.split("-")[2] if key.startswith("svi-lda-") else "other"


def compute_spans(records: list[dict]) -> list[tuple[float, float, str, str]]:
    """(start, stop, worker, kind) of every task's compute, sorted by start."""
    spans = []
    for record in records:
        for part in record["startstops"]:
            if part["action"] == "compute":
                spans.append((part["start"], part["stop"], record["worker"],
                              task_kind(record["key"])))
    return sorted(spans)


def summarise(spans: list[tuple[float, float, str, str]], units_per_step: int,
              warm_up_steps: int = 2) -> dict[str, float] | None:
    """Print the step timeline; return the steady steps' count, their E-steps' compute
    seconds and the median gap."""
    esteps = [s for s in spans if s[3] == "estep"]
    steps = [esteps[i : i + units_per_step] for i in range(0, len(esteps), units_per_step)]
    steps = [s for s in steps if len(s) == units_per_step]
    steady = steps[warm_up_steps:]
    if len(steady) < 2:
        print("too few steps: raise --steps")
        return None
    lo = min(s[0] for s in steady[0])
    hi = max(s[1] for s in steady[-1])
    print(f"steady steps: {len(steady)}, {hi - lo:.2f} s")
    for worker in sorted({s[2] for s in spans}):
        mine = [s for s in spans if s[2] == worker and lo <= s[0] < hi]
        runs = [s[1] - s[0] for s in mine if s[3] == "estep"]
        reads = [s[1] - s[0] for s in mine if s[3] == "load"]
        print(f"worker {worker}: {len(runs)} E-steps, {np.mean(runs):.3f} s each; "
              f"{len(reads)} reads, {1e3 * np.mean(reads) if reads else 0:.0f} ms each; "
              f"utilisation {sum(runs) / (hi - lo):.3f}")
    spans_s, gaps, imbalance = [], [], []
    previous_end = None
    for step in steps[warm_up_steps - 1 :]:
        start, end = min(s[0] for s in step), max(s[1] for s in step)
        finish = collections.defaultdict(float)
        for s in step:
            finish[s[2]] = max(finish[s[2]], s[1])
        if previous_end is not None:
            spans_s.append(end - start)
            gaps.append(start - previous_end)
            imbalance.append(end - min(finish.values()))
        previous_end = end
    print(f"per step (median over {len(spans_s)}): E-steps span {np.median(spans_s):.3f} s, "
          f"gap before them {1e3 * np.median(gaps):.0f} ms (range "
          f"{1e3 * min(gaps):.0f} to {1e3 * max(gaps):.0f}), imbalance "
          f"{1e3 * np.median(imbalance):.0f} ms (range {1e3 * min(imbalance):.0f} to "
          f"{1e3 * max(imbalance):.0f})")
    in_window = [s for s in esteps if lo <= s[0] < hi]
    return {
        "steps": len(steady),
        "estep": sum(s[1] - s[0] for s in in_window),
        "gap": float(np.median(gaps)),
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    import psutil

    total = 0.0
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


def run(args: argparse.Namespace, corpus, n_workers: int) -> dict[str, float] | None:
    """One traced fit; prints its timeline and CPU budget, returns per-step figures."""
    import os

    from distributed import Client, get_task_stream

    from svi_lda import OnlineLDA
    from svi_lda.distributed import fit_distributed, local_cluster

    units_per_step = -(-args.batch_size // args.row_group)
    print(f"corpus: {corpus}; K={args.topics}, minibatch {args.batch_size} docs = "
          f"{units_per_step} row groups; {n_workers} worker process(es), "
          f"{'pipelined' if args.pipelined else 'exact'} mode, {args.steps} steps")
    with local_cluster(n_workers, 1, dashboard=False) as cluster, Client(cluster) as client:
        worker_pids = list(client.run(os.getpid).values())
        # CPU counters are read when step 2 (the last warm-up step) and the last step are
        # reported, which brackets the steady steps' E-steps (up to the reporting itself).
        marks: dict[int, tuple[float, float, float]] = {}

        def mark(report) -> None:
            if report.metrics.step in (2, args.steps):
                marks[report.metrics.step] = (
                    time.perf_counter(), cpu_seconds([os.getpid()]), cpu_seconds(worker_pids)
                )

        model = OnlineLDA(n_components=args.topics, batch_size=args.batch_size,
                          total_samples=corpus.n_docs, random_state=0)
        with get_task_stream(client) as stream:
            fit_distributed(client, model, corpus, n_steps=args.steps,
                            pipelined=args.pipelined, on_step=mark)
        records = stream.data
    timeline = summarise(compute_spans(records), units_per_step)
    if timeline is None or len(marks) < 2:
        return None
    (t0, c0, w0), (t1, c1, w1) = marks[2], marks[args.steps]
    n = args.steps - 2
    step = (t1 - t0) / n
    coordinator, workers = (c1 - c0) / n, (w1 - w0) / n
    estep = timeline["estep"] / timeline["steps"]
    side = coordinator + workers - estep
    print(f"CPU per step over {n} steady steps ({step:.3f} s each): this process "
          f"(coordinator + scheduler) {coordinator:.3f} s, workers {workers:.3f} s, of which "
          f"E-steps {estep:.3f} s; side work {side:.3f} s; cores idle "
          f"{max(0.0, available_cores() * step - coordinator - workers):.3f} core-s")
    return {"step": step, "estep": estep, "side": side, "gap": timeline["gap"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(p)
    p.add_argument("--workers", type=int, nargs="+", default=[2])
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--pipelined", action="store_true")
    args = p.parse_args(argv)

    from svi_lda.corpus import ParquetCorpus

    corpus = ParquetCorpus(generate(args.docs, args.vocab, args.doc_length, args.row_group))
    budgets = {n: run(args, corpus, n) for n in args.workers}
    one, two = budgets.get(1), budgets.get(2)
    if one is not None and two is not None and available_cores() == 2:
        floor = (two["estep"] + two["side"]) / 2
        print(f"2 workers on 2 cores: a step needs at least (E-steps {two['estep']:.3f} + side "
              f"work {two['side']:.3f}) / 2 = {floor:.3f} s of CPU time per core; measured "
              f"{two['step']:.3f} s")
        print(f"1 worker: measured step {one['step']:.3f} s (E-steps {one['estep']:.3f} s + "
              f"gap {one['gap']:.3f} s, its side work partly on the second core)")
        print(f"scaling measured in these two runs: {one['step'] / two['step']:.2f}x; the "
              f"most the 2-worker run's CPU budget allows: {one['step'] / floor:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
