"""Rows as Arrow columns, and CSV lines made from them column by column.

A slice of a big week is about 40,000 (mention, link) rows of 23 cells: as Python objects, building them and
joining them into lines costs more than the database's own work. From a SQLite file the rows come straight into
Arrow columns (the ADBC SQLite driver, on a connection of its own); from PostgreSQL or an in-memory SQLite
database, :func:`reports.queries.read_table` turns the driver's rows into columns. Either way the lines are
made by Arrow's string kernels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import URL

from tracker.errors import TrackerError

NEEDS_QUOTES = r'[",\r\n]'  # a cell holding one of these is quoted (RFC 4180, as the csv module does)


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite store that another connection can open by name (None: PostgreSQL, in memory)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.query.get("uri") or url.database.startswith("file:"):
        return None
    return Path(url.database)


class Source:
    """An ADBC connection to the store: query results straight into Arrow columns."""

    def __init__(self, connection: Any, *, postgres: bool) -> None:
        self.connection, self.postgres = connection, postgres

    def table(self, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
        """All rows of ``sql`` (``?`` placeholders) as a table of ``schema``.

        The drivers type a column by its values (SQLite: ints, text, NULL as int64): the report's queries give
        each column one type in every row, and a value of another type (text in an integer column) fails the
        report in one line."""
        if self.postgres:
            numbers = iter(range(1, len(params) + 1))
            sql = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
        try:
            with self.connection.cursor() as cursor:
                if not self.postgres:  # one batch per 65,536 rows
                    cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
                cursor.execute(sql, params)
                table = cursor.fetch_arrow_table()
            table.validate(full=True)  # text that is not UTF-8 (written around the tracker) fails, not copied
            return pa.table(
                [table.column(i).cast(field.type) for i, field in enumerate(schema)], schema=schema
            )
        except Exception as exc:  # ADBC's own DatabaseError family, or Arrow's on a value of another type
            raise TrackerError(f"reading the database for the report failed: {_one_line(exc)}") from exc


_sources: dict[str, Source] = {}  # this process's, by store


def source(url: URL) -> Source | None:
    """This process's ADBC connection to the store at ``url`` (opened on first use, kept until
    :func:`close_sources`); None for a store only its own driver reaches (an in-memory SQLite database).

    A SQLite file is read through a second copy of SQLite in this process, and closing any descriptor of a file
    drops every lock this process holds on it, the other copy's too: so the connection stays open until the
    report has closed its store (sqlite.org/howtocorrupt.html, "multiple copies of SQLite").
    """
    file = sqlite_file(url)
    postgres = url.get_backend_name() == "postgresql"
    if file is None and not postgres:
        return None
    key = url.render_as_string(hide_password=False)
    if key not in _sources:
        try:
            if postgres:
                import adbc_driver_postgresql.dbapi as adbc_postgresql  # loaded by a report only

                libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
                connection = adbc_postgresql.connect(libpq, autocommit=True)
            else:
                import adbc_driver_sqlite.dbapi as adbc_sqlite

                connection = adbc_sqlite.connect(str(file), autocommit=True)
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA busy_timeout = 30000")
                    cursor.fetchall()
        except Exception as exc:  # ADBC's own DatabaseError family
            raise TrackerError(f"opening the database for the report failed: {_one_line(exc)}") from exc
        _sources[key] = Source(connection, postgres=postgres)
    return _sources[key]


def close_sources() -> None:
    """Close this process's ADBC connections (after the report's store is closed)."""
    while _sources:
        _, opened = _sources.popitem()
        opened.connection.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def table_of(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A driver's rows as a table of ``schema``; a value of another type fails the report in one line."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    try:
        arrays = [pa.array(column, type=field.type) for column, field in zip(columns, schema, strict=True)]
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise TrackerError(f"reading the database for the report failed: {_one_line(exc)}") from exc
    return pa.table(arrays, schema=schema)


def quoted(column: pa.Array) -> pa.Array:
    """Text cells ('' for NULL) quoted where a quote, comma, CR or LF needs it, quotes doubled."""
    cells = pc.fill_null(column, "")
    needs = pc.match_substring_regex(cells, NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return cells
    return pc.if_else(
        needs, pc.binary_join_element_wise('"', pc.replace_substring(cells, '"', '""'), '"', ""), cells
    )


def write_lines(out: IO[bytes], cells: Sequence[pa.Array]) -> None:
    """Rows whose cells are ready (quoted where needed) as CSV lines with CRLF ends, in UTF-8."""
    if not len(cells[0]):
        return
    lines = pc.binary_join_element_wise(*cells, ",")
    ended = pc.binary_join_element_wise(lines, pa.scalar("\r\n"), "")
    # The lines one after another in the array's data buffer, between its first and last offsets.
    offsets, data = ended.buffers()[1:3]
    assert offsets is not None
    assert data is not None
    width = pa.int64() if pa.types.is_large_string(ended.type) else pa.int32()
    ends = pa.Array.from_buffers(width, len(ended) + 1, [None, offsets], offset=ended.offset)
    out.write(memoryview(data)[ends[0].as_py() : ends[-1].as_py()])
