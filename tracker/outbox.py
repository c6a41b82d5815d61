"""The alert outbox (CONTRACT §6): alert events decided in the transaction of the data that caused them.

The page writer calls the ``note_*`` functions with its :class:`~tracker.sql.Driver` while it stores a page, the
store calls :func:`note_run` when it records the end of a run, and the page checker calls
:func:`record_page_broken` with its own transaction. Each event is one ``alert_events`` row; a unique
``dedupe_key`` makes the same fact, decided twice (two writers, a page read again after a crash), one event.
Only own domains get events: competitors never alert. The sender (:mod:`tracker.delivery`) routes events to
the rules and their channels later; a crash before the commit loses the page and its events together.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tracker.health import overdue_after
from tracker.record import Mention
from tracker.sql import Driver

RECENT = timedelta(days=7)
"""A new mention created longer ago than this (a backfill, a late find) is stored without alerts."""
COMMUNITY_QUIET = timedelta(weeks=12)
"""A community is new when no mention from it linked the domain in this long before."""
DOWN_AFTER_FAILURES = 3  # as `tracker status`: failed runs in a row, with no success for a while
_CHUNK = 500
_INSERT = (
    "INSERT INTO alert_events (event, dedupe_key, domain, platform, mention_id, connector, payload, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING"
)

WAKE = threading.Event()
"""Set after a transaction that wrote events commits, so the sender in this process delivers them at once."""


@dataclass(frozen=True)
class Outbox:
    """What to decide while storing: the own domains, the events some rule wants and the engagement
    thresholds of the rules; ``intervals`` (connector: polling interval) say when a connector counts as down."""

    own_domains: frozenset[str]
    events: frozenset[str]
    thresholds: tuple[int, ...] = ()
    intervals: Mapping[str, timedelta] = field(default_factory=dict)

    def wants(self, event: str) -> bool:
        return event in self.events


@dataclass
class Decided:
    """Events of one transaction, written by :meth:`flush` (one statement)."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def add(
        self,
        driver: Driver,
        event: str,
        key: str,
        now: datetime,
        *,
        domain: str | None = None,
        platform: str | None = None,
        mention_id: int | None = None,
        connector: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        self.rows.append(
            (event, f"{event}|{key}"[:2048], domain, platform, mention_id, connector,
             json.dumps(payload or {}, sort_keys=True, ensure_ascii=False), driver.when(now))
        )  # fmt: skip

    def flush(self, driver: Driver) -> int:
        driver.many(_INSERT, self.rows)
        written, self.rows = len(self.rows), []
        if written:
            WAKE.set()  # early is harmless: the sender finds nothing until the commit
        return written


def _key(mention: Mention) -> str:
    return f"{mention.platform}:{mention.platform_id}"


def _own_links(outbox: Outbox, mention: Mention) -> list[tuple[str, str, str | None]]:
    """(domain, canonical url, anchor text) of the mention's links to own domains, each page once."""
    seen: dict[str, tuple[str, str, str | None]] = {}
    for link in mention.links:
        if link.domain in outbox.own_domains:
            url = link.canonical_url or link.url
            seen.setdefault(url, (link.domain, url, link.anchor_text))
    return list(seen.values())


def _in(count: int) -> str:
    return ", ".join(["?"] * count)


def note_new(driver: Driver, outbox: Outbox, items: Sequence[tuple[int, Mention]], now: datetime) -> None:
    """Events of newly stored mentions: new_mention, first_link_to_page, new_community and engagement_over
    (found already past a threshold). Called before ``pages`` learns of their links."""
    recent = [
        (mid, m, links)
        for mid, m in items
        if m.created_at >= now - RECENT and (links := _own_links(outbox, m))
    ]
    if not recent:
        return
    decided = Decided()
    if outbox.wants("new_mention"):
        for mid, mention, links in recent:
            for domain in dict.fromkeys(domain for domain, _, _ in links):
                decided.add(driver, "new_mention", f"{_key(mention)}|{domain}", now, domain=domain,
                            platform=mention.platform, mention_id=mid)  # fmt: skip
    if outbox.wants("first_link_to_page"):
        _first_links(driver, decided, recent, now)
    if outbox.wants("new_community"):
        _new_communities(driver, decided, recent, now)
    if outbox.wants("engagement_over"):
        for mid, mention, links in recent:
            _crossed(driver, decided, outbox, mid, mention.platform, _key(mention), links, None,
                     mention.engagement, now)  # fmt: skip
    decided.flush(driver)


def note_first_links_of_edits(
    driver: Driver, outbox: Outbox, items: Sequence[tuple[int, Mention]], now: datetime
) -> None:
    """first_link_to_page for pages an edit links for the first time ever (a wiki article that gains a
    citation, an edited post). Called before ``pages`` learns of the edited posts' links."""
    if not outbox.wants("first_link_to_page"):
        return
    edited = [(mid, m, links) for mid, m in items if (links := _own_links(outbox, m))]
    if edited:
        decided = Decided()
        _first_links(driver, decided, edited, now)
        decided.flush(driver)


def _first_links(
    driver: Driver,
    decided: Decided,
    items: Sequence[tuple[int, Mention, list[tuple[str, str, str | None]]]],
    now: datetime,
) -> None:
    """first_link_to_page for each own page of ``items`` that ``pages`` does not know yet, by the earliest post."""
    urls = sorted({url for _, _, links in items for _, url, _ in links})
    known: set[str] = set()
    for start in range(0, len(urls), _CHUNK):
        chunk = urls[start : start + _CHUNK]
        known.update(row[0] for row in driver.rows(
            f"SELECT canonical_url FROM pages WHERE canonical_url IN ({_in(len(chunk))})", chunk))  # fmt: skip
    for mid, mention, links in sorted(items, key=lambda item: item[1].created_at):
        for domain, url, anchor in links:
            if url not in known:
                known.add(url)
                decided.add(driver, "first_link_to_page", url, now, domain=domain, platform=mention.platform,
                            mention_id=mid, payload={"page": url, "anchor_text": anchor})  # fmt: skip


def _new_communities(
    driver: Driver,
    decided: Decided,
    recent: Sequence[tuple[int, Mention, list[tuple[str, str, str | None]]]],
    now: datetime,
) -> None:
    ids = [mid for mid, _, _ in recent]
    first: dict[tuple[str, str, str], tuple[int, Mention]] = {}
    for mid, mention, links in sorted(recent, key=lambda item: item[1].created_at):
        if mention.community:
            for domain, _, _ in links:
                first.setdefault((mention.platform, mention.community, domain), (mid, mention))
    for (platform, community, domain), (mid, mention) in sorted(first.items()):
        since = driver.when(mention.created_at - COMMUNITY_QUIET)
        query = (
            "SELECT 1 FROM mentions m JOIN links l ON l.mention_id = m.id WHERE m.platform = ? AND "
            f"m.community = ? AND m.created_at >= ? AND l.domain = ? AND m.id NOT IN ({_in(len(ids))}) LIMIT 1"
        )
        if not driver.rows(query, (platform, community, since, domain, *ids)):
            decided.add(driver, "new_community", f"{platform}|{community}|{domain}|{_key(mention)}", now,
                        domain=domain, platform=platform, mention_id=mid,
                        payload={"community": community})  # fmt: skip


def _crossed(
    driver: Driver,
    decided: Decided,
    outbox: Outbox,
    mention_id: int,
    platform: str,
    key: str,
    links: Iterable[tuple[str, str, str | None]],
    before: int | None,
    after: int | None,
    now: datetime,
) -> None:
    if after is None:
        return
    for threshold in outbox.thresholds:
        if (before or 0) < threshold <= after:
            for domain in dict.fromkeys(domain for domain, _, _ in links):
                decided.add(driver, "engagement_over", f"{key}|{domain}|{threshold}", now, domain=domain,
                            platform=platform, mention_id=mention_id,
                            payload={"threshold": threshold, "engagement": after})  # fmt: skip


def _stored_links(
    driver: Driver, outbox: Outbox, ids: Sequence[int]
) -> dict[int, tuple[str, str, list[tuple[str, str, str | None]]]]:
    """platform, platform_id and own links of stored mentions, by row id."""
    found: dict[int, tuple[str, str, list[tuple[str, str, str | None]]]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        query = (
            "SELECT m.id, m.platform, m.platform_id, l.domain, l.canonical_url, l.anchor_text FROM mentions m "
            f"LEFT JOIN links l ON l.mention_id = m.id WHERE m.id IN ({_in(len(chunk))}) ORDER BY m.id, l.position"
        )
        for mid, platform, platform_id, domain, url, anchor in driver.rows(query, chunk):
            entry = found.setdefault(mid, (platform, platform_id, []))
            if domain in outbox.own_domains and all(url != known for _, known, _ in entry[2]):
                entry[2].append((domain, url, anchor))
    return found


def note_engagement(
    driver: Driver, outbox: Outbox, changes: Sequence[tuple[int, int | None, int | None]], now: datetime
) -> None:
    """engagement_over for stored mentions whose engagement went from ``before`` to ``after`` past a
    threshold (``changes``: row id, before, after)."""
    if not outbox.wants("engagement_over") or not outbox.thresholds:
        return
    crossing = [
        (mid, before, after)
        for mid, before, after in changes
        if after is not None and any((before or 0) < t <= after for t in outbox.thresholds)
    ]
    if not crossing:
        return
    stored = _stored_links(driver, outbox, [mid for mid, _, _ in crossing])
    decided = Decided()
    for mid, before, after in crossing:
        if mid in stored:
            platform, platform_id, links = stored[mid]
            _crossed(
                driver, decided, outbox, mid, platform, f"{platform}:{platform_id}", links, before, after, now
            )
    decided.flush(driver)


def note_deleted(driver: Driver, outbox: Outbox, ids: Sequence[int], now: datetime) -> None:
    """deleted: these stored mentions were just marked deleted (one event per own domain they linked)."""
    if not outbox.wants("deleted") or not ids:
        return
    decided = Decided()
    for mid, (platform, platform_id, links) in _stored_links(driver, outbox, ids).items():
        for domain in dict.fromkeys(domain for domain, _, _ in links):
            decided.add(driver, "deleted", f"{platform}:{platform_id}|{domain}|{now.isoformat()}", now,
                        domain=domain, platform=platform, mention_id=mid,
                        payload={"lost_pages": [url for d, url, _ in links if d == domain]})  # fmt: skip
    decided.flush(driver)


def links_before_edit(
    driver: Driver, outbox: Outbox, ids: Sequence[int]
) -> dict[int, tuple[str, str, list[tuple[str, str, str | None]]]]:
    """The own links of mentions about to be rewritten by an edit (see :func:`note_lost_links`)."""
    if not outbox.wants("deleted") or not ids:
        return {}
    return _stored_links(driver, outbox, ids)


def note_lost_links(
    driver: Driver,
    outbox: Outbox,
    before: Mapping[int, tuple[str, str, list[tuple[str, str, str | None]]]],
    after: Sequence[tuple[int, Mention]],
    now: datetime,
) -> None:
    """deleted (a lost link): an edit removed a post's link to an own page, e.g. a wiki article's citation."""
    decided = Decided()
    for mid, mention in after:
        if mid not in before:
            continue
        platform, platform_id, old = before[mid]
        kept = {url for _, url, _ in _own_links(outbox, mention)}
        for domain, url, anchor in old:
            if url not in kept:
                decided.add(driver, "deleted", f"{platform}:{platform_id}|{url}|{now.isoformat()}", now,
                            domain=domain, platform=platform, mention_id=mid,
                            payload={"lost_link": True, "page": url, "anchor_text": anchor})  # fmt: skip
    decided.flush(driver)


def note_run(
    driver: Driver, outbox: Outbox, connector: str, status: str, error: str | None, now: datetime
) -> None:
    """connector_down when a poll or stream run ends with the connector down (failed runs in a row and no
    success for a while, as `tracker status` says), connector_recovered at its next successful run."""
    if not outbox.wants("connector_down") or status == "interrupted":
        return
    last = driver.rows(
        "SELECT event FROM alert_events WHERE connector = ? AND event IN ('connector_down', 'connector_recovered') "
        "ORDER BY id DESC LIMIT 1",
        (connector,),
    )
    down = bool(last) and last[0][0] == "connector_down"
    decided = Decided()
    if status == "ok" and down:
        decided.add(driver, "connector_recovered", f"{connector}|{now.isoformat()}", now, connector=connector)
    elif status in ("failed", "aborted") and not down:
        runs = driver.rows(
            "SELECT status, started_at FROM connector_runs WHERE connector = ? AND kind IN ('poll', 'stream') "
            "AND status NOT IN ('running', 'interrupted') ORDER BY started_at DESC, id DESC LIMIT ?",
            (connector, 50),
        )
        failures = 0
        for run_status, _ in runs:
            if run_status not in ("failed", "aborted"):
                break
            failures += 1
        success = driver.rows(
            "SELECT MAX(started_at) FROM connector_runs WHERE connector = ? AND status = 'ok'", (connector,)
        )[0][0]
        interval = outbox.intervals.get(connector, timedelta(minutes=10))
        stale = success is None or success < driver.when(now - overdue_after(interval))
        if failures >= DOWN_AFTER_FAILURES and stale:
            decided.add(driver, "connector_down", f"{connector}|{now.isoformat()}", now, connector=connector,
                        payload={"failures": failures, "error": error})  # fmt: skip
    decided.flush(driver)


def record_page_broken(
    conn: Connection,
    dialect: str,
    outbox: Outbox | None,
    *,
    canonical_url: str,
    domain: str,
    now: datetime,
    status: int | None = None,
    problem: str | None = None,
    final_url: str | None = None,
) -> bool:
    """page_broken, in the caller's transaction (the page checker stores its check result with it): an own
    page answered 4xx/5xx (``status``) or no longer resolves (``problem``). Call it when a page goes from fine
    to broken, not on every check of a broken page. True when an event was written (False: no rule wants it,
    or the domain is not an own one)."""
    if outbox is None or not outbox.wants("page_broken") or domain not in outbox.own_domains:
        return False
    driver = Driver(conn, dialect)
    decided = Decided()
    decided.add(driver, "page_broken", f"{canonical_url}|{now.isoformat()}", now, domain=domain,
                payload={"page": canonical_url, "status": status, "problem": problem, "final_url": final_url})  # fmt: skip
    decided.flush(driver)
    driver.cursor.close()
    return True


def for_rules(
    own_domains: Iterable[str], rules: Iterable[Any], intervals: Mapping[str, timedelta] | None = None
) -> Outbox | None:
    """The outbox for ``[[alerts]]`` rules (:class:`tracker.settings.AlertSettings`); None without rules."""
    rules = list(rules)
    if not rules:
        return None
    return Outbox(
        own_domains=frozenset(own_domains),
        events=frozenset(event for rule in rules for event in rule.on),
        thresholds=tuple(sorted({rule.engagement_over for rule in rules if "engagement_over" in rule.on})),
        intervals=dict(intervals or {}),
    )
