"""Ingest: mentions/s through the real poll path (normalize, match, canonicalize, upsert, snapshot, cursor),
half of the posts already stored, against a plain ``executemany`` upsert of exactly the rows it writes
(mentions, links, snapshots) with the stdlib driver / psycopg, in batches of the same size."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import Row
from benchmarks.data import hn_hits
from connectors.hackernews import normalize_hit
from tracker.config import Config, ConnectorSettings, parse_config
from tracker.connector import Connector, FetchRequest, Page, Usage
from tracker.poller import Poller
from tracker.schema import links, mentions, metric_snapshots
from tracker.store import Store

BATCH = 100
TARGET = 0.5


class ReplaySettings(ConnectorSettings):
    start: int = 0
    stop: int = 0


_HITS: list[dict[str, Any]] = []  # the API's answers, generated before the clock starts (as if received)


class ReplayConnector(Connector):
    """Generated Algolia hits, normalized by the Hacker News connector's own code, 100 per page."""

    type = "replay"
    platform = "hackernews"
    Settings = ReplaySettings

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        settings: Any = self.settings
        for offset in range(settings.start, settings.stop, BATCH):
            batch = _HITS[offset : min(offset + BATCH, settings.stop)]
            yield Page(
                "replay",
                [normalize_hit(hit) for hit in batch],
                cursor=self.make_cursor({"offset": offset + len(batch)}),
                usage=Usage(requests=1, items_read=len(batch)),
            )


def _config(folder: Path, database_url: str, start: int, stop: int) -> Config:
    data = {
        "tracker": {"data_dir": str(folder), "database_url": database_url},
        "domains": [{"name": "example.com"}],
        "connectors": {"replay": {"type": "benchmarks.ingest:ReplayConnector", "start": start, "stop": stop}},
    }
    return parse_config(data, folder / "tracker.toml", {})


def _timed_pass(folder: Path, database_url: str, total: int) -> tuple[float, int]:
    """Store the first half, then time one pass over every post. Returns (seconds, rows the pass wrote)."""
    _HITS[:] = hn_hits(total)
    store = Store.open(database_url)
    Poller(_config(folder, database_url, 0, total // 2), store).poll("replay")
    with store.engine.begin() as conn:  # a fresh cursor: the pass reads every post again
        conn.exec_driver_sql("DELETE FROM cursors")
    store.optimize()  # a store in steady state has planner statistics (the daemon refreshes them daily)
    poller = Poller(_config(folder, database_url, 0, total), store)
    started = time.perf_counter()
    result = poller.poll("replay")
    seconds = time.perf_counter() - started
    _HITS.clear()
    store.close()
    if result.status != "ok":
        raise RuntimeError(f"the pipeline failed: {result.error}")
    return seconds, result.new + result.updated


def _chunks(
    database_url: str,
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], bool]]:
    """The pipeline's rows, 100 mentions at a time in the order it wrote them, with their links and snapshots."""
    store = Store.open(database_url)
    try:
        with store.read() as conn:
            first_seen = conn.exec_driver_sql("SELECT MAX(first_seen_at) FROM mentions").scalar()
            ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM mentions ORDER BY id")]
            for start in range(0, len(ids), BATCH):
                low, high = ids[start], ids[min(start + BATCH, len(ids)) - 1]
                batch = [
                    tuple(r) for r in conn.execute(mentions.select().where(mentions.c.id.between(low, high)))
                ]
                is_new = any(row[6] == first_seen for row in batch)
                link_rows = [
                    tuple(r)
                    for r in conn.execute(links.select().where(links.c.mention_id.between(low, high)))
                ]
                snap_rows = [
                    tuple(r)
                    for r in conn.execute(
                        metric_snapshots.select().where(metric_snapshots.c.mention_id.between(low, high))
                    )
                ]
                yield batch, link_rows, snap_rows, is_new
    finally:
        store.close()


def _statements(mark: str) -> tuple[str, str, str]:
    names = [c.name for c in mentions.columns]
    updated = ("last_seen_at", "likes", "reposts", "replies", "quotes", "score", "views", "engagement")
    upsert = (
        f"INSERT INTO mentions ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))}) "
        f"ON CONFLICT (platform, platform_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in updated)}"
    )
    link_names = [c.name for c in links.columns]
    snap_names = [c.name for c in metric_snapshots.columns]
    return (
        upsert,
        f"INSERT INTO links ({', '.join(link_names)}) VALUES ({', '.join([mark] * len(link_names))})",
        f"INSERT INTO metric_snapshots ({', '.join(snap_names)}) VALUES ({', '.join([mark] * len(snap_names))})",
    )


def _floor(
    database_url: str,
    write: Callable[[list[Any], list[Any], list[Any]], None],
    seed: Callable[[list[Any]], None],
) -> float:
    """Seconds the plain upserts of the pipeline's rows take, starting from the same half-filled state."""
    seconds = 0.0
    for batch, link_rows, snap_rows, is_new in _chunks(database_url):
        if not is_new:
            seed(batch)  # the half that was already stored before the timed pass (untimed)
        started = time.perf_counter()
        write(batch, link_rows if is_new else [], snap_rows if is_new else [])
        seconds += time.perf_counter() - started
    return seconds


def _text_times(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        value.replace(tzinfo=None).isoformat(" ", "microseconds") if hasattr(value, "tzinfo") else value
        for value in row
    )


def measure_sqlite(total: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'pipeline.db'}"
        seconds, written = _timed_pass(folder, url, total)
        floor_db = folder / "floor.db"
        Store.open(f"sqlite:///{floor_db}").close()
        conn = sqlite3.connect(floor_db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        upsert, insert_link, insert_snapshot = _statements("?")

        def seed(batch: list[Any]) -> None:
            conn.execute("BEGIN")
            conn.executemany(upsert, [_text_times(r) for r in batch])
            conn.execute("COMMIT")

        def write(batch: list[Any], link_rows: list[Any], snap_rows: list[Any]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(upsert, [_text_times(r) for r in batch])
            conn.executemany(insert_link, link_rows)
            conn.executemany(insert_snapshot, [_text_times(r) for r in snap_rows])
            conn.execute("COMMIT")

        floor = _floor(url, write, seed)
        conn.close()
    return seconds, floor, written


@contextmanager
def _schema(base_url: str) -> Iterator[str]:
    import uuid

    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    conninfo = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{base_url}?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def measure_postgres(total: int, base_url: str) -> tuple[float, float, int]:
    import psycopg

    with tempfile.TemporaryDirectory() as tmp, _schema(base_url) as url, _schema(base_url) as floor_url:
        seconds, written = _timed_pass(Path(tmp), url, total)
        Store.open(floor_url).close()
        conninfo = floor_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as conn:
            upsert, insert_link, insert_snapshot = [s.replace("?", "%s") for s in _statements("?")]

            def seed(batch: list[Any]) -> None:
                with conn.cursor() as cur:
                    cur.executemany(upsert, batch)
                conn.commit()

            def write(batch: list[Any], link_rows: list[Any], snap_rows: list[Any]) -> None:
                with conn.cursor() as cur:
                    cur.executemany(upsert, batch)
                    cur.executemany(insert_link, link_rows)
                    cur.executemany(insert_snapshot, snap_rows)
                conn.commit()

            floor = _floor(url, write, seed)
    return seconds, floor, written


def _row(database: str, total: int, seconds: float, floor: float, quick: bool) -> Row:
    rate, floor_rate = total / seconds, total / floor
    ratio = floor / seconds
    return Row(
        "ingest", f"posts/s through the poll path, {total:,} posts, half stored ({database})",
        f"{rate:,.0f}/s", f"{floor_rate:,.0f}/s", f"{ratio:.2f}x", f">= {TARGET}x", None if quick else ratio >= TARGET,
    )  # fmt: skip


def run(quick: bool, postgres_url: str | None) -> list[Row]:
    total = 2_000 if quick else 200_000
    seconds, floor, _ = measure_sqlite(total)
    rows = [_row("SQLite", total, seconds, floor, quick)]
    if postgres_url:
        seconds, floor, _ = measure_postgres(total, postgres_url)
        rows.append(_row("PostgreSQL", total, seconds, floor, quick))
    return rows
