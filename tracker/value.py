"""A link's value (CONTRACT §1 ``value``): 0-100, how much one mention is worth to the linked site.

Pure functions, no I/O: the page writer rates each mention when it is stored and again whenever its metrics,
author or community change (every engagement refresh that saw something new), and stores the value with the
components that carried it, so reports read both and never recompute them.

The value is the sum of seven components, each a share (0-1) of its weight (the README's table):

| component | source | weight |
|---|---|---|
| reach | the post's audience (``reach``), log scale, 1M = full | 25 |
| engagement | likes + reposts + replies + quotes + score, log scale, 10,000 = full | 20 |
| permanence | how long the platform keeps a post findable and indexed (:data:`PERMANENCE`) | 20 |
| velocity | engagement per hour between posting and the latest snapshot, log scale, 1,000/h = full | 10 |
| community | members of the community it was posted in, log scale, 1M = full | 10 |
| position | the link is in the post itself (1), in an answer (0.8) or in a reply/comment (0.4) | 10 |
| anchor | descriptive anchor text (1), one word (0.5), generic ("here", 0.2), a bare URL or none (0) | 5 |
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import datetime

WEIGHTS: dict[str, int] = {
    "reach": 25,
    "engagement": 20,
    "permanence": 20,
    "velocity": 10,
    "community": 10,
    "position": 10,
    "anchor": 5,
}

# How long a platform keeps a post findable, and whether search engines index it: a wiki article or a Q&A
# answer outlives a post in a fast timeline.
PERMANENCE: dict[str, float] = {
    "wikipedia": 1.0,
    "stackexchange": 0.9,
    "github": 0.8,
    "hackernews": 0.7,
    "reddit": 0.6,
    "lobsters": 0.6,
    "lemmy": 0.4,
    "mastodon": 0.3,
    "bluesky": 0.3,
    "x": 0.2,
}
UNKNOWN_PERMANENCE = 0.4  # a platform of a third-party connector

POSITION: dict[str, float] = {
    "post": 1.0, "article": 1.0, "question": 1.0, "issue": 1.0,
    "answer": 0.8,
    "comment": 0.4, "reply": 0.4, "quote": 0.4,
}  # fmt: skip

# Decades of each log scale: a value of 10**FULL_AT[name] (or more) gives the whole weight.
FULL_AT: dict[str, float] = {"reach": 6, "engagement": 4, "velocity": 3, "community": 6}
_REACH_DECADES, _ENGAGEMENT_DECADES = FULL_AT["reach"], FULL_AT["engagement"]
_VELOCITY_DECADES, _COMMUNITY_DECADES = FULL_AT["velocity"], FULL_AT["community"]

GENERIC_ANCHORS = frozenset(
    {
        "here", "click here", "link", "this link", "this", "source", "website", "site", "page", "this page",
        "read more", "more", "article", "blog", "post", "see here", "details", "docs", "url",
    }
)  # fmt: skip
_URLISH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)|^[^\s/]+\.[a-z]{2,}(?:[/:?#]\S*)?$", re.IGNORECASE)

LABELS: dict[str, str] = {
    "reach": "audience",
    "engagement": "engagement",
    "permanence": "lasting platform",
    "velocity": "fast engagement",
    "community": "large community",
    "position": "in the post itself",
    "anchor": "descriptive anchor",
}


@dataclass(frozen=True, slots=True)
class Signals:
    """What the tracker knows about a mention that bears on its value."""

    platform: str
    kind: str
    reach: int | None = None
    engagement: int | None = None
    community_size: int | None = None
    created_at: datetime | None = None
    observed_at: datetime | None = None
    """When the engagement was measured (the latest snapshot)."""
    anchor_text: str | None = None


@dataclass(frozen=True, slots=True)
class Rating:
    """A value and its components' points (``(name, points)``, largest first)."""

    value: int
    parts: tuple[tuple[str, float], ...]

    def why(self, count: int = 3) -> str:
        """The components that carried the value, largest first: ``"audience 21, lasting platform 14"``."""
        return _why(tuple((name, round(points)) for name, points in self.parts[:count]))


@functools.lru_cache(maxsize=4096)
def _why(parts: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{LABELS[name]} {points}" for name, points in parts if points >= 1)


def log_share(amount: float | None, decades: float) -> float:
    """``log10(1 + amount) / decades``, capped at 1; 0 for unknown or negative amounts."""
    if amount is None or amount <= 0:
        return 0.0
    share = math.log10(1.0 + amount) / decades
    return share if share < 1.0 else 1.0


@functools.lru_cache(maxsize=4096)  # anchors repeat (card titles, the same words): ingest rates each mention
def anchor_specificity(anchor: str | None) -> float:
    """1 for descriptive anchor text, 0.5 for a single word, 0.2 for a generic one, 0 for none or a URL."""
    if not anchor:
        return 0.0
    text = " ".join(anchor.split()).strip(" .:!?\"'()[]<>-").lower()
    if not text or _URLISH.search(text):
        return 0.0
    if text in GENERIC_ANCHORS:
        return 0.2
    return 1.0 if " " in text else 0.5


def velocity(
    engagement: int | None, created_at: datetime | None, observed_at: datetime | None
) -> float | None:
    """Engagement per hour between posting and ``observed_at`` (at least one hour); None when unknown."""
    if engagement is None or created_at is None or observed_at is None:
        return None
    hours = (observed_at - created_at).total_seconds() / 3600.0
    return engagement / (hours if hours > 1.0 else 1.0)


def shares(signals: Signals) -> tuple[tuple[str, float], ...]:
    """Each component's share (0-1) of its weight, in the order of :data:`WEIGHTS`."""
    return (
        ("reach", log_share(signals.reach, _REACH_DECADES)),
        ("engagement", log_share(signals.engagement, _ENGAGEMENT_DECADES)),
        ("permanence", PERMANENCE.get(signals.platform, UNKNOWN_PERMANENCE)),
        (
            "velocity",
            log_share(
                velocity(signals.engagement, signals.created_at, signals.observed_at), _VELOCITY_DECADES
            ),
        ),
        ("community", log_share(signals.community_size, _COMMUNITY_DECADES)),
        ("position", POSITION.get(signals.kind, 0.4)),
        ("anchor", anchor_specificity(signals.anchor_text)),
    )


def _points(item: tuple[str, float]) -> tuple[float, str]:
    return (-item[1], item[0])


def rate(signals: Signals) -> Rating:
    """The value (0-100) of a mention and the points each component gave."""
    points = [(name, WEIGHTS[name] * share) for name, share in shares(signals)]
    total = round(sum(point for _, point in points))
    return Rating(0 if total < 0 else 100 if total > 100 else total, tuple(sorted(points, key=_points)))
