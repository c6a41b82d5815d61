"""The store's side of short links, in the caller's transaction: the cache of resolved short links and the
posts waiting for theirs.

A post whose links may lead to us only through short links not resolved yet is queued here in the same
transaction as the page (and its cursor) that brought it, so a crash loses nothing; once its short links are
resolved, it is stored as a mention (with its own ``created_at``) or dropped, and leaves the queue in that
same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, or_, select

from tracker.record import Link, Mention, Metrics
from tracker.schema import short_links, waiting_mentions
from tracker.shortlinks import Resolution

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Waiting:
    """A queued post: the mention as its connector gave it, and the short links it waits for."""

    id: int
    connector: str
    mention: Mention
    short_urls: frozenset[str]
    refresh_kinds: frozenset[str]


def encode_mention(mention: Mention) -> str:
    """A mention as JSON text, every field kept (times with their microseconds)."""
    data: dict[str, Any] = {}
    for item in fields(Mention):
        value = getattr(mention, item.name)
        if isinstance(value, datetime):
            value = {"$time": value.isoformat()}
        elif item.name == "links":
            value = [[link.url, link.source, link.anchor_text] for link in value]
        elif item.name == "metrics":
            value = list(value.as_tuple())
        data[item.name] = value
    return orjson.dumps(data).decode()


def decode_mention(text: str) -> Mention:
    data = orjson.loads(text)
    for name, value in data.items():
        if isinstance(value, dict) and "$time" in value:
            data[name] = datetime.fromisoformat(value["$time"])
    data["links"] = tuple(Link(url, source, anchor) for url, source, anchor in data.get("links", ()))
    data["metrics"] = Metrics(*data.get("metrics", ()))
    return Mention(**data)


def known(conn: Connection, urls: Collection[str], now: datetime) -> dict[str, str | None]:
    """The short links among ``urls`` whose outcome is known: the target, or None for a failed lookup not
    due to be tried again yet."""
    found: dict[str, str | None] = {}
    listed = list(urls)
    for start in range(0, len(listed), _CHUNK):
        query = select(short_links.c.url, short_links.c.target).where(
            short_links.c.url.in_(listed[start : start + _CHUNK]),
            or_(short_links.c.target.is_not(None), short_links.c.retry_at > now),
        )
        for url, target in conn.execute(query):
            found[url] = target
    return found


def remember(conn: Connection, resolution: Resolution) -> None:
    """Keep what a lookup found (replacing an older, failed one)."""
    conn.execute(delete(short_links).where(short_links.c.url == resolution.url))
    conn.execute(
        short_links.insert().values(
            url=resolution.url,
            target=resolution.target,
            error=resolution.error,
            requests=resolution.requests,
            resolved_at=resolution.resolved_at,
            retry_at=resolution.retry_at,
        )
    )


def queue(
    conn: Connection,
    connector: str,
    items: Sequence[tuple[Mention, Collection[str]]],
    refresh_kinds: frozenset[str],
    now: datetime,
) -> None:
    """Queue posts with the short links they wait for; a post queued already is replaced by this copy, keeping
    its place in the queue."""
    kinds = json.dumps(sorted(refresh_kinds))
    for mention, urls in items:
        key = (
            waiting_mentions.c.platform == mention.platform,
            waiting_mentions.c.platform_id == mention.platform_id,
        )
        queued = conn.execute(select(waiting_mentions.c.queued_at).where(*key)).scalar()
        if queued is not None:
            conn.execute(delete(waiting_mentions).where(*key))
        conn.execute(
            waiting_mentions.insert().values(
                connector=connector,
                platform=mention.platform,
                platform_id=mention.platform_id,
                mention=encode_mention(mention),
                short_urls=json.dumps(sorted(urls)),
                refresh_kinds=kinds,
                queued_at=queued or now,
            )
        )


def forget(conn: Connection, platform: str, platform_ids: Sequence[str]) -> None:
    """Take posts the platform reported deleted off the queue."""
    for start in range(0, len(platform_ids), _CHUNK):
        conn.execute(
            delete(waiting_mentions).where(
                waiting_mentions.c.platform == platform,
                waiting_mentions.c.platform_id.in_(platform_ids[start : start + _CHUNK]),
            )
        )


def oldest(conn: Connection, limit: int) -> list[Waiting]:
    """The posts queued longest, at most ``limit``."""
    query = (
        select(waiting_mentions).order_by(waiting_mentions.c.queued_at, waiting_mentions.c.id).limit(limit)
    )
    rows = []
    for row in conn.execute(query).mappings():
        kinds = row["refresh_kinds"]
        rows.append(
            Waiting(
                row["id"],
                row["connector"],
                decode_mention(row["mention"]),
                frozenset(json.loads(row["short_urls"])),
                frozenset(json.loads(kinds)) if kinds else frozenset(),
            )
        )
    return rows


def done(conn: Connection, ids: Iterable[int]) -> None:
    """Take these posts off the queue."""
    listed = list(ids)
    for start in range(0, len(listed), _CHUNK):
        conn.execute(
            delete(waiting_mentions).where(waiting_mentions.c.id.in_(listed[start : start + _CHUNK]))
        )


def counts(conn: Connection, since: datetime) -> Mapping[str, int]:
    """For `tracker status`: posts waiting, and since ``since`` the lookups and their requests."""
    waiting = conn.execute(select(func.count()).select_from(waiting_mentions)).scalar() or 0
    resolved, failed, requests = conn.execute(
        select(
            func.count(short_links.c.target),
            func.count() - func.count(short_links.c.target),
            func.coalesce(func.sum(short_links.c.requests), 0),
        ).where(short_links.c.resolved_at >= since)
    ).one()
    return {
        "waiting": int(waiting),
        "resolved": int(resolved),
        "failed": int(failed),
        "requests": int(requests),
    }
