"""`tracker poll` with the Wikipedia connector as a real process: its exact mentions, and SIGKILLs mid-stream."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.wikipedia.rig import APPLE, CELTUCE, KEW, MALUS, STORM, noise, scenario
from tests.support.processes import TrackerProcess
from tests.support.wikimedia import USER_AGENT, Scenario, event_id, link_event
from tracker.schema import metric_snapshots
from tracker.store import Store

APPLE_KEW = [
    "https://powo.science.kew.org/taxon/726282-1",
    "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:726282-1",
    "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:726372-1",
]


def config(tmp_path: Path, world: Scenario) -> Path:
    path = tmp_path / "tracker.toml"
    path.write_text(
        f"""
[[domains]]
name = "kew.org"

[connectors.wikipedia]
wikis = ["en.wikipedia.org", "species.wikimedia.org"]
api_url = "{world.wikis.api_url}"
pageviews_url = "{world.views.url}"
stream_url = "{world.stream.url}"
user_agent = "{USER_AGENT}"
initial_lookback = "4000d"
retention = "4000d"
flush_every = "1s"
""",
        encoding="utf-8",
    )
    return path


def stored(tmp_path: Path) -> dict[str, Any]:
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'tracker.db'}")
    try:
        mentions = {m.platform_id: m for m in store.iter_mentions(include_deleted=True)}
        with store.read() as conn:
            snapshots = [row.mention_id for row in conn.execute(metric_snapshots.select())]
        cursor = store.cursors("wikipedia").get("stream")
        return {
            "live": {k for k, m in mentions.items() if m.deleted_at is None},
            "deleted": {k for k, m in mentions.items() if m.deleted_at is not None},
            "links": {k: sorted(link.url for link in m.links) for k, m in mentions.items()},
            "rows": store.count_mentions(),
            "snapshots": len(snapshots) - len(set(snapshots)),
            "last_id": cursor.state["last_id"] if cursor else None,
        }
    finally:
        store.close()


def poll(path: Path) -> tuple[int, str]:
    with TrackerProcess(path, "poll") as process:
        code = process.wait(timeout=120)
        return code, process.output()


def test_tracker_poll_stores_exactly_the_recorded_citations_and_a_second_poll_adds_none(
    tmp_path: Path,
) -> None:
    with scenario(noise(3, datetime.now(UTC) - timedelta(hours=1))) as world:
        path = config(tmp_path, world)
        code, output = poll(path)
        assert code == 0, output
        first = stored(tmp_path)
        # By hand from the recordings: Apple (en.wikipedia.org) and Malus domestica (species.wikimedia.org)
        # link to powo.science.kew.org, the other two recorded articles do not.
        assert first["live"] == {"en.wikipedia.org:18978754", "species.wikimedia.org:86997"}
        assert first["links"]["en.wikipedia.org:18978754"] == sorted(APPLE_KEW)
        code, output = poll(path)
        assert code == 0, output
        assert "wikipedia" in output
        again = stored(tmp_path)
        assert (again["rows"], again["live"]) == (2, first["live"])
        assert again["last_id"] == first["last_id"] == event_id(noise(3, datetime.now(UTC))[-1])


@pytest.fixture
def busy_stream() -> Iterator[Scenario]:
    """Many link changes (noise) with, among them, Kew cited by two articles and no longer by Apple."""
    start = datetime.now(UTC) - timedelta(hours=1)
    events = [
        *noise(150, start),
        link_event(500, start + timedelta(minutes=10), "en.wikipedia.org", 1868108, "Celtuce", added=[KEW.format(1)]),
        *noise(150, start + timedelta(minutes=11), first_offset=501),
        link_event(700, start + timedelta(minutes=20), "en.wikipedia.org", 18978754, "Apple", removed=APPLE_KEW),
        *noise(150, start + timedelta(minutes=21), first_offset=701),
        link_event(900, start + timedelta(minutes=30), "en.wikipedia.org", 21196082, "Tropical Depression Ten (2005)",
                   added=[KEW.format(2)]),
        *noise(100, start + timedelta(minutes=31), first_offset=901),
    ]  # fmt: skip
    with scenario(events) as world:
        world.stream.delay = 0.02  # about 11 s of stream a full pass
        yield world


@pytest.mark.slow
def test_a_stream_killed_at_random_moments_resumes_without_loss_or_duplicates(
    tmp_path: Path, busy_stream: Scenario
) -> None:
    path = config(tmp_path, busy_stream)
    rng = random.Random(20261206)
    kills = 0
    for _ in range(6):
        with TrackerProcess(path, "poll", log_name=f"killed-{kills}") as process:
            time.sleep(rng.uniform(3.0, 6.5))  # a pass starts reading the stream 2.5 to 4 s in
            if process.process.poll() is not None:
                break  # it finished before the kill
            process.signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
    assert kills >= 3, "the stream ended too soon to be killed mid-way; slow it down"
    resumed = [r for r in busy_stream.stream.requests if "last-event-id" in r["headers"]]
    assert resumed, "no pass resumed from a saved event id"
    code, output = poll(path)
    assert code == 0, output
    final = stored(tmp_path)
    assert final["live"] == {MALUS, CELTUCE, STORM}
    assert final["deleted"] == {APPLE}
    assert final["rows"] == 4
    assert final["links"][CELTUCE] == [KEW.format(1)]
    assert final["links"][STORM] == [KEW.format(2)]
    assert final["snapshots"] == 0  # no metric snapshot twice for one article
    last = max(busy_stream.stream.events, key=lambda e: e["meta"]["offset"])
    assert final["last_id"] == event_id(last)
