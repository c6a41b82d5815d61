"""A JSON-over-HTTP client for connectors (httpx through :mod:`tracker.transport`): a total deadline and a
size cap on every request, no redirect to another host, transient faults (429, 5xx, timeouts, cut-off,
oversized or malformed answers) retried by :class:`tracker.retry.Retrier`, requests counted in
``context.usage``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from tracker.connector import ConnectorContext, Usage
from tracker.errors import AuthError, ConnectorError, ResponseLimitError, connection_problem
from tracker.retry import Retrier, RetryPolicy, TransientError, parse_retry_after
from tracker.transport import guarded_client

log = logging.getLogger("tracker.http")
T = TypeVar("T")


class HttpStatusError(ConnectorError):
    """A 4xx answer that retrying cannot fix; ``status`` says which, so a caller can tell "gone" (404) from
    the rest."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class HttpClient:
    """Requests JSON from one API base URL on behalf of a connector.

    ``timeout`` is the total deadline of one request (connecting to the last byte); the largest answer
    accepted is the connector's ``max_response_size`` (from the context).
    """

    def __init__(
        self,
        base_url: str,
        context: ConnectorContext,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        """``on_response`` sees every response before its status is judged, so a connector can read its
        platform's headers (rate-limit counters) and take over a status by raising its own exception."""
        self.base_url = base_url.rstrip("/")
        self.on_response = on_response or _ignore
        self.context = context
        self.timeout = timeout
        self.retrier = Retrier(context, retry, log=log)
        self._client = guarded_client(
            context,
            timeout,
            headers={"User-Agent": context.user_agent, "Accept": "application/json", **(headers or {})},
        )

    @property
    def retry(self) -> RetryPolicy:
        return self.retrier.policy

    def close(self) -> None:
        self._client.close()

    def take_usage(self, items_read: int = 0) -> Usage:
        """The connector's usage since the last page: the same as ``context.usage.take(items_read)``."""
        return self.context.usage.take(items_read)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``base_url + path`` and decode JSON, retrying transient faults; raises ConnectorError."""
        return self.request_json("GET", path, params=params)

    def get_text(self, path: str, params: Mapping[str, Any] | None = None, *, parse: Callable[[str], T]) -> T:
        """GET a text body (a feed) and ``parse`` it; a ValueError from ``parse`` is retried like malformed
        JSON."""
        return self.request("GET", path, lambda response: parse(response.text), params=params)

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send ``method`` to ``base_url + path`` (or an absolute URL) with httpx's ``kwargs`` and decode
        the JSON answer, retrying transient faults; raises AuthError for 401/403, ConnectorError otherwise."""
        return self.request(method, path, lambda response: response.json(), **kwargs)

    def request(self, method: str, path: str, decode: Callable[[httpx.Response], T], **kwargs: Any) -> T:
        """One request with the retry policy; ``decode`` turns a 2xx answer into the result (a ValueError
        from it counts as a malformed answer and is retried). A 4xx other than 401, 403 and 429 raises
        :class:`HttpStatusError`."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        return self.retrier.call(url, lambda: self._attempt(method, url, decode, kwargs))

    def _attempt(
        self, method: str, url: str, decode: Callable[[httpx.Response], T], kwargs: Mapping[str, Any]
    ) -> T:
        """One request; its fault classified (TransientError for what a retry may fix)."""
        try:
            response = self._client.request(method, url, **kwargs)
        except ResponseLimitError as exc:
            raise TransientError(str(exc), exc.counter) from None
        except httpx.TimeoutException:
            raise TransientError(f"timed out after {self.timeout:g}s", "retried_timeout") from None
        except httpx.TransportError as exc:
            raise TransientError(connection_problem(exc, url), "retried_connection") from None
        self.on_response(response)
        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"HTTP {status} from {url}: {_snippet(response)}; check the credentials")
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError("rate limited (HTTP 429)", "retried_429", wait)
        if status >= 500:
            raise TransientError(f"HTTP {status} from the server", "retried_5xx")
        if status >= 400:
            raise HttpStatusError(f"HTTP {status} from {url}: {_snippet(response)}", status)
        try:
            return decode(response)
        except ValueError:
            raise TransientError("the response was malformed", "retried_bad_json") from None


def _ignore(_response: httpx.Response) -> None:
    return None


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200] if text else response.reason_phrase
