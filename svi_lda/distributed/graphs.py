"""A step's tasks sent to the scheduler in one message, each with its worker preference.

``Client.submit`` costs the coordinator a graph, a serialisation, a message and a
future per task, so a step of ``n`` units costs it O(n) of them. :func:`submit_graph`
sends any number of tasks as one graph (one ``update-graph`` message) and makes futures
only for the keys asked for; the other tasks (inner nodes of a tree) live on the
scheduler, which keeps them while a wanted key depends on them and recomputes them if
a worker holding one dies.

Worker preferences go in as annotations of the graph's layers (one layer per worker:
``workers=[w]``, ``allow_other_workers=True``), which the scheduler applies key by key,
exactly as ``submit(..., workers=[w], allow_other_workers=True)`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dask._task_spec import Task, TaskRef, parse_input
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer


@dataclass
class GraphBuilder:
    """Tasks gathered for one :func:`submit_graph` call.

    ``add`` returns a reference that later tasks of the same graph may take as an
    argument (anywhere in a list or tuple), as they may take futures of earlier graphs.
    """

    layers: dict[str | None, dict[str, Task]] = field(default_factory=dict)

    def add(
        self, key: str, func: Callable[..., Any], *args: Any, worker: str | None = None
    ) -> TaskRef:
        """Add the task ``func(*args)`` under ``key``, preferably run on ``worker``."""
        task = Task(key, func, *(parse_input(a) for a in args))
        self.layers.setdefault(worker, {})[key] = task
        return TaskRef(key)

    def __len__(self) -> int:
        return sum(len(layer) for layer in self.layers.values())


def submit_graph(
    client: Any, graph: GraphBuilder, keys: Sequence[str], *, priority: int = 0
) -> dict[str, Any]:
    """Send ``graph``'s tasks in one message; return futures for ``keys`` (by key)."""
    layers: dict[str, MaterializedLayer] = {}
    for n, (worker, tasks) in enumerate(graph.layers.items()):
        annotations = (
            None if worker is None else {"workers": [worker], "allow_other_workers": True}
        )
        layers[f"svi-lda-layer-{n}"] = MaterializedLayer(tasks, annotations=annotations)
    # Layer dependencies only matter to layer-level optimisations, which are not run
    # (the graph is low level); the tasks name their own dependencies.
    hlg = HighLevelGraph(layers, {name: set() for name in layers})
    futures = client.get(hlg, list(keys), sync=False, priority=priority)
    return dict(zip(keys, futures, strict=True))
