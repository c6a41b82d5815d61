"""A JSON-over-HTTP client for connectors (httpx): timeouts on every call, bounded retries of 429, 5xx,
timeouts and malformed JSON, interruptible waits, and a request count for usage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from tracker.connector import ConnectorContext, Usage
from tracker.errors import AuthError, ConnectorError
from tracker.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("tracker.http")
T = TypeVar("T")


class HttpStatusError(ConnectorError):
    """A 4xx answer that retrying cannot fix; ``status`` says which, so a caller can tell "gone" (404) from
    the rest."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class HttpClient:
    """GETs JSON from one API base URL on behalf of a connector."""

    def __init__(
        self,
        base_url: str,
        context: ConnectorContext,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.context = context
        self.retry = retry or RetryPolicy()
        self.requests = 0
        self.retried: dict[str, int] = {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": context.user_agent, "Accept": "application/json", **(headers or {})},
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def take_requests(self) -> int:
        """Requests made since the last call (for a page's usage)."""
        count, self.requests = self.requests, 0
        return count

    def take_usage(self, items_read: int = 0) -> Usage:
        """Requests and retried faults since the last call, as a page's usage: the faults that a retry got
        past are counted in the run (``retried_429``, ``retried_5xx``, ``retried_timeout``, ...), so
        `tracker status` shows a flaky API before it fails outright."""
        counters, self.retried = self.retried, {}
        return Usage(requests=self.take_requests(), items_read=items_read, counters=counters)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``base_url + path`` and decode JSON, retrying transient faults; raises ConnectorError."""
        return self.request_json("GET", path, params=params)

    def get_text(self, path: str, params: Mapping[str, Any] | None = None, *, parse: Callable[[str], T]) -> T:
        """GET a text body (a feed) and ``parse`` it; a ValueError from ``parse`` is retried like malformed
        JSON."""
        return self.request("GET", path, lambda response: parse(response.text), params=params)

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, lambda response: response.json(), **kwargs)

    def request(self, method: str, path: str, decode: Callable[[httpx.Response], T], **kwargs: Any) -> T:
        """One request with the retry policy; ``decode`` turns a 2xx answer into the result (a ValueError
        from it counts as a malformed answer and is retried)."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        reason = kind = ""
        for attempt in range(1, self.retry.attempts + 1):
            self.requests += 1
            wait: float | None = None
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException:
                reason, kind = f"timed out after {self._client.timeout.read}s", "retried_timeout"
            except httpx.TransportError as exc:
                reason, kind = f"connection failed: {exc}", "retried_connection"
            else:
                status = response.status_code
                if status in (401, 403):
                    raise AuthError(f"HTTP {status} from {url}: {_snippet(response)}; check the credentials")
                if status == 429:
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                    reason, kind = "rate limited (HTTP 429)", "retried_429"
                    if wait is not None and wait > self.retry.max_wait:
                        raise ConnectorError(
                            f"rate limited by {url} for {wait:.0f}s; the next pass will try again"
                        )
                elif status >= 500:
                    reason, kind = f"HTTP {status} from the server", "retried_5xx"
                elif status >= 400:
                    raise HttpStatusError(f"HTTP {status} from {url}: {_snippet(response)}", status)
                else:
                    try:
                        return decode(response)
                    except ValueError:
                        reason, kind = "the response was malformed", "retried_bad_json"
            if attempt == self.retry.attempts:
                break
            self.retried[kind] = self.retried.get(kind, 0) + 1
            delay = wait if wait is not None else self.retry.delay(attempt)
            log.warning("%s: %s; retry %d/%d in %.1fs", url, reason, attempt, self.retry.attempts - 1, delay)
            self.context.sleep(delay)
        raise ConnectorError(f"{url}: {reason}; gave up after {self.retry.attempts} attempts")


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200] if text else response.reason_phrase
