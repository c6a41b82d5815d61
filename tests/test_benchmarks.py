"""The benchmarks still run (at tiny sizes); their figures are checked by `make bench`, not by tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_benchmark_runs_at_a_tiny_size() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    paths = [line.split("|")[1].strip() for line in result.stdout.splitlines()[2:]]
    assert {
        "ingest",
        "stream",
        "report",
        "start-up",
        "idle",
        "X cost",
        "detection",
        "pages",
        "alerts",
        "many domains",
        "share",
    } <= set(paths)
