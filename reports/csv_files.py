"""The report's CSV files (CONTRACT §5): UTF-8 with a BOM, RFC 4180 quoting, ISO 8601 UTC times with a Z,
empty for unknown, and the formula-injection guard on text cells.

mentions.csv, links.csv and top_posts.csv are streamed from SQL, newest first, with the database formatting
each cell (see reports.queries), so a week of a million mentions is written in seconds; the small roll-up
files go through tracker.csv_format.write_csv.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from reports import queries
from reports.rollups import WeekReport, as_records
from tracker.csv_format import MENTION_COLUMNS, csv_lines, write_csv
from tracker.record import format_utc

LINK_COLUMNS = ("platform", "platform_id", "url", "canonical_url", "domain", "anchor_text", "source")


def _cell(value: Any) -> Any:
    """A roll-up's value as a CSV cell (write_csv guards the text)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _write_rows(path: Path, columns: Sequence[str], chunks: Iterable[Sequence[Sequence[str]]]) -> int:
    """Rows the database already formatted as CSV cells (all text): a BOM, the header, RFC 4180 quoting."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeff")
        out.write(csv_lines([columns], len(columns)))
        for rows in chunks:
            out.write(csv_lines(rows, len(columns)))
            count += len(rows)
    return count


def write_mentions(conn: Connection, path: Path, start: datetime, end: datetime) -> int:
    return _write_rows(path, MENTION_COLUMNS, queries.week_mention_rows(conn, conn.dialect.name, start, end))


def write_links(conn: Connection, path: Path, start: datetime, end: datetime) -> int:
    return _write_rows(path, LINK_COLUMNS, queries.week_link_rows(conn, conn.dialect.name, start, end))


def write_per_mention_files(conn: Connection, folder: Path, start: datetime, end: datetime) -> None:
    """mentions.csv and links.csv of the week ``[start, end)``."""
    write_mentions(conn, folder / "mentions.csv", start, end)
    write_links(conn, folder / "links.csv", start, end)


def write_top_posts(conn: Connection, path: Path, ids: Sequence[int]) -> int:
    rows = queries.mention_rows_by_id(conn, conn.dialect.name, ids, for_csv=True)
    return _write_rows(path, MENTION_COLUMNS, [rows])


def _write_frame(path: Path, columns: Sequence[str], frame: pd.DataFrame) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        write_csv(out, columns, ([_cell(record.get(c)) for c in columns] for record in as_records(frame)))


def write_rollups(report: WeekReport, folder: Path) -> None:
    """daily, summary, top_pages, top_authors and communities.csv."""
    _write_frame(folder / "daily.csv", ("date", "platform", "mentions"), report.daily)
    summary_rows = (
        [s.metric, s.this_week, s.previous_week, s.change, "" if s.change_pct is None else s.change_pct]
        for s in report.summary
    )
    with (folder / "summary.csv").open("w", encoding="utf-8", newline="") as out:
        write_csv(out, ("metric", "this_week", "previous_week", "change", "change_pct"), summary_rows)
    _write_frame(
        folder / "top_pages.csv",
        ("canonical_url", "domain", "mentions", "engagement", "platforms", "first_seen"),
        report.top_pages,
    )
    _write_frame(
        folder / "top_authors.csv",
        ("platform", "author_handle", "author_name", "author_followers", "mentions", "engagement"),
        report.top_authors,
    )
    _write_frame(
        folder / "communities.csv",
        ("platform", "community", "mentions", "engagement", "new"),
        report.communities,
    )
