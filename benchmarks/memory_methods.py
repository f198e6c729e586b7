"""Peak memory of one fit per learning method on 20 Newsgroups (K = 100), each in a fresh
process: the "memory" column of the README's "Choosing a method" table.

    python benchmarks/memory_methods.py            # online, scvb0, cvb0 (10 sweeps), batch

Prints, per method, the peak resident set size of the process (``ru_maxrss``), the same
after loading the data alone, and the difference (what the fit added), with the wall time.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = {
    "online": dict(max_iter=1),
    "scvb0": dict(max_iter=1),
    "cvb0": dict(max_iter=10),
    "batch": dict(max_iter=10),
}


def one(method: str) -> dict:
    from _common import load_20ng

    from svi_lda import OnlineLDA

    X = load_20ng().X_train
    data_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    OnlineLDA(100, learning_method=method, random_state=0, n_jobs=2, **METHODS[method]).fit(X)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "settings": METHODS[method], "wall": wall, "data_mb": data_mb,
            "peak_mb": peak_mb, "docs": X.shape[0], "nnz": X.nnz}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2])))
        return
    import os

    print("command: python " + " ".join(sys.argv))
    print("load average (1, 5, 15 min):", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("| method | settings | wall s | peak RSS MiB | after loading data MiB | fit added MiB |")
    print("|---|---|---:|---:|---:|---:|")
    for method in METHODS:
        out = subprocess.run([sys.executable, __file__, "--one", method], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {method} | {r['settings']} | {r['wall']:.1f} | {r['peak_mb']:.0f} | "
              f"{r['data_mb']:.0f} | {r['peak_mb'] - r['data_mb']:.0f} |", flush=True)
    print(f"20 Newsgroups training matrix: {r['docs']:,} documents, {r['nnz']:,} non-zeros")
    print("load average at end (1, 5, 15 min):",
          " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
