"""ISO weeks in the tracker's time zone: ``2026-W47`` runs Monday 00:00 to the next Monday 00:00 local time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from tracker.config import Config

MAX_CATCH_UP = 8

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``2026-W47``; ValueError naming the problem otherwise."""
        match = _WEEK_RE.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an ISO week; write it like 2026-W47")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"{text!r}: {year} has no ISO week {week}") from None
        return cls(year, week)

    @classmethod
    def containing(cls, moment: datetime, timezone: str) -> IsoWeek:
        year, week, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
        return cls(year, week)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def days(self) -> list[date]:
        return [self.monday + timedelta(days=offset) for offset in range(7)]

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """The week's start and end as UTC instants (local midnights, so a DST week lasts 167 or 169 hours)."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.monday, datetime.min.time(), zone)
        end = datetime.combine(self.monday + timedelta(days=7), datetime.min.time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def previous(self, count: int = 1) -> IsoWeek:
        year, week, _ = (self.monday - timedelta(weeks=count)).isocalendar()
        return IsoWeek(year, week)

    def next(self) -> IsoWeek:
        year, week, _ = (self.monday + timedelta(weeks=1)).isocalendar()
        return IsoWeek(year, week)


def last_complete_week(now: datetime, timezone: str) -> IsoWeek:
    """The most recent week that has ended by ``now`` (local time)."""
    return IsoWeek.containing(now, timezone).previous()


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
