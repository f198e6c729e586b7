"""Vowpal Wabbit ``--lda`` as a baseline: its input format, arguments and topics.

Shared by ``bench_20ng.py`` and ``bench_synthetic.py``. Needs the optional
``vowpalwabbit`` package (imported only when a run is timed).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from _common import CACHE, start_memory_window


def write_vw(X, path: Path) -> None:
    with open(path, "w") as f:
        for i in range(X.shape[0]):
            lo, hi = X.indptr[i], X.indptr[i + 1]
            f.write("| " + " ".join(
                f"{w}:{n}" for w, n in zip(X.indices[lo:hi], X.data[lo:hi], strict=True)
            ) + "\n")


def vw_args(k: int, n_docs: int, n_features: int, data: Path, minibatch: int = 2000) -> list:
    bits = max(1, math.ceil(math.log2(n_features)))
    return [
        "-d", str(data), "--lda", str(k), "--lda_alpha", str(1.0 / k), "--lda_rho",
        str(1.0 / k), "--lda_D", str(n_docs), "--minibatch", str(minibatch), "--ring_size",
        str(2 * minibatch + 64), "-b", str(bits), "--quiet",
    ]


def read_vw_topics(path: Path, k: int, n_features: int) -> np.ndarray:
    """lambda (K, V) from a VW --lda readable model (word id j is weight row j)."""
    lam = np.zeros((k, n_features))
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Checksum")) + 1
    for line in lines[start:]:
        parts = line.split()
        if not parts:
            continue
        j = int(parts[0])
        if j < n_features:
            lam[:, j] = np.asarray(parts[1 : k + 1], dtype=np.float64)
    return lam


def run_vw(X, k: int, n_docs: int, tag: str) -> dict:
    """Time one VW --lda pass (in this process) and read its topics back (second run)."""
    import vowpalwabbit

    data = CACHE / f"{tag}.vw"
    if not data.exists():
        tmp = data.with_suffix(".tmp")
        write_vw(X, tmp)
        tmp.replace(data)
    args = vw_args(k, n_docs, X.shape[1], data)
    rss_before = start_memory_window()
    t0 = time.perf_counter()
    ws = vowpalwabbit.Workspace(arg_list=args)
    ws.finish()
    wall = time.perf_counter() - t0
    # Same data, same default seed: the same model, now written out (not timed).
    model_path = CACHE / f"{tag}_k{k}.readable"
    ws = vowpalwabbit.Workspace(arg_list=[*args, "--readable_model", str(model_path)])
    ws.finish()
    lam = read_vw_topics(model_path, k, X.shape[1])
    return {"wall": wall, "lambda": lam, "rss_before_mb": rss_before,
            "settings": " ".join(a for a in args if not a.startswith("/"))}
