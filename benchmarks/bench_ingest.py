"""Ingest benchmark: svi-lda versus scikit-learn CountVectorizer and gensim Dictionary+doc2bow.

    python benchmarks/bench_ingest.py [--docs N] [--workers 2] [--skip-baselines-above N]

Inputs: 20 Newsgroups train (``../shared/data``) and a generated text corpus of ``--docs``
documents (plus one 10x smaller, to show memory staying flat), written as uncompressed
TSV under ``benchmarks/_work`` (gitignored). Every method runs in its own subprocess on
the same file with the same settings (lowercase, ``\\b\\w\\w+\\b``, min_df=2); peak RSS is
the largest sum of RSS over the subprocess and all its children (Dask scheduler, nannies,
workers), sampled every 50 ms. Time excludes interpreter start and imports; the Dask
cluster start-up is reported separately. Output size: the corpus folder (svi-lda), the
matrix saved with ``scipy.sparse.save_npz`` (scikit-learn); gensim's bag-of-words is
streamed and not kept (its time is therefore a lower bound).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
NEWSGROUPS = HERE.parent.parent / "shared" / "data" / "20newsgroups" / "train.tsv.gz"
PATTERN = r"(?u)\b\w\w+\b"
MIN_DF = 2


# -- data ------------------------------------------------------------------------------------
def generate_tsv(path: Path, n_docs: int, seed: int = 0, chunk: int = 100_000) -> None:
    """Zipf-distributed words from a 50,000-word synthetic vocabulary, ~80 words per doc."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if path.exists():
        return
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    n_words = 50_000
    lens = rng.integers(3, 10, size=n_words)
    words = ["".join(rng.choice(letters, size=k)) for k in lens]
    vocab = pa.array(words)
    p = 1.0 / (np.arange(n_words) + 2.7) ** 1.05
    cdf = np.cumsum(p / p.sum())
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(b"label\ttext\n")
        for start in range(0, n_docs, chunk):
            n = min(chunk, n_docs - start)
            doc_len = rng.poisson(80, size=n) + 1
            ids = np.searchsorted(cdf, rng.random(doc_len.sum()))
            ids = np.minimum(ids, n_words - 1)
            offsets = np.concatenate([[0], np.cumsum(doc_len)]).astype(np.int32)
            lists = pa.ListArray.from_arrays(pa.array(offsets), vocab.take(pa.array(ids)))
            texts = pc.binary_join(lists, " ")
            labels = pc.cast(pa.array(rng.integers(0, 20, size=n)), pa.string())
            lines = pc.binary_join_element_wise(labels, texts, "\t")
            f.write("\n".join(lines.to_pylist()).encode() + b"\n")
    tmp.rename(path)


def iter_texts(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as f:
        next(f)
        for line in f:
            yield line.rstrip("\n").split("\t", 1)[1]


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- methods (run in a child process) ---------------------------------------------------------
def run_svi(src: Path, out: Path, workers: int) -> dict:
    from svi_lda.corpus import ingest
    from svi_lda.text import Tokenizer

    client = cluster = None
    t_cluster = 0.0
    if workers > 0:
        import logging

        from distributed import Client, LocalCluster

        t = time.perf_counter()
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        t_cluster = time.perf_counter() - t
    t = time.perf_counter()
    r = ingest(
        src,
        out,
        tokenizer=Tokenizer(token_pattern=PATTERN, min_length=2),
        min_df=MIN_DF,
        client=client,
        overwrite=True,
    )
    secs = time.perf_counter() - t
    if client is not None:
        client.close()
        cluster.close()
    return {
        "seconds": secs,
        "cluster_seconds": t_cluster,
        "docs": r.n_read,
        "vocab": r.n_features,
        "nnz_tokens": r.n_tokens,
        "bytes": dir_size(out),
    }


def run_sklearn(src: Path, out: Path) -> dict:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer

    t = time.perf_counter()
    cv = CountVectorizer(token_pattern=PATTERN, min_df=MIN_DF)
    X = cv.fit_transform(iter_texts(src))
    secs = time.perf_counter() - t
    out.mkdir(parents=True, exist_ok=True)
    sp.save_npz(out / "X.npz", X)
    return {
        "seconds": secs,
        "docs": X.shape[0],
        "vocab": X.shape[1],
        "nnz_tokens": int(X.sum()),
        "bytes": dir_size(out),
    }


def run_gensim(src: Path, out: Path) -> dict:
    from gensim.corpora import Dictionary

    rx = re.compile(PATTERN)
    t = time.perf_counter()
    d = Dictionary(rx.findall(x.lower()) for x in iter_texts(src))
    d.filter_extremes(no_below=MIN_DF, no_above=1.0, keep_n=None)
    n_docs = n_tok = 0
    for x in iter_texts(src):
        bow = d.doc2bow(rx.findall(x.lower()))
        n_docs += 1
        n_tok += sum(c for _, c in bow)
    secs = time.perf_counter() - t
    return {"seconds": secs, "docs": n_docs, "vocab": len(d), "nnz_tokens": n_tok, "bytes": None}


def child(args: argparse.Namespace) -> None:
    src, out = Path(args.input), Path(args.out)
    if args.run == "svi":
        res = run_svi(src, out, args.workers)
    elif args.run == "sklearn":
        res = run_sklearn(src, out)
    else:
        res = run_gensim(src, out)
    print("RESULT " + json.dumps(res), flush=True)


# -- parent ------------------------------------------------------------------------------------
def measure(cmd: list[str]) -> tuple[dict, float]:
    """Run a child; returns its result and the peak RSS (bytes) of its process tree."""
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [p, *p.children(recursive=True)]
                total = 0
                for q in tree:
                    try:
                        total += q.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                break
            time.sleep(0.05)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{stderr[-3000:]}")
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[7:]), peak


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "not kept"
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 2**10:,.0f} KiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000, help="generated corpus size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--skip-baselines-above",
        type=int,
        default=None,
        help="do not run scikit-learn/gensim on corpora larger than this",
    )
    ap.add_argument("--run", choices=["svi", "sklearn", "gensim"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        child(args)
        return

    WORK.mkdir(parents=True, exist_ok=True)
    datasets = []
    if NEWSGROUPS.is_file():
        datasets.append(("20NG train", NEWSGROUPS))
    small = max(args.docs // 10, 1)
    for n in (small, args.docs):
        path = WORK / f"generated_{n}.tsv"
        t = time.perf_counter()
        generate_tsv(path, n)
        print(
            f"# data {path.name}: {dir_size(path) / 2**20:,.0f} MiB "
            f"({time.perf_counter() - t:.0f} s to generate or reuse)",
            file=sys.stderr,
        )
        datasets.append((f"generated {n:,}", path))

    import numpy
    import pyarrow
    import sklearn

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {numpy.__version__}, "
        f"pyarrow {pyarrow.__version__}, scikit-learn {sklearn.__version__}"
    )
    print("settings: lowercase, token pattern \\b\\w\\w+\\b, min_df=2, no stop words")
    print()
    print("| input | method | docs | size in | seconds | docs/s | peak RSS | output | vocab |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    methods = [
        (f"svi-lda, LocalCluster {args.workers} workers", ["svi", "--workers", str(args.workers)]),
        ("svi-lda, in-process (1 core)", ["svi", "--workers", "0"]),
        ("scikit-learn CountVectorizer", ["sklearn"]),
        ("gensim Dictionary + doc2bow", ["gensim"]),
    ]
    for name, path in datasets:
        for label, m in methods:
            n = int(name.split()[-1].replace(",", "")) if name.startswith("generated") else 0
            if (
                m[0] != "svi"
                and args.skip_baselines_above is not None
                and n > args.skip_baselines_above
            ):
                print(f"| {name} | {label} | | | skipped | | | | |", flush=True)
                continue
            out = WORK / f"out_{m[0]}_{m[-1]}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [
                sys.executable,
                __file__,
                "--run",
                m[0],
                "--input",
                str(path),
                "--out",
                str(out),
                *m[1:],
            ]
            res, peak = measure(cmd)
            extra = (
                f" (+{res['cluster_seconds']:.1f} s cluster start)"
                if res.get("cluster_seconds")
                else ""
            )
            print(
                f"| {name} | {label} | {res['docs']:,} | {fmt_bytes(dir_size(path))} | "
                f"{res['seconds']:.1f}{extra} | {res['docs'] / res['seconds']:,.0f} | "
                f"{fmt_bytes(peak)} | {fmt_bytes(res['bytes'])} | {res['vocab']:,} |",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
