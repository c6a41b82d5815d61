"""The reads behind a report, straight on the database driver: a week of a million mentions is read as plain
tuples into pandas (no per-row objects), and the per-mention files are streamed in chunks with every cell
formatted by the database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from tracker.csv_format import FORMULA_PREFIXES, MENTION_COLUMNS
from tracker.sql import Driver

CHUNK = 50_000
_LIVE_IN_WEEK = "m.created_at >= ? AND m.created_at < ? AND m.deleted_at IS NULL"
_FIRST_CHARACTER = {"sqlite": "unicode", "postgresql": "ascii"}  # the code point of a text's first character
_FORMULA_STARTS = ", ".join(str(ord(c)) for c in FORMULA_PREFIXES)


def _csv_text(expression: str, dialect: str) -> str:
    """A text column as a CSV cell: '' for NULL, prefixed with ' when a spreadsheet would run it as a formula.

    The rule of tracker.csv_format.guard_cell, in SQL, so a million rows need no per-cell Python.
    """
    quote = "''''"  # a SQL string holding one '
    first = f"{_FIRST_CHARACTER[dialect]}({expression})"
    guarded = f"CASE WHEN {first} IN ({_FORMULA_STARTS}) THEN {quote} || {expression} ELSE {expression} END"
    return f"COALESCE({guarded}, '')"


def _csv_number(expression: str) -> str:
    """A number column as a CSV cell: its digits, '' for NULL."""
    return f"COALESCE(CAST({expression} AS TEXT), '')"


def _csv_time(expression: str, dialect: str) -> str:
    """A stored time as ISO 8601 UTC with a Z, computed by the database."""
    if dialect == "postgresql":
        return f"to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {expression})"


def mention_select(dialect: str, *, for_csv: bool, with_id: bool = True) -> str:
    """The columns of mentions.csv (the post's first link stands for it), as CSV cells (all text) or raw
    values, led by the mention id unless ``with_id`` is false."""

    def text(expression: str) -> str:
        return _csv_text(expression, dialect) if for_csv else expression

    def number(expression: str) -> str:
        return _csv_number(expression) if for_csv else expression

    columns = [
        text("m.platform"), text("m.platform_id"), text("m.kind"), text("m.permalink"),
        _csv_time("m.created_at", dialect) if for_csv else "m.created_at",
        text("m.author_handle"), text("m.author_name"), number("m.author_followers"), text("m.community"),
        text("m.title"), text("m.text"), text("l.canonical_url"), text("l.domain"), text("l.anchor_text"),
        number("(SELECT COUNT(*) FROM links c WHERE c.mention_id = m.id)"),
        *(number(f"m.{metric}") for metric in ("likes", "reposts", "replies", "quotes", "score", "engagement")),
    ]  # fmt: skip
    return (
        f"SELECT {'m.id, ' if with_id else ''}{', '.join(columns)} "
        "FROM mentions m LEFT JOIN links l ON l.mention_id = m.id AND l.position = 0"
    )


def link_select(dialect: str) -> str:
    columns = (
        "m.platform",
        "m.platform_id",
        "l.url",
        "l.canonical_url",
        "l.domain",
        "l.anchor_text",
        "l.source",
    )
    cells = ", ".join(_csv_text(column, dialect) for column in columns)
    return f"SELECT {cells} FROM links l JOIN mentions m ON m.id = l.mention_id"


def utc_series(values: pd.Series) -> pd.Series:
    """Stored times (SQLite text or PostgreSQL timestamptz) as UTC pandas timestamps."""
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _bind(driver: Driver, params: Sequence[Any]) -> list[Any]:
    return [driver.when(p) if isinstance(p, datetime) else p for p in params]


def frame(
    conn: Connection, dialect: str, sql: str, params: Sequence[Any], columns: Sequence[str]
) -> pd.DataFrame:
    driver = Driver(conn, dialect)
    rows = driver.rows(sql, _bind(driver, params))
    driver.cursor.close()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def week_mentions(conn: Connection, dialect: str, start: datetime, end: datetime) -> pd.DataFrame:
    columns = ("id", "platform", "created_at", "author_id", "author_handle", "author_name", "author_followers",
               "community", "engagement")  # fmt: skip
    sql = f"SELECT m.{', m.'.join(columns)} FROM mentions m WHERE {_LIVE_IN_WEEK}"
    result = frame(conn, dialect, sql, (start, end), columns)
    result["created_at"] = utc_series(result["created_at"])
    for column in ("engagement", "author_followers"):
        result[column] = result[column].astype("Int64")
    return result


def week_links(conn: Connection, dialect: str, start: datetime, end: datetime) -> pd.DataFrame:
    columns = ("mention_id", "canonical_url", "domain", "anchor_text", "position")
    sql = f"SELECT l.{', l.'.join(columns)} FROM links l JOIN mentions m ON m.id = l.mention_id WHERE {_LIVE_IN_WEEK}"
    return frame(conn, dialect, sql, (start, end), columns)


def count_in_week(conn: Connection, dialect: str, start: datetime, end: datetime) -> int:
    """How many live mentions the week has (an index range count)."""
    driver = Driver(conn, dialect)
    ((count,),) = driver.rows(
        f"SELECT COUNT(*) FROM mentions m WHERE {_LIVE_IN_WEEK}", _bind(driver, (start, end))
    )
    driver.cursor.close()
    return int(count)


def week_counts(conn: Connection, dialect: str, start: datetime, end: datetime) -> dict[str, int]:
    """The summary's figures for a week, counted by the database (the previous week needs nothing else,
    so its million rows never come into Python). Same rules as the roll-ups: an author is the platform's
    author id, else the handle; a mention counts once per domain it links to.

    Two passes over the week: authors and communities are counted per platform and pages per domain, then
    summed (an author or community belongs to one platform, a canonical URL to one domain).
    """
    driver = Driver(conn, dialect)
    params = _bind(driver, (start, end))
    counts = dict.fromkeys(("mentions", "pages_linked", "authors", "communities", "engagement"), 0)
    per_platform = driver.rows(
        "SELECT m.platform, COUNT(*), COUNT(DISTINCT COALESCE(m.author_id, m.author_handle)), "
        f"COUNT(DISTINCT m.community), COALESCE(SUM(m.engagement), 0) FROM mentions m WHERE {_LIVE_IN_WEEK} "
        "GROUP BY m.platform",
        params,
    )
    for platform, mentions_count, authors, communities, engagement in per_platform:
        counts["mentions"] += int(mentions_count)
        counts["authors"] += int(authors)
        counts["communities"] += int(communities)
        counts["engagement"] += int(engagement)
        counts[f"mentions:{platform}"] = int(mentions_count)
    per_domain = driver.rows(
        "SELECT l.domain, COUNT(DISTINCT l.mention_id), COUNT(DISTINCT l.canonical_url) "
        f"FROM links l JOIN mentions m ON m.id = l.mention_id WHERE {_LIVE_IN_WEEK} GROUP BY l.domain",
        params,
    )
    for domain, linking, pages in per_domain:
        counts["pages_linked"] += int(pages)
        counts[f"mentions:{domain}"] = int(linking)
    driver.cursor.close()
    return counts


def linked_before(conn: Connection, dialect: str, start: datetime, end: datetime) -> dict[str, Any]:
    """For each page linked in the week that had been linked before it, when it was first linked."""
    # CROSS JOIN keeps SQLite walking the history by its created_at index; left free, its planner would scan
    # every link by canonical_url (seconds for a big week with no history). PostgreSQL plans it either way.
    sql = (
        "SELECT l.canonical_url, MIN(m.created_at) FROM mentions m CROSS JOIN links l "
        "WHERE l.mention_id = m.id AND m.created_at < ? AND l.canonical_url IN "
        f"(SELECT l2.canonical_url FROM links l2 JOIN mentions m ON m.id = l2.mention_id WHERE {_LIVE_IN_WEEK}) "
        "GROUP BY l.canonical_url"
    )
    found = frame(conn, dialect, sql, (start, start, end), ("canonical_url", "first"))
    found["first"] = utc_series(found["first"])
    return dict(zip(found["canonical_url"], found["first"], strict=True))


def stream(
    conn: Connection, dialect: str, sql: str, params: Sequence[Any]
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of ``sql`` in chunks, without holding them all (a server-side cursor on PostgreSQL)."""
    driver = Driver(conn, dialect)
    cursor = driver.raw.cursor(name="report_stream") if driver.postgres else driver.raw.cursor()
    try:
        cursor.execute(driver.sql(sql), _bind(driver, params))
        while True:
            rows = cursor.fetchmany(CHUNK)
            if not rows:
                return
            yield rows
    finally:
        cursor.close()
        driver.cursor.close()


def week_mention_rows(
    conn: Connection, dialect: str, start: datetime, end: datetime
) -> Iterator[list[tuple[Any, ...]]]:
    """mentions.csv rows as CSV cells, newest first."""
    sql = f"{mention_select(dialect, for_csv=True, with_id=False)} WHERE {_LIVE_IN_WEEK} ORDER BY m.created_at DESC, m.id DESC"
    return stream(conn, dialect, sql, (start, end))


def week_link_rows(
    conn: Connection, dialect: str, start: datetime, end: datetime
) -> Iterator[list[tuple[Any, ...]]]:
    sql = f"{link_select(dialect)} WHERE {_LIVE_IN_WEEK} ORDER BY m.created_at DESC, m.id DESC, l.position"
    return stream(conn, dialect, sql, (start, end))


def mention_rows_by_id(
    conn: Connection, dialect: str, ids: Sequence[int], *, for_csv: bool
) -> list[tuple[Any, ...]]:
    """mentions.csv rows of these mentions in the given order (without the id), as CSV cells or raw values."""
    if not ids:
        return []
    sql = f"{mention_select(dialect, for_csv=for_csv)} WHERE m.id IN ({', '.join(['?'] * len(ids))})"
    driver = Driver(conn, dialect)
    by_id = {row[0]: tuple(row[1:]) for row in driver.rows(sql, list(ids))}
    driver.cursor.close()
    return [by_id[i] for i in ids if i in by_id]


def top_post_rows(conn: Connection, ids: Sequence[int]) -> pd.DataFrame:
    """The week's top posts with the columns of mentions.csv, raw values (for the page), in this order."""
    rows = mention_rows_by_id(conn, conn.dialect.name, ids, for_csv=False)
    frame = pd.DataFrame.from_records(rows, columns=list(MENTION_COLUMNS))
    frame["created_at"] = utc_series(frame["created_at"])
    frame.attrs["ids"] = list(ids)
    return frame
