"""The Wikipedia connector's settings, its weekly refresh of page views, and a scan-only daemon."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_config
from tests.connectors.wikipedia.rig import APPLE, MALUS, NOW, Rig, scenario
from tests.support.wikimedia import Scenario
from tracker.errors import ConfigError
from tracker.poller import Poller
from tracker.schema import mentions


@pytest.fixture
def world() -> Iterator[Scenario]:
    with scenario() as made:
        yield made


def due(rig: Rig, platform_id: str) -> object:
    with rig.store.read() as conn:
        return conn.execute(
            select(mentions.c.refresh_due_at).where(mentions.c.platform_id == platform_id)
        ).scalar()


def test_page_views_are_refreshed_every_week_for_as_long_as_the_article_cites_the_domain(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    rig.poll()
    assert due(rig, APPLE) == NOW + timedelta(hours=1)
    world.views.daily[("en.wikipedia.org", "Apple")] = 50
    for stage, at in enumerate(
        [timedelta(hours=1), timedelta(hours=24), timedelta(days=7), timedelta(days=14)]
    ):
        rig.clock.now = NOW + at
        poller = rig.poller()
        try:
            (result,) = poller.refresh_due("wikipedia")
        finally:
            poller.close()
        assert result.status == "ok", stage
    assert rig.mentions()[APPLE].metrics.views == 1500
    assert due(rig, APPLE) == NOW + timedelta(days=21)  # weekly after the three stages, not never


def test_a_refresh_marks_an_article_that_lost_its_citation_deleted(world: Scenario, tmp_path: Path) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    rig.poll()
    apple = world.wikis.page("en.wikipedia.org", 18978754)
    for link in [link for link in apple.links if "kew.org" in link]:
        apple.remove(link)
    result = rig.refresh([APPLE, MALUS, "xx.wikipedia.org:1"])
    assert (result.status, result.deleted, result.skipped) == ("ok", 1, 1)
    assert rig.live() == {MALUS}
    assert "is not <configured wiki>:<page id>" in result.problems[0]


def test_without_the_stream_the_daemon_scans_when_due_and_says_every_minute_it_is_alive(
    world: Scenario, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, world, extra="stream = false")
    stop = threading.Event()
    waits: list[float] = []

    def sleeper(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) >= 3:
            stop.set()
        time.sleep(0.01)

    poller = Poller(rig.config, rig.store, clock=rig.clock, stop=stop, sleeper=sleeper)
    try:
        result = poller.poll("wikipedia", kind="stream", follow=True)
    finally:
        poller.close()
    assert result.status == "interrupted"
    assert waits == [60.0, 60.0, 60.0]
    cursor = rig.store.cursors("wikipedia")["schedule"]
    assert cursor.state == {"next_scan": (NOW + timedelta(hours=6)).isoformat()}
    assert rig.live() == {APPLE, MALUS}
    assert world.stream.requests == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('wikis = ["https://en.wikipedia.org/wiki/Main_Page"]', "is not a wiki host"),
        ("wikis = []", "is empty"),
        ('api_url = "https://en.wikipedia.org/w/api.php"', "has no {wiki}"),
        ('user_agent = "my-bot/1.0"', "has no contact; Wikimedia asks for one"),
    ],
)
def test_settings_problems_are_one_line_each(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_config(tmp_path, f'[[domains]]\nname = "kew.org"\n[connectors.wikipedia]\n{line}\n')
    assert message in str(raised.value)
    assert "connectors.wikipedia." in str(raised.value)
