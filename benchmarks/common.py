"""What every benchmark reports: one row per figure, with its floor and target."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    """A measured figure. ``ratio`` compares it with a floor measured in the same run."""

    path: str
    measure: str
    value: str
    floor: str
    ratio: str
    target: str
    ok: bool | None  # None: informative only (a quick run is too small to judge)


def median_seconds(
    command: Sequence[str], runs: int, env: dict[str, str] | None = None, cwd: Path | None = None
) -> float:
    """Median wall time of ``command`` over ``runs`` runs (after one warm-up run)."""
    full_env = {**os.environ, **(env or {})}
    subprocess.run(command, env=full_env, cwd=cwd, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=full_env, cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def python() -> str:
    return sys.executable
