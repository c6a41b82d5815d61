"""A small, fixed store whose roll-ups are worked out by hand in the tests."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.factories import mention
from tracker.connector import Page
from tracker.record import Link, Mention, Metrics
from tracker.store import Store
from tracker.urls import canonical_url


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def link(url: str, domain: str, anchor: str | None = None, source: str = "text") -> Link:
    return Link(url, source, anchor, canonical_url(url), domain)


def post(
    platform: str, platform_id: str, created: datetime, links: tuple[Link, ...], **fields: object
) -> Mention:
    permalinks = {
        "hackernews": f"https://news.ycombinator.com/item?id={platform_id}",
        "reddit": f"https://www.reddit.com/r/x/comments/{platform_id}/",
        "bluesky": f"https://bsky.app/profile/carol.test/post/{platform_id.rsplit('/', 1)[-1]}",
    }
    return mention(
        platform_id,
        platform=platform,
        created_at=created,
        links=links,
        permalink=permalinks[platform],
        **fields,
    )  # type: ignore[arg-type]


WEEK = [
    post("hackernews", "1", at(16, 10), (link("https://example.com/a?utm_source=hn", "example.com", "A"),),
         author_id="alice", author_handle="alice", title="Show HN: A", metrics=Metrics(score=10, replies=5)),
    post("reddit", "t3_2", at(17, 12),
         (link("https://www.example.com/a", "example.com", "the A page"), link("https://docs.example.org/x", "example.org")),
         author_id="bob", author_handle="bob", community="r/python", title="Two links", metrics=Metrics(score=7)),
    post("bluesky", "at://did:plc:carol/app.bsky.feed.post/3", at(22, 23, 30),
         (link("https://example.org/b", "example.org", "=cmd|' /C calc'!A0"),),
         author_id="did:plc:carol", author_handle="carol.test", author_followers=500,
         text='=HYPERLINK("http://evil.test","click") and ünïcödé ✨', metrics=Metrics(likes=3, reposts=1)),
    post("reddit", "t1_4", at(18, 8), (link("https://example.com/c", "example.com"),),
         author_id="bob", author_handle="bob", community="r/python", kind="comment", text="see the docs"),
]  # fmt: skip
DELETED = post(
    "reddit", "t3_5", at(19), (link("https://example.com/gone", "example.com"),), author_handle="eve"
)
PREVIOUS = [
    post("hackernews", "10", at(10), (link("https://example.com/a", "example.com"),),
         author_id="alice", author_handle="alice", metrics=Metrics(score=2)),
    post("reddit", "t3_11", at(12), (link("https://example.com/d", "example.com"),),
         author_id="dave", author_handle="dave", community="r/django", metrics=Metrics(score=1)),
]  # fmt: skip
LONG_AGO = [
    post("reddit", "t3_20", at(1, month=10), (link("https://example.com/old", "example.com"),),
         author_handle="bob", community="r/python"),
]  # fmt: skip


def fill(store: Store) -> None:
    """Store the fixed mentions (and delete one of them) as connectors would."""
    for item in (*WEEK, DELETED, *PREVIOUS, *LONG_AGO):
        store.write_page(connector=item.platform, platform=item.platform, run_id=None, page=Page("k"),
                         mentions_to_store=[item], now=at(23))  # fmt: skip
    store.write_page(connector="reddit", platform="reddit", run_id=None, page=Page("k", deleted=["t3_5"]),
                     mentions_to_store=[], now=at(23))  # fmt: skip
