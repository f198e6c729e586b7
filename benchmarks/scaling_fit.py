"""Fit the coordinator's measured per-step costs and predict throughput at scale.

Reads the per-worker-count lines that ``bench_scale_out.py`` printed (saved to a file),
fits ``a + b n`` by least squares to the coordinator's CPU seconds (the mean over the steps
where printed, else the median), bytes in and bytes
out per step over the runs with at least 2 workers, prints each fit's error on the
measured points, then predicts a step's time in exact mode with ``n`` workers and ``m``
units per worker and step (``m = 1`` as measured):

    T(n) = cpu(n) + (in(n) + out(n)) / bw              the coordinator
         + rows(n)                                     the rows reach every worker
         + m estep                                     its units' local steps
         + ceil(log2 m n) merge                        the reduction tree's levels,
         + ceil(log2 n) in(n) / bw                     those that cross workers move

``rows(n)`` is ``2 floor(log2 n) out(n) / bw`` for the block copied down a binary tree
(``--rows broadcast``, the design now: a worker sends its copy to two others, one after
the other on its link) or ``out(n) / bw`` for one chunk per worker, every worker pulling
the others' (``--rows chunks``, the design before; per-message costs not counted).
(``--no-tree``: the design before the tree, whose coordinator sends and receives every
worker's share, is ``cpu(n) + (in(n) + out(n)) / bw + estep``.) Throughput is
``n docs_per_worker / T(n)``, efficiency against ``n`` times one worker's.

Another size (``--topics``, ``--vocab``): the fits are of the measured size
(``--measured-topics``, ``--measured-vocab``); every term that moves or computes K x
(the step's union of words) is scaled by ``K U(n) / (K0 U0(n))`` -- the bytes, the merges
and, conservatively, the whole of the coordinator's CPU -- and the E-step by ``K / K0``.
``U(n) = V (1 - exp(-n tokens / V))`` is the union of ``n`` units' words drawn uniformly
(``tokens`` = documents x ``--doc-length`` per unit), an upper bound for a skewed
vocabulary. Everything but ``cpu``, ``in`` and ``out`` is an assumption given on the
command line (defaults: the E-step and merge times measured on this machine, 10 GbE).

    python benchmarks/scaling_fit.py benchmarks/_work/scale_out_new.txt --merge-ms 13
    python benchmarks/scaling_fit.py out.txt --topics 1000 --vocab 1000000
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np

LINE = re.compile(
    r"^\s*(\d+) workers\s+(\d+) docs/step.*coordinator CPU ([\d.]+) s\s+"
    r"(?:\(mean ([\d.]+) s(?:; idle [\d.]+ ms/s, mean less idle ([\d.-]+) s)?\)\s+)?"
    r"socket in ([\d.]+) MB\s+out ([\d.]+) MB"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("output", type=Path, help="saved output of bench_scale_out.py")
    p.add_argument("--estep", type=float, default=0.26,
                   help="seconds of one unit's local step on one core")
    p.add_argument("--merge-ms", type=float, default=13.0,
                   help="one merge of the reduction tree (bench_scale_out prints it)")
    p.add_argument("--bw", type=float, default=1.25e9, help="bytes/s of every NIC")
    p.add_argument("--predict", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--units-per-worker", type=int, default=1,
                   help="predict with this many units per worker and step (the fits are of "
                        "one; each further unit adds its word ids, ~4 bytes a word, ignored)")
    p.add_argument("--cpu", choices=("less-idle", "mean"), default="less-idle",
                   help="fit the steps' CPU less the idle coordinator's for the same wall "
                        "time (where printed), or the plain mean")
    p.add_argument("--rows", choices=("broadcast", "chunks"), default="broadcast",
                   help="how the rows reach the workers (see the module notes)")
    p.add_argument("--topics", type=int, default=100, help="K to predict for")
    p.add_argument("--vocab", type=int, default=20_000, help="V to predict for")
    p.add_argument("--measured-topics", type=int, default=100)
    p.add_argument("--measured-vocab", type=int, default=20_000)
    p.add_argument("--doc-length", type=float, default=100.0, help="tokens per document")
    p.add_argument("--no-tree", action="store_true",
                   help="the design before the tree: the coordinator sends each worker its "
                        "rows and receives every unit's statistics (no peer pull, no tree)")
    args = p.parse_args(argv)

    # the CPU's mean over the steps where printed (finer than the median of 10 ms ticks),
    # less the idle coordinator's CPU for the same wall time where printed and asked
    def cpu(m: re.Match) -> float:
        return float((args.cpu == "less-idle" and m[5]) or m[4] or m[3])

    points = [(float(m[1]), float(m[2]), cpu(m), float(m[6]), float(m[7]))
              for m in map(LINE.match, args.output.read_text().splitlines()) if m]
    points = [pt for pt in points if pt[0] >= 2]
    if len(points) < 2:
        raise SystemExit(f"{args.output}: fewer than 2 runs with 2 or more workers")
    n = np.array([pt[0] for pt in points])
    docs_per_unit = points[0][1] / points[0][0]
    fits = {}
    for col, name, unit in ((2, "cpu", "s"), (3, "in", "MB"), (4, "out", "MB")):
        y = np.array([pt[col] for pt in points])
        b, a = np.polyfit(n, y, 1)
        fits[name] = (a, b)
        err = ", ".join(f"n={int(k)}: {100 * (a + b * k - v) / v:+.0f}%"
                        for k, v in zip(n, y, strict=True))
        print(f"{name} per step = {a:.4g} + {b:.4g} n {unit}   (error on the points: {err})")

    unit_tokens = docs_per_unit * args.doc_length

    def union(vocab: int, units: int) -> float:
        return vocab * -math.expm1(-units * unit_tokens / vocab)

    def scale(k: int) -> float:
        """K x union predicted (m units a worker) over K x union measured (one)."""
        return (args.topics * union(args.vocab, k * args.units_per_worker)) / (
            args.measured_topics * union(args.measured_vocab, k))

    def step_seconds(k: int) -> float:
        f = scale(k)
        cpu = (fits["cpu"][0] + fits["cpu"][1] * k) * f
        bytes_in = (fits["in"][0] + fits["in"][1] * k) * 1e6 * f
        bytes_out = (fits["out"][0] + fits["out"][1] * k) * 1e6 * f
        estep = args.estep * args.topics / args.measured_topics
        coordinator = cpu + (bytes_in + bytes_out) / args.bw
        if args.no_tree:
            return coordinator + estep
        m = args.units_per_worker
        merges = math.ceil(math.log2(m * k)) if m * k > 1 else 0  # levels of merges
        moves = math.ceil(math.log2(k)) if k > 1 else 0  # levels that cross workers
        if args.rows == "broadcast":
            rows = 2 * math.floor(math.log2(k)) * bytes_out / args.bw
        else:
            rows = bytes_out / args.bw
        return (coordinator + rows + m * estep
                + merges * args.merge_ms * f / 1e3 + moves * bytes_in / args.bw)

    if args.no_tree:
        args.units_per_worker = 1
    docs_per_unit *= args.units_per_worker  # docs per worker and step from here
    one = docs_per_unit / step_seconds(1)
    print(f"predicted for K={args.topics}, V={args.vocab:,} (measured K="
          f"{args.measured_topics}, V={args.measured_vocab:,}; scale of the K x union terms "
          f"at 16 workers: {scale(16):.3g}); rows: {args.rows}")
    print(f"assumed: {args.units_per_worker} unit(s) per worker, local step {args.estep} s "
          f"per unit at the measured K (x K / K0), {docs_per_unit:.0f} docs per worker "
          f"and step, merge {args.merge_ms} ms, {args.bw / 1e9:.2f} GB/s links; "
          f"one worker {one:,.0f} docs/s")
    for k in args.predict:
        t = step_seconds(k)
        rate = k * docs_per_unit / t
        print(f"{k:>4} workers: step {t:.3f} s, {rate:,.0f} docs/s, "
              f"efficiency {rate / (k * one):.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
