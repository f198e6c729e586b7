"""CPU of building and serialising one step's task graphs in the coordinator (issue 16).

Builds, with the Dask engine's own pieces, the two graphs a step sends (the reads and
their union tree; the rows' copies, the local steps and the reduction tree) for 2 and 16
units, and serialises them as ``Client.get`` does. Prints this thread's CPU per step
(mean of 200), the graph's bytes and the load.

    python benchmarks/graph_cost.py
"""

from __future__ import annotations

import os
import time

import numpy as np
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from distributed.protocol import serialize, to_serialize

from svi_lda.corpus import CorpusUnit
from svi_lda.distributed import tasks, unit_cache
from svi_lda.distributed.graphs import GraphBuilder
from svi_lda.distributed.tree import add_reduction

RUN = "abcdef012345"


def build(n: int) -> tuple[GraphBuilder, GraphBuilder]:
    """The read graph and the local-step graph of a step of ``n`` units on ``n`` workers."""
    reads_graph = GraphBuilder()
    sources = [
        unit_cache.UnitSource(RUN, "/work/x/corpus",
                              CorpusUnit("part-00000.parquet", i, 1024, "f" * 64), 20_000)
        for i in range(n)
    ]
    workers = [f"tcp://127.0.0.1:{40000 + i}" for i in range(n)]
    reads = [
        reads_graph.add(f"svi-lda-read-{RUN}-0-{s.unit.key}", unit_cache.read_unit_ids, s,
                        worker=w)
        for s, w in zip(sources, workers, strict=True)
    ]
    add_reduction(reads_graph, reads, key=f"svi-lda-ids-{RUN}", merge=tasks.union_word_ids)
    steps_graph = GraphBuilder()
    root = steps_graph.add("block", tasks.value, 1, worker=workers[0])
    copies = [root] + [steps_graph.add(f"copy-{i}", tasks.value, root, worker=workers[i])
                       for i in range(1, n)]
    alpha = steps_graph.add("alpha", tasks.value, np.ones(100))
    settings = steps_graph.add("settings", tasks.value, {"a": 1})
    esteps = [
        steps_graph.add(f"svi-lda-estep-{RUN}-0-{sources[i].unit.key}",
                        unit_cache.cached_local_step, "online", sources[i], copies[i], alpha,
                        settings, 1, worker=workers[i])
        for i in range(n)
    ]
    add_reduction(steps_graph, esteps, key="merge")
    return reads_graph, steps_graph


def serialised_bytes(graph: GraphBuilder) -> int:
    """Serialise as :func:`svi_lda.distributed.graphs.submit_graph` and ``Client.get`` do."""
    layers = {
        f"l{n}": MaterializedLayer(
            t, annotations=None if w is None else {"workers": [w], "allow_other_workers": True}
        )
        for n, (w, t) in enumerate(graph.layers.items())
    }
    _, frames = serialize(to_serialize(HighLevelGraph(layers, {k: set() for k in layers})),
                          on_error="raise")
    return sum(len(f) for f in frames)


def main() -> None:
    repeats = 200
    for n in (2, 16, 2, 16):
        t0 = time.thread_time()
        for _ in range(repeats):
            graphs = build(n)
        t1 = time.thread_time()
        for _ in range(repeats):
            size = sum(serialised_bytes(g) for g in graphs)
        t2 = time.thread_time()
        print(f"{n} units: {sum(len(g) for g in graphs)} tasks; build "
              f"{(t1 - t0) / repeats * 1e3:.3f} ms, serialise {(t2 - t1) / repeats * 1e3:.3f} ms, "
              f"{size} bytes; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
