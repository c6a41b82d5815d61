"""The mention record (CONTRACT §1): one immutable value per post that links to a monitored domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

KINDS = frozenset({"post", "comment", "reply", "quote", "article", "question", "answer", "issue"})
LINK_SOURCES = frozenset({"text", "facet", "embed", "card", "url_field"})
METRIC_NAMES = ("likes", "reposts", "replies", "quotes", "score", "views")
ENGAGEMENT_METRICS = ("likes", "reposts", "replies", "quotes", "score")


class RecordError(ValueError):
    """A payload could not be turned into a valid record."""


def reach(views: int | None, followers: int | None, community_size: int | None) -> int | None:
    """A post's estimated audience (CONTRACT §1): its views when the platform counts them (X impressions, a
    wiki article's page views), else its author's followers, else its community's members; None when none is
    known."""
    if views is not None:
        return views
    if followers is not None:
        return followers
    return community_size


def raw_json(payload: Any) -> str:
    """A payload as compact JSON text for ``Mention.raw`` (orjson: this runs once per post read)."""
    return orjson.dumps(payload).decode()


def utc(value: datetime) -> datetime:
    """Return ``value`` as a timezone-aware UTC datetime; naive values are rejected."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise RecordError(f"timestamp {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


def from_timestamp(seconds: float) -> datetime:
    """A UTC datetime from a Unix timestamp in seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset) into UTC; a missing offset means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"not an ISO 8601 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_utc(value: datetime | None) -> str:
    """ISO 8601 UTC with a ``Z`` and whole seconds (``2026-11-17T09:15:02Z``); empty for None."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Link:
    """A link found in a post.

    Connectors fill ``url``, ``source`` and ``anchor_text``; the poller's matcher fills ``canonical_url``
    and ``domain`` (the monitored domain it matched) and drops links to other sites.
    """

    url: str
    source: str = "text"
    anchor_text: str | None = None
    canonical_url: str | None = None
    domain: str | None = None

    def __post_init__(self) -> None:
        if self.source not in LINK_SOURCES:
            raise RecordError(f"link source {self.source!r} is not one of {sorted(LINK_SOURCES)}")


@dataclass(frozen=True, slots=True)
class Metrics:
    """Engagement counters as the platform gives them; None means unknown, never 0."""

    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    score: int | None = None
    views: int | None = None

    @property
    def engagement(self) -> int | None:
        """Sum of the known likes, reposts, replies, quotes and score; None when all are unknown."""
        known = [
            v for v in (self.likes, self.reposts, self.replies, self.quotes, self.score) if v is not None
        ]
        return sum(known) if known else None

    def as_tuple(self) -> tuple[int | None, ...]:
        return (self.likes, self.reposts, self.replies, self.quotes, self.score, self.views)

    def merged_over(self, older: Metrics) -> Metrics:
        """These metrics, with values this observation did not give taken from ``older``."""
        return Metrics(
            *(
                new if new is not None else old
                for new, old in zip(self.as_tuple(), older.as_tuple(), strict=True)
            )
        )

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in self.as_tuple())


@dataclass(frozen=True, kw_only=True)
class Mention:
    """One post (or comment) that links to a monitored domain, keyed by ``(platform, platform_id)``.

    ``raw`` is the original payload as received, as JSON text. ``first_seen_at``, ``last_seen_at``,
    ``deleted_at`` and ``value`` are set by the store; connectors leave them empty.

    Not slotted, unlike the small records: every post read is copied once with its matched links
    (:meth:`with_links`), and copying an instance dict is one call where slots take one per field.
    """

    platform: str
    platform_id: str
    kind: str
    permalink: str
    created_at: datetime
    author_id: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    author_followers: int | None = None
    community: str | None = None
    community_size: int | None = None
    """Members or subscribers of ``community`` when the platform gives them (for reach and value)."""
    title: str | None = None
    text: str | None = None
    lang: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    links: tuple[Link, ...] = ()
    metrics: Metrics = field(default_factory=Metrics)
    raw: str | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    deleted_at: datetime | None = None
    value: int | None = None
    """How much the link is worth to the linked site, 0-100; set by the tracker, None until rated."""

    def __post_init__(self) -> None:
        if not self.platform or not self.platform_id:
            raise RecordError("a mention needs a platform and a platform_id")
        if self.kind not in KINDS:
            raise RecordError(f"kind {self.kind!r} is not one of {sorted(KINDS)}")
        if not self.permalink.startswith("https://"):
            raise RecordError(f"permalink {self.permalink!r} is not an https URL")
        object.__setattr__(self, "created_at", utc(self.created_at))
        if not isinstance(self.links, tuple):
            object.__setattr__(self, "links", tuple(self.links))

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.platform_id)

    @property
    def engagement(self) -> int | None:
        return self.metrics.engagement

    @property
    def reach(self) -> int | None:
        return reach(self.metrics.views, self.author_followers, self.community_size)

    def with_links(self, links: tuple[Link, ...]) -> Mention:
        """A copy with other links (already validated, so without running the checks again)."""
        copy = object.__new__(Mention)
        state = copy.__dict__
        state.update(self.__dict__)
        state["links"] = tuple(links)
        return copy

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready values (CONTRACT §1; export's jsonl line)."""
        return {
            "platform": self.platform,
            "platform_id": self.platform_id,
            "kind": self.kind,
            "permalink": self.permalink,
            "created_at": format_utc(self.created_at),
            "first_seen_at": format_utc(self.first_seen_at) or None,
            "last_seen_at": format_utc(self.last_seen_at) or None,
            "author_id": self.author_id,
            "author_handle": self.author_handle,
            "author_name": self.author_name,
            "author_followers": self.author_followers,
            "community": self.community,
            "community_size": self.community_size,
            "title": self.title,
            "text": self.text,
            "lang": self.lang,
            "thread_id": self.thread_id,
            "parent_id": self.parent_id,
            "links": [
                {
                    "url": link.url,
                    "canonical_url": link.canonical_url,
                    "domain": link.domain,
                    "anchor_text": link.anchor_text,
                    "source": link.source,
                }
                for link in self.links
            ],
            "likes": self.metrics.likes,
            "reposts": self.metrics.reposts,
            "replies": self.metrics.replies,
            "quotes": self.metrics.quotes,
            "score": self.metrics.score,
            "views": self.metrics.views,
            "engagement": self.engagement,
            "reach": self.reach,
            "value": self.value,
            "deleted_at": format_utc(self.deleted_at) or None,
            "raw": self.raw,
        }
