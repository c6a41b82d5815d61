"""Engagement refresh: each mention is re-read around +1 h, +24 h and +7 d after it was posted.

The schedule lives in ``mentions.refresh_due_at``; the daemon's refresh job asks the connector that found
a mention to look it up again (through the platform's batch lookup) and stores the fresh metrics.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.poller import Poller, RunResult

REFRESH_AFTER = (timedelta(hours=1), timedelta(hours=24), timedelta(days=7))
BATCH = 100


def next_refresh_due(created_at: datetime, after: datetime) -> datetime | None:
    """The first refresh time (created + 1 h, 24 h, 7 d) later than ``after``; None when all have passed."""
    for delay in REFRESH_AFTER:
        due = created_at + delay
        if due > after:
            return due
    return None


def refresh_due(poller: Poller, name: str, *, limit: int = 1000) -> list[RunResult]:
    """Refresh the mentions connector ``name`` found that are due now, in batches; one run per batch."""
    connector = poller.connector(name)
    if not connector.can_refresh():
        return []
    now = poller.clock()
    due = poller.store.due_for_refresh(name, now, limit=limit)
    results = []
    for start in range(0, len(due), BATCH):
        if poller.stop.is_set():
            break
        batch = due[start : start + BATCH]
        result = poller.refresh(name, [platform_id for platform_id, _ in batch])
        results.append(result)
        if result.status != "ok":
            break  # due again next time; a failing platform is not hammered
        poller.store.advance_refresh(connector.platform, batch, poller.clock())
    return results
