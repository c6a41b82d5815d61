"""Issue search queries, and the ``created:`` windows that get past GitHub's 1,000-result cap.

``/search/issues`` serves at most the first 1,000 results of a query however it is paged. Sorted by creation,
oldest first, those are the oldest 1,000, so a query with more is read in windows of its ``created:`` range:
the first 1,000, then a new query from the creation second of the last result read (the results of that
second read already come again and are recognised), and so on. A creation date never changes, so nothing
falls between two windows whatever else the query filters on (``updated:``). Only a single second holding
more than 1,000 results cannot be read whole; that is recorded as a coverage gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

RESULT_CAP = 1000
EPOCH = datetime(2008, 1, 1, tzinfo=UTC)  # before GitHub's first issue
KINDS = {"issue": "issue", "pr": "pull-request"}  # source-key word -> `is:` qualifier (one is required)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whole_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Window:
    """An inclusive ``created:`` range, to the second."""

    low: datetime
    high: datetime


def next_window(window: Window, last_created: datetime | None) -> tuple[datetime, str | None]:
    """Where the window after a capped one starts, and why results were lost when some were: the creation
    second of the last result read, or the second after when the whole cap was spent within one second."""
    if last_created is None or last_created <= window.low:
        lost = f"more than {RESULT_CAP} GitHub results created within one second; some were not read"
        return window.low + timedelta(seconds=1), lost
    return last_created, None


def query(domain: str, kind: str, window: Window, updated: tuple[datetime, datetime] | None) -> str:
    """The ``q`` of one search: the domain as a phrase, issues or pull requests, created in the window and,
    for a live pass, updated in ``updated`` (both inclusive)."""
    terms = [f'"{domain}"', f"is:{KINDS[kind]}", f"created:{stamp(window.low)}..{stamp(window.high)}"]
    if updated is not None:
        terms.append(f"updated:{stamp(updated[0])}..{stamp(updated[1])}")
    return " ".join(terms)
