"""The store on SQLite and PostgreSQL: upserts never duplicate, snapshots only on change, one transaction."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from tests.conftest import Clock
from tests.support.factories import matched, mention
from tracker.connector import Cursor, Gap, Page, Usage
from tracker.record import Link, Metrics
from tracker.schema import connector_runs, coverage_gaps, links, mentions, metric_snapshots
from tracker.store import Store


def count(store: Store, table: object) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)  # type: ignore[arg-type]


def write(store: Store, clock: Clock, *items: object, page: Page | None = None, run_id: int | None = None):
    return store.write_page(
        connector="hn", platform="hackernews", run_id=run_id, page=page or Page("k"),
        mentions_to_store=list(items), now=clock(),
    )  # fmt: skip


def test_seeing_a_post_again_updates_it_and_never_duplicates(store: Store, clock: Clock) -> None:
    first = matched(mention("1", metrics=Metrics(score=3, replies=1)))
    assert write(store, clock, first).new == 1
    clock.advance(hours=1)
    result = write(store, clock, first)
    assert (result.new, result.updated, result.unchanged) == (0, 0, 1)
    assert count(store, mentions) == 1
    assert count(store, links) == 1
    stored = next(store.iter_mentions())
    assert stored.last_seen_at == clock.now
    assert stored.first_seen_at == clock.now - timedelta(hours=1)


def test_a_snapshot_is_appended_only_when_a_metric_changed(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1", metrics=Metrics(score=3))))
    write(store, clock, matched(mention("1", metrics=Metrics(score=3))))
    assert count(store, metric_snapshots) == 1
    clock.advance(hours=1)
    result = write(store, clock, matched(mention("1", metrics=Metrics(score=5, replies=2))))
    assert result.updated == 1
    assert count(store, metric_snapshots) == 2
    stored = next(store.iter_mentions())
    assert (stored.metrics.score, stored.metrics.replies, stored.engagement) == (5, 2, 7)


def test_an_observation_without_metrics_keeps_the_known_values(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1", metrics=Metrics(likes=4, views=100))))
    write(store, clock, matched(mention("1", metrics=Metrics())))
    stored = next(store.iter_mentions())
    assert (stored.metrics.likes, stored.metrics.views) == (4, 100)
    assert count(store, metric_snapshots) == 1


def test_unknown_metrics_stay_null_never_zero(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1")))
    stored = next(store.iter_mentions())
    assert stored.metrics == Metrics()
    assert stored.engagement is None
    assert count(store, metric_snapshots) == 0


def test_an_edited_post_replaces_its_text_and_links(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1", text="old", url="https://example.com/old")))
    result = write(store, clock, matched(mention("1", text="new", url="https://example.com/new")))
    assert result.updated == 1
    stored = next(store.iter_mentions())
    assert stored.text == "new"
    assert [link.canonical_url for link in stored.links] == ["https://example.com/new"]
    assert count(store, links) == 1


def test_a_page_repeating_a_post_stores_it_once(store: Store, clock: Clock) -> None:
    result = write(store, clock, matched(mention("1")), matched(mention("1")), matched(mention("2")))
    assert result.new == 2
    assert count(store, mentions) == 2


def test_the_same_id_on_two_platforms_is_two_mentions(store: Store, clock: Clock) -> None:
    write(
        store, clock, matched(mention("1")), matched(mention("1", platform="reddit", permalink="https://r/1"))
    )
    assert count(store, mentions) == 2


def test_a_later_post_of_another_platform_with_a_stored_id_is_a_mention_of_its_own(
    store: Store, clock: Clock
) -> None:
    write(store, clock, matched(mention("1", text="on Hacker News")))
    clock.advance(hours=1)
    on_reddit = matched(mention("1", platform="reddit", permalink="https://r/1", text="on Reddit"))
    result = store.write_page(
        connector="reddit", platform="reddit", run_id=None, page=Page("k"), mentions_to_store=[on_reddit],
        now=clock(),
    )  # fmt: skip
    assert (result.new, result.updated, result.unchanged) == (1, 0, 0)
    stored = sorted((m.platform, m.platform_id, m.text) for m in store.iter_mentions())
    assert stored == [("hackernews", "1", "on Hacker News"), ("reddit", "1", "on Reddit")]
    assert count(store, links) == 2


def test_a_deletion_reported_by_one_platform_leaves_the_same_id_on_another_alone(
    store: Store, clock: Clock
) -> None:
    write(store, clock, matched(mention("1", text="on Hacker News")))
    on_reddit = matched(mention("1", platform="reddit", permalink="https://r/1", text="on Reddit"))
    store.write_page(
        connector="reddit", platform="reddit", run_id=None, page=Page("k"), mentions_to_store=[on_reddit],
        now=clock(),
    )  # fmt: skip
    clock.advance(hours=1)
    result = store.write_page(
        connector="reddit", platform="reddit", run_id=None, page=Page("k", deleted=["1"]), mentions_to_store=[],
        now=clock(),
    )  # fmt: skip
    assert result.deleted == 1
    assert [(m.platform, m.text) for m in store.iter_mentions()] == [("hackernews", "on Hacker News")]


def test_a_deleted_post_loses_its_text_and_raw_and_leaves_reports(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1", text="hello", raw='{"a":1}')))
    result = write(store, clock, page=Page("k", deleted=["1", "never-stored"]))
    assert result.deleted == 1
    assert list(store.iter_mentions()) == []
    (gone,) = store.iter_mentions(include_deleted=True)
    assert (gone.text, gone.raw, gone.deleted_at) == (None, None, clock.now)
    write(store, clock, matched(mention("1", text="hello again")))
    (still_gone,) = store.iter_mentions(include_deleted=True)
    assert still_gone.text is None and still_gone.deleted_at is not None


def test_a_restored_mention_is_live_again_with_its_text_and_new_links(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1", text="cited", raw='{"a":1}', url="https://example.com/a")))
    write(store, clock, page=Page("k", deleted=["1"]))
    clock.advance(hours=1)
    back = matched(mention("1", text="cited again", raw='{"a":2}', url="https://example.com/b"))
    result = write(store, clock, back, page=Page("k", restored=["1"]))
    assert (result.new, result.updated) == (0, 1)  # once, though it also changed
    (stored,) = store.iter_mentions()
    assert (stored.deleted_at, stored.text, stored.raw) == (None, "cited again", '{"a":2}')
    assert [link.canonical_url for link in stored.links] == ["https://example.com/b"]
    again = write(store, clock, back, page=Page("k", restored=["1"]))
    assert (again.updated, again.unchanged) == (0, 1)  # restoring a live mention changes nothing


def test_a_level_counter_keeps_the_latest_value_in_the_run(store: Store, clock: Clock) -> None:
    run_id = store.start_run("se", "poll", clock())
    for remaining in (250, 248):
        usage = Usage(requests=1, counters={"quota_remaining": remaining, "quota_max": 300, "retried_5xx": 1})
        write(store, clock, page=Page("k", usage=usage), run_id=run_id)
    counters = json.loads(store.run(run_id)["counters"])  # type: ignore[arg-type]
    assert counters == {"quota_remaining": 248, "quota_max": 300, "retried_5xx": 2}
    summed = Usage(counters={"quota_remaining": 9, "retried_5xx": 1}) + Usage(counters={"quota_remaining": 7})
    assert summed.counters == {"quota_remaining": 7, "retried_5xx": 1}


def test_cursor_usage_and_gaps_are_stored_with_the_page(store: Store, clock: Clock) -> None:
    run_id = store.start_run("hn", "poll", clock())
    gap = Gap(
        "story:example.com", clock() - timedelta(days=9), clock() - timedelta(days=7), "older than the window"
    )
    page = Page(
        "story:example.com",
        mentions=[mention("1"), mention("2")],
        cursor=Cursor(3, {"until": 5}),
        usage=Usage(requests=2, items_read=40, cost_usd=0.25, counters={"posts_read": 40}),
        gaps=[gap],
        skipped=1,
        problems=["item 'x': KeyError"],
    )
    write(store, clock, matched(mention("1")), page=page, run_id=run_id)
    write(store, clock, page=replace(page, gaps=(), usage=Usage(1, 1, 0.5, {"posts_read": 1})), run_id=run_id)
    assert store.cursors("hn") == {"story:example.com": Cursor(3, {"until": 5})}
    run = store.run(run_id)
    assert (run["pages"], run["fetched"], run["new"], run["requests"], run["items_read"]) == (2, 4, 1, 3, 41)
    assert run["cost_usd"] == pytest.approx(0.75)
    assert run["counters"] == '{"posts_read": 41}'
    assert run["skipped"] == 2 and run["error"] == "item 'x': KeyError"
    assert count(store, coverage_gaps) == 1
    assert store.spend_since("hn", clock() - timedelta(days=1)) == pytest.approx(0.75)


def test_a_failed_transaction_leaves_neither_mentions_nor_cursor(store: Store, clock: Clock) -> None:
    bad = replace(matched(mention("2")), links=(Link("https://example.com/x", "text", None, None, None),))
    page = Page("k", cursor=Cursor(1, {"offset": 99}))
    broken = [matched(mention("1")), bad]
    object.__setattr__(broken[1], "platform_id", None)  # violates NOT NULL inside the transaction
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises
        write(store, clock, *broken, page=page)
    assert count(store, mentions) == 0
    assert store.cursors("hn") == {}


def test_starting_a_run_closes_one_a_killed_process_left_running(store: Store, clock: Clock) -> None:
    first = store.start_run("hn", "poll", clock())
    second = store.start_run("hn", "poll", clock())
    assert store.run(first)["status"] == "aborted"
    assert store.run(second)["status"] == "running"
    assert count(store, connector_runs) == 2


def test_times_come_back_timezone_aware_utc(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1")))
    stored = next(store.iter_mentions())
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.first_seen_at is not None and stored.first_seen_at.tzinfo is not None


def test_iter_mentions_filters_by_creation_time_newest_first(store: Store, clock: Clock) -> None:
    base = clock()
    write(store, clock, *(matched(mention(str(i), created_at=base - timedelta(days=i))) for i in range(5)))
    ids = [m.platform_id for m in store.iter_mentions(base - timedelta(days=3), base - timedelta(days=1))]
    assert ids == ["2", "3"]


def test_the_fast_insert_path_writes_every_column_of_the_tables() -> None:
    from tracker.page_writer import LINK_COLUMNS as _LINK_COLUMNS
    from tracker.page_writer import NEW_MENTION_COLUMNS as _NEW_MENTION_COLUMNS
    from tracker.page_writer import SNAPSHOT_COLUMNS as _SNAPSHOT_COLUMNS

    assert set(_NEW_MENTION_COLUMNS) == {c.name for c in mentions.columns} - {"id"}
    assert set(_LINK_COLUMNS) == {c.name for c in links.columns} - {"id"}
    assert set(_SNAPSHOT_COLUMNS) == {c.name for c in metric_snapshots.columns} - {"id"}


def test_the_leader_lock_session_is_probed_by_the_server_and_cannot_hang(pg_url: str) -> None:
    import psycopg

    from tracker.locks import AdvisoryLock

    lock = AdvisoryLock(pg_url)
    assert lock.try_acquire()
    try:
        conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as other:  # what a standby sees: the lock is taken
            assert other.execute(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || '/tracker-writer'))"
            ).fetchone() == (False,)
        assert lock._conn is not None
        settings = [
            lock._conn.exec_driver_sql(f"SHOW {name}").scalar()
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "statement_timeout",
            )
        ]
        assert settings == ["5", "2", "3", "5s"]
    finally:
        lock.release()


def test_a_pass_holding_a_connection_checks_it_out_once_and_commits_every_page(
    store: Store, clock: Clock
) -> None:
    checkouts: list[object] = []
    event.listen(store.engine, "checkout", lambda *args: checkouts.append(args))
    with store.holding_connection():
        for number in range(3):
            write(store, clock, matched(mention(str(number))))
            assert count(store, mentions) == number + 1  # committed: another connection sees it
            clock.advance(minutes=1)
    writes = len(checkouts) - 3  # the three counts read through connections of their own
    assert writes == 1
    write(store, clock, matched(mention("4")))  # after the block, a page takes a pooled connection again
    assert count(store, mentions) == 4
