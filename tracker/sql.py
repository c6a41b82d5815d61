"""Raw SQL on the DBAPI connection under a SQLAlchemy transaction, the same on SQLite and PostgreSQL: the
hot paths (page writes, the report's big reads) skip SQLAlchemy's per-row work."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table


class Driver:
    """The DBAPI connection under a SQLAlchemy transaction, with ``?`` placeholders on both databases."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.raw: Any = conn.connection.driver_connection
        assert self.raw is not None
        self.postgres = dialect == "postgresql"
        self.cursor = self.raw.cursor()

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def when(self, value: datetime | None) -> Any:
        """A UTC time as the driver stores it (see :func:`stored_time`)."""
        return stored_time(value, postgres=self.postgres)

    def rows(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.cursor.execute(self.sql(statement), params)
        return list(self.cursor.fetchall())

    def run(self, statement: str, params: Sequence[Any]) -> int:
        self.cursor.execute(self.sql(statement), params)
        return -1 if self.postgres else int(self.cursor.rowcount)

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.sql(statement), rows)

    @contextmanager
    def batched(self) -> Iterator[None]:
        """On PostgreSQL, send statements without waiting for each answer until results are needed."""
        if not self.postgres:
            yield
            return
        with self.raw.pipeline():
            yield


def stored_time(value: datetime | None, *, postgres: bool) -> Any:
    """A UTC time as the database's driver stores it (text on SQLite, see schema.UTCDateTime)."""
    if value is None or postgres:
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def upsert_insert(dialect: str, table: Table) -> Any:
    """The dialect's INSERT for ``table``, which has ``on_conflict_do_*`` (upserts) on both databases."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
