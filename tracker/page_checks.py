"""The stored page checks (``page_checks`` table): which linked own pages are due, each check's outcome, and
the figures `tracker status` and `tracker pages` show.

:func:`record_check` is the one place a page's outcome is stored, so it is where a page goes from OK (or not
checked yet) to broken: it says so (``became_broken``) and writes the alert event for it (CONTRACT §6
``page_broken``) in the transaction that stores the check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from tracker.outbox import Outbox, record_page_broken
from tracker.page_probe import PageCheck
from tracker.schema import page_checks, pages
from tracker.sql import upsert_insert


@dataclass(frozen=True, slots=True)
class DuePage:
    canonical_url: str
    domain: str


@dataclass(frozen=True, slots=True)
class Progress:
    """How far page checks are: linked own pages, those checked within the interval, those broken, those
    whose last check got no answer (or was refused), and the latest check."""

    linked: int
    checked: int
    broken: int
    failed: int
    last_checked_at: datetime | None

    @property
    def due(self) -> int:
        return self.linked - self.checked


def due_pages(
    conn: Connection, domains: Sequence[str], now: datetime, interval: timedelta, limit: int
) -> list[DuePage]:
    """Linked pages of ``domains`` never checked, or checked ``interval`` ago or longer: the never-checked
    first, then the longest ago."""
    cutoff = now - interval
    query = (
        select(pages.c.canonical_url, pages.c.domain)
        .select_from(pages.outerjoin(page_checks, page_checks.c.canonical_url == pages.c.canonical_url))
        .where(
            pages.c.domain.in_(list(domains)),
            or_(page_checks.c.checked_at.is_(None), page_checks.c.checked_at <= cutoff),
        )
        .order_by(
            page_checks.c.checked_at.is_not(None), page_checks.c.checked_at, pages.c.first_linked_at.desc()
        )
        .limit(limit)
    )
    return [DuePage(url, domain) for url, domain in conn.execute(query)]


def record_check(
    engine: Engine, check: PageCheck, domain: str, now: datetime, outbox: Outbox | None = None
) -> bool:
    """Store ``check`` as the page's latest, in one transaction; True when it is broken and the check before
    was not (or there was none): the page just broke, and the alert event for it (``page_broken``, when a rule
    of ``outbox`` wants it) is written in the same transaction."""
    values = {
        "canonical_url": check.url, "domain": domain, "checked_at": now, "status": check.status,
        "final_url": check.final_url, "redirects": json.dumps([hop.to_dict() for hop in check.redirects]),
        "noindex": check.noindex, "canonical_tag": check.canonical_tag, "title": check.title,
        "error": check.error, "broken": check.broken,
    }  # fmt: skip
    statement = upsert_insert(engine.dialect.name, page_checks).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["canonical_url"], set_={k: v for k, v in values.items() if k != "canonical_url"}
    )
    with engine.begin() as conn:
        before = conn.execute(
            select(page_checks.c.broken).where(page_checks.c.canonical_url == check.url)
        ).scalar_one_or_none()
        conn.execute(statement)
        became_broken = check.broken and not before
        if became_broken:
            record_page_broken(
                conn, engine.dialect.name, outbox, canonical_url=check.url, domain=domain, now=now,
                status=check.status, problem=check.error, final_url=check.final_url,
            )  # fmt: skip
    return bool(became_broken)


def progress(conn: Connection, domains: Sequence[str], now: datetime, interval: timedelta) -> Progress:
    cutoff = now - interval
    joined = pages.outerjoin(page_checks, page_checks.c.canonical_url == pages.c.canonical_url)
    checked = and_(page_checks.c.checked_at.is_not(None), page_checks.c.checked_at > cutoff)
    row = conn.execute(
        select(
            func.count(),
            func.count(page_checks.c.checked_at).filter(checked),
            func.count(page_checks.c.checked_at).filter(page_checks.c.broken.is_(True)),
            func.count(page_checks.c.checked_at).filter(  # a page not asked is not broken, nor unanswered
                page_checks.c.status.is_(None), page_checks.c.broken.is_(True)
            ),
            func.max(page_checks.c.checked_at),
        )
        .select_from(joined)
        .where(pages.c.domain.in_(list(domains)))
    ).one()
    last = row[4]
    if isinstance(last, str):  # SQLite's max() of the stored text
        from tracker.record import parse_iso

        last = parse_iso(last)
    return Progress(int(row[0]), int(row[1]), int(row[2]), int(row[3]), last)


def checked_pages(
    conn: Connection, domains: Sequence[str], *, broken_only: bool = False
) -> list[dict[str, Any]]:
    """The checked pages of ``domains`` with their latest check, broken ones first, then by URL."""
    query = select(page_checks).where(page_checks.c.domain.in_(list(domains)))
    if broken_only:
        query = query.where(page_checks.c.broken.is_(True))
    query = query.order_by(page_checks.c.broken.desc(), page_checks.c.canonical_url)
    found = []
    for row in conn.execute(query):
        item = dict(row._mapping)
        item["redirects"] = json.loads(item["redirects"] or "[]")
        found.append(item)
    return found
