"""Lobsters, through its public JSON and RSS (no account).

Three sources, each read newest first back to its cursor (minus ``overlap``) in pages:

* ``domain:<domain>``: the domain's stories, ``/domains/<domain>.json`` (then ``/domains/<domain>/page/N.json``);
* ``newest``: every new story, ``/newest.json``, for stories on a subdomain or linking from their text;
* ``comments``: the newest comments. Lobsters serves no JSON for that page, only ``/comments.rss``; a comment
  whose HTML links to a monitored domain is read again as JSON (``/c/<short id>.json``) and its story's tags
  (``/s/<short id>.json``) become its community.

A story is a ``post`` (its id the short id), a comment a ``comment`` (``c_<short id>``); score and comment
count are the metrics. Refresh re-reads stories through ``/s/<id>.json`` and comments through ``/c/<id>.json``;
a story or comment that is gone (404, or Lobsters' "can't find comment" 400) or deleted is marked deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from pydantic import Field

from tracker.connector import Connector, ConnectorContext, FetchRequest, Gap, Page, domain_names
from tracker.errors import ConnectorError
from tracker.http import HttpClient, HttpStatusError
from tracker.record import Link, Mention, Metrics, RecordError, parse_iso, raw_json
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration
from tracker.textlinks import html_links, html_to_text
from tracker.urls import DomainMatcher

STORIES_PER_PAGE = 25  # Lobsters' page size for story listings
COMMENTS_PER_PAGE = 20  # and for the comments feed
_STORY_IN_URL = re.compile(r"/s/([0-9a-z]+)")
_SHORT_ID = re.compile(r"^[0-9a-z]{1,12}$")


class LobstersSettings(ConnectorSettings):
    interval: Duration = timedelta(minutes=30)
    api_base_url: BaseUrl = "https://lobste.rs"
    """The Lobsters site (or a proxy)."""
    newest: bool = True  # also scan every new story (subdomains, links in story text)
    comments: bool = True
    """Also scan the newest comments (the RSS comments feed)."""
    initial_lookback: Duration = timedelta(days=7)
    """How far back the first pass reads."""
    overlap: Duration = timedelta(hours=1)
    """How far back each pass reads again."""
    max_pages: int = Field(40, ge=1, le=1000)  # per source and pass; beyond it a coverage gap is recorded
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""


@dataclass(frozen=True)
class FeedItem:
    """One item of the comments feed: the comment's short id, date and HTML."""

    short_id: str
    published: datetime
    html: str


class LobstersConnector(Connector):
    type = "lobsters"
    platform = "lobsters"
    Settings = LobstersSettings
    description = "Lobsters stories and comments (public JSON and RSS)"
    refresh_kinds = frozenset({"post", "comment"})

    settings: LobstersSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self.http = HttpClient(
            self.settings.api_base_url, context, timeout=self.settings.timeout.total_seconds()
        )

    def close(self) -> None:
        self.http.close()

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        names = domain_names(domains)
        what = ["the domains' stories"]
        if self.settings.newest:
            what.append("new stories")
        if self.settings.comments:
            what.append("new comments")
        return f"reads Lobsters ({', '.join(what)}) for links to {names}"

    # Passes

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        matcher = DomainMatcher((d.name, d.include_subdomains) for d in request.domains)
        for domain in request.domains:
            path = f"/domains/{quote(domain.name, safe='')}"
            yield from self._stories(request, f"domain:{domain.name}", path)
        if self.settings.newest:
            yield from self._stories(request, "newest", "/newest")
        if self.settings.comments:
            yield from self._comments(request, matcher)

    def _window(self, request: FetchRequest, key: str) -> tuple[datetime, dict[str, Any]]:
        """Where a source's reading stops (the lower bound) and the state its cursor will keep."""
        state = self.cursor_state(request, key)
        since = request.since.isoformat() if request.since is not None else None
        until = _time_or_none(state.get("until")) if state is not None else None
        if state is not None and state.get("since") == since and until is not None:
            lower = until - self.settings.overlap
        elif request.since is not None:
            lower = request.since
        else:
            lower = request.started_at - self.settings.initial_lookback
        new_state: dict[str, Any] = {"until": request.started_at.isoformat()}
        if since is not None:
            new_state["since"] = since
        return lower, new_state

    def _stories(self, request: FetchRequest, key: str, path: str) -> Iterator[Page]:
        lower, state = self._window(request, key)
        for number in range(1, self.settings.max_pages + 1):
            listing = self.http.get_json(f"{path}.json" if number == 1 else f"{path}/page/{number}.json")
            if not isinstance(listing, list):
                raise ConnectorError(
                    f"Lobsters answered {path} without a list of stories; the site may have changed"
                )
            mentions, problems, oldest = [], [], None
            for story in listing:
                try:
                    mention = story_mention(story)
                except (KeyError, TypeError, ValueError, RecordError) as exc:
                    problems.append(f"Lobsters story {_short_id_of(story)!r}: {type(exc).__name__}: {exc}")
                    continue
                oldest = mention.created_at if oldest is None else min(oldest, mention.created_at)
                if mention.created_at >= lower:
                    mentions.append(mention)
            page = self._listing_page(key, lower, state, number, mentions, problems, oldest,
                                      len(listing), len(listing) < STORIES_PER_PAGE, "stories")  # fmt: skip
            yield page
            if page.cursor is not None:
                return

    def _comments(self, request: FetchRequest, matcher: DomainMatcher) -> Iterator[Page]:
        key = "comments"
        lower, state = self._window(request, key)
        tags: dict[str, list[str]] = {}  # story short id -> tags, for this pass
        for number in range(1, self.settings.max_pages + 1):
            path = "/comments.rss" if number == 1 else f"/comments/page/{number}.rss"
            items = self.http.get_text(path, parse=parse_feed)
            mentions, problems = [], []
            for item in items:
                if item.published < lower or not any(
                    matcher.match_url(url) for url, _ in html_links(item.html)
                ):
                    continue
                try:
                    mention = self._comment(item.short_id, tags)
                except (KeyError, TypeError, ValueError, RecordError) as exc:
                    problems.append(f"Lobsters comment {item.short_id!r}: {type(exc).__name__}: {exc}")
                    continue
                if mention is not None:
                    mentions.append(mention)
            oldest = min((item.published for item in items), default=None)
            page = self._listing_page(key, lower, state, number, mentions, problems, oldest,
                                      len(items), len(items) < COMMENTS_PER_PAGE, "comments")  # fmt: skip
            yield page
            if page.cursor is not None:
                return

    def _listing_page(
        self, key: str, lower: datetime, state: Mapping[str, Any], number: int, mentions: list[Mention],
        problems: list[str], oldest: datetime | None, read: int, last_page: bool, what: str,
    ) -> Page:  # fmt: skip
        """One page of a newest-first listing: it ends the source (carrying the cursor) when the listing ran
        out, reached back past ``lower``, or hit ``max_pages`` (then with a coverage gap)."""
        done = last_page or (oldest is not None and oldest < lower)
        gaps = []
        if not done and number == self.settings.max_pages and oldest is not None:
            gaps.append(
                Gap(key, lower, oldest, f"more than {self.settings.max_pages} pages of Lobsters {what}")
            )
            done = True
        return Page(
            key,
            mentions,
            cursor=self.make_cursor(state) if done else None,
            usage=self.context.usage.take(items_read=read),
            gaps=gaps,
            skipped=len(problems),
            problems=problems,
        )

    def _comment(self, short_id: str, tags: dict[str, list[str]]) -> Mention | None:
        """The comment as JSON, with its story's tags; None when it is gone or deleted."""
        comment = self._get_or_none(f"/c/{short_id}.json")
        if not isinstance(comment, dict) or comment.get("is_deleted") or comment.get("is_moderated"):
            return None
        story_id = story_of(comment)
        if story_id not in tags:
            story = self._get_or_none(f"/s/{story_id}.json")
            tags[story_id] = list(story.get("tags") or []) if isinstance(story, dict) else []
        return comment_mention(comment, tags[story_id])

    def _get_or_none(self, path: str) -> Any:
        """GET JSON; None when Lobsters says the thing is not there (404, or 400 "can't find")."""
        try:
            return self.http.get_json(path)
        except HttpStatusError as exc:
            if exc.status in (400, 404):
                return None
            raise

    # Engagement refresh

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Stories through ``/s/<id>.json``, comments through ``/c/<id>.json``, one request each."""
        for start in range(0, len(platform_ids), 20):
            mentions: list[Mention] = []
            deleted: list[str] = []
            problems: list[str] = []
            for platform_id in platform_ids[start : start + 20]:
                is_comment = platform_id.startswith("c_")
                short_id = platform_id[2:] if is_comment else platform_id
                if not _SHORT_ID.match(short_id):
                    problems.append(f"Lobsters id {platform_id!r} is not a short id")
                    continue
                payload = self._get_or_none(f"/c/{short_id}.json" if is_comment else f"/s/{short_id}.json")
                if not isinstance(payload, dict) or payload.get("is_deleted") or payload.get("is_moderated"):
                    deleted.append(platform_id)
                    continue
                try:
                    mentions.append(comment_mention(payload, []) if is_comment else story_mention(payload))
                except (KeyError, TypeError, ValueError, RecordError) as exc:
                    problems.append(f"Lobsters item {platform_id!r}: {type(exc).__name__}: {exc}")
            yield Page(
                "refresh",
                mentions,
                usage=self.context.usage.take(items_read=len(mentions)),
                deleted=deleted,
                skipped=len(problems),
                problems=problems,
            )


# Payloads


def parse_feed(text: str) -> list[FeedItem]:
    """The items of Lobsters' comments feed (RSS 2.0); ValueError when it is not one."""
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - Lobsters' own feed; size is capped by the client
    except ElementTree.ParseError as exc:
        raise ValueError(f"the comments feed is not XML: {exc}") from exc
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ValueError("the comments feed is not RSS")
    items = []
    for element in channel.findall("item"):
        link = (element.findtext("guid") or element.findtext("link") or "").strip()
        short_id = link.rstrip("/").rsplit("/", 1)[-1]
        published = element.findtext("pubDate")
        if not _SHORT_ID.match(short_id) or not published:
            continue  # not a comment this connector can look up
        try:
            moment = parsedate_to_datetime(published.strip())
        except (TypeError, ValueError):
            continue
        if moment.tzinfo is None:  # RFC 2822's "-0000": UTC, origin unknown
            moment = moment.replace(tzinfo=UTC)
        items.append(FeedItem(short_id, moment.astimezone(UTC), element.findtext("description") or ""))
    return items


def _time_or_none(value: Any) -> datetime | None:
    try:
        return parse_iso(value) if isinstance(value, str) else None
    except RecordError:
        return None  # a cursor that cannot be read starts afresh


def _username(user: Any) -> str | None:
    """``submitter_user`` / ``commenting_user``: a string since 2024, an object with ``username`` before."""
    if isinstance(user, dict):
        user = user.get("username")
    return str(user) if user else None


def _short_id_of(item: Any) -> Any:
    return item.get("short_id") if isinstance(item, dict) else None


def _https(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(f"no https permalink ({url!r})")
    return url


def story_mention(story: dict[str, Any]) -> Mention:
    """A story as a ``post`` mention (links not yet matched): its URL, and the links in its text."""
    short_id = str(story["short_id"])
    title = story.get("title") or None
    description = story.get("description") or ""
    links = [Link(story["url"], "url_field", title)] if story.get("url") else []
    links += [Link(href, "text", anchor or None) for href, anchor in html_links(description)]
    author = _username(story.get("submitter_user"))
    text = story.get("description_plain")
    tags = [str(tag) for tag in story.get("tags") or []]
    return Mention(
        platform="lobsters",
        platform_id=short_id,
        kind="post",
        permalink=_https(story.get("short_id_url") or story.get("comments_url")),
        created_at=parse_iso(story["created_at"]),
        author_id=author,
        author_handle=author,
        community=",".join(tags) or None,
        title=title,
        text=(text.strip() if isinstance(text, str) else html_to_text(description)) or None,
        thread_id=short_id,
        links=tuple(links),
        metrics=Metrics(score=_int(story.get("score")), replies=_int(story.get("comment_count"))),
        raw=raw_json({key: value for key, value in story.items() if key != "comments"}),
    )


def story_of(comment: dict[str, Any]) -> str:
    """The short id of the comment's story, read from its ``url`` (``.../s/<id>/<slug>#c_<id>``)."""
    found = _STORY_IN_URL.search(str(comment.get("url") or ""))
    if found is None:
        raise ValueError("the comment's url names no story")
    return found.group(1)


def comment_mention(comment: dict[str, Any], tags: Sequence[str]) -> Mention:
    """A comment as a ``comment`` mention whose community is its story's tags."""
    short_id = str(comment["short_id"])
    story_id = story_of(comment)
    body = comment.get("comment") or ""
    plain = comment.get("comment_plain")
    parent = comment.get("parent_comment")
    author = _username(comment.get("commenting_user"))
    return Mention(
        platform="lobsters",
        platform_id=f"c_{short_id}",
        kind="comment",
        permalink=_https(comment.get("url") or comment.get("short_id_url")),
        created_at=parse_iso(comment["created_at"]),
        author_id=author,
        author_handle=author,
        community=",".join(tags) or None,
        text=(plain.strip() if isinstance(plain, str) else html_to_text(body)) or None,
        thread_id=story_id,
        parent_id=f"c_{parent}" if parent else story_id,
        links=tuple(Link(href, "text", anchor or None) for href, anchor in html_links(body)),
        metrics=Metrics(score=_int(comment.get("score"))),
        raw=raw_json(comment),
    )


def _int(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)
