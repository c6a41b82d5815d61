"""Hacker News, through the Algolia search API (no credentials).

With a few domains, two sources per domain: stories whose URL is on the domain
(``restrictSearchableAttributes=url``) and comments whose text links to it (``tags=comment``, each href
confirmed by the matcher). Algolia's query has no OR (its words must all match; ``optionalWords`` would make
``com`` alone match), so domains cannot share a search. With more than ``search_each_domain_up_to`` domains,
one source instead reads every new story and comment (``tags=(story,comment)``, no query) and keeps those
that may link to a domain: Hacker News gets about a hundred items in ten minutes, so a pass costs one
request however many domains there are, where searching each would cost two a domain.

Each source reads a time window ``[cursor - overlap, pass start]`` with ``search_by_date``; Algolia returns at
most ~1000 hits per query, so a window with more is split in halves until each fits.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from pydantic import Field

from tracker.connector import Connector, ConnectorContext, FetchRequest, Gap, Page, domain_names
from tracker.errors import ConnectorError
from tracker.http import HttpClient
from tracker.record import Link, Mention, Metrics, RecordError, from_timestamp, parse_iso, raw_json
from tracker.settings import BaseUrl, ConnectorSettings, Duration
from tracker.textlinks import html_links, html_to_text
from tracker.urls import DomainMatcher

HIT_CEILING = 1000  # Algolia serves at most this many hits per query, however it is paged
ALL_PAGE_SIZE = 500  # hits a request when reading every item (a page of comments stays well under 8 MB)
ALL = "all"  # the source of every new story and comment
PERMALINK = "https://news.ycombinator.com/item?id={}"


class HackerNewsSettings(ConnectorSettings):
    api_base_url: BaseUrl = "https://hn.algolia.com/api/v1"
    """The Algolia Hacker News search API."""
    page_size: int = Field(100, ge=1, le=1000)
    """Hits per request."""
    overlap: Duration = timedelta(minutes=15)  # Algolia indexes new items within a minute or two
    """How far back each pass reads again: Algolia indexes new items within a minute or two."""
    initial_lookback: Duration = timedelta(days=7)
    """How far back the first pass reads."""
    comments: bool = True
    """Also search comments, not only stories."""
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""
    search_each_domain_up_to: int = Field(10, ge=0, le=10_000)
    """Up to this many domains, each pass searches each domain (two requests a domain); with more, it reads
    every new story and comment once (one request a pass at Hacker News's pace) and keeps those linking to a
    domain."""


class HackerNewsConnector(Connector):
    type = "hackernews"
    platform = "hackernews"
    Settings = HackerNewsSettings
    refresh_kinds = frozenset({"post"})  # Algolia shows comments without points: nothing to refresh
    description = "Hacker News stories and comments (Algolia search API)"

    settings: HackerNewsSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self.http = HttpClient(
            self.settings.api_base_url, context, timeout=self.settings.timeout.total_seconds()
        )

    def close(self) -> None:
        self.http.close()

    def reads_everything(self, domains: int) -> bool:
        """Whether a pass over this many domains reads every new item rather than searching each domain."""
        return domains > self.settings.search_each_domain_up_to

    def domains_per_request(self, domains: int) -> float:
        """How many domains one request of a pass covers: all of them when reading every item, else half
        of one (a story search and a comment search each)."""
        if self.reads_everything(domains):
            return float(domains)
        return 0.5 if self.settings.comments else 1.0

    def describe(self, domains: Sequence[Any]) -> str:
        names = domain_names(domains)
        if self.reads_everything(len(domains)):
            what = "story and comment" if self.settings.comments else "story"
            return (
                f"reads every new Hacker News {what} and keeps those linking to {names} (more than "
                f"{self.settings.search_each_domain_up_to} domains: one request per {ALL_PAGE_SIZE} new items, "
                f"about one a pass, instead of searching each domain)"
            )
        what = "stories and comments" if self.settings.comments else "stories"
        searches = (2 if self.settings.comments else 1) * len(domains)
        return (
            f"searches Hacker News {what} linking to {names} ({searches} request(s) a pass, one more "
            f"per {self.settings.page_size} hits)"
        )

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        if self.reads_everything(len(request.domains)):
            yield from self._read_source(request, ALL, "")
            return
        for domain in request.domains:
            yield from self._read_source(request, "story", domain.name)
            if self.settings.comments:
                yield from self._read_source(request, "comment", domain.name)

    def _resume_from(self, request: FetchRequest, tag: str, domain: str) -> int | None:
        """Where the other way of reading ended (the number of domains crossed ``search_each_domain_up_to``),
        so a source does not read again what it read, nor revive its own older cursor: reading every item
        goes on from the oldest per-domain cursor (when every domain has one), a domain's search from where
        reading every item ended."""
        if request.since is not None:
            return None
        if tag != ALL:
            state = self.cursor_state(request, ALL)
            return int(state["until"]) if state is not None and state.get("since") is None else None
        ends = []
        tags = ("story", "comment") if self.settings.comments else ("story",)
        for each in request.domains:
            for kind in tags:
                state = self.cursor_state(request, f"{kind}:{each.name}")
                if state is None or state.get("since") is not None:
                    return None
                ends.append(int(state["until"]))
        return min(ends) if ends else None

    def _read_source(self, request: FetchRequest, tag: str, domain: str) -> Iterator[Page]:
        key = ALL if tag == ALL else f"{tag}:{domain}"
        state = self.cursor_state(request, key)
        overlap = int(self.settings.overlap.total_seconds())
        upper = int(request.started_at.timestamp())
        seen: dict[str, int] = {}
        since = int(request.since.timestamp()) if request.since is not None else None
        if state is not None and state.get("since") != since:
            state = None  # a backfill to another date starts over
        if state is not None:
            lower = int(state["until"]) - overlap
            seen = {str(item_id): int(ts) for item_id, ts in state.get("seen", [])}
        elif since is not None:
            lower = since
        else:
            lower = upper - int(self.settings.initial_lookback.total_seconds())
        resumed = self._resume_from(request, tag, domain)
        if resumed is not None:  # the other way of reading went further: not read again (nor further back
            lower = max(lower, resumed - overlap)  # than a first pass would read)
        prefilter = request.link_matcher() if tag == ALL else None
        windows = [(lower, upper)]
        while windows:
            low, high = windows.pop(0)
            first = self._search(tag, domain, low, high, 0)
            if first["nbHits"] > HIT_CEILING and high > low:
                middle = (low + high) // 2
                windows[:0] = [(low, middle), (middle + 1, high)]  # oldest half first
                continue
            yield from self._read_window(
                key, tag, domain, (low, high), first, seen, overlap, since, prefilter
            )

    def _read_window(
        self,
        key: str,
        tag: str,
        domain: str,
        window: tuple[int, int],
        response: dict[str, Any],
        seen: dict[str, int],
        overlap: int,
        since: int | None,
        prefilter: DomainMatcher | None,
    ) -> Iterator[Page]:
        low, high = window
        page_number = 0
        gaps: list[Gap] = []
        if response["nbHits"] > HIT_CEILING:
            gaps.append(
                Gap(key, from_timestamp(low), from_timestamp(high + 1),
                    f"more than {HIT_CEILING} Hacker News hits within one second; some were not read"),
            )  # fmt: skip
        max_pages = -(-HIT_CEILING // self._page_size(tag))
        while True:
            hits = response["hits"]
            mentions, skipped, problems = self._normalize(hits, seen, prefilter)
            last = not hits or page_number + 1 >= min(int(response.get("nbPages") or 0), max_pages)
            cursor = None
            if last:
                keep_after = high - overlap
                seen_now = sorted((ts, item_id) for item_id, ts in seen.items() if ts >= keep_after)
                state: dict[str, Any] = {"until": high, "seen": [[item_id, ts] for ts, item_id in seen_now]}
                if since is not None:
                    state["since"] = since
                cursor = self.make_cursor(state)
            yield Page(
                key,
                mentions,
                cursor=cursor,
                usage=self.context.usage.take(items_read=len(hits)),
                gaps=gaps if last else (),
                skipped=skipped,
                problems=problems,
            )
            if last:
                return
            page_number += 1
            response = self._search(tag, domain, low, high, page_number)

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Stories by id (``tags=story,(story_1,...)``) with their current points and comment counts.

        Algolia shows no points for comments, so only stories come back; an id missing from the answer is not
        taken as deleted (the index lags and drops flagged stories), so nothing is marked deleted here.
        """
        ids = list(platform_ids)
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            tags = "story,(" + ",".join(f"story_{item_id}" for item_id in chunk) + ")"
            response = self.http.get_json("/search", {"tags": tags, "hitsPerPage": len(chunk)})
            if not isinstance(response, dict) or not isinstance(response.get("hits"), list):
                raise ConnectorError("Algolia answered without a hits list; the API may have changed")
            mentions, skipped, problems = self._normalize(response["hits"], {})
            yield Page(
                "refresh",
                mentions,
                usage=self.context.usage.take(items_read=len(response["hits"])),
                skipped=skipped,
                problems=problems,
            )

    def _page_size(self, tag: str) -> int:
        return max(self.settings.page_size, ALL_PAGE_SIZE) if tag == ALL else self.settings.page_size

    def _search(self, tag: str, domain: str, low: int, high: int, page: int) -> dict[str, Any]:
        if tag == ALL:  # every story and comment: no query
            params: dict[str, Any] = {"tags": "(story,comment)" if self.settings.comments else "story"}
        else:
            params = {"query": domain, "tags": tag}
        if tag == "story":
            params["restrictSearchableAttributes"] = "url"
        params["numericFilters"] = f"created_at_i>={low},created_at_i<={high}"
        params["hitsPerPage"] = self._page_size(tag)
        params["page"] = page
        response = self.http.get_json("/search_by_date", params)
        if not isinstance(response, dict) or not isinstance(response.get("hits"), list):
            raise ConnectorError("Algolia answered without a hits list; the API may have changed")
        if not isinstance(response.get("nbHits"), int):
            response["nbHits"] = len(response["hits"])
        return response

    def _normalize(
        self, hits: list[Any], seen: dict[str, int], prefilter: DomainMatcher | None = None
    ) -> tuple[list[Mention], int, list[str]]:
        """The hits as mentions, but those already seen; with ``prefilter``, only those whose URL or text may
        link to a monitored domain (reading every item, most link elsewhere)."""
        mentions: list[Mention] = []
        problems: list[str] = []
        for hit in hits:
            try:
                item_id = str(hit["objectID"])
                if item_id in seen:
                    continue
                if prefilter is not None and not _may_link(prefilter, hit):
                    continue
                mention = normalize_hit(hit)
            except (KeyError, TypeError, ValueError, RecordError) as exc:
                object_id = hit.get("objectID") if isinstance(hit, dict) else None
                problems.append(f"Hacker News item {object_id!r}: {type(exc).__name__}: {exc}")
                continue
            seen[item_id] = int(mention.created_at.timestamp())
            mentions.append(mention)
        return mentions, len(problems), problems


def _may_link(matcher: DomainMatcher, hit: dict[str, Any]) -> bool:
    """Whether a hit's URL or text may link to a monitored domain (HTML entities read first)."""
    text = " ".join(
        value for name in ("url", "story_text", "comment_text") if isinstance(value := hit.get(name), str)
    )
    return matcher.might_mention(html.unescape(text) if "&" in text else text)


def normalize_hit(hit: dict[str, Any]) -> Mention:
    """A story or comment hit from Algolia as a mention (links not yet matched)."""
    item_id = str(hit["objectID"])
    tags = hit.get("_tags") or []
    created_at = (
        from_timestamp(int(hit["created_at_i"]))
        if hit.get("created_at_i") is not None
        else parse_iso(hit["created_at"])
    )
    author = hit.get("author") or None
    is_comment = "comment" in tags or (hit.get("comment_text") is not None and not hit.get("title"))
    raw = raw_json(hit)
    if is_comment:
        body = hit.get("comment_text") or ""
        return Mention(
            platform="hackernews",
            platform_id=item_id,
            kind="comment",
            permalink=PERMALINK.format(item_id),
            created_at=created_at,
            author_id=author,
            author_handle=author,
            title=_text_or_none(hit.get("story_title")),  # the thread it sits in, so a reader knows where
            text=html_to_text(body) or None,
            thread_id=_str_or_none(hit.get("story_id")),
            parent_id=_str_or_none(hit.get("parent_id")),
            links=tuple(Link(href, "text", anchor or None) for href, anchor in html_links(body)),
            metrics=Metrics(score=_int_or_none(hit.get("points"))),
            raw=raw,
        )
    body = hit.get("story_text") or ""
    links = [Link(hit["url"], "url_field", hit.get("title") or None)] if hit.get("url") else []
    links += [Link(href, "text", anchor or None) for href, anchor in html_links(body)]
    return Mention(
        platform="hackernews",
        platform_id=item_id,
        kind="post",
        permalink=PERMALINK.format(item_id),
        created_at=created_at,
        author_id=author,
        author_handle=author,
        title=_text_or_none(hit.get("title")),
        text=html_to_text(body) or None,
        thread_id=item_id,
        links=tuple(links),
        metrics=Metrics(score=_int_or_none(hit.get("points")), replies=_int_or_none(hit.get("num_comments"))),
        raw=raw,
    )


def _text_or_none(value: Any) -> str | None:
    """A title as plain text (with any HTML entity read as its character)."""
    return (html.unescape(value).strip() or None) if isinstance(value, str) else None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
