"""The report's CSV files (CONTRACT §5): UTF-8 with a BOM, RFC 4180 quoting, ISO 8601 UTC times with a Z,
empty for unknown, and the formula-injection guard on text cells.

mentions.csv and links.csv are written from one read of the week's (mention, link) rows, newest first, with
the database formatting each cell (see reports.queries and reports.slices). The small roll-up files go through
tracker.csv_format.write_csv.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from reports.queries import Scope
from reports.rollups import WeekReport, as_records
from reports.rows import start_file, top_post_rows
from tracker.csv_format import MENTION_COLUMNS, csv_lines, write_csv
from tracker.record import format_utc

TOP_PAGES_COLUMNS = ("canonical_url", "domain", "mentions", "engagement", "platforms", "first_seen")
PAGES_COLUMNS = (
    "canonical_url", "domain", "mentions", "engagement", "value", "first_linked", "new", "status", "final_url",
    "redirects", "noindex", "canonical_tag", "checked_at",
)  # fmt: skip
AUTHORS_COLUMNS = ("platform", "author_handle", "author_name", "author_followers", "mentions", "engagement")
COMMUNITIES_COLUMNS = ("platform", "community", "mentions", "engagement", "new")
SUMMARY_COLUMNS = ("metric", "this_week", "previous_week", "change", "change_pct")
WRITTEN = (
    "mentions.csv", "links.csv", "daily.csv", "summary.csv", "top_pages.csv", "top_posts.csv", "top_authors.csv",
    "communities.csv", "pages.csv", "share_of_voice.csv", "report.html",
)  # fmt: skip
"""Every file a week's folder may hold (what the tracker wrote; anything else there is someone else's)."""


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


def write_top_posts(conn: Connection, path: Path, ids: Sequence[int], scope: Scope) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        start_file(out, MENTION_COLUMNS)
        out.write(csv_lines(top_post_rows(conn, ids, scope, for_csv=True), len(MENTION_COLUMNS)))


def _write_frame(path: Path, columns: Sequence[str], frame: pd.DataFrame) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        write_csv(out, columns, ([_cell(record.get(c)) for c in columns] for record in as_records(frame)))


def write_rollups(report: WeekReport, folder: Path) -> None:
    """daily, summary, top_pages, pages, top_authors and communities.csv."""
    _write_frame(folder / "daily.csv", ("date", "platform", "mentions"), report.daily)
    summary_rows = (
        [s.metric, s.this_week, s.previous_week, s.change, "" if s.change_pct is None else s.change_pct]
        for s in report.summary
    )
    with (folder / "summary.csv").open("w", encoding="utf-8", newline="") as out:
        write_csv(out, SUMMARY_COLUMNS, summary_rows)
    _write_frame(folder / "top_pages.csv", TOP_PAGES_COLUMNS, report.top_pages)
    _write_frame(
        folder / "pages.csv", PAGES_COLUMNS, report.top_pages.rename(columns={"first_seen": "first_linked"})
    )
    _write_frame(folder / "top_authors.csv", AUTHORS_COLUMNS, report.top_authors)
    _write_frame(folder / "communities.csv", COMMUNITIES_COLUMNS, report.communities)
