"""The step's reduction on the workers: the units' statistics summed by Dask tasks.

The tasks follow :func:`svi_lda.step.reduction_tree` (adjacent nodes merged pairwise in
unit order), a shape fixed by the number of units alone, and each merge is
:func:`svi_lda.step.merge_pair`, the function the in-process engine calls: the sum is
bitwise the in-process one on any number of workers. Dask runs each merge where its
inputs are and moves partial sums between workers, so the coordinator gathers one
result per step, the tree's root.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from svi_lda.distributed.graphs import GraphBuilder
from svi_lda.step import merge_pair, reduction_tree


def submit_reduction(client: Any, parts: Sequence[Any], *, key: str) -> tuple[Any, list[Any]]:
    """Submit the merges of the futures ``parts`` (units' statistics, in unit order).

    Returns the root's future (``parts[0]`` itself for one unit) and the merges'
    futures (keys ``{key}-{level}-{pair}``; release them with the step).
    """
    nodes = list(parts)
    merges: list[Any] = []
    for level, pairs in enumerate(reduction_tree(len(nodes))):
        upper = [
            client.submit(merge_pair, nodes[i], nodes[j], key=f"{key}-{level}-{n}")
            for n, (i, j) in enumerate(pairs)
        ]
        merges.extend(upper)
        if len(nodes) % 2:
            upper.append(nodes[-1])
        nodes = upper
    return nodes[0], merges


def add_reduction(
    graph: GraphBuilder,
    parts: Sequence[Any],
    *,
    key: str,
    merge: Callable[[Any, Any], Any] = merge_pair,
) -> Any:
    """Add to ``graph`` the merges of ``parts`` (futures or references, in unit order)
    along :func:`~svi_lda.step.reduction_tree`; return the root (``parts[0]`` for one
    part). Keys ``{key}-{level}-{pair}``; the merges run where the scheduler likes."""
    nodes = list(parts)
    for level, pairs in enumerate(reduction_tree(len(nodes))):
        upper = [
            graph.add(f"{key}-{level}-{n}", merge, nodes[i], nodes[j])
            for n, (i, j) in enumerate(pairs)
        ]
        if len(nodes) % 2:
            upper.append(nodes[-1])
        nodes = upper
    return nodes[0]
