"""The reads behind a report, straight on the database driver: the week's (mention, link) rows are read slice
by slice into Arrow columns with every CSV cell formatted by the database (the per-mention files and the
figures come from them), the week before is counted by the database, and the rest are lookups by key.

A report covers a :class:`Scope`: the own domains of the current config. A mention is in it when it links to
one of them, and only those links count (mentions of a domain since removed from the config stay in the store).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection

from reports import columnar
from tracker.csv_format import BLANKS, FORMULA_STARTERS, GUARDED_FIRST
from tracker.sql import Driver, stored_time

IN_LIST = 500  # values per IN (...) list
_LIVE_IN_WEEK = "m.created_at >= ? AND m.created_at < ? AND m.deleted_at IS NULL"
_FIRST_CHARACTER = {"sqlite": "unicode", "postgresql": "ascii"}  # the code point of a text's first character
_STARTERS = ", ".join(str(ord(c)) for c in FORMULA_STARTERS)
_GUARDED_FIRST = ", ".join(str(ord(c)) for c in (*GUARDED_FIRST, *FORMULA_STARTERS))
_BLANK_FIRST = ", ".join(str(ord(c)) for c in BLANKS if c not in GUARDED_FIRST)
_LOWEST_WIDE = min((c for c in FORMULA_STARTERS if ord(c) > 127), key=ord)  # U+FF0B, the full-width plus
_BLANKS_SQL = {"sqlite": f"char({', '.join(str(ord(c)) for c in BLANKS)})", "postgresql": "E' \\t\\r\\n'"}


@dataclass(frozen=True)
class Scope:
    """The domains a report covers. ``filtered`` is False when the store links to no other domain, so the
    queries can skip the test."""

    domains: tuple[str, ...]
    filtered: bool = True

    @classmethod
    def of(cls, conn: Connection, dialect: str, domains: Sequence[str]) -> Scope:
        """The scope of ``domains``, filtered only if the store holds links to other domains (the ``pages``
        table knows every domain ever linked)."""
        driver = Driver(conn, dialect)
        linked = {domain for (domain,) in driver.rows("SELECT DISTINCT domain FROM pages", ())}
        driver.cursor.close()
        return cls(tuple(domains), filtered=not linked <= set(domains))

    def links(self, alias: str = "l") -> tuple[str, list[str]]:
        """A condition (`` AND ...``) keeping the links to these domains, and its parameters."""
        if not self.filtered:
            return "", []
        if not self.domains:
            return " AND 1 = 0", []
        return f" AND {alias}.domain IN ({marks(len(self.domains))})", list(self.domains)

    def mentions(self) -> tuple[str, list[str]]:
        """A condition (`` AND ...``) keeping the mentions ``m`` that link to these domains."""
        if not self.filtered:
            return "", []
        condition, params = self.links("x")
        return f" AND EXISTS (SELECT 1 FROM links x WHERE x.mention_id = m.id{condition})", params


def marks(count: int) -> str:
    """``count`` placeholders for an ``IN (...)`` list."""
    return ", ".join(["?"] * count)


def _csv_text(expression: str, dialect: str) -> str:
    """A text column as a CSV cell: '' for NULL, prefixed with ' when a spreadsheet would run it as a formula.

    The rule of tracker.csv_format.needs_guard, in SQL, so a million rows need no per-cell Python. On SQLite a
    byte comparison first lets through text that starts with a letter or most other characters (from "A" to
    just below the full-width plus sign, the first starter above it); the rest is decided by the first
    character, and only a cell that starts with a blank is trimmed to look further.
    """
    first = _FIRST_CHARACTER[dialect]
    trimmed = f"{first}(ltrim({expression}, {_BLANKS_SQL[dialect]}))"
    runs = (
        f"{first}({expression}) IN ({_GUARDED_FIRST}) OR ({first}({expression}) IN ({_BLANK_FIRST}) "
        f"AND {trimmed} IN ({_STARTERS}))"
    )
    plain = (
        f"{expression} >= 'A' AND {expression} < '{_LOWEST_WIDE}' THEN {expression} WHEN "
        if dialect == "sqlite"
        else ""
    )
    quote = "''''"  # a SQL string holding one '
    return f"COALESCE(CASE WHEN {plain}{runs} THEN {quote} || {expression} ELSE {expression} END, '')"


def _csv_plain(expression: str) -> str:
    """A text column the tracker fills itself (a platform, kind or link source name, an https permalink, a
    canonical URL, a domain name): none starts like a formula, so only NULL becomes ''."""
    return f"COALESCE({expression}, '')"


def _csv_number(expression: str) -> str:
    """A number column as a CSV cell: its digits, '' for NULL."""
    return f"COALESCE(CAST({expression} AS TEXT), '')"


def _csv_time(expression: str, dialect: str) -> str:
    """A stored time as ISO 8601 UTC with a Z, computed by the database. SQLite holds it as fixed-width UTC text
    (``YYYY-MM-DD HH:MM:SS.ffffff``, see tracker.schema.UTCDateTime): cut, not parsed."""
    if dialect == "postgresql":
        return f"to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    return f"substr({expression}, 1, 10) || 'T' || substr({expression}, 12, 8) || 'Z'"


# The per-mention files are written from one read of the week's (mention, link) rows; a mention's first row
# holds its first link in scope (see reports.rows). As CSV cells (all text), a row holds:
MENTION_HEAD = slice(1, 12)  # platform ... text
TAIL = 12  # likes, reposts, replies, quotes, score, engagement, views, reach, value: one cell of nine
LINK_URL, LINK_CANONICAL, LINK_DOMAIN, LINK_ANCHOR, LINK_SOURCE = 13, 14, 15, 16, 17
PLATFORM, CREATED, COMMUNITY = 1, 5, 9  # CREATED: ISO 8601 UTC with a Z
# ... then raw values the figures need (reports.partials): the author key ('' for none; no text column is
# ever NULL, so each column has one type in every row), then numbers.
AUTHOR_KEY, FOLLOWERS_VALUE, ENGAGEMENT_VALUE, REACH_VALUE, VALUE_VALUE = 18, 19, 20, 21, 22
# As raw values: the head, the nine numbers, the link's five columns, and the thread a comment was made in
# (for the page's "comment on" link).
RAW_TAIL = slice(12, 21)
RAW_LINK_URL, RAW_CANONICAL, RAW_DOMAIN, RAW_ANCHOR = 21, 22, 23, 24
THREAD = 26
CSV_SCHEMA = pa.schema(
    [("id", pa.int64())]
    + [(f"cell{index}", pa.string()) for index in range(1, AUTHOR_KEY + 1)]
    + [(f"value{index}", pa.int64()) for index in range(FOLLOWERS_VALUE, VALUE_VALUE + 1)]
)
_NUMBERS = ("likes", "reposts", "replies", "quotes", "score", "engagement", "views", "reach", "value")


def mention_link_select(dialect: str, *, for_csv: bool) -> str:
    """One row per (mention, link): the mention's id, the mention columns and the link's, as CSV cells (the
    nine numbers as one cell, then raw extras) or raw values (then the thread id); see the layouts above."""

    def text(expression: str) -> str:
        return _csv_text(expression, dialect) if for_csv else expression

    def ours(expression: str) -> str:
        return _csv_plain(expression) if for_csv else expression

    def number(expression: str) -> str:
        return _csv_number(expression) if for_csv else expression

    numbers = (
        [" || ',' || ".join(_csv_number(f"m.{name}") for name in _NUMBERS)]  # no number needs quoting
        if for_csv
        else [f"m.{name}" for name in _NUMBERS]
    )
    columns = [
        "m.id", ours("m.platform"), text("m.platform_id"), ours("m.kind"), ours("m.permalink"),
        _csv_time("m.created_at", dialect) if for_csv else "m.created_at",
        text("m.author_handle"), text("m.author_name"), number("m.author_followers"), text("m.community"),
        text("m.title"), text("m.text"), *numbers,
        text("l.url"), ours("l.canonical_url"), ours("l.domain"), text("l.anchor_text"), ours("l.source"),
        *(
            ("COALESCE(m.author_id, m.author_handle, '')", "m.author_followers", "m.engagement", "m.reach", "m.value")
            if for_csv else ("m.thread_id",)
        ),
    ]  # fmt: skip
    return f"SELECT {', '.join(columns)} FROM mentions m JOIN links l ON l.mention_id = m.id"


def utc_series(values: pd.Series) -> pd.Series:
    """Stored times (SQLite text or PostgreSQL timestamptz) as UTC pandas timestamps."""
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _bind(dialect: str, params: Sequence[Any]) -> list[Any]:
    postgres = dialect == "postgresql"
    return [stored_time(p, postgres=postgres) if isinstance(p, datetime) else p for p in params]


def query_rows(conn: Connection, dialect: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` (``?`` placeholders, datetimes bound as the driver stores them)."""
    driver = Driver(conn, dialect)
    rows = driver.rows(sql, _bind(dialect, params))
    driver.cursor.close()
    return rows


def count_in_week(conn: Connection, dialect: str, start: datetime, end: datetime) -> int:
    """How many live mentions the week has (an index range count)."""
    ((count,),) = query_rows(
        conn, dialect, f"SELECT COUNT(*) FROM mentions m WHERE {_LIVE_IN_WEEK}", (start, end)
    )
    return int(count)


def week_counts(
    conn: Connection, dialect: str, start: datetime, end: datetime, scope: Scope
) -> dict[str, int]:
    """The summary's figures for a week, counted by the database (the previous week needs nothing else, so its
    million rows never come into Python). The same rules as :func:`reports.rollups.count_week` on the frames:
    an author is the platform's author id, else the handle (neither, or empty: unknown); a mention counts once per
    domain it links to.

    Two passes over the week: authors and communities are counted per platform and pages per domain, then
    summed (an author or community belongs to one platform, a canonical URL to one domain).
    """
    mention_condition, mention_params = scope.mentions()
    link_condition, link_params = scope.links()
    counts = dict.fromkeys(("mentions", "pages_linked", "authors", "communities", "engagement", "reach"), 0)
    per_platform = query_rows(
        conn, dialect,
        "SELECT m.platform, COUNT(*), COUNT(DISTINCT NULLIF(COALESCE(m.author_id, m.author_handle), '')), "
        "COUNT(DISTINCT NULLIF(m.community, '')), COALESCE(SUM(m.engagement), 0), COALESCE(SUM(m.reach), 0) "
        f"FROM mentions m WHERE {_LIVE_IN_WEEK}{mention_condition} GROUP BY m.platform",
        (start, end, *mention_params),
    )  # fmt: skip
    for platform, mentions_count, authors, communities, engagement, reach in per_platform:
        counts["mentions"] += int(mentions_count)
        counts["authors"] += int(authors)
        counts["communities"] += int(communities)
        counts["engagement"] += int(engagement)
        counts["reach"] += int(reach)
        counts[f"mentions:{platform}"] = int(mentions_count)
    if len(scope.domains) == 1:  # every mention in scope links the one domain: only its pages need counting
        (domain,) = scope.domains
        ((pages,),) = query_rows(
            conn, dialect,
            "SELECT COUNT(DISTINCT l.canonical_url) FROM links l JOIN mentions m ON m.id = l.mention_id "
            f"WHERE {_LIVE_IN_WEEK}{link_condition}",
            (start, end, *link_params),
        )  # fmt: skip
        per_domain = [(domain, counts["mentions"], pages)] if counts["mentions"] else []
    else:
        per_domain = query_rows(
            conn, dialect,
            "SELECT l.domain, COUNT(DISTINCT l.mention_id), COUNT(DISTINCT l.canonical_url) FROM links l "
            f"JOIN mentions m ON m.id = l.mention_id WHERE {_LIVE_IN_WEEK}{link_condition} GROUP BY l.domain",
            (start, end, *link_params),
        )  # fmt: skip
    for domain, linking, pages in per_domain:
        counts["pages_linked"] += int(pages)
        counts[f"mentions:{domain}"] = int(linking)
    return counts


def chunks(values: Sequence[Any], size: int = IN_LIST) -> Iterator[Sequence[Any]]:
    """``values`` in runs short enough for one ``IN (...)`` list."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def first_linked(conn: Connection, dialect: str, urls: Sequence[str]) -> dict[str, datetime]:
    """When each of these pages was first linked (from the ``pages`` table, a lookup per page: the cost
    follows the week, not the history)."""
    found: dict[str, datetime] = {}
    for chunk in chunks(urls):
        rows = query_rows(
            conn, dialect, f"SELECT canonical_url, first_linked_at FROM pages WHERE canonical_url IN ({marks(len(chunk))})",
            chunk,
        )  # fmt: skip
        found.update(rows)
    if not found:
        return {}
    stamps = utc_series(pd.Series(list(found.values())))
    return dict(zip(found, stamps, strict=True))


def first_mentions_in(conn: Connection, dialect: str, start: datetime, end: datetime) -> set[tuple[str, str]]:
    """(platform, author key) of the authors whose first mention ever is in ``[start, end)``."""
    rows = query_rows(
        conn, dialect,
        "SELECT platform, author_key FROM author_firsts WHERE first_mention_at >= ? AND first_mention_at < ?",
        (start, end),
    )  # fmt: skip
    return {(platform, key) for platform, key in rows}


def active_communities(
    conn: Connection, dialect: str, communities: Iterable[tuple[str, str]], since: datetime, until: datetime
) -> set[tuple[str, str]]:
    """Those of ``communities`` (platform, community) with a mention in ``[since, until)``: one index seek each
    (the partial index on platform, community, created_at)."""
    driver = Driver(conn, dialect)
    sql = driver.sql(
        "SELECT 1 FROM mentions WHERE platform = ? AND community = ? AND created_at >= ? AND created_at < ? "
        "AND community IS NOT NULL LIMIT 1"
    )
    bounds = (driver.when(since), driver.when(until))
    found = set()
    for platform, community in communities:
        driver.cursor.execute(sql, (platform, community, *bounds))
        if driver.cursor.fetchone() is not None:
            found.add((platform, community))
    driver.cursor.close()
    return found


def author_names(
    conn: Connection, dialect: str, ids: Sequence[int]
) -> dict[int, tuple[str | None, str | None]]:
    """The author handle and name of these mentions, by mention id."""
    found: dict[int, tuple[str | None, str | None]] = {}
    for chunk in chunks(ids):
        sql = f"SELECT id, author_handle, author_name FROM mentions WHERE id IN ({marks(len(chunk))})"
        found.update(
            (mention_id, (handle, name)) for mention_id, handle, name in query_rows(conn, dialect, sql, chunk)
        )
    return found


def latest_mention_at(conn: Connection, dialect: str, scope: Scope) -> datetime | None:
    """When the newest live mention in scope was posted (walks the created_at index from the newest)."""
    condition, params = scope.mentions()
    rows = query_rows(
        conn, dialect,
        f"SELECT m.created_at FROM mentions m WHERE m.deleted_at IS NULL{condition} ORDER BY m.created_at DESC LIMIT 1",
        params,
    )  # fmt: skip
    if not rows:
        return None
    latest: datetime = utc_series(pd.Series([rows[0][0]])).iloc[0].to_pydatetime()
    return latest


def read_table(
    conn: Connection, dialect: str, sql: str, params: Sequence[Any], schema: pa.Schema
) -> pa.Table:
    """All rows of ``sql`` (``?`` placeholders) as a table of ``schema``: through this process's ADBC
    connection to the store (see :mod:`reports.columnar`), or the connection's own driver where there is none."""
    arrow = columnar.source(conn.engine.url)
    if arrow is None:
        return columnar.table_of(query_rows(conn, dialect, sql, params), schema)
    return arrow.table(sql, _bind(dialect, params), schema)


def mention_link_query(dialect: str, start: datetime, end: datetime, scope: Scope) -> tuple[str, list[Any]]:
    """The query of :func:`mention_link_table` and its parameters."""
    condition, params = scope.links()
    sql = (
        f"{mention_link_select(dialect, for_csv=True)} WHERE {_LIVE_IN_WEEK}{condition} "
        "ORDER BY m.created_at DESC, m.id DESC, l.position"
    )
    return sql, [start, end, *params]


def mention_link_table(
    conn: Connection, dialect: str, start: datetime, end: datetime, scope: Scope
) -> pa.Table:
    """The (mention, link) rows in scope of the mentions created in ``[start, end)``, as CSV cells (the
    layout above, typed by :data:`CSV_SCHEMA`): newest mention first, each mention's links in order."""
    return read_table(conn, dialect, *mention_link_query(dialect, start, end, scope), CSV_SCHEMA)


def mention_link_rows_by_id(
    conn: Connection, dialect: str, ids: Sequence[int], scope: Scope, *, for_csv: bool
) -> list[tuple[Any, ...]]:
    """The (mention, link) rows in scope of these mentions, each mention's links in order."""
    if not ids:
        return []
    condition, params = scope.links()
    rows: list[tuple[Any, ...]] = []
    for chunk in chunks(list(ids)):
        sql = (
            f"{mention_link_select(dialect, for_csv=for_csv)} WHERE m.id IN ({marks(len(chunk))}){condition} "
            "ORDER BY m.id, l.position"
        )
        rows.extend(query_rows(conn, dialect, sql, (*chunk, *params)))
    return rows
