"""`tracker run` as a real process against local replay servers: clean shutdown, restart without loss,
one writer per database, backoff of a failing connector, and leader failover on PostgreSQL."""

from __future__ import annotations

import copy
import itertools
import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.algolia import PATH, FakeAlgolia, recorded_hits
from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.processes import TrackerProcess, wait_for
from tracker.schema import connector_runs, mentions
from tracker.store import Store

pytestmark = pytest.mark.slow
POOL = 300


class SlowAlgolia(FakeAlgolia):
    """The fake Algolia, answering each search after ``delay`` seconds."""

    def __init__(self, server: RecordingServer, hits: list[dict[str, Any]], delay: float) -> None:
        super().__init__(server, hits)
        self.delay = delay

    def search(self, request: Request) -> Reply:
        time.sleep(self.delay)
        return super().search(request)


def fresh_hits(count: int, first: int = 0) -> list[dict[str, Any]]:
    """``count`` stories linking to example.com, posted in the last ``count`` seconds."""
    template = next(h for h in recorded_hits() if "story" in h["_tags"] and h.get("url"))
    now = int(datetime.now(UTC).timestamp())
    hits = []
    for index in range(first, first + count):
        hit = copy.deepcopy(template)
        hit.update(
            objectID=str(5_000_000 + index),
            created_at_i=now - count + index - first,
            url=f"https://example.com/{index}",
        )
        hits.append(hit)
    return hits


@pytest.fixture
def algolia() -> Iterator[SlowAlgolia]:
    with RecordingServer() as server:
        yield SlowAlgolia(server, fresh_hits(POOL), delay=0.05)


def write_config(folder: Path, base_url: str, *, database_url: str = "", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tracker.toml"
    path.write_text(
        f"""
[tracker]
data_dir = "data"
database_url = "{database_url}"
[[domains]]
name = "example.com"
[pages]
check = false  # no page of example.com is ever requested from a test
[connectors.hackernews]
api_base_url = "{base_url}"
interval = "1s"
page_size = 10
comments = false
{extra}
""",
        encoding="utf-8",
    )
    return path


def count_mentions(url: str) -> int:
    store = Store.open(url)
    try:
        with store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(mentions)).scalar() or 0)
    finally:
        store.close()


def runs(url: str) -> list[dict[str, Any]]:
    store = Store.open(url)
    try:
        with store.read() as conn:
            rows = conn.execute(select(connector_runs).order_by(connector_runs.c.started_at)).mappings().all()
            return [dict(row) for row in rows]
    finally:
        store.close()


def sqlite_url(config: Path) -> str:
    return f"sqlite:///{config.parent / 'data' / 'tracker.db'}"


def test_sigterm_mid_poll_exits_cleanly_and_a_restart_loses_and_duplicates_nothing(
    tmp_path: Path, algolia: SlowAlgolia
) -> None:
    config = write_config(tmp_path, algolia.base_url)
    url = sqlite_url(config)
    daemon = TrackerProcess(config, "run", log_name="first")
    try:
        wait_for(lambda: (config.parent / "data" / "tracker.db").exists() and 0 < count_mentions(url) < POOL,
                 30, "the first pages of the first poll")  # fmt: skip
        daemon.signal(signal.SIGTERM)
        started = time.monotonic()
        assert daemon.wait(timeout=15) == 0, daemon.output()
        assert time.monotonic() - started < 10
    finally:
        daemon.stop()
    assert "SIGTERM received: stopping" in daemon.output()
    assert runs(url)[-1]["status"] == "interrupted"
    partial = count_mentions(url)
    assert 0 < partial < POOL

    again = TrackerProcess(config, "run", log_name="second")
    try:
        wait_for(lambda: count_mentions(url) == POOL, 60, "every mention after the restart")
        again.signal(signal.SIGTERM)
        assert again.wait(timeout=15) == 0, again.output()
    finally:
        again.stop()
    store = Store.open(url)
    ids = [m.platform_id for m in store.iter_mentions()]
    store.close()
    assert len(ids) == len(set(ids)) == POOL


def test_a_second_daemon_on_the_same_sqlite_database_is_refused(tmp_path: Path, algolia: SlowAlgolia) -> None:
    config = write_config(tmp_path, algolia.base_url)
    first = TrackerProcess(config, "run", log_name="first")
    try:
        wait_for(lambda: "running 1 polling job" in first.output(), 30, "the first daemon to start")
        second = TrackerProcess(config, "run", log_name="second")
        assert second.wait(timeout=30) == 2
        message = second.output().strip().splitlines()[-1]
        assert message.startswith(f"error: tracker run pid {first.pid} on ")
        assert "is already writing to this database" in message
        poll = TrackerProcess(config, "poll", log_name="poll")
        assert poll.wait(timeout=30) == 2
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
    finally:
        first.stop()


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    with RecordingServer() as server:
        stuck = SlowAlgolia(server, fresh_hits(5), delay=20)
        config = write_config(tmp_path, stuck.base_url)
        daemon = TrackerProcess(config, "run")
        try:
            wait_for(lambda: server.requests_to(PATH), 30, "the daemon's first request")
            daemon.signal(signal.SIGTERM)
            time.sleep(0.3)
            daemon.signal(signal.SIGTERM)
            started = time.monotonic()
            assert daemon.wait(timeout=10) == 1
            assert time.monotonic() - started < 3
            assert "second signal: exiting at once" in daemon.output()
        finally:
            daemon.stop()


def test_a_daemon_stuck_in_a_network_call_still_exits_within_ten_seconds(tmp_path: Path) -> None:
    with RecordingServer() as server:
        stuck = SlowAlgolia(server, fresh_hits(5), delay=25)
        config = write_config(tmp_path, stuck.base_url)
        daemon = TrackerProcess(config, "run")
        try:
            wait_for(lambda: server.requests_to(PATH), 30, "the daemon's first request")
            daemon.signal(signal.SIGTERM)
            started = time.monotonic()
            assert daemon.wait(timeout=15) == 0
            assert time.monotonic() - started < 10
        finally:
            daemon.stop()


def test_a_failing_connector_backs_off_while_the_others_keep_running(
    tmp_path: Path, algolia: SlowAlgolia
) -> None:
    with RecordingServer() as broken:
        broken.route("GET", PATH, lambda request: Reply(404, {"message": "gone"}))
        config = write_config(
            tmp_path,
            algolia.base_url,
            extra=f'[connectors.bad]\ntype = "hackernews"\napi_base_url = "{broken.url}/api/v1"\ninterval = "1s"\n',
        )
        url = sqlite_url(config)
        daemon = TrackerProcess(config, "run")
        try:
            wait_for(
                lambda: (config.parent / "data" / "tracker.db").exists()
                and sum(1 for r in runs(url) if r["connector"] == "hackernews" and r["status"] == "ok") >= 6,
                60, "six good runs",
            )  # fmt: skip
            status = TrackerProcess(config, "status", log_name="status")
            assert status.wait(timeout=30) == 1
            assert re.search(
                r"^bad \(hackernews, poll\): (degraded|down) - \d failed run", status.output(), re.M
            )
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=15) == 0
        finally:
            daemon.stop()
        bad = [r for r in runs(url) if r["connector"] == "bad"]
        good = [r for r in runs(url) if r["connector"] == "hackernews" and r["status"] == "ok"]
        assert all(r["status"] in ("failed", "interrupted") for r in bad)
        assert len(bad) < len(good)
        starts = [r["started_at"].timestamp() for r in bad]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert gaps == sorted(gaps) or len(gaps) < 2  # waits grow: 2 s, 4 s, 8 s ...


@pytest.mark.postgres
def test_a_standby_takes_over_within_30_seconds_when_the_leader_is_killed(
    tmp_path: Path, pg_url: str, algolia: SlowAlgolia
) -> None:
    configs = [write_config(tmp_path / f"d{i}", algolia.base_url, database_url=pg_url) for i in range(3)]
    daemons = [TrackerProcess(config, "run", log_name=f"daemon{i}") for i, config in enumerate(configs)]
    try:
        wait_for(lambda: count_mentions(pg_url) == POOL, 60, "the leader to store every mention")
        leaders = {r["pid"] for r in runs(pg_url)}
        assert len(leaders) == 1, "only the leader works"
        (leader_pid,) = leaders
        leader = next(d for d in daemons if d.pid == leader_pid)
        algolia.hits.extend(fresh_hits(20, first=POOL))  # new posts only the next leader can find
        leader.signal(signal.SIGKILL)
        leader.wait()
        killed_at = time.monotonic()
        wait_for(
            lambda: any(r["pid"] not in (leader_pid, None) for r in runs(pg_url)),
            30,
            "a standby to take over",
        )
        assert time.monotonic() - killed_at < 30
        wait_for(lambda: count_mentions(pg_url) == POOL + 20, 30, "the new leader to read the new posts")
        for daemon in daemons:
            if daemon is not leader:
                daemon.signal(signal.SIGTERM)
        for daemon in daemons:
            if daemon is not leader:
                assert daemon.wait(timeout=15) == 0
    finally:
        for daemon in daemons:
            daemon.stop()
    polls = [r for r in runs(pg_url) if r["kind"] == "poll"]
    assert len({r["pid"] for r in polls}) == 2
    for earlier, later in itertools.pairwise(polls):
        assert earlier["finished_at"] is not None
        assert earlier["finished_at"] <= later["started_at"], "two runs of one job overlapped"
    store = Store.open(pg_url)
    ids = [m.platform_id for m in store.iter_mentions()]
    store.close()
    assert len(ids) == len(set(ids)) == POOL + 20


def test_missed_weekly_reports_and_the_week_so_far_are_written_on_start(
    tmp_path: Path, algolia: SlowAlgolia
) -> None:
    from datetime import timedelta

    from tracker.periods import last_complete_week

    config = write_config(tmp_path, algolia.base_url)
    url = sqlite_url(config)
    store = Store.open(url)
    two_weeks_ago = datetime.now(UTC) - timedelta(days=15)
    store.finish_run(store.start_run("hackernews", "poll", two_weeks_ago), "ok", two_weeks_ago)
    store.close()
    daemon = TrackerProcess(config, "run")
    try:
        last = last_complete_week(datetime.now(UTC), "UTC")
        expected = {str(last), str(last.previous()), str(last.next())}  # and the week so far
        reports_dir = tmp_path / "reports-out"
        wait_for(lambda: reports_dir.exists() and expected <= {p.name for p in reports_dir.iterdir()}, 60,
                 "the missed reports")  # fmt: skip
        assert (reports_dir / "index.html").exists()
        wait_for((reports_dir / str(last.next()) / ".so-far").is_file, 30, "the week so far")
        # index.html is rewritten just after the week's folder is swapped in
        wait_for(
            lambda: "so far" in (reports_dir / "index.html").read_text(encoding="utf-8"), 30, "the index"
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    finally:
        daemon.stop()


def test_a_stream_connector_follows_live_and_stops_cleanly(tmp_path: Path) -> None:
    from tests.support.bluesky_data import FakeAppView, post_event
    from tests.support.jetstream_server import JetstreamServer

    now_us = int(time.time() * 1_000_000)
    with JetstreamServer() as stream, RecordingServer() as http:
        appview = FakeAppView(http)
        config = tmp_path / "tracker.toml"
        config.write_text(
            f'[tracker]\ndata_dir = "data"\n[[domains]]\nname = "example.com"\n[pages]\ncheck = false\n'
            f'[connectors.live]\ntype = "jetstream"\nendpoints = ["{stream.url}"]\nappview_url = "{appview.url}"\n'
            f'flush_every = "1s"\n',
            encoding="utf-8",
        )
        url = sqlite_url(config)
        daemon = TrackerProcess(config, "run")
        try:
            wait_for(lambda: stream.queries, 30, "the stream to connect")
            stream.add([post_event("did:plc:live0000000000000001", "3live1", now_us + 1_000_000, "new: ",
                                   links=[("https://example.com/live", "a live post")])])  # fmt: skip
            wait_for(lambda: (config.parent / "data" / "tracker.db").exists() and count_mentions(url) == 1, 30,
                     "the live post to be stored")  # fmt: skip
            daemon.signal(signal.SIGTERM)
            started = time.monotonic()
            assert daemon.wait(timeout=15) == 0, daemon.output()
            assert time.monotonic() - started < 10
        finally:
            daemon.stop()
    store = Store.open(url)
    cursor = store.cursors("live")["stream"].state["time_us"]
    store.close()
    assert cursor >= now_us + 1_000_000


def status_of(config: Path) -> tuple[int, str]:
    checked = TrackerProcess(config, "status", log_name="status")
    code = checked.wait(timeout=60)
    return code, checked.output()


def test_status_says_down_within_a_minute_of_the_daemon_stopping(
    tmp_path: Path, algolia: SlowAlgolia
) -> None:
    import socket

    config = write_config(tmp_path, algolia.base_url)
    daemon = TrackerProcess(config, "run")
    try:
        wait_for(lambda: "running 1 polling job" in daemon.output(), 30, "the daemon to start")
        first_line = daemon.output().splitlines()[0]
        assert first_line.endswith(
            f"INFO    tracker.daemon: starting with config {config}; domains: example.com; "
            f"database: sqlite:///{config.parent / 'data' / 'tracker.db'}; connectors: hackernews (hackernews, every 1s)"
        )
        code, out = status_of(config)
        assert code in (0, 1), out
        assert f"daemon: leader pid {daemon.pid} on {socket.gethostname()}, up since " in out
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
        stopped = time.monotonic()
        code, out = status_of(config)
        assert time.monotonic() - stopped < 60
    finally:
        daemon.stop()
    assert code == 2, out
    assert re.search(
        rf"^down: daemon not running \(last seen \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ, pid {daemon.pid}, "
        rf"host {re.escape(socket.gethostname())}\)$",
        out,
        re.M,
    ), out
    assert out.startswith("health: down\n")


def test_status_says_down_at_once_when_the_daemon_is_killed(tmp_path: Path, algolia: SlowAlgolia) -> None:
    config = write_config(tmp_path, algolia.base_url)
    daemon = TrackerProcess(config, "run")
    try:
        wait_for(lambda: "running 1 polling job" in daemon.output(), 30, "the daemon to start")
        daemon.signal(signal.SIGKILL)
        daemon.wait(timeout=15)
        code, out = status_of(config)  # its heartbeat is fresh, but its process is gone
    finally:
        daemon.stop()
    assert code == 2, out
    assert "down: daemon not running (last seen " in out and f", pid {daemon.pid}, host " in out


@pytest.mark.postgres
def test_status_lists_the_leader_and_the_standbys(tmp_path: Path, pg_url: str, algolia: SlowAlgolia) -> None:
    import json

    configs = [write_config(tmp_path / f"d{i}", algolia.base_url, database_url=pg_url) for i in range(2)]
    daemons = [TrackerProcess(config, "run", log_name=f"daemon{i}") for i, config in enumerate(configs)]
    try:
        wait_for(lambda: all("leading" in d.output() or "standing by" in d.output() for d in daemons), 30,
                 "both daemons to settle")  # fmt: skip
        checked = TrackerProcess(configs[0], "status", "--json", log_name="status")
        checked.wait(timeout=60)
        report = json.loads(checked.output()[checked.output().index("{") :])
        leader = next(d for d in daemons if "leading" in d.output())
        standby = next(d for d in daemons if d is not leader)
        assert report["daemon"]["running"] is True
        assert (report["daemon"]["leader"]["pid"], report["daemon"]["leader"]["role"]) == (
            leader.pid,
            "leader",
        )
        assert [(s["pid"], s["role"]) for s in report["daemon"]["standbys"]] == [(standby.pid, "standby")]
        for daemon in daemons:
            daemon.signal(signal.SIGTERM)
        for daemon in daemons:
            assert daemon.wait(timeout=15) == 0
    finally:
        for daemon in daemons:
            daemon.stop()
    code, out = status_of(configs[1])
    assert code == 2
    assert "down: daemon not running (last seen " in out


def test_the_daemon_resolves_short_links_beside_the_polling(tmp_path: Path) -> None:
    from tests.support.shortener import FakeShortener

    template = next(h for h in recorded_hits() if "comment" in h["_tags"])
    now = int(datetime.now(UTC).timestamp())
    hit = copy.deepcopy(template)
    hit.update(
        objectID="6000001",
        created_at_i=now - 60,
        comment_text='on example.com: <a href="https://bit.ly/ex1">x</a>',
    )
    with RecordingServer() as server, FakeShortener() as shortener:
        algolia = FakeAlgolia(server, [hit])
        shortener.redirect("bit.ly/ex1", "https://example.com/found-late")
        config = write_config(tmp_path, algolia.base_url)
        config.write_text(
            config.read_text()
            .replace("comments = false", "comments = true")
            .replace(
                "[tracker]\n",
                f'[tracker]\nresolve_shorteners = true\nconnect_to = {{"bit.ly" = "{shortener.url}"}}\n',
            )
        )
        url = sqlite_url(config)
        daemon = TrackerProcess(config, "run")
        try:
            wait_for(lambda: (config.parent / "data" / "tracker.db").exists() and count_mentions(url) == 1, 60,
                     "the mention behind the short link")  # fmt: skip
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=15) == 0
        finally:
            daemon.stop()
        assert shortener.hosts_contacted() == ["bit.ly"]
