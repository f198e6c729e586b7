"""Worker plugin: one Numba thread per task thread, kernels compiled once per worker."""

from __future__ import annotations

import logging
import os

from distributed import WorkerPlugin

logger = logging.getLogger(__name__)


class NumbaWarmup(WorkerPlugin):
    """Pin Numba to one thread and warm the E-step kernels when a worker starts.

    Registered by :func:`~svi_lda.distributed.fit_distributed`; Dask also runs it on
    workers that join or restart later (e.g. after a worker process is killed), so no
    E-step ever pays a hidden compile. Compiled code goes to Numba's on-disk cache
    (``NUMBA_CACHE_DIR`` if set), so a restarted worker loads it in a fraction of a second.

    Parallelism comes from Dask's worker threads: every E-step runs its kernel on one
    thread, so the threads in use are the Dask threads, never Dask threads x Numba threads.
    """

    name = "svi-lda-numba-warmup"
    idempotent = True

    def setup(self, worker: object) -> None:
        """Limit Numba to one thread and compile (or load) the kernels.

        The E-step kernels are serial (``nogil``, no ``prange``), so Numba's thread pool is
        never launched; the variable only guards against a future parallel kernel. It is
        not changed with ``numba.set_num_threads``: launching the pool here would make
        Numba refuse any later change of the variable.
        """
        os.environ.setdefault("NUMBA_NUM_THREADS", "1")
        from svi_lda.distributed.tasks import warm_up

        seconds = warm_up()
        logger.info(
            "svi-lda: E-step kernels ready on %s in %.2f s",
            getattr(worker, "address", "worker"),
            seconds,
        )
