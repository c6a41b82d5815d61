"""One request budget for all of a Reddit connector's sources.

Reddit allows an OAuth client 100 queries a minute and says in ``x-ratelimit-remaining`` /
``x-ratelimit-reset`` how much of its window is left; the public feeds tolerate far fewer. The budget spaces
requests so that no minute holds more than ``per_minute`` of them, waits out a used-up window, and does all
its waiting through ``context.sleep``, so a shutdown interrupts it (prawcore's own limiter would
``time.sleep`` instead).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime

from tracker.connector import ConnectorContext
from tracker.errors import ConnectorError

log = logging.getLogger("tracker.connectors.reddit")

WINDOW = 60.0
RATE_HEADERS = ("x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")


class RequestBudget:
    """At most ``per_minute`` requests in any minute, and none while Reddit says the window is used up."""

    def __init__(self, per_minute: int, context: ConnectorContext, *, max_wait: float) -> None:
        self.per_minute = per_minute
        self.context = context
        self.max_wait = max_wait
        self._sent: deque[float] = deque(maxlen=per_minute)
        self._blocked_until: float | None = None

    def acquire(self) -> None:
        """Wait until one more request fits the budget; ConnectorError when that is beyond ``max_wait``."""
        now = self._now()
        wait = 0.0
        if self._blocked_until is not None:
            wait = self._blocked_until - now
        if len(self._sent) >= self.per_minute:
            wait = max(wait, self._sent[0] + WINDOW - now)
        if wait > self.max_wait:
            until = datetime.fromtimestamp(now + wait, UTC).strftime("%H:%M:%SZ")
            raise ConnectorError(
                f"Reddit's rate limit is used up until {until}, later than max_rate_limit_wait "
                f"({self.max_wait:.0f}s); the next pass resumes from the cursor"
            )
        if wait > 0:
            self.context.usage.count("rate_limit_waits")
            log.info("Reddit request budget used up; waiting %.0fs", wait)
            self.context.sleep(wait)
        self._blocked_until = None
        self._sent.append(now + max(wait, 0.0))

    def note(self, headers: Mapping[str, str]) -> None:
        """Read Reddit's ``x-ratelimit-*`` headers: a used-up window blocks requests until it resets."""
        remaining, reset = (
            _number(headers.get("x-ratelimit-remaining")),
            _number(headers.get("x-ratelimit-reset")),
        )
        if remaining is not None and reset is not None and remaining < 1:
            self.block_for(reset + 1.0)

    def block_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (e.g. what a 429's ``Retry-After`` asks)."""
        until = self._now() + max(0.0, seconds)
        self._blocked_until = max(until, self._blocked_until or until)

    def _now(self) -> float:
        return self.context.clock().timestamp()


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
