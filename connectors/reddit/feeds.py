"""Reddit without an API key: the public Atom feeds (``.rss``) under ``feed_base_url``.

Since November 2025 new Reddit API keys need Reddit's approval, so ``auth = "none"`` reads the feeds every
browser can: ``/domain/<domain>/new/.rss``, ``/search.rss?q=...&sort=new`` and ``/r/<a+b>/comments/.rss``,
100 entries a request, with a descriptive User-Agent and at most a few requests a minute. An entry gives the
same record as the API (the feed's HTML holds the post's text and links) but no metrics. Reddit answers
clients it takes for bots with HTTP 403 or 429 (or an HTML page); that is reported as what it is.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import httpx

from connectors.reddit.budget import RequestBudget
from connectors.reddit.sources import Item
from connectors.reddit.things import GONE_TEXTS, REDDIT
from tracker.connector import ConnectorContext
from tracker.errors import ConnectorError, ResponseLimitError, connection_problem
from tracker.record import Link, Mention, Metrics, RecordError, parse_iso, raw_json
from tracker.retry import Retrier, RetryPolicy, TransientError, parse_retry_after
from tracker.textlinks import html_links, html_to_text, urls_in_text
from tracker.transport import guarded_client

log = logging.getLogger("tracker.connectors.reddit")

ATOM = "{http://www.w3.org/2005/Atom}"
FEED_REQUESTS_PER_MINUTE = 10  # Reddit throttles anonymous clients far below the API's 100
_FULLNAME = re.compile(r"^t[13]_[0-9a-z]+$")
_MARKDOWN_BLOCK = re.compile(r"<!-- SC_OFF -->(.*?)<!-- SC_ON -->", re.S)
_LINK_SPAN = re.compile(r"<a href=\"([^\"]+)\">\s*\[link\]\s*</a>")
_ANCHOR = re.compile(r"<a\s[^>]*>.*?</a\s*>", re.S | re.I)
_THREAD = re.compile(r"/comments/([0-9a-z]+)/")
ANTI_BOT = (
    "Reddit's anti-bot wall refused the public feeds (HTTP {status}); it blocks addresses and user agents "
    "it takes for bots for a while: keep a descriptive user_agent, a long interval (30m or more), or get an "
    'API key and use auth = "oauth"'
)


class FeedClient:
    """GETs Atom feeds from ``feed_base_url`` through a guarded client, within the request budget; Reddit's
    faults classified for the one retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str,
        timeout: float,
        context: ConnectorContext,
        budget: RequestBudget,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.retrier = Retrier(
            context,
            retry or RetryPolicy(max_wait=budget.max_wait),
            log=log,
            max_wait_name="max_rate_limit_wait",
        )
        self._client = guarded_client(
            context, timeout, headers={"User-Agent": user_agent, "Accept": "application/atom+xml"}
        )

    def close(self) -> None:
        self._client.close()

    def entries(self, path: str, params: Mapping[str, Any]) -> list[Item]:
        """The entries of one feed page, newest first."""
        url = self.base_url + path
        statuses: list[int] = []

        def attempt() -> list[Item]:
            self.budget.acquire()
            try:
                response = self._client.get(url, params=dict(params))
            except ResponseLimitError as exc:
                raise TransientError(str(exc), exc.counter) from None
            except httpx.TimeoutException:
                raise TransientError("no answer in time", "retried_timeout") from None
            except httpx.TransportError as exc:
                raise TransientError(connection_problem(exc, url), "retried_connection") from None
            status = response.status_code
            statuses.append(status)
            if status == 403:
                raise ConnectorError(f"{path}: " + ANTI_BOT.format(status=403))
            if status == 429:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                raise TransientError("rate limited (HTTP 429)", "retried_429", wait)
            if status >= 500:
                raise TransientError(f"HTTP {status} from Reddit", "retried_5xx")
            if status >= 400:
                hint = "; check feed_base_url" if status == 404 else ""
                raise ConnectorError(f"Reddit feed {path}: HTTP {status}{hint}")
            try:
                return parse_feed(response.content)
            except FeedError as exc:
                raise TransientError(str(exc), "retried_malformed") from None

        try:
            return self.retrier.call(f"Reddit feed {path}", attempt)
        except ConnectorError:
            if statuses and statuses[-1] == 429:  # throttled to the end: say what that means
                raise ConnectorError(f"{path}: " + ANTI_BOT.format(status=429)) from None
            raise


class FeedError(ValueError):
    """The answer was not a Reddit Atom feed."""


def parse_feed(body: bytes) -> list[Item]:
    """A feed's entries as items (payload: the entry's fields), newest first; FeedError if it is no feed."""
    root_at = body.find(b"<feed")
    prolog = (body[:root_at] if root_at >= 0 else body[:4096]).lower()
    if b"<!doctype" in prolog or b"<!entity" in prolog:
        # Atom has no DTD; an HTML page or entity tricks are not parsed.
        raise FeedError("the answer was an HTML page, not the feed (Reddit's anti-bot wall?)")
    try:
        # S314: a DTD was refused above (Atom has none, so no entities to expand or fetch); defusedxml is
        # not a dependency of this mode
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise FeedError(f"the feed was not well-formed XML ({exc})") from None
    if root.tag != ATOM + "feed":
        raise FeedError("the answer was not an Atom feed")
    items = []
    for index, entry in enumerate(root.findall(ATOM + "entry")):
        fields = entry_fields(entry)
        fullname = fields.get("id") or ""
        created = None
        try:
            created = parse_iso(fields.get("published") or fields.get("updated") or "").timestamp()
        except RecordError:
            pass
        if not _FULLNAME.match(fullname):
            fullname = f"unreadable entry {index}: id {fullname!r}"
        items.append(Item(fullname, created, fields))
    return items


def entry_fields(entry: ElementTree.Element) -> dict[str, str | None]:
    """The parts of an Atom entry a record needs, as plain strings (also kept as the mention's ``raw``)."""
    author = entry.find(ATOM + "author")
    category = entry.find(ATOM + "category")
    link = entry.find(ATOM + "link")
    return {
        "id": _text(entry.find(ATOM + "id")),
        "title": _text(entry.find(ATOM + "title")),
        "link": link.get("href") if link is not None else None,
        "author": _text(author.find(ATOM + "name")) if author is not None else None,
        "category": (category.get("label") or category.get("term")) if category is not None else None,
        "published": _text(entry.find(ATOM + "published")),
        "updated": _text(entry.find(ATOM + "updated")),
        "content": _text(entry.find(ATOM + "content")),
    }


def is_gone_entry(fields: Mapping[str, Any]) -> bool:
    """Whether the entry shows a deleted or removed post or comment."""
    return html_to_text(_markdown_html(fields.get("content") or "")) in GONE_TEXTS


def entry_mention(fields: Mapping[str, Any]) -> Mention:
    """An Atom entry of a post or comment as a mention (no metrics: the feeds have none)."""
    fullname = str(fields.get("id") or "")
    link = fields.get("link")
    if not _FULLNAME.match(fullname) or not isinstance(link, str) or not link:
        raise RecordError(f"entry {fullname!r} has no Reddit id or no link")
    created = fields.get("published") or fields.get("updated")
    content = fields.get("content") or ""
    markdown_html = _markdown_html(content)
    title = fields.get("title") or None
    is_post = fullname.startswith("t3_")
    path = urlsplit(link).path
    # Reddit links a bare URL with the URL as its text: that is no anchor text
    links = [
        Link(url, "text", anchor if anchor and anchor != url else None)
        for url, anchor in html_links(markdown_html)
    ]
    links += [Link(url, "text") for url in urls_in_text(html_to_text(_ANCHOR.sub(" ", markdown_html)))]
    target = _LINK_SPAN.search(content)
    if is_post and target and urlsplit(target.group(1)).path.rstrip("/") != path.rstrip("/"):
        links.insert(0, Link(html.unescape(target.group(1)), "url_field", title))
    thread = _THREAD.search(path)
    author = (fields.get("author") or "").removeprefix("/u/").strip()
    category = fields.get("category") or None
    return Mention(
        platform="reddit",
        platform_id=fullname,
        kind="post" if is_post else "comment",
        permalink=REDDIT + path,
        created_at=parse_iso(str(created or "")),
        author_handle=None if not author or author in GONE_TEXTS else author,
        community=category if not category or category.startswith(("r/", "u/")) else f"r/{category}",
        title=title if is_post else _thread_title(title, author),
        text=html_to_text(markdown_html) or None,
        thread_id=fullname if is_post else (f"t3_{thread.group(1)}" if thread else None),
        links=tuple(links),
        metrics=Metrics(),
        raw=raw_json(dict(fields)),
    )


def _thread_title(title: str | None, author: str) -> str | None:
    """A comment entry's title reads "/u/<author> on <post title>": the post's title, as the API gives it."""
    prefix = f"/u/{author} on "
    return (title[len(prefix) :] or None) if title and author and title.startswith(prefix) else None


def _markdown_html(content: str) -> str:
    """The HTML of the post's or comment's own text (not the "submitted by" footer)."""
    block = _MARKDOWN_BLOCK.search(content)
    if block is not None:
        return block.group(1)
    return "" if "submitted by" in content else content


def _text(element: ElementTree.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None
