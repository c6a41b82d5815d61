"""What `tracker status` reports: per connector health, last runs, cursors, usage and spend."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from tracker import registry
from tracker.connector import LEVEL_COUNTERS, ConnectorContext
from tracker.health import hung_after, overdue_after
from tracker.heartbeat import DaemonStatus
from tracker.page_checks import progress
from tracker.periods import IsoWeek, month_start
from tracker.record import format_utc, parse_iso
from tracker.schema import connector_runs, cursors, mentions
from tracker.settings import Config
from tracker.shortlinks import REQUESTS_PER_MINUTE
from tracker.store import Store, StoreConnectorState

HEALTH_ORDER = {"disabled": -1, "pending": 0, "healthy": 0, "degraded": 1, "down": 2}
_DOWN_AFTER_FAILURES = 3
HEALTH_KINDS = ("poll", "stream")  # refreshes and backfills say nothing about whether polling works
STREAM_SILENCE = timedelta(minutes=5)
STREAM_CONNECT_GRACE = timedelta(minutes=1)  # a stream that has read nothing for this long is not connected


@dataclass
class ConnectorStatus:
    name: str
    type: str
    enabled: bool
    mode: str
    health: str
    last_run_at: datetime | None = None
    last_run_status: str | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    next_run_at: datetime | None = None
    cursor_updated_at: datetime | None = None
    requests_this_month: int = 0
    items_read_this_month: int = 0
    spend_this_month_usd: float = 0.0
    counters_this_month: dict[str, int] = field(default_factory=dict)
    budget_usd: float | None = None
    mentions_this_week: int = 0
    note: str | None = None
    last_outcome: str | None = None  # the last run's status, ignoring runs cut short by a shutdown
    streaming_since: datetime | None = None  # a stream connector's run that is still going
    partial_coverage: str | None = None  # why the platform's API cannot show everything
    stream_events: int = 0  # what that run has read: none means it never connected
    running_since: datetime | None = None  # a polled connector's run that is still going
    hung_after: timedelta | None = None  # how long a run may go on before it counts as hung

    def to_json(self, now: datetime) -> dict[str, Any]:
        data = asdict(self)
        for key, value in list(data.items()):
            if isinstance(value, datetime):
                data[key] = format_utc(value)
        data["cursor_age_seconds"] = (
            int((now - self.cursor_updated_at).total_seconds()) if self.cursor_updated_at else None
        )
        data["spend_this_month_usd"] = round(self.spend_this_month_usd, 4)
        data["hung_after"] = int(self.hung_after.total_seconds()) if self.hung_after else None
        return data


def collect(config: Config, store: Store, now: datetime) -> list[ConnectorStatus]:
    """The status of every configured connector."""
    statuses = []
    month = month_start(now)
    week = IsoWeek.containing(now, config.tracker.timezone).bounds(config.tracker.timezone)[0]
    next_runs = store.state("next_run:")
    with store.read() as conn:
        for name, settings in config.connectors.items():
            connector_class = registry.load(settings.type)
            context = ConnectorContext(data_dir=config.data_dir, state=StoreConnectorState(store, name))
            connector = connector_class(name, settings, context)
            status = ConnectorStatus(
                name=name,
                type=settings.type,
                enabled=settings.enabled,
                mode=connector.mode(),
                health="disabled" if not settings.enabled else "pending",
                budget_usd=connector.monthly_budget_usd(),
                partial_coverage=connector.partial_coverage or None,
            )
            runs = (
                conn.execute(
                    select(connector_runs)
                    .where(
                        connector_runs.c.connector == name,
                        connector_runs.c.status != "running",
                        connector_runs.c.kind.in_(HEALTH_KINDS),
                    )
                    .order_by(connector_runs.c.started_at.desc(), connector_runs.c.id.desc())
                    .limit(50)
                )
                .mappings()
                .all()
            )
            if runs:
                _describe_runs(status, runs)
                if settings.enabled and not connector.streaming:
                    status.next_run_at = runs[0]["started_at"] + settings.interval
            published = next_runs.get(f"next_run:{name}")
            if settings.enabled and published is not None:
                status.next_run_at = parse_iso(published[0])
            usage = conn.execute(
                select(
                    func.coalesce(func.sum(connector_runs.c.requests), 0),
                    func.coalesce(func.sum(connector_runs.c.items_read), 0),
                    func.coalesce(func.sum(connector_runs.c.cost_usd), 0.0),
                ).where(connector_runs.c.connector == name, connector_runs.c.started_at >= month)
            ).one()
            status.requests_this_month, status.items_read_this_month = int(usage[0]), int(usage[1])
            status.spend_this_month_usd = float(usage[2])
            for (counters,) in conn.execute(
                select(connector_runs.c.counters)
                .where(connector_runs.c.connector == name, connector_runs.c.started_at >= month)
                .order_by(connector_runs.c.started_at, connector_runs.c.id)  # a level's latest value wins
            ):
                for key, value in json.loads(counters or "{}").items():
                    earlier = 0 if key in LEVEL_COUNTERS else status.counters_this_month.get(key, 0)
                    status.counters_this_month[key] = earlier + int(value)
            status.cursor_updated_at = conn.execute(
                select(func.max(cursors.c.updated_at)).where(cursors.c.connector == name)
            ).scalar()
            if status.cursor_updated_at is not None and status.cursor_updated_at.tzinfo is None:
                status.cursor_updated_at = status.cursor_updated_at.replace(tzinfo=UTC)
            status.mentions_this_week = int(
                conn.execute(
                    select(func.count())
                    .select_from(mentions)
                    .where(
                        and_(
                            mentions.c.found_by == name,
                            mentions.c.created_at >= week,
                            mentions.c.deleted_at.is_(None),
                        )
                    )
                ).scalar()
                or 0
            )
            running = conn.execute(
                select(connector_runs.c.started_at, connector_runs.c.items_read)
                .where(
                    connector_runs.c.connector == name,
                    connector_runs.c.status == "running",
                    connector_runs.c.kind == ("stream" if connector.streaming else "poll"),
                )
                .order_by(connector_runs.c.started_at.desc())
                .limit(1)
            ).first()
            if running is not None and connector.streaming:
                status.streaming_since, status.stream_events = running.started_at, int(running.items_read)
            elif running is not None:
                status.running_since = running.started_at
            status.hung_after = hung_after(settings.interval, connector.run_budget())
            if settings.enabled:
                status.health, status.note = _health(status, settings.interval, now)
            statuses.append(status)
    return statuses


def _describe_runs(status: ConnectorStatus, runs: Sequence[Mapping[Any, Any]]) -> None:
    """Fill in the last run, last success, last error and failures in a row (newest runs first)."""
    last = runs[0]
    status.last_run_at = last["finished_at"] or last["started_at"]
    status.last_run_status = last["status"]
    for run in runs:
        if run["status"] in ("failed", "aborted"):
            status.consecutive_failures += 1
        elif run["status"] != "interrupted":  # a shutdown says nothing about health
            break
    status.last_outcome = next((r["status"] for r in runs if r["status"] != "interrupted"), None)
    success = next((r for r in runs if r["status"] == "ok"), None)
    if success is not None:
        status.last_success_at = success["finished_at"] or success["started_at"]
    failure = next((r for r in runs if r["error"]), None)
    if failure is not None:
        status.last_error = failure["error"]
        status.last_error_at = failure["finished_at"] or failure["started_at"]


def _health(status: ConnectorStatus, interval: timedelta, now: datetime) -> tuple[str, str | None]:
    if status.streaming_since is not None and status.stream_events == 0:
        waiting = now - status.streaming_since
        if waiting <= STREAM_CONNECT_GRACE:
            return "pending", "connecting"
        return "degraded", f"not connected: nothing read in {_age(waiting)} since it started" + (
            f" (last error: {status.last_error})" if status.last_error else ""
        )
    if status.streaming_since is not None:  # a stream saves its cursor every few seconds while it reads
        silent = now - status.cursor_updated_at if status.cursor_updated_at else now - status.streaming_since
        if silent <= STREAM_SILENCE:
            return "healthy", "streaming"
        minutes = int(silent.total_seconds() // 60)
        return (
            "down" if silent > timedelta(hours=1) else "degraded"
        ), f"stream silent: no cursor saved for {minutes} min"
    if status.running_since is not None and status.hung_after is not None:
        running = now - status.running_since
        if running > status.hung_after:
            return (
                "degraded",
                f"running for {_age(running)} (hung? a run should end within {_age(status.hung_after)})",
            )
    if status.last_outcome is None:
        return "pending", "has not run yet"
    if status.last_outcome == "budget":
        return "degraded", "stopped by its monthly budget"
    if status.consecutive_failures == 0:
        return _overdue(status, interval, now) or ("healthy", None)
    stale = status.last_success_at is None or now - status.last_success_at > overdue_after(interval)
    if status.consecutive_failures >= _DOWN_AFTER_FAILURES and stale:
        return "down", f"{status.consecutive_failures} failed runs in a row"
    return "degraded", f"{status.consecutive_failures} failed run(s) in a row"


def _overdue(status: ConnectorStatus, interval: timedelta, now: datetime) -> tuple[str, str] | None:
    """Degraded, then down, when nothing has run the connector for well past its interval (no daemon)."""
    if status.last_run_at is None:
        return None
    late = now - status.last_run_at
    if late <= overdue_after(interval):
        return None
    note = f"no run for {_age(late)}; is `tracker run` running?"
    return ("down" if late > max(timedelta(days=1), 10 * interval) else "degraded"), note


def _age(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def overall(statuses: list[ConnectorStatus], daemon: DaemonStatus | None = None) -> str:
    """healthy, degraded or down: down when the daemon that ran here is gone, or when every enabled connector
    that has run is down; degraded when one is, or when only standbys are left."""
    if daemon is not None and daemon.ever_ran and not daemon.running:
        return "down"
    if daemon is not None and daemon.running and daemon.leader is None:
        return "degraded"
    active = [s for s in statuses if s.enabled and s.health != "pending"]
    if active and all(s.health == "down" for s in active):
        return "down"
    if any(s.health in ("degraded", "down") for s in active):
        return "degraded"
    return "healthy"


def short_links(config: Config, store: Store, now: datetime) -> dict[str, int] | None:
    """The short-link resolver's figures, None when ``resolve_shorteners`` is off: its request budget per
    minute and what the last lookups used of it, the posts waiting, and this month's lookups."""
    if not config.tracker.resolve_shorteners:
        return None
    published = store.state("short_links").get("short_links")
    budget = json.loads(published[0]) if published else {}
    recent = published is not None and now - published[1] <= timedelta(minutes=1)
    counts = store.short_link_counts(month_start(now))
    return {
        "requests_per_minute": int(budget.get("per_minute", REQUESTS_PER_MINUTE)),
        "used_last_minute": int(budget.get("used_last_minute", 0)) if recent else 0,
        "waiting": counts["waiting"],
        "resolved_this_month": counts["resolved"],
        "failed_this_month": counts["failed"],
        "requests_this_month": counts["requests"],
    }


def page_checks(config: Config, store: Store, now: datetime) -> dict[str, Any] | None:
    """How far the checks of linked own pages are, None when they are off: pages linked, checked within
    ``[pages] interval``, due, broken, without an answer at their last check, and the latest check."""
    if not (config.pages.check and config.own_domains):
        return None
    with store.read() as conn:
        done = progress(conn, config.own_domains, now, config.pages.interval)
    return {
        "linked": done.linked,
        "checked": done.checked,
        "due": done.due,
        "broken": done.broken,
        "no_answer": done.failed,
        "last_checked_at": format_utc(done.last_checked_at) or None,
    }
