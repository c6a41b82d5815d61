"""Alembic migrations: applied on open, equal to the table definitions, and a no-op when current."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from tests.conftest import migrations_config
from tracker.schema import HEAD_REVISION, metadata
from tracker.store import Store


def test_head_revision_constant_matches_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(migrations_config()).get_current_head() == HEAD_REVISION


def test_opening_a_new_database_applies_every_migration(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            assert store.revision(conn) == HEAD_REVISION
            tables = set(inspect(conn).get_table_names())
        assert {
            "mentions",
            "links",
            "metric_snapshots",
            "cursors",
            "connector_runs",
            "coverage_gaps",
        } <= tables
    finally:
        store.close()


def test_migrations_produce_exactly_the_declared_schema(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        store.close()


def test_reopening_and_concurrent_opening_are_safe(database_url: str) -> None:
    errors: list[BaseException] = []

    def open_close() -> None:
        try:
            Store.open(database_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    Store.open(database_url).close()
