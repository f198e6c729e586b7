"""Shared fixtures: real data from ../shared when present, a real Dask LocalCluster."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_NEWSGROUPS = Path(
    os.environ.get("SVI_LDA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
) / "20newsgroups"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def newsgroups_dir() -> Path:
    """The 20 Newsgroups TSV folder from ../shared; skipped when absent.

    CI sets SVI_LDA_REQUIRE_SHARED=1 so that missing data fails loudly instead of skipping.
    """
    if (SHARED_NEWSGROUPS / "train.tsv.gz").is_file():
        return SHARED_NEWSGROUPS
    if os.environ.get("SVI_LDA_REQUIRE_SHARED") == "1":
        pytest.fail(f"shared data required but not found at {SHARED_NEWSGROUPS}")
    pytest.skip(f"20 Newsgroups data not found at {SHARED_NEWSGROUPS}")


@pytest.fixture(scope="session")
def dask_client():
    """A real LocalCluster with two single-threaded worker processes."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"NUMBA_NUM_THREADS": "1"},
    ) as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A real S3-compatible server (moto in server mode) on 127.0.0.1, a free port.

    Skipped only when moto or s3fs is not installed (both are in the ``test`` extra).
    """
    import socket

    server_mod = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed: pip install -e '.[test]'"
    )
    pytest.importorskip("s3fs", reason="s3fs is not installed: pip install -e '.[test]'")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> str:
    """A fresh bucket on the loopback S3 server; returns ``s3://<bucket>``.

    This process (and the subprocesses it starts) reaches the server the way a user's
    would: credentials from the AWS variables, the endpoint from FSSPEC_S3_ENDPOINT_URL.
    """
    import uuid

    import fsspec

    env = s3_environment(s3_endpoint)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # fsspec read its FSSPEC_* variables when imported: set the same in this process.
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    bucket = f"svi-lda-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3").mkdir(bucket)
    return f"s3://{bucket}"


def s3_environment(endpoint: str) -> dict[str, str]:
    """What a process needs to reach the test server (any credentials do for moto)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }


def upload_folder(folder, url: str) -> None:
    """Copy every file under the local ``folder`` to ``url`` (an ``s3://`` prefix)."""
    import fsspec

    fs = fsspec.filesystem("s3")
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            fs.put_file(str(f), f"{url.removeprefix('s3://')}/{f.relative_to(folder)}")


@contextlib.contextmanager
def workers_on_s3(client, endpoint: str):
    """The cluster's workers reach the test S3 server at ``endpoint`` inside the block."""
    configure_workers(client, endpoint)
    try:
        yield
    finally:
        configure_workers(client, None)


def configure_workers(client, endpoint: str | None) -> None:
    """Give the workers of the shared test cluster (started before this test) the
    environment a deployment would give them; None takes it away again."""

    def apply(env: dict, conf: dict | None) -> None:
        import os

        import fsspec

        for name, value in env.items():
            if conf is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if conf is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = conf

    env = s3_environment(endpoint or "")
    client.run(apply, env, {"endpoint_url": endpoint} if endpoint else None)
