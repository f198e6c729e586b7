"""``svi-lda slurm``: run ``train`` or ``stream`` on Dask workers submitted to SLURM.

The launcher (run it on a login or head node of the allocation's private network) starts
a Dask scheduler in its own process with dask-jobqueue's ``SLURMCluster``, submits
``--jobs`` SLURM jobs that each start one Dask worker, and runs the subcommand against
that scheduler (``--scheduler`` is filled in). When the subcommand ends, the jobs are
cancelled. ::

    set -a; . deploy/tls/dask-tls.env; . deploy/dask-svi.env; set +a
    svi-lda slurm --jobs 8 --cores 16 --memory 64GB --walltime 04:00:00 \\
        --interface ib0 --account myproj -- \\
        train corpus/ --topics 100 --epochs 5 --out model/ --checkpoint-every 50 --resume

Security: Dask exchanges pickled tasks, so the launcher refuses to start without mutual
TLS configured (``DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION=True`` and the certificate
paths, as ``deploy/tls/dask-tls.env`` sets them; the certificates on a filesystem the
compute nodes share), and binds the scheduler to the ``--interface`` you name (a private
network), its dashboard to the launcher's loopback.

``--jobs 0 --job-script-out FILE`` writes the worker job script without submitting it,
for sites that submit jobs by other means: each copy of it that runs adds a worker.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipelines._args import OneLineParser, output_file

COMMANDS = ("train", "stream")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda slurm``."""
    p = OneLineParser(
        prog="svi-lda slurm",
        description="Run 'svi-lda train' or 'svi-lda stream' on Dask workers submitted "
        "as SLURM jobs (dask-jobqueue), over mutual TLS.",
    )
    p.add_argument("--jobs", type=int, default=1,
                   help="SLURM jobs to submit, one Dask worker each (0: submit none)")
    p.add_argument("--cores", type=int, default=1, help="cores per job (worker threads)")
    p.add_argument("--memory", default="4GB", help="memory per job, e.g. 64GB")
    p.add_argument("--walltime", default="01:00:00", help="time limit per job, HH:MM:SS")
    p.add_argument("--queue", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--interface", required=True,
                   help="network interface of the cluster's private network (e.g. ib0, "
                   "eth1): the scheduler and workers listen only there")
    p.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                   help="extra #SBATCH directive, e.g. --job-extra='--exclusive' (repeatable)")
    p.add_argument("--python", default=sys.executable,
                   help="Python on the compute nodes that has svi-lda installed "
                   "(default: this one)")
    p.add_argument("--job-script-out", type=output_file, metavar="FILE",
                   help="also write the worker job script to FILE (a path or a URL)")
    p.add_argument("--wait", type=float, default=3600.0, metavar="SECONDS",
                   help="train: seconds to wait for the jobs' workers to connect "
                   "(queueing included)")
    p.add_argument("command", choices=COMMANDS, help="the svi-lda subcommand to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    return p


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.jobs < 0:
        p.error(f"--jobs must be >= 0; got {args.jobs}")
    if args.cores < 1:
        p.error(f"--cores must be >= 1; got {args.cores}")
    if args.wait <= 0:
        p.error(f"--wait must be positive; got {args.wait}")
    if args.jobs == 0 and args.job_script_out is None:
        p.error("--jobs 0 submits nothing: give --job-script-out to get the script")
    if "--scheduler" in args.args:
        p.error("--scheduler is set by the launcher; remove it from the subcommand")


def tls_security(p: argparse.ArgumentParser) -> Any:
    """The mutual-TLS settings from Dask's configuration; refuse to run without them."""
    from distributed.security import Security

    security = Security()  # read from DASK_DISTRIBUTED__COMM__* / the Dask config
    roles = ("scheduler", "worker", "client")
    missing = [
        name for name, value in [("ca-file", security.tls_ca_file)]
        + [(f"{r}.cert", getattr(security, f"tls_{r}_cert")) for r in roles]
        + [(f"{r}.key", getattr(security, f"tls_{r}_key")) for r in roles]
        if not value
    ]
    if not security.require_encryption or missing:
        what = ", ".join(f"distributed.comm.tls.{m}" for m in missing) or (
            "distributed.comm.require-encryption"
        )
        p.error(
            f"mutual TLS is not configured ({what} unset): Dask sends pickled tasks, so "
            "the scheduler is never started without it; source deploy/tls/dask-tls.env "
            "with your certificate paths"
        )
    return security


def slurm_cluster(args: argparse.Namespace, security: Any) -> Any:
    """A ``SLURMCluster`` over TLS on ``args.interface``, one worker process per job."""
    from dask_jobqueue import SLURMCluster

    from svi_lda.distributed.cluster import CLUSTER_CONFIG

    env = ["export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "
           "OPENBLAS_NUM_THREADS=1"]
    # The workers get svi-lda's Dask settings (deploy/dask-svi.env) whatever their shell.
    for key, value in CLUSTER_CONFIG.items():
        name = "DASK_" + key.upper().replace(".", "__").replace("-", "_")
        env.append(f"export {name}={value}")
    return SLURMCluster(
        cores=args.cores,
        processes=1,
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        interface=args.interface,
        protocol="tls://",
        security=security,
        python=args.python,
        job_name="svi-lda-worker",
        job_extra_directives=list(args.job_extra),
        job_script_prologue=env,
        scheduler_options={"interface": args.interface,
                           "dashboard_address": "127.0.0.1:0"},
    )


def subcommand_argv(args: argparse.Namespace, address: str) -> list[str]:
    """The subcommand's arguments with the scheduler (and, for train, the wait) filled in."""
    rest = [a for a in args.args if a != "--"]
    argv = [args.command, *rest, "--scheduler", address]
    if args.command == "train":
        if "--workers" not in rest and args.jobs > 0:
            argv += ["--workers", str(args.jobs)]
        if "--timeout" not in rest:
            argv += ["--timeout", str(args.wait)]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``svi-lda slurm``."""
    p = build_parser()
    args = p.parse_args(argv)
    _check_args(p, args)
    security = tls_security(p)
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        p.error("needs dask-jobqueue: pip install 'svi-lda[slurm]'")
    from pipelines import cli

    with slurm_cluster(args, security) as cluster:
        if args.job_script_out is not None:
            from svi_lda import storage

            try:
                storage.write_bytes(args.job_script_out, cluster.job_script().encode())
            except (OSError, ValueError) as exc:
                print(f"svi-lda slurm: error: cannot write {args.job_script_out}: {exc}",
                      file=sys.stderr)
                return 1
            print(f"worker job script: {args.job_script_out}", flush=True)
        if args.jobs:
            cluster.scale(jobs=args.jobs)
        print(f"scheduler {cluster.scheduler_address} ({args.jobs} SLURM jobs submitted)",
              flush=True)
        return cli.main(subcommand_argv(args, cluster.scheduler_address))


if __name__ == "__main__":
    sys.exit(main())
