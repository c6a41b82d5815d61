"""The report's CSV files (CONTRACT §5): UTF-8 with a BOM, RFC 4180 quoting, ISO 8601 UTC times with a Z,
empty for unknown, and the formula-injection guard on text cells.

mentions.csv and links.csv are written from one read of the week's (mention, link) rows, newest first, with
the database formatting each cell (see reports.queries and reports.slices). The small roll-up files go through
tracker.csv_format.write_csv.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection

from reports.queries import Scope
from reports.rollups import WeekReport
from reports.rows import mention_lines, start_file, top_post_rows
from tracker.csv_format import MENTION_COLUMNS, csv_lines, guard_cell, write_csv

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
    "communities.csv", "pages.csv", "share_of_voice.csv", "community_gaps.csv", "report.html",
)  # fmt: skip
"""Every file a week's folder may hold (what the tracker wrote; anything else there is someone else's)."""


def _cells(column: pd.Series | None, rows: int) -> list[str]:
    """A roll-up's column as CSV cells: times ISO 8601 UTC with a Z, true/false, numbers as digits, text
    guarded against formulas, '' for unknown or a column the frame lacks (a check not made yet)."""
    if column is None:
        return [""] * rows
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return list(column.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna(""))
    if pd.api.types.is_bool_dtype(column.dtype):
        return ["true" if value else "false" for value in column.tolist()]
    if pd.api.types.is_numeric_dtype(column.dtype):
        missing = column.isna().tolist()
        return ["" if gone else _digits(value) for value, gone in zip(column.tolist(), missing, strict=True)]
    texts = column.astype(object).where(column.notna(), "").tolist()
    return [guard_cell(text) if isinstance(text, str) else str(text) for text in texts]


def _digits(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def write_top_posts(conn: Connection, path: Path, ids: Sequence[int], scope: Scope) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        start_file(out, MENTION_COLUMNS)
        out.write(mention_lines(top_post_rows(conn, ids, scope, for_csv=True)))


def _write_frame(path: Path, columns: Sequence[str], frame: pd.DataFrame) -> None:
    """A roll-up as a CSV file: a BOM, the header and the rows (built column by column)."""
    cells = [_cells(frame[name] if name in frame.columns else None, len(frame)) for name in columns]
    with path.open("w", encoding="utf-8", newline="") as out:
        start_file(out, columns)
        out.write(csv_lines(list(zip(*cells, strict=True)), len(columns)))


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
