"""A daemon SIGKILLed between storing mentions and delivering their alerts delivers every event exactly once
after it restarts: the loopback receiver counts the X-Tracker-Delivery ids it accepted."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.processes import TrackerProcess
from tests.support.webhook_receiver import WebhookReceiver
from tracker.schema import alert_events
from tracker.store import Store

POSTS = 40
SECRET = "crash-test-secret"


def write_posts(path: Path) -> None:
    now = datetime.now(UTC)
    with path.open("w", encoding="utf-8") as out:
        for index in range(POSTS):
            post = {
                "id": index, "created": (now - timedelta(minutes=POSTS - index)).isoformat(),
                "author": f"user{index}", "text": f"post {index}",
                "urls": [f"https://example.com/p/{index % 7}", "https://rival.com/x"], "likes": index,
            }  # fmt: skip
            out.write(json.dumps(post) + "\n")


@pytest.mark.slow
def test_sigkill_between_the_store_commit_and_the_delivery_loses_and_repeats_nothing(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    write_posts(posts)
    with WebhookReceiver(SECRET) as receiver:
        config = tmp_path / "tracker.toml"
        config.write_text(
            f"""
[tracker]
data_dir = "data"
[reports]
output_dir = "out"
[[domains]]
name = "example.com"
[[domains]]
name = "rival.com"
role = "competitor"
[connectors.synthetic]
type = "tests.support.synthetic:SyntheticConnector"
path = "{posts}"
page_size = 4
page_delay = 0.05
interval = "1h"
[[alerts]]
name = "team"
on = ["new_mention", "first_link_to_page"]
webhook_url = "{receiver.url}/hook"
webhook_secret = "{SECRET}"
""",
            encoding="utf-8",
        )
        receiver.mode = "hang"
        with TrackerProcess(config, "run", log_name="killed") as daemon:
            assert receiver.wait_for(
                lambda: receiver.hung > 0
            )  # events committed, the first delivery in flight
            daemon.signal(signal.SIGKILL)
            daemon.wait()
        store = Store.open(f"sqlite:///{tmp_path / 'data' / 'tracker.db'}")
        try:
            stored_before = store.count_mentions()
            with store.read() as conn:
                decided = conn.execute(alert_events.select()).all()
        finally:
            store.close()
        assert decided, "the kill came before any event was stored"
        assert receiver.accepted == {}

        receiver.mode = "accept"
        receiver.release()
        with TrackerProcess(config, "run", log_name="restarted") as daemon:
            expected = POSTS + 7  # a new mention per post and a first link per page
            assert receiver.wait_for(lambda: sum(receiver.accepted.values()) >= expected, timeout=120), (
                daemon.output()
            )
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        assert receiver.bad_signatures == []
        assert set(receiver.accepted.values()) == {1}  # each delivery id accepted exactly once
        bodies = list(receiver.bodies.values())
        mentioned = sorted(b["mention"]["platform_id"] for b in bodies if b["event"] == "new_mention")
        assert mentioned == sorted(str(i) for i in range(POSTS))
        pages = sorted(b["page"]["url"] for b in bodies if b["event"] == "first_link_to_page")
        assert pages == [f"https://example.com/p/{i}" for i in range(7)]
        assert all(b["domain"] == "example.com" for b in bodies)  # the competitor never
        assert stored_before <= POSTS
