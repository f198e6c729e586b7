"""Training on a Dask cluster: the only part of svi-lda that imports dask/distributed.

:func:`fit_distributed` runs exact SVI with E-steps on Dask workers over the row groups
of a Parquet corpus; :func:`connect` and :func:`local_cluster` give it a client.
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

__all__ = [
    "CheckpointError",
    "SchedulerUnreachableError",
    "StepReport",
    "available_cores",
    "connect",
    "dashboard_link",
    "fit_distributed",
    "local_cluster",
    "perplexity_bound",
]
