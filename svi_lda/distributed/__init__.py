"""Training on a Dask cluster: the only part of svi-lda that imports dask/distributed.

:func:`fit_distributed` runs exact SVI with E-steps on Dask workers over the row groups
of a Parquet corpus; :func:`connect` and :func:`local_cluster` give it a client.
:func:`fit_in_process` is the same job, checkpoints and all, on this process's threads
(what ``svi-lda train`` runs without a cluster).
"""

from svi_lda.distributed.checkpoints import CheckpointError
from svi_lda.distributed.cluster import (
    SchedulerUnreachableError,
    available_cores,
    connect,
    dashboard_link,
    local_cluster,
)
from svi_lda.distributed.coordinator import StepReport, fit_distributed, perplexity_bound
from svi_lda.distributed.in_process import fit_in_process

__all__ = [
    "CheckpointError",
    "SchedulerUnreachableError",
    "StepReport",
    "available_cores",
    "connect",
    "dashboard_link",
    "fit_distributed",
    "fit_in_process",
    "local_cluster",
    "perplexity_bound",
]
