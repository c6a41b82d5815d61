"""Bluesky in real time through Jetstream (no account needed).

The connector reads ``<endpoint>?wantedCollections=app.bsky.feed.post&cursor=<time_us>`` over a websocket
(the ``/subscribe`` wire format of Jetstream v1, which v2 keeps). Nearly every post on the network comes by
and almost none links to a monitored domain, so :class:`StreamHandler` rejects an event with substring tests
on the raw message before any JSON parsing. Every few seconds a page carries the matching posts, the deleted
posts and the cursor (``time_us``), so a quiet site still saves its place. Jetstream orders events only
roughly by ``time_us``, so a connection resumes a few seconds before the cursor and posts already taken are
recognised by their at-uri. Authors come as DIDs; handles, names and followers are looked up at the AppView
and cached. The atproto SDK is not imported here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import Field, field_validator
from websockets.sync.client import reconnect

from connectors.bluesky.appview import Profiles, refresh_pages
from connectors.bluesky.posts import POST, post_uri, record_mention
from tracker.connector import Connector, ConnectorContext, FetchRequest, Gap, Page, domain_names
from tracker.errors import (
    ConnectorError,
    Interrupted,
    RedirectRefusedError,
    connection_problem,
    is_dns_failure,
)
from tracker.http import HttpClient
from tracker.record import Mention, RecordError
from tracker.retry import RetryPolicy, parse_retry_after
from tracker.settings import BaseUrl, ByteSize, ConnectorSettings, Duration, format_duration
from tracker.transport import check_redirect
from tracker.urls import Needles, fold_dots

_HEAD = 512  # Jetstream writes did, time_us, kind and the commit's operation and collection first
_TIME = '"time_us":'
_OPERATION = '"operation":"'
_COLLECTION_KEY = '"collection":"'
_POST_VALUE = f'{POST}"'
_CID = '},"cid":"'  # a commit ends with the record's cid: ..."record":{...},"cid":"bafy..."}}
_TAIL = 128
_TIME_RE = re.compile(r'"time_us":\s*(\d+)')
_MAX_CANDIDATES = 500  # a page holds at most this many posts, however fast the stream runs
_MAX_DELETED = 5000
_RECV_WAIT = 0.5  # seconds; how often a quiet connection checks for shutdown and flushes
MATCH_FLUSH = 1.0  # seconds; a post that may link to a domain is stored this soon (alerts wait for it)


# A connection that drops sooner than this (seconds) after opening, twice in a row, is reconnected with backoff.
QUICK_DROP = 10.0
PING_INTERVAL = 20.0
# Frames buffered while a page is stored (a few seconds of posts); at most FRAME_QUEUE x max_response_size bytes.
FRAME_QUEUE = 128


class _SameHostConnect(reconnect):
    """websockets' connector, refusing a redirect to another host (websockets follows those)."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        target = super().process_redirect(exc)
        if isinstance(target, str):
            try:
                check_redirect(self.uri, target)
            except RedirectRefusedError as refused:
                return refused
        return target


class JetstreamSettings(ConnectorSettings):
    endpoints: tuple[BaseUrl, ...] = ("wss://jetstream2.us-east.bsky.network/subscribe",)
    """Jetstream websocket URLs; the next is tried when one fails."""
    appview_url: BaseUrl = "https://public.api.bsky.app"
    """A public AppView: authors' handles, names and followers, and engagement refresh."""
    initial_lookback: Duration = timedelta(minutes=10)
    """Where the first pass starts, back from now."""
    replay_window: Duration = timedelta(hours=24)  # how long Jetstream keeps events (its event TTL)
    """How long Jetstream keeps events: a saved place older than this is a recorded coverage gap."""
    overlap: Duration = timedelta(seconds=5)
    """How far before its saved place a connection resumes (Jetstream orders events only roughly)."""
    flush_every: Duration = timedelta(seconds=5)
    """How often the place is saved while reading, even when nothing matched."""
    idle_timeout: Duration = timedelta(seconds=10)  # catch-up ends when the stream is quiet this long
    """`tracker poll` stops catching up when the stream is quiet this long."""
    stall_timeout: Duration = timedelta(minutes=2)  # following, a stream quiet this long is reconnected
    """`tracker run` reconnects a stream quiet this long."""
    connect_timeout: Duration = timedelta(seconds=10)
    """How long opening a connection (or a profile lookup) may take."""
    max_response_size: ByteSize = 1024**2
    """The largest event accepted (an event is a few KB; a record can be up to 1 MB)."""
    max_failures: int = Field(6, ge=1, le=100)
    """Failed connections in a row, over all endpoints, before the run fails."""
    profile_ttl: Duration = timedelta(days=1)
    """How long authors' handles, names and followers are cached."""
    max_clock_skew: Duration = timedelta(minutes=1)
    """How far ahead of this machine's clock an event may be stamped; a later stamp is a counted problem and
    never the stream position."""

    @field_validator("endpoints")
    @classmethod
    def _websocket_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(
                'is empty; list at least one, like ["wss://jetstream2.us-east.bsky.network/subscribe"]'
            )
        for url in value:
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(
                    f'{url!r} is not a websocket URL; write it like "wss://jetstream2.us-east.bsky.network/subscribe"'
                )
            if "?" in url:
                raise ValueError(
                    f"{url!r} has a query; remove it (the connector adds wantedCollections and cursor itself)"
                )
        return value


def time_us(message: str) -> int:
    """The event's ``time_us``, read without parsing the message; ValueError when it has none."""
    at = message.find(_TIME, 0, _HEAD)
    if at >= 0:
        start = at + len(_TIME)
        end = message.find(",", start, start + 24)
        if end > start:
            try:
                return int(message[start:end])
            except ValueError:
                pass
    found = _TIME_RE.search(message)
    if found is not None:
        return int(found.group(1))
    stamp = json.loads(message).get("time_us")
    if type(stamp) is not int:
        raise ValueError("the event has no time_us")
    return stamp


@dataclass(slots=True)
class Candidate:
    """A post create or update that may link to a monitored domain, as received."""

    uri: str
    record: dict[str, Any]
    raw: str
    time_us: int
    update: bool = False


class StreamHandler:
    """Sorts raw Jetstream messages, cheaply: keeps the post writes that mention a monitored domain anywhere
    in their text (case-insensitively) and the post deletions; everything else costs a few substring tests
    and one scan for all the domains at once (:class:`~tracker.urls.Needles`: with 1,000 domains an event
    costs about what it does with one).

    ``handle`` is the per-event hot path (the stream benchmark calls it on raw lines).
    """

    def __init__(self, needles: Sequence[str], short_links: re.Pattern[str] | None = None) -> None:
        self.needles = Needles(needles)  # one scan of an event however many domains are monitored
        self.short_links = short_links  # resolving shorteners: posts with a short link are candidates too
        self.candidates: list[Candidate] = []
        self.deleted: list[str] = []
        self.problems: list[str] = []
        self.events = 0

    def handle(self, message: str) -> int:
        """Take one message; returns its ``time_us``, or 0 for a message that cannot be read (it is skipped)."""
        self.events += 1
        try:
            stamp = time_us(message)
        except ValueError as exc:
            self.problems.append(f"Jetstream message skipped: {' '.join(str(exc).split())[:200]}")
            return 0
        at = message.find(_OPERATION, 0, _HEAD)
        if at < 0:
            at = message.find(_OPERATION)
        # Jetstream writes a commit as ..."operation":"create","collection":"app.bsky.feed.post",...
        key = message.find(_COLLECTION_KEY, at, at + 40) if at >= 0 else -1
        if key < 0:
            if '"commit"' in message:  # a commit not laid out that way: decide after parsing it
                self._take(message, stamp, check_needles=True)
            return stamp  # else an identity or account event
        if not message.startswith(_POST_VALUE, key + len(_COLLECTION_KEY)):
            return stamp  # another collection (the server should not have sent it)
        if message.startswith("delete", at + len(_OPERATION)):
            self._take(message, stamp)
            return stamp
        lowered = message.lower()
        # The post is what follows the collection (the record), up to the commit's cid: only there can a
        # link be, so the scan for the domains skips the rest (a quarter of a typical event).
        tail = lowered.rfind(_CID, max(0, len(lowered) - _TAIL))
        if self.needles.found_in(lowered, key, tail if tail > key else None) or self._other_candidate(
            lowered
        ):
            self._take(message, stamp)
        return stamp

    def _other_candidate(self, lowered: str) -> bool:
        """Whether a post no needle found is a candidate all the same: it has a short link to resolve, or
        writes a domain as ``example。com`` (ideographic and full-width full stops are dots in a host)."""
        if self.short_links is not None and self.short_links.search(lowered) is not None:
            return True
        folded = fold_dots(lowered)
        return folded is not lowered and self.needles.found_in(folded)

    def _take(self, message: str, stamp: int, check_needles: bool = False) -> None:
        try:
            event = json.loads(message)
            commit = event["commit"]
            if commit["collection"] != POST:
                return
            uri = post_uri(event["did"], commit["rkey"])
            operation = commit["operation"]
            if operation == "delete":
                self.deleted.append(uri)
            elif operation in ("create", "update"):
                lowered = message.lower()
                if check_needles and not (self.needles.found_in(lowered) or self._other_candidate(lowered)):
                    return
                record = commit.get("record")
                if not isinstance(record, dict):
                    raise TypeError(f"the {operation} carries no record")
                self.candidates.append(Candidate(uri, record, message, stamp, operation == "update"))
        except (ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"Jetstream event at time_us {stamp}: {type(exc).__name__}: {exc}")

    @property
    def full(self) -> bool:
        return len(self.candidates) >= _MAX_CANDIDATES or len(self.deleted) >= _MAX_DELETED

    def drain(self) -> tuple[list[Candidate], list[str], list[str], int]:
        """What was collected since the last call: candidates, deleted uris, problems, messages read."""
        taken = (self.candidates, self.deleted, self.problems, self.events)
        self.candidates, self.deleted, self.problems, self.events = [], [], [], 0
        return taken


@dataclass
class Progress:
    """Where a pass stands: the highest ``time_us`` read, the posts taken near it, gaps not yet reported."""

    cursor: int
    recent: dict[str, int] = field(default_factory=dict)  # at-uri -> time_us
    gaps: list[Gap] = field(default_factory=list)
    since: str | None = None  # a backfill's start, kept in its cursor
    future: int = 0  # events stamped past the clock (plus the skew) since the last page
    future_most: int = 0  # the latest such stamp

    def stamped_in_future(self, stamp: int) -> None:
        self.future += 1
        self.future_most = max(self.future_most, stamp)


class JetstreamConnector(Connector):
    type = "jetstream"
    platform = "bluesky"
    Settings = JetstreamSettings
    streaming = True
    description = "Bluesky posts in real time (Jetstream, no account)"
    refresh_kinds = frozenset({"post", "reply", "quote"})  # through the public AppView's getPosts

    settings: JetstreamSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        timeout = self.settings.connect_timeout.total_seconds()
        # Profile lookups happen between stream reads: few, quick retries. Refresh can afford more.
        self.appview = HttpClient(
            self.settings.appview_url, context, timeout=timeout,
            retry=RetryPolicy(attempts=2, base=0.5, cap=2.0, max_wait=5.0),
        )  # fmt: skip
        self.refresh_http = HttpClient(self.settings.appview_url, context, timeout=timeout * 3)
        self.profiles = Profiles(
            lambda nsid, params: self.appview.get_json(f"/xrpc/{nsid}", params),
            context.authors, context.clock, context.monotonic, ttl=self.settings.profile_ttl, log=self.log,
        )  # fmt: skip
        self.endpoint_index = 0

    def close(self) -> None:
        self.appview.close()
        self.refresh_http.close()

    def describe(self, domains: Sequence[Any]) -> str:
        return (
            f"follows the Bluesky post stream ({len(self.settings.endpoints)} Jetstream endpoint(s)) "
            f"for links to {domain_names(domains)}; `tracker poll` catches up to now and stops"
        )

    def check_online(self, domains: Sequence[Any]) -> str:
        """Connect to each endpoint and wait for its first event (Jetstream needs no account)."""
        answered, problems = [], []
        for endpoint in self.settings.endpoints:
            try:
                with self._connect(endpoint, _us(self.context.clock())) as connection:
                    connection.recv(timeout=self.settings.connect_timeout.total_seconds())
                answered.append(endpoint)
            except TimeoutError:
                wait = format_duration(self.settings.connect_timeout)
                problems.append(f"{endpoint}: connected, but no event within {wait}")
            except _connect_errors() as exc:
                problems.append(f"{endpoint}: {_describe_failure(exc, endpoint)}")
        if not answered:
            raise ConnectorError("no Jetstream endpoint answered: " + "; ".join(problems))
        return f"{len(answered)} of {len(self.settings.endpoints)} endpoint(s) stream events" + (
            f" ({'; '.join(problems)})" if problems else ""
        )

    # The stream

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        settings = self.settings
        matcher = request.link_matcher()
        handler = StreamHandler(matcher.needles, matcher.short_link_pattern)
        now_us = _us(request.started_at)
        overlap = _span(settings.overlap)
        position, progress, resumed = self._start(request)
        if progress.gaps or not resumed:
            # Claim the starting point (and report a gap) before connecting: should this pass fail, the next
            # one still starts here.
            yield self.page(handler, progress)
        failures = quick_drops = 0
        while True:
            endpoint = settings.endpoints[self.endpoint_index % len(settings.endpoints)]
            at = max(position, progress.cursor - overlap)
            problem, wait, before = "", None, progress.cursor
            opened = self.context.monotonic()
            try:
                with self._connect(endpoint, at) as connection:
                    outcome, received = yield from self._read(connection, handler, progress, request, now_us)
            except _connect_errors() as exc:
                problem = _describe_failure(exc, endpoint)
                wait = _retry_after(exc)
            else:
                if outcome == "done":
                    return
                if progress.cursor > before:
                    failures = 0
                problem = self._problem(outcome, received, moved=progress.cursor > before)
            if not problem:  # a dropped connection that had moved the cursor on: reconnect, same endpoint,
                # at once unless it keeps dropping soon after connecting (then back off, not hammer it)
                quick_drops = quick_drops + 1 if self.context.monotonic() - opened < QUICK_DROP else 0
                if quick_drops > 1:
                    self.context.sleep(RetryPolicy(base=1.0, cap=30.0).delay(quick_drops - 1))
                continue
            failures += 1
            self.log.warning("Jetstream endpoint %s: %s", endpoint, problem)
            if failures >= settings.max_failures:
                raise ConnectorError(
                    f"every Jetstream endpoint failed {failures} times in a row "
                    f"({', '.join(settings.endpoints)}), last: {problem}; check the network or the endpoints"
                )
            self.endpoint_index += 1  # fail over to the next endpoint
            delay = RetryPolicy(base=1.0, cap=60.0).delay(failures)
            self.context.sleep(min(max(delay, wait or 0.0), 300.0))

    def _problem(self, outcome: str, received: int, *, moved: bool) -> str:
        """What went wrong with a connection that ended (empty: nothing, it had moved the cursor on)."""
        if outcome == "stalled":
            return f"no events for {self.settings.stall_timeout.total_seconds():.0f}s"
        if outcome == "too_large":
            self.context.usage.count("retried_too_large")
            return f"a message was larger than max_response_size ({self.settings.max_response_size} bytes)"
        if not received:
            return "the connection closed before sending anything"
        if not moved:
            return "the connection closed before sending anything new"
        return ""

    def _start(self, request: FetchRequest) -> tuple[int, Progress, bool]:
        """Where to start reading: the saved cursor minus the overlap (resumed), else the lookback (or a
        backfill's start); never before Jetstream's replay window (a gap is recorded then)."""
        settings = self.settings
        overlap = _span(settings.overlap)
        now_us = _us(request.started_at)
        state = self.cursor_state(request, "stream") or {}
        saved, since = state.get("time_us"), _since(request)
        if type(saved) is int and saved > self._ceiling():  # saved by a release that trusted the stamps
            self.log.warning(
                "the saved stream position is %s ahead of this machine's clock; starting afresh",
                _ahead(saved - now_us),
            )
            saved = None
        if type(saved) is int and saved > 0 and state.get("since") == since:
            position = saved - overlap
            listed = state.get("recent")
            recent = (
                {uri: saved for uri in listed if isinstance(uri, str)} if isinstance(listed, list) else {}
            )
            progress, resumed = Progress(saved, recent, since=since), True
        else:
            start = (
                request.since if request.since is not None else request.started_at - settings.initial_lookback
            )
            position = _us(start)
            progress, resumed = Progress(position, since=since), False
        earliest = now_us - _span(settings.replay_window)
        if position < earliest:
            progress.gaps.append(
                Gap("stream", _time(position), _time(earliest), "older than Jetstream's replay window")
            )
            position = progress.cursor = earliest
        return position, progress, resumed

    def _ceiling(self) -> int:
        """The latest ``time_us`` this machine's clock accepts (Jetstream's clock is not trusted)."""
        return _us(self.context.clock()) + _span(self.settings.max_clock_skew)

    def _connect(self, endpoint: str, position: int) -> Any:
        url = f"{endpoint}?{urlencode({'wantedCollections': POST, 'cursor': position})}"
        connection = _SameHostConnect(
            url,
            open_timeout=self.settings.connect_timeout.total_seconds(),  # TCP, TLS and upgrade, all told
            close_timeout=2,
            ping_interval=PING_INTERVAL,  # a connection that stops answering pings is dropped, not waited on
            ping_timeout=PING_INTERVAL,
            max_size=self.settings.max_response_size,  # per message, decompressed
            max_queue=FRAME_QUEUE,
            user_agent_header=self.context.user_agent,
        ).connect()
        connection.pending_legacy_warning = False  # used as a plain connection, as websockets' connect() is
        return connection

    def _read(
        self, connection: Any, handler: StreamHandler, progress: Progress, request: FetchRequest, now_us: int
    ) -> Generator[Page, None, tuple[str, int]]:
        """Read one connection until the live edge or a quiet spell (catch-up), shutdown, a stall or a drop.

        Returns (``done`` | ``dropped`` | ``too_large`` | ``stalled``, messages received).
        """
        from websockets.exceptions import ConnectionClosed

        settings = self.settings
        flush_every = settings.flush_every.total_seconds()
        quiet_limit = (settings.stall_timeout if request.follow else settings.idle_timeout).total_seconds()
        flush_at = time.monotonic() + flush_every
        last_message = time.monotonic()
        received = 0
        ceiling = self._ceiling()
        while True:
            if self.context.stop.is_set():
                yield self.page(handler, progress)
                raise Interrupted("shutdown requested")
            try:
                data = connection.recv(timeout=_RECV_WAIT, decode=False)
            except TimeoutError:
                if time.monotonic() - last_message >= quiet_limit:
                    yield self.page(handler, progress)
                    return ("stalled" if request.follow else "done"), received
            except ConnectionClosed as exc:
                self.log.info("Jetstream connection closed (%s); resuming from the cursor", exc)
                yield self.page(handler, progress)
                too_large = exc.sent is not None and exc.sent.code == 1009  # we refused an oversized message
                return ("too_large" if too_large else "dropped"), received
            else:
                received += 1
                last_message = time.monotonic()
                stamp = handler.handle(data.decode("utf-8", errors="replace"))
                if stamp > ceiling and stamp > (ceiling := self._ceiling()):
                    progress.stamped_in_future(stamp)  # the server's clock is wrong: not a place to resume
                elif stamp > now_us and not request.follow:
                    yield self.page(handler, progress)
                    return "done", received  # an event stamped after this pass began: the live edge
                else:
                    progress.cursor = max(progress.cursor, stamp)
            if handler.candidates and flush_at - time.monotonic() > MATCH_FLUSH:
                flush_at = time.monotonic() + MATCH_FLUSH
            if handler.full or time.monotonic() >= flush_at:
                if handler.events or handler.problems:  # a silent connection has nothing new to save
                    yield self.page(handler, progress)
                flush_at = time.monotonic() + flush_every

    def page(self, handler: StreamHandler, progress: Progress) -> Page:
        """The posts, deletions and problems ``handler`` collected so far, as a page with the cursor after them."""
        candidates, deleted, problems, events = handler.drain()
        now_us, ceiling = _us(self.context.clock()), self._ceiling()
        for candidate in candidates:  # a post stamped in the future is dated by its createdAt, else now
            if candidate.time_us > ceiling:
                candidate.time_us = now_us
        # Posts taken before (the overlap replays them) are skipped; edits always count.
        fresh = [c for c in candidates if c.update or c.uri not in progress.recent]
        authors = self.profiles.resolve([c.uri.split("/", 3)[2] for c in fresh]) if fresh else {}
        mentions: list[Mention] = []
        for candidate in fresh:
            try:
                did = candidate.uri.split("/", 3)[2]
                mentions.append(
                    record_mention(candidate.uri, candidate.record, raw=candidate.raw, author=authors.get(did),
                                   received=_time(candidate.time_us))
                )  # fmt: skip
            except (RecordError, ValueError, TypeError, KeyError, AttributeError) as exc:
                problems.append(f"Bluesky post {candidate.uri}: {type(exc).__name__}: {exc}")
        for candidate in candidates:
            progress.recent[candidate.uri] = max(candidate.time_us, progress.recent.get(candidate.uri, 0))
        keep_from = progress.cursor - _span(self.settings.overlap)
        progress.recent = {uri: stamp for uri, stamp in progress.recent.items() if stamp >= keep_from}
        state: dict[str, Any] = {"time_us": progress.cursor, "recent": sorted(progress.recent)}
        if progress.since is not None:
            state["since"] = progress.since
        if progress.future:
            problems.append(
                f"{progress.future} Jetstream event(s) stamped up to {_ahead(progress.future_most - now_us)} "
                "ahead of this machine's clock: not taken as the stream position (a post among them is dated "
                "by its createdAt)"
            )
            self.context.usage.count("future_stamps", progress.future)
            progress.future = progress.future_most = 0
        page = Page(
            "stream",
            mentions,
            cursor=self.make_cursor(state),
            usage=self.context.usage.take(items_read=events),
            gaps=progress.gaps,
            deleted=deleted,
            skipped=len(problems),
            problems=problems,
        )
        progress.gaps = []
        return page

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Current metrics through the public AppView's ``getPosts`` (see :func:`refresh_pages` for deletions)."""

        def query(nsid: str, params: Mapping[str, Any]) -> Any:
            return self.refresh_http.get_json(f"/xrpc/{nsid}", params)

        yield from refresh_pages(
            platform_ids, query, self.context.clock, self.context.usage.take, self.profiles
        )


def _connect_errors() -> tuple[type[BaseException], ...]:
    from websockets.exceptions import WebSocketException

    return (OSError, TimeoutError, EOFError, WebSocketException)


def _describe_failure(exc: BaseException, endpoint: str) -> str:
    from websockets.exceptions import InvalidStatus

    if isinstance(exc, InvalidStatus):
        return f"the server refused the connection with HTTP {exc.response.status_code}"
    if is_dns_failure(exc):
        return connection_problem(exc, endpoint)
    return " ".join(str(exc).split()) or type(exc).__name__


def _retry_after(exc: BaseException) -> float | None:
    from websockets.exceptions import InvalidStatus

    if isinstance(exc, InvalidStatus):
        return parse_retry_after(exc.response.headers.get("Retry-After"))
    return None


def _ahead(span_us: int) -> str:
    seconds = max(0, span_us // 1_000_000)
    for size, unit in ((86400 * 365, "years"), (86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= 2 * size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _since(request: FetchRequest) -> str | None:
    return request.since.isoformat() if request.since is not None else None


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _span(span: timedelta) -> int:
    return int(span.total_seconds() * 1_000_000)


def _time(stamp_us: int) -> datetime:
    return datetime.fromtimestamp(stamp_us / 1_000_000, UTC)
