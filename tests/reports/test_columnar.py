"""The week's rows as Arrow columns: CSV lines made column by column are what the csv module writes, and a
SQLite file read through the ADBC driver gives the rows its own driver gives."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from reports import columnar, queries, write_report
from reports.queries import Scope
from tests.reports.fixtures import fill
from tests.reports.test_rollups import NOW, W47, config_for
from tests.test_csv_lines import CELLS, written_by_csv_module
from tracker.config import Config
from tracker.errors import TrackerError
from tracker.store import Store


@given(st.integers(min_value=2, max_value=6).flatmap(
    lambda width: st.lists(st.lists(CELLS | st.none(), min_size=width, max_size=width), min_size=1, max_size=8)
))  # fmt: skip
def test_lines_made_from_columns_are_what_the_csv_module_writes(  # with two columns or more, as the files have
    rows: list[list[str | None]],
) -> None:
    columns = [columnar.quoted(pa.array(column, pa.string())) for column in zip(*rows, strict=True)]
    out = io.BytesIO()
    columnar.write_lines(out, columns)
    expected = written_by_csv_module([["" if cell is None else cell for cell in row] for row in rows])
    assert out.getvalue().decode("utf-8") == expected


def test_only_a_sqlite_file_is_read_through_the_arrow_driver(tmp_path: Path) -> None:
    assert columnar.sqlite_file(make_url(f"sqlite:///{tmp_path / 'a.db'}")) == tmp_path / "a.db"
    assert columnar.sqlite_file(make_url(f"sqlite:///{tmp_path / 'a.db'}?timeout=5")) == tmp_path / "a.db"
    assert columnar.sqlite_file(make_url("sqlite://")) is None
    assert columnar.sqlite_file(make_url("sqlite:///:memory:")) is None
    assert columnar.sqlite_file(make_url("sqlite:///file:a.db?mode=ro&uri=true")) is None
    assert columnar.sqlite_file(make_url("postgresql+psycopg://127.0.0.1/test")) is None


def test_the_store_read_through_arrow_gives_the_rows_its_driver_gives(database_url: str) -> None:
    store = Store.open(database_url)
    fill(store)
    start, end = W47.bounds("UTC")
    try:
        with store.read() as conn:
            scope = Scope.of(conn, store.dialect, ("example.com",))
            through_arrow = queries.mention_link_table(conn, store.dialect, start, end, scope)
            sql, params = queries.mention_link_query(store.dialect, start, end, scope)
            rows = queries.query_rows(conn, store.dialect, sql, params)
    finally:
        store.close()
        columnar.close_sources()
    assert through_arrow.num_rows == 3
    assert through_arrow.equals(columnar.table_of(rows, queries.CSV_SCHEMA))


def edited(tmp_path: Path, *statements: str) -> Config:
    """The fixed store in a SQLite file, then changed by hand (as a hand edit or a broken tool could)."""
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    fill(store)
    store.close()
    with sqlite3.connect(tmp_path / "tracker.db") as conn:
        for statement in statements:
            conn.execute(statement)
    return config


def broken(tmp_path: Path) -> Config:
    """A store whose engagement is text where a number belongs."""
    return edited(tmp_path, "UPDATE mentions SET engagement = 'many'")


def test_a_number_stored_as_text_fails_the_report_in_one_line(tmp_path: Path) -> None:
    config = broken(tmp_path)
    with pytest.raises(TrackerError, match=r"^reading the database for the report failed: [^\n]+$"):
        write_report(config, week=W47, now=NOW)


def test_a_number_stored_as_text_fails_the_read_through_the_driver_in_one_line(tmp_path: Path) -> None:
    store = Store.open(broken(tmp_path).database_url)
    sql, params = queries.mention_link_query(store.dialect, *W47.bounds("UTC"), Scope(("example.com",)))
    with store.read() as conn:
        rows = queries.query_rows(conn, store.dialect, sql, params)
    store.close()
    with pytest.raises(TrackerError, match=r"^reading the database for the report failed: [^\n]+$"):
        columnar.table_of(rows, queries.CSV_SCHEMA)


def summary(folder: Path) -> dict[str, tuple[str, str]]:
    with (folder / "summary.csv").open(encoding="utf-8-sig", newline="") as handle:
        return {row["metric"]: (row["this_week"], row["previous_week"]) for row in csv.DictReader(handle)}


def test_a_week_counts_the_same_as_this_week_and_as_the_week_before(tmp_path: Path) -> None:
    config = edited(
        tmp_path,
        "UPDATE mentions SET author_id = '', author_handle = '' WHERE platform_id = '1'",
        "UPDATE mentions SET community = '' WHERE platform_id = 't3_2'",
    )
    this_week = summary(write_report(config, week=W47, now=NOW).folder)
    next_week = summary(write_report(config, week=W47.next(), now=NOW + timedelta(days=7)).folder)
    for metric in ("mentions", "authors", "communities", "engagement", "reach", "pages_linked"):
        assert next_week[metric][1] == this_week[metric][0], metric


def test_a_number_beyond_float_precision_is_reported(tmp_path: Path) -> None:
    config = edited(
        tmp_path, "UPDATE mentions SET author_followers = 9007199254740993, reach = 9007199254740993"
    )
    folder = write_report(config, week=W47, now=NOW).folder
    with (folder / "mentions.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert {row["author_followers"] for row in csv.DictReader(handle)} == {"9007199254740993"}


def test_text_that_is_not_utf8_fails_the_report_in_one_line(tmp_path: Path) -> None:
    config = edited(tmp_path, "UPDATE mentions SET text = CAST(x'ff41c3' AS TEXT)")
    with pytest.raises(TrackerError, match=r"^reading the database for the report failed: [^\n]+$"):
        write_report(config, week=W47, now=NOW)
