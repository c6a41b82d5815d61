"""The Wikipedia link stream (EventStreams page-links-change) against a local server-sent events stand-in."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.wikipedia.rig import APPLE, CELTUCE, KEW, MALUS, NOW, STORM, Rig, noise, scenario
from tests.support.wikimedia import Scenario, event_id, link_event
from tracker.connector import Cursor, Page
from tracker.poller import Poller
from tracker.schema import coverage_gaps

MALUS_KEW = [
    "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:726282-1",
    "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:60476301-2",
]


def changes() -> list[dict[str, Any]]:
    """Noise, then Kew cited by Celtuce, then Malus domestica's two Kew links removed (two edits)."""
    start = NOW - timedelta(minutes=30)
    return [
        *noise(3, start),
        link_event(10, start + timedelta(minutes=1), "en.wikipedia.org", 1868108, "Celtuce", added=[KEW.format(1)]),
        *noise(3, start + timedelta(minutes=2), first_offset=11),
        link_event(20, start + timedelta(minutes=3), "species.wikimedia.org", 86997, "Malus domestica", removed=MALUS_KEW[:1]),
        link_event(21, start + timedelta(minutes=4), "species.wikimedia.org", 86997, "Malus domestica", removed=MALUS_KEW[1:]),
    ]  # fmt: skip


@pytest.fixture
def world() -> Iterator[Scenario]:
    with scenario(changes()) as made:
        yield made


def test_link_additions_and_removals_are_read_up_to_the_live_edge(world: Scenario, tmp_path: Path) -> None:
    rig = Rig(tmp_path, world)
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    assert (result.new, result.deleted) == (3, 1)  # Apple and Malus by the scan, Celtuce by the stream
    assert rig.live() == {APPLE, CELTUCE}
    found = rig.mentions()
    assert found[CELTUCE].created_at == NOW - timedelta(minutes=29)  # the edit's time
    assert [link.url for link in found[CELTUCE].links] == [KEW.format(1)]
    assert found[MALUS].deleted_at == NOW
    (request,) = world.stream.requests
    assert request["query"] == {"since": "2025-07-24T11:00:00Z"}  # no saved position: the lookback
    state = rig.store.cursors("wikipedia")["stream"].state
    assert state["last_id"] == event_id(changes()[-1])
    assert state["at"] == (NOW - timedelta(minutes=26)).isoformat()
    assert state["removed"] == [[MALUS, (NOW - timedelta(minutes=26)).isoformat()]]


def test_only_articles_an_event_touches_are_read_again_and_each_once_a_page(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world)
    rig.poll()
    read = [(r.path.split("/")[1], r.param("pageid")) for r in world.wikis.calls("action=parse")]
    # The scan reads Apple and Malus; the stream Celtuce and Malus (its two removals fall in one page).
    assert read == [
        ("en.wikipedia.org", "18978754"), ("species.wikimedia.org", "86997"),
        ("en.wikipedia.org", "1868108"), ("species.wikimedia.org", "86997"),
    ]  # fmt: skip


def test_a_later_pass_resumes_after_the_last_event_read(world: Scenario, tmp_path: Path) -> None:
    rig = Rig(tmp_path, world)
    rig.poll()
    parsed = len(world.wikis.calls("action=parse"))
    world.stream.add(
        link_event(30, NOW + timedelta(minutes=10), "en.wikipedia.org", 21196082, "Tropical Depression Ten (2005)", added=[KEW.format(2)])
    )  # fmt: skip
    rig.clock.advance(hours=1)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert world.stream.requests[-1]["headers"]["last-event-id"] == event_id(changes()[-1])
    assert "since" not in world.stream.requests[-1]["query"]
    assert len(world.wikis.calls("action=parse")) == parsed + 1  # only the storm article, nothing twice
    assert rig.live() == {APPLE, CELTUCE, STORM}


def test_a_citation_added_back_restores_the_article(world: Scenario, tmp_path: Path) -> None:
    rig = Rig(tmp_path, world)
    rig.poll()
    world.stream.add(
        link_event(40, NOW + timedelta(minutes=5), "species.wikimedia.org", 86997, "Malus domestica", added=MALUS_KEW[:1])
    )  # fmt: skip
    rig.clock.advance(hours=1)
    result = rig.poll()
    assert (result.status, result.new, result.updated) == ("ok", 0, 1)
    malus = rig.mentions()[MALUS]
    assert malus.deleted_at is None
    assert [link.url for link in malus.links] == MALUS_KEW[:1]
    assert rig.store.cursors("wikipedia")["stream"].state["removed"] == []


def test_a_dropped_connection_resumes_from_the_last_event_id_with_nothing_lost_or_doubled(
    world: Scenario, tmp_path: Path
) -> None:
    world.stream.drop_after = 2
    rig = Rig(tmp_path, world)
    result = rig.poll()
    assert result.status == "ok"
    assert rig.live() == {APPLE, CELTUCE}
    assert rig.store.count_mentions() == 3
    resumed = [r["headers"].get("last-event-id") for r in world.stream.requests[1:]]
    assert resumed == [event_id(e) for e in changes()[1::2]]  # two events a connection


def test_a_refused_stream_is_retried_with_backoff_and_a_stream_that_stays_down_fails_plainly(
    world: Scenario, tmp_path: Path
) -> None:
    world.stream.refuse, world.stream.retry_after = 503, "7"
    rig = Rig(tmp_path, world)
    result = rig.poll()
    assert result.status == "failed"
    assert result.error == (
        f"EventStreams failed 3 times in a row ({world.stream.url}), last: EventStreams answered HTTP 503; "
        "check the network or stream_url"
    )
    assert len(world.stream.requests) == 3
    assert [s for s in rig.sleeps if s >= 7.0] == [7.0, 7.0]  # Retry-After, between the three tries
    world.stream.refuse = None
    rig.clock.advance(minutes=5)
    assert rig.poll().status == "ok"
    assert rig.live() == {APPLE, CELTUCE}


def test_an_answer_that_is_not_an_event_stream_fails_after_retries(world: Scenario, tmp_path: Path) -> None:
    world.stream.malformed = True
    result = Rig(tmp_path, world).poll()
    assert result.status == "failed"
    assert "last: EventStreams answered text/html, not an event stream" in (result.error or "")


def test_an_event_larger_than_the_cap_ends_the_connection_and_is_reported(
    world: Scenario, tmp_path: Path
) -> None:
    world.stream.huge = True
    rig = Rig(tmp_path, world)
    result = rig.poll()
    assert result.status == "failed"
    assert "last: a line of the stream is longer than 4194304 bytes" in (result.error or "")
    assert rig.live() == {APPLE, CELTUCE}  # what came before it was kept


def test_events_of_other_wikis_other_namespaces_and_broken_events_are_left_out(
    world: Scenario, tmp_path: Path
) -> None:
    world.stream.events = [
        link_event(1, NOW - timedelta(minutes=9), "de.wikipedia.org", 1868108, "Celtuce", added=[KEW.format(1)]),
        link_event(2, NOW - timedelta(minutes=8), "en.wikipedia.org", 1868108, "Celtuce", added=[KEW.format(1)], namespace=1),
        link_event(3, NOW - timedelta(minutes=7), "en.wikipedia.org", 1868108, "Celtuce", added=[KEW.format(1)]),
    ]  # fmt: skip
    del world.stream.events[2]["page_id"]
    rig = Rig(tmp_path, world)
    result = rig.poll()
    assert (result.status, result.skipped) == ("ok", 1)
    assert "KeyError: 'page_id'" in result.problems[0]
    assert rig.live() == {APPLE, MALUS}
    assert len(world.wikis.calls("action=parse")) == 2  # only the scan's


def test_a_saved_position_older_than_eventstreams_keeps_is_a_recorded_gap(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world)
    old = NOW - timedelta(days=8)
    rig.store.write_page(
        connector="wikipedia", platform="wikipedia", run_id=None, mentions_to_store=[], now=old,
        page=Page("stream", cursor=Cursor(1, {"last_id": event_id(changes()[0]), "at": old.isoformat(), "removed": []})),
    )  # fmt: skip
    assert rig.poll().status == "ok"
    assert world.stream.requests[0]["query"] == {"since": "2025-07-17T12:00:00Z"}
    assert "last-event-id" not in world.stream.requests[0]["headers"]
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert (gap["source_key"], gap["reason"]) == ("stream", "older than EventStreams keeps (retention)")


def test_a_backfill_replays_the_stream_from_its_date_without_scanning(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world)
    result = rig.poll(kind="backfill", since=NOW - timedelta(minutes=29, seconds=30))
    assert result.status == "ok"
    assert world.wikis.calls("list=exturlusage") == []
    assert world.stream.requests[0]["query"] == {"since": "2025-07-24T11:30:30Z"}
    assert rig.live() == {CELTUCE}  # Malus lost its links; nothing was stored for it: a no-op deletion
    assert set(rig.store.cursors("wikipedia")) == {"backfill:stream"}


def test_following_saves_the_position_every_few_seconds_and_stops_on_shutdown(
    world: Scenario, tmp_path: Path
) -> None:
    world.stream.live = False
    world.stream.delay = 0.05
    world.stream.events = changes() + noise(60, NOW + timedelta(minutes=1), first_offset=100)
    rig = Rig(tmp_path, world, extra='flush_every = "1s"\nstall_timeout = "30s"')
    stop = threading.Event()
    poller = Poller(rig.config, rig.store, clock=rig.clock, stop=stop)
    outcome: list[Any] = []
    worker = threading.Thread(
        target=lambda: outcome.append(poller.poll("wikipedia", kind="stream", follow=True))
    )
    worker.start()
    saved: list[int] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(set(saved)) < 3:
        cursor = rig.store.cursors("wikipedia").get("stream")
        if cursor is not None and cursor.state["last_id"] is not None:
            saved.append(json.loads(cursor.state["last_id"])[0]["offset"])
        time.sleep(0.2)
    stop.set()
    worker.join(timeout=10)
    poller.close()
    assert not worker.is_alive()
    assert outcome[0].status == "interrupted"
    assert len(set(saved)) >= 3  # the position moved on while it read, events past the pass's start included
    assert max(saved) > 21
    assert rig.live() == {APPLE, CELTUCE}


def test_while_following_a_due_scan_runs_between_reads(world: Scenario, tmp_path: Path) -> None:
    world.stream.live = False
    world.stream.delay = 0.05
    world.stream.events = noise(200, NOW - timedelta(minutes=20))
    rig = Rig(tmp_path, world, extra='flush_every = "1s"\ninterval = "1h"')
    stop = threading.Event()
    poller = Poller(rig.config, rig.store, clock=rig.clock, stop=stop)
    worker = threading.Thread(target=lambda: poller.poll("wikipedia", kind="stream", follow=True))
    worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(world.wikis.calls("list=exturlusage")) < 8:
        time.sleep(0.1)
    scans = len(world.wikis.calls("list=exturlusage"))
    world.wikis.page("en.wikipedia.org", 1868108).add(KEW.format(3))
    rig.clock.advance(hours=2)  # the next scan is due
    while time.monotonic() < deadline and len(world.stream.requests) < 2:
        time.sleep(0.1)
    stop.set()
    worker.join(timeout=10)
    poller.close()
    assert len(world.wikis.calls("list=exturlusage")) == 2 * scans == 16
    assert len(world.stream.requests) == 2  # the connection was closed for the scan and resumed
    assert world.stream.requests[1]["headers"]["last-event-id"]
    assert CELTUCE in rig.live()
