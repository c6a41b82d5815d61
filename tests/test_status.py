"""`tracker status`: the daemon's heartbeat, hung runs and streams that never connected."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Clock, make_config
from tracker.cli import cli
from tracker.connector import Cursor, Page
from tracker.heartbeat import Heartbeat, daemon_status
from tracker.settings import Config
from tracker.status import collect, overall
from tracker.store import Store

HN = '[[domains]]\nname = "example.com"\n[connectors.hackernews]\ninterval = "10m"\n'
STREAM = '[[domains]]\nname = "example.com"\n[connectors.live]\ntype = "jetstream"\n'


@pytest.fixture
def hn(tmp_path: Path) -> Config:
    return make_config(tmp_path, HN)


def test_a_daemon_whose_heartbeat_stops_is_down_within_a_minute(store: Store, clock: Clock) -> None:
    heartbeat = Heartbeat(store, clock)
    heartbeat.role = "leader"
    heartbeat.beat()
    started = clock.now
    running = daemon_status(store, started + timedelta(seconds=44))
    assert running.running
    assert running.leader is not None and running.leader.pid == os.getpid()
    gone = daemon_status(store, started + timedelta(seconds=46))  # three beats of 15 s missed
    assert (gone.running, gone.ever_ran) == (False, True)
    assert gone.last_seen is not None and gone.last_seen.seen_at == started
    assert overall([], gone) == "down"


def test_a_daemon_that_stopped_cleanly_is_down_at_once(store: Store, clock: Clock) -> None:
    heartbeat = Heartbeat(store, clock)
    heartbeat.start()
    heartbeat.stop()
    assert not daemon_status(store, clock.now).running


def test_standbys_without_a_leader_are_degraded(store: Store, clock: Clock) -> None:
    heartbeat = Heartbeat(store, clock)
    heartbeat.role = "standby"
    heartbeat.beat()
    daemon = daemon_status(store, clock.now)
    assert (daemon.leader, len(daemon.standbys)) == (None, 1)
    assert overall([], daemon) == "degraded"


def test_without_any_heartbeat_health_comes_from_the_connectors(store: Store, clock: Clock) -> None:
    daemon = daemon_status(store, clock.now)  # `tracker poll` from cron: no daemon ever ran here
    assert (daemon.running, daemon.ever_ran) == (False, False)
    assert overall([], daemon) == "healthy"


def test_a_first_run_that_never_ends_is_degraded_not_pending(hn: Config, clock: Clock) -> None:
    store = Store.open(hn.database_url)
    store.start_run("hackernews", "poll", clock.now)
    (early,) = collect(hn, store, clock.now + timedelta(minutes=19))
    (hung,) = collect(hn, store, clock.now + timedelta(minutes=21))
    store.close()
    assert (early.health, early.note) == ("pending", "has not run yet")
    # 15 minutes is the default budget of a run, 20 minutes twice the interval: the longer counts
    assert (hung.health, hung.note) == (
        "degraded",
        "running for 21 min (hung? a run should end within 20 min)",
    )
    assert overall([hung]) == "degraded"


def test_a_hung_run_after_good_ones_is_degraded_and_status_exits_1(tmp_path: Path, hn: Config) -> None:
    from datetime import UTC, datetime

    store = Store.open(hn.database_url)
    now = datetime.now(UTC)
    ok = store.start_run("hackernews", "poll", now - timedelta(minutes=45))
    store.finish_run(ok, "ok", now - timedelta(minutes=44))
    store.start_run("hackernews", "poll", now - timedelta(minutes=33))
    store.close()
    result = CliRunner().invoke(cli, ["--config", str(hn.path), "status", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    (status,) = report["connectors"]
    assert (report["health"], status["health"]) == ("degraded", "degraded")
    assert status["note"].startswith("running for 33 min")


def test_the_run_budget_grows_with_the_rate_limit_wait_a_connector_accepts(tmp_path: Path) -> None:
    from tracker import registry
    from tracker.connector import ConnectorContext

    config = make_config(
        tmp_path,
        '[[domains]]\nname = "example.com"\n[connectors.reddit]\nauth = "none"\nmax_rate_limit_wait = "40m"\n',
    )
    settings = config.connectors["reddit"]
    connector = registry.load("reddit")("reddit", settings, ConnectorContext(data_dir=tmp_path))
    assert connector.run_budget() == timedelta(minutes=55)


def test_a_stream_that_never_connected_is_degraded_with_its_last_error(tmp_path: Path, clock: Clock) -> None:
    config = make_config(tmp_path, STREAM)
    store = Store.open(config.database_url)
    failed = store.start_run("live", "stream", clock.now - timedelta(minutes=3))
    error = "every Jetstream endpoint failed 6 times in a row (wss://x/subscribe), last: cannot resolve x (no network?)"
    store.finish_run(failed, "failed", clock.now - timedelta(minutes=2), error)
    run_id = store.start_run("live", "stream", clock.now)
    # the stream claims its starting point before it connects: a cursor saved, nothing read
    store.write_page(connector="live", platform="bluesky", run_id=run_id, page=Page("stream", cursor=Cursor(1, {"time_us": 1})),
                     mentions_to_store=[], now=clock.now)  # fmt: skip
    (connecting,) = collect(config, store, clock.now + timedelta(seconds=30))
    (stuck,) = collect(config, store, clock.now + timedelta(minutes=4))
    store.close()
    assert (connecting.health, connecting.note) == ("pending", "connecting")
    assert stuck.health == "degraded"
    assert stuck.note == f"not connected: nothing read in 4 min since it started (last error: {error})"
