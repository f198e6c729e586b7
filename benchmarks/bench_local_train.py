"""``svi-lda train`` on one machine against the in-process estimator, same corpus and cores.

Generates (once, into benchmarks/_work/, with ``bench_distributed.generate``) a synthetic
LDA corpus of ``--docs`` documents in row groups of ``--row-group`` documents (as
``svi-lda ingest`` writes them), then runs, each in a fresh process and in alternating
rounds:

- ``fit n_jobs=1`` / ``fit n_jobs=2``: ``OnlineLDA(n_components=K, max_iter=E,
  n_jobs=J).fit(corpus_dir)`` with the estimator's defaults (``batch_size=512``: one row
  group per step), and the same with ``--batch-size`` (default 2048, the CLI's default,
  so the steps are the CLI's steps);
- ``train (default)``: ``svi-lda train CORPUS --topics K --epochs E`` with nothing else;
- ``train --workers 1`` / ``--workers 2``: the same on a local Dask cluster of 1 or 2
  worker processes.

Printed per run: the seconds the run reports (the estimator: ``fit`` alone, in its
process; ``svi-lda train``: the "N documents in S s" of its last line) and the whole
process's wall time (imports, cluster start, model write), the load average before it,
and per configuration the median over the rounds. Other jobs share this machine: read
the load averages, and compare only figures of one run.

    python benchmarks/bench_local_train.py                     # 60,000 docs, 2 epochs
    python benchmarks/bench_local_train.py --rounds 1 --docs 20000   # quick
    python benchmarks/bench_local_train.py --only "train (default)" "fit n_jobs=2"
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_distributed import generate  # noqa: E402

_FIT = """
import sys, time
from svi_lda import OnlineLDA
from svi_lda.corpus import ParquetCorpus
corpus = ParquetCorpus(sys.argv[1])
model = OnlineLDA(n_components=int(sys.argv[2]), max_iter=int(sys.argv[3]),
                  n_jobs=int(sys.argv[4]), batch_size=int(sys.argv[5]), random_state=0)
t0 = time.perf_counter()
model.fit(corpus)
print(f"{model.state_.n_docs_seen} documents in {time.perf_counter() - t0:.2f} s")
"""

_DONE = re.compile(r"(\d+) documents in ([0-9.]+) s")


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def configurations(args: argparse.Namespace) -> dict[str, list[str]]:
    """Name -> command line (run from the repository)."""
    corpus, k, e = str(args.corpus), str(args.topics), str(args.epochs)
    fit = [sys.executable, "-c", _FIT, corpus, k, e]
    train = [sys.executable, "-m", "pipelines.train", corpus, "--topics", k, "--epochs", e,
             "--top-words", "0"]
    return {
        "fit n_jobs=1": fit + ["1", "512"],
        "fit n_jobs=2": fit + ["2", "512"],
        f"fit n_jobs=1 batch {args.batch_size}": fit + ["1", str(args.batch_size)],
        f"fit n_jobs=2 batch {args.batch_size}": fit + ["2", str(args.batch_size)],
        "train (default)": train,
        "train --workers 1": train + ["--workers", "1"],
        "train --workers 2": train + ["--workers", "2"],
    }


def run_once(command: list[str], out: Path) -> tuple[float, float, int]:
    """(reported seconds, process wall seconds, documents) of one run."""
    if "pipelines.train" in command:
        shutil.rmtree(out, ignore_errors=True)
        command = command + ["--out", str(out)]
    t0 = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(f"{command[-6:]} failed:\n{result.stderr[-3000:]}")
    found = _DONE.findall(result.stdout + result.stderr)
    if not found:
        raise RuntimeError(f"no 'N documents in S s' in the output of {command[-6:]}")
    docs, seconds = found[-1]
    return float(seconds), wall, int(docs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=60_000)
    p.add_argument("--vocab", type=int, default=20_000)
    p.add_argument("--doc-length", type=float, default=100.0)
    p.add_argument("--row-group", type=int, default=1024)
    p.add_argument("--topics", type=int, default=100)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=2048,
                   help="the second estimator setting (the CLI's default minibatch)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    p.add_argument("--only", nargs="+", help="configurations to run (names as printed)")
    args = p.parse_args(argv)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"python {platform.python_version()}; load average at start {load()}", flush=True)
    args.corpus = generate(args.docs, args.vocab, args.doc_length, args.row_group)
    from svi_lda.corpus import ParquetCorpus

    print(f"corpus: {ParquetCorpus(args.corpus)}; K={args.topics}, {args.epochs} epochs",
          flush=True)
    configs = configurations(args)
    if args.only:
        unknown = set(args.only) - set(configs)
        if unknown:
            p.error(f"unknown configurations {sorted(unknown)}; known: {list(configs)}")
        configs = {name: configs[name] for name in args.only}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory(prefix="bench-local-train-") as tmp:
        for r in range(args.rounds):
            for name, command in configs.items():
                before = load()
                seconds, wall, docs = run_once(command, Path(tmp) / "model")
                results[name].append((seconds, wall))
                print(f"round {r + 1} {name:<28} {docs:,} documents in {seconds:6.2f} s "
                      f"(process {wall:6.2f} s)  load before {before}", flush=True)
    print()
    print("| how | documents | median seconds reported | median process wall | "
          "docs/s (reported) |\n|---|---:|---:|---:|---:|")
    n_docs = args.docs * args.epochs
    for name, runs in results.items():
        seconds = float(np.median([s for s, _ in runs]))
        wall = float(np.median([w for _, w in runs]))
        print(f"| {name} | {n_docs:,} | {seconds:.2f} | {wall:.2f} | {n_docs / seconds:,.0f} |")
    print(f"\nload average at end {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
