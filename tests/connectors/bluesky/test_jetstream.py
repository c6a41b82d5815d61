"""The Jetstream connector against a local websocket server replaying recorded and generated events."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.bluesky.jetstream import StreamHandler
from tests.conftest import Clock, Sleeps, make_config
from tests.support.bluesky_data import (
    FakeAppView,
    external_embed,
    post_event,
    quote_embed,
    recorded_events,
    recorded_post_view,
)
from tests.support.http_server import RecordingServer
from tests.support.jetstream_server import JetstreamServer
from tracker.errors import ConfigError
from tracker.poller import Poller, RunResult
from tracker.schema import coverage_gaps
from tracker.settings import DomainSettings
from tracker.store import Store
from tracker.urls import DomainMatcher

NOW = datetime(2026, 7, 4, 14, 40, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)
OVERLAP_US = 5_000_000
ALICE = "did:plc:aliceaaaaaaaaaaaaaalice"


@pytest.fixture
def appview() -> Iterator[FakeAppView]:
    with RecordingServer() as server:
        yield FakeAppView(server)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def live(clock: Clock) -> Any:
    return lambda: int(clock.now.timestamp() * 1_000_000)


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        endpoints: list[str],
        appview: FakeAppView,
        domains: list[str],
        clock: Clock,
        extra: str = "",
    ) -> None:
        self.clock = clock
        self.sleeps = Sleeps()
        listed = ", ".join(f'"{e}"' for e in endpoints)
        tables = "".join(f'[[domains]]\nname = "{d}"\n' for d in domains)
        self.config = make_config(
            tmp_path,
            tables
            + f"""
            [connectors.bluesky_stream]
            type = "jetstream"
            endpoints = [{listed}]
            appview_url = "{appview.url}"
            {extra}
            """.replace("            ", ""),
        )
        self.store = Store.open(self.config.database_url)

    def poller(self, stop: threading.Event | None = None) -> Poller:
        return Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps, stop=stop)

    def poll(self, **options: Any) -> RunResult:
        poller = self.poller()
        try:
            return poller.poll("bluesky_stream", **options)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions(include_deleted=True)}

    def cursor(self) -> dict[str, Any]:
        return dict(self.store.cursors("bluesky_stream")["stream"].state)

    def cursor_time(self) -> int | None:
        saved = self.store.cursors("bluesky_stream").get("stream")
        return int(saved.state["time_us"]) if saved is not None else None


def uri(did: str, rkey: str) -> str:
    return f"at://{did}/app.bsky.feed.post/{rkey}"


def generated(
    count: int, start_us: int, linking: set[int], *, step: int = 1000, tag: str = "gen"
) -> list[str]:
    """``count`` post events ``step`` µs apart; those in ``linking`` link to example.com through a facet."""
    events = []
    for n in range(count):
        did, rkey, stamp = f"did:plc:user{n % 40:020d}", f"3{tag}{n:09d}", start_us + n * step
        if n in linking:
            events.append(post_event(did, rkey, stamp, "Ça marche 🎉 ", links=[(f"https://example.com/p/{n}", f"example.com/p/{n}")]))  # fmt: skip
        else:
            events.append(post_event(did, rkey, stamp, f"nothing to see here {n} (example dot com)"))
    return events


def generated_uris(count: int, linking: set[int], tag: str = "gen") -> set[str]:
    return {uri(f"did:plc:user{n % 40:020d}", f"3{tag}{n:09d}") for n in range(count) if n in linking}


def test_recorded_posts_linking_to_the_domains_are_found(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    domains = ["youtube.com", "ufofeed.com", "klipy.com", "denikn.cz", "tumblr.com"]
    with JetstreamServer(recorded_events(), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, domains, clock)
        result = rig.poll()
    assert (result.status, result.error, result.new, result.skipped) == ("ok", None, 5, 0)
    found = rig.mentions()
    youtube = found[uri("did:plc:dclwtltrt2ggsryagfzk7dp4", "3mptbyoeyc22k")]
    assert youtube.permalink == "https://bsky.app/profile/zk7dp4.test/post/3mptbyoeyc22k"
    assert (youtube.author_handle, youtube.author_name, youtube.author_followers) == (
        "zk7dp4.test",
        "Name zk7dp4",
        42,
    )
    assert (youtube.kind, youtube.lang, youtube.text) == ("post", "en", "www.youtube.com/watch?v=V5lD...")
    assert youtube.created_at == datetime(2026, 7, 4, 14, 38, 6, 240000, tzinfo=UTC)
    (link,) = youtube.links  # the facet and the card point at the same page: one link, the facet's
    assert (link.source, link.anchor_text, link.canonical_url) == (
        "facet", "www.youtube.com/watch?v=V5lD...", "https://youtube.com/watch?v=V5lDo-jw8mA",
    )  # fmt: skip
    assert youtube.raw is not None and '"time_us":1783175888090631' in youtube.raw
    klipy = found[
        uri("did:plc:ajg5c7huhiibhwandhdscpdq", "3mptbyproxc2q")
    ]  # a reply whose only link is a card
    assert (klipy.kind, klipy.parent_id, klipy.thread_id) == (
        "reply", "at://did:plc:ippiobxpsddnkzd6ms2dbpcy/app.bsky.feed.post/3mptbvznwf22c",
        "at://did:plc:ajg5c7huhiibhwandhdscpdq/app.bsky.feed.post/3mptb7zj4lc2q",
    )  # fmt: skip
    assert [(k.source, k.anchor_text, k.domain) for k in klipy.links] == [
        ("embed", "Ariana Grande Crying: Acheimagra Stan Twitter", "klipy.com"),
    ]  # fmt: skip
    denikn = found[uri("did:plc:fe7cz462lvsuhadx6z35orni", "3mptbypt22l26")]  # Czech text, no langs
    assert [(k.source, k.anchor_text) for k in denikn.links] == [("facet", "denikn.cz/2113523")]
    assert denikn.lang is None
    tumblr = found[uri("did:plc:ynfp6wddjqpl44gordpsqkuw", "3mptbyo7tas2u")]
    assert (tumblr.lang, tumblr.links[0].anchor_text) == ("es", "www.tumblr.com/tempo-tales/...")
    ufo = found[uri("did:plc:ybqkf2mtfbwx3qhga63mttja", "3mptbyoigog2b")]
    assert ufo.created_at == datetime(2026, 7, 4, 14, 38, 2, tzinfo=UTC)


def test_the_subscription_asks_for_posts_from_the_cursor(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    with JetstreamServer(recorded_events(), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["youtube.com"], clock)
        rig.poll()
        (query,) = stream.queries
        assert query == {"wantedCollections": ["app.bsky.feed.post"], "cursor": [str(NOW_US - 600_000_000)]}
        assert stream.sent == [
            20
        ]  # the recording's 18 posts and its identity and account events: not its likes
    (lookup,) = appview.server.requests_to("/xrpc/app.bsky.actor.getProfiles")
    assert lookup.query["actors"] == ["did:plc:dclwtltrt2ggsryagfzk7dp4"]


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_dropped_connection_resumes_with_nothing_lost_or_doubled(
    tmp_path: Path, appview: FakeAppView, clock: Clock, how: str
) -> None:
    start = NOW_US - 300_000_000
    linking = set(range(3, 5000, 50))  # 2% link to the domain
    with JetstreamServer(generated(5000, start, linking, step=20_000), live=live(clock)) as stream:
        stream.drop_after, stream.drop_how = 2345, how
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
        assert (result.status, result.error) == ("ok", None)
        assert len(stream.queries) == 2
        last_sent = start + 2344 * 20_000
        resumed_at = int(stream.queries[1]["cursor"][0])
        if how == "close":  # everything sent before the close frame was read
            assert resumed_at == last_sent - OVERLAP_US
        else:  # a reset loses what was in flight: the client resumes from what it read
            assert resumed_at <= last_sent - OVERLAP_US
    assert set(rig.mentions()) == generated_uris(5000, linking)
    assert result.fetched == result.new == len(linking) == rig.store.count_mentions()  # none read twice
    assert rig.cursor()["time_us"] == start + 4999 * 20_000
    assert rig.sleeps == []  # the connection had delivered: reconnected at once


def test_an_endpoint_that_keeps_dropping_soon_after_connecting_is_retried_with_backoff(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    start = NOW_US - 600_000_000
    linking = set(range(3, 500, 50))
    with JetstreamServer(generated(500, start, linking, step=1_000_000), live=live(clock)) as stream:
        stream.drop_every = 100
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
    assert (result.status, result.new) == ("ok", len(linking))
    assert len(stream.queries) == 6  # five drops, each after progress, then the rest
    assert len(rig.sleeps) == 4  # the first drop reconnects at once, the next ones back off, growing
    assert all(later > earlier for earlier, later in zip(rig.sleeps, rig.sleeps[1:], strict=False))


def test_a_restart_resumes_from_the_saved_cursor_without_duplicates(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    start, step = NOW_US - 300_000_000, 100_000
    with JetstreamServer(generated(200, start, {3, 50, 199}, step=step), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        rig.poll()
        saved = rig.cursor()
        assert saved["time_us"] == start + 199 * step
        assert saved["recent"] == [
            uri("did:plc:user00000000000000000039", "3gen000000199")
        ]  # within the overlap
        stream.add(generated(100, start + 200 * step, {60}, tag="new"))
        rig.clock.advance(minutes=1)
        again = rig.poll()
        assert stream.queries[-1]["cursor"] == [str(saved["time_us"] - OVERLAP_US)]
    assert (again.new, again.fetched) == (1, 1)  # the overlap replayed post 199: recognised, not taken again
    assert rig.store.count_mentions() == 4


def test_a_quiet_site_still_advances_the_saved_cursor(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    start = NOW_US - 60_000_000
    with JetstreamServer(generated(50, start, set()), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
    assert (result.status, result.new, result.pages) == ("ok", 0, 2)  # the starting point, then the stream
    assert rig.cursor()["time_us"] == start + 49 * 1000
    assert appview.server.requests == []


def test_following_saves_the_cursor_every_few_seconds_and_stops_on_shutdown(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    start = NOW_US - 60_000_000
    with JetstreamServer(generated(50, start, set())) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock, extra='flush_every = "1s"')
        stop = threading.Event()
        poller = rig.poller(stop)
        results: list[RunResult] = []
        worker = threading.Thread(
            target=lambda: results.append(poller.poll("bluesky_stream", kind="stream", follow=True))
        )
        worker.start()
        try:
            deadline = time.monotonic() + 20
            while rig.cursor_time() != start + 49 * 1000 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert rig.cursor()["time_us"] == start + 49 * 1000  # saved while the stream is still open
            stream.add(generated(10, NOW_US + 1_000_000, {4}, tag="liv"))  # past the pass's start: still read
            while rig.store.count_mentions() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(timeout=10)
            poller.close()
    assert not worker.is_alive()
    assert (results[0].status, results[0].new) == ("interrupted", 1)
    assert rig.cursor()["time_us"] == NOW_US + 1_000_000 + 9 * 1000


def test_catch_up_stops_at_the_live_edge(tmp_path: Path, appview: FakeAppView, clock: Clock) -> None:
    before = generated(10, NOW_US - 10_000_000, {2})
    after = generated(10, NOW_US + 1_000, {4}, tag="aft")
    with JetstreamServer(before + after) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
    assert result.status == "ok"
    assert rig.cursor()["time_us"] == NOW_US - 10_000_000 + 9 * 1000  # never past the start of the pass
    assert generated_uris(10, {2}) <= set(rig.mentions())


def test_a_quiet_stream_ends_catch_up_after_the_idle_timeout(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    with JetstreamServer(generated(5, NOW_US - 5_000_000, {1})) as stream:  # nothing after the backlog
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock, extra='idle_timeout = "1s"')
        started = time.monotonic()
        result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    assert time.monotonic() - started < 10


def test_a_delete_event_marks_the_stored_mention_deleted(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    did, rkey = "did:plc:deleteme0000000000", "3del000000001"
    created = post_event(
        did, rkey, NOW_US - 8_000_000, "see ", links=[("https://example.com/x", "example.com/x")]
    )
    with JetstreamServer([created], live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        rig.poll()
        assert rig.store.count_mentions(include_deleted=False) == 1
        stream.add([post_event(did, rkey, NOW_US - 7_000_000, "", operation="delete")])
        result = rig.poll()  # the overlap replays the create too: it stays deleted
        assert rig.poll().status == "ok"
    assert result.deleted == 1
    (gone,) = rig.store.iter_mentions(include_deleted=True)
    assert (gone.text, gone.raw, gone.deleted_at is not None) == (None, None, True)
    assert rig.store.count_mentions(include_deleted=False) == 0


def test_an_edited_post_is_stored_with_its_new_text(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    links = [("https://example.com/x", "example.com/x")]
    created = post_event(ALICE, "3edit", NOW_US - 9_000_000, "first: ", links=links)
    with JetstreamServer([created], live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        rig.poll()
        stream.add(
            [post_event(ALICE, "3edit", NOW_US - 1_000_000, "edited: ", links=links, operation="update")]
        )
        rig.clock.advance(seconds=30)
        rig.poll()
    (post,) = rig.mentions().values()
    assert post.text == "edited: example.com/x"


def test_a_cursor_older_than_the_replay_window_is_a_recorded_gap(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    with JetstreamServer(generated(5, NOW_US - 1_000_000, set()), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock, extra='replay_window = "1h"')
        rig.poll()
        rig.clock.advance(hours=3)
        rig.poll()
        assert stream.queries[-1]["cursor"] == [str(NOW_US + 2 * 3600 * 1_000_000)]
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert (gap["source_key"], gap["reason"]) == ("stream", "older than Jetstream's replay window")
    # From the saved cursor minus the overlap to the oldest event Jetstream still keeps.
    assert (gap["gap_start"], gap["gap_end"]) == (
        datetime(2026, 7, 4, 14, 39, 54, 4000, tzinfo=UTC), datetime(2026, 7, 4, 16, 40, tzinfo=UTC),
    )  # fmt: skip


def test_a_backfill_starts_at_its_date_and_records_what_jetstream_no_longer_keeps(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    hour = 3600 * 1_000_000
    with JetstreamServer(generated(20, NOW_US - 2 * hour, {5}, step=hour // 10), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock, extra='replay_window = "3h"')
        result = rig.poll(kind="backfill", since=datetime(2026, 7, 4, 9, 40, tzinfo=UTC))
        assert stream.queries[0]["cursor"] == [str(NOW_US - 3 * hour)]
    assert (result.status, result.new) == ("ok", 1)
    cursors = rig.store.cursors("bluesky_stream")
    assert set(cursors) == {"backfill:stream"}  # the live cursor is not touched
    assert cursors["backfill:stream"].state["since"] == "2026-07-04T09:40:00+00:00"
    with rig.store.read() as conn:
        (gap,) = conn.execute(coverage_gaps.select()).mappings().all()
    assert (gap["source_key"], gap["gap_start"], gap["gap_end"]) == (
        "backfill:stream", datetime(2026, 7, 4, 9, 40, tzinfo=UTC), datetime(2026, 7, 4, 11, 40, tzinfo=UTC),
    )  # fmt: skip


def test_it_fails_over_to_the_next_endpoint(tmp_path: Path, appview: FakeAppView, clock: Clock) -> None:
    with JetstreamServer(live=live(clock)) as down, JetstreamServer(generated(5, NOW_US - 1_000_000, {1}), live=live(clock)) as up:  # fmt: skip
        down.refuse = 503
        rig = Rig(tmp_path, [down.url, up.url], appview, ["example.com"], clock)
        result = rig.poll()
        assert (len(down.queries), len(up.queries)) == (1, 1)
        assert up.queries[0]["cursor"] == down.queries[0]["cursor"]
    assert (result.status, result.new) == ("ok", 1)
    assert len(rig.sleeps) == 1 and 1.0 <= rig.sleeps[0] <= 1.25  # backoff with jitter


def test_a_rate_limited_handshake_waits_for_retry_after(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    with JetstreamServer(generated(5, NOW_US - 1_000_000, {1}), live=live(clock)) as stream:
        stream.refuse = 429
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock, extra="max_failures = 2")
        result = rig.poll()
    assert result.status == "failed"
    assert rig.sleeps == [2.0]


def test_all_endpoints_down_fails_the_run_plainly(tmp_path: Path, appview: FakeAppView, clock: Clock) -> None:
    endpoints = ["ws://127.0.0.1:9/subscribe", "ws://127.0.0.1:10/subscribe"]
    rig = Rig(tmp_path, endpoints, appview, ["example.com"], clock, extra="max_failures = 3")
    result = rig.poll()
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(
        "every Jetstream endpoint failed 3 times in a row (ws://127.0.0.1:9/subscribe, ws://127.0.0.1:10/subscribe), last: "
    )
    assert result.error.endswith("; check the network or the endpoints")
    assert len(rig.sleeps) == 2
    assert rig.cursor()["time_us"] == NOW_US - 600_000_000  # the next pass starts where this one meant to


def test_a_stalled_stream_is_reconnected_while_following(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    with JetstreamServer(generated(3, NOW_US - 1_000_000, set())) as first, JetstreamServer() as second:
        rig = Rig(tmp_path, [first.url, second.url], appview, ["example.com"], clock,
                  extra='stall_timeout = "1s"\nmax_failures = 2')  # fmt: skip
        result = rig.poller().poll("bluesky_stream", kind="stream", follow=True)
        assert (len(first.queries), len(second.queries)) == (1, 1)
        assert second.queries[0]["cursor"] == [str(NOW_US - 1_000_000 + 2000 - OVERLAP_US)]
    assert result.status == "failed"
    assert result.error is not None and "last: no events for 1s" in result.error


def test_malformed_messages_are_skipped_and_counted(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    good = post_event(ALICE, "3good", NOW_US - 3_000_000, "", links=[("https://example.com/g", "good")])
    not_json = (
        '{"did":"did:plc:x","time_us":'
        + str(NOW_US - 2_500_000)
        + ',"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","rkey":"3bad","record":{"text":"example.com'
    )
    no_record = json.dumps({"did": ALICE, "time_us": NOW_US - 2_000_000, "kind": "commit", "commit": {
        "rev": "3r", "operation": "create", "collection": "app.bsky.feed.post", "rkey": "3norec", "cid": "bafy",
        "note": "example.com"}}, separators=(",", ":"))  # fmt: skip
    with JetstreamServer([good, no_record], live=live(clock)) as stream:
        with stream._lock:
            stream.events.insert(1, not_json)
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
    assert (result.status, result.new, result.skipped) == ("ok", 1, 2)
    assert any("the create carries no record" in p for p in result.problems)


def test_posts_are_kept_when_profiles_cannot_be_looked_up(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    appview.broken = True
    with JetstreamServer(generated(5, NOW_US - 1_000_000, {1}), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    (post,) = rig.mentions().values()
    assert (post.author_handle, post.author_id) == (None, "did:plc:user00000000000000000001")
    assert post.permalink == "https://bsky.app/profile/did:plc:user00000000000000000001/post/3gen000000001"


def test_authors_are_looked_up_in_batches_of_25_and_cached(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    linking = set(range(40))
    with JetstreamServer(generated(40, NOW_US - 1_000_000, linking), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        rig.poll()
        stream.add(generated(40, NOW_US + 60_000_000, linking, tag="two"))
        rig.clock.advance(minutes=2)
        second = rig.poll()
    assert second.new == 40
    lookups = appview.server.requests_to("/xrpc/app.bsky.actor.getProfiles")
    assert [len(r.query["actors"]) for r in lookups] == [25, 15]  # the second pass found them all cached
    assert all(m.author_followers == 42 for m in rig.mentions().values())


def test_cards_quotes_and_replies_are_read(tmp_path: Path, appview: FakeAppView, clock: Clock) -> None:
    quoted = f"at://{ALICE}/app.bsky.feed.post/3other"
    card = post_event(ALICE, "3card", NOW_US - 4_000_000, "look",
                      embed=external_embed("https://blog.example.com/post?utm_source=bsky", "A good post"))  # fmt: skip
    quote = post_event(ALICE, "3quote", NOW_US - 3_000_000, "so true ", links=[("https://example.com/q", "this")],
                       embed=quote_embed(quoted))  # fmt: skip
    media = post_event(ALICE, "3media", NOW_US - 2_000_000, "",
                       embed=quote_embed(quoted, external_embed("https://example.com/m", "  Card  ")))  # fmt: skip
    reply = post_event(ALICE, "3reply", NOW_US - 1_000_000, "agreed: ", links=[("https://example.com/r", "this")],
                       reply=f"at://{ALICE}/app.bsky.feed.post/3card")  # fmt: skip
    with JetstreamServer([card, quote, media, reply], live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        rig.poll()
    found = rig.mentions()
    kinds = {key.rsplit("/", 1)[1]: (m.kind, m.parent_id) for key, m in found.items()}
    assert kinds == {
        "3card": ("post", None), "3quote": ("quote", quoted), "3media": ("quote", quoted),
        "3reply": ("reply", f"at://{ALICE}/app.bsky.feed.post/3card"),
    }  # fmt: skip
    card_links = found[uri(ALICE, "3card")].links
    assert [(k.source, k.anchor_text, k.canonical_url) for k in card_links] == [
        ("embed", "A good post", "https://blog.example.com/post"),
    ]  # fmt: skip
    assert [(k.source, k.anchor_text) for k in found[uri(ALICE, "3media")].links] == [("embed", "Card")]


def test_refresh_reads_metrics_and_marks_vanished_posts_deleted(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    view = recorded_post_view()  # a real getPosts answer, for a post linking to localview.net
    did, rkey = view["uri"].split("/")[2], view["uri"].split("/")[4]
    stamp = int(datetime(2023, 9, 19, 11, 32, 55, tzinfo=UTC).timestamp() * 1_000_000)
    event = json.dumps({"did": did, "time_us": stamp, "kind": "commit", "commit": {
        "rev": "3k7qmjev5lr2s", "operation": "create", "collection": "app.bsky.feed.post", "rkey": rkey,
        "record": view["record"], "cid": view["cid"]}})  # fmt: skip
    gone = post_event(ALICE, "3gone", stamp + 1000, "", links=[("http://localview.net/x", "x")])
    clock.now = datetime(2023, 9, 19, 11, 40, tzinfo=UTC)
    with JetstreamServer([event, gone], live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["localview.net"], clock)
        assert rig.poll().new == 2
    appview.posts[view["uri"]] = view
    poller = rig.poller()
    result = poller.refresh("bluesky_stream", [view["uri"], uri(ALICE, "3gone")])
    poller.close()
    assert (result.status, result.deleted) == ("ok", 1)
    refreshed = rig.mentions()[view["uri"]]
    assert (refreshed.metrics.likes, refreshed.metrics.reposts, refreshed.engagement) == (4, 0, 4)
    assert refreshed.author_handle == "soubhikbarari.bsky.social"
    assert [k.anchor_text for k in refreshed.links] == ["localview.net"]
    assert rig.mentions()[uri(ALICE, "3gone")].deleted_at is not None
    (lookup,) = appview.server.requests_to("/xrpc/app.bsky.feed.getPosts")
    assert sorted(lookup.query["uris"]) == sorted([view["uri"], uri(ALICE, "3gone")])


def test_refresh_keeps_the_posts_of_an_account_that_is_only_deactivated(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    stamp = int(datetime(2023, 9, 19, 11, 32, 55, tzinfo=UTC).timestamp() * 1_000_000)
    away = post_event(ALICE, "3away", stamp, "", links=[("http://localview.net/y", "y")])
    clock.now = datetime(2023, 9, 19, 11, 40, tzinfo=UTC)
    with JetstreamServer([away], live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["localview.net"], clock)
        assert rig.poll().new == 1
    appview.deactivated.add(ALICE)  # getPosts leaves the post out, getProfiles the account
    poller = rig.poller()
    result = poller.refresh("bluesky_stream", [uri(ALICE, "3away")])
    poller.close()
    assert (result.status, result.deleted) == ("ok", 0)
    kept = rig.mentions()[uri(ALICE, "3away")]
    assert (kept.deleted_at, kept.links[0].canonical_url) == (None, "https://localview.net/y")
    (check,) = appview.server.requests_to("/xrpc/app.bsky.actor.getProfiles")[-1:]
    assert check.query["actors"] == [ALICE]


def test_stream_settings_are_validated(tmp_path: Path, appview: FakeAppView, clock: Clock) -> None:
    with pytest.raises(ConfigError) as caught:
        Rig(tmp_path, ["https://jetstream.example/subscribe", "wss://j.example/subscribe?cursor=1"], appview,
            ["example.com"], clock)  # fmt: skip
    assert caught.value.problems == [
        "connectors.bluesky_stream.endpoints: 'https://jetstream.example/subscribe' is not a websocket URL; "
        'write it like "wss://jetstream2.us-east.bsky.network/subscribe"'
    ]
    with pytest.raises(ConfigError) as caught:
        Rig(tmp_path, ["wss://j.example/subscribe?cursor=1"], appview, ["example.com"], clock)
    assert caught.value.problems == [
        "connectors.bluesky_stream.endpoints: 'wss://j.example/subscribe?cursor=1' has a query; remove it "
        "(the connector adds wantedCollections and cursor itself)"
    ]
    with pytest.raises(ConfigError) as caught:
        Rig(tmp_path, [], appview, ["example.com"], clock)
    assert caught.value.problems == [
        'connectors.bluesky_stream.endpoints: is empty; list at least one, like ["wss://jetstream2.us-east.bsky.network/subscribe"]'
    ]


@given(
    text=st.text(st.sampled_from("abcxyz .:/-_ÉéExAMPLEcom🎉"), max_size=40),
    operation=st.sampled_from(["create", "update", "delete"]),
    collection=st.sampled_from(["app.bsky.feed.post", "app.bsky.feed.like"]),
    compact=st.booleans(),
)
def test_the_cheap_prefilter_keeps_every_event_a_full_parse_would(
    text: str, operation: str, collection: str, compact: bool
) -> None:
    commit: dict[str, Any] = {"rev": "3r", "operation": operation, "collection": collection, "rkey": "3k"}
    if operation != "delete":
        commit["record"] = {"$type": collection, "text": text, "createdAt": "2026-07-04T14:38:06Z"}
    event = {"did": "did:plc:abc", "time_us": 1783175888090631, "kind": "commit", "commit": commit}
    message = json.dumps(event, ensure_ascii=False, separators=(",", ":") if compact else None)
    handler = StreamHandler(["example.com"])
    assert handler.handle(message) == 1783175888090631
    is_post = collection == "app.bsky.feed.post"
    assert handler.deleted == (
        ["at://did:plc:abc/app.bsky.feed.post/3k"] if is_post and operation == "delete" else []
    )
    wanted = is_post and operation != "delete" and "example.com" in text.lower()
    assert [c.uri for c in handler.candidates] == (
        ["at://did:plc:abc/app.bsky.feed.post/3k"] if wanted else []
    )
    assert handler.problems == []


TEN_YEARS_US = 10 * 365 * 86_400 * 1_000_000
CREATED_AT = datetime(2026, 7, 4, 14, 38, 6, 240000, tzinfo=UTC)  # the createdAt of every generated post


def from_the_future(rkey: str = "3future") -> str:
    return post_event(
        ALICE, rkey, NOW_US + TEN_YEARS_US, "sent ahead: ", links=[("https://example.com/f", "f")]
    )


def test_an_event_stamped_in_the_future_is_stored_by_its_date_and_never_becomes_the_position(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    start = NOW_US - 10_000_000
    with JetstreamServer([*generated(10, start, {2}), from_the_future()], live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
        again = rig.poll()  # the next pass is not stopped by it either
    assert (result.status, result.new, again.status) == ("ok", 2, "ok")
    assert rig.cursor()["time_us"] == start + 9 * 1000  # the newest event this machine's clock believes
    assert rig.mentions()[uri(ALICE, "3future")].created_at == CREATED_AT
    assert result.skipped == 1
    assert result.problems == [
        "1 Jetstream event(s) stamped up to 10 years ahead of this machine's clock: not taken as the stream "
        "position (a post among them is dated by its createdAt)"
    ]
    assert json.loads(rig.store.run(result.run_id)["counters"])["future_stamps"] == 1


def test_following_never_moves_the_position_to_a_future_stamp(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    start = NOW_US - 60_000_000
    with JetstreamServer([*generated(5, start, set()), from_the_future()]) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock, extra='flush_every = "1s"')
        stop = threading.Event()
        poller = rig.poller(stop)
        worker = threading.Thread(target=lambda: poller.poll("bluesky_stream", kind="stream", follow=True))
        worker.start()
        try:
            deadline = time.monotonic() + 20
            while rig.store.count_mentions() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            stream.add(
                generated(3, NOW_US + 1_000_000, set(), tag="aft")
            )  # a second ahead: the skew allows it
            while rig.cursor_time() != NOW_US + 1_002_000 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(timeout=10)
            poller.close()
        reconnects = [query["cursor"] for query in stream.queries[1:]]
    assert rig.cursor()["time_us"] == NOW_US + 1_002_000
    assert reconnects == []  # one connection: nothing made it ask for a cursor ten years ahead


def test_a_saved_position_in_the_future_is_not_resumed(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    from tracker.connector import Cursor, Page

    with JetstreamServer(generated(5, NOW_US - 5_000_000, {1}), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        run_id = rig.store.start_run("bluesky_stream", "poll", NOW - timedelta(hours=1))
        poisoned = Page("stream", cursor=Cursor(1, {"time_us": NOW_US + TEN_YEARS_US, "recent": []}))
        rig.store.write_page(connector="bluesky_stream", platform="bluesky", run_id=run_id, page=poisoned,
                             mentions_to_store=[], now=NOW - timedelta(hours=1))  # fmt: skip
        result = rig.poll()
        assert stream.queries[0]["cursor"] == [str(NOW_US - 600_000_000)]  # afresh: the initial lookback
    assert (result.status, result.new) == ("ok", 1)
    assert rig.cursor()["time_us"] == NOW_US - 5_000_000 + 4000


# Detection v2: aliases, wrappers, short links and other dots reach the poller through the stream


def with_detection(rig: Rig, domains: list[Any], **tracker: Any) -> None:
    """Give ``rig`` these ``[[domains]]`` tables (with aliases) and ``[tracker]`` keys."""
    rig.config = dataclasses.replace(
        rig.config, domains=tuple(domains), tracker=rig.config.tracker.model_copy(update=tracker)
    )


def test_a_recorded_post_whose_only_link_is_to_an_alias_is_found(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    with JetstreamServer(recorded_events(), live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["denikn.example"], clock)
        # the Czech daily's former domain, say: its links count for the new one
        with_detection(rig, [DomainSettings(name="denikn.example", aliases=("denikn.cz",))])
        result = rig.poll()
    assert (result.status, result.new) == ("ok", 1)
    (found,) = rig.mentions().values()
    assert found.platform_id == uri("did:plc:fe7cz462lvsuhadx6z35orni", "3mptbypt22l26")
    assert [(k.url, k.canonical_url, k.domain) for k in found.links] == [
        ("https://denikn.cz/2113523", "https://denikn.cz/2113523", "denikn.example")
    ]


def test_posts_whose_only_link_is_a_wrapper_or_written_with_ideographic_dots_are_found(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    wrapped = "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2Fstory%3Futm_source%3Dfb&h=AT3"
    events = [
        post_event(ALICE, "3wrap", NOW_US - 9_000_000, "via fb ", links=[(wrapped, "l.facebook.com/l.php")]),
        post_event(ALICE, "3dots", NOW_US - 8_000_000, "詳しくは example。com/jp を"),
        post_event(ALICE, "3foreign", NOW_US - 7_000_000, "x ", links=[("https://l.facebook.com/l.php?u=https%3A%2F%2Fother.org%2Fexample.com", "fb")]),
    ]  # fmt: skip
    with JetstreamServer(events, live=live(clock)) as stream:
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        result = rig.poll()
    assert (result.status, result.new) == ("ok", 2)
    found = rig.mentions()
    (link,) = found[uri(ALICE, "3wrap")].links
    assert (link.url, link.canonical_url, link.source) == (wrapped, "https://example.com/story", "facet")
    (link,) = found[uri(ALICE, "3dots")].links
    assert (link.url, link.canonical_url, link.source) == (
        "example。com/jp",
        "https://example.com/jp",
        "text",
    )


def test_a_post_whose_only_link_is_short_passes_the_prefilter_and_is_stored_once_resolved(
    tmp_path: Path, appview: FakeAppView, clock: Clock
) -> None:
    from tests.support.shortener import FakeShortener

    events = [
        post_event(ALICE, "3short", NOW_US - 9_000_000, "new post ", links=[("https://bit.ly/4abc", "bit.ly/4abc")]),
        post_event(ALICE, "3other", NOW_US - 8_000_000, "elsewhere ", links=[("https://bit.ly/4zzz", "bit.ly/4zzz")]),
    ]  # fmt: skip
    with FakeShortener() as shortener, JetstreamServer(events, live=live(clock)) as stream:
        shortener.redirect("bit.ly/4abc", "https://example.com/launch?utm_source=bsky")
        shortener.redirect("bit.ly/4zzz", "https://other.org/")
        rig = Rig(tmp_path, [stream.url], appview, ["example.com"], clock)
        with_detection(
            rig,
            [DomainSettings(name="example.com")],
            resolve_shorteners=True,
            connect_to=shortener.connect_to("bit.ly"),
        )
        result = rig.poll()
        assert (result.status, result.new, result.fetched) == ("ok", 0, 2)  # both taken, none matched yet
        assert shortener.requests == []  # the stream does not wait for lookups
        assert rig.poller().settle_short_links() == 1
        assert sorted(shortener.hosts_contacted()) == ["bit.ly", "bit.ly"]
    (found,) = rig.mentions().values()
    assert found.platform_id == uri(ALICE, "3short")
    assert found.created_at == datetime(2026, 7, 4, 14, 38, 6, 240000, tzinfo=UTC)  # the post's, not now
    (link,) = found.links
    assert (link.url, link.canonical_url) == ("https://bit.ly/4abc", "https://example.com/launch")


def test_short_links_do_not_pass_the_prefilter_unless_they_are_resolved() -> None:
    from tracker.urls import DomainMatcher

    event = post_event(ALICE, "3short", NOW_US, "new ", links=[("https://bit.ly/4abc", "bit.ly/4abc")])
    off, on = (
        DomainMatcher([("example.com", True)]),
        DomainMatcher([("example.com", True)], resolve_shorteners=True),
    )
    quiet, resolving = (
        StreamHandler(off.needles, off.short_link_pattern),
        StreamHandler(on.needles, on.short_link_pattern),
    )
    quiet.handle(event)
    resolving.handle(event)
    assert (len(quiet.candidates), len(resolving.candidates)) == (0, 1)


def test_with_a_thousand_domains_the_handler_takes_the_posts_linking_to_any_of_them() -> None:
    names = [f"site{n}.{('com', 'io', 'org')[n % 3]}" for n in range(999)] + ["bücher.de"]
    handler = StreamHandler(DomainMatcher([(name, True) for name in names]).needles)
    texts = {
        "3a": "new: https://blog.site998.org/x",
        "3b": "nothing here, site1000.com is not ours",
        "3c": "Kauf bei xn--bcher-kva.de",
        "3d": "Kauf bei BÜCHER.DE",
        "3e": "see site5。org",
        "3f": "see notsite.co",
    }
    for rkey, text in texts.items():
        record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-07-04T14:38:06Z"}
        commit = {"rev": "3r", "operation": "create", "collection": "app.bsky.feed.post", "rkey": rkey,
                  "record": record}  # fmt: skip
        event = {"did": "did:plc:abc", "time_us": 1783175888090631, "kind": "commit", "commit": commit}
        handler.handle(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
    assert [c.uri.rsplit("/", 1)[1] for c in handler.candidates] == ["3a", "3c", "3d", "3e"]
