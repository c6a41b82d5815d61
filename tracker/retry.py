"""The one retry policy of every client: exponential backoff with jitter, the server's requested wait
honoured (Retry-After, rate-limit reset headers) up to a cap, every wait through ``context.sleep``, and each
retried fault counted in the connector's usage (``retried_429``, ``retried_5xx``, ...) for `tracker status`.

A client only classifies its faults: it raises :class:`TransientError` (what went wrong, the counter, how
long the server asked to wait) for what a retry may fix, and anything else for what it cannot.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tracker.connector import ConnectorContext
from tracker.errors import ConnectorError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient fault before the pass fails.

    ``max_wait`` is the longest single wait accepted: a server asking for more fails the pass instead of
    stalling the connector (the next scheduled pass tries again).
    """

    attempts: int = 5
    base: float = 1.0
    cap: float = 60.0
    max_wait: float = 900.0

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based): exponential, capped, with up to 25% jitter."""
        delay = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return float(delay + random.uniform(0, delay * 0.25))


class TransientError(ConnectorError):
    """A fault a retry may fix. ``counter`` is the usage counter of a retry (``retried_429``, ...);
    ``wait`` is how long the server asked to wait (None: back off)."""

    def __init__(self, reason: str, counter: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.counter = counter
        self.wait = wait


class Retrier:
    """Runs a call again on :class:`TransientError`, within ``policy``, waiting through the context."""

    def __init__(
        self,
        context: ConnectorContext,
        policy: RetryPolicy | None = None,
        *,
        log: logging.Logger,
        max_wait_name: str = "the longest wait allowed",
    ) -> None:
        self.context = context
        self.policy = policy or RetryPolicy()
        self.log = log
        self.max_wait_name = max_wait_name  # the setting behind policy.max_wait, for the message

    def call(self, what: str, attempt: Callable[[], T]) -> T:
        """``attempt()``'s result; ConnectorError naming ``what`` once the attempts are spent or the server
        asks for a wait beyond ``max_wait``. Errors other than TransientError pass through."""
        policy = self.policy
        fault: TransientError | None = None
        for number in range(1, policy.attempts + 1):
            try:
                return attempt()
            except TransientError as exc:
                fault = exc
            if fault.wait is not None and fault.wait > policy.max_wait:
                raise ConnectorError(
                    f"{what}: {fault.reason}; the server asks to retry in {fault.wait:.0f}s, later than "
                    f"{self.max_wait_name} ({policy.max_wait:.0f}s); the next pass resumes from the cursor"
                ) from None
            if number == policy.attempts:
                break
            delay = fault.wait if fault.wait is not None else policy.delay(number)
            self.context.usage.count(fault.counter)
            self.log.warning(
                "%s: %s; retry %d/%d in %.1fs", what, fault.reason, number, policy.attempts - 1, delay
            )
            self.context.sleep(delay)
        reason = fault.reason if fault is not None else "no attempt made"
        raise ConnectorError(f"{what}: {reason}; gave up after {policy.attempts} attempts")


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


def until(reset_epoch: float, now: datetime) -> float:
    """Seconds from ``now`` until a rate-limit window that resets at ``reset_epoch``, plus a second of slack
    (reset times are whole seconds)."""
    return max(0.0, reset_epoch - now.timestamp()) + 1.0


def number(value: str | None) -> float | None:
    """A numeric header value, or None when absent or not a number."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
