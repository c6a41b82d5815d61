"""A JSON-over-HTTP client for connectors (httpx): timeouts on every call, bounded retries of 429, 5xx,
timeouts and malformed JSON, interruptible waits, and a request count for usage."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from tracker.connector import ConnectorContext
from tracker.errors import AuthError, ConnectorError
from tracker.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("tracker.http")


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

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``base_url + path`` and decode JSON, retrying transient faults; raises ConnectorError."""
        return self.request_json("GET", path, params=params)

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        reason = ""
        for attempt in range(1, self.retry.attempts + 1):
            self.requests += 1
            wait: float | None = None
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException:
                reason = f"timed out after {self._client.timeout.read}s"
            except httpx.TransportError as exc:
                reason = f"connection failed: {exc}"
            else:
                status = response.status_code
                if status in (401, 403):
                    raise AuthError(f"HTTP {status} from {url}: {_snippet(response)}; check the credentials")
                if status == 429:
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                    reason = "rate limited (HTTP 429)"
                    if wait is not None and wait > self.retry.max_wait:
                        raise ConnectorError(
                            f"rate limited by {url} for {wait:.0f}s; the next pass will try again"
                        )
                elif status >= 500:
                    reason = f"HTTP {status} from the server"
                elif status >= 400:
                    raise ConnectorError(f"HTTP {status} from {url}: {_snippet(response)}")
                else:
                    try:
                        return response.json()
                    except ValueError:
                        reason = "the response was not valid JSON"
            if attempt == self.retry.attempts:
                break
            delay = wait if wait is not None else self.retry.delay(attempt)
            log.warning("%s: %s; retry %d/%d in %.1fs", url, reason, attempt, self.retry.attempts - 1, delay)
            self.context.sleep(delay)
        raise ConnectorError(f"{url}: {reason}; gave up after {self.retry.attempts} attempts")


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200] if text else response.reason_phrase
