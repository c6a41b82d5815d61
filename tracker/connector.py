"""The connector contract, documented once here.

A connector is a small class that reads one platform. It receives its validated settings, a
:class:`ConnectorContext` (clock, interruptible sleep, data folder, author cache, state) and, for each pass, a
:class:`FetchRequest` (the monitored domains and its stored cursors). :meth:`Connector.fetch` yields
:class:`Page` objects; each holds normalized mentions, the cursor after that page, usage figures and any
coverage gap it detected.

The poller, not the connector, decides what is stored: it keeps only mentions with a link to a monitored
domain (not by an excluded author), then stores the page's mentions, usage and cursor in ONE transaction.
So a connector must:

* never open the database, and keep nothing between passes but its cursors and ``context.state`` (a
  :class:`ConnectorState` the poller stores with the pages): no side files, so a PostgreSQL standby that takes
  over knows everything the leader knew (files in ``context.data_dir`` are for credentials only);
* yield a page's cursor only once everything before it has been yielded (the cursor is the resume point);
* never move a cursor past ``request.started_at`` (events stamped later belong to the next pass);
* tolerate overlap: re-yielding a post is harmless (the store upserts), missing one is not;
* wait only through ``context.sleep`` (it raises :class:`~tracker.errors.Interrupted` on shutdown);
* make HTTP requests through the tracker's guarded clients (:class:`tracker.http.HttpClient`, or
  :func:`tracker.transport.guarded_client` / :class:`tracker.http_requests.GuardedSession` for an SDK): they
  give every request a total deadline (the connector's ``timeout``) and a cap on the decompressed body
  (``max_response_size``), refuse redirects to another host, and count each request;
* retry transient faults (429, 5xx, timeouts, malformed or oversized responses) through
  :class:`tracker.retry.Retrier` (it waits, caps the wait and counts retried faults), classifying them as
  :class:`~tracker.retry.TransientError`; raise :class:`~tracker.errors.AuthError` for rejected credentials;
* report usage one way, through ``context.usage`` (a :class:`UsageMeter`): the guarded clients count
  requests and the retrier retried faults into it; the connector adds what else it knows (costs, counters)
  and drains it into each page with ``usage=self.context.usage.take(items_read=...)``; whatever is left when
  a pass ends (a pass that failed mid-page) is drained by the poller into the run;
* skip an item it cannot parse, counting it in ``Page.skipped`` with a one-line reason, instead of failing;
* do no I/O in ``__init__`` (`tracker check` and `tracker status` build connectors without running them).

A connector that can look stored posts up again declares the kinds of mention it can refresh in
``refresh_kinds`` (empty, the default: it cannot) and implements :meth:`Connector.refresh`.

A stream connector (``streaming = True``) reads from its cursor up to the live edge (events stamped after
``request.started_at``) and returns; with ``request.follow`` it keeps reading until shutdown, yielding a page
(with its cursor) every few seconds even when nothing matched, its ``usage.items_read`` counting the events
received (a stream run that has read nothing is not connected, `tracker status` says).
"""

from __future__ import annotations

import builtins
import itertools
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

from tracker.errors import Interrupted
from tracker.record import KINDS, Mention
from tracker.settings import DEFAULT_MAX_RESPONSE_SIZE, ConnectorSettings, DomainSettings
from tracker.urls import DomainMatcher

RUN_BUDGET = timedelta(minutes=15)


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


class UsageMeter:
    """Usage not yet reported in a page: requests, retried faults, costs and counters.

    Kept per thread, so a connector's poll and refresh jobs running at once each report their own.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _pending(self) -> Usage:
        pending: Usage | None = getattr(self._local, "pending", None)
        return pending if pending is not None else Usage()

    def add(self, usage: Usage) -> None:
        """Add usage the connector worked out itself (e.g. a response's cost)."""
        self._local.pending = self._pending() + usage

    def request(self) -> None:
        """Count one HTTP request (the guarded clients call this)."""
        self.add(Usage(requests=1))

    def count(self, counter: str, amount: int = 1) -> None:
        """Add ``amount`` to a named counter (shown by `tracker status`), e.g. ``retried_429``."""
        self.add(Usage(counters={counter: amount}))

    def take(self, items_read: int = 0) -> Usage:
        """What was used since the last call, plus ``items_read``; resets the meter."""
        pending, self._local.pending = self._pending(), None
        return pending + Usage(items_read=items_read) if items_read else pending


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

    ``domains`` are the hosts to search for: each monitored domain, then each of its aliases as a domain of its
    own (the poller counts an alias's links for its domain). ``since`` is set for a backfill (read history
    back to it; cursors are the backfill's own). ``follow`` asks a stream connector to keep reading past the
    live edge until shutdown (the daemon). ``matcher`` is the poller's link matcher, for cheap pre-filters
    (:meth:`link_matcher`).
    """

    domains: tuple[DomainSettings, ...]
    cursors: Mapping[str, Cursor]
    started_at: datetime
    since: datetime | None = None
    follow: bool = False
    matcher: DomainMatcher | None = None

    def link_matcher(self) -> DomainMatcher:
        """The matcher whose :meth:`~tracker.urls.DomainMatcher.might_mention` and ``needles`` a connector
        may use to skip posts before parsing them: they let through every post the poller could keep
        (including, with ``resolve_shorteners``, posts with a short link)."""
        return self.matcher or DomainMatcher.for_domains(self.domains)


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


MAX_STATE_KEY = 255


class ConnectorState(Protocol):
    """The small key-value state a connector instance keeps between passes, stored in the database for it.

    Keys are 1 to 255 characters; values anything :func:`json.dumps` takes (they come back as JSON gives
    them: lists, not tuples). A write is not stored at once: it joins the transaction of the next page the
    poller stores, or, when the pass ends without another page, of the pass's leftover usage. So state that
    must agree with the stored data, like which reads were already paid for, is saved exactly with the page
    that paid for them: a kill in between loses both or neither. This instance reads its own writes at once,
    the other instances' once stored. Instances of one connector (its poll and refresh jobs, a backfill, a
    standby) share its keys and the last write of a key wins, so a set two of them add to is best kept as
    one key per member (as X's read ledger does).
    """

    def get(self, key: str) -> Any:
        """The value of ``key``, or None when it is not set."""
        ...

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of those of ``keys`` that are set."""
        ...

    def keys(self, prefix: str = "") -> list[str]:
        """The keys that are set and start with ``prefix``, sorted."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Give ``key`` a value (None deletes it)."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        ...


def state_json(key: str, value: Any) -> str | None:
    """``value`` as stored under ``key`` (None: deleted); ValueError for a key or value that cannot be stored."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_STATE_KEY:
        raise ValueError(f"a connector state key must be 1 to {MAX_STATE_KEY} characters, got {key!r}")
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"connector state {key!r} is not JSON: {exc}") from exc


class MemoryConnectorState:
    """A :class:`ConnectorState` that lives as long as the process (no poller stores it)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        with self._lock:
            return {key: json.loads(self._values[key]) for key in keys if key in self._values}

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(key for key in self._values if key.startswith(prefix))

    def set(self, key: str, value: Any) -> None:
        stored = state_json(key, value)
        with self._lock:
            if stored is None:
                self._values.pop(key, None)
            else:
                self._values[key] = stored

    def delete(self, key: str) -> None:
        self.set(key, None)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConnectorContext:
    """What the tracker lends a connector: time, waiting, a folder for session files, the author cache, its
    state (see :class:`ConnectorState`), the usage meter, the largest response its clients accept
    (``max_response_size`` of its settings) and the monitored domains."""

    data_dir: Path
    clock: Callable[[], datetime] = _utcnow
    stop: threading.Event = field(default_factory=threading.Event)
    authors: AuthorCache = field(default_factory=MemoryAuthorCache)
    state: ConnectorState = field(default_factory=MemoryConnectorState)
    user_agent: str = "mention-tracker/0.1 (+https://github.com/mention-tracker)"
    sleeper: Callable[[float], None] | None = None  # tests make waiting instant
    usage: UsageMeter = field(default_factory=UsageMeter)
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE
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
    partial_coverage: ClassVar[str] = ""
    """Why the platform's API cannot show everything, when it cannot (e.g. a search over what one server
    has indexed): `tracker status` and the report's coverage section then call the connector partial."""
    refresh_kinds: frozenset[str] = frozenset()
    """The kinds of mention :meth:`refresh` can look up again; empty (the default) when it cannot refresh.
    The one declaration of the capability: the daemon refreshes a connector whose set is not empty, and only
    mentions of these kinds are put on the refresh schedule. A connector whose capability depends on its
    settings sets it in ``__init__``."""

    refresh_every: ClassVar[timedelta | None] = None
    """After the refreshes at +1 h, +24 h and +7 d, refresh a live mention this often for as long as it lives
    (a wiki article's page views); None stops after the third."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = cls.refresh_kinds - KINDS
        if unknown:
            raise TypeError(f"{cls.__name__}.refresh_kinds names unknown kinds {sorted(unknown)}")
        if cls.refresh_kinds and cls.refresh is Connector.refresh:
            raise TypeError(f"{cls.__name__} declares refresh_kinds but does not implement refresh()")

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
        metrics, and whose ``deleted`` lists the ids the platform reports deleted or removed. Called only
        when ``refresh_kinds`` is not empty, with ids of mentions of those kinds.
        """
        raise NotImplementedError(f"{self.type} cannot refresh engagement (its refresh_kinds is empty)")

    def monthly_budget_usd(self) -> float | None:
        """The month's spending cap, or None when reading is free."""
        return None

    def run_budget(self) -> timedelta:
        """How long one pass may take before `tracker status` calls it hung (unless twice the interval is
        longer): by default 15 minutes plus the longest rate-limit wait it accepts (``max_rate_limit_wait``)."""
        wait = getattr(self.settings, "max_rate_limit_wait", None)
        return RUN_BUDGET + (wait if isinstance(wait, timedelta) else timedelta())

    def mode(self) -> str:
        """A word for `tracker status`: how it reads (e.g. ``oauth``, ``feeds``, ``stream``)."""
        return "stream" if self.streaming else "poll"

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        """One line for `tracker check`: what a pass will do."""
        names = ", ".join(domain.name for domain in domains)
        return f"{self.description or self.type} for {names}"

    def check_online(self, domains: Sequence[DomainSettings]) -> str:
        """Make one cheap request with the configured credentials and say in a few words what the platform
        answered (`tracker check --online`); fail as :meth:`fetch` does (AuthError for rejected credentials).

        By default it reads the first page of a fresh pass and stores nothing. A connector whose first page
        costs money, or whose first page needs no request, overrides it.
        """
        pages = self.fetch(FetchRequest(tuple(domains), {}, self.context.clock()))
        posts = requests = 0
        try:
            for page in itertools.islice(pages, 3):  # a first page may only claim a starting point
                posts, requests = posts + len(page.mentions), requests + page.usage.requests
                if requests or posts:
                    break
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
        requests += self.context.usage.take().requests
        return f"answered: {posts} post(s) on the first page ({requests} request(s))"

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


def domain_names(domains: Sequence[Any], shown: int = 10) -> str:
    """The names of ``domains`` for a one-line description: all of them up to ``shown``, else the first few
    and how many more (1,000 monitored domains would make ``tracker check`` unreadable)."""
    names = [str(domain.name) for domain in domains]
    if len(names) <= shown:
        return ", ".join(names)
    return f"{len(names):,} domains ({', '.join(names[: shown // 2])} and {len(names) - shown // 2:,} more)"
