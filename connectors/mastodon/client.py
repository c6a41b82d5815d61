"""One Mastodon instance's API through :class:`~tracker.http.HttpClient`, within its rate limit.

Mastodon allows 300 requests per 5 minutes and says where a client stands in ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (an ISO 8601 time). The client waits for the reset before a request when the counter is
spent, and waits out a 429 the same way (or by ``Retry-After``), always through ``context.sleep``; a wait
longer than ``max_wait`` fails the pass instead. The access token, when there is one, is sent to its own
instance only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tracker.connector import ConnectorContext, Usage
from tracker.errors import ConnectorError
from tracker.http import HttpClient
from tracker.record import RecordError, parse_iso
from tracker.retry import parse_retry_after

MAX_LIMIT_WAITS = 3


class RateLimitedError(ConnectorError):
    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class NeedsTokenError(ConnectorError):
    """The instance serves this endpoint to logged-in apps only."""


class MastodonClient:
    """GETs JSON from one instance, as its access token when one is configured."""

    def __init__(
        self,
        base_url: str,
        token: str,
        context: ConnectorContext,
        *,
        timeout: float,
        max_wait: float,
    ) -> None:
        self.base_url = base_url
        self.has_token = bool(token)
        self.context = context
        self.max_wait = max_wait
        self._remaining: int | None = None
        self._reset: float | None = None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = HttpClient(base_url, context, timeout=timeout, headers=headers, on_response=self._observe)

    def close(self) -> None:
        self.http.close()

    def take_usage(self, items_read: int = 0) -> Usage:
        return self.context.usage.take(items_read)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        for _ in range(MAX_LIMIT_WAITS):
            if self._remaining == 0 and self._reset is not None:
                self._sleep(self._reset - self.context.clock().timestamp(), "the rate limit is spent")
            try:
                return self.http.get_json(path, params)
            except RateLimitedError as exc:
                self._sleep(exc.wait, str(exc))
        raise ConnectorError(
            f"{self.base_url}{path} kept answering with a rate limit; the next pass will try again"
        )

    def _sleep(self, seconds: float, why: str) -> None:
        self._remaining = self._reset = None
        if seconds <= 0:
            return
        if seconds > self.max_wait:
            raise ConnectorError(
                f"{self.base_url}: {why} for another {seconds:.0f}s, longer than max_rate_limit_wait "
                f"({self.max_wait:.0f}s); the next pass will go on from here"
            )
        self.context.usage.count("waited_rate_limit")
        self.context.sleep(seconds)

    def _observe(self, response: httpx.Response) -> None:
        headers = response.headers
        self._remaining = _int(headers.get("x-ratelimit-remaining"))
        self._reset = _time(headers.get("x-ratelimit-reset"))
        status = response.status_code
        if status == 429:
            wait = parse_retry_after(headers.get("retry-after"))
            if wait is None and self._reset is not None:
                wait = self._reset - self.context.clock().timestamp()
            if wait is not None:
                raise RateLimitedError("rate limited (HTTP 429)", max(wait, 1.0))
        if status in (401, 403, 422) and not self.has_token:
            raise NeedsTokenError(
                f"{self.base_url} serves {response.request.url.path} to logged-in apps only (HTTP {status}); "
                "give the connector an access_token for it, or turn that source off"
            )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_iso(value).timestamp()
    except RecordError:
        return None
