"""Subreddit sizes (subscribers) for the mentions' ``community_size``, which their reach falls back on.

A post's listing payload carries its subreddit's ``subreddit_subscribers``; a comment's does not, so the
connector looks those subreddits up (``/api/info?sr_name=``, a hundred a request), at most once a day per
subreddit. What it learned is kept in memory for the connector's lifetime: the daemon keeps one connector
per job, so a day's passes share it; a fresh process asks again once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tracker.record import Mention

FRESH_FOR = timedelta(days=1)
RETRY_AFTER = timedelta(hours=1)  # after a failed lookup
PER_REQUEST = 100  # /api/info takes up to a hundred names


def subreddit_of(community: str | None) -> str | None:
    """``python`` for ``r/python``; None for anything else."""
    if community is None or not community.startswith("r/"):
        return None
    return community[2:].lower() or None


class SubredditSizes:
    """Subscriber counts by subreddit (lower-case name), each with when it was learned."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._sizes: dict[str, tuple[int | None, datetime]] = {}

    def learn(self, name: str, subscribers: int | None) -> None:
        """Remember a subreddit's size (None: the lookup failed, try again after a while)."""
        self._sizes[name.lower()] = (subscribers, self._clock())

    def learn_from(self, mentions: Iterable[Mention]) -> None:
        """Remember the sizes posts carried (free with the listing)."""
        for mention in mentions:
            name = subreddit_of(mention.community)
            if name is not None and mention.community_size is not None:
                self.learn(name, mention.community_size)

    def due(self, mentions: Iterable[Mention]) -> list[str]:
        """Subreddits of these comments whose size is unknown or older than a day, sorted. (Posts are left
        out: Reddit gives their subreddit's size with them.)"""
        now = self._clock()
        wanted = set()
        for mention in mentions:
            name = subreddit_of(mention.community)
            if name is None or mention.community_size is not None or mention.kind != "comment":
                continue
            known = self._sizes.get(name)
            if known is None or now - known[1] >= (FRESH_FOR if known[0] is not None else RETRY_AFTER):
                wanted.add(name)
        return sorted(wanted)

    def apply(self, mentions: Sequence[Mention]) -> list[Mention]:
        """The mentions, each without a size given the size known for its subreddit."""
        filled = []
        for mention in mentions:
            name = subreddit_of(mention.community)
            known = self._sizes.get(name) if name is not None and mention.community_size is None else None
            size = known[0] if known is not None else None
            filled.append(mention if size is None else replace(mention, community_size=size))
        return filled


def sizes_from_listing(payloads: Iterable[Any]) -> dict[str, int]:
    """``{name: subscribers}`` from the ``t5`` things of an ``/api/info?sr_name=`` answer."""
    found = {}
    for payload in payloads:
        data = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(data, Mapping) or payload.get("kind") != "t5":
            continue
        name, subscribers = data.get("display_name"), data.get("subscribers")
        if isinstance(name, str) and isinstance(subscribers, int) and not isinstance(subscribers, bool):
            found[name.lower()] = subscribers
    return found
