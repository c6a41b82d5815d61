"""Share of voice: what two competitor domains add to a week's report. The store of the report benchmark, with
one link in ten moved to a competitor (rival.com, other.net), is reported with and without them in the config;
the floor is the report without them, measured in the same run."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import report
from benchmarks.common import Row

RATIO_TARGET = 1.35
COMPETITORS = ("rival.com", "other.net")


def fill(folder: Path, count: int) -> str:
    url = f"sqlite:///{folder / 'tracker.db'}"
    report.fill(url, count)
    with sqlite3.connect(folder / "tracker.db") as conn:
        for remainder, domain in enumerate(COMPETITORS):
            conn.execute(
                "UPDATE links SET domain = ?, canonical_url = replace(canonical_url, 'example.com', ?), "
                "url = replace(url, 'example.com', ?) WHERE mention_id % 20 = ?",
                (domain, domain, domain, remainder),
            )
        conn.execute(
            "INSERT OR IGNORE INTO pages (canonical_url, domain, first_linked_at) SELECT l.canonical_url, "
            "MIN(l.domain), MIN(m.created_at) FROM links l JOIN mentions m ON m.id = l.mention_id "
            "WHERE l.domain != 'example.com' GROUP BY l.canonical_url"
        )
    os.sync()
    return url


def seconds(folder: Path, url: str, competitors: tuple[str, ...], runs: int) -> float:
    """The fastest of ``runs`` reports of the week (a busy machine only ever slows a run down)."""
    config = folder / f"tracker-{len(competitors)}.toml"
    domains = '[[domains]]\nname = "example.com"\n' + "".join(
        f'[[domains]]\nname = "{name}"\nrole = "competitor"\n' for name in competitors
    )
    config.write_text(
        f'[tracker]\ndatabase_url = "{url}"\n{domains}[reports]\noutput_dir = "out-{len(competitors)}"\n',
        encoding="utf-8",
    )
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tracker.cli", "--config", str(config), "report", "--week", report.WEEK],
            capture_output=True, check=True,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
    return min(times)


def run(quick: bool) -> list[Row]:
    count = 20_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = fill(folder, count)
        runs = 1 if quick else 2
        without = seconds(folder, url, (), runs)
        with_them = seconds(folder, url, COMPETITORS, runs)
    ratio = with_them / without
    return [
        Row("share", f"seconds for a week of {count:,} mentions, 10% linking two competitors (SQLite)",
            f"{with_them:.1f} s", f"{without:.1f} s", f"{ratio:.2f}x", f"<= {RATIO_TARGET}x",
            None if quick else ratio <= RATIO_TARGET),
    ]  # fmt: skip


if __name__ == "__main__":
    from benchmarks.__main__ import table

    print(table(run("--quick" in sys.argv)))
