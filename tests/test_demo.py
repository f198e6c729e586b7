"""``svi-lda demo``: the README's main command works on a fresh install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(240)]


@pytest.mark.parametrize(("extra", "where"), [
    ([], "in this process"),  # the default: no cluster on one machine (issue 16)
    (["--workers", "1"], "local Dask cluster of 1 worker"),
])
def test_demo_ingests_trains_and_prints_topics(tmp_path, extra, where):
    # A subprocess from a neutral folder: only the installed package is used.
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.demo", "--epochs", "1", "--topics", "5",
         "--workdir", str(tmp_path), *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=220,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "3,000 documents" in out
    assert where in out
    topic_lines = [line for line in out.splitlines() if line.startswith("topic ")]
    assert len(topic_lines) == 5
    assert all(len(line.split(":")[1].split()) == 10 for line in topic_lines)
    assert (Path(tmp_path) / "model" / "model.json").is_file()
