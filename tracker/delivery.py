"""Delivering alert events (CONTRACT §6): the sender drains the outbox (:mod:`tracker.outbox`).

Routing turns each new event into one ``alert_deliveries`` row per matching rule and channel, in one
transaction with marking the event routed, so an event reaches each channel's queue exactly once. Each
channel is then drained on its own: a signed JSON webhook (``X-Tracker-Delivery`` is the row's id, the same on
every retry; 2xx accepts) or an Apprise URL. A failed attempt is retried with exponential backoff; after 24 h
the delivery is marked failed (``tracker status`` shows it). A channel that keeps failing waits for its next
attempt without holding up the others or polling. A rule with ``digest`` sends each channel at most one
message per period, listing the events since the last one. A delivery is marked sent right after the channel
accepted it; a webhook receiver that saw the same ``X-Tracker-Delivery`` before (a crash between its answer
and that commit) can drop the copy.

Secrets (webhook URLs and secrets, Apprise URLs) never go into logs, the status or errors: a channel is named
``webhook <scheme://host>`` or ``notify[N] <scheme>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, and_, func, select, update

from tracker.connector import ConnectorContext
from tracker.errors import DeadlineExceededError, ResponseLimitError
from tracker.outbox import WAKE
from tracker.record import Link, format_utc
from tracker.schema import alert_deliveries, alert_events, links, mentions
from tracker.settings import AlertSettings, Config, url_secret_parts
from tracker.store import Store, mention_from_row
from tracker.transport import client_options

log = logging.getLogger("tracker.alerts")

BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
WEBHOOK_TIMEOUT = 10.0  # total deadline of one webhook request
APPRISE_TIMEOUT = 30.0  # total deadline of one Apprise notification (its own sockets: 5 s connect, 10 s read)
MAX_ANSWER = 64 * 1024  # the largest webhook answer read
ROUTE_BATCH = 200
SEND_BATCH = 100
IDLE_WAIT = 1.0  # the sender looks for work this often even without a wake-up (events of other processes)
USER_AGENT = "mention-tracker alerts"

TITLES = {
    "new_mention": "New mention",
    "first_link_to_page": "First link to a page",
    "new_community": "New community",
    "engagement_over": "Engagement passed",
    "deleted": "Lost mention",
    "page_broken": "Broken page",
    "connector_down": "Connector down",
    "connector_recovered": "Connector recovered",
}


@dataclass(frozen=True)
class Answer:
    """What a channel answered: accepted or not, and a line for people (never a secret)."""

    ok: bool
    detail: str


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, ... at most an hour."""
    wait: timedelta = BACKOFF_FIRST * 2 ** max(0, attempts - 1)
    return min(BACKOFF_CAP, wait)


def sign(secret: str, body: bytes) -> str:
    """``X-Tracker-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def channel_label(rule: AlertSettings, channel: str) -> str:
    """A channel's name for people: its kind and scheme (and the webhook's host), nothing secret."""
    if channel == "webhook":
        parts = urlsplit(rule.webhook_url.get_secret_value())
        return f"webhook {parts.scheme}://{parts.hostname or ''}"
    index = int(channel[len("notify[") : -1])
    scheme = rule.notify[index].get_secret_value().partition("://")[0].lower()
    return f"{channel} {scheme}"


def redact(text: str, rule: AlertSettings) -> str:
    """``text`` without the rule's URLs, their parts (tokens, passwords, paths) or its webhook secret."""
    secrets = [rule.webhook_secret.get_secret_value()]
    for url in (rule.webhook_url.get_secret_value(), *(u.get_secret_value() for u in rule.notify)):
        secrets += url_secret_parts(url)
    return _scrub(text, secrets)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# Messages


def render(body: Mapping[str, Any]) -> tuple[str, str]:
    """A title and plain text for people: platform, community, author and reach, the anchor text and the
    linked page, the permalink, the value (a digest lists each event)."""
    if "events" in body:
        events = list(body["events"])
        return (
            f"{len(events)} alert event(s) for rule {body['rule']}",
            "\n\n".join(f"{title}\n{text}" for title, text in map(render, events)),
        )
    return _title(body), "\n".join(_lines(body))


def _title(body: Mapping[str, Any]) -> str:
    event = body["event"]
    title = TITLES.get(event, event)
    if body.get("domain"):
        title += f": {body['domain']}"
    if body.get("connector"):
        title += f": {body['connector']}"
    return str(title)


def _lines(body: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    details = body.get("details") or {}
    mention = body.get("mention")
    page = body.get("page") or {}
    if mention:
        where = [mention["platform"]]
        if mention.get("community"):
            where.append(mention["community"])
        author = mention.get("author_handle") or mention.get("author_name")
        if author:
            where.append(f"by {author}")
        if mention.get("reach") is not None:
            where.append(f"reach {mention['reach']:,}")
        lines.append(" · ".join(where))
        if mention.get("title"):
            lines.append(str(mention["title"]))
    if page.get("url"):
        anchor = page.get("anchor_text")
        lines.append(f"“{anchor}” → {page['url']}" if anchor else f"→ {page['url']}")
    if page.get("status") or page.get("problem"):
        lines.append(f"answered HTTP {page['status']}" if page.get("status") else str(page["problem"]))
    if mention:
        lines.append(str(mention["permalink"]))
        figures = []
        if mention.get("engagement") is not None:
            figures.append(f"engagement {mention['engagement']:,}")
        figures.append(
            f"value {mention['value']}/100" if mention.get("value") is not None else "value not rated"
        )
        lines.append(", ".join(figures))
    if "threshold" in details:
        lines.append(f"passed {details['threshold']:,} engagement")
    if details.get("error"):
        lines.append(f"last error: {details['error']}")
    return lines


def sample_body(config: Config, rule: AlertSettings, now: datetime) -> dict[str, Any]:
    """The event `tracker alerts test` sends: a made-up new mention of the rule's first domain."""
    domain = (rule.domains or config.own_domains or ("example.com",))[0]
    page = f"https://{domain}/"
    mention = {
        "platform": "hackernews", "platform_id": "sample", "kind": "post",
        "permalink": "https://news.ycombinator.com/item?id=1", "created_at": format_utc(now),
        "author_handle": "sample_author", "author_followers": None, "community": None,
        "title": "A sample mention from `tracker alerts test`", "text": None,
        "links": [{"url": page, "canonical_url": page, "domain": domain, "anchor_text": domain, "source": "url_field"}],
        "engagement": 42, "reach": None, "value": 50, "deleted_at": None, "raw": None,
    }  # fmt: skip
    return {
        "id": "test-" + uuid.uuid4().hex, "event": "new_mention", "rule": rule.name, "at": format_utc(now),
        "domain": domain, "mention": mention, "page": {"url": page, "anchor_text": domain}, "connector": None,
        "details": {"test": True},
    }  # fmt: skip


# Channels


class Channels:
    """Sends to the channels of the configured rules: one guarded HTTP client for the webhooks (total deadline
    and size cap on every request, no redirects followed), Apprise for the rest."""

    def __init__(self, config: Config) -> None:
        context = ConnectorContext(
            data_dir=config.data_dir, max_response_size=MAX_ANSWER, user_agent=USER_AGENT
        )
        self._client = httpx.Client(**client_options(context, WEBHOOK_TIMEOUT, follow_redirects=False))
        self._secrets = config.secrets()  # Apprise's log is shared by its threads: scrub every rule's secrets

    def close(self) -> None:
        self._client.close()

    def send(self, rule: AlertSettings, channel: str, delivery_id: str, body: Mapping[str, Any]) -> Answer:
        try:
            if channel == "webhook":
                return self.webhook(rule, delivery_id, body)
            index = int(channel[len("notify[") : -1])
            title, text = render(body)
            answer = send_apprise(rule.notify[index].get_secret_value(), title, text)
            return Answer(answer.ok, _scrub(answer.detail, self._secrets))
        except Exception as exc:  # a channel's fault must never stop the sender
            return Answer(False, redact(f"{type(exc).__name__}: {exc}", rule))

    def webhook(self, rule: AlertSettings, delivery_id: str, body: Mapping[str, Any]) -> Answer:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Tracker-Event": str(body.get("event", "digest")),
            "X-Tracker-Delivery": delivery_id,
            "X-Tracker-Signature": sign(rule.webhook_secret.get_secret_value(), raw),
        }
        try:
            response = self._client.post(rule.webhook_url.get_secret_value(), content=raw, headers=headers)
        except httpx.TimeoutException:
            return Answer(False, f"no answer within {WEBHOOK_TIMEOUT:g}s")
        except DeadlineExceededError:
            return Answer(False, f"no answer within {WEBHOOK_TIMEOUT:g}s")
        except ResponseLimitError:
            return Answer(False, f"the answer was larger than {MAX_ANSWER // 1024} KB")
        except httpx.TransportError as exc:
            return Answer(False, redact(f"cannot connect: {type(exc).__name__}: {exc}", rule))
        if 200 <= response.status_code < 300:
            return Answer(True, f"accepted (HTTP {response.status_code})")
        return Answer(False, f"HTTP {response.status_code}")


def _with_timeouts(url: str) -> str:
    """An Apprise URL with socket timeouts (connect 5 s, read 10 s) unless it sets its own."""
    query = url.partition("?")[2]
    extra = [f"{key}={value}" for key, value in (("cto", "5"), ("rto", "10")) if f"{key}=" not in query]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


def send_apprise(url: str, title: str, text: str, timeout: float = APPRISE_TIMEOUT) -> Answer:
    """One notification through Apprise, given up after ``timeout`` seconds; the answer says why it failed
    (Apprise's last warning, without the URL's secrets)."""
    import apprise

    asset = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)
    box = apprise.Apprise(asset=asset)
    scheme = url.partition("://")[0]
    if not box.add(_with_timeouts(url)):
        return Answer(
            False, f"Apprise does not understand this {scheme}:// URL; check it against the Apprise wiki"
        )
    outcome: dict[str, Any] = {}

    def notify() -> None:
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            outcome["ok"] = box.notify(title=title, body=text)
            outcome["log"] = captured.getvalue()

    worker = threading.Thread(target=notify, name="apprise", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return Answer(False, f"no answer within {timeout:g}s")
    if outcome.get("ok"):
        return Answer(True, "accepted")
    lines = [line.strip() for line in str(outcome.get("log", "")).splitlines() if line.strip()]
    reason = lines[-1] if lines else "Apprise reported a failure"
    return Answer(False, _scrub(reason, url_secret_parts(url))[:300])


# Routing and delivery


def _matches(
    rule: AlertSettings, own: frozenset[str], event: Any, value: int | None, has_mention: bool
) -> bool:
    kind = "connector_down" if event["event"] == "connector_recovered" else event["event"]
    if kind not in rule.on:
        return False
    domain = event["domain"]
    if domain is not None and (domain not in own or (rule.domains and domain not in rule.domains)):
        return False  # a competitor (or a domain no longer configured) never alerts
    if rule.platforms and event["platform"] is not None and event["platform"] not in rule.platforms:
        return False
    payload = json.loads(event["payload"])
    if kind == "engagement_over" and payload.get("threshold") != rule.engagement_over:
        return False
    # min_value is about mentions: a mention not rated yet (value null) passes only a rule without a minimum
    return not (has_mention and rule.min_value > 0 and (value is None or value < rule.min_value))


def _load_mentions(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Mention records (without ``raw``, to keep alerts small) by row id."""
    if not ids:
        return {}
    by_mention: dict[int, list[Link]] = {}
    for link in conn.execute(
        select(links).where(links.c.mention_id.in_(ids)).order_by(links.c.mention_id, links.c.position)
    ).mappings():
        by_mention.setdefault(link["mention_id"], []).append(
            Link(url=link["url"], source=link["source"], anchor_text=link["anchor_text"],
                 canonical_url=link["canonical_url"], domain=link["domain"])
        )  # fmt: skip
    found = {}
    for row in conn.execute(select(mentions).where(mentions.c.id.in_(ids))).mappings():
        record = mention_from_row(row, tuple(by_mention.get(row["id"], ()))).to_dict()
        record["raw"] = None
        found[row["id"]] = record
    return found


def _event_body(event: Any, rule: str, delivery_id: str, mention: dict[str, Any] | None) -> dict[str, Any]:
    payload = json.loads(event["payload"])
    page: dict[str, Any] | None = None
    if payload.get("page"):
        page = {"url": payload["page"], "anchor_text": payload.get("anchor_text")}
        for key in ("status", "problem", "final_url", "lost_link"):
            if key in payload:
                page[key] = payload[key]
    elif mention is not None:
        first = next((link for link in mention["links"] if link["domain"] == event["domain"]), None)
        if first is not None:
            page = {"url": first["canonical_url"], "anchor_text": first["anchor_text"]}
    details = {
        k: v for k, v in payload.items() if k not in ("page", "anchor_text", "status", "problem", "final_url")
    }
    at = event["created_at"]
    return {
        "id": delivery_id, "event": event["event"], "rule": rule, "at": format_utc(at), "domain": event["domain"],
        "mention": mention, "page": page, "connector": event["connector"], "details": details,
    }  # fmt: skip


def route(store: Store, config: Config, now: datetime) -> int:
    """Give the events not routed yet a delivery per matching rule and channel; returns how many events."""
    own = frozenset(config.own_domains)
    routed = 0
    while True:
        with store.engine.begin() as conn:
            events = conn.execute(
                select(alert_events).where(alert_events.c.routed_at.is_(None)).order_by(alert_events.c.id).limit(ROUTE_BATCH)
            ).mappings().all()  # fmt: skip
            if not events:
                return routed
            records = _load_mentions(
                conn, sorted({e["mention_id"] for e in events if e["mention_id"] is not None})
            )
            rows = []
            for event in events:
                record = records.get(event["mention_id"]) if event["mention_id"] is not None else None
                value = record["value"] if record else None
                for rule in config.alerts:
                    if not _matches(rule, own, event, value, event["mention_id"] is not None):
                        continue
                    for channel in rule.channels:
                        delivery_id = str(uuid.uuid4())
                        rows.append({
                            "event_id": event["id"], "rule": rule.name, "channel": channel, "delivery_id": delivery_id,
                            "status": "pending", "body": json.dumps(_event_body(event, rule.name, delivery_id, record), ensure_ascii=False),
                            "attempts": 0, "created_at": now, "next_attempt_at": now,
                        })  # fmt: skip
            if rows:
                conn.execute(alert_deliveries.insert(), rows)
            conn.execute(
                update(alert_events)
                .where(alert_events.c.id.in_([e["id"] for e in events]))
                .values(routed_at=now)
            )
            routed += len(events)


class Sender:
    """Drains the outbox: routes new events, then delivers each channel's due deliveries."""

    def __init__(self, config: Config, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rules = {rule.name: rule for rule in config.alerts}
        self.channels = Channels(config)
        self._waiting_until: dict[tuple[str, str], datetime] = {}  # a failing channel's next attempt
        self.stop = threading.Event()  # set by run's caller: a drain sends nothing more once it is

    def close(self) -> None:
        self.channels.close()

    def pass_once(self) -> int:
        """Route, then deliver what is due on every channel, one after another; returns deliveries sent."""
        route(self.store, self.config, self.clock())
        return sum(self.drain(rule, channel) for rule, channel in self.due_channels())

    def due_channels(self) -> list[tuple[str, str]]:
        now = self.clock()
        with self.store.read() as conn:
            query = (
                select(alert_deliveries.c.rule, alert_deliveries.c.channel)
                .where(alert_deliveries.c.status == "pending", alert_deliveries.c.next_attempt_at <= now)
                .group_by(alert_deliveries.c.rule, alert_deliveries.c.channel)
            )
            found = [(row.rule, row.channel) for row in conn.execute(query)]
        return [
            key for key in found
            if key[0] in self.rules and key[1] in self.rules[key[0]].channels
            and self._waiting_until.get(key, now) <= now
        ]  # fmt: skip

    def drain(self, rule_name: str, channel: str) -> int:
        """Deliver one channel's due deliveries (a digest rule: one message); returns how many were sent."""
        rule = self.rules[rule_name]
        if self.stop.is_set():
            return 0
        if rule.digest:
            return self._drain_digest(rule, channel)
        sent = 0
        now = self.clock()
        with self.store.read() as conn:
            rows = conn.execute(
                select(alert_deliveries.c.id, alert_deliveries.c.delivery_id, alert_deliveries.c.body,
                       alert_deliveries.c.attempts, alert_deliveries.c.created_at)
                .where(alert_deliveries.c.rule == rule.name, alert_deliveries.c.channel == channel,
                       alert_deliveries.c.status == "pending", alert_deliveries.c.next_attempt_at <= now)
                .order_by(alert_deliveries.c.id).limit(SEND_BATCH)
            ).all()  # fmt: skip
        for row in rows:
            if self.stop.is_set():
                break  # stopping (or no longer the leader): the rest stay pending for whoever sends next
            answer = self.channels.send(rule, channel, row.delivery_id, json.loads(row.body))
            self._record(rule, channel, [row.id], row.attempts, row.created_at, answer)
            if not answer.ok:
                break  # the rest wait for this channel's next attempt
            sent += 1
        return sent

    def _drain_digest(self, rule: AlertSettings, channel: str) -> int:
        now = self.clock()
        d = alert_deliveries.c
        mine = and_(d.rule == rule.name, d.channel == channel, d.status == "pending")
        with self.store.engine.begin() as conn:
            batch = conn.execute(
                select(d.batch_id).where(mine, d.batch_id.is_not(None), d.next_attempt_at <= now).limit(1)
            ).scalar()
            if batch is None:
                last = conn.execute(
                    select(func.max(d.sent_at)).where(
                        d.rule == rule.name, d.channel == channel, d.status == "sent"
                    )
                ).scalar()
                if last is not None and last + rule.digest > now:
                    self._waiting_until[(rule.name, channel)] = last + rule.digest
                    return 0
                batch = str(uuid.uuid4())
                conn.execute(
                    update(alert_deliveries).where(mine, d.batch_id.is_(None)).values(batch_id=batch)
                )
            rows = conn.execute(
                select(d.id, d.body, d.attempts, d.created_at).where(mine, d.batch_id == batch).order_by(d.id)
            ).all()
        if not rows:
            return 0
        body = {"rule": rule.name, "at": format_utc(now), "events": [json.loads(row.body) for row in rows]}
        answer = self.channels.send(rule, channel, batch, body)
        self._record(
            rule, channel, [row.id for row in rows], rows[0].attempts, min(r.created_at for r in rows), answer
        )
        return len(rows) if answer.ok else 0

    def _record(
        self,
        rule: AlertSettings,
        channel: str,
        ids: list[int],
        attempts: int,
        created: datetime,
        answer: Answer,
    ) -> None:
        now = self.clock()
        values: dict[str, Any] = {"attempts": attempts + 1, "last_attempt_at": now}
        key = (rule.name, channel)
        if answer.ok:
            values.update(status="sent", sent_at=now)
            self._waiting_until.pop(key, None)
        else:
            values["last_error"] = answer.detail
            if now - created >= GIVE_UP_AFTER:
                values["status"] = "failed"
                log.error(
                    "alert %s via %s failed for 24 h, given up: %s",
                    rule.name,
                    channel_label(rule, channel),
                    answer.detail,
                )
            else:
                values["next_attempt_at"] = now + backoff(attempts + 1)
                self._waiting_until[key] = values["next_attempt_at"]
                log.warning("alert %s via %s: %s; next try at %s", rule.name, channel_label(rule, channel),
                            answer.detail, format_utc(values["next_attempt_at"]))  # fmt: skip
        with self.store.engine.begin() as conn:
            conn.execute(update(alert_deliveries).where(alert_deliveries.c.id.in_(ids)).values(values))

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop``: woken by new events, else every second; each channel in a worker of its own,
        so a slow one never holds up the rest."""
        self.stop = stop
        busy: dict[tuple[str, str], Future[int]] = {}
        workers = max(1, sum(len(r.channels) for r in self.rules.values()))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alerts")
        try:
            while not stop.is_set():
                WAKE.clear()
                try:
                    route(self.store, self.config, self.clock())
                    for key in self.due_channels():
                        if key not in busy or busy[key].done():
                            busy[key] = pool.submit(self._drain_logged, *key)
                except Exception as exc:  # the database may be away for a moment: try again shortly
                    log.error("alert delivery: %s: %s", type(exc).__name__, exc)
                WAKE.wait(IDLE_WAIT)
                stop.wait(0.02)  # lets a burst of pages commit before the next round
        finally:
            # A send in flight is not waited for: unrecorded, it is sent again (same delivery id) next time.
            pool.shutdown(wait=False, cancel_futures=True)

    def _drain_logged(self, rule: str, channel: str) -> int:
        try:
            return self.drain(rule, channel)
        except Exception as exc:
            log.error("alert delivery of %s: %s: %s", rule, type(exc).__name__, exc)
            return 0


KEEP_DELIVERED = timedelta(days=30)


def prune(store: Store, before: datetime) -> int:
    """Forget deliveries sent or failed before ``before`` and routed events with no delivery left (the
    daemon's daily retention); returns how many events went."""
    d, e = alert_deliveries.c, alert_events.c
    with store.engine.begin() as conn:
        conn.execute(
            alert_deliveries.delete().where(
                d.status.in_(["sent", "failed"]), func.coalesce(d.sent_at, d.last_attempt_at) < before
            )
        )
        remaining = select(d.event_id).where(d.event_id == e.id).exists()
        result = conn.execute(alert_events.delete().where(e.routed_at < before, ~remaining))
        return int(result.rowcount or 0)


def rule_status(config: Config, store: Store) -> list[dict[str, Any]]:
    """Per rule and channel: deliveries pending, sent and failed, and the last failure (``tracker status``)."""
    d = alert_deliveries.c
    counts: dict[tuple[str, str], dict[str, int]] = {}
    failures: dict[tuple[str, str], tuple[datetime, str]] = {}
    with store.read() as conn:
        for row in conn.execute(
            select(d.rule, d.channel, d.status, func.count()).group_by(d.rule, d.channel, d.status)
        ):
            counts.setdefault((row[0], row[1]), {})[row[2]] = int(row[3])
        query = (
            select(d.rule, d.channel, func.max(d.last_attempt_at))
            .where(d.last_error.is_not(None))
            .group_by(d.rule, d.channel)
        )
        for rule_name, channel, at in conn.execute(query).all():
            error = conn.execute(
                select(d.last_error)
                .where(d.rule == rule_name, d.channel == channel, d.last_attempt_at == at)
                .limit(1)
            ).scalar()
            failures[(rule_name, channel)] = (at, error or "")
        unrouted = int(
            conn.execute(
                select(func.count()).select_from(alert_events).where(alert_events.c.routed_at.is_(None))
            ).scalar()
            or 0
        )
    result = []
    for rule in config.alerts:
        channels = []
        for channel in rule.channels:
            figures = counts.get((rule.name, channel), {})
            failure = failures.get((rule.name, channel))
            channels.append({
                "channel": channel_label(rule, channel),
                "pending": figures.get("pending", 0), "sent": figures.get("sent", 0), "failed": figures.get("failed", 0),
                "last_failure": redact(failure[1], rule) if failure else None,
                "last_failure_at": format_utc(failure[0]) if failure else None,
            })  # fmt: skip
        result.append(
            {"rule": rule.name, "on": list(rule.on), "events_not_routed": unrouted, "channels": channels}
        )
    return result
