"""Alert events are decided in the transaction of the page (or run) that caused them: the outbox."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Clock
from tests.support.factories import matched, mention
from tracker import outbox, page_writer
from tracker.connector import Page
from tracker.record import Link, Metrics
from tracker.schema import alert_events
from tracker.settings import ALERT_EVENTS, AlertSettings
from tracker.store import Store


def rule(**fields: Any) -> AlertSettings:
    return AlertSettings(name=fields.pop("name", "team"), on=fields.pop("on", ALERT_EVENTS),
                         webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3cret", **fields)  # fmt: skip


OUTBOX = outbox.for_rules(["example.com"], [rule()], {"hn": timedelta(minutes=10)})


def write(store: Store, clock: Clock, *items: Any, page: Page | None = None, box: Any = OUTBOX) -> Any:
    return store.write_page(
        connector="hn", platform="hackernews", run_id=None, page=page or Page("k"),
        mentions_to_store=list(items), now=clock(), outbox=box,
    )  # fmt: skip


def events(store: Store) -> list[tuple[str, str | None, dict[str, Any]]]:
    with store.read() as conn:
        rows = conn.execute(select(alert_events).order_by(alert_events.c.id)).mappings().all()
    return [(row["event"], row["domain"], json.loads(row["payload"])) for row in rows]


def kinds(store: Store) -> list[str]:
    return [event for event, _, _ in events(store)]


def test_a_new_mention_of_a_page_never_linked_before_is_a_new_mention_and_a_first_link(
    store: Store, clock: Clock
) -> None:
    write(store, clock, matched(mention("1", url="https://example.com/a")))
    assert kinds(store) == ["new_mention", "first_link_to_page"]
    assert events(store)[1][2] == {"page": "https://example.com/a", "anchor_text": "a page"}
    write(store, clock, matched(mention("2", url="https://example.com/a")))
    assert kinds(store) == ["new_mention", "first_link_to_page", "new_mention"]


def test_seeing_a_post_again_decides_nothing_again(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1")))
    before = kinds(store)
    clock.advance(minutes=5)
    write(store, clock, matched(mention("1")))
    assert kinds(store) == before


def test_competitor_domains_never_alert(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1", url="https://rival.com/x"), domain="rival.com"))
    assert kinds(store) == []


def test_without_alert_rules_nothing_is_written(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1")), box=None)
    assert kinds(store) == []


def test_a_backfilled_old_post_is_stored_without_alerts(store: Store, clock: Clock) -> None:
    write(store, clock, matched(mention("1", created_at=clock() - timedelta(days=30))))
    assert kinds(store) == []


def test_a_community_is_new_when_nothing_from_it_linked_the_domain_in_12_weeks(
    store: Store, clock: Clock
) -> None:
    box = outbox.for_rules(["example.com"], [rule(on=("new_community",))])
    write(store, clock, matched(mention("1", community="r/python")), box=box)
    assert events(store) == [("new_community", "example.com", {"community": "r/python"})]
    write(
        store,
        clock,
        matched(mention("2", community="r/python", created_at=clock() - timedelta(hours=1))),
        box=box,
    )
    write(
        store,
        clock,
        matched(mention("3", community="r/rust")),
        matched(mention("4", community="r/rust")),
        box=box,
    )
    assert [payload["community"] for _, _, payload in events(store)] == ["r/python", "r/rust"]


def test_engagement_over_is_sent_once_when_the_threshold_is_passed(store: Store, clock: Clock) -> None:
    box = outbox.for_rules(["example.com"], [rule(on=("engagement_over",), engagement_over=10)])
    write(store, clock, matched(mention("1", metrics=Metrics(score=3))), box=box)
    assert kinds(store) == []
    write(store, clock, matched(mention("1", metrics=Metrics(score=12))), box=box)
    assert events(store) == [("engagement_over", "example.com", {"threshold": 10, "engagement": 12})]
    write(store, clock, matched(mention("1", metrics=Metrics(score=5))), box=box)
    write(store, clock, matched(mention("1", metrics=Metrics(score=40))), box=box)
    assert kinds(store) == ["engagement_over"]


def test_a_deleted_post_and_a_removed_link_are_deleted_events(store: Store, clock: Clock) -> None:
    box = outbox.for_rules(["example.com"], [rule(on=("deleted",))])
    two_links = (Link("https://example.com/a", "text", "A"), Link("https://example.com/b", "text", "B"))
    write(store, clock, matched(mention("1", links=two_links)), matched(mention("2")), box=box)
    clock.advance(hours=1)
    write(store, clock, matched(mention("1", links=two_links[:1])), box=box)  # an edit drops the link to /b
    assert events(store) == [
        ("deleted", "example.com", {"lost_link": True, "page": "https://example.com/b", "anchor_text": "B"})
    ]
    write(store, clock, page=Page("k", deleted=["2"]), box=box)
    assert events(store)[-1] == ("deleted", "example.com", {"lost_pages": ["https://example.com/page"]})


def test_events_roll_back_with_their_page(store: Store, clock: Clock) -> None:
    def die_before_the_commit() -> None:
        with store.engine.begin() as conn:
            page_writer.write_page(
                conn, store.dialect, connector="hn", platform="hackernews", run_id=None, page=Page("k"),
                mentions_to_store=[matched(mention("1"))], now=clock(), outbox=OUTBOX,
            )  # fmt: skip
            raise RuntimeError("the process dies before the commit")

    with pytest.raises(RuntimeError):
        die_before_the_commit()
    assert kinds(store) == []
    assert store.count_mentions() == 0


def test_a_connector_that_keeps_failing_goes_down_and_recovers(store: Store, clock: Clock) -> None:
    box = outbox.for_rules(["example.com"], [rule(on=("connector_down",))], {"hn": timedelta(minutes=10)})
    for status in ("ok", "failed", "failed", "failed"):
        clock.advance(minutes=10)
        store.finish_run(store.start_run("hn", "poll", clock()), status, clock(), "HTTP 500", outbox=box)
    assert kinds(store) == []  # 3 failures, but the last success is only 30 min old (down: no success in 1 h)
    clock.advance(minutes=30)
    store.finish_run(store.start_run("hn", "poll", clock()), "failed", clock(), "HTTP 500", outbox=box)
    clock.advance(minutes=30)
    store.finish_run(store.start_run("hn", "poll", clock()), "failed", clock(), "HTTP 500", outbox=box)
    assert kinds(store) == ["connector_down"]
    clock.advance(minutes=30)
    store.finish_run(store.start_run("hn", "refresh", clock()), "ok", clock(), outbox=box)
    assert kinds(store) == ["connector_down"]  # a refresh says nothing about polling
    store.finish_run(store.start_run("hn", "poll", clock()), "ok", clock(), outbox=box)
    assert kinds(store) == ["connector_down", "connector_recovered"]


def test_the_page_checker_records_a_broken_page_in_its_own_transaction(store: Store, clock: Clock) -> None:
    with store.engine.begin() as conn:
        assert outbox.record_page_broken(
            conn, store.dialect, OUTBOX, canonical_url="https://example.com/gone", domain="example.com",
            now=clock(), status=404,
        )  # fmt: skip
        assert not outbox.record_page_broken(
            conn, store.dialect, OUTBOX, canonical_url="https://rival.com/x", domain="rival.com", now=clock()
        )
    assert events(store) == [
        ("page_broken", "example.com",
         {"page": "https://example.com/gone", "status": 404, "problem": None, "final_url": None}),
    ]  # fmt: skip


def test_an_edit_that_links_a_page_never_linked_before_is_a_first_link(store: Store, clock: Clock) -> None:
    box = outbox.for_rules(["example.com"], [rule(on=("first_link_to_page",))])
    first = (Link("https://example.com/a", "text", "A"),)
    write(store, clock, matched(mention("1", links=first)), box=box)
    assert events(store) == [
        ("first_link_to_page", "example.com", {"page": "https://example.com/a", "anchor_text": "A"})
    ]
    clock.advance(hours=1)
    gained = (*first, Link("https://example.com/c", "text", "C"))  # a wiki article gains a citation
    write(store, clock, matched(mention("1", links=gained)), box=box)
    write(store, clock, matched(mention("1", links=gained)), box=box)  # seen again: nothing new
    assert events(store)[1:] == [
        ("first_link_to_page", "example.com", {"page": "https://example.com/c", "anchor_text": "C"})
    ]
