"""How much this machine's cores slow each other down on the E-step, without Dask.

Two Dask workers on two cores can double one worker's throughput only if two E-steps
running at once each run as fast as one running alone. On a virtual machine that is not a
given: two vCPUs may share a physical core, caches or memory bandwidth on the host. This
runs the same E-steps (K topics, row groups of the benchmark corpus, after a few SVI steps
so the rows are realistic) in one process alone, then in two processes at once, in
alternating rounds, and prints per round the median E-step time and CPU time alone and in
the pair, and the work two processes do in the time one does its share:
``2 x alone / pair``. That is a ceiling for any 2-worker scaling figure on this machine.
``--kernel spin`` runs instead a loop of arithmetic on 64 numbers in registers and L1
(no memory traffic at all) for the same number of calls: a control that tells a shared
core from shared memory bandwidth.

    python benchmarks/bench_cores.py
    python benchmarks/bench_cores.py --rounds 5 --esteps 12
    python benchmarks/bench_cores.py --kernel spin
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_distributed import add_corpus_arguments, generate  # noqa: E402


def _spin_kernel():
    from numba import njit

    @njit(cache=True)
    def spin(n: int) -> float:
        values = [1.0 + i / 64 for i in range(64)]
        total = 0.0
        for _ in range(n):
            for i in range(64):
                values[i] = values[i] * 0.999999 + 1e-9
                total += values[i]
        return total

    return spin


def child(args: argparse.Namespace) -> None:
    """Prepare the calls, wait for the start time, run them, print timings as JSON."""
    if args.kernel == "spin":
        spin = _spin_kernel()
        spin(10)  # compile (or load from the cache) before the start

        def call(i: int) -> None:
            spin(2_000_000)
    else:
        call = _estep_calls(args)
    while time.time() < args.start_at:
        time.sleep(0.001)
    walls, cpus = [], []
    for i in range(args.esteps):
        w0, c0 = time.perf_counter(), time.process_time()
        call(i)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    print(json.dumps({"wall": walls, "cpu": cpus}))


def _estep_calls(args: argparse.Namespace):
    """``call(i)``: the E-step of the i-th unit (cyclically) of a minibatch, with the rows
    of a model a few steps into training."""
    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.distributed import tasks
    from svi_lda.distributed.placement import union_of
    from svi_lda.step import apply_step, merge_unit_stats

    corpus = ParquetCorpus(generate(args.docs, args.vocab, args.doc_length, args.row_group))
    model = OnlineLDA(n_components=args.topics, batch_size=args.batch_size,
                      total_samples=corpus.n_docs, random_state=0)
    model._init_state(corpus.n_features)
    n_units = -(-args.batch_size // args.row_group)
    units = [tasks.load_unit(str(corpus.path), u, corpus.n_features)
             for u in corpus.units[:n_units]]
    union, positions = union_of([u.word_ids for u in units], corpus.n_features)
    settings, alpha = model._settings(), model.state_.alpha
    for _ in range(3):  # a few steps, so that the rows are those of a model in training
        rows, shift = model.state_.exp_elog_beta_rows(union)
        parts = [tasks.estep_task(u, rows, shift, alpha, settings, 1, p)
                 for u, p in zip(units, positions, strict=True)]
        apply_step(model.state_, merge_unit_stats(parts), model._schedule(),
                   total_samples=corpus.n_docs, learn_alpha=False, seconds=1.0)
    rows, shift = model.state_.exp_elog_beta_rows(union)

    def call(i: int) -> None:
        j = i % len(units)
        tasks.estep_task(units[j], rows, shift, alpha, settings, 1, positions[j])

    return call


def run_round(argv: list[str], n_processes: int, lead: float) -> list[dict]:
    start_at = time.time() + lead
    procs = [
        subprocess.Popen([sys.executable, __file__, *argv, "--child", "--start-at",
                          str(start_at)], stdout=subprocess.PIPE, text=True)
        for _ in range(n_processes)
    ]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"child failed with exit code {p.returncode}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(p)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--esteps", type=int, default=12, help="E-steps per process and round")
    p.add_argument("--lead", type=float, default=20.0,
                   help="seconds for the processes to prepare before they start together")
    p.add_argument("--kernel", choices=["estep", "spin"], default="estep")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    generate(args.docs, args.vocab, args.doc_length, args.row_group)
    what = ("arithmetic loop (no memory traffic)" if args.kernel == "spin" else
            f"E-steps: K={args.topics}, row groups of {args.row_group} documents")
    print(f"{what}; {args.esteps} calls per process and round; machine: "
          f"{len(os.sched_getaffinity(0))} cores available")
    ratios = []
    for r in range(args.rounds):
        (alone,) = run_round(argv, 1, args.lead)
        pair = run_round(argv, 2, args.lead)
        a_wall, a_cpu = np.median(alone["wall"]), np.median(alone["cpu"])
        p_wall = [np.median(x["wall"]) for x in pair]
        p_cpu = [np.median(x["cpu"]) for x in pair]
        ratios.append(2 * a_wall / np.mean(p_wall))
        print(f"round {r + 1}: alone {a_wall:.3f} s per call (CPU {a_cpu:.3f} s); two at "
              f"once {p_wall[0]:.3f} and {p_wall[1]:.3f} s (CPU {p_cpu[0]:.3f} and "
              f"{p_cpu[1]:.3f} s); two processes do {ratios[-1]:.2f}x the work of one",
              flush=True)
    print(f"two processes over one, per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
          f"median {np.median(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
