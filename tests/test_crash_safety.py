"""Nothing is lost and nothing is counted twice when the polling process is SIGKILLed at any moment."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import make_config
from tests.support.synthetic import write_posts
from tracker.poller import Poller
from tracker.schema import cursors, links, mentions, metric_snapshots
from tracker.store import Store

ROOT = Path(__file__).resolve().parents[1]
KILLS = 20


def contents(url: str) -> dict[str, Any]:
    """Everything a run stores, minus wall-clock times."""
    store = Store.open(url)
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(
                    mentions.c.id,
                    mentions.c.platform_id,
                    mentions.c.text,
                    mentions.c.likes,
                    mentions.c.engagement,
                )
            ).all()
            by_id = {row.id: row.platform_id for row in rows}
            link_rows = conn.execute(select(links.c.mention_id, links.c.canonical_url, links.c.domain)).all()
            snapshot_rows = conn.execute(
                select(metric_snapshots.c.mention_id, metric_snapshots.c.likes)
            ).all()
            cursor_rows = conn.execute(select(cursors.c.source_key, cursors.c.state)).all()
    finally:
        store.close()
    return {
        "mentions": sorted((r.platform_id, r.text, r.likes, r.engagement) for r in rows),
        "links": sorted((by_id[r.mention_id], r.canonical_url, r.domain) for r in link_rows),
        "snapshots": sorted((by_id[r.mention_id], r.likes) for r in snapshot_rows),
        "cursors": sorted((r.source_key, r.state) for r in cursor_rows),
    }


def config_body(database_url: str, posts: Path, delay: float) -> str:
    return f"""
        [tracker]
        database_url = "{database_url}"
        [[domains]]
        name = "example.com"
        [connectors.synthetic]
        type = "tests.support.synthetic:SyntheticConnector"
        path = "{posts}"
        page_size = 100
        page_delay = {delay}
    """


@pytest.mark.slow
def test_sigkill_at_random_moments_ends_with_exactly_the_rows_of_an_uninterrupted_run(
    tmp_path: Path, database_url: str
) -> None:
    posts = tmp_path / "posts.jsonl"
    write_posts(posts, 40_000)

    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    (tmp_path / "ref").mkdir()
    reference_config = make_config(tmp_path / "ref", config_body(reference_url, posts, 0))
    reference_store = Store.open(reference_url)
    (result,) = [Poller(reference_config, reference_store).poll("synthetic")]
    reference_store.close()
    assert result.status == "ok" and result.new > 0

    (tmp_path / "killed").mkdir()
    config_path = tmp_path / "killed" / "tracker.toml"
    config_path.write_text(
        config_body(database_url, posts, 0.03).replace("\n        ", "\n"), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tracker.cli", "--config", str(config_path), "poll"]
    rng = random.Random(20261124)
    kills = 0
    while kills < KILLS:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.2))
        if process.poll() is not None:
            break  # it finished before the kill: the rest of the loop has nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills == KILLS, "the ingest finished too early to be interrupted 20 times; make it larger"
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr

    assert contents(database_url) == contents(reference_url)
