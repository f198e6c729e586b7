"""Time one unit's local step (SVI's E-step) on one thread: the ``--estep`` input of
``scaling_fit.py``, measured instead of assumed.

The corpus is ``bench_scale_out.py``'s (generated, K=100 model, V=20,000, row groups of
1,024 documents). The model first takes ``--warm-steps`` in-process steps (one unit
each) so that the topics are no longer the start's; then each of ``--units`` row groups
is read and its local step timed as a Dask worker runs it
(``tasks.union_local_step_task`` on the rows of the unit's words, one kernel thread),
median over the units and repeats. Prints the machine load.

    python benchmarks/time_local_step.py
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=60_000)
    p.add_argument("--vocab", type=int, default=20_000)
    p.add_argument("--doc-length", type=float, default=100.0)
    p.add_argument("--topics", type=int, default=100)
    p.add_argument("--row-group", type=int, default=1024)
    p.add_argument("--units", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warm-steps", type=int, default=10)
    args = p.parse_args(argv)

    from bench_distributed import generate  # bench_scale_out.py's corpus

    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.distributed import tasks
    from svi_lda.methods import get_method

    path = generate(args.docs, args.vocab, args.doc_length, args.row_group)
    corpus = ParquetCorpus(path)
    model = OnlineLDA(n_components=args.topics, batch_size=args.row_group, random_state=0,
                      n_jobs=1)
    batches = (corpus.read_unit(u).to_csr() for u in corpus.units)
    for X in itertools.islice(batches, args.warm_steps):
        model.partial_fit(X)
    method = get_method(model.learning_method)
    settings = method.settings(model._settings(), model.state_)
    print(f"load average at start {tuple(round(x, 2) for x in os.getloadavg())}")
    times = []
    for unit in corpus.units[-args.units:]:  # units the warm-up steps did not see
        prepared = tasks.load_unit(str(path), unit, corpus.n_features)
        rows, shift = method.parameter_rows(model.state_, prepared.word_ids, 1)
        block = (rows, shift, prepared.word_ids)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            tasks.union_local_step_task(method.name, prepared, block,
                                        model.state_.alpha.copy(), settings, 1)
            times.append(time.perf_counter() - t0)
    print(f"K={args.topics}, V={args.vocab}, units of {args.row_group} documents: local "
          f"step on one thread {statistics.median(times) * 1e3:.1f} ms, median of "
          f"{len(times)} (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}); "
          f"load average at end {tuple(round(x, 2) for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
