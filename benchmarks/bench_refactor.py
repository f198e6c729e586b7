"""One pass of svi-lda on 20 Newsgroups, in process or on Dask: this checkout against a ref.

    python benchmarks/bench_refactor.py --against main --k 100 --rounds 5
    python benchmarks/bench_refactor.py --against main --engine dask --rounds 4

For checking that a refactor costs no speed: the two versions run in turns, each run in a
fresh process (``PYTHONPATH`` pointing at the version's tree; the ref is extracted with
``git archive``), on the same cached count matrix as ``bench_20ng.py``. Each run compiles
(or loads) the Numba kernels on a small slice first, then times
``OnlineLDA(K, n_jobs=2, random_state=0).fit(X_train)`` (one pass, the defaults). The
machine is shared: the load average is printed with each run, and the medians of the
interleaved runs are what to compare; the CPU time of the fit (all its threads) is printed
too, as it depends less on what else runs. The SHA-256 of each fitted lambda is printed too:
a refactor that changes no arithmetic gives the same digest.

``--engine dask``: the same pass with ``fit_distributed`` on a ``local_cluster`` of two
single-threaded worker processes, over the matrix written once as a Parquet corpus (row
groups of 256 documents, so 2 per minibatch of 512); the CPU time is the coordinator's
(this process: the step's parameter rows, merge, update and records, plus the client's
share of Dask), the part a refactor of the loop can change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import CACHE, load_20ng  # noqa: E402


def _corpus_folder(X) -> Path:
    """The training matrix as a Parquet corpus (written once, shared by both versions)."""
    from svi_lda.corpus import from_csr

    folder = CACHE / "20ng-train-corpus-rg256"
    if not (folder / "manifest.json").is_file():
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        from_csr(X, [f"w{i}" for i in range(X.shape[1])], tmp, row_group_size=256)
        os.replace(tmp, folder)
    return folder


def worker(k: int, engine: str) -> dict:
    """Time one pass in this process (the svi_lda on sys.path)."""
    import svi_lda
    from svi_lda import OnlineLDA

    corpus = load_20ng()
    X = corpus.X_train
    OnlineLDA(k, n_jobs=2, random_state=0, max_iter=1).fit(X[:600])  # compile or load
    if engine == "dask":
        from distributed import Client

        from svi_lda.distributed import fit_distributed, local_cluster

        folder = _corpus_folder(X)
        with local_cluster(2, 1, dashboard=False) as cluster, Client(cluster) as client:
            fit_distributed(client, OnlineLDA(k, random_state=0), folder, n_steps=2)  # warm
            started, cpu_started = time.perf_counter(), time.process_time()
            model = fit_distributed(client, OnlineLDA(k, random_state=0, max_iter=1), folder)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
    else:
        started, cpu_started = time.perf_counter(), time.process_time()
        model = OnlineLDA(k, n_jobs=2, random_state=0, max_iter=1).fit(X)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    digest = hashlib.sha256(model.components_.tobytes()).hexdigest()[:16]
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "lambda_sha256": digest,
            "module": svi_lda.__file__, "load": os.getloadavg()[0]}


def run_one(root: Path, k: int, engine: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, str(HERE / "bench_refactor.py"), "--worker", "--k", str(k),
         "--engine", engine],
        env=env, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", default="main", help="git ref to compare with")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--engine", choices=("threads", "dask"), default="threads")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.k, a.engine)))
        return
    here = HERE.parent
    print(f"command: python benchmarks/bench_refactor.py --against {a.against} --k {a.k} "
          f"--rounds {a.rounds} --engine {a.engine}")
    print(f"load average at start (1, 5, 15 min): {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(here), "archive", a.against],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        versions = {a.against: Path(tmp), "this checkout": here}
        times: dict[str, list[float]] = {name: [] for name in versions}
        cpu: dict[str, list[float]] = {name: [] for name in versions}
        for r in range(a.rounds):
            order = list(versions) if r % 2 == 0 else list(reversed(versions))
            for name in order:
                res = run_one(versions[name], a.k, a.engine)
                times[name].append(res["seconds"])
                cpu[name].append(res["cpu_seconds"])
                print(f"round {r + 1} {name:>14}: {res['seconds']:.3f} s wall, "
                      f"{res['cpu_seconds']:.3f} s CPU  lambda sha256 "
                      f"{res['lambda_sha256']}  load {res['load']:.2f}", flush=True)
    for name, values in times.items():
        print(f"{name:>14}: wall median {statistics.median(values):.3f} s, min "
              f"{min(values):.3f} s; CPU median {statistics.median(cpu[name]):.3f} s, min "
              f"{min(cpu[name]):.3f} s; {len(values)} runs")
    print(f"load average at end (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
