"""Report: seconds and peak memory to report a week of a million mentions, against pandas ``read_sql`` of the
needed columns plus a plain groupby."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import Row
from tracker.store import Store

WEEK = "2026-W47"
START = datetime(2026, 11, 16, tzinfo=UTC)
SECONDS_TARGET, MEMORY_TARGET_MB = 12.0, 1536
PLATFORMS = ("hackernews", "reddit", "bluesky", "x")


def fill(url: str, count: int) -> None:
    """``count`` mentions spread over the week, and as many over the week before (the report compares with
    it), with one or two links each, written straight to the tables, with what ingest keeps beside them (each
    mention's reach, each page's first link, each author's first mention)."""
    store = Store.open(url)
    raw = store.engine.raw_connection()
    cursor = raw.cursor()
    step = timedelta(days=14) / (2 * count)
    batch_mentions, batch_links = [], []
    link_id = 0
    for index in range(1, 2 * count + 1):
        platform = PLATFORMS[index % 4]
        created = (
            (START - timedelta(days=7) + step * index).replace(tzinfo=None).isoformat(" ", "microseconds")
        )
        community = f"r/sub{index % 300}" if platform == "reddit" else None
        text = f"Post number {index} about https://example.com/page/{index % 5000} — with some words ✨"
        # like real posts: commas, quotes and line breaks in a share of them (CSV must quote those)
        text += (
            ", and a clause" * (index % 3 == 0)
            + ' "quoted"' * (index % 7 == 0)
            + "\n\nmore" * (index % 11 == 0)
        )
        batch_mentions.append((
            index, platform, f"{platform}-{index}", "post" if index % 3 else "comment",
            f"https://social.test/{platform}/{index}", created, created, created, f"user{index % 40000}",
            f"user{index % 40000}", f"User {index % 40000}", index % 10000, community, f"Title {index}", text,
            "en", None, None, index % 50, index % 7, index % 11, None, index % 100, None, index % 50 + index % 7 + index % 11 + index % 100,
            None, None, "x", "bench", index % 10000,
        ))  # fmt: skip
        for position in range(1 + (index % 10 == 0)):
            link_id += 1
            page = f"https://example.com/page/{(index + position) % 5000}"
            batch_links.append(
                (link_id, index, position, page, page, "example.com", f"anchor {index % 97}", "text")
            )
        if len(batch_mentions) == 20_000 or index == 2 * count:
            cursor.executemany(
                "INSERT INTO mentions (id, platform, platform_id, kind, permalink, created_at, first_seen_at, "
                "last_seen_at, author_id, author_handle, author_name, author_followers, community, title, text, "
                "lang, thread_id, parent_id, likes, reposts, replies, quotes, score, views, engagement, deleted_at, "
                "raw, content_hash, found_by, reach) VALUES (" + ", ".join(["?"] * 30) + ")",
                batch_mentions,
            )
            cursor.executemany(
                "INSERT INTO links (id, mention_id, position, url, canonical_url, domain, anchor_text, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batch_links,
            )
            raw.commit()
            batch_mentions, batch_links = [], []
    cursor.execute(
        "INSERT INTO pages (canonical_url, domain, first_linked_at) SELECT l.canonical_url, MIN(l.domain), "
        "MIN(m.created_at) FROM links l JOIN mentions m ON m.id = l.mention_id GROUP BY l.canonical_url"
    )
    cursor.execute(
        "INSERT INTO author_firsts (platform, author_key, first_mention_at) SELECT platform, "
        "COALESCE(author_id, author_handle), MIN(created_at) FROM mentions GROUP BY platform, COALESCE(author_id, author_handle)"
    )
    raw.commit()
    cursor.close()
    raw.close()
    store.optimize()
    store.close()


def floor(url: str) -> tuple[float, float]:
    """Seconds and peak MB of the plainest pandas version: read the columns, group by day and platform."""
    code = f"""
import resource, time, pandas as pd, sqlalchemy as sa
engine = sa.create_engine({url!r})
started = time.perf_counter()
with engine.connect() as conn:
    frame = pd.read_sql("SELECT id, platform, created_at, author_id, community, engagement FROM mentions "
                        "WHERE created_at >= '2026-11-16' AND created_at < '2026-11-23'", conn)
    links = pd.read_sql("SELECT l.mention_id, l.canonical_url FROM links l JOIN mentions m ON m.id = l.mention_id "
                        "WHERE m.created_at >= '2026-11-16' AND m.created_at < '2026-11-23'", conn)
frame["day"] = frame["created_at"].str[:10]
frame.groupby(["day", "platform"]).size()
links.groupby("canonical_url").size()
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def measure(folder: Path, count: int) -> tuple[float, float, float, float]:
    url = f"sqlite:///{folder / 'tracker.db'}"
    fill(url, count)
    os.sync()  # the fill's gigabyte is on disk before the clock starts, not being flushed under the report
    config = folder / "tracker.toml"
    config.write_text(
        f'[tracker]\ndatabase_url = "{url}"\n[[domains]]\nname = "example.com"\n[reports]\noutput_dir = "out"\n',
        encoding="utf-8",
    )
    code = (
        "import resource, sys, time\n"
        "from tracker.cli import main\n"
        "started = time.perf_counter()\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(time.perf_counter() - started, peak / 1024, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "--config", str(config), "report", "--week", WEEK],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds, peak = (float(v) for v in result.stderr.strip().splitlines()[-1].split())
    floor_seconds, floor_peak = floor(url)
    return seconds, peak, floor_seconds, floor_peak


def run(quick: bool) -> list[Row]:
    count = 20_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        seconds, peak, floor_seconds, floor_peak = measure(Path(tmp), count)
        del started
    return [
        Row("report", f"seconds for a week of {count:,} mentions (SQLite)", f"{seconds:.1f} s", f"{floor_seconds:.1f} s",
            f"{seconds / floor_seconds:.1f}x", f"<= {SECONDS_TARGET:.0f} s", None if quick else seconds <= SECONDS_TARGET),
        Row("report", f"peak RSS for a week of {count:,} mentions (SQLite; with the file-writing process)", f"{peak:.0f} MB", f"{floor_peak:.0f} MB",
            f"{peak / floor_peak:.1f}x", f"<= {MEMORY_TARGET_MB} MB", None if quick else peak <= MEMORY_TARGET_MB),
    ]  # fmt: skip


if __name__ == "__main__":
    from benchmarks.__main__ import table

    print(table(run("--quick" in sys.argv)))
