"""Calendar arithmetic in the tracker's time zone, in one place: ISO weeks (report weeks, "this week" in
status) and UTC months (budgets). ``2026-W47`` runs Monday 00:00 to the next Monday 00:00 local time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_YEARS = (1900, 9998)  # a week's neighbours and bounds stay within what datetime can hold


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``2026-W47`` (or ``2026-w47``); ValueError naming the problem otherwise."""
        match = _WEEK_RE.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an ISO week; write it like 2026-W47")
        year, week = int(match.group(1)), int(match.group(2))
        if not _YEARS[0] <= year <= _YEARS[1]:
            raise ValueError(f"{text!r}: the year must be between {_YEARS[0]} and {_YEARS[1]}")
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


def month_start(moment: datetime) -> datetime:
    """The first instant of ``moment``'s month in UTC (spending caps are per UTC month)."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
