"""Reading one of Reddit's newest-first listings incrementally, exactly once.

A source's cursor keeps the newest item read (fullname and ``created_utc``), when the pass that read it
started, and a bounded set of recently seen fullnames. The next pass reads newest first, 100 at a time
(following ``after``), and stops at the first item already seen, or at the first one older than the newest
item read (less the source's overlap: Reddit's search index lags). So a cursor item that has since been
deleted or removed never makes a pass re-read everything: the time bound stops it just the same.

Reddit's listings end after about 1000 items; a pass that reaches that (or ``max_items``) before its bound
records a coverage gap for what it could not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.connector import Cursor, Gap, Page, Usage
from tracker.errors import ConnectorError
from tracker.record import from_timestamp

PAGE_SIZE = 100
LISTING_CEILING = 1000  # Reddit serves about this many items of a listing, however it is paged
SEEN_LIMIT = 100


class SourceRefusedError(ConnectorError):
    """Reddit refused one listing (403, 404, a redirect): that source fails, the others are still read."""


@dataclass(frozen=True, slots=True)
class Item:
    """One listing entry: its fullname, ``created_utc`` (None when unreadable) and payload."""

    fullname: str
    created: float | None
    payload: Any


@dataclass(frozen=True, slots=True)
class Batch:
    """What one page request returned, newest first; ``more`` when the listing may go on after it."""

    items: Sequence[Item]
    more: bool


@dataclass(slots=True)
class Converted:
    """A batch as records: mentions, ids the platform shows deleted, and items that could not be read."""

    mentions: list[Any] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


Fetch = Callable[[str | None, Callable[[Item], bool]], Batch]
"""Reads the page after a fullname (None: the newest); may stop early at the first item the predicate marks."""
Convert = Callable[[Sequence[Item]], Converted]


@dataclass(frozen=True)
class Bounds:
    """How far back one pass reads a source, from its stored cursor state."""

    lower: float
    seen: Mapping[str, float]
    overlap: float
    since: float | None
    newest: tuple[str, float] | None

    @classmethod
    def plan(
        cls,
        state: Mapping[str, Any] | None,
        *,
        started_at: datetime,
        lookback: float,
        overlap: float,
        since: datetime | None,
    ) -> Bounds:
        """The bounds for a pass, given the stored state (None: the source is read for the first time)."""
        since_ts = since.timestamp() if since is not None else None
        if state is not None and state.get("since") == since_ts:  # a backfill to another date starts over
            try:
                seen = {str(name): float(created) for name, created in state.get("seen") or []}
                newest = state.get("newest")
                newest_pair = (str(newest[0]), float(newest[1])) if newest else None
                anchor = newest_pair[1] if newest_pair else float(state["read_to"])
            except (KeyError, TypeError, ValueError, IndexError):
                pass  # a damaged cursor: read the source as if for the first time
            else:
                return cls(anchor - overlap, seen, overlap, since_ts, newest_pair)
        lower = since_ts if since_ts is not None else started_at.timestamp() - lookback
        return cls(lower, {}, overlap, since_ts, None)

    def stops_at(self, item: Item) -> bool:
        """Whether ``item`` (and everything older) was read by an earlier pass."""
        if item.fullname in self.seen and (self.overlap <= 0 or (item.created or 0) < self.lower):
            return True
        return item.created is not None and item.created < self.lower

    def state_after(self, read: Sequence[Item], started_at: datetime) -> dict[str, Any]:
        """The cursor state once ``read`` (this pass's new items) is stored."""
        limit = started_at.timestamp()
        seen = dict(self.seen)
        seen.update((item.fullname, item.created) for item in read if item.created is not None)
        recent = sorted(seen.items(), key=lambda pair: (pair[1], pair[0]), reverse=True)[:SEEN_LIMIT]
        candidates = [pair for pair in recent if pair[1] <= limit]
        if self.newest is not None:
            candidates.append(self.newest)
        newest = max(candidates, key=lambda pair: (pair[1], pair[0]), default=None)
        state: dict[str, Any] = {
            "newest": list(newest) if newest else None,
            "read_to": limit,
            "seen": [[name, created] for name, created in recent],
        }
        if self.since is not None:
            state["since"] = self.since
        return state


def read_listing(
    key: str,
    bounds: Bounds,
    fetch: Fetch,
    convert: Convert,
    *,
    started_at: datetime,
    max_items: int,
    usage: Callable[[int], Usage],
    cursor: Callable[[Mapping[str, Any]], Cursor],
    what: str,
) -> Iterator[Page]:
    """Yield the pages of one source, newest first; the last carries the cursor (and any gap).

    ``usage(items_read)`` reports a page's requests; ``what`` names the source in a gap's reason.
    """
    after: str | None = None
    read = 0
    fresh: list[Item] = []
    while True:
        batch = fetch(after, bounds.stops_at)
        reached = False
        kept: list[Item] = []
        for item in batch.items:
            if bounds.stops_at(item):
                reached = True
                break
            if item.fullname not in bounds.seen:
                kept.append(item)
        read += len(batch.items)
        fresh += kept
        last = reached or not batch.more or not batch.items or read >= max_items
        converted = convert(kept)
        gaps: tuple[Gap, ...] = ()
        page_cursor = None
        if last:
            ceiling = read >= max_items or (not batch.more and read >= LISTING_CEILING)
            oldest = min((item.created for item in batch.items if item.created is not None), default=None)
            if not reached and ceiling and oldest is not None and oldest > bounds.lower:
                gaps = (
                    Gap(
                        key, from_timestamp(bounds.lower), from_timestamp(oldest),
                        f"{what}: {read} new items since the last pass, more than one pass reads "
                        f"(max_items = {max_items}, Reddit's listings end after about {LISTING_CEILING}); "
                        "older ones were not read",
                    ),
                )  # fmt: skip
            page_cursor = cursor(bounds.state_after(fresh, started_at))
        yield Page(
            key,
            converted.mentions,
            cursor=page_cursor,
            usage=usage(len(batch.items)),
            gaps=gaps,
            deleted=converted.deleted,
            skipped=len(converted.problems),
            problems=converted.problems,
        )
        if last:
            return
        after = batch.items[-1].fullname
