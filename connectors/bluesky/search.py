"""Bluesky search as your account (a handle and an app password), with the atproto SDK's ``Client``.

For each domain, ``app.bsky.feed.searchPosts`` with ``domain=<domain>`` and ``sort=latest``, from the cursor
minus an overlap (posts can be indexed late) up to the start of the pass, paged by the server's ``cursor``.
Search matches ``q`` against the post text, so a post whose only link is its card would be excluded by
``q=<domain>``; ``q=*`` does not restrict and is used unless the server rejects it, in which case
``q=<domain>`` runs instead (`tracker status` says which, and ``*`` is tried again a day later; the
rejection is remembered in the connector's state).

Results come newest first, so after each page the cursor records the stretch still unread below it (the
backlog): a pass that fails or stops at ``max_pages`` resumes exactly there. Authors' follower counts come
from ``getProfiles`` (cached); engagement refresh uses ``getPosts``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, field_validator

from connectors.bluesky.appview import GET_POSTS, GET_PROFILES, Profiles, post_view_mentions, refresh_pages
from tracker.connector import Connector, ConnectorContext, FetchRequest, Page, domain_names
from tracker.errors import ConnectorError
from tracker.record import RecordError, parse_iso
from tracker.settings import BaseUrl, ConnectorSettings, Duration

if TYPE_CHECKING:
    from connectors.bluesky.client import BlueskyClient

SEARCH_POSTS = "app.bsky.feed.searchPosts"
UNRESTRICTED = "*"
RETRY_UNRESTRICTED_AFTER = timedelta(days=1)
REJECTED_KEY = "q_star_rejected"  # state: {"api_base_url", "unrestricted_rejected_at"}
_MS = timedelta(milliseconds=1)


class BlueskySettings(ConnectorSettings):
    handle: str
    """Your Bluesky handle, e.g. `you.bsky.social`."""
    app_password: SecretStr
    """An app password (Settings > Privacy and security > App passwords), not the account's password."""
    api_base_url: BaseUrl = "https://bsky.social"
    """Your PDS: where the account logs in and searches."""
    overlap: Duration = timedelta(minutes=15)  # posts reach the search index late, sometimes by minutes
    """How far back each pass reads again: posts reach the search index late, sometimes by minutes."""
    initial_lookback: Duration = timedelta(days=7)
    """How far back the first pass reads."""
    page_size: int = Field(100, ge=1, le=100)
    """Posts per search request."""
    max_pages: int = Field(50, ge=1, le=10_000)  # per domain and pass; the rest is read by the next pass
    """Pages per domain and pass; the rest is read by the next pass."""
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""
    profile_ttl: Duration = timedelta(days=1)
    """How long authors' handles, names and followers are cached."""

    @field_validator("handle")
    @classmethod
    def _handle(cls, value: str) -> str:
        handle = value.strip().removeprefix("@")
        if not handle:
            raise ValueError('is empty; write your Bluesky handle, like "you.bsky.social"')
        if " " in handle:
            raise ValueError(f'{value!r} is not a handle; write it like "you.bsky.social"')
        return handle

    @field_validator("app_password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty; create an app password in Bluesky (Settings > Privacy and security)")
        return value


class BlueskyConnector(Connector):
    type = "bluesky"
    platform = "bluesky"
    Settings = BlueskySettings
    requires = (("atproto", "atproto>=0.0.60,<0.1"),)
    description = "Bluesky posts linking to the domains (searchPosts as your account, app password)"
    refresh_kinds = frozenset({"post", "reply", "quote"})  # through getPosts

    settings: BlueskySettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.session_file = context.data_dir / f"bluesky-{safe_name}.session.json"
        self.old_query_file: Path | None = context.data_dir / f"bluesky-{safe_name}.query.json"
        self._client: BlueskyClient | None = None
        self.profiles = Profiles(
            self._query, context.authors, context.clock, context.monotonic,
            ttl=self.settings.profile_ttl, log=self.log,
        )  # fmt: skip

    @property
    def client(self) -> BlueskyClient:
        if self._client is None:
            from connectors.bluesky.client import BlueskyClient

            self._client = BlueskyClient(
                name=self.name,
                handle=self.settings.handle,
                password=self.settings.app_password.get_secret_value(),
                base_url=self.settings.api_base_url,
                timeout=self.settings.timeout.total_seconds(),
                session_file=self.session_file,
                context=self.context,
                log=self.log,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def mode(self) -> str:
        if self._rejected_at() is None:
            return "search q=*"
        return (
            "search q=<domain> (the server rejects q=*, so posts linking only through a card can be missed)"
        )

    def describe(self, domains: Sequence[Any]) -> str:
        return (
            f"searches Bluesky as {self.settings.handle} at {self.settings.api_base_url} for posts linking to "
            f"{domain_names(domains)} (searchPosts, newest first, back to the last pass)"
        )

    # XRPC

    def _query(self, nsid: str, params: Mapping[str, Any]) -> Any:
        from atproto_client import models

        params_model = {
            SEARCH_POSTS: models.AppBskyFeedSearchPosts.Params,
            GET_PROFILES: models.AppBskyActorGetProfiles.Params,
            GET_POSTS: models.AppBskyFeedGetPosts.Params,
        }[nsid]
        return self.client.query(nsid, params, params_model)

    def _rejected_at(self) -> datetime | None:
        """When this server last rejected ``q=*`` (None: it accepts it, as far as we know)."""
        memo = self.context.state.get(REJECTED_KEY)
        if not isinstance(memo, dict) or memo.get("api_base_url") != self.settings.api_base_url:
            return None
        return _time(memo.get("unrestricted_rejected_at"))

    def _query_text(self, domain: str) -> str:
        """``*``, unless the server rejected it within the last day: then the domain."""
        rejected = self._rejected_at()
        if rejected is None or self.context.clock() - rejected >= RETRY_UNRESTRICTED_AFTER:
            return UNRESTRICTED
        return domain

    def _remember_rejection(self, rejected: bool) -> None:
        if not rejected:
            self.context.state.delete(REJECTED_KEY)
            return
        memo = {
            "api_base_url": self.settings.api_base_url,
            "unrestricted_rejected_at": _iso(self.context.clock()),
        }
        self.context.state.set(REJECTED_KEY, memo)

    def _import_old_memo(self) -> None:
        """Move the memo older versions kept in a file into the state (once: the file is removed)."""
        path, self.old_query_file = self.old_query_file, None
        if path is None or not path.exists():
            return
        try:
            memo = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(memo, dict) and self.context.state.get(REJECTED_KEY) is None:
                self.context.state.set(REJECTED_KEY, memo)
            path.unlink()
        except (OSError, ValueError) as exc:
            self.log.warning("cannot move %s into the database (%s); remove it by hand", path, exc)

    # Passes

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        self._import_old_memo()
        for domain in request.domains:
            yield from self._search_domain(request, domain.name)

    def _search_domain(self, request: FetchRequest, domain: str) -> Iterator[Page]:
        """Read the unread stretches of ``domain``'s results: a backlog left by an earlier pass, then what is new."""
        key = f"search:{domain}"
        marker = _iso(request.since) if request.since is not None else None
        state = dict(self.cursor_state(request, key) or {})
        if state.get("since") != marker:
            state = {}  # a backfill to another date starts over
        until = _time(state.get("until"))
        backlog = _window(state.get("backlog"))
        if until is not None:
            since = until - self.settings.overlap
        else:
            since = (
                request.since
                if request.since is not None
                else request.started_at - self.settings.initial_lookback
            )
        pages_left = self.settings.max_pages
        if backlog is not None and until is not None:
            done = yield from self._read_window(request, key, domain, backlog, until, marker, pages_left)
            pages_left -= done
            if pages_left <= 0:
                return
        if since < request.started_at:
            yield from self._read_window(
                request, key, domain, (since, request.started_at), request.started_at, marker, pages_left
            )

    def _read_window(
        self,
        request: FetchRequest,
        key: str,
        domain: str,
        window: tuple[datetime, datetime],
        until: datetime,
        marker: str | None,
        pages_left: int,
    ) -> Generator[Page, None, int]:
        """Page through ``[start, end)`` newest first. Each page's cursor says: read up to ``until``, except
        ``[start, oldest post read)``. Returns how many pages it read (a generator's return value)."""
        start, end = window
        page_cursor: str | None = None
        pages = 0
        while pages < pages_left:
            answer = self._search(domain, start, end, page_cursor)
            pages += 1
            posts = answer.get("posts")
            if not isinstance(posts, list):
                raise ConnectorError(
                    f"{SEARCH_POSTS} answered without a posts list; the API may have changed"
                )
            views = [view for view in posts if isinstance(view, dict)]
            mentions, problems = post_view_mentions(views, request.started_at, self.profiles)
            skipped = len(posts) - len(views)
            if skipped:
                problems.append(f"{skipped} search result(s) were not objects")
            next_cursor = answer.get("cursor")
            oldest = min((t for view in views if (t := _sort_at(view)) is not None), default=None)
            finished = not views or not isinstance(next_cursor, str) or not next_cursor
            state: dict[str, Any] = {"until": _iso(until)}
            if not finished:
                # Below the oldest post read (ties included) is still to read.
                state["backlog"] = [_iso(start), _iso(max(start, min(oldest or end, end) + _MS))]
            if marker is not None:
                state["since"] = marker
            yield Page(
                key, mentions, cursor=self.make_cursor(state),
                usage=self.context.usage.take(items_read=len(posts)),
                skipped=len(problems), problems=problems,
            )  # fmt: skip
            if finished:
                return pages
            page_cursor = next_cursor
        self.log.info("%s: stopped after %d pages (max_pages); the next pass reads on", key, pages)
        return pages

    def _search(self, domain: str, start: datetime, end: datetime, page_cursor: str | None) -> dict[str, Any]:
        from connectors.bluesky.client import BlueskyRequestError

        params: dict[str, Any] = {
            "q": self._query_text(domain),
            "domain": domain,
            "sort": "latest",
            "since": _iso(start),
            "until": _iso(end),
            "limit": self.settings.page_size,
        }
        if page_cursor:
            params["cursor"] = page_cursor
        try:
            answer = dict(self._query(SEARCH_POSTS, params))
        except BlueskyRequestError as exc:
            if params["q"] != UNRESTRICTED:
                raise ConnectorError(f"{exc}; the search cannot run") from exc
            self.log.warning(
                "Bluesky rejects q=* (%s); searching with q=%s, so posts that link only through a card can be "
                "missed", exc, domain,
            )  # fmt: skip
            self._remember_rejection(True)
            return dict(self._query(SEARCH_POSTS, {**params, "q": domain}))
        if params["q"] == UNRESTRICTED and self._rejected_at() is not None:
            self._remember_rejection(False)  # accepted again
        return answer

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Current metrics through ``getPosts``; posts it no longer returns are deleted."""
        yield from refresh_pages(
            platform_ids, self._query, self.context.clock, self.context.usage.take, self.profiles
        )


def _sort_at(view: Mapping[str, Any]) -> datetime | None:
    """When search sorts a post: the earlier of its ``createdAt`` and ``indexedAt``."""
    record = view.get("record")
    stamps = [
        value
        for value in (record.get("createdAt") if isinstance(record, dict) else None, view.get("indexedAt"))
        if isinstance(value, str)
    ]
    times = []
    for stamp in stamps:
        try:
            times.append(parse_iso(stamp))
        except RecordError:
            continue
    return min(times, default=None)


def _iso(moment: datetime) -> str:
    """``2025-05-19T17:10:09.561Z``: UTC with milliseconds, as the search API writes times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(value: Any) -> datetime | None:
    try:
        return parse_iso(value) if isinstance(value, str) else None
    except RecordError:
        return None


def _window(value: Any) -> tuple[datetime, datetime] | None:
    if not isinstance(value, list) or len(value) != 2:
        return None
    start, end = _time(value[0]), _time(value[1])
    return (start, end) if start is not None and end is not None and start < end else None
