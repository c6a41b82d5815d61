"""The connector contract, documented once here.

A connector is a small class that reads one platform. It receives its validated settings, a
:class:`ConnectorContext` (clock, interruptible sleep, data folder, author cache) and, for each pass, a
:class:`FetchRequest` (the monitored domains and its stored cursors). :meth:`Connector.fetch` yields
:class:`Page` objects; each holds normalized mentions, the cursor after that page, usage figures and any
coverage gap it detected.

The poller, not the connector, decides what is stored: it keeps only mentions with a link to a monitored
domain (not by an excluded author), then stores the page's mentions, usage and cursor in ONE transaction.
So a connector must:

* never open the database, and keep no state between passes other than what its cursors hold;
* yield a page's cursor only once everything before it has been yielded (the cursor is the resume point);
* never move a cursor past ``request.started_at`` (events stamped later belong to the next pass);
* tolerate overlap: re-yielding a post is harmless (the store upserts), missing one is not;
* wait only through ``context.sleep`` (it raises :class:`~tracker.errors.Interrupted` on shutdown) and give
  every network call a timeout;
* retry transient faults (429, 5xx, timeouts, malformed responses) within a bound, then raise
  :class:`~tracker.errors.ConnectorError`; raise :class:`~tracker.errors.AuthError` for rejected credentials;
* skip an item it cannot parse, counting it in ``Page.skipped`` with a one-line reason, instead of failing;
* do no I/O in ``__init__`` (`tracker check` and `tracker status` build connectors without running them).

A stream connector (``streaming = True``) reads from its cursor up to the live edge (events stamped after
``request.started_at``) and returns; with ``request.follow`` it keeps reading until shutdown, yielding a page
(with its cursor) every few seconds even when nothing matched.
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

from tracker.errors import Interrupted
from tracker.record import Mention
from tracker.settings import ConnectorSettings, DomainSettings


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a source's reading stopped: a versioned, JSON-serializable state."""

    version: int
    state: Mapping[str, Any]


LEVEL_COUNTERS = frozenset({"quota_remaining", "quota_max"})
"""Counters that report a level the platform announced (a daily quota left), not a count: the latest value
replaces the earlier ones instead of adding to them."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What a page cost: HTTP requests, items read and the estimated spend, plus named counters (summed, except
    the :data:`LEVEL_COUNTERS`)."""

    requests: int = 0
    items_read: int = 0
    cost_usd: float = 0.0
    counters: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: Usage) -> Usage:
        counters = dict(self.counters)
        for key, value in other.counters.items():
            counters[key] = value if key in LEVEL_COUNTERS else counters.get(key, 0) + value
        return Usage(
            self.requests + other.requests,
            self.items_read + other.items_read,
            self.cost_usd + other.cost_usd,
            counters,
        )


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch of time the connector knows it could not read (e.g. older than a search window)."""

    source_key: str
    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    """One unit of progress: stored atomically with its cursor.

    ``cursor`` None leaves the stored cursor of ``source_key`` unchanged. ``deleted`` lists platform ids the
    platform reported deleted; ``restored`` lists ids of ``mentions`` the platform shows again after a deletion
    (a wiki link added back), which are stored live again. ``skipped`` counts items that could not be parsed;
    ``problems`` says why.
    """

    source_key: str
    mentions: Sequence[Mention] = ()
    cursor: Cursor | None = None
    usage: Usage = field(default_factory=Usage)
    gaps: Sequence[Gap] = ()
    deleted: Sequence[str] = ()
    skipped: int = 0
    problems: Sequence[str] = ()
    restored: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One pass: the domains to look for, the stored cursors by source key, and when the pass started.

    ``since`` is set for a backfill (read history back to it; cursors are the backfill's own). ``follow``
    asks a stream connector to keep reading past the live edge until shutdown (the daemon).
    """

    domains: tuple[DomainSettings, ...]
    cursors: Mapping[str, Cursor]
    started_at: datetime
    since: datetime | None = None
    follow: bool = False


@dataclass(frozen=True, slots=True)
class Author:
    """What a platform told us about an account."""

    platform: str
    author_id: str
    handle: str | None = None
    name: str | None = None
    followers: int | None = None
    fetched_at: datetime | None = None


class AuthorCache(Protocol):
    """Author lookups the poller persists for connectors (connectors never open the database)."""

    def get_many(self, platform: str, author_ids: Sequence[str]) -> dict[str, Author]: ...

    def put_many(self, authors: Sequence[Author]) -> None: ...


class MemoryAuthorCache:
    """An :class:`AuthorCache` that lives as long as the process."""

    def __init__(self) -> None:
        self._authors: dict[tuple[str, str], Author] = {}

    def get_many(self, platform: str, author_ids: Sequence[str]) -> dict[str, Author]:
        return {
            author_id: self._authors[(platform, author_id)]
            for author_id in author_ids
            if (platform, author_id) in self._authors
        }

    def put_many(self, authors: Sequence[Author]) -> None:
        for author in authors:
            self._authors[(author.platform, author.author_id)] = author


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConnectorContext:
    """What the tracker lends a connector: time, waiting, a folder for session files, the author cache, the
    monitored domains."""

    data_dir: Path
    clock: Callable[[], datetime] = _utcnow
    stop: threading.Event = field(default_factory=threading.Event)
    authors: AuthorCache = field(default_factory=MemoryAuthorCache)
    user_agent: str = "mention-tracker/0.1 (+https://github.com/mention-tracker)"
    sleeper: Callable[[float], None] | None = None  # tests make waiting instant
    domains: tuple[DomainSettings, ...] = ()
    """The monitored domains, for :meth:`Connector.refresh` (a fetch has them in its request)."""

    def sleep(self, seconds: float) -> None:
        """Wait up to ``seconds``; raise Interrupted as soon as a shutdown is requested."""
        if self.stop.is_set():
            raise Interrupted("shutdown requested")
        if seconds <= 0:
            return
        if self.sleeper is not None:
            self.sleeper(seconds)
        elif self.stop.wait(seconds):
            raise Interrupted("shutdown requested")
        if self.stop.is_set():
            raise Interrupted("shutdown requested")

    def monotonic(self) -> float:
        return time.monotonic()


class Connector(ABC):
    """Base of every connector. Subclasses set the class attributes and implement :meth:`fetch`."""

    type: ClassVar[str]
    """The type name it is registered under, e.g. ``hackernews``."""
    platform: ClassVar[str]
    """The ``platform`` of its mentions, e.g. ``hackernews``."""
    Settings: ClassVar[builtins.type[ConnectorSettings]] = ConnectorSettings
    """Validates the connector's config table."""
    streaming: ClassVar[bool] = False
    """True for a stream (read continuously); False for a connector polled on an interval."""
    cursor_version: ClassVar[int] = 1
    """Bump when the cursor state's shape changes; older cursors are then ignored."""
    requires: ClassVar[tuple[tuple[str, str], ...]] = ()
    """Optional libraries it imports, as (module, pip requirement)."""
    description: ClassVar[str] = ""
    max_page_cost_usd: ClassVar[float] = 0.0
    """The most one page can cost; the poller stops before a page could pass the monthly budget."""
    refresh_kinds: ClassVar[frozenset[str] | None] = None
    """The kinds of mention :meth:`refresh` can look up again (None: every kind); the others are stored off
    the refresh schedule."""
    refresh_every: ClassVar[timedelta | None] = None
    """After the refreshes at +1 h, +24 h and +7 d, refresh a live mention this often for as long as it lives
    (a wiki article's page views); None stops after the third."""

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.log = logging.getLogger(f"tracker.connectors.{name}")

    @abstractmethod
    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        """Read what is new since the cursors and yield pages, oldest progress first."""

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Re-read stored posts through the platform's batch lookup (engagement refresh).

        ``platform_ids`` are ids of this connector's platform (at most 100 per call). Yield pages (source key
        ``refresh``, no cursor) whose mentions are the posts as the platform shows them now, with fresh
        metrics, and whose ``deleted`` lists the ids the platform reports deleted or removed. Connectors that
        cannot look posts up leave this unimplemented.
        """
        raise NotImplementedError(f"{self.type} cannot refresh engagement")

    def can_refresh(self) -> bool:
        """Whether the daemon should refresh this connector's mentions (it implements ``refresh``)."""
        return type(self).refresh is not Connector.refresh

    def pending_usage(self) -> Usage:
        """Usage not yet reported in a page, e.g. the requests of a pass that failed; resets it."""
        return Usage()

    def monthly_budget_usd(self) -> float | None:
        """The month's spending cap, or None when reading is free."""
        return None

    def mode(self) -> str:
        """A word for `tracker status`: how it reads (e.g. ``oauth``, ``feeds``, ``stream``)."""
        return "stream" if self.streaming else "poll"

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        """One line for `tracker check`: what a pass will do."""
        names = ", ".join(domain.name for domain in domains)
        return f"{self.description or self.type} for {names}"

    def close(self) -> None:  # noqa: B027 - optional hook, most connectors hold nothing to release
        """Release network sessions."""

    # Helpers for subclasses.

    def cursor_state(self, request: FetchRequest, source_key: str) -> Mapping[str, Any] | None:
        """The stored state for ``source_key`` if it has this connector's cursor version."""
        cursor = request.cursors.get(source_key)
        if cursor is None:
            return None
        if cursor.version != self.cursor_version:
            self.log.warning(
                "cursor %s has format version %s, expected %s; starting that source afresh",
                source_key, cursor.version, self.cursor_version,
            )  # fmt: skip
            return None
        return cursor.state

    def make_cursor(self, state: Mapping[str, Any]) -> Cursor:
        return Cursor(self.cursor_version, state)
