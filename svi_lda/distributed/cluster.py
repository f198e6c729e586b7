"""Getting a Dask client: an existing scheduler, or a LocalCluster sized to the machine."""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

# Threads that numeric libraries would otherwise start per worker process.
_THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}

# Dask's defaults suit many small tasks; an SVI step is a few long E-steps per core, placed
# by the coordinator. Idle on 2 cores (benchmarks/bench_coordinator.py): the event loop of
# the client, scheduler and nannies 49 -> 20 ms of CPU per second, each worker 35 -> 7-10
# ms (CPU the E-steps get back).
CLUSTER_CONFIG = {
    # the statistical profiler samples every worker thread 100 times a second
    "distributed.worker.profile.enabled": False,
    # stealing would move E-steps away from the worker holding their row groups
    "distributed.scheduler.work-stealing": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
    # each nanny polls its worker's memory with psutil (in this process for a LocalCluster)
    "distributed.worker.memory.monitor-interval": "1s",
}


class SchedulerUnreachableError(ConnectionError):
    """No Dask scheduler answered at the given address."""


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def connect(address: str, *, timeout: float = 10.0) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address`` (or a scheduler file).

    Raises
    ------
    SchedulerUnreachableError
        Naming the address, when no scheduler answers within ``timeout`` seconds.
    """
    from distributed import Client

    kwargs: dict[str, Any] = {"timeout": f"{timeout}s"}
    if address.endswith(".json") and os.path.isfile(address):
        kwargs["scheduler_file"] = address
    else:
        kwargs["address"] = address
    try:
        return Client(**kwargs)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachableError(
            f"cannot reach a Dask scheduler at {address!r} within {timeout:g} s ({exc}). "
            "Check the address (e.g. tcp://host:8786), that 'dask scheduler' is running "
            "there and that the port is open; omit --scheduler to use a local cluster."
        ) from exc


def local_cluster(
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    *,
    dashboard: bool = True,
    memory_limit: str | float | None = "auto",
) -> Any:
    """A ``LocalCluster`` of worker processes sized to this machine.

    ``n_workers`` defaults to cores // threads_per_worker, so Dask threads never exceed the
    cores; Numba, OpenMP and BLAS are limited to one thread per task thread. The
    dashboard is on a free local port (its pages need bokeh installed). Dask's profiler
    and work stealing are off and its housekeeping runs less often (``CLUSTER_CONFIG``).
    """
    from distributed import LocalCluster

    cores = available_cores()
    if n_workers is None:
        n_workers = max(1, cores // max(1, threads_per_worker))
    if n_workers * threads_per_worker > cores:
        logger.warning(
            "%d workers x %d threads exceeds the %d cores: E-steps will compete for cores",
            n_workers,
            threads_per_worker,
            cores,
        )
    import dask

    # Set while the cluster starts: the scheduler reads it here and the nannies pass it to
    # the worker processes.
    with dask.config.set(CLUSTER_CONFIG):
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            # A free local port; without bokeh it serves only /health and /metrics.
            dashboard_address="127.0.0.1:0" if dashboard else None,
            memory_limit=memory_limit,
            env=dict(_THREAD_ENV),
        )


def dashboard_link(client: Any) -> str | None:
    """The dashboard URL of the client's cluster, or None when it has none."""
    try:
        info = client.scheduler_info()
    except Exception:  # noqa: BLE001 - informational only
        return None
    if not info.get("services", {}).get("dashboard"):
        return None
    return client.dashboard_link
