"""How long a connector may go quiet before it counts as not working: one rule for `tracker status` and the
report's coverage section."""

from __future__ import annotations

from datetime import timedelta

STREAM_IDLE = timedelta(minutes=15)
"""A stream's run lasts as long as the daemon and a restart takes seconds: longer without one is downtime."""


def overdue_after(interval: timedelta) -> timedelta:
    """How long a polled connector may go without a (successful) run before it counts as not working."""
    return max(3 * interval, timedelta(hours=1))


def idle_after(interval: timedelta, *, streaming: bool) -> timedelta:
    """How long a connector may go without any run before the report lists it as not running."""
    return STREAM_IDLE if streaming else overdue_after(interval)


def hung_after(interval: timedelta, budget: timedelta) -> timedelta:
    """How long one run may go on before it counts as hung: the connector's own budget for a run or twice
    its interval, whichever is longer."""
    return max(budget, 2 * interval)
