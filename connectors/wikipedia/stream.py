"""Links added to and removed from articles, in real time: Wikimedia EventStreams ``page-links-change``.

The stream carries every link change of every wiki (server-sent events). An event whose added or removed
external links include one to a monitored domain, on a configured wiki and in an article, marks the article
touched; every ``flush_every`` the touched articles are read again (``action=parse``, their state now) and a
page carries them with the stream's position, the id of the last event read, which a reconnection sends back
as ``Last-Event-ID``. So an article is stored as it is, never half-updated from one event, and reading an
event twice (after a crash) reads the article twice, which stores nothing new. An article whose last link to
the monitored domains is gone is marked deleted (a lost citation); one whose link comes back is stored live
again (restored).

A connection that drops is resumed at once from the last event id, with backoff when it keeps failing;
``tracker poll`` reads up to the first event stamped after the pass began (the live edge), ``tracker run``
keeps reading (and runs each wiki's scan between reads when it is due). EventStreams keeps about a week:
a saved position older than ``retention`` is a recorded coverage gap.
"""

from __future__ import annotations

import json
import queue
import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from connectors.wikipedia.articles import absolute, article_id
from connectors.wikipedia.events import END, Event, EventReader, SseParser
from connectors.wikipedia.scan import Scanner, read_article
from connectors.wikipedia.settings import Parts
from tracker.connector import FetchRequest, Gap, Page
from tracker.errors import ConnectorError, Interrupted
from tracker.record import Mention, RecordError, parse_iso
from tracker.retry import RetryPolicy, parse_retry_after
from tracker.urls import DomainMatcher

SOURCE = "stream"
MAX_TOUCHED = 50  # articles read again in one page at most
MAX_REMOVED = 1000  # lost citations remembered for the scan (it reads those again when they are listed)
MAX_EVENT_BYTES = 4 * 2**20
QUICK_DROP = 10.0  # seconds: a connection that drops sooner, twice in a row, is retried with backoff
_WAIT = 0.5  # seconds: how often a quiet stream checks for shutdown and flushes
_DT = re.compile(r'"dt"\s*:\s*"([^"]{10,40})"')  # meta.dt comes first (performer's dates are named otherwise)


@dataclass
class Touched:
    """An article an event changed: when first (its citation's date) and last (a loss's date), and whether
    an event removed a link."""

    wiki: str
    page_id: int
    at: datetime
    last: datetime
    removal: bool = False


@dataclass
class Position:
    """Where the stream stands: the last event id read and its time, lost citations, gaps to report."""

    last_id: str | None
    at: datetime | None
    removed: dict[str, str] = field(default_factory=dict)  # article id -> when it lost its last link
    gaps: list[Gap] = field(default_factory=list)
    since: str | None = None  # a backfill's start, kept in its cursor


def event_time(data: str) -> datetime | None:
    """The event's ``meta.dt``, read without parsing the event."""
    found = _DT.search(data)
    if found is None:
        return None
    try:
        return parse_iso(found.group(1))
    except RecordError:
        return None


class LinkStream:
    """One pass over the stream (catch-up, or following with ``request.follow``)."""

    def __init__(
        self,
        connector: Parts,
        request: FetchRequest,
        matcher: DomainMatcher,
        scanner: Scanner | None,
    ) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.context = connector.context
        self.request = request
        self.matcher = matcher
        self.scanner = scanner
        self.wikis = {wiki.lower() for wiki in self.settings.wikis}
        self.needles = matcher.needle_set
        self.touched: dict[str, Touched] = {}
        self.problems: list[str] = []
        self.ended = ""  # why the last connection ended, when it broke
        self.events = 0  # read since the last page
        self.total = 0  # read in this pass
        self.position = self._start()

    def removed(self) -> set[str]:
        return set(self.position.removed)

    def _start(self) -> Position:
        state = self.connector.cursor_state(self.request, SOURCE) or {}
        since = self.request.since.isoformat() if self.request.since is not None else None
        listed = state.get("removed")
        removed = {
            str(item[0]): str(item[1])
            for item in (listed if isinstance(listed, list) else [])
            if isinstance(item, list) and len(item) == 2
        }
        now = self.request.started_at
        earliest = now - self.settings.retention
        try:
            saved_at = parse_iso(state["at"]) if isinstance(state.get("at"), str) else None
        except RecordError:
            saved_at = None  # a cursor that cannot be read starts afresh
        if state.get("since") == since and saved_at is not None:
            if saved_at < earliest:
                gap = Gap(SOURCE, saved_at, earliest, "older than EventStreams keeps (retention)")
                return Position(None, earliest, removed, [gap], since)
            last_id = state.get("last_id")
            return Position(last_id if isinstance(last_id, str) else None, saved_at, removed, since=since)
        start = self.request.since if self.request.since is not None else now - self.settings.initial_lookback
        if start < earliest:
            gap = Gap(SOURCE, start, earliest, "older than EventStreams keeps (retention)")
            return Position(None, earliest, removed, [gap], since)
        return Position(None, start, removed, since=since)

    # The connection

    def run(self) -> Iterator[Page]:
        failures = quick_drops = 0
        if self.position.gaps or self.position.last_id is None:
            yield self.page([], [], [])  # claim the starting point (and report a gap) before connecting
        while True:
            before = self.total
            opened = self.context.monotonic()
            problem, wait, outcome = "", None, "dropped"
            self.ended = ""
            try:
                outcome = yield from self._connection()
            except _TransientError as exc:
                problem, wait = str(exc), exc.wait
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                problem = f"connection failed: {' '.join(str(exc).split()) or type(exc).__name__}"
            if outcome == "done":
                return
            if outcome == "scan" and self.scanner is not None:
                yield from self.scanner.run_due()
                continue
            moved = self.total != before
            if moved and not problem:
                failures = 0
                quick_drops = quick_drops + 1 if self.context.monotonic() - opened < QUICK_DROP else 0
                if quick_drops > 1:
                    self.context.sleep(RetryPolicy(base=1.0, cap=30.0).delay(quick_drops - 1))
                continue
            failures += 1
            problem = (
                problem
                or self.ended
                or (
                    f"no events for {self.settings.stall_timeout.total_seconds():.0f}s"
                    if outcome == "stalled"
                    else "the stream closed without sending anything new"
                )
            )
            self.connector.log.warning("EventStreams: %s", problem)
            if failures >= self.settings.max_failures:
                raise ConnectorError(
                    f"EventStreams failed {failures} times in a row ({self.settings.stream_url}), last: {problem}; "
                    "check the network or stream_url"
                )
            delay = RetryPolicy(base=1.0, cap=60.0).delay(failures)
            self.context.sleep(min(max(delay, wait or 0.0), 300.0))

    def _connection(self) -> Generator[Page, None, str]:
        """One connection, read until the live edge, a quiet spell, a drop, a due scan or shutdown."""
        headers = {"Accept": "text/event-stream", "Accept-Encoding": "identity", "Cache-Control": "no-cache"}
        params: dict[str, str] = {}
        if self.position.last_id is not None:
            headers["Last-Event-ID"] = self.position.last_id
        elif self.position.at is not None:
            params["since"] = self.position.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        client = self.connector.stream_client
        self.context.usage.request()  # a raw client (a stream has no total deadline): counted here
        with client.stream("GET", self.settings.stream_url, headers=headers, params=params) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise _TransientError(
                    f"EventStreams answered HTTP {status}",
                    parse_retry_after(response.headers.get("Retry-After")),
                )
            if status != 200:
                raise ConnectorError(f"EventStreams refused the stream with HTTP {status}; check stream_url")
            kind = response.headers.get("content-type", "")
            if not kind.startswith("text/event-stream"):
                raise _TransientError(
                    f"EventStreams answered {kind or 'no content type'}, not an event stream"
                )
            reader = EventReader(response, SseParser(MAX_EVENT_BYTES, self.position.last_id)).start()
            try:
                return (yield from self._read(reader))
            finally:
                reader.close()

    def _read(self, reader: EventReader) -> Generator[Page, None, str]:
        follow = self.request.follow
        quiet_limit = (self.settings.stall_timeout if follow else self.settings.idle_timeout).total_seconds()
        flush_every = self.settings.flush_every.total_seconds()
        flush_at = time.monotonic() + flush_every
        last_event = time.monotonic()
        while True:
            if self.context.stop.is_set():
                yield self.flush()
                raise Interrupted("shutdown requested")
            try:
                item = reader.get(timeout=_WAIT)
            except queue.Empty:
                if time.monotonic() - last_event >= quiet_limit:
                    yield self.flush()
                    return "stalled" if follow else "done"
            else:
                if item is END or isinstance(item, BaseException):
                    if isinstance(item, BaseException):
                        self.ended = " ".join(str(item).split()) or type(item).__name__
                        self.connector.log.info("EventStreams connection ended: %s", self.ended)
                    yield self.flush()
                    return "dropped"
                last_event = time.monotonic()
                if not self.take(item):
                    yield self.flush()
                    return "done"  # an event stamped after this pass began: the live edge
            if len(self.touched) >= MAX_TOUCHED or time.monotonic() >= flush_at:
                if self.events or self.problems or self.touched:
                    yield self.flush()
                flush_at = time.monotonic() + flush_every
                if follow and self.scanner is not None and self.scanner.due():
                    return "scan"

    def take(self, event: Event) -> bool:
        """Note one event; False (and nothing noted) when it is past the live edge of a catch-up."""
        at = event_time(event.data)
        if at is not None and not self.request.follow and at > self.request.started_at:
            return False
        self.events += 1
        self.total += 1
        if event.id is not None:
            self.position.last_id = event.id
        if at is not None:
            self.position.at = at
        if event.type != "message":
            return True
        lowered = event.data.lower()
        if not self.needles.found_in(lowered):
            return True  # the vast majority: no monitored domain anywhere in it
        try:
            change = json.loads(event.data)
            wiki = str(change["meta"]["domain"]).lower()
            if wiki not in self.wikis or change.get("page_namespace") != 0:
                return True
            added = self._links(change.get("added_links"))
            removed = self._links(change.get("removed_links"))
            if added or removed:
                mention_id = article_id(wiki, int(change["page_id"]))
                when = at or self.context.clock()
                touched = self.touched.setdefault(
                    mention_id, Touched(wiki, int(change["page_id"]), when, when)
                )
                touched.last = max(touched.last, when)
                touched.removal = touched.removal or bool(removed)
        except (ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"EventStreams event {event.id}: {type(exc).__name__}: {exc}")
        return True

    def _links(self, links: Any) -> list[str]:
        if not isinstance(links, list):
            return []
        return [
            str(link["link"])
            for link in links
            if isinstance(link, dict)
            and link.get("external") is True
            and isinstance(link.get("link"), str)
            and self.matcher.match_url(absolute(link["link"])) is not None
        ]

    def flush(self) -> Page:
        """The touched articles as they are now, with the position after the events read so far."""
        mentions: list[Mention] = []
        deleted: list[str] = []
        problems, self.problems = self.problems, []
        for mention_id, touched in self.touched.items():
            try:
                mention = read_article(
                    self.connector, self.matcher, touched.wiki, touched.page_id, touched.at
                )
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"{mention_id}: {type(exc).__name__}: {exc}")
                continue
            if mention is None:
                deleted.append(mention_id)
                if touched.removal:
                    self.position.removed[mention_id] = touched.last.isoformat()
            else:
                mentions.append(mention)
                self.position.removed.pop(mention_id, None)
        self.touched = {}
        return self.page(mentions, deleted, problems)

    def page(self, mentions: list[Mention], deleted: list[str], problems: list[str]) -> Page:
        position = self.position
        removed = sorted(position.removed.items(), key=lambda item: item[1])[-MAX_REMOVED:]
        position.removed = dict(removed)
        state: dict[str, Any] = {
            "last_id": position.last_id,
            "at": position.at.isoformat() if position.at is not None else None,
            "removed": [list(item) for item in removed],
        }
        if position.since is not None:
            state["since"] = position.since
        events, self.events = self.events, 0
        page = Page(
            SOURCE,
            mentions,
            cursor=self.connector.make_cursor(state),
            usage=self.connector.context.usage.take(events),
            gaps=position.gaps,
            deleted=deleted,
            restored=[m.platform_id for m in mentions],
            skipped=len(problems),
            problems=problems,
        )
        position.gaps = []
        return page


class _TransientError(Exception):
    """A refused or broken connection worth retrying (``wait``: the server's Retry-After)."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait
