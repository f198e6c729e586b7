"""What the integrity checks cost: corpus checksums (write, verify, per-unit reads), the
strict model loader, and RE2 tokenizing against Python's ``re``.

    python benchmarks/bench_integrity.py [--data ../shared/data/20newsgroups]

Prints the machine load with the timings (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    from dataclasses import replace

    import pyarrow.csv as pcsv

    from svi_lda import OnlineLDA, load
    from svi_lda.corpus import ParquetCorpus, ingest
    from svi_lda.text import Tokenizer

    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                         "data" / "20newsgroups"))
    args = p.parse_args()
    train = Path(args.data) / "train.tsv.gz"
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        ingest(train, tmp / "corpus", row_group_size=256, min_df=2)
        print(f"ingest 20NG train (with checksums): {time.perf_counter() - started:.2f} s")
        corpus = ParquetCorpus(tmp / "corpus")
        size = sum((tmp / "corpus" / f["path"]).stat().st_size for f in corpus.manifest["files"])
        print(f"corpus: {corpus.n_docs} docs, {len(corpus.units)} row groups, {size/1e6:.1f} MB")
        print(f"open (footers + vocabulary checked): "
              f"{best_of(lambda: ParquetCorpus(tmp / 'corpus')):.4f} s")
        print(f"verify every row group:               {best_of(corpus.verify):.4f} s")
        bare = [replace(u, sha256=None) for u in corpus.units]
        t_checked = best_of(lambda: [corpus.read_unit(u) for u in corpus.units])
        t_bare = best_of(lambda: [corpus.read_unit(u) for u in bare])
        print(f"read all units: checked {t_checked:.4f} s, unchecked {t_bare:.4f} s "
              f"(+{100 * (t_checked / t_bare - 1):.0f}%)")

        model = OnlineLDA(100, max_iter=1, random_state=0, dtype="float32").fit(corpus)
        model.save(tmp / "model")
        t_save = best_of(lambda: model.save(tmp / "model"))
        t_load = best_of(lambda: load(tmp / "model"))
        arrays = next((tmp / "model").glob("arrays-*.npz"))
        t_npload = best_of(lambda: dict(np.load(arrays, allow_pickle=False)))
        print(f"model K=100 V={corpus.n_features} float32: save {t_save:.3f} s, load "
              f"{t_load:.3f} s (np.load of the same arrays alone {t_npload:.3f} s)")

        texts = pcsv.read_csv(train, parse_options=pcsv.ParseOptions(delimiter="\t")).column(
            "text"
        ).to_pylist()
        pattern = r"[a-z]+'[a-z]+|[a-z]{3,}"
        tok = Tokenizer(token_pattern=pattern, min_length=1)
        t_re2 = best_of(lambda: tok.tokenize_arrow(texts), repeat=2)
        compiled = re.compile(pattern)
        t_re = best_of(lambda: [compiled.findall(t.lower()) for t in texts], repeat=2)
        print(f"tokenize 20NG train with {pattern!r}: RE2 (Arrow, whole block) {t_re2:.2f} s, "
              f"Python re per document {t_re:.2f} s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
