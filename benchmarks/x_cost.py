"""X cost: posts read per new mention over a replayed week of overlapping polls (X bills every post read)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import Row

TARGET = 1.05
START = datetime(2026, 11, 9, tzinfo=UTC)


def measure(days: int, every: timedelta) -> tuple[int, int, int]:
    """(posts read, new mentions, polls) after polling every ``every`` for ``days`` days while posts arrive."""
    import json

    from sqlalchemy import select

    from tests.support.http_server import RecordingServer
    from tests.support.x_api import SYNTHETIC_AUTHOR, XRig, id_at, synthetic_posts, synthetic_template
    from tracker.schema import connector_runs

    with RecordingServer() as server, tempfile.TemporaryDirectory() as tmp:
        rig = XRig(server, Path(tmp), now=START, domains=("example.com",),
                   extra='initial_lookback = "1h"\ninterval = "15m"\n')  # fmt: skip
        rig.api.add([], [SYNTHETIC_AUTHOR])
        template = synthetic_template()
        # A post every 7 minutes for the whole week; one in fifty on a look-alike host (X's url: matches it).
        posts = synthetic_posts(template, days * 24 * 60 // 7, start=START, url="https://example.com/p/{n}")
        for index, post in enumerate(posts):
            moment = START + timedelta(minutes=7 * index)
            post["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            post["id"] = str(id_at(moment) + index % 4096)
            if index % 50 == 0:
                post["entities"]["urls"][0]["expanded_url"] = f"https://example.com.evil.test/p/{index}"
        rig.api.add(posts)
        polls = 0
        end = START + timedelta(days=days)
        while rig.clock() < end:
            rig.clock.advance(seconds=every.total_seconds())
            rig.poll()
            polls += 1
        with rig.store.read() as conn:
            counters = [json.loads(c or "{}") for (c,) in conn.execute(select(connector_runs.c.counters))]
        posts_read = sum(c.get("posts_read", 0) for c in counters)
        new = rig.store.count_mentions()
        rig.store.close()
    return posts_read, new, polls


def run(quick: bool) -> list[Row]:
    days = 1 if quick else 7
    posts_read, new, polls = measure(days, timedelta(minutes=15))
    ratio = posts_read / new if new else float("inf")
    return [
        Row("X cost", f"posts read per new mention, {polls} polls over {days} day(s)", f"{ratio:.3f}", "1.0",
            f"{ratio:.3f}x", f"<= {TARGET}", None if quick else ratio <= TARGET),
    ]  # fmt: skip
