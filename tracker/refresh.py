"""The engagement-refresh schedule: each mention is re-read around +1 h, +24 h and +7 d after it was posted.

Pure arithmetic. The schedule lives in ``mentions.refresh_due_at``; :meth:`tracker.poller.Poller.refresh_due`
asks the connector that found a mention to look it up again and stores the fresh metrics.
"""

from __future__ import annotations

from datetime import datetime, timedelta

REFRESH_AFTER = (timedelta(hours=1), timedelta(hours=24), timedelta(days=7))
BATCH = 100


def next_refresh_due(
    created_at: datetime, after: datetime, every: timedelta | None = None
) -> datetime | None:
    """The first refresh time (created + 1 h, 24 h, 7 d) later than ``after``; when all have passed,
    ``after + every`` (a connector that refreshes for as long as a mention lives), else None."""
    for delay in REFRESH_AFTER:
        due = created_at + delay
        if due > after:
            return due
    return after + every if every is not None else None
