"""Shared fixtures: stores on SQLite and on the machine's PostgreSQL, configs, a frozen clock."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tracker.config import load_config
from tracker.settings import Config
from tracker.store import Store

POSTGRES_URL = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("TRACKER_REQUIRE_POSTGRES") == "1"
DATA = Path(__file__).parent / "data"


def _postgres_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'mention-tracker[postgres]')"
    conninfo = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(conninfo, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {conninfo} ({' '.join(str(exc).split())[:120]})"
    return None


def require_postgres() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"TRACKER_REQUIRE_POSTGRES=1 but {problem}")
    pytest.skip(f"{problem}; set TRACKER_TEST_POSTGRES_URL to run the PostgreSQL tests")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL for a fresh, empty PostgreSQL schema that is dropped afterwards."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


class Clock:
    """A frozen clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 17, 9, 0, tzinfo=UTC))


class Sleeps(list[float]):
    """Records the waits a connector asked for, without waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def write_config(folder: Path, body: str, *, name: str = "tracker.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def migrations_config() -> Any:
    """The Alembic configuration of the store's migrations."""
    from alembic.config import Config as AlembicConfig

    import tracker

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(tracker.__file__).parent / "migrations"))
    return config


@contextmanager
def database_at(url: str, revision: str) -> Iterator[Any]:
    """A connection (in a transaction) to the database at ``url`` migrated up to ``revision`` only, as an
    older version of the tracker left it; the engine is disposed of afterwards."""
    import sqlalchemy as sa
    from alembic import command

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config = migrations_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            yield conn
    finally:
        engine.dispose()


def make_config(folder: Path, body: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write_config(folder, body), env=env or {})
