"""What both Bluesky connectors read from the AppView: authors' profiles (cached) and posts (refresh).

Each connector passes its own way of calling an XRPC query: the Jetstream connector GETs the public AppView
with httpx, the search connector goes through its logged-in atproto client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from connectors.bluesky.posts import PLATFORM, post_view_mention
from tracker.connector import Author, AuthorCache, Page, Usage
from tracker.errors import AuthError, ConnectorError
from tracker.record import Mention, RecordError

GET_PROFILES = "app.bsky.actor.getProfiles"
GET_POSTS = "app.bsky.feed.getPosts"
BATCH = 25  # both methods take at most 25 actors or uris
log = logging.getLogger("tracker.connectors.bluesky")

Query = Callable[[str, Mapping[str, Any]], Any]
"""Calls an XRPC query ``(nsid, params)`` and returns the decoded JSON; raises ConnectorError."""


class Profiles:
    """Handles, display names and follower counts by DID: from the cache while fresh, else ``getProfiles``.

    A lookup that fails leaves the authors unknown (the posts are not held back) and pauses lookups for
    ``pause`` seconds, so a broken AppView does not slow every page down. Accounts the AppView does not
    know are cached as unknown too, so they are not asked for again until ``ttl`` has passed.
    """

    def __init__(
        self,
        query: Query,
        cache: AuthorCache,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        *,
        ttl: timedelta,
        log: logging.Logger,
        pause: float = 60.0,
    ) -> None:
        self._query = query
        self._cache = cache
        self._clock = clock
        self._monotonic = monotonic
        self._ttl = ttl
        self._log = log
        self._pause = pause
        self._paused_until = 0.0

    def resolve(self, dids: Sequence[str]) -> dict[str, Author]:
        """The authors of these DIDs as far as known; looks up the ones missing or stale, 25 at a time."""
        wanted = list(dict.fromkeys(dids))
        if not wanted:
            return {}
        now = self._clock()
        cached = self._cache.get_many(PLATFORM, wanted)
        stale = [d for d in wanted if d not in cached or (cached[d].fetched_at or now) <= now - self._ttl]
        if not stale or self._monotonic() < self._paused_until:
            return cached
        found: dict[str, Author] = {}
        for start in range(0, len(stale), BATCH):
            chunk = stale[start : start + BATCH]
            try:
                answer = self._query(GET_PROFILES, {"actors": chunk})
            except (ConnectorError, AuthError) as exc:
                self._log.warning(
                    "could not look up Bluesky profiles (authors stay unknown for now): %s", exc
                )
                self._paused_until = self._monotonic() + self._pause
                break
            profiles = answer.get("profiles") if isinstance(answer, dict) else None
            for profile in profiles if isinstance(profiles, list) else ():
                author = _profile_author(profile, now)
                if author is not None:
                    found[author.author_id] = author
            for did in chunk:  # not on the AppView (deleted, taken down): unknown, asked again after the ttl
                found.setdefault(did, Author(PLATFORM, did, fetched_at=now))
        if found:
            self._cache.put_many(list(found.values()))
        return {**cached, **found}


def _profile_author(profile: Any, now: datetime) -> Author | None:
    if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
        return None
    handle, name, followers = profile.get("handle"), profile.get("displayName"), profile.get("followersCount")
    return Author(
        PLATFORM,
        profile["did"],
        handle if isinstance(handle, str) and handle and handle != "handle.invalid" else None,
        name.strip() or None if isinstance(name, str) else None,
        followers if type(followers) is int and followers >= 0 else None,
        now,
    )


def refresh_pages(
    platform_ids: Sequence[str],
    query: Query,
    clock: Callable[[], datetime],
    usage: Callable[[int], Usage],
    profiles: Profiles | None = None,
) -> Iterator[Page]:
    """Engagement refresh through ``getPosts``, 25 posts a call.

    A post missing from the answer is marked deleted only when its author's account is still there
    (``getProfiles``): the AppView also leaves out the posts of deactivated, suspended or taken-down accounts,
    which may come back, and marking a post deleted erases its text for good. An answer without a ``posts``
    (or ``profiles``) list raises ConnectorError, so a broken AppView never marks posts deleted.
    """
    ids = list(dict.fromkeys(platform_ids))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        answer = query(GET_POSTS, {"uris": chunk})
        posts = answer.get("posts") if isinstance(answer, dict) else None
        if not isinstance(posts, list):
            raise ConnectorError(f"{GET_POSTS} answered without a posts list; the API may have changed")
        views = [view for view in posts if isinstance(view, dict)]
        mentions, problems = post_view_mentions(views, clock(), profiles)
        returned = {view.get("uri") for view in views}
        missing = [uri for uri in chunk if uri not in returned]
        deleted = _confirmed_deleted(missing, query) if missing else []
        if len(deleted) < len(missing):
            log.info(
                "%d post(s) not shown because their account is deactivated, suspended or gone (perhaps only for "
                "now); kept as they were",
                len(missing) - len(deleted),
            )
        yield Page(
            "refresh",
            mentions,
            usage=usage(len(views)),
            deleted=deleted,
            skipped=len(problems),
            problems=problems,
        )


def _author_did(uri: str) -> str | None:
    """The repository (author) of an ``at://<did>/<collection>/<rkey>`` URI."""
    if not uri.startswith("at://did:"):
        return None
    return uri[len("at://") :].split("/", 1)[0]


def _confirmed_deleted(missing: Sequence[str], query: Query) -> list[str]:
    """The posts of ``missing`` whose author's account still answers: those were deleted."""
    dids = sorted({did for uri in missing if (did := _author_did(uri)) is not None})
    active: set[Any] = set()
    for start in range(0, len(dids), BATCH):
        answer = query(GET_PROFILES, {"actors": dids[start : start + BATCH]})
        found = answer.get("profiles") if isinstance(answer, dict) else None
        if not isinstance(found, list):
            raise ConnectorError(f"{GET_PROFILES} answered without a profiles list; the API may have changed")
        active.update(profile.get("did") for profile in found if isinstance(profile, dict))
    return [uri for uri in missing if _author_did(uri) in active]


def post_view_mentions(
    views: Sequence[Mapping[str, Any]], now: datetime, profiles: Profiles | None
) -> tuple[list[Mention], list[str]]:
    """Post views as mentions, with the authors' follower counts when ``profiles`` can tell; and problems."""
    authors: dict[str, Author] = {}
    if profiles is not None:
        dids = [author.get("did") for view in views if isinstance(author := view.get("author"), dict)]
        authors = profiles.resolve([did for did in dids if isinstance(did, str)])
    mentions: list[Mention] = []
    problems: list[str] = []
    for view in views:
        try:
            author = view.get("author")
            did = author.get("did") if isinstance(author, dict) else None
            mentions.append(post_view_mention(view, now, authors.get(did) if isinstance(did, str) else None))
        except (RecordError, ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"Bluesky post {view.get('uri')!r}: {type(exc).__name__}: {exc}")
    return mentions, problems
