"""What the tracker could not see in a week: connector downtime, budget stops and coverage gaps.

Downtime runs from a connector's first failed run to its next successful one; a budget stop from the run
the budget stopped to the next successful one (often the next month); gaps are what connectors recorded
themselves (e.g. a cursor older than a platform's search window). A connector that did not run at all for
longer than it should (the daemon was stopped) is downtime too, "not running".

Downtime shorter than the connector's interval lost nothing (the next run reads what was missed) and is left
out; overlapping problems of one kind and source are merged into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from tracker.schema import connector_runs, coverage_gaps

_LIVE_KINDS = ("poll", "stream")


@dataclass(frozen=True)
class CoverageItem:
    connector: str
    kind: str  # downtime | budget | gap
    start: datetime
    end: datetime
    detail: str
    source: str = ""  # the connector's source key, for gaps

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def coverage(
    conn: Connection,
    start: datetime,
    end: datetime,
    idle_after: Mapping[str, timedelta] | None = None,
    intervals: Mapping[str, timedelta] | None = None,
) -> list[CoverageItem]:
    """Coverage problems overlapping ``[start, end)``, clipped to it, per connector in time order.

    ``idle_after`` maps each enabled connector to the longest quiet spell between its runs that is normal
    (a few intervals); a longer one is reported as "not running". ``intervals`` maps connectors to their
    polling interval: their downtime shorter than it is left out.
    """
    items: list[CoverageItem] = []
    rows = conn.execute(
        select(
            connector_runs.c.connector,
            connector_runs.c.status,
            connector_runs.c.started_at,
            connector_runs.c.error,
            connector_runs.c.finished_at,
        )
        .where(connector_runs.c.kind.in_(_LIVE_KINDS), connector_runs.c.started_at < end)
        .order_by(connector_runs.c.connector, connector_runs.c.started_at)
    ).all()
    by_connector: dict[str, list[tuple[str, datetime, str | None]]] = {}
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for connector, status, started, error, finished in rows:
        by_connector.setdefault(connector, []).append((status, started, error))
        spans.setdefault(connector, []).append((started, finished or started))
    for connector, runs in by_connector.items():
        items.extend(_outages(connector, runs, start, end))
    for connector, limit in (idle_after or {}).items():
        items.extend(_idle(connector, spans.get(connector, []), limit, start, end))
    gaps = conn.execute(
        select(coverage_gaps).where(coverage_gaps.c.gap_start < end, coverage_gaps.c.gap_end > start)
    ).mappings()
    for gap in gaps:
        items.append(
            CoverageItem(
                gap["connector"], "gap", max(gap["gap_start"], start), min(gap["gap_end"], end), gap["reason"],
                gap["source_key"],
            )
        )  # fmt: skip
    shortest = intervals or {}
    items = [
        item
        for item in items
        if not (
            item.kind == "downtime" and item.end - item.start < shortest.get(item.connector, timedelta(0))
        )
    ]
    return _merged(sorted(items, key=lambda item: (item.connector, item.kind, item.source, item.start)))


def _merged(items: list[CoverageItem]) -> list[CoverageItem]:
    """Overlapping (or touching) items of one connector, kind and source as one, in time order per connector."""
    merged: list[CoverageItem] = []
    for item in items:
        last = merged[-1] if merged else None
        if (
            last is not None
            and (last.connector, last.kind, last.source) == (item.connector, item.kind, item.source)
            and item.start <= last.end
        ):
            merged[-1] = replace(last, end=max(last.end, item.end))
            continue
        merged.append(item)
    return sorted(merged, key=lambda item: (item.connector, item.start))


def _outages(
    connector: str, runs: list[tuple[str, datetime, str | None]], start: datetime, end: datetime
) -> list[CoverageItem]:
    items = []
    open_kind: str | None = None
    open_since: datetime | None = None
    detail = ""
    for status, started, error in runs:
        if status in ("failed", "aborted", "budget"):
            kind = "budget" if status == "budget" else "downtime"
            if open_kind is None:
                open_kind, open_since, detail = kind, started, error or status
            continue
        if status == "ok" and open_kind is not None and open_since is not None:
            if started > start and open_since < end:
                items.append(
                    CoverageItem(connector, open_kind, max(open_since, start), min(started, end), detail)
                )
            open_kind = open_since = None
    if open_kind is not None and open_since is not None and open_since < end:
        items.append(CoverageItem(connector, open_kind, max(open_since, start), end, detail))
    return items


def _idle(
    connector: str, spans: list[tuple[datetime, datetime]], limit: timedelta, start: datetime, end: datetime
) -> list[CoverageItem]:
    """Quiet spells longer than ``limit`` between a connector's runs (and after its last one), within
    ``[start, end)``; before its first run ever it did not exist yet, so that is not counted."""
    items = []
    busy_until: datetime | None = None
    for run_start, run_end in [*spans, (end, end)]:
        if (
            busy_until is not None
            and run_start - busy_until > limit
            and run_start > start
            and busy_until < end
        ):
            quiet_from, quiet_to = max(busy_until, start), min(run_start, end)
            hours = (run_start - busy_until).total_seconds() / 3600
            detail = f"not running: no run for {hours:.0f} h (was the daemon stopped?)"
            items.append(CoverageItem(connector, "downtime", quiet_from, quiet_to, detail))
        busy_until = run_end if busy_until is None else max(busy_until, run_end)
    return items
