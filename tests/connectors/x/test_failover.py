"""X's read ledger and spend survive a failover: two `tracker run` daemons on one PostgreSQL schema, the leader
killed mid-pass, the standby going on without paying twice for what the leader read."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.processes import TrackerProcess, wait_for
from tests.support.x_api import TOKEN, FakeXApi, recorded_page, synthetic_posts
from tracker.schema import connector_runs
from tracker.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
AUTHOR = "1574184167478378496"  # a recorded post whose author wrote every synthetic one


class HeldXApi(FakeXApi):
    """The fake X API, holding every follow-up page (a search with a page token) while ``hold`` is set."""

    def __init__(self, server: RecordingServer, pages: list[dict[str, Any]]) -> None:
        super().__init__(server, pages)  # no clock: the daemons run on the wall clock
        self.hold = threading.Event()
        self.holding = threading.Event()

    def search(self, request: Request) -> Reply:
        if request.param("next_token") and self.hold.is_set():
            self.holding.set()
            deadline = time.monotonic() + 60
            while self.hold.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
        return super().search(request)


@pytest.fixture
def x_api() -> Iterator[HeldXApi]:
    with RecordingServer() as server:
        api = HeldXApi(server, [recorded_page("twarc-csv__entities_test.jsonl")])
        # 250 posts by one author in the last hours: three pages, newest first (100, 100, 50).
        api.add(synthetic_posts(api.tweets[AUTHOR], 250, start=datetime.now(UTC) - timedelta(hours=5)))
        yield api


def runs(url: str) -> list[dict[str, Any]]:
    store = Store.open(url)
    try:
        with store.read() as conn:
            query = select(connector_runs).order_by(connector_runs.c.started_at, connector_runs.c.id)
            return [dict(row) for row in conn.execute(query).mappings()]
    finally:
        store.close()


def _not_at_midnight() -> None:
    """X bills a read once per UTC day: a test straddling midnight would rightly pay twice."""
    now = datetime.now(UTC)
    to_midnight = (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now).seconds
    if to_midnight < 120:
        time.sleep(to_midnight + 1)


def test_a_standby_that_takes_over_knows_what_the_leader_paid_for(
    tmp_path: Path, pg_url: str, x_api: HeldXApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    _not_at_midnight()
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    configs = []
    for index in range(2):  # two hosts: separate data folders, one database
        folder = tmp_path / f"host{index}"
        folder.mkdir()
        (folder / "tracker.toml").write_text(
            f'[tracker]\ndata_dir = "data"\ndatabase_url = "{pg_url}"\n[[domains]]\nname = "example.com"\n'
            "[pages]\ncheck = false\n"  # no page of example.com is ever requested from a test
            f'[connectors.x]\nbearer_token = "${{X_BEARER_TOKEN}}"\napi_base_url = "{x_api.base_url}"\n'
            'interval = "1h"\nmonthly_budget_usd = 2.5\n',
            encoding="utf-8",
        )
        configs.append(folder / "tracker.toml")
    x_api.hold.set()
    daemons = [TrackerProcess(config, "run", log_name=f"daemon{i}") for i, config in enumerate(configs)]
    try:
        wait_for(x_api.holding.is_set, 60, "the leader to ask for its second page")
        wait_for(lambda: runs(pg_url) and runs(pg_url)[0]["pages"] == 1, 10, "the leader's first page stored")
        (first,) = runs(pg_url)
        leader = next(d for d in daemons if d.pid == first["pid"])
        standby = next(d for d in daemons if d is not leader)
        leader.signal(signal.SIGKILL)  # while its second page is in flight
        leader.wait()
        x_api.hold.clear()
        stopped = wait_for(
            lambda: [r for r in runs(pg_url) if r["pid"] == standby.pid and r["status"] == "budget"],
            60,
            "the standby to take over and stop at the budget",
        )
        standby.signal(signal.SIGTERM)
        assert standby.wait(timeout=15) == 0, standby.output()
    finally:
        for daemon in daemons:
            daemon.stop()

    # The leader paid for 100 posts and their author: $0.51. The standby resumed the paging at the second page:
    # 100 posts at $0.005, the author already paid for today; $1.01 spent of $2.50, and the next page could
    # cost $1.50, so it stopped there.
    (standby_run,) = stopped
    assert standby_run["error"] == (
        "monthly budget reached: $1.01 of $2.50 spent, the next page could cost $1.50; raise monthly_budget_usd "
        "or wait for next month"
    )
    assert (first["cost_usd"], standby_run["cost_usd"]) == (pytest.approx(0.51), pytest.approx(0.50))
    assert json.loads(standby_run["counters"]) == {
        "posts_read": 100, "users_read": 1, "posts_billable": 100, "users_billable": 0
    }  # fmt: skip
    tokens = [request.param("next_token") is not None for request in x_api.searches()]
    assert tokens == [
        False,
        True,
        True,
    ]  # the leader's two requests, then the standby's: page one not read again
    assert x_api.problems == []
    assert not list(tmp_path.glob("host*/data/x-*")), "no ledger file beside the database"
