"""Retry timing shared by every connector: exponential backoff with jitter, and Retry-After parsing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient fault before the pass fails.

    ``max_wait`` is the longest single wait accepted (a Retry-After beyond it fails the pass instead of
    stalling the connector; the next scheduled pass tries again).
    """

    attempts: int = 5
    base: float = 1.0
    cap: float = 60.0
    max_wait: float = 900.0

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based): exponential, capped, with up to 25% jitter."""
        delay = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return float(delay + random.uniform(0, delay * 0.25))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
