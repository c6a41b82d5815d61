"""What every benchmark reports: one row per figure, with its floor and target."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def fastest_cpu_seconds(
    rounds: int, *runs: Callable[[], Any], reset: Callable[[], None] = lambda: None
) -> list[float]:
    """The least CPU time (of this process) each of ``runs`` took over ``rounds`` interleaved rounds, each run
    after ``reset``, the order turned round every round so all see the same machine load: on a shared machine,
    wall time mostly measures the other processes."""
    times: list[list[float]] = [[] for _ in runs]
    for round_index in range(rounds):
        order = list(enumerate(runs))
        for position, run in order[::-1] if round_index % 2 else order:
            reset()
            started = time.process_time()
            run()
            times[position].append(time.process_time() - started)
    return [min(each) for each in times]


def cold_url_caches(*matchers: Any) -> None:
    """Empty the URL caches of ``tracker.urls`` and of these ``DomainMatcher``s (a run that starts cold)."""
    from tracker import urls

    urls._parts.cache_clear()
    urls.canonical_url.cache_clear()
    urls._uts46.cache_clear()
    for matcher in matchers:
        matcher._classified.clear()
