"""The GitHub REST API through :class:`~tracker.http.HttpClient`, within GitHub's rate limits.

GitHub counts requests per resource (``search``: 30 a minute; ``core``: 5,000 an hour) and says where each
stands in ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` on every response. The client waits for the reset
before a request whose resource is spent, and waits out a 403/429 rate-limit answer (``retry-after``, the
reset time, or a minute for a secondary limit that names neither), always through ``context.sleep``. A wait
longer than ``max_wait`` fails the pass instead (the next pass goes on from the cursor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tracker.connector import ConnectorContext, Usage
from tracker.errors import ConnectorError
from tracker.http import HttpClient
from tracker.retry import parse_retry_after

API_VERSION = "2022-11-28"
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: without retry-after or a spent counter, wait at least a minute
MAX_LIMIT_WAITS = 3  # rate-limit answers in a row for one request before the pass gives up


class RateLimitedError(ConnectorError):
    """GitHub answered with a rate limit; ``wait`` is how long it asks for, in seconds."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class NotFoundError(ConnectorError):
    """404 or 410: the issue, pull request or comment is gone (or no longer visible)."""


class GitHubClient:
    """GETs JSON from the GitHub API as the configured token, counting and waiting out its rate limits."""

    def __init__(
        self, base_url: str, token: str, context: ConnectorContext, *, timeout: float, max_wait: float
    ) -> None:
        self.context = context
        self.max_wait = max_wait
        self.limits: dict[str, tuple[int, float]] = {}  # resource -> (remaining, reset as a Unix time)
        self.http = HttpClient(
            base_url,
            context,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
            },
            on_response=self._observe,
        )

    def close(self) -> None:
        self.http.close()

    def take_usage(self, items_read: int = 0) -> Usage:
        """Requests since the last call, with the rate-limit waits counted as ``waited_rate_limit``."""
        return self.context.usage.take(items_read)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` (relative to the API base URL); raises NotFoundError for 404/410."""
        resource = _resource(path)
        for _ in range(MAX_LIMIT_WAITS):
            self._wait_for(resource)
            try:
                return self.http.get_json(path, params)
            except RateLimitedError as exc:
                self._sleep(exc.wait, str(exc))
                self.limits.pop(resource, None)  # waited for its reset
        raise ConnectorError(f"GitHub kept answering {path} with a rate limit; the next pass will try again")

    def _wait_for(self, resource: str) -> None:
        remaining, reset = self.limits.get(resource, (1, 0.0))
        if remaining > 0:
            return
        wait = reset - self.context.clock().timestamp() + 1  # the counter resets at the start of that second
        if wait > 0:
            self._sleep(wait, f"GitHub's {resource} rate limit is spent")
        self.limits.pop(resource, None)

    def _sleep(self, seconds: float, why: str) -> None:
        if seconds > self.max_wait:
            raise ConnectorError(
                f"{why}: the reset is {seconds:.0f}s away, longer than max_rate_limit_wait "
                f"({self.max_wait:.0f}s); the next pass will go on from here"
            )
        self.context.usage.count("waited_rate_limit")
        self.context.sleep(seconds)

    def _observe(self, response: httpx.Response) -> None:
        """Read the rate-limit counters of every answer; turn rate limits and 404s into our exceptions."""
        headers = response.headers
        resource = headers.get("x-ratelimit-resource") or _resource(response.request.url.path)
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset = _int(headers.get("x-ratelimit-reset"))
        if remaining is not None and reset is not None:
            self.limits[resource] = (remaining, float(reset))
        status = response.status_code
        if status in (403, 429):
            retry_after = parse_retry_after(headers.get("retry-after"))
            if retry_after is not None:
                raise RateLimitedError(f"GitHub rate limit (HTTP {status}, retry-after)", retry_after)
            if remaining == 0 and reset is not None:
                wait = max(0.0, reset - self.context.clock().timestamp()) + 1
                raise RateLimitedError(f"GitHub's {resource} rate limit is spent (HTTP {status})", wait)
            if "rate limit" in response.text.lower():
                raise RateLimitedError(f"GitHub secondary rate limit (HTTP {status})", SECONDARY_LIMIT_WAIT)
        if status in (404, 410):
            raise NotFoundError(f"HTTP {status} from GitHub for {response.request.url.path}")


def _resource(path: str) -> str:
    return "search" if "/search/" in path else "core"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
