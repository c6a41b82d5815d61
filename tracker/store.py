"""The store: mentions, links, metric snapshots, cursors, runs, coverage gaps, authors and connector state.

SQLite (WAL, busy timeout) is the embedded default; PostgreSQL (psycopg 3) the scale-out store. Migrations
are applied when the store is opened. :meth:`Store.write_page` is the one place mentions are written: a
page's mentions, deletions, gaps, usage and cursor land in a single transaction.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from tracker import outbox as alerts
from tracker import page_writer, waiting
from tracker.connector import Author, Cursor, Page, Usage, state_json
from tracker.errors import StoreError
from tracker.page_writer import WriteResult, content_hash
from tracker.record import METRIC_NAMES, Link, Mention, Metrics
from tracker.refresh import next_refresh_due
from tracker.schema import (
    HEAD_REVISION,
    authors,
    connector_runs,
    connector_state,
    cursors,
    daemon_state,
    links,
    mentions,
)
from tracker.shortlinks import Resolution
from tracker.sql import Driver, upsert_insert
from tracker.waiting import Waiting

_CHUNK = 500  # ids per IN (...) list
_LOCK_WAIT = 30.0  # seconds, as the busy timeout


def _use_wal(cursor: Any) -> None:
    """Switch the connection's database to WAL. While another connection is creating the same new database,
    SQLite answers this "database is locked" at once instead of waiting out the busy timeout: wait here."""
    deadline = time.monotonic() + _LOCK_WAIT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _sqlite_engine(url: str) -> Engine:
    path = url.partition(":///")[2]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _LOCK_WAIT})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(_LOCK_WAIT * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the write lock up front so two writers queue instead of deadlocking; readers don't.
        if connection.get_execution_options().get("readonly"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` with the tracker's settings; StoreError with the fix when it cannot be made."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except ImportError as exc:
        raise StoreError(
            f"{url.split(':', maxsplit=1)[0]} needs the psycopg library; install it with: pip install 'mention-tracker[postgres]'"
        ) from exc


class Store:
    """Reads and writes the tracker's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)  # as configured, once opened
        self.dialect = engine.dialect.name
        self._held = threading.local()  # this thread's connection for page writes, see holding_connection

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the database at ``url`` and bring its schema up to date."""
        store = cls(create_store_engine(url))
        store.url = url
        if migrate:
            try:
                store.migrate()
            except DatabaseError as exc:  # unreachable, refused, or not a database at all
                store.close()
                raise _cannot_open(url, exc) from exc
            except StoreError:
                store.close()
                raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    # Schema

    def check_schema(self) -> str | None:
        """The schema revision, read without migrating (None: no schema yet); the StoreError :meth:`open` would
        raise when the database cannot be read or is newer than this release."""
        try:
            with self.read() as conn:
                current = self.revision(conn)
        except DatabaseError as exc:
            raise _cannot_open(self.url, exc) from exc
        self._refuse_newer(current)
        return current

    def _refuse_newer(self, current: str | None) -> None:
        if current is not None and current.isdigit() and int(current) > int(HEAD_REVISION):
            raise StoreError(
                f"the database {_safe_url(self.url)} has schema {current}, newer than this mention-tracker knows "
                f"({HEAD_REVISION}); upgrade mention-tracker, or set tracker.database_url to another database"
            )

    def revision(self, conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def migrate(self) -> None:
        """Apply pending Alembic migrations (a no-op, without importing Alembic, when up to date)."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/tracker-migrate'))")
                )
            current = self.revision(conn)
            if current == HEAD_REVISION:
                return
            self._refuse_newer(current)
            from alembic import command
            from alembic.config import Config as AlembicConfig

            config = AlembicConfig()
            config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    # Writing

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_*`` (upserts)."""
        return upsert_insert(self.dialect, table)

    def write_page(
        self,
        *,
        connector: str,
        platform: str,
        run_id: int | None,
        page: Page,
        mentions_to_store: Sequence[Mention],
        now: datetime,
        refresh_kinds: frozenset[str] = frozenset(),
        refresh_every: timedelta | None = None,
        state: Mapping[str, str | None] | None = None,
        waiting_for_links: Sequence[tuple[Mention, Collection[str]]] | None = None,
        outbox: alerts.Outbox | None = None,
    ) -> WriteResult:
        """Store a page in one transaction: mentions (upserted), deletions, gaps, usage, cursor and the
        connector's state changes (see :func:`tracker.page_writer.write_page`); resolving short links
        (``waiting_for_links`` given), also the posts that wait for theirs, and the page's deleted posts leave
        that queue."""
        held: Connection | None = getattr(self._held, "conn", None)
        with self.engine.begin() if held is None else _begun(held) as conn:
            written = page_writer.write_page(
                conn, self.dialect, connector=connector, platform=platform, run_id=run_id, page=page,
                mentions_to_store=mentions_to_store, now=now, refresh_kinds=refresh_kinds,
                refresh_every=refresh_every, state=state, outbox=outbox,
            )  # fmt: skip
            if waiting_for_links is not None:
                if page.deleted:
                    waiting.forget(conn, platform, page.deleted)
                if waiting_for_links:
                    waiting.queue(conn, connector, waiting_for_links, refresh_kinds, now)
            return written

    # Short links (see tracker.waiting)

    def known_short_links(self, urls: Collection[str], now: datetime) -> dict[str, str | None]:
        """The targets of these short links where known (None: the lookup failed less than a day ago)."""
        if not urls:
            return {}
        with self.read() as conn:
            return waiting.known(conn, urls, now)

    def remember_short_link(self, resolution: Resolution) -> None:
        with self.engine.begin() as conn:
            waiting.remember(conn, resolution)

    def waiting_for_links(self, limit: int) -> list[Waiting]:
        """The posts waiting longest for their short links."""
        with self.read() as conn:
            return waiting.oldest(conn, limit)

    def settle_waiting(
        self,
        decided: Sequence[tuple[Waiting, Mention | None]],
        now: datetime,
        outbox: alerts.Outbox | None = None,
    ) -> int:
        """In one transaction, store the waiting posts that turned out to link to us (``decided`` pairs a
        queued post with its matched mention, or None) and take all of them off the queue; returns how many
        mentions were new."""
        new = 0
        with self.engine.begin() as conn:
            for item, mention in decided:
                if mention is not None:
                    new += page_writer.write_page(
                        conn, self.dialect, connector=item.connector, platform=mention.platform, run_id=None,
                        page=Page("short_links"), mentions_to_store=[mention], now=now,
                        refresh_kinds=item.refresh_kinds, outbox=outbox,
                    ).new  # fmt: skip
            waiting.done(conn, [item.id for item, _ in decided])
        return new

    def short_link_counts(self, since: datetime) -> Mapping[str, int]:
        with self.read() as conn:
            return waiting.counts(conn, since)

    @contextmanager
    def holding_connection(self) -> Iterator[None]:
        """Write this thread's pages through one connection until the block ends, each page still in its own
        transaction. A pass writes page after page; this saves a pool checkout and return per page (and on
        PostgreSQL the liveness ping). A connection lost meanwhile fails that page's write like any other
        database error; the next pass starts with a fresh one."""
        if getattr(self._held, "conn", None) is not None:
            yield
            return
        with self.engine.connect() as conn:
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None

    def record_usage(
        self,
        run_id: int,
        usage: Usage,
        *,
        connector: str,
        now: datetime,
        state: Mapping[str, str | None] | None = None,
    ) -> None:
        """Add usage that no stored page carried (requests of a failed pass) to a run, with the state changes
        of ``connector`` no stored page carried, in one transaction."""
        with self.engine.begin() as conn:
            driver = Driver(conn, self.dialect)
            page_writer.count_run(driver, run_id, Page("", usage=usage), WriteResult(), 0, pages=0)
            if state:
                page_writer.save_state(driver, connector, state, now)

    # Runs

    def start_run(self, connector: str, kind: str, now: datetime) -> int:
        """Record the start of a run; an earlier run of the same connector and kind still marked running is
        closed as aborted (one writer runs each job, so its process ended without finishing it)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(connector_runs)
                .where(
                    connector_runs.c.connector == connector,
                    connector_runs.c.kind == kind,
                    connector_runs.c.status == "running",
                )
                .values(status="aborted", finished_at=now, error="the process ended before the run finished")
            )
            statement = connector_runs.insert().values(
                connector=connector,
                kind=kind,
                status="running",
                started_at=now,
                pid=os.getpid(),
                host=socket.gethostname(),
            )
            key = conn.execute(statement).inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(
        self,
        run_id: int,
        status: str,
        now: datetime,
        error: str | None = None,
        outbox: alerts.Outbox | None = None,
    ) -> None:
        """Record the end of a run; with ``outbox``, and whether the connector went down or recovered."""
        values: dict[str, Any] = {"status": status, "finished_at": now}
        if error is not None:
            values["error"] = error
        with self.engine.begin() as conn:
            conn.execute(update(connector_runs).where(connector_runs.c.id == run_id).values(values))
            if outbox is not None:
                row = conn.execute(
                    select(connector_runs.c.connector, connector_runs.c.kind).where(
                        connector_runs.c.id == run_id
                    )
                ).one()
                if row.kind in ("poll", "stream"):
                    driver = Driver(conn, self.dialect)
                    alerts.note_run(driver, outbox, row.connector, status, error, now)
                    driver.cursor.close()

    def run(self, run_id: int) -> dict[str, Any]:
        with self.read() as conn:
            row = conn.execute(select(connector_runs).where(connector_runs.c.id == run_id)).mappings().one()
            return dict(row)

    def first_run_at(self) -> datetime | None:
        """When any connector first ran here (None before the first run)."""
        with self.read() as conn:
            return conn.execute(select(func.min(connector_runs.c.started_at))).scalar()

    def spend_since(self, connector: str, since: datetime) -> float:
        """Estimated spend of ``connector``'s runs started since ``since``."""
        with self.read() as conn:
            query = select(func.coalesce(func.sum(connector_runs.c.cost_usd), 0.0)).where(
                connector_runs.c.connector == connector, connector_runs.c.started_at >= since
            )
            return float(conn.execute(query).scalar() or 0.0)

    # Reading

    def read(self) -> Connection:
        """A connection for reading (on SQLite it does not take the write lock); use it as a context."""
        return self.engine.connect().execution_options(readonly=True)

    def cursors(self, connector: str) -> dict[str, Cursor]:
        with self.read() as conn:
            rows = conn.execute(
                select(cursors.c.source_key, cursors.c.version, cursors.c.state).where(
                    cursors.c.connector == connector
                )
            )
            return {row.source_key: Cursor(row.version, json.loads(row.state)) for row in rows}

    def count_mentions(self, *, include_deleted: bool = True) -> int:
        with self.read() as conn:
            query = select(func.count()).select_from(mentions)
            if not include_deleted:
                query = query.where(mentions.c.deleted_at.is_(None))
            return int(conn.execute(query).scalar() or 0)

    def iter_mentions(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        include_deleted: bool = False,
        batch_size: int = 1000,
    ) -> Iterator[Mention]:
        """Mentions created in ``[since, until)``, newest first, with links and latest metrics."""
        query = select(mentions).order_by(mentions.c.created_at.desc(), mentions.c.id.desc())
        if since is not None:
            query = query.where(mentions.c.created_at >= since)
        if until is not None:
            query = query.where(mentions.c.created_at < until)
        if not include_deleted:
            query = query.where(mentions.c.deleted_at.is_(None))
        with self.read() as conn:
            result = conn.execution_options(yield_per=batch_size).execute(query).mappings()
            for rows in result.partitions():
                ids = [row["id"] for row in rows]
                by_mention: dict[int, list[Link]] = {}
                link_query = (
                    select(links)
                    .where(links.c.mention_id.in_(ids))
                    .order_by(links.c.mention_id, links.c.position)
                )
                with self.read() as link_conn:
                    for link in link_conn.execute(link_query).mappings():
                        by_mention.setdefault(link["mention_id"], []).append(
                            Link(
                                url=link["url"],
                                source=link["source"],
                                anchor_text=link["anchor_text"],
                                canonical_url=link["canonical_url"],
                                domain=link["domain"],
                            )
                        )
                for row in rows:
                    yield mention_from_row(row, tuple(by_mention.get(row["id"], ())))

    # Engagement refresh and retention

    def due_for_refresh(
        self, connector: str, now: datetime, *, limit: int = 1000
    ) -> list[tuple[str, datetime]]:
        """(platform_id, created_at) of live mentions ``connector`` found whose refresh is due, oldest due first."""
        query = (
            select(mentions.c.platform_id, mentions.c.created_at)
            .where(
                mentions.c.found_by == connector,
                mentions.c.refresh_due_at <= now,
                mentions.c.deleted_at.is_(None),
            )
            .order_by(mentions.c.refresh_due_at)
            .limit(limit)
        )
        with self.read() as conn:
            return [(row.platform_id, row.created_at) for row in conn.execute(query)]

    def advance_refresh(
        self,
        platform: str,
        refreshed: Sequence[tuple[str, datetime]],
        now: datetime,
        every: timedelta | None = None,
    ) -> None:
        """Move each refreshed mention to its next refresh time (or none after the last, unless ``every``)."""
        rows = [
            {"_platform_id": platform_id, "_due": next_refresh_due(created_at, now, every)}
            for platform_id, created_at in refreshed
        ]
        if not rows:
            return
        statement = (
            update(mentions)
            .where(mentions.c.platform == platform, mentions.c.platform_id == bindparam("_platform_id"))
            .values(refresh_due_at=bindparam("_due"))
        )
        with self.engine.begin() as conn:
            conn.execute(statement, rows)

    def optimize(self) -> None:
        """Refresh the query planner's statistics (the daemon does this daily, autovacuum may lag)."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("ANALYZE mentions, links, metric_snapshots")
            else:
                conn.exec_driver_sql("PRAGMA optimize")

    def erase_raw_before(self, cutoff: datetime) -> int:
        """Erase the raw payloads received before ``cutoff`` (the records stay).

        By when the payload arrived (``first_seen_at``), not when the post was made: a backfilled year-old post
        keeps its payload for the whole retention too."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(mentions)
                .where(mentions.c.first_seen_at < cutoff, mentions.c.raw.is_not(None))
                .values(raw=None)
            )
            return int(result.rowcount or 0)

    # Daemon state

    def set_state(self, values: Mapping[str, str], now: datetime) -> None:
        """Upsert small key/value facts the daemon shares with `tracker status`."""
        if not values:
            return
        statement = self._insert(daemon_state)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        with self.engine.begin() as conn:
            conn.execute(statement, [{"key": k, "value": v, "updated_at": now} for k, v in values.items()])

    def delete_state(self, keys: Sequence[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(daemon_state.delete().where(daemon_state.c.key.in_(list(keys))))

    def state(self, prefix: str = "") -> dict[str, tuple[str, datetime]]:
        query = select(daemon_state).where(daemon_state.c.key.startswith(prefix, autoescape=True))
        with self.read() as conn:
            return {row.key: (row.value, row.updated_at) for row in conn.execute(query)}

    # Connector state (written with pages, see page_writer.save_state)

    def connector_state(self, connector: str, keys: Sequence[str]) -> dict[str, Any]:
        """The stored values of those of ``keys`` that ``connector`` has set."""
        found: dict[str, Any] = {}
        with self.read() as conn:
            for start in range(0, len(keys), _CHUNK):
                query = select(connector_state.c.key, connector_state.c.value).where(
                    connector_state.c.connector == connector,
                    connector_state.c.key.in_(keys[start : start + _CHUNK]),
                )
                found.update((row.key, json.loads(row.value)) for row in conn.execute(query))
        return found

    def connector_state_keys(self, connector: str, prefix: str = "") -> list[str]:
        """The keys ``connector`` has set that start with ``prefix``, sorted."""
        query = (
            select(connector_state.c.key)
            .where(
                connector_state.c.connector == connector,
                connector_state.c.key.startswith(prefix, autoescape=True),
            )
            .order_by(connector_state.c.key)
        )
        with self.read() as conn:
            return list(conn.execute(query).scalars())

    # Authors

    def authors(self, platform: str, author_ids: Sequence[str]) -> dict[str, Author]:
        found: dict[str, Author] = {}
        with self.read() as conn:
            for start in range(0, len(author_ids), _CHUNK):
                query = select(authors).where(
                    authors.c.platform == platform,
                    authors.c.author_id.in_(author_ids[start : start + _CHUNK]),
                )
                for row in conn.execute(query).mappings():
                    found[row["author_id"]] = Author(
                        platform,
                        row["author_id"],
                        row["handle"],
                        row["name"],
                        row["followers"],
                        row["fetched_at"],
                    )
        return found

    def save_authors(self, items: Sequence[Author], now: datetime) -> None:
        if not items:
            return
        statement = self._insert(authors)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["platform", "author_id"],
            set_={name: excluded[name] for name in ("handle", "name", "followers", "fetched_at")},
        )
        rows = [
            {
                "platform": a.platform,
                "author_id": a.author_id,
                "handle": a.handle,
                "name": a.name,
                "followers": a.followers,
                "fetched_at": a.fetched_at or now,
            }
            for a in items
        ]
        with self.engine.begin() as conn:
            conn.execute(statement, rows)


class StoreAuthorCache:
    """The :class:`~tracker.connector.AuthorCache` the poller lends connectors, kept in the store."""

    def __init__(self, store: Store, clock: Any) -> None:
        self._store = store
        self._clock = clock

    def get_many(self, platform: str, author_ids: Sequence[str]) -> dict[str, Author]:
        return self._store.authors(platform, list(author_ids))

    def put_many(self, items: Sequence[Author]) -> None:
        self._store.save_authors(items, self._clock())


class StoreConnectorState:
    """The :class:`~tracker.connector.ConnectorState` the poller lends a connector: reads come from the store,
    writes wait in :meth:`take_changes` for the poller to store them with the next page."""

    def __init__(self, store: Store, connector: str) -> None:
        self._store = store
        self._connector = connector
        self._changes: dict[str, str | None] = {}  # JSON text by key; None deletes
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(dict.fromkeys(keys))
        with self._lock:
            changed = {key: self._changes[key] for key in wanted if key in self._changes}
        found = self._store.connector_state(self._connector, [key for key in wanted if key not in changed])
        found.update((key, json.loads(value)) for key, value in changed.items() if value is not None)
        return found

    def keys(self, prefix: str = "") -> list[str]:
        found = set(self._store.connector_state_keys(self._connector, prefix))
        with self._lock:
            for key, value in self._changes.items():
                if not key.startswith(prefix):
                    continue
                if value is None:
                    found.discard(key)
                else:
                    found.add(key)
        return sorted(found)

    def set(self, key: str, value: Any) -> None:
        stored = state_json(key, value)
        with self._lock:
            self._changes[key] = stored

    def delete(self, key: str) -> None:
        self.set(key, None)

    def take_changes(self) -> dict[str, str | None]:
        """The writes since the last call, for the poller to store (it stores them or the pass fails)."""
        with self._lock:
            changes, self._changes = self._changes, {}
        return changes


@contextmanager
def _begun(conn: Connection) -> Iterator[Connection]:
    with conn.begin():
        yield conn


def mention_from_row(row: Mapping[Any, Any], mention_links: tuple[Link, ...]) -> Mention:
    """A :class:`Mention` from a ``mentions`` row and its links."""
    return Mention(
        platform=row["platform"],
        platform_id=row["platform_id"],
        kind=row["kind"],
        permalink=row["permalink"],
        created_at=row["created_at"],
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        author_id=row["author_id"],
        author_handle=row["author_handle"],
        author_name=row["author_name"],
        author_followers=row["author_followers"],
        community=row["community"],
        community_size=row["community_size"],
        title=row["title"],
        text=row["text"],
        lang=row["lang"],
        thread_id=row["thread_id"],
        parent_id=row["parent_id"],
        links=mention_links,
        metrics=Metrics(*(row[name] for name in METRIC_NAMES)),
        raw=row["raw"],
        deleted_at=row["deleted_at"],
        value=row["value"],
    )


def _cannot_open(url: str, exc: DatabaseError) -> StoreError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return StoreError(f"cannot open the database {_safe_url(url)}: {reason}")


def _safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    head, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":")[0]
        return f"{head}://{user}@{host}"
    return url


__all__ = [
    "SQLAlchemyError", "Store", "StoreAuthorCache", "StoreConnectorState", "WriteResult", "content_hash",
    "mention_from_row",
]  # fmt: skip
