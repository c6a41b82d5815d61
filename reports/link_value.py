"""The report's link value and page health: the week's most valuable links (each with the components that
carried its value, stored at ingest), each page's summed value, the latest check of each page linked, and
the linked pages that need attention (broken, redirected, noindex, or naming another canonical URL).

Values and checks are read as stored (``mentions.value``/``value_why``, ``page_checks``), never recomputed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from reports.queries import Scope, chunks, marks, query_rows, utc_series
from reports.text import readable, shorten
from tracker.page_probe import page_problems

TOP_LINKS = 20
ATTENTION_LIMIT = 50
_LIVE_IN_WEEK = "m.created_at >= ? AND m.created_at < ? AND m.deleted_at IS NULL"
VALUABLE_COLUMNS = [
    "platform", "kind", "permalink", "created_at", "author_handle", "community", "title", "text", "value",
    "value_why", "engagement", "reach", "canonical_url", "anchor_text",
]  # fmt: skip
CHECK_COLUMNS = [
    "status",
    "final_url",
    "redirects",
    "noindex",
    "canonical_tag",
    "checked_at",
    "title",
    "error",
]
PROBLEM_LABELS = {
    "broken": "broken",
    "redirect": "redirects",
    "noindex": "noindex",
    "canonical": "names another canonical URL",
}


def most_valuable(
    conn: Connection, dialect: str, scope: Scope, start: datetime, end: datetime, limit: int = TOP_LINKS
) -> pd.DataFrame:
    """The week's ``limit`` mentions of the highest value (then engagement, then newest), each with its first
    link in scope and why it scored so."""
    condition, params = scope.mentions()
    rows = query_rows(
        conn, dialect,
        "SELECT m.id, m.platform, m.kind, m.permalink, m.created_at, m.author_handle, m.community, m.title, "
        f"m.text, m.value, m.value_why, m.engagement, m.reach FROM mentions m WHERE {_LIVE_IN_WEEK}{condition} "
        "AND m.value IS NOT NULL ORDER BY m.value DESC, COALESCE(m.engagement, -1) DESC, m.created_at DESC, m.id "
        f"LIMIT {int(limit)}",
        (start, end, *params),
    )  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=VALUABLE_COLUMNS)
    ids = [int(row[0]) for row in rows]
    link_condition, link_params = scope.links()
    first: dict[int, tuple[str, str | None]] = {}
    for row in query_rows(
        conn, dialect,
        f"SELECT l.mention_id, l.canonical_url, l.anchor_text FROM links l WHERE l.mention_id IN ({marks(len(ids))})"
        f"{link_condition} ORDER BY l.mention_id, l.position",
        (*ids, *link_params),
    ):  # fmt: skip
        first.setdefault(int(row[0]), (row[1], row[2]))
    records = [(*row[1:], *first.get(int(row[0]), (None, None))) for row in rows]
    frame = pd.DataFrame.from_records(records, columns=VALUABLE_COLUMNS)
    frame["created_at"] = utc_series(frame["created_at"])
    return frame


def latest_checks(conn: Connection, dialect: str, urls: Sequence[str]) -> pd.DataFrame:
    """The latest check of each of these pages that has one, indexed by canonical URL."""
    found: list[tuple[Any, ...]] = []
    for chunk in chunks(urls):
        found += query_rows(
            conn, dialect,
            f"SELECT canonical_url, domain, {', '.join(CHECK_COLUMNS)}, broken FROM page_checks "
            f"WHERE canonical_url IN ({marks(len(chunk))})",
            chunk,
        )  # fmt: skip
    columns = ["canonical_url", "domain", *CHECK_COLUMNS, "broken"]
    problems = []
    for row in found:
        item = dict(zip(columns, row, strict=True))
        problems.append(
            page_problems(bool(item["broken"]), json.loads(item["redirects"] or "[]"), bool(item["noindex"]),
                          item["canonical_tag"], item["final_url"])
        )  # fmt: skip
    frame = pd.DataFrame.from_records(found, columns=columns)
    frame["checked_at"] = (
        utc_series(frame["checked_at"]) if len(frame) else pd.Series(dtype="datetime64[ns, UTC]")
    )
    frame["redirects"] = [json.loads(text or "[]") for text in frame["redirects"]]
    frame["noindex"] = [bool(value) for value in frame["noindex"]]
    frame["broken"] = [bool(value) for value in frame["broken"]]
    frame["problems"] = problems
    return frame.set_index("canonical_url")


def redirect_chain(hops: Any) -> str:
    """A redirect chain as one cell: ``301 https://a/b; 302 https://c/d``; empty without redirects."""
    if not isinstance(hops, list):
        return ""
    return "; ".join(f"{hop['status']} {hop['location']}" for hop in hops)


def with_checks(pages: pd.DataFrame, checks: pd.DataFrame) -> pd.DataFrame:
    """``pages`` (one row per canonical URL) with the columns of its latest check (empty when unchecked):
    pages.csv's ``status, final_url, redirects, noindex, canonical_tag, checked_at``."""
    if not len(pages):
        return pages.assign(**{name: pd.Series(dtype=object) for name in CHECK_COLUMNS})
    known = checks.reindex(pages["canonical_url"].astype(str))
    merged = pages.copy()
    merged["status"] = pd.array(known["status"].tolist(), dtype="Int64")
    merged["final_url"] = known["final_url"].tolist()
    merged["redirects"] = [redirect_chain(hops) for hops in known["redirects"].tolist()]
    merged["noindex"] = [
        "" if pd.isna(when) else ("true" if flag else "false")
        for flag, when in zip(known["noindex"].tolist(), known["checked_at"].tolist(), strict=True)
    ]
    merged["canonical_tag"] = known["canonical_tag"].tolist()
    merged["checked_at"] = pd.to_datetime(known["checked_at"].tolist(), utc=True)
    merged["problems"] = [p if isinstance(p, tuple) else () for p in known["problems"].tolist()]
    return merged


def needing_attention(
    conn: Connection, dialect: str, domains: Sequence[str], limit: int = ATTENTION_LIMIT
) -> pd.DataFrame:
    """Checked pages of ``domains`` that are broken, redirect, are noindex or name another canonical URL:
    links to them are wasted. With every (live) mention that links each and their summed value, highest
    value first."""
    columns = ["canonical_url", "domain", "mentions", "value", "status", "final_url", "redirects", "noindex",
               "canonical_tag", "checked_at", "error", "problems"]  # fmt: skip
    if not domains:
        return pd.DataFrame(columns=columns)
    candidates = query_rows(
        conn, dialect,
        "SELECT canonical_url FROM page_checks WHERE domain IN "
        f"({marks(len(domains))}) AND (broken = ? OR redirects <> '[]' OR noindex = ? OR canonical_tag IS NOT NULL)",
        (*domains, True, True),
    )  # fmt: skip
    checks = latest_checks(conn, dialect, [str(url) for (url,) in candidates])
    checks = checks[[bool(problems) for problems in checks["problems"]]] if len(checks) else checks
    if not len(checks):
        return pd.DataFrame(columns=columns)
    totals: dict[str, tuple[int, int]] = {}
    urls = list(checks.index)
    for chunk in chunks(urls):
        for url, count, total in query_rows(
            conn, dialect,
            "SELECT d.canonical_url, COUNT(*), COALESCE(SUM(m.value), 0) FROM (SELECT DISTINCT mention_id, "
            f"canonical_url FROM links WHERE canonical_url IN ({marks(len(chunk))})) d JOIN mentions m "
            "ON m.id = d.mention_id WHERE m.deleted_at IS NULL GROUP BY d.canonical_url",
            chunk,
        ):  # fmt: skip
            totals[str(url)] = (int(count), int(total))
    frame = checks.reset_index()
    frame["mentions"] = [totals.get(url, (0, 0))[0] for url in frame["canonical_url"]]
    frame["value"] = [totals.get(url, (0, 0))[1] for url in frame["canonical_url"]]
    frame = frame.sort_values(["value", "mentions", "canonical_url"], ascending=[False, False, True])
    return frame[columns].head(limit).reset_index(drop=True)


def problem_text(problems: Sequence[str]) -> str:
    return ", ".join(PROBLEM_LABELS.get(name, name) for name in problems)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if not len(frame):
        return []
    cleaned = frame.astype(object).where(frame.notna(), None)
    return list(cleaned.to_dict("records"))


def page_context(valuable: pd.DataFrame, attention: pd.DataFrame) -> dict[str, Any]:
    """What the page's "Most valuable links" and "Pages that need attention" sections show."""
    links = []
    for record in _records(valuable):
        platform = str(record["platform"])
        comment = record.get("kind") in ("comment", "reply", "answer", "quote")
        title, text = readable(record.get("title"), platform), readable(record.get("text"), platform)
        headline = (text if comment and text else title or text) or record.get("permalink") or ""
        links.append(
            {
                **record,
                "headline": shorten(headline, 140),
                "anchor": shorten(readable(record.get("anchor_text"), platform), 100),
            }
        )
    pages = [
        {
            **record,
            "why": problem_text(record.get("problems") or ()),
            "chain": redirect_chain(record.get("redirects")),
        }
        for record in _records(attention)
    ]
    return {"valuable_links": links, "attention_pages": pages}
