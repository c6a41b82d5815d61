"""Writing one page: mentions (upserted), links, snapshots, deletions, gaps, run usage, the cursor and the
connector's state changes, in the caller's transaction. Each mention's ``reach`` is kept from its stored
values and its ``value`` rated from them (:mod:`tracker.value`) whenever they change, and the ``pages`` and ``author_firsts`` tables learn when each page was first linked and each author
first seen.

This is the ingest hot path, so it talks to the database driver directly (precomputed SQL, executemany,
values already in the driver's types) instead of through SQLAlchemy's expression layer; on PostgreSQL the
statements of a page are pipelined, so a page costs three round trips instead of ten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tracker import outbox as alerts
from tracker.connector import LEVEL_COUNTERS, Cursor, Gap, Page
from tracker.record import METRIC_NAMES, Mention, Metrics, reach
from tracker.refresh import next_refresh_due
from tracker.sql import Driver
from tracker.value import Rating, Signals, rate

CHUNK = 500  # ids per IN (...) list
AUTHOR_FIELDS = ("author_handle", "author_name", "author_followers")
NEW_MENTION_COLUMNS = (
    "platform", "platform_id", "kind", "permalink", "created_at", "first_seen_at", "last_seen_at", "author_id",
    "author_handle", "author_name", "author_followers", "community", "title", "text", "lang", "thread_id",
    "parent_id", "likes", "reposts", "replies", "quotes", "score", "views", "engagement", "deleted_at", "raw",
    "content_hash", "found_by", "refresh_due_at", "community_size", "reach", "value", "value_why",
)  # fmt: skip
EXISTING_COLUMNS = (
    "id", "platform_id", "content_hash", "deleted_at", *METRIC_NAMES, *AUTHOR_FIELDS, "community_size",
)  # fmt: skip
LINK_COLUMNS = ("mention_id", "position", "url", "canonical_url", "domain", "anchor_text", "source")
SNAPSHOT_COLUMNS = ("mention_id", "taken_at", *METRIC_NAMES)
_VIEWS, _FOLLOWERS = METRIC_NAMES.index("views"), AUTHOR_FIELDS.index("author_followers")
_UPDATED_COLUMNS = (
    "last_seen_at", "engagement", *METRIC_NAMES, *AUTHOR_FIELDS, "community_size", "reach", "value", "value_why",
)  # fmt: skip

_INSERT_MENTION = (
    f"INSERT INTO mentions ({', '.join(NEW_MENTION_COLUMNS)}) VALUES ({', '.join(['?'] * len(NEW_MENTION_COLUMNS))}) "
    "ON CONFLICT (platform, platform_id) DO NOTHING"
)
_INSERT_MENTIONS_PREFIX = f"INSERT INTO mentions ({', '.join(NEW_MENTION_COLUMNS)}) VALUES "
_INSERT_MENTIONS_SUFFIX = (
    " ON CONFLICT (platform, platform_id) DO NOTHING RETURNING platform, platform_id, id"
)
_ROWS_PER_INSERT = 100  # 3,200 parameters, well within SQLite's limit of 32,766
_INSERT_LINK = (
    f"INSERT INTO links ({', '.join(LINK_COLUMNS)}) VALUES ({', '.join(['?'] * len(LINK_COLUMNS))})"
)
_INSERT_SNAPSHOT = f"INSERT INTO metric_snapshots ({', '.join(SNAPSHOT_COLUMNS)}) VALUES ({', '.join(['?'] * len(SNAPSHOT_COLUMNS))})"
_UPDATE_SEEN = f"UPDATE mentions SET {', '.join(f'{c} = ?' for c in _UPDATED_COLUMNS)} WHERE id = ?"
# An earlier post linking a page (a backfill, a late find) moves its first-linked time back, never forward.
_FIRST_LINKED = (
    "INSERT INTO pages (canonical_url, domain, first_linked_at) VALUES (?, ?, ?) ON CONFLICT (canonical_url) "
    "DO UPDATE SET first_linked_at = excluded.first_linked_at, domain = excluded.domain "
    "WHERE excluded.first_linked_at < pages.first_linked_at"
)
_FIRST_MENTION = (
    "INSERT INTO author_firsts (platform, author_key, first_mention_at) VALUES (?, ?, ?) "
    "ON CONFLICT (platform, author_key) DO UPDATE SET first_mention_at = excluded.first_mention_at "
    "WHERE excluded.first_mention_at < author_firsts.first_mention_at"
)
_UPDATE_CONTENT = "UPDATE mentions SET title = ?, text = ?, content_hash = ? WHERE id = ?"
_COUNT_RUN = (
    "UPDATE connector_runs SET pages = pages + ?, fetched = fetched + ?, new = new + ?, updated = updated + ?, "
    "deleted = deleted + ?, skipped = skipped + ?, requests = requests + ?, items_read = items_read + ?, "
    "cost_usd = cost_usd + ? WHERE id = ?"
)
_SAVE_CURSOR = (
    "INSERT INTO cursors (connector, source_key, version, state, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (connector, source_key) DO UPDATE SET version = excluded.version, state = excluded.state, "
    "updated_at = excluded.updated_at"
)
_SAVE_STATE = (
    "INSERT INTO connector_state (connector, key, value, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (connector, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
_DELETE_STATE = "DELETE FROM connector_state WHERE connector = ? AND key = ?"
_RECORD_GAP = (
    "INSERT INTO coverage_gaps (connector, source_key, gap_start, gap_end, reason, detected_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What storing one page changed."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


def content_hash(mention: Mention) -> str:
    """A digest of what may be edited in a post: title, text and its links."""
    parts = [mention.title or "", mention.text or ""]
    for link in mention.links:
        parts.extend(
            (link.url, link.canonical_url or "", link.domain or "", link.anchor_text or "", link.source)
        )
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def write_page(
    conn: Connection,
    dialect: str,
    *,
    connector: str,
    platform: str,
    run_id: int | None,
    page: Page,
    mentions_to_store: Sequence[Mention],
    now: datetime,
    refresh_kinds: frozenset[str] = frozenset(),
    refresh_every: timedelta | None = None,
    state: Mapping[str, str | None] | None = None,
    outbox: alerts.Outbox | None = None,
) -> WriteResult:
    """Store a page in the transaction of ``conn``: mentions, deletions, gaps, usage, cursor and state, and
    (``outbox`` given) the alert events they cause.

    New mentions of ``refresh_kinds`` (the kinds the connector can look up again) are put on the
    engagement-refresh schedule. Restored mentions are live again before they are compared with what is
    stored. ``state`` holds the connector's state changes (JSON text; None deletes)."""
    driver = Driver(conn, dialect)
    with driver.batched():
        revived = _restore(driver, mentions_to_store, page.restored) if page.restored else set()
        result = _upsert_mentions(
            driver, connector, mentions_to_store, now, refresh_kinds, refresh_every, revived, outbox
        )
        deleted = _mark_deleted(driver, platform, page.deleted, now, outbox) if page.deleted else 0
        for gap in page.gaps:
            _record_gap(driver, connector, gap, now)
        if run_id is not None:
            count_run(driver, run_id, page, result, deleted)
        if page.cursor is not None:
            _save_cursor(driver, connector, page.source_key, page.cursor, now)
        if state:
            save_state(driver, connector, state, now)
    driver.cursor.close()
    return WriteResult(result.new, result.updated, result.unchanged, deleted)


def _upsert_mentions(
    driver: Driver,
    connector: str,
    batch: Sequence[Mention],
    now: datetime,
    refresh_kinds: frozenset[str],
    refresh_every: timedelta | None,
    revived: AbstractSet[int] = frozenset(),
    outbox: alerts.Outbox | None = None,
) -> WriteResult:
    if not batch:
        return WriteResult()
    by_key: dict[tuple[str, str], Mention] = {}
    for mention in batch:  # a page may repeat a post; the last copy wins
        by_key[mention.key] = mention
    existing = _existing(driver, by_key.keys())
    hashes = {key: content_hash(mention) for key, mention in by_key.items()}
    seen = driver.when(now)
    new_rows = [
        _mention_values(driver, m, hashes[k], connector, now, seen, m.kind in refresh_kinds, refresh_every)
        for k, m in by_key.items()
        if k not in existing
    ]
    new = 0
    if new_rows:
        inserted = _insert_new(driver, new_rows)
        new = len(inserted)
        _insert_links(driver, [(inserted[key], by_key[key]) for key in inserted])
        _insert_snapshots(driver, [(inserted[key], by_key[key].metrics) for key in inserted], now)
        if (
            outbox is not None
        ):  # before _note_firsts: a page not in ``pages`` yet is linked for the first time
            alerts.note_new(driver, outbox, [(inserted[key], by_key[key]) for key in inserted], now)
        _note_firsts(driver, [by_key[key] for key in inserted], authors=True)
        if len(inserted) < len(new_rows):  # another writer stored some first: treat them as seen again
            existing.update(_existing(driver, [k for k in by_key if k not in existing and k not in inserted]))
    updated, unchanged = _update_seen(driver, by_key, existing, hashes, now, revived, outbox)
    return WriteResult(new=new, updated=updated, unchanged=unchanged)


def _in_list(count: int) -> str:
    return ", ".join(["?"] * count)


def _existing(driver: Driver, keys: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored state of the mentions with these keys (what an update compares against)."""
    by_platform: dict[str, list[str]] = {}
    for platform, platform_id in keys:
        by_platform.setdefault(platform, []).append(platform_id)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for platform, ids in by_platform.items():
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            query = (
                f"SELECT {', '.join(EXISTING_COLUMNS)} FROM mentions "
                f"WHERE platform = ? AND platform_id IN ({_in_list(len(chunk))})"
            )
            for values in driver.rows(query, (platform, *chunk)):
                row = dict(zip(EXISTING_COLUMNS, values, strict=True))
                row["metrics"] = tuple(
                    values[4 : 4 + len(METRIC_NAMES)]
                )  # compared as a whole, see _update_seen
                row["authors"] = tuple(
                    values[4 + len(METRIC_NAMES) : 4 + len(METRIC_NAMES) + len(AUTHOR_FIELDS)]
                )
                found[(platform, row["platform_id"])] = row
    return found


def _mention_values(
    driver: Driver,
    mention: Mention,
    digest: str,
    connector: str,
    now: datetime,
    seen: Any,
    refreshed: bool,
    every: timedelta | None = None,
) -> tuple[Any, ...]:
    """A new mention's row; ``seen`` is ``now`` as the driver stores it (first and last seen)."""
    metrics = mention.metrics
    rating = rating_of(mention, mention.reach, metrics.engagement, mention.community_size, now)
    return (
        mention.platform, mention.platform_id, mention.kind, mention.permalink, driver.when(mention.created_at),
        seen, seen, mention.author_id, mention.author_handle, mention.author_name, mention.author_followers,
        mention.community, mention.title, mention.text, mention.lang, mention.thread_id, mention.parent_id,
        metrics.likes, metrics.reposts, metrics.replies, metrics.quotes, metrics.score, metrics.views,
        metrics.engagement, None, mention.raw, digest, connector,
        driver.when(next_refresh_due(mention.created_at, now, every)) if refreshed else None,
        mention.community_size, mention.reach, rating.value, rating.why(),
    )  # fmt: skip


def rating_of(
    mention: Mention, audience: int | None, engagement: int | None, community_size: int | None, now: datetime
) -> Rating:
    """The value of ``mention`` with these stored figures, its engagement measured ``now``
    (:mod:`tracker.value`); the anchor text is its first link's, the one the report shows."""
    anchor = mention.links[0].anchor_text if mention.links else None
    return rate(
        Signals(
            platform=mention.platform, kind=mention.kind, reach=audience, engagement=engagement,
            community_size=community_size, created_at=mention.created_at, observed_at=now, anchor_text=anchor,
        )
    )  # fmt: skip


def _insert_new(driver: Driver, rows: list[tuple[Any, ...]]) -> dict[tuple[str, str], int]:
    """Insert new mentions; returns the ids of those this transaction inserted."""
    inserted: dict[tuple[str, str], int] = {}
    if driver.postgres:
        driver.cursor.executemany(
            driver.sql(_INSERT_MENTION + " RETURNING platform, platform_id, id"), rows, returning=True
        )
        while True:
            for platform, platform_id, mention_id in driver.cursor.fetchall():
                inserted[(platform, platform_id)] = mention_id
            if not driver.cursor.nextset():
                return inserted
    # SQLite: executemany cannot return rows, so a few rows go in each INSERT ... VALUES (...), (...) RETURNING.
    cursor = driver.cursor
    values = f"({_in_list(len(NEW_MENTION_COLUMNS))})"
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        cursor.execute(
            _INSERT_MENTIONS_PREFIX + ", ".join([values] * len(chunk)) + _INSERT_MENTIONS_SUFFIX,
            [value for row in chunk for value in row],
        )
        for platform, platform_id, mention_id in cursor.fetchall():  # missing: another writer stored it first
            inserted[(platform, platform_id)] = mention_id
    return inserted


def _insert_links(driver: Driver, items: Sequence[tuple[int, Mention]]) -> None:
    rows = [
        (
            mention_id,
            position,
            link.url,
            link.canonical_url or link.url,
            link.domain or "",
            link.anchor_text,
            link.source,
        )
        for mention_id, mention in items
        for position, link in enumerate(mention.links)
    ]
    driver.many(_INSERT_LINK, rows)


def _note_firsts(driver: Driver, items: Sequence[Mention], *, authors: bool) -> None:
    """Tell ``pages`` (and ``author_firsts``) about these mentions' links (and authors). One row per page or
    author, in key order, so two writers lock rows in the same order."""
    linked: dict[str, tuple[str, datetime]] = {}
    for mention in items:
        for link in mention.links:
            url = link.canonical_url or link.url
            known = linked.get(url)
            if known is None or mention.created_at < known[1]:
                linked[url] = (link.domain or "", mention.created_at)
    driver.many(
        _FIRST_LINKED, [(url, domain, driver.when(at)) for url, (domain, at) in sorted(linked.items())]
    )
    if not authors:
        return
    seen: dict[tuple[str, str], datetime] = {}
    for mention in items:
        author = mention.author_id or mention.author_handle
        if author is None:
            continue
        key = (mention.platform, author)
        known_at = seen.get(key)
        if known_at is None or mention.created_at < known_at:
            seen[key] = mention.created_at
    driver.many(_FIRST_MENTION, [(*key, driver.when(at)) for key, at in sorted(seen.items())])


def _insert_snapshots(driver: Driver, items: Sequence[tuple[int, Metrics]], now: datetime) -> None:
    taken = driver.when(now)
    driver.many(
        _INSERT_SNAPSHOT,
        [(mention_id, taken, *metrics.as_tuple()) for mention_id, metrics in items if not metrics.is_empty],
    )


def _update_seen(
    driver: Driver,
    by_key: Mapping[tuple[str, str], Mention],
    existing: Mapping[tuple[str, str], Mapping[str, Any]],
    hashes: Mapping[tuple[str, str], str],
    now: datetime,
    revived: AbstractSet[int] = frozenset(),
    outbox: alerts.Outbox | None = None,
) -> tuple[int, int]:
    """Posts seen again: new metrics (and a snapshot) when they changed, edits, else only ``last_seen_at``;
    a ``revived`` (restored) one counts as updated."""
    changed_rows: list[tuple[Any, ...]] = []
    unchanged_ids: list[int] = []
    snapshots: list[tuple[int, Metrics]] = []
    edited: list[tuple[int, Mention, str]] = []
    engagement_changes: list[tuple[int, int | None, int | None]] = []
    seen = driver.when(now)
    for key, row in existing.items():
        mention = by_key[key]
        stored: tuple[Any, ...] = row["metrics"]
        observed = mention.metrics.as_tuple()
        merged = stored
        if observed != stored:  # values this observation did not give keep their stored ones
            merged = tuple(new if new is not None else old for new, old in zip(observed, stored, strict=True))
        metrics_changed = merged != stored
        if metrics_changed:
            snapshots.append((row["id"], Metrics(*merged)))
        authors = (mention.author_handle, mention.author_name, mention.author_followers)
        stored_authors: tuple[Any, ...] = row["authors"]
        authors_changed = authors != stored_authors and any(
            new is not None and new != old for new, old in zip(authors, stored_authors, strict=True)
        )
        size = mention.community_size
        size_changed = size is not None and size != row["community_size"]
        content_changed = row["deleted_at"] is None and row["content_hash"] != hashes[key]
        if content_changed:
            edited.append((row["id"], mention, hashes[key]))
        if not (
            metrics_changed or authors_changed or size_changed or content_changed or row["id"] in revived
        ):
            unchanged_ids.append(row["id"])
            continue
        kept_authors: list[Any] = [
            new if new is not None else old for new, old in zip(authors, stored_authors, strict=True)
        ]
        kept_size = size if size is not None else row["community_size"]
        engagement = Metrics(*merged).engagement
        if outbox is not None and metrics_changed:
            engagement_changes.append((row["id"], Metrics(*stored).engagement, engagement))
        audience = reach(merged[_VIEWS], kept_authors[_FOLLOWERS], kept_size)
        rating = rating_of(mention, audience, engagement, kept_size, now)
        changed_rows.append(
            (
                seen,
                engagement,
                *merged,
                *kept_authors,
                kept_size,
                audience,
                rating.value,
                rating.why(),
                row["id"],
            )
        )
    driver.many(_UPDATE_SEEN, changed_rows)
    for start in range(0, len(unchanged_ids), CHUNK):  # seen again, nothing new: one statement
        chunk = unchanged_ids[start : start + CHUNK]
        driver.run(
            f"UPDATE mentions SET last_seen_at = ? WHERE id IN ({_in_list(len(chunk))})", (seen, *chunk)
        )
    _insert_snapshots(driver, snapshots, now)
    if outbox is not None and engagement_changes:
        alerts.note_engagement(driver, outbox, engagement_changes, now)
    if edited:
        _store_edits(driver, edited, now, outbox)
    return len(changed_rows), len(unchanged_ids)


def _store_edits(
    driver: Driver, edited: Sequence[tuple[int, Mention, str]], now: datetime, outbox: alerts.Outbox | None
) -> None:
    """Posts whose text changed: the new text and links (an alert for links an edit removed)."""
    before = alerts.links_before_edit(driver, outbox, [i for i, _, _ in edited]) if outbox else {}
    driver.many(_UPDATE_CONTENT, [(m.title, m.text, digest, mention_id) for mention_id, m, digest in edited])
    ids = [mention_id for mention_id, _, _ in edited]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        driver.run(f"DELETE FROM links WHERE mention_id IN ({_in_list(len(chunk))})", chunk)
    _insert_links(driver, [(mention_id, mention) for mention_id, mention, _ in edited])
    if outbox is not None:
        if before:
            alerts.note_lost_links(driver, outbox, before, [(i, m) for i, m, _ in edited], now)
        alerts.note_first_links_of_edits(driver, outbox, [(i, m) for i, m, _ in edited], now)
    _note_firsts(driver, [mention for _, mention, _ in edited], authors=False)


def _restore(driver: Driver, batch: Sequence[Mention], platform_ids: Sequence[str]) -> set[int]:
    """Make the deleted mentions of ``batch`` whose ids are in ``platform_ids`` live again, with their text and
    raw payload back; returns the row ids of those that were deleted."""
    wanted = set(platform_ids)
    by_key = {mention.key: mention for mention in batch if mention.platform_id in wanted}
    rows = []
    for key, row in _existing(driver, by_key.keys()).items():
        if row["deleted_at"] is not None:
            rows.append((by_key[key].text, by_key[key].raw, row["id"]))
    driver.many("UPDATE mentions SET deleted_at = NULL, text = ?, raw = ? WHERE id = ?", rows)
    return {row_id for _, _, row_id in rows}


def _mark_deleted(
    driver: Driver,
    platform: str,
    platform_ids: Sequence[str],
    now: datetime,
    outbox: alerts.Outbox | None = None,
) -> int:
    """Mark stored mentions deleted, erasing their text and raw payload; returns how many."""
    ids = list(platform_ids)
    existing = _existing(driver, [(platform, platform_id) for platform_id in ids])
    live = [row["id"] for row in existing.values() if row["deleted_at"] is None]
    for start in range(0, len(live), CHUNK):
        chunk = live[start : start + CHUNK]
        driver.run(
            f"UPDATE mentions SET deleted_at = ?, text = NULL, raw = NULL WHERE id IN ({_in_list(len(chunk))})",
            (driver.when(now), *chunk),
        )
    if outbox is not None:
        alerts.note_deleted(driver, outbox, live, now)
    return len(live)


def _record_gap(driver: Driver, connector: str, gap: Gap, now: datetime) -> None:
    driver.run(
        _RECORD_GAP,
        (
            connector,
            gap.source_key,
            driver.when(gap.start),
            driver.when(gap.end),
            gap.reason,
            driver.when(now),
        ),
    )


def count_run(
    driver: Driver, run_id: int, page: Page, result: WriteResult, deleted: int, pages: int = 1
) -> None:
    """Add a page's counts and usage to its run."""
    usage = page.usage
    driver.run(
        _COUNT_RUN,
        (pages, len(page.mentions), result.new, result.updated, deleted, page.skipped,
         usage.requests, usage.items_read, usage.cost_usd, run_id),
    )  # fmt: skip
    if usage.counters:
        (stored,) = driver.rows("SELECT counters FROM connector_runs WHERE id = ?", (run_id,))[0]
        counters = json.loads(stored or "{}")
        for key, value in usage.counters.items():
            counters[key] = value if key in LEVEL_COUNTERS else counters.get(key, 0) + value
        driver.run(
            "UPDATE connector_runs SET counters = ? WHERE id = ?",
            (json.dumps(counters, sort_keys=True), run_id),
        )
    if page.problems:
        driver.run("UPDATE connector_runs SET error = ? WHERE id = ?", (page.problems[-1], run_id))


def _save_cursor(driver: Driver, connector: str, source_key: str, cursor: Cursor, now: datetime) -> None:
    state = json.dumps(cursor.state, sort_keys=True, separators=(",", ":"))
    driver.run(_SAVE_CURSOR, (connector, source_key, cursor.version, state, driver.when(now)))


def save_state(driver: Driver, connector: str, changes: Mapping[str, str | None], now: datetime) -> None:
    """Store a connector's state changes: JSON text per key, None to delete the key."""
    stamp = driver.when(now)
    driver.many(
        _SAVE_STATE, [(connector, key, value, stamp) for key, value in changes.items() if value is not None]
    )
    driver.many(_DELETE_STATE, [(connector, key) for key, value in changes.items() if value is None])
