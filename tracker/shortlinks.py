"""Resolving links on public shorteners by their redirect headers (CONTRACT §2, ``resolve_shorteners``).

Only the shortener hosts of :data:`tracker.redirects.SHORTENER_HOSTS` are ever contacted (through
:class:`tracker.outbound.Outbound`, so never a private address): a chain of short links is followed up to
:data:`MAX_HOPS` redirects, a redirect wrapper in it is unwrapped without a request, and the first URL that is
neither is the target, which is never fetched. Each request asks ``HEAD`` first and falls back to a ``GET``
whose body is never read. Every request is taken from a per-minute :class:`RequestBudget`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.outbound import Outbound, OutboundError, RefusedError, Response
from tracker.redirects import is_shortener
from tracker.urls import canonical_url, unwrap, url_host

MAX_HOPS = 5
FAILURE_MEMORY = timedelta(days=1)  # a short link that could not be resolved is tried again after this
REQUESTS_PER_MINUTE = 60


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a short link leads to: ``target`` (as the last redirect wrote it), or None and the ``error``."""

    url: str
    target: str | None
    error: str | None
    requests: int
    resolved_at: datetime

    @property
    def retry_at(self) -> datetime | None:
        """When a failed lookup may be tried again; None for a resolved link (it is kept)."""
        return None if self.target is not None else self.resolved_at + FAILURE_MEMORY


class RequestBudget:
    """At most ``per_minute`` requests in any 60 seconds; thread-safe."""

    def __init__(
        self, per_minute: int = REQUESTS_PER_MINUTE, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        while self._taken and self._taken[0] <= now - 60.0:
            self._taken.popleft()

    def take(self) -> bool:
        """Count one request; False (and nothing counted) when the last minute's budget is spent."""
        with self._lock:
            now = self._monotonic()
            self._forget_old(now)
            if len(self._taken) >= self.per_minute:
                return False
            self._taken.append(now)
            return True

    def used(self) -> int:
        """Requests counted in the last 60 seconds."""
        with self._lock:
            self._forget_old(self._monotonic())
            return len(self._taken)


class ShortLinkResolver:
    """Follows a short link's redirects to its target (see the module documentation)."""

    def __init__(self, outbound: Outbound, budget: RequestBudget, clock: Callable[[], datetime]) -> None:
        self.outbound = outbound
        self.budget = budget
        self.clock = clock

    def resolve(self, url: str) -> Resolution | None:
        """The target of short link ``url``, or a failed Resolution saying why; None when the budget ran out
        first (nothing is known yet: try again later)."""
        requests = hops = 0
        seen = {canonical_url(url)}
        current = url
        while True:
            host = url_host(current)
            if host is None or not is_shortener(host):
                return Resolution(url, current, None, requests, self.clock())
            if hops >= MAX_HOPS:
                return self._failed(url, f"more than {MAX_HOPS} redirects", requests)
            hops += 1
            answer: Response | None = None
            for method in ("HEAD", "GET"):
                if not self.budget.take():
                    return None
                requests += 1
                try:
                    answer = self.outbound.request(method, current)
                except RefusedError as exc:
                    return self._failed(url, str(exc), requests)
                except OutboundError as exc:
                    return self._failed(url, str(exc), requests)
                if answer.location is not None or answer.status in (404, 410):
                    break  # a GET cannot do better than a HEAD that was answered clearly
            assert answer is not None
            location = answer.location
            if location is None:
                return self._failed(url, f"{current} answered HTTP {answer.status}, not a redirect", requests)
            current = unwrap(location)
            try:
                key = canonical_url(current)
            except ValueError:
                return Resolution(url, current, None, requests, self.clock())  # not an http(s) target
            if key in seen:
                return self._failed(url, f"redirect loop at {current}", requests)
            seen.add(key)

    def _failed(self, url: str, reason: str, requests: int) -> Resolution:
        return Resolution(url, None, reason, requests, self.clock())
