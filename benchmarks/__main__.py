"""``python -m benchmarks [--quick] [--only NAME ...] [--write-results]``: run the benchmarks, print a table."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    alerts,
    detection,
    idle,
    ingest,
    many_domains,
    pages,
    report,
    share,
    startup,
    stream,
    x_cost,
)
from benchmarks.common import Row

NAMES = (
    "ingest",
    "stream",
    "report",
    "startup",
    "idle",
    "x_cost",
    "detection",
    "pages",
    "alerts",
    "many_domains",
    "share",
)


def _postgres_url() -> str | None:
    url = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        import psycopg

        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3).close()
    except Exception:
        return None
    return url


def table(rows: list[Row]) -> str:
    header = ("path", "measure", "value", "floor", "ratio", "target", "met")
    cells = [header] + [
        (
            r.path,
            r.measure,
            r.value,
            r.floor,
            r.ratio,
            r.target,
            "-" if r.ok is None else ("yes" if r.ok else "NO"),
        )
        for r in rows
    ]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "---|" * len(header))
    return "\n".join(lines)


def machine() -> str:
    cpus = os.cpu_count()
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            memory = f", {int(info.readline().split()[1]) // 1024 // 1024} GiB RAM"
    except OSError:
        pass
    return f"{platform.node()}: {platform.system()} {platform.machine()}, {cpus} CPUs{memory}, Python {platform.python_version()}"


MODULES = {
    "startup": startup, "idle": idle, "stream": stream, "report": report, "x_cost": x_cost,
    "detection": detection, "pages": pages, "alerts": alerts, "many_domains": many_domains, "share": share,
}  # fmt: skip
"""Each benchmark but ingest (which also takes the PostgreSQL URL): ``run(quick) -> rows``."""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the benchmarks still run")
    parser.add_argument("--only", nargs="*", choices=NAMES, default=list(NAMES))
    parser.add_argument(
        "--write-results", action="store_true", help="record the table in benchmarks/RESULTS.md"
    )
    args = parser.parse_args()
    rows: list[Row] = []
    postgres = _postgres_url()
    for name in args.only:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        if name == "ingest":
            rows += ingest.run(args.quick, postgres)
        else:
            rows += MODULES[name].run(args.quick)
    output = table(rows)
    print(output)
    if args.write_results:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        Path(__file__).with_name("RESULTS.md").write_text(
            f"# Benchmark results\n\nTaken {stamp} on {machine()} with `python -m benchmarks`"
            f"{' --quick' if args.quick else ''}.\nEach ratio compares with a floor measured in the same run.\n\n"
            f"{output}\n",
            encoding="utf-8",
        )
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
