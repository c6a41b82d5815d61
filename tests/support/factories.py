"""Small builders for records in tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tracker.record import Link, Mention, Metrics


def mention(
    platform_id: str = "1",
    *,
    platform: str = "hackernews",
    url: str = "https://example.com/page",
    created_at: datetime | None = None,
    metrics: Metrics | None = None,
    **fields: Any,
) -> Mention:
    """A mention with one link to ``url`` (not yet matched unless ``canonical`` is given)."""
    links = fields.pop("links", (Link(url, "text", "a page"),))
    return Mention(
        platform=platform,
        platform_id=platform_id,
        kind=fields.pop("kind", "post"),
        permalink=fields.pop("permalink", f"https://news.ycombinator.com/item?id={platform_id}"),
        created_at=created_at or datetime(2026, 11, 16, 12, 0, tzinfo=UTC),
        links=links,
        metrics=metrics or Metrics(),
        **fields,
    )


def matched(m: Mention, domain: str = "example.com") -> Mention:
    """``m`` with its links matched as the poller would."""
    from tracker.urls import canonical_url

    return m.with_links(
        tuple(Link(k.url, k.source, k.anchor_text, canonical_url(k.url), domain) for k in m.links)
    )
