"""Ingest: mentions/s through the real poll path (normalize, match, canonicalize, upsert, snapshot, cursor),
half of the posts already stored, against a plain ``executemany`` upsert of exactly the rows it writes
(mentions, links, snapshots) with the stdlib driver / psycopg, in batches of the same size."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import Row
from benchmarks.data import hn_hits
from connectors.hackernews import normalize_hit
from tracker.config import parse_config
from tracker.connector import Connector, FetchRequest, Page, Usage
from tracker.page_writer import content_hash
from tracker.poller import MentionFilter, Poller
from tracker.schema import links, mentions, metric_snapshots
from tracker.settings import Config, ConnectorSettings, DomainSettings
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


@dataclass(frozen=True)
class Marks:
    """The highest row ids before the timed pass: rows above them are the ones the pass wrote."""

    mention: int
    snapshot: int


def _timed_pass(folder: Path, database_url: str, total: int) -> tuple[float, int, Marks]:
    """Store the first half, then time one pass over every post. Returns (seconds, rows the pass wrote, the
    id marks that tell the pass's rows from the first half's)."""
    _HITS[:] = hn_hits(total)
    store = Store.open(database_url)
    Poller(_config(folder, database_url, 0, total // 2), store).poll("replay")
    with store.engine.begin() as conn:  # a fresh cursor: the pass reads every post again
        conn.exec_driver_sql("DELETE FROM cursors")
        marks = Marks(
            conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM mentions").scalar_one(),
            conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM metric_snapshots").scalar_one(),
        )
    store.optimize()  # a store in steady state has planner statistics (the daemon refreshes them daily)
    poller = Poller(_config(folder, database_url, 0, total), store)
    started = time.perf_counter()
    result = poller.poll("replay")
    seconds = time.perf_counter() - started
    _HITS.clear()
    store.close()
    if result.status != "ok":
        raise RuntimeError(f"the pipeline failed: {result.error}")
    return seconds, result.new + result.updated, marks


Rows = list[tuple[Any, ...]]


@dataclass
class Chunk:
    """100 mentions of the pipeline's database, in the order it wrote them, split by the marks."""

    stored: Rows  # mentions stored before the timed pass
    stored_links: Rows
    stored_snapshots: Rows
    inserted: Rows  # mentions the timed pass inserted
    new_links: Rows
    new_snapshots: Rows  # snapshots the timed pass took


def _chunks(database_url: str, marks: Marks) -> Iterator[Chunk]:
    store = Store.open(database_url)
    try:
        with store.read() as conn:
            ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM mentions ORDER BY id")]
            for start in range(0, len(ids), BATCH):
                low, high = ids[start], ids[min(start + BATCH, len(ids)) - 1]
                batch = [
                    tuple(r) for r in conn.execute(mentions.select().where(mentions.c.id.between(low, high)))
                ]
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
                yield Chunk(
                    stored=[row for row in batch if row[0] <= marks.mention],
                    stored_links=[row for row in link_rows if row[1] <= marks.mention],
                    stored_snapshots=[row for row in snap_rows if row[0] <= marks.snapshot],
                    inserted=[row for row in batch if row[0] > marks.mention],
                    new_links=[row for row in link_rows if row[1] > marks.mention],
                    new_snapshots=[row for row in snap_rows if row[0] > marks.snapshot],
                )
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


def _floor(database_url: str, marks: Marks, write: Callable[[Rows, Rows, Rows], None]) -> float:
    """Seconds the plain upserts of the pass's rows take, starting from the same half-filled state (the first
    half's mentions, links and snapshots, written untimed): every mention of the pass upserted (an update when
    it was stored before, an insert when new), with the new mentions' links and the snapshots the pass took."""
    seconds = 0.0
    for chunk in _chunks(database_url, marks):
        if chunk.stored:
            write(chunk.stored, chunk.stored_links, chunk.stored_snapshots)  # the state before the pass
        started = time.perf_counter()
        write(chunk.stored + chunk.inserted, chunk.new_links, chunk.new_snapshots)
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
        seconds, written, marks = _timed_pass(folder, url, total)
        floor_db = folder / "floor.db"
        Store.open(f"sqlite:///{floor_db}").close()
        conn = sqlite3.connect(floor_db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        upsert, insert_link, insert_snapshot = _statements("?")

        def write(batch: list[Any], link_rows: list[Any], snap_rows: list[Any]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(upsert, [_text_times(r) for r in batch])
            conn.executemany(insert_link, link_rows)
            conn.executemany(insert_snapshot, [_text_times(r) for r in snap_rows])
            conn.execute("COMMIT")

        floor = _floor(url, marks, write)
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
        seconds, written, marks = _timed_pass(Path(tmp), url, total)
        Store.open(floor_url).close()
        conninfo = floor_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as conn:
            upsert, insert_link, insert_snapshot = [s.replace("?", "%s") for s in _statements("?")]

            def write(batch: list[Any], link_rows: list[Any], snap_rows: list[Any]) -> None:
                with conn.cursor() as cur:
                    cur.executemany(upsert, batch)
                    cur.executemany(insert_link, link_rows)
                    cur.executemany(insert_snapshot, snap_rows)
                conn.commit()

            floor = _floor(url, marks, write)
    return seconds, floor, written


def measure_python_only(total: int) -> float:
    """Seconds the pipeline's own Python work takes with no database at all: the connector's normalize, the
    poller's match and canonicalize, the writer's content hash; caches warmed by a first half as in the timed
    pass. ``floor / this`` is the best ratio any database layer could reach on this machine."""
    hits = hn_hits(total)
    keep = MentionFilter([DomainSettings(name="example.com")])

    def one_pass(stop: int) -> float:
        started = time.perf_counter()
        for offset in range(0, stop, BATCH):
            for mention in keep.apply([normalize_hit(hit) for hit in hits[offset : offset + BATCH]]):
                content_hash(mention)
        return time.perf_counter() - started

    one_pass(total // 2)
    return one_pass(total)


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
    python_only = measure_python_only(total)
    rows.append(
        Row(
            "ingest", "posts/s of the pipeline's Python work alone (normalize, match, hash; no database); ratio = "
            "SQLite floor / this", f"{total / python_only:,.0f}/s", f"{total / floor:,.0f}/s",
            f"{floor / python_only:.2f}x", "-", None,
        )
    )  # fmt: skip
    if postgres_url:
        seconds, floor, _ = measure_postgres(total, postgres_url)
        rows.append(_row("PostgreSQL", total, seconds, floor, quick))
    return rows
