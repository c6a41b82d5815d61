"""Engagement refresh around +1 h, +24 h and +7 d after posting, deletions, and raw-payload retention."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Clock, Sleeps, make_config
from tests.support.algolia import FakeAlgolia, recorded_hits
from tests.support.factories import matched, mention
from tests.support.http_server import RecordingServer
from tests.support.scripted import ScriptedConnector
from tracker.connector import Cursor, Page
from tracker.poller import Poller
from tracker.record import Metrics
from tracker.refresh import next_refresh_due
from tracker.schema import metric_snapshots
from tracker.store import Store

POSTED = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "due"),
    [
        (POSTED, POSTED + timedelta(hours=1)),
        (POSTED + timedelta(minutes=59), POSTED + timedelta(hours=1)),
        (POSTED + timedelta(hours=1), POSTED + timedelta(hours=24)),
        (POSTED + timedelta(days=3), POSTED + timedelta(days=7)),
        (POSTED + timedelta(days=7), None),
    ],
)
def test_the_next_refresh_is_the_first_stage_still_ahead(after: datetime, due: datetime | None) -> None:
    assert next_refresh_due(POSTED, after) == due


def test_a_connector_that_refreshes_for_as_long_as_a_mention_lives_is_due_again_every_period() -> None:
    week = timedelta(days=7)
    assert next_refresh_due(POSTED, POSTED, week) == POSTED + timedelta(hours=1)  # the stages first
    after = POSTED + timedelta(days=7, minutes=5)
    assert next_refresh_due(POSTED, after, week) == after + week
    assert next_refresh_due(POSTED, after + timedelta(days=300), week) == after + timedelta(days=307)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def test_hacker_news_stories_are_refreshed_at_each_stage(server: RecordingServer, tmp_path: Path) -> None:
    clock = Clock(datetime(2014, 5, 31, tzinfo=UTC))
    template = next(h for h in recorded_hits() if "story" in h["_tags"] and h.get("url"))
    story = copy.deepcopy(template)
    story.update(
        objectID="424242",
        created_at_i=int(clock().timestamp()) - 600,
        url="https://example.com/new",
        points=5,
    )
    comment = copy.deepcopy(next(h for h in recorded_hits() if "comment" in h["_tags"]))
    comment.update(
        objectID="424243",
        created_at_i=int(clock().timestamp()) - 500,
        comment_text='see <a href="https://example.com/new">this</a>',
        _tags=["comment", "author_x", "story_1"],
    )
    algolia = FakeAlgolia(server, [story, comment])
    config = make_config(
        tmp_path,
        f'[[domains]]\nname = "example.com"\n[connectors.hackernews]\napi_base_url = "{algolia.base_url}"\n',
    )
    store = Store.open(config.database_url)
    poller = Poller(config, store, clock=clock, sleeper=Sleeps())
    assert poller.poll("hackernews").new == 2
    assert poller.refresh_due("hackernews") == []  # nothing due before +1 h

    seen_points = []
    for stage, points in ((timedelta(hours=1), 30), (timedelta(hours=24), 120), (timedelta(days=7), 121)):
        story["points"] = points
        clock.now = datetime.fromtimestamp(story["created_at_i"], UTC) + stage + timedelta(minutes=1)
        (result,) = poller.refresh_due("hackernews")
        assert (result.status, result.updated) == ("ok", 1)
        seen_points.append(next(m for m in store.iter_mentions() if m.kind == "post").metrics.score)
        assert poller.refresh_due("hackernews") == []  # done until the next stage
    assert seen_points == [30, 120, 121]
    lookups = server.requests_to("/api/v1/search")
    assert [lookup.query for lookup in lookups] == [
        {"tags": ["story,(story_424242)"], "hitsPerPage": ["1"]}
    ] * 3
    # comments have no points on Algolia: never asked for, and off the schedule
    with store.read() as conn:
        assert (
            conn.execute(select(func.count()).select_from(metric_snapshots)).scalar() == 4 + 1
        )  # + the comment's first
    assert store.due_for_refresh("hackernews", clock() + timedelta(days=365)) == []
    poller.close()
    store.close()


def test_a_post_the_platform_reports_deleted_drops_out(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    ScriptedConnector.SCRIPTS["gone"] = lambda request: [
        Page(
            "s",
            [mention(i, created_at=clock() - timedelta(minutes=5)) for i in ("1", "2")],
            cursor=Cursor(1, {}),
        )
    ]
    ScriptedConnector.REFRESH["gone"] = lambda ids: [
        Page("refresh", [mention("1", created_at=clock() - timedelta(hours=2), metrics=Metrics(likes=9))],
             deleted=[i for i in ids if i != "1"])
    ]  # fmt: skip
    config = make_config(
        tmp_path,
        f'[tracker]\ndatabase_url = "{database_url}"\n[[domains]]\nname = "example.com"\n'
        '[connectors.one]\ntype = "tests.support.scripted:ScriptedConnector"\nscript = "gone"\n',
    )
    store = Store.open(config.database_url)
    poller = Poller(config, store, clock=clock)
    poller.poll("one")
    clock.advance(hours=2)
    results = poller.refresh_due("one")
    assert [r.status for r in results] == ["ok"]
    assert [m.platform_id for m in store.iter_mentions()] == ["1"]
    assert next(store.iter_mentions()).metrics.likes == 9
    store.close()
    ScriptedConnector.SCRIPTS.clear()
    ScriptedConnector.REFRESH.clear()


def test_raw_payloads_received_longer_ago_than_the_retention_are_erased(store: Store, clock: Clock) -> None:
    old = mention("1", created_at=clock() - timedelta(days=100), raw='{"old": true}')
    store.write_page(
        connector="c", platform="hackernews", run_id=None, page=Page("k"), mentions_to_store=[matched(old)],
        now=clock(),
    )  # fmt: skip
    clock.advance(days=100)
    backfilled = mention("2", created_at=clock() - timedelta(days=400), raw='{"backfilled": true}')
    store.write_page(
        connector="c", platform="hackernews", run_id=None, page=Page("k"), mentions_to_store=[matched(backfilled)],
        now=clock(),
    )  # fmt: skip
    assert store.erase_raw_before(clock() - timedelta(days=90)) == 1
    kept = {m.platform_id: m for m in store.iter_mentions()}
    assert (kept["1"].raw, kept["2"].raw) == (None, '{"backfilled": true}')
    assert kept["1"].text == old.text
