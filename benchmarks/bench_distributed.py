"""Distributed SVI throughput: 1 vs 2 Dask worker processes, in-process, gensim LdaMulticore.

Generates (once, into benchmarks/_work/) a synthetic LDA corpus of ``--docs`` documents
as a Parquet corpus, then trains K topics on the first ``--train-docs`` documents of an
epoch with each engine, in the same run:

- ``OnlineLDA`` in process (n_jobs = cores), ``partial_fit`` on the same minibatches;
- ``fit_distributed`` on a LocalCluster of 1 and of 2 worker processes (1 thread each),
  exact mode, and pipelined (staleness 1);
- gensim ``LdaMulticore`` (workers=1: one E-step process plus the master, as gensim
  recommends cores - 1) on the same documents with the same chunk size.

Reported: docs/s and tokens/s after the first (warm-up) step, scaling 2 vs 1 worker,
array bytes sent/received per step, coordinator seconds per step, peak RSS of the
coordinator and of the workers (sampled each step, to show it stays flat), and the
equality of the 1-worker, 2-worker and in-process models.

    python benchmarks/bench_distributed.py                 # 1,000,000 docs, K=100
    python benchmarks/bench_distributed.py --docs 100000 --train-docs 32768   # quick
    python benchmarks/bench_distributed.py --skip gensim,inprocess,pipelined --repeat 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

WORK = Path(__file__).resolve().parent / "_work"


def generate(n_docs: int, n_features: int, doc_length: float, row_group: int) -> Path:
    """The corpus folder, generated once: LDA with 100 true topics (alpha 0.1, eta 0.01)."""
    from svi_lda.corpus import from_csr
    from svi_lda.synthetic import make_lda_corpus

    path = WORK / f"lda-{n_docs}-{n_features}-{int(doc_length)}-rg{row_group}"
    if (path / "manifest.json").is_file():
        return path
    t0 = time.perf_counter()
    syn = make_lda_corpus(n_docs, n_features, 100, doc_length=doc_length, alpha=0.1,
                          eta=0.01, seed=0)
    X = syn.X
    del syn
    print(f"  generated {n_docs:,} docs in {time.perf_counter() - t0:.0f} s", flush=True)
    from_csr(X, [f"w{i}" for i in range(n_features)], path, row_group_size=row_group,
             overwrite=True)
    print(f"  written to {path} in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


class RssSampler:
    """Peak and trajectory of a process's RSS, sampled in a thread."""

    def __init__(self, pid: int | None = None, every: float = 0.2) -> None:
        self.proc = psutil.Process(pid or os.getpid())
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.proc.memory_info().rss / 2**20)
            except psutil.Error:
                return
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        s = self.samples or [float("nan")]
        n = len(s)
        thirds = [max(s[: max(1, n // 3)]), max(s[n // 3: max(n // 3 + 1, 2 * n // 3)]),
                  max(s[2 * n // 3:])]
        return f"peak {max(s):.0f} MiB (max per third of run: " + \
            ", ".join(f"{x:.0f}" for x in thirds) + ")"


def run_inprocess(corpus, plan, args) -> dict:
    from svi_lda import OnlineLDA
    from svi_lda.batch import concat_batches

    model = OnlineLDA(n_components=args.topics, batch_size=args.batch_size,
                      total_samples=corpus.n_docs, random_state=0)
    times, docs, toks = [], 0, 0.0
    with RssSampler() as rss:
        for i, group in enumerate(plan):
            batch = concat_batches([corpus.read_unit(u) for u in group])
            t0 = time.perf_counter()
            model.partial_fit(batch)
            if i:
                times.append(time.perf_counter() - t0)
                docs += batch.n_docs
                toks += batch.n_tokens
    return {"engine": "in-process OnlineLDA (n_jobs=cores)", "docs_s": docs / sum(times),
            "tokens_s": toks / sum(times), "rss": rss.summary(), "model": model}


def run_dask(corpus, n_steps, args, n_workers: int, pipelined: bool) -> dict:
    from distributed import Client

    from svi_lda import OnlineLDA
    from svi_lda.distributed import fit_distributed, local_cluster

    reports = []
    scatter = {} if args.scatter_bytes is None else {"scatter_bytes": args.scatter_bytes}

    with local_cluster(n_workers, 1, dashboard=False) as cluster, Client(cluster) as client:
        def on_step(r) -> None:
            reports.append((time.perf_counter(), r))

        model = OnlineLDA(n_components=args.topics, batch_size=args.batch_size,
                          total_samples=corpus.n_docs, random_state=0)
        def cpu(dask_worker=None) -> float:
            t = psutil.Process().cpu_times()
            return t.user + t.system

        cpu0, wcpu0 = cpu(), client.run(cpu)
        # Workers' RSS is read from here by pid, in threads: no RPC on the step's path.
        worker_samplers = [RssSampler(pid) for pid in client.run(os.getpid).values()]
        with RssSampler() as rss, contextlib.ExitStack() as stack:
            for sampler in worker_samplers:
                stack.enter_context(sampler)
            t_start = time.perf_counter()
            fit_distributed(client, model, corpus, n_steps=n_steps, pipelined=pipelined,
                            on_step=on_step, **scatter)
        coord_cpu = (cpu() - cpu0) / n_steps
        wcpu = client.run(cpu)
        worker_cpu = sum(wcpu[a] - wcpu0.get(a, 0.0) for a in wcpu) / n_steps
    steady = reports[1:]
    seconds = steady[-1][0] - reports[0][0]
    docs = sum(r.metrics.n_docs for _, r in steady)
    toks = sum(r.metrics.n_tokens for _, r in steady)
    wrss = "; ".join(sampler.summary() for sampler in worker_samplers)
    return {
        "engine": f"fit_distributed {n_workers} worker process{'es' if n_workers > 1 else ''}"
        + (" pipelined" if pipelined else ""),
        "docs_s": docs / seconds,
        "tokens_s": toks / seconds,
        "first_step_s": reports[0][0] - t_start,
        "bytes_out": float(np.mean([r.bytes_to_workers for _, r in steady])),
        "bytes_in": float(np.mean([r.bytes_from_workers for _, r in steady])),
        "coord_s": float(np.mean([r.coordinator_seconds for _, r in steady])),
        "coord_cpu_s": coord_cpu,
        "worker_cpu_s": worker_cpu,
        "step_s": seconds / len(steady),
        "rss": rss.summary(),
        "worker_rss": wrss,
        "model": model,
    }


def mode_name(pipelined: bool) -> str:
    return "pipelined, staleness 1" if pipelined else "exact"


def run_gensim(corpus, plan, args, workers: int) -> dict:
    import logging

    import scipy.sparse as sp
    from gensim.matutils import Sparse2Corpus
    from gensim.models import LdaMulticore

    from svi_lda.batch import concat_batches

    logging.getLogger("gensim").setLevel(logging.WARNING)
    X = sp.csr_matrix(concat_batches([corpus.read_unit(u) for g in plan for u in g]).to_csr())
    first = X[: sum(u.n_docs for u in plan[0])]
    bow = Sparse2Corpus(X, documents_columns=False)
    id2word = {i: f"w{i}" for i in range(X.shape[1])}
    with RssSampler() as rss:
        # warm-up: the first chunk (process start-up), timed separately
        lda = LdaMulticore(corpus=None, id2word=id2word, num_topics=args.topics,
                           workers=workers, chunksize=args.batch_size, passes=1,
                           iterations=100, gamma_threshold=1e-3, eval_every=None,
                           random_state=0, dtype=np.float64)
        lda.update(Sparse2Corpus(first, documents_columns=False))
        rest = Sparse2Corpus(X[first.shape[0]:], documents_columns=False)
        t0 = time.perf_counter()
        lda.update(rest)
        seconds = time.perf_counter() - t0
    n_docs = X.shape[0] - first.shape[0]
    del bow
    return {"engine": f"gensim LdaMulticore workers={workers}", "docs_s": n_docs / seconds,
            "tokens_s": float(X[first.shape[0]:].sum()) / seconds, "rss": rss.summary()}


def add_corpus_arguments(p: argparse.ArgumentParser) -> None:
    """The generated corpus and the training shape (shared with trace_distributed.py)."""
    p.add_argument("--docs", type=int, default=1_000_000)
    p.add_argument("--vocab", type=int, default=20_000)
    p.add_argument("--doc-length", type=float, default=100.0)
    p.add_argument("--topics", type=int, default=100)
    p.add_argument("--row-group", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=16384)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_corpus_arguments(p)
    p.add_argument("--train-docs", type=int, default=196_608,
                   help="documents each engine trains on (the first of epoch 0's plan)")
    p.add_argument("--skip", default="", help="comma list: inprocess,gensim,pipelined")
    p.add_argument("--generate-only", action="store_true")
    p.add_argument("--repeat", type=int, default=1,
                   help="pairs of 1- and 2-worker runs, alternated (the machine's speed "
                        "drifts: the median pair ratio is the scaling figure)")
    p.add_argument("--scatter-bytes", type=int, default=None,
                   help="fit_distributed's scatter_bytes (default: the library's)")
    p.add_argument("--gensim-docs", type=int, default=49_152,
                   help="documents for gensim (the first minibatch is its warm-up)")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    from svi_lda.corpus import ParquetCorpus, plan_minibatches

    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"load average at start {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    path = generate(args.docs, args.vocab, args.doc_length, args.row_group)
    corpus = ParquetCorpus(path)
    print(f"corpus: {corpus}")
    if args.generate_only:
        return 0
    plan = plan_minibatches(corpus.units, args.batch_size, epoch=0, seed=0)
    n_steps = max(2, args.train_docs // args.batch_size)
    plan = plan[:n_steps]
    print(f"K={args.topics}, minibatch {args.batch_size} docs = "
          f"{len(plan[0])} row groups of {args.row_group}; {n_steps} steps "
          f"({sum(u.n_docs for g in plan for u in g):,} docs) per engine; first step "
          "excluded from rates (warm-up)")
    runs = []
    if "inprocess" not in skip:
        runs.append(lambda: run_inprocess(corpus, plan, args))
    runs.append(lambda: run_dask(corpus, n_steps, args, 1, False))
    runs.append(lambda: run_dask(corpus, n_steps, args, 2, False))
    if "pipelined" not in skip:
        runs.append(lambda: run_dask(corpus, n_steps, args, 1, True))
        runs.append(lambda: run_dask(corpus, n_steps, args, 2, True))
    if "gensim" not in skip:
        n_gensim = max(2, args.gensim_docs // args.batch_size)
        runs.append(lambda: run_gensim(corpus, plan[:n_gensim], args, 1))
    results = []
    for run in runs:
        t0 = time.perf_counter()
        results.append(run())
        print(f"  {results[-1]['engine']}: {results[-1]['docs_s']:,.0f} docs/s "
              f"({time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f})",
              flush=True)
    print()
    print(f"{'engine':<44} {'docs/s':>9} {'tokens/s':>11}  memory")
    for r in results:
        print(f"{r['engine']:<44} {r['docs_s']:>9,.0f} {r['tokens_s']:>11,.0f}  "
              f"coordinator/process {r['rss']}")
        if "worker_rss" in r:
            print(f"{'':<44} {'':>9} {'':>11}  workers {r['worker_rss']}")
    dask = {r["engine"]: r for r in results if "bytes_out" in r}
    one = dask["fit_distributed 1 worker process"]
    two = dask["fit_distributed 2 worker processes"]
    print()
    print(f"scaling 2 vs 1 worker (exact): {two['docs_s'] / one['docs_s']:.2f}x")
    if "fit_distributed 2 worker processes pipelined" in dask:
        p1 = dask["fit_distributed 1 worker process pipelined"]
        p2 = dask["fit_distributed 2 worker processes pipelined"]
        print(f"scaling 2 vs 1 worker (pipelined, staleness 1): "
              f"{p2['docs_s'] / p1['docs_s']:.2f}x")
    if args.repeat > 1:
        # docs/s of each round's runs, by (workers, pipelined); pipelined only if it ran above
        rounds = [{(1, False): one["docs_s"], (2, False): two["docs_s"]}]
        modes = [False]
        if "fit_distributed 2 worker processes pipelined" in dask:
            modes.append(True)
            rounds[0].update({(1, True): p1["docs_s"], (2, True): p2["docs_s"]})
        for _ in range(args.repeat - 1):
            rounds.append({})
            for pipelined in modes:
                a = run_dask(corpus, n_steps, args, 1, pipelined)
                b = run_dask(corpus, n_steps, args, 2, pipelined)
                rounds[-1].update({(1, pipelined): a["docs_s"], (2, pipelined): b["docs_s"]})
                print(f"  pair {len(rounds)} ({mode_name(pipelined)}): 1 worker "
                      f"{a['docs_s']:,.0f} docs/s (workers {a['worker_cpu_s']:.2f} "
                      f"CPU-s/step), 2 workers {b['docs_s']:,.0f} docs/s (workers "
                      f"{b['worker_cpu_s']:.2f} CPU-s/step): {b['docs_s'] / a['docs_s']:.2f}x",
                      flush=True)
        for pipelined in modes:
            found = [r[(2, pipelined)] / r[(1, pipelined)] for r in rounds]
            print(f"scaling ({mode_name(pipelined)}) over {len(found)} alternated pairs: "
                  f"{', '.join(f'{r:.2f}' for r in found)}; median {np.median(found):.2f}x")
        if len(modes) == 2:
            # A mode's own single worker may be the slower one: measure the faster 2-worker
            # mode against the faster 1-worker mode of the same round.
            best = [
                max(r[(2, False)], r[(2, True)]) / max(r[(1, False)], r[(1, True)])
                for r in rounds
            ]
            print(f"scaling, faster 2-worker mode over faster 1-worker mode, per round of "
                  f"four runs: {', '.join(f'{r:.2f}' for r in best)}; median "
                  f"{np.median(best):.2f}x")
    for name, r in dask.items():
        print(f"{name}: step {r['step_s']:.3f} s, coordinator {r['coord_s'] * 1e3:.0f} ms/step,"
              f" sent {r['bytes_out'] / 1e6:.1f} MB/step, received {r['bytes_in'] / 1e6:.1f} "
              f"MB/step, first step (warm-up) {r['first_step_s']:.1f} s; CPU per step: "
              f"coordinator+scheduler process {r['coord_cpu_s']:.2f} s, workers "
              f"{r['worker_cpu_s']:.2f} s")
    # step(n) = serial + parallel / n  =>  two equations, two unknowns
    parallel = 2 * (one["step_s"] - two["step_s"])
    serial = one["step_s"] - parallel
    if parallel > 0 and serial > 0:
        print(f"per-step split from the 1- and 2-worker step times: E-step compute "
              f"{parallel:.3f} s (= {args.batch_size / parallel:,.0f} docs/s per worker), "
              f"serial (coordinator + transfers + scheduling) {serial:.3f} s")
    else:
        print("per-step split: not identifiable (2 workers not faster: cores busy?)")
    same = np.array_equal(one["model"].state_.word_topic, two["model"].state_.word_topic)
    print(f"1-worker and 2-worker models bitwise equal: {same}")
    summary = {r["engine"]: {k: v for k, v in r.items() if k != "model"} for r in results}
    (WORK / "last_distributed.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"load average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
