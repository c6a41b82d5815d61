"""The X API v2 through tweepy's ``Client``, made safe to run unattended.

tweepy sends every request to a hard-coded ``https://api.twitter.com`` without a timeout, and its own
rate-limit wait sleeps uninterruptibly (and retries at once when the reset header is missing). So the client
gets a :class:`RoutedSession`: it sends tweepy's requests to the configured ``api_base_url`` (the production
path, not a test hook), puts a timeout on each, and keeps each endpoint's rate-limit headers. :class:`XApi`
retries transient faults with backoff, waits out rate limits through ``context.sleep`` (capped) and turns
rejected credentials into :class:`~tracker.errors.AuthError`.

Only import this module lazily: it imports ``requests`` (and, when a client is built, tweepy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from tracker.connector import ConnectorContext
from tracker.errors import AuthError, ConnectorError, connection_problem
from tracker.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("tracker.connectors.x")

TWEEPY_HOSTS = frozenset({"api.twitter.com", "api.x.com"})
TWEET_FIELDS = (
    "created_at", "author_id", "conversation_id", "lang", "public_metrics", "entities",
    "referenced_tweets", "note_tweet",
)  # fmt: skip
USER_FIELDS = ("username", "name", "public_metrics", "verified")
EXPANSIONS = ("author_id",)  # referenced posts would be billed; kind and parent come from their ids
CONNECT_TIMEOUT = 10.0


class RoutedSession(requests.Session):
    """A requests session that sends ``api.twitter.com`` requests to ``base_url``, each with a timeout."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = (CONNECT_TIMEOUT, timeout)
        self.sent = 0
        self.last_headers: Mapping[str, str] = {}

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(url))
        if parts.hostname in TWEEPY_HOSTS:
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        self.sent += 1
        self.last_headers = {}
        response = super().request(method, url, *args, **kwargs)
        self.last_headers = response.headers
        return response


class XRequestError(ConnectorError):
    """X rejected a request (HTTP 400); ``parameters`` names the parameters it objected to."""

    def __init__(self, message: str, parameters: frozenset[str]) -> None:
        super().__init__(message)
        self.parameters = parameters


class XApi:
    """Search and lookup calls with bounded retries; counts requests for usage."""

    def __init__(
        self,
        *,
        bearer_token: str,
        base_url: str,
        timeout: float,
        max_wait: float,
        context: ConnectorContext,
        retry: RetryPolicy | None = None,
    ) -> None:
        import tweepy

        self.context = context
        self.max_wait = max_wait
        self.retry = retry or RetryPolicy()
        self.rate_limit_backoff = RetryPolicy(attempts=self.retry.attempts, base=15.0, cap=300.0)
        self.session = RoutedSession(base_url, timeout)
        self.client = tweepy.Client(bearer_token=bearer_token, return_type=dict, wait_on_rate_limit=False)
        self.client.session = self.session
        self.client.user_agent = f"{context.user_agent} {self.client.user_agent}"
        self._reported = 0
        self._resets: dict[str, float] = {}  # endpoint -> when its used-up rate limit resets (epoch)

    def close(self) -> None:
        self.session.close()

    def take_requests(self) -> int:
        """Requests sent since the last call."""
        count, self._reported = self.session.sent - self._reported, self.session.sent
        return count

    def search(self, query: str, bounds: Mapping[str, str], next_token: str | None) -> dict[str, Any]:
        """One page of ``search_recent_tweets``, newest first."""
        params: dict[str, Any] = dict(bounds)
        if next_token:
            params["next_token"] = next_token
        return self._call(
            "recent search",
            lambda: self.client.search_recent_tweets(
                query,
                max_results=100,
                sort_order="recency",
                tweet_fields=list(TWEET_FIELDS),
                expansions=list(EXPANSIONS),
                user_fields=list(USER_FIELDS),
                **params,
            ),
        )

    def lookup(self, post_ids: Sequence[str]) -> dict[str, Any]:
        """Posts by id (at most 100), with the fields a search asks for."""
        return self._call(
            "post lookup",
            lambda: self.client.get_tweets(
                list(post_ids),
                tweet_fields=list(TWEET_FIELDS),
                expansions=list(EXPANSIONS),
                user_fields=list(USER_FIELDS),
            ),
        )

    def _call(self, endpoint: str, call: Callable[[], Any]) -> dict[str, Any]:
        reason = ""
        for attempt in range(1, self.retry.attempts + 1):
            self._wait_for_reset(endpoint)
            wait: float | None = None
            try:
                payload = call()
            except Exception as exc:
                reason, wait = self._transient(exc, endpoint, attempt)
            else:
                self._note_rate_limit(endpoint)
                if isinstance(payload, dict) and _well_formed(payload):
                    return payload
                reason = "the response was not an X API v2 object"
            if attempt == self.retry.attempts:
                break
            delay = wait if wait is not None else self.retry.delay(attempt)
            log.warning(
                "X %s: %s; retry %d/%d in %.0fs", endpoint, reason, attempt, self.retry.attempts - 1, delay
            )
            self.context.sleep(delay)
        raise ConnectorError(f"X {endpoint}: {reason}; gave up after {self.retry.attempts} attempts")

    def _transient(self, exc: Exception, endpoint: str, attempt: int) -> tuple[str, float | None]:
        """Why a call failed and how long to wait before retrying; raises what retrying cannot fix."""
        import tweepy

        if isinstance(exc, (tweepy.Unauthorized, tweepy.Forbidden)):
            raise AuthError(
                f"X answered HTTP {exc.response.status_code} to the {endpoint}: {_detail(exc)}; check "
                "bearer_token (the Bearer Token of an X app in a project with API access)"
            ) from None
        if isinstance(exc, tweepy.TooManyRequests):
            if _problem_type(exc).endswith("usage-capped"):
                raise ConnectorError(
                    f"X refused the {endpoint}: {_detail(exc)}; the app's usage cap is reached"
                ) from None
            return "rate limited (HTTP 429)", self._rate_limit_wait(exc.response.headers, attempt)
        if isinstance(exc, tweepy.BadRequest):
            raise XRequestError(f"X rejected the {endpoint}: {_detail(exc)}", _parameters(exc)) from None
        if isinstance(exc, tweepy.TwitterServerError):
            return f"HTTP {exc.response.status_code} from X", None
        if isinstance(exc, tweepy.HTTPException):
            status = exc.response.status_code
            hint = "; check api_base_url" if status == 404 else ""
            raise ConnectorError(
                f"X answered HTTP {status} to the {endpoint}: {_detail(exc)}{hint}"
            ) from None
        if isinstance(exc, requests.JSONDecodeError):
            return "the response was not valid JSON", None
        if isinstance(exc, requests.Timeout):
            return f"no answer within {self.session.timeout[1]:.0f}s", None
        if isinstance(exc, requests.RequestException):
            return connection_problem(exc, self.session.base_url), None
        if isinstance(exc, ValueError):  # e.g. a rate-limit header that is not a number
            return f"malformed response ({exc})", None
        raise exc

    def _rate_limit_wait(self, headers: Mapping[str, str], attempt: int) -> float:
        """Until the window resets (header ``x-rate-limit-reset``), else a growing backoff; capped."""
        reset = _number(headers.get("x-rate-limit-reset"))
        if reset is not None:
            return self._until(reset)
        wait = parse_retry_after(headers.get("retry-after"))
        if wait is None:
            return self.rate_limit_backoff.delay(attempt)
        if wait > self.max_wait:
            raise ConnectorError(
                f"X rate limit: retry in {wait:.0f}s, later than max_rate_limit_wait ({self.max_wait:.0f}s); "
                "the next pass resumes from the cursor"
            )
        return wait

    def _until(self, reset: float) -> float:
        """Seconds to wait for a rate-limit window that resets at ``reset`` (epoch), plus a second of slack."""
        remaining = reset - self.context.clock().timestamp()
        if remaining > self.max_wait:
            raise ConnectorError(
                f"X rate limit used up until {_clock_time(reset)}, later than max_rate_limit_wait "
                f"({self.max_wait:.0f}s); the next pass resumes from the cursor"
            )
        return max(0.0, remaining) + 1.0

    def _note_rate_limit(self, endpoint: str) -> None:
        """Remember when an endpoint's limit resets if this response used it up."""
        headers = self.session.last_headers
        remaining, reset = (
            _number(headers.get("x-rate-limit-remaining")),
            _number(headers.get("x-rate-limit-reset")),
        )
        if remaining is not None and remaining <= 0 and reset is not None:
            self._resets[endpoint] = reset
        else:
            self._resets.pop(endpoint, None)

    def _wait_for_reset(self, endpoint: str) -> None:
        reset = self._resets.get(endpoint)
        if reset is None or reset <= self.context.clock().timestamp():
            self._resets.pop(endpoint, None)
            return
        wait = self._until(reset)
        log.info("X %s: rate limit used up; waiting %.0fs for it to reset", endpoint, wait)
        self.context.sleep(wait)
        self._resets.pop(endpoint, None)


def _well_formed(payload: Mapping[str, Any]) -> bool:
    data, includes, meta = payload.get("data"), payload.get("includes"), payload.get("meta")
    return (
        (data is None or (isinstance(data, list) and all(isinstance(item, dict) for item in data)))
        and (includes is None or isinstance(includes, dict))
        and (meta is None or isinstance(meta, dict))
    )


def _detail(exc: Any) -> str:
    """X's own words about a failed request, on one line."""
    messages = [str(message) for message in exc.api_messages if message]
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "title"):
            if not messages and body.get(key):
                messages.append(str(body[key]))
    text = " ".join(" ".join(messages).split()) or str(exc.response.reason or "no details")
    return text if len(text) <= 300 else text[:297] + "..."


def _problem_type(exc: Any) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return ""
    return str(body.get("type") or "") if isinstance(body, dict) else ""


def _parameters(exc: Any) -> frozenset[str]:
    """The request parameters a 400 answer objects to."""
    names: set[str] = set()
    for error in exc.api_errors:
        if isinstance(error, dict):
            names.update(str(name) for name in (error.get("parameters") or {}))
            if error.get("parameter"):
                names.add(str(error["parameter"]))
    return frozenset(names)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _clock_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%SZ")
