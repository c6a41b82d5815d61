"""The sender drains the outbox: a signed webhook and Apprise channels, retries with backoff for 24 h, each
channel on its own, digests, and the rules' filters; secrets never show."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import Clock, make_config
from tests.support.factories import matched, mention
from tests.support.webhook_receiver import WebhookReceiver
from tracker import delivery, outbox
from tracker.connector import Page
from tracker.logs import RedactingFilter
from tracker.record import Link, Metrics
from tracker.schema import alert_deliveries, mentions
from tracker.settings import Config
from tracker.store import Store

SECRET = "whsec-0123456789abcdef"
TOKEN = "tok3n-abcdefghijkl"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        yield server
        server.release()


def alert_config(tmp_path: Path, receiver: WebhookReceiver, rule: str = "", notify: bool = False) -> Config:
    apprise = (
        f'notify = ["json://{receiver.url.removeprefix("http://")}/apprise?token={TOKEN}"]' if notify else ""
    )
    return make_config(
        tmp_path,
        f"""
        [[domains]]
        name = "example.com"
        [[domains]]
        name = "example.org"
        [[domains]]
        name = "rival.com"
        role = "competitor"

        [[alerts]]
        name = "team"
        on = ["new_mention", "first_link_to_page", "engagement_over", "deleted", "connector_down"]
        webhook_url = "{receiver.url}/hook/{TOKEN}"
        webhook_secret = "${{HOOK_SECRET}}"
        {apprise}
        {rule}
        """,
        env={"HOOK_SECRET": SECRET},
    )


def fix_path(receiver: WebhookReceiver) -> None:
    """The webhook URL carries a token in its path, as hosted webhooks do: serve it at /hook too."""
    receiver.route("POST", f"/hook/{TOKEN}", receiver.routes[("POST", "/hook")])


def store_mentions(config: Config, store: Store, clock: Clock, *items: Any, page: Page | None = None) -> None:
    box = outbox.for_rules(config.own_domains, config.alerts)
    store.write_page(
        connector="hn", platform="hackernews", run_id=None, page=page or Page("k"),
        mentions_to_store=list(items), now=clock(), outbox=box,
    )  # fmt: skip


def deliver(config: Config, store: Store, clock: Clock) -> int:
    sender = delivery.Sender(config, store, clock)
    try:
        return sender.pass_once()
    finally:
        sender.close()


def deliveries(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(alert_deliveries).order_by(alert_deliveries.c.id)).mappings().all()
    return [dict(row) for row in rows]


def test_a_webhook_is_signed_json_with_the_mention_and_its_page(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    fix_path(receiver)
    config = alert_config(tmp_path, receiver)
    store_mentions(config, store, clock, matched(mention("1", url="https://example.com/a?utm_source=x",
                                                         community="r/python", author_handle="alice")))  # fmt: skip
    sender = delivery.Sender(config, store, clock)
    assert sender.pass_once() == 2
    assert receiver.bad_signatures == []
    requests = receiver.requests_to(f"/hook/{TOKEN}")
    assert [r.headers["x-tracker-event"] for r in requests] == ["new_mention", "first_link_to_page"]
    assert requests[0].headers["content-type"] == "application/json"
    body = requests[1].json()
    assert set(body) >= {"id", "event", "rule", "at", "domain", "mention", "page", "connector"}
    assert body["id"] == requests[1].headers["x-tracker-delivery"]
    assert (body["rule"], body["domain"], body["connector"]) == ("team", "example.com", None)
    assert body["page"] == {"url": "https://example.com/a", "anchor_text": "a page"}
    assert body["mention"]["permalink"] == "https://news.ycombinator.com/item?id=1"
    assert body["mention"]["community"] == "r/python"
    assert [d["status"] for d in deliveries(store)] == ["sent", "sent"]
    assert sender.pass_once() == 0  # never twice once accepted
    sender.close()


def test_a_failing_webhook_is_retried_with_the_same_delivery_id_then_given_up_after_24_hours(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    fix_path(receiver)
    config = alert_config(tmp_path, receiver)
    store_mentions(
        config, store, clock, matched(mention("1")), matched(mention("2", url="https://example.com/page"))
    )
    sender = delivery.Sender(config, store, clock)
    receiver.mode = "fail"
    assert sender.pass_once() == 0
    first = deliveries(store)
    assert [(d["status"], d["attempts"], d["last_error"]) for d in first] == [
        ("pending", 1, "HTTP 500"),
        ("pending", 0, None),
        ("pending", 0, None),
    ]  # the rest wait for the channel's next attempt
    assert first[0]["next_attempt_at"] == clock() + delivery.BACKOFF_FIRST
    assert sender.pass_once() == 0 and len(receiver.requests_to(f"/hook/{TOKEN}")) == 1  # not due yet
    clock.advance(seconds=30)
    sender.pass_once()
    assert deliveries(store)[0]["attempts"] == 2
    assert deliveries(store)[0]["next_attempt_at"] == clock() + timedelta(minutes=1)
    receiver.mode = "accept"
    clock.advance(minutes=1)
    assert sender.pass_once() == 3
    ids = [r.headers["x-tracker-delivery"] for r in receiver.requests_to(f"/hook/{TOKEN}")]
    assert ids[0] == ids[1] == ids[2]  # the same event, three attempts
    assert receiver.accepted[ids[0]] == 1

    store_mentions(config, store, clock, matched(mention("3")))
    receiver.mode = "fail"
    for _ in range(40):
        sender.pass_once()
        clock.advance(hours=1)
    assert [d["status"] for d in deliveries(store)][-1] == "failed"
    status = delivery.rule_status(config, store)
    assert status[0]["channels"][0]["failed"] == 1
    assert status[0]["channels"][0]["last_failure"] == "HTTP 500"
    sender.close()


def test_a_hanging_webhook_never_holds_up_another_channel(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    fix_path(receiver)
    config = alert_config(tmp_path, receiver, notify=True)
    receiver.mode = "hang"
    store_mentions(config, store, clock, matched(mention("1")))
    sender = delivery.Sender(config, store, clock)
    stop = threading.Event()
    worker = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    worker.start()
    try:
        # both events via Apprise, while the webhook has not answered the first
        assert receiver.wait_for(lambda: len(receiver.apprise) == 2 and receiver.hung == 1)
        assert receiver.accepted == {}
        assert receiver.apprise[0]["title"] == "New mention: example.com"
        assert "https://news.ycombinator.com/item?id=1" in receiver.apprise[0]["message"]
        assert "“a page” → https://example.com/page" in receiver.apprise[0]["message"]
    finally:
        receiver.release()
        stop.set()
        worker.join(30)
        sender.close()


def test_a_webhook_that_does_not_answer_in_time_is_a_failed_attempt(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    fix_path(receiver)
    monkeypatch.setattr(delivery, "WEBHOOK_TIMEOUT", 0.5)
    config = alert_config(tmp_path, receiver)
    receiver.mode = "hang"
    store_mentions(config, store, clock, matched(mention("1")))
    sender = delivery.Sender(config, store, clock)
    sender.pass_once()
    sender.close()
    receiver.release()
    assert deliveries(store)[0]["last_error"] == "no answer within 0.5s"


def test_a_digest_sends_one_message_per_period(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    fix_path(receiver)
    config = alert_config(tmp_path, receiver, 'digest = "1h"')
    store_mentions(config, store, clock, matched(mention("1", url="https://example.com/a")))
    sender = delivery.Sender(config, store, clock)
    assert sender.pass_once() == 2  # the first message goes at once
    for number in range(2, 5):
        clock.advance(minutes=10)
        store_mentions(config, store, clock, matched(mention(str(number))))
        assert sender.pass_once() == 0
    clock.advance(minutes=30)
    assert sender.pass_once() == 4  # three new mentions and the first link to /page
    requests = receiver.requests_to(f"/hook/{TOKEN}")
    assert len(requests) == 2
    digest = requests[1].json()
    assert (digest["rule"], requests[1].headers["x-tracker-event"]) == ("team", "digest")
    assert [e["event"] for e in digest["events"]] == [
        "new_mention",
        "first_link_to_page",
        "new_mention",
        "new_mention",
    ]
    assert len(receiver.accepted) == 2
    sender.close()


def test_rules_filter_by_domain_platform_and_value_and_competitors_never_alert(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    fix_path(receiver)
    config = make_config(tmp_path, f"""
        [[domains]]
        name = "example.com"
        [[domains]]
        name = "example.org"
        [[alerts]]
        name = "valuable"
        on = ["new_mention"]
        domains = ["example.com"]
        platforms = ["hackernews"]
        min_value = 60
        webhook_url = "{receiver.url}/hook"
        webhook_secret = "{SECRET}"
        [[alerts]]
        name = "all"
        on = ["new_mention"]
        webhook_url = "{receiver.url}/hook"
        webhook_secret = "{SECRET}"
        """)  # fmt: skip
    store_mentions(config, store, clock, matched(mention("rated")), matched(mention("unrated")),
                   matched(mention("low")), matched(mention("org", url="https://example.org/"), domain="example.org"))  # fmt: skip
    store_mentions(config, store, clock, matched(mention("bsky", platform="bluesky")))
    # the value score is set by its own step; here directly (null: not rated yet)
    with store.engine.begin() as conn:
        conn.execute(update(mentions).where(mentions.c.platform_id.in_(["rated", "bsky"])).values(value=80))
        conn.execute(update(mentions).where(mentions.c.platform_id == "low").values(value=59))
    competitor = outbox.Outbox(
        frozenset({"rival.com"}), frozenset({"new_mention"})
    )  # a rule of an older config
    store.write_page(connector="hn", platform="hackernews", run_id=None, page=Page("k"), now=clock(),
                     mentions_to_store=[matched(mention("rival", url="https://rival.com/"), domain="rival.com")],
                     outbox=competitor)  # fmt: skip
    deliver(config, store, clock)
    got = sorted((b["rule"], b["mention"]["platform_id"]) for b in receiver.bodies.values())
    assert got == [("all", "bsky"), ("all", "low"), ("all", "org"), ("all", "rated"), ("all", "unrated"),
                   ("valuable", "rated")]  # fmt: skip


def test_engagement_and_deletion_events_carry_their_context(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    fix_path(receiver)
    config = alert_config(tmp_path, receiver, "engagement_over = 50")
    store_mentions(config, store, clock, matched(mention("1", metrics=Metrics(score=10))))
    store_mentions(config, store, clock, matched(mention("1", metrics=Metrics(score=70))))
    store_mentions(config, store, clock, page=Page("k", deleted=["1"]))
    deliver(config, store, clock)
    bodies = sorted(receiver.bodies.values(), key=lambda b: b["at"] + b["event"])
    by_event = {b["event"]: b for b in bodies}
    assert by_event["engagement_over"]["details"] == {"threshold": 50, "engagement": 70}
    assert by_event["deleted"]["details"] == {"lost_pages": ["https://example.com/page"]}
    title, text = delivery.render(by_event["engagement_over"])
    assert title == "Engagement passed: example.com"
    assert "passed 50 engagement" in text


def test_secrets_never_appear_in_logs_status_or_errors(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, f"""
        [[domains]]
        name = "example.com"
        [[alerts]]
        name = "team"
        on = ["new_mention"]
        webhook_url = "{receiver.url}/missing/{TOKEN}"
        webhook_secret = "{SECRET}"
        notify = ["json://{receiver.url.removeprefix("http://")}/nowhere/{TOKEN}", "json://127.0.0.1:9/{TOKEN}"]
        """)  # fmt: skip
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RedactingFilter(config.secrets()))  # as `tracker` sets up its log handler
    store_mentions(
        config, store, clock, matched(mention("1", links=(Link("https://example.com/x", "text"),)))
    )
    deliver(config, store, clock)
    status = json.dumps(delivery.rule_status(config, store))
    stored = json.dumps([d["last_error"] for d in deliveries(store)])
    assert [c["failed"] + c["pending"] for c in delivery.rule_status(config, store)[0]["channels"]] == [
        1,
        1,
        1,
    ]
    for text in (caplog.text, status, stored):
        assert TOKEN not in text and SECRET not in text
    assert "webhook http://127.0.0.1" in status and "notify[1] json" in status
    assert set(config.secrets()) >= {SECRET, f"{receiver.url}/missing/{TOKEN}"}


class Mailbox:
    """aiosmtpd's handler: keeps each message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def test_apprise_email_reaches_a_local_smtp_server_with_the_context_of_the_mention(
    tmp_path: Path, store: Store, clock: Clock
) -> None:
    import email
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        config = make_config(tmp_path, f"""
            [[domains]]
            name = "example.com"
            [[alerts]]
            name = "mail"
            on = ["new_mention"]
            notify = ["mailto://127.0.0.1:{port}?from=tracker@example.com&to=team@example.com&mode=insecure"]
            """)  # fmt: skip
        store_mentions(config, store, clock, matched(mention(
            "1", community="r/python", author_handle="alice", author_followers=1200,
            links=(Link("https://example.com/guide", "text", "the guide"),))))  # fmt: skip
        assert deliver(config, store, clock) == 1
    finally:
        smtp.stop()
    (envelope,) = mailbox.messages
    assert envelope.rcpt_tos == ["team@example.com"]
    message = email.message_from_bytes(envelope.content)
    assert message["Subject"] == "New mention: example.com"
    text = (
        next(p for p in message.walk() if p.get_content_type() == "text/plain")
        .get_payload(decode=True)
        .decode()
    )
    assert "hackernews · r/python · by alice · reach 1,200" in text
    assert "“the guide” → https://example.com/guide" in text
    assert "https://news.ycombinator.com/item?id=1" in text
    assert re.search(r"value \d{1,3}/100", text)  # rated at ingest


def test_the_token_like_parts_of_alert_urls_are_secrets_and_plain_words_are_not() -> None:
    from tracker.settings import url_secret_parts

    slack = "https://hooks.slack.com/services/T000AAA/B000BBB/XXXXXXXXXXXXXXXXXXXXXXXX"
    assert url_secret_parts(slack) == [slack, "T000AAA", "B000BBB", "XXXXXXXXXXXXXXXXXXXXXXXX"]
    assert url_secret_parts("mailtos://me:pw-1234@smtp.example.com?to=team@example.com")[1:] == ["pw-1234"]
    assert url_secret_parts("https://example.com/tracker/hook")[1:] == []  # "tracker" stays readable in logs


def test_delivered_alerts_are_forgotten_after_30_days(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    from tracker.schema import alert_events

    fix_path(receiver)
    config = alert_config(tmp_path, receiver)
    store_mentions(config, store, clock, matched(mention("1")))
    receiver.mode = "fail"
    deliver(config, store, clock)  # the first link waits behind the failed new mention
    assert delivery.prune(store, clock() + timedelta(days=1)) == 0  # pending: kept
    receiver.mode = "accept"
    clock.advance(minutes=5)
    assert deliver(config, store, clock) == 2
    assert delivery.prune(store, clock()) == 0  # younger than the cut-off
    assert delivery.prune(store, clock() + delivery.KEEP_DELIVERED) == 2
    with store.read() as conn:
        assert conn.execute(select(alert_events)).all() == []
    assert deliveries(store) == []


def test_a_stopping_sender_sends_nothing_more_and_leaves_the_rest_pending(
    tmp_path: Path, store: Store, clock: Clock, receiver: WebhookReceiver
) -> None:
    fix_path(receiver)
    config = alert_config(tmp_path, receiver)
    store_mentions(config, store, clock, matched(mention("1")), matched(mention("2")))
    sender = delivery.Sender(config, store, clock)
    try:
        sender.stop.set()  # the daemon is stopping, or this process is no longer the leader
        assert sender.pass_once() == 0
    finally:
        sender.close()
    assert receiver.accepted == {}
    assert {row["status"] for row in deliveries(store)} == {"pending"}
    assert deliver(config, store, clock) == len(deliveries(store))  # the next sender delivers them all
