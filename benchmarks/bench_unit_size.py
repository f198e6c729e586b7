"""CPU cost of finer units: one in-process pass over the same documents ingested with
row groups of 1,024 and of 256 documents (2 against 8 units a step at minibatch 2,048).

The corpora are ``bench_distributed.py``'s generated ones under ``benchmarks/_work``
(made on first use). Prints wall and process CPU seconds per pass, and the load.

    python benchmarks/bench_unit_size.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_distributed import generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--row-groups", type=int, nargs="+", default=[1024, 256])
    p.add_argument("--batch-size", type=int, default=2048)
    args = p.parse_args(argv)

    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus

    paths = {rg: generate(60_000, 20_000, 100.0, rg) for rg in args.row_groups}
    for _ in range(args.rounds):
        for rg, path in paths.items():
            model = OnlineLDA(n_components=100, max_iter=1, batch_size=args.batch_size,
                              n_jobs=1, random_state=0)
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(ParquetCorpus(path))
            print(f"rg {rg}: units/step {args.batch_size // rg}, wall "
                  f"{time.perf_counter() - wall:.2f} cpu {time.process_time() - cpu:.2f} "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
