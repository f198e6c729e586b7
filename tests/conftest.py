"""Shared fixtures: real data from ../shared when present, a real Dask LocalCluster."""

from __future__ import annotations

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
