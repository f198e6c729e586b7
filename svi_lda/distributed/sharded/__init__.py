"""Sharded training: W split by vocabulary over the Dask workers (``sharded=True``).

:func:`fit_sharded` is ``fit_distributed``'s sharded mode; :func:`load_sharded_model`
assembles a sharded checkpoint into a model (when it fits in one process);
:class:`ShardedModel` answers ``transform``, ``top_words``, ``score`` and ``perplexity``
on a cluster from a checkpoint too large to assemble anywhere.
"""

from svi_lda.distributed.sharded.checkpoint import load_sharded_model
from svi_lda.distributed.sharded.engine import ShardLost
from svi_lda.distributed.sharded.fit import (
    GATHER_LIMIT_BYTES,
    SHARDED_ABOVE_BYTES,
    choose_sharded,
    fit_sharded,
)
from svi_lda.distributed.sharded.query import ShardedModel

__all__ = [
    "GATHER_LIMIT_BYTES",
    "SHARDED_ABOVE_BYTES",
    "ShardLost",
    "ShardedModel",
    "choose_sharded",
    "fit_sharded",
    "load_sharded_model",
]
