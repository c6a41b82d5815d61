"""Which report weeks are due: the weeks the daemon catches up on start."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.periods import IsoWeek, last_complete_week

if TYPE_CHECKING:
    from tracker.settings import Config

MAX_CATCH_UP = 8


def missing_weeks(
    config: Config, now: datetime, *, since: datetime | None, limit: int = MAX_CATCH_UP
) -> list[IsoWeek]:
    """Complete weeks (at most the last ``limit``, none that ended before ``since``, when the tracker first
    ran) whose report folder does not exist, oldest first. The daemon writes these on start, so a report
    missed while it was down is caught up.
    """
    if since is None:
        return []
    output = Path(config.reports.output_dir)
    timezone = config.tracker.timezone
    week = last_complete_week(now, timezone)
    missing = []
    for _ in range(limit):
        if week.bounds(timezone)[1] <= since:
            break
        if not (output / str(week) / "summary.csv").is_file():
            missing.append(week)
        week = week.previous()
    return sorted(missing)
