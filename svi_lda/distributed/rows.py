"""How a step's parameter rows reach the workers: the coordinator sends them once, in
one message, whatever the number of workers.

The coordinator computes the rows (for SVI exp(E[log beta]) and its log shifts) for the
union of the minibatch's words and sends them, with their word ids, as one block to one
of the workers the step uses. The workers copy the block down a binary tree over the
step's workers (:func:`add_broadcast`: worker ``i`` copies it from worker ``(i - 1) // 2``),
so each worker receives it once and sends it at most twice, and a local step takes the
copy on its own worker: one reference per local step, O(workers) tasks per step.

The block goes either straight to a worker (``scatter(direct=True)``: one hop, but lost
if that worker dies, in which case the engine sends the step again with the block
inline) or inside a task (:func:`svi_lda.distributed.tasks.rows_block`, through the
scheduler: a task Dask re-runs elsewhere if its worker dies). Where the rows travel never
changes a result: the kernel reads the same values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from svi_lda.distributed import tasks
from svi_lda.distributed.graphs import GraphBuilder

logger = logging.getLogger("svi_lda.distributed.coordinator")


def ship_rows(
    client: Any,
    graph: GraphBuilder,
    rows: np.ndarray,
    log_shift: np.ndarray,
    word_ids: np.ndarray,
    targets: Sequence[str | None],
    *,
    key: str,
    scatter: bool,
) -> tuple[list[Any], int, list[Any]]:
    """Send the rows, with their word ids, to ``targets[0]`` once and copy them to the
    other ``targets`` on the workers.

    ``scatter``: straight from this process, in one message (if that fails, inline
    instead); inline, the block travels inside a
    :func:`~svi_lda.distributed.tasks.rows_block` task keyed ``{key}-block``, added to
    ``graph``. Returns the block's copy on each target (references into ``graph``, or
    the scattered future for ``targets[0]``), the bytes sent, and the futures that were
    scattered (they die with their worker).
    """
    if len(word_ids) and int(word_ids[-1]) < 2**31:
        word_ids = word_ids.astype(np.int32)  # half the bytes
    block = (rows, log_shift, word_ids)
    sent = sum(a.nbytes for a in block)
    root = _scatter_block(client, block, targets[0], key=key) if scatter else None
    scattered = [] if root is None else [root]
    if root is None:
        root = graph.add(f"{key}-block", tasks.rows_block, *block, worker=targets[0])
    return add_broadcast(graph, root, targets, key=key), sent, scattered


def _scatter_block(
    client: Any, block: tuple[np.ndarray, ...], worker: str | None, *, key: str
) -> Any:
    """Scatter the whole block to ``worker`` in one message; None if that fails (a
    worker just died: the caller sends the block inline)."""
    name = f"{key}-block"
    try:
        futures = client.scatter(
            {name: block}, workers=None if worker is None else [worker], direct=True
        )
    except (OSError, TimeoutError) as exc:
        logger.warning("scatter to %s failed (%s): rows go inline", worker, exc)
        return None
    return futures[name]


def add_broadcast(
    graph: GraphBuilder, root: Any, targets: Sequence[str | None], *, key: str
) -> list[Any]:
    """Copies of ``root`` (held by ``targets[0]``), one on each of ``targets``, added to
    ``graph`` along a binary tree: copy ``i`` is made on ``targets[i]`` from copy
    ``(i - 1) // 2`` (keys ``{key}-copy-{i}``). Returns the copies, ``root`` first."""
    copies = [root]
    for i in range(1, len(targets)):
        parent = copies[(i - 1) // 2]
        copies.append(graph.add(f"{key}-copy-{i}", tasks.value, parent, worker=targets[i]))
    return copies
