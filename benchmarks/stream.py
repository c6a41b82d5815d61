"""Stream: Jetstream events/s through the real stream handler (reject, parse the candidates, build the pages
with their mentions and cursor) from an in-memory replay, against ``json.loads`` of the same lines."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import Row
from benchmarks.data import jetstream_lines

RATIO_TARGET, RATE_TARGET = 0.5, 20_000
PAGE_EVERY = 5_000  # events between pages (about a second of the whole Bluesky post stream)


def measure(count: int) -> tuple[float, float, int]:
    from connectors.bluesky.jetstream import JetstreamConnector, Progress, StreamHandler, time_us
    from tracker.config import parse_config
    from tracker.connector import Author, ConnectorContext, MemoryAuthorCache
    from tracker.urls import DomainMatcher

    lines = jetstream_lines(count)
    started = time.perf_counter()
    for line in lines:
        json.loads(line)
    floor = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config(
            {"domains": [{"name": "example.com"}], "connectors": {"stream": {"type": "jetstream"}}},
            Path(tmp) / "tracker.toml", {},
        )  # fmt: skip
        authors = MemoryAuthorCache()
        now = datetime.now(UTC)
        authors.put_many(
            [Author("bluesky", f"did:plc:bench{n:07d}", f"u{n}.test", f"U {n}", n, now) for n in range(5000)]
        )
        context = ConnectorContext(data_dir=Path(tmp), authors=authors)
        connector = JetstreamConnector("stream", config.connectors["stream"], context)
        handler = StreamHandler(DomainMatcher([("example.com", True)]).needles)
        mentions = 0
        started = time.perf_counter()
        for index, line in enumerate(lines, 1):
            handler.handle(line)
            if index % PAGE_EVERY == 0 or index == len(lines):
                page = connector.page(handler, Progress(time_us(line)))
                mentions += len(page.mentions)
        took = time.perf_counter() - started
        connector.close()
    return floor, took, mentions


def run(quick: bool) -> list[Row]:
    count = 20_000 if quick else 200_000
    floor, took, mentions = measure(count)
    rate, floor_rate = count / took, count / floor
    return [
        Row("stream", f"Jetstream events/s through the stream handler, {count:,} events, {mentions:,} mentions",
            f"{rate:,.0f}/s", f"{floor_rate:,.0f}/s", f"{floor / took:.2f}x", f">= {RATIO_TARGET}x and >= {RATE_TARGET:,}/s",
            None if quick else (floor / took >= RATIO_TARGET and rate >= RATE_TARGET)),
    ]  # fmt: skip
