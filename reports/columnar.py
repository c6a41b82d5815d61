"""Rows as Arrow columns, and CSV lines made from them column by column.

A slice of a big week is about 40,000 (mention, link) rows of 23 cells: as Python objects, building them and
joining them into lines costs more than the database's own work. From a SQLite file the rows come straight into
Arrow columns (the ADBC SQLite driver, on a connection of its own); from PostgreSQL or an in-memory SQLite
database, :func:`reports.queries.read_table` turns the driver's rows into columns. Either way the lines are
made by Arrow's string kernels.
"""

from __future__ import annotations

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


def adbc_table(file: Path, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """All rows of ``sql`` on the SQLite file, as a table of ``schema`` (on a connection of its own).

    The driver types a column by its values (ints, text; NULL as int64): the query gives each column one type
    in every row, and a value of another type (a REAL in an integer column) fails the report in one line."""
    import adbc_driver_sqlite.dbapi as adbc  # only a report of a SQLite file loads the driver

    try:
        with adbc.connect(str(file), autocommit=True) as connection, connection.cursor() as cursor:
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.fetchall()
            cursor.execute(sql, params)
            table = cursor.fetch_arrow_table()
        return pa.table([table.column(i).cast(field.type) for i, field in enumerate(schema)], schema=schema)
    except Exception as exc:  # ADBC's own DatabaseError family, or Arrow's on a value of another type
        raise TrackerError(f"reading {file} for the report failed: {' '.join(str(exc).split())}") from exc


def table_of(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A driver's rows as a table of ``schema``; a value of another type fails the report in one line."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    try:
        arrays = [pa.array(column, type=field.type) for column, field in zip(columns, schema, strict=True)]
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise TrackerError(
            f"reading the database for the report failed: {' '.join(str(exc).split())}"
        ) from exc
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
    ended = pc.binary_join_element_wise(lines, pa.scalar("\r\n"), "").cast(pa.large_string())
    # The lines one after another in the array's data buffer, between its first and last offsets.
    offsets, data = ended.buffers()[1:3]
    assert offsets is not None
    assert data is not None
    ends = pa.Array.from_buffers(pa.int64(), len(ended) + 1, [None, offsets], offset=ended.offset)
    out.write(memoryview(data)[ends[0].as_py() : ends[-1].as_py()])
