"""Streaming: sustained throughput, file-to-snapshot latency, snapshot and reload times,
memory over a long stream, and query latency against gensim.

    python benchmarks/bench_stream.py                          # 200,000 docs in 200 files
    python benchmarks/bench_stream.py --docs 1000000 --files 200   # the issue's size
    python benchmarks/bench_stream.py --docs 20000 --files 20 --no-dask   # quick check

Data: one synthetic LDA corpus (``svi_lda.synthetic.make_lda_corpus``, ``--true-topics``
topics over ``--vocab`` words, Poisson(``--doc-length``) tokens a document, seed 0),
written as ``--files`` Parquet files with a ``text`` column (words ``w<id>``), published
by write-then-rename.

1. Stream (``svi-lda stream --once``, a subprocess, ``--topics`` K, ``--batch-size``):
   sustained documents/s from its progress lines, peak and sampled RSS of the process
   (psutil, every 0.5 s), snapshot write times.
2. Batch ``OnlineLDA.fit`` (one pass, same K, batch size and threads) on the same documents
   as a count matrix: documents/s.
3. The same stream with its E-steps on a 2-worker LocalCluster (``--scheduler``), on the
   first ``--dask-docs`` documents.
4. Latency: a streamer waits on a folder (``--poll-seconds 0.05``); a file of exactly one
   minibatch is published; time until ``model.json`` names it as consumed (the snapshot
   taken when the folder runs dry). ``svi_lda.load`` and ``refresh()`` times of that model.
5. Queries at K = ``--topics`` from the stream's final snapshot: one short document
   (10 words) through ``transform`` against gensim's ``get_document_topics`` on the same
   document (a gensim LdaModel with the same K trained one pass on 20,000 of the documents;
   only the query is timed); 10,000 documents in bulk through ``transform`` on one thread.

The machine is shared: the load average is printed with the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, load_average, machine_info  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
PROGRESS = re.compile(r"step\s+([\d,]+)\s+files\s+([\d,]+)\s+docs\s+([\d,]+).*?"
                      r"(?:snapshot ([\d.]+) s)?$")


def word_array(n_features: int) -> pa.Array:
    return pa.array([f"w{i}" for i in range(n_features)], pa.large_string())


def texts_of(X, words: pa.Array) -> pa.Array:
    """Rows of a count matrix as texts (words repeated by count), built by Arrow."""
    counts = X.data.astype(np.int64)
    tokens = words.take(pa.array(np.repeat(X.indices, counts)))
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    per_doc = np.bincount(rows, weights=counts, minlength=X.shape[0]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(per_doc)])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), tokens)
    return pc.binary_join(lists, pa.scalar(" ", pa.large_string()))


def write_files(folder: Path, X, words: pa.Array, n_files: int) -> list[int]:
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, X.shape[0], n_files + 1).astype(int)
    sizes = []
    for f in range(n_files):
        part = X[bounds[f] : bounds[f + 1]]
        table = pa.table({"text": texts_of(part, words)})
        tmp = folder / f".docs-{f:05d}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.rename(folder / f"docs-{f:05d}.parquet")
        sizes.append(part.shape[0])
    return sizes


def stream_cmd(src: Path, model: Path, args, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.stream", str(src), "--model", str(model),
            "--topics", str(args.topics), "--batch-size", str(args.batch_size),
            "--log-every", "1", *extra]


def run_stream(src: Path, model: Path, args, *extra: str) -> dict:
    """Run the CLI to the end; progress lines with timestamps, RSS samples."""
    import psutil

    proc = subprocess.Popen(stream_cmd(src, model, args, "--once", *extra), env=ENV,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: [lines.append((time.perf_counter(), line.rstrip())) for line in
                        proc.stderr], daemon=True)
    reader.start()
    started = time.perf_counter()
    rss: list[tuple[float, float]] = []
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss.append((time.perf_counter() - started, ps.memory_info().rss / 2**20))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.5)
    reader.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit("stream failed:\n" + "\n".join(line for _, line in lines[-20:]))
    steps = []
    for t, line in lines:
        m = PROGRESS.search(line)
        if m:
            steps.append((t - started, int(m.group(3).replace(",", "")),
                          float(m.group(4)) if m.group(4) else None))
    return {"wall": wall, "steps": steps, "rss": rss}


def sustained(steps: list[tuple[float, int, float | None]]) -> float:
    """Documents/s between the first step and the last (startup and compile excluded)."""
    (t0, d0, _), (t1, d1, _) = steps[0], steps[-1]
    return (d1 - d0) / (t1 - t0)


def latency(args, work: Path, words: pa.Array, X) -> dict:
    """File landing -> first snapshot naming it, and load/refresh times."""
    import svi_lda

    src, model = work / "lat-src", work / "lat-model"
    b = args.batch_size
    write_files(src, X[:b], words, 1)
    proc = subprocess.Popen(stream_cmd(src, model, args, "--poll-seconds", "0.05"), env=ENV,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (model / "model.json").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("latency streamer did not start")
            time.sleep(0.05)
        loads, refreshes, lat = [], [], []
        reader = svi_lda.load(model)
        for i in range(1, 6):
            table = pa.table({"text": texts_of(X[i * b : (i + 1) * b], words)})
            name = f"docs-{i:05d}.parquet"
            pq.write_table(table, src / f".{name}.tmp")
            landed = time.perf_counter()
            (src / f".{name}.tmp").rename(src / name)
            while True:
                try:
                    manifest = json.loads((model / "model.json").read_text())
                    if name in manifest["extra"]["stream"]["done"]:
                        break
                except (OSError, ValueError, KeyError):
                    pass
                time.sleep(0.002)
            lat.append(time.perf_counter() - landed)
            t = time.perf_counter()
            changed = reader.refresh()
            refreshes.append(time.perf_counter() - t)
            assert changed
            t = time.perf_counter()
            svi_lda.load(model)
            loads.append(time.perf_counter() - t)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    return {"latency": lat, "load": loads, "refresh": refreshes}


def queries(args, model_dir: Path, X, words: pa.Array) -> dict:
    import gensim
    from gensim.models import LdaModel

    import svi_lda

    model = svi_lda.load(model_dir)
    model.set_params(n_jobs=1)
    rng = np.random.default_rng(1)
    short_ids = rng.choice(args.vocab // 10, 10, replace=False)
    short_text = " ".join(f"w{i}" for i in short_ids)
    model.transform([short_text])  # compile / warm
    ours = []
    for _ in range(args.query_reps):
        t = time.perf_counter()
        model.transform([short_text])
        ours.append(time.perf_counter() - t)
    short_bow = model.vocabulary_.encode([short_text]).to_csr()
    model.transform(short_bow)
    ours_bow = []
    for _ in range(args.query_reps):
        t = time.perf_counter()
        model.transform(short_bow)
        ours_bow.append(time.perf_counter() - t)
    n_train = min(20_000, X.shape[0])
    Xg = X[:n_train]
    corpus = [list(zip(Xg.indices[Xg.indptr[d]:Xg.indptr[d + 1]].tolist(),
                       Xg.data[Xg.indptr[d]:Xg.indptr[d + 1]].tolist(), strict=True))
              for d in range(n_train)]
    id2word = {i: f"w{i}" for i in range(args.vocab)}
    lda = LdaModel(corpus, num_topics=args.topics, id2word=id2word, passes=1,
                   chunksize=2000, random_state=0)
    bow = [(int(i), 1) for i in sorted(short_ids)]
    lda.get_document_topics(bow)
    theirs = []
    for _ in range(args.query_reps):
        t = time.perf_counter()
        lda.get_document_topics(bow)
        theirs.append(time.perf_counter() - t)
    bulk_texts = texts_of(X[:10_000], words).to_pylist()
    t = time.perf_counter()
    theta = model.transform(bulk_texts)
    bulk = time.perf_counter() - t
    assert theta.shape == (len(bulk_texts), args.topics)
    bulk_bow = model.vocabulary_.encode(bulk_texts).to_csr()
    t = time.perf_counter()
    model.transform(bulk_bow)
    bulk_bow_seconds = time.perf_counter() - t
    return {"ours_ms": 1e3 * float(np.median(ours)), "gensim_ms": 1e3 * float(np.median(theirs)),
            "ours_bow_ms": 1e3 * float(np.median(ours_bow)),
            "bulk_docs_per_s": len(bulk_texts) / bulk,
            "bulk_bow_docs_per_s": len(bulk_texts) / bulk_bow_seconds,
            "gensim_version": gensim.__version__}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=200_000)
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--vocab", type=int, default=20_000)
    p.add_argument("--true-topics", type=int, default=50)
    p.add_argument("--doc-length", type=float, default=40.0)
    p.add_argument("--topics", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--snapshot-every", type=int, default=50)
    p.add_argument("--dask-docs", type=int, default=50_000)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--query-reps", type=int, default=500)
    p.add_argument("--queries-only", action="store_true",
                   help="train the snapshot by the stream, then run only [5] (the queries)")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: tmp)")
    args = p.parse_args()

    from svi_lda import OnlineLDA
    from svi_lda.synthetic import make_lda_corpus

    print(machine_info())
    print(f"command: python benchmarks/bench_stream.py {' '.join(sys.argv[1:])}")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-stream-"))
    t = time.perf_counter()
    corpus = make_lda_corpus(args.docs, args.vocab, args.true_topics,
                             doc_length=args.doc_length, seed=0)
    X = corpus.X
    words = word_array(args.vocab)
    write_files(work / "src", X, words, args.files)
    print(f"data: {args.docs:,} documents, {int(X.sum()):,} tokens, {args.files} files, "
          f"generated and written in {time.perf_counter() - t:.1f} s ({work})")

    if args.queries_only:
        run_stream(work / "src", work / "model", args)
        report_queries(args, work, X, words)
        return

    print(f"\n[1] stream in process, K={args.topics}, batch {args.batch_size}, load "
          f"{load_average()}")
    run = run_stream(work / "src", work / "model", args, "--snapshot-every",
                     str(args.snapshot_every))
    rate = sustained(run["steps"])
    snaps = [s for _, _, s in run["steps"] if s is not None]
    rss = run["rss"]
    print(f"    wall {run['wall']:.1f} s (startup included); sustained {rate:,.0f} docs/s")
    if snaps:
        print(f"    snapshot write: median {1e3 * np.median(snaps):.1f} ms, max "
              f"{1e3 * max(snaps):.1f} ms over {len(snaps)} snapshots")
    picks = np.linspace(0, len(rss) - 1, min(12, len(rss))).astype(int)
    print("    RSS (MiB) over time: " + ", ".join(
        f"{rss[i][0]:.0f}s:{rss[i][1]:.0f}" for i in picks))
    print(f"    peak RSS {max(r for _, r in rss):.0f} MiB; after 10% of the run "
          f"{rss[len(rss) // 10][1]:.0f} MiB, at the end {rss[-1][1]:.0f} MiB; load "
          f"{load_average()}")

    print(f"\n[2] batch OnlineLDA.fit, one pass, same documents, K={args.topics}, load "
          f"{load_average()}")
    fit_model = OnlineLDA(args.topics, batch_size=args.batch_size, max_iter=1, random_state=0)
    fit_model.fit(X[: args.batch_size * 2])  # compile
    t = time.perf_counter()
    OnlineLDA(args.topics, batch_size=args.batch_size, max_iter=1, random_state=0).fit(X)
    fit_seconds = time.perf_counter() - t
    print(f"    {fit_seconds:.1f} s, {args.docs / fit_seconds:,.0f} docs/s "
          f"(stream/fit {rate / (args.docs / fit_seconds):.2f}); load {load_average()}")

    if not args.no_dask:
        from distributed import LocalCluster

        n = min(args.dask_docs, args.docs)
        n_files = max(1, round(args.files * n / args.docs))
        write_files(work / "dask-src", X[:n], words, n_files)
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                          env={"NUMBA_NUM_THREADS": "1"}) as cluster:
            print(f"\n[3] stream on a 2-worker LocalCluster, {n:,} documents, load "
                  f"{load_average()}")
            drun = run_stream(work / "dask-src", work / "dask-model", args,
                              "--scheduler", cluster.scheduler_address,
                              "--snapshot-every", str(args.snapshot_every))
            print(f"    sustained {sustained(drun['steps']):,.0f} docs/s; load "
                  f"{load_average()}")

    print(f"\n[4] latency file -> snapshot (one minibatch of {args.batch_size} docs), load "
          f"{load_average()}")
    lat = latency(args, work, words, X)
    print("    latency (s): " + ", ".join(f"{x:.2f}" for x in lat["latency"])
          + f"; median {np.median(lat['latency']):.2f} s")
    print(f"    load: median {1e3 * np.median(lat['load']):.1f} ms; refresh after a new "
          f"snapshot: median {1e3 * np.median(lat['refresh']):.1f} ms; load {load_average()}")

    report_queries(args, work, X, words)


def report_queries(args, work: Path, X, words: pa.Array) -> None:
    lengths = np.asarray(X[:10_000].sum(axis=1)).ravel()
    print(f"\n[5] queries from the stream's snapshot, K={args.topics}, one thread, load "
          f"{load_average()}; bulk documents: mean {lengths.mean():.1f} tokens, "
          f"{np.diff(X[:10_000].indptr).mean():.1f} distinct words")
    q = queries(args, work / "model", X, words)
    print(f"    one short document (10 words), medians of {args.query_reps}: svi-lda "
          f"transform(raw text) {q['ours_ms']:.3f} ms, transform(bag of words) "
          f"{q['ours_bow_ms']:.3f} ms; gensim {q['gensim_version']} get_document_topics "
          f"(bag of words) {q['gensim_ms']:.3f} ms")
    print(f"    10,000 documents in bulk: raw text {q['bulk_docs_per_s']:,.0f} docs/s, bag "
          f"of words {q['bulk_bow_docs_per_s']:,.0f} docs/s; load {load_average()}")


if __name__ == "__main__":
    main()
