"""Start-up: wall time of `tracker --help` and `tracker status` against `python -c pass`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Row, median_seconds, python

HELP_TARGET = 0.25  # seconds above the floor


def run(quick: bool) -> list[Row]:
    runs = 3 if quick else 15
    floor = median_seconds([python(), "-c", "pass"], runs)
    help_time = median_seconds([python(), "-m", "tracker.cli", "--help"], runs)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tracker.toml"
        config.write_text(
            '[tracker]\ndata_dir = "data"\n[[domains]]\nname = "example.com"\n[connectors.hackernews]\n',
            encoding="utf-8",
        )
        status_time = median_seconds([python(), "-m", "tracker.cli", "--config", str(config), "status"], runs)
    extra = help_time - floor
    return [
        Row("start-up", "`tracker --help` wall time", f"{help_time:.3f} s", f"{floor:.3f} s", f"+{extra:.3f} s",
            f"<= +{HELP_TARGET} s", None if quick else extra <= HELP_TARGET),
        Row("start-up", "`tracker status` wall time", f"{status_time:.3f} s", f"{floor:.3f} s",
            f"+{status_time - floor:.3f} s", "-", None),
    ]  # fmt: skip
