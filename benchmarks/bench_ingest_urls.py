"""Ingest from an S3 URL against ingest from the same local file (in process, no Dask).

    python benchmarks/bench_ingest_urls.py [--docs 100000] [--repeats 3]

An S3-compatible server (moto's server mode) runs in its own process on loopback; the
inputs are uploaded to it once, then ``svi_lda.corpus.ingest`` reads them from the local
file and from ``s3://...`` in turn (alternating, ``--repeats`` times each; medians), into
a local output folder. Inputs: 20 Newsgroups train (``train.tsv.gz``, one gzip file) and
``--docs`` generated documents as an uncompressed TSV (cut into byte-range partitions,
so its remote reads are ranged requests). What this measures is the cost of reading
through s3fs rather than the local file system on the same machine: a loopback server
has no network latency, so a real store adds its round trips per request (4 MiB
read-ahead per request here). The two corpora are checked equal (same part files).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ingest import NEWSGROUPS, WORK, generate_tsv  # noqa: E402


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, endpoint
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("the moto server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    generated = WORK / f"generated_{args.docs}.tsv"
    generate_tsv(generated, args.docs)

    server, endpoint = start_server()
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": endpoint,
    })
    try:
        import fsspec

        import svi_lda
        from svi_lda.corpus import ParquetCorpus, ingest

        fsspec.config.conf["s3"] = {"endpoint_url": endpoint}
        fs = fsspec.filesystem("s3")
        fs.mkdir("bench")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
              f"{platform.python_version()}, svi-lda {svi_lda.__version__}, "
              f"s3fs {__import__('s3fs').__version__}, moto {__import__('moto').__version__}")
        print(f"S3 server: moto in its own process on {endpoint}")
        print("| input | size | from | median s | runs (s) | load avg (1 min) at start |")
        print("|---|---:|---|---:|---|---|")
        for label, local in (("20NG train.tsv.gz", NEWSGROUPS),
                             (f"generated {args.docs:,} (.tsv)", generated)):
            url = f"s3://bench/{local.name}"
            fs.put_file(str(local), url)
            times: dict[str, list[float]] = {"local file": [], "s3:// URL": []}
            loads: dict[str, list[str]] = {k: [] for k in times}
            parts = {}
            with tempfile.TemporaryDirectory() as tmp:
                for r in range(args.repeats):
                    for where, source in (("local file", local), ("s3:// URL", url)):
                        out = Path(tmp) / f"{where[:5]}-{r}"
                        loads[where].append(f"{os.getloadavg()[0]:.1f}")
                        t0 = time.perf_counter()
                        report = ingest(source, out, min_df=2)
                        times[where].append(time.perf_counter() - t0)
                        parts[where] = ParquetCorpus(out).manifest["files"]
                        assert report.n_written > 0
            assert parts["local file"] == parts["s3:// URL"], "the corpora differ"
            size = local.stat().st_size / 2**20
            for where, ts in times.items():
                runs = ", ".join(f"{t:.2f}" for t in ts)
                print(f"| {label} | {size:.0f} MiB | {where} | {statistics.median(ts):.2f} "
                      f"| {runs} | {', '.join(loads[where])} |")
            ratio = statistics.median(times["s3:// URL"]) / statistics.median(times["local file"])
            print(f"# {label}: from S3 / local = {ratio:.2f}x (medians); the two corpora "
                  "have the same part files (checked)")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
