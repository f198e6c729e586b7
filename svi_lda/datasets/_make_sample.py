"""Rebuild ``data/newsgroups_sample.tsv.gz`` deterministically.

Usage: ``python -m svi_lda.datasets._make_sample SRC``.

SRC is the 20 Newsgroups ``train.tsv.gz``; 150 documents per label, seed 20240601, gzip mtime 0.
"""

import gzip
import io
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    """Write the sample."""
    src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/20newsgroups/train.tsv.gz"
    out = Path(__file__).parent / "data" / "newsgroups_sample.tsv.gz"
    with gzip.open(src, "rt", encoding="utf-8", newline="\n") as f:
        header = f.readline()
        rows = [line.rstrip("\n").split("\t", 1) for line in f]
    labels = sorted({r[0] for r in rows})
    rng = np.random.default_rng(20240601)
    chosen = []
    for lab in labels:
        idx = [i for i, r in enumerate(rows) if r[0] == lab]
        chosen.extend(rng.choice(idx, size=150, replace=False).tolist())
    chosen.sort()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as g:
        g.write(header.encode())
        for i in chosen:
            g.write(("\t".join(rows[i]) + "\n").encode())
    open(out, "wb").write(buf.getvalue())
    print(len(chosen), len(buf.getvalue()))


if __name__ == "__main__":
    main()
