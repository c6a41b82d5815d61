"""The X API v2 through tweepy's ``Client``, made safe to run unattended.

tweepy sends every request to a hard-coded ``https://api.twitter.com`` without a timeout, and its own
rate-limit wait sleeps uninterruptibly (and retries at once when the reset header is missing). So the client
gets a :class:`RoutedSession`, a guarded session (total deadline, size cap, no redirect to another host, see
:mod:`tracker.http_requests`) that sends tweepy's requests to the configured ``api_base_url`` (the
production path, not a test hook) and keeps each endpoint's rate-limit headers. :class:`XApi` classifies
X's faults; :class:`tracker.retry.Retrier` retries the transient ones, waiting out rate limits through
``context.sleep`` (capped by ``max_rate_limit_wait``).

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
from tracker.errors import AuthError, ConnectorError, ResponseLimitError, connection_problem
from tracker.http_requests import GuardedSession
from tracker.retry import Retrier, RetryPolicy, TransientError, number, parse_retry_after, until

log = logging.getLogger("tracker.connectors.x")

TWEEPY_HOSTS = frozenset({"api.twitter.com", "api.x.com"})
TWEET_FIELDS = (
    "created_at", "author_id", "conversation_id", "lang", "public_metrics", "entities",
    "referenced_tweets", "note_tweet",
)  # fmt: skip
USER_FIELDS = ("username", "name", "public_metrics", "verified")
EXPANSIONS = ("author_id",)  # referenced posts would be billed; kind and parent come from their ids
CONNECT_TIMEOUT = 10.0


class RoutedSession(GuardedSession):
    """A guarded session that sends ``api.twitter.com`` requests to ``base_url``, each with a timeout."""

    def __init__(self, base_url: str, context: ConnectorContext, timeout: float) -> None:
        super().__init__(context, timeout)
        self.base_url = base_url.rstrip("/")
        self.timeout = (CONNECT_TIMEOUT, timeout)
        self.last_headers: Mapping[str, str] = {}

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(url))
        if parts.hostname in TWEEPY_HOSTS:
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
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
    """Search and lookup calls; X's faults classified for the one retry policy."""

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
        self.retrier = Retrier(
            context, retry or RetryPolicy(max_wait=max_wait), log=log, max_wait_name="max_rate_limit_wait"
        )
        self.rate_limit_backoff = RetryPolicy(base=15.0, cap=300.0)
        self.session = RoutedSession(base_url, context, timeout)
        self.client = tweepy.Client(bearer_token=bearer_token, return_type=dict, wait_on_rate_limit=False)
        self.client.session = self.session
        self.client.user_agent = f"{context.user_agent} {self.client.user_agent}"
        self._resets: dict[str, float] = {}  # endpoint -> when its used-up rate limit resets (epoch)

    def close(self) -> None:
        self.session.close()

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
        tries = 0

        def attempt() -> dict[str, Any]:
            nonlocal tries
            tries += 1
            self._wait_for_reset(endpoint)
            try:
                payload = call()
            except Exception as exc:
                raise self._classify(exc, endpoint, tries) from None
            self._note_rate_limit(endpoint)
            if isinstance(payload, dict) and _well_formed(payload):
                return payload
            raise TransientError("the response was not an X API v2 object", "retried_malformed")

        return self.retrier.call(f"X {endpoint}", attempt)

    def _classify(self, exc: Exception, endpoint: str, tries: int) -> Exception:
        """What a failed call means: TransientError for what a retry may fix, else the error to raise."""
        import tweepy

        if isinstance(exc, (tweepy.Unauthorized, tweepy.Forbidden)):
            return AuthError(
                f"X answered HTTP {exc.response.status_code} to the {endpoint}: {_detail(exc)}; check "
                "bearer_token (the Bearer Token of an X app in a project with API access)"
            )
        if isinstance(exc, tweepy.TooManyRequests):
            if _problem_type(exc).endswith("usage-capped"):
                return ConnectorError(
                    f"X refused the {endpoint}: {_detail(exc)}; the app's usage cap is reached"
                )
            reset = number(exc.response.headers.get("x-rate-limit-reset"))
            reason = f"rate limit used up until {_clock_time(reset)}" if reset is not None else "rate limited"
            return TransientError(
                f"{reason} (HTTP 429)", "retried_429", self._rate_limit_wait(exc.response.headers, tries)
            )
        if isinstance(exc, tweepy.BadRequest):
            return XRequestError(f"X rejected the {endpoint}: {_detail(exc)}", _parameters(exc))
        if isinstance(exc, tweepy.TwitterServerError):
            return TransientError(f"HTTP {exc.response.status_code} from X", "retried_5xx")
        if isinstance(exc, tweepy.HTTPException):
            status = exc.response.status_code
            hint = "; check api_base_url" if status == 404 else ""
            return ConnectorError(f"X answered HTTP {status} to the {endpoint}: {_detail(exc)}{hint}")
        if isinstance(exc, ResponseLimitError):
            return TransientError(str(exc), exc.counter)
        if isinstance(exc, requests.JSONDecodeError):
            return TransientError("the response was not valid JSON", "retried_bad_json")
        if isinstance(exc, requests.Timeout):
            return TransientError(f"no answer within {self.session.timeout[1]:.0f}s", "retried_timeout")
        if isinstance(exc, requests.RequestException):
            return TransientError(connection_problem(exc, self.session.base_url), "retried_connection")
        if isinstance(exc, ValueError):  # e.g. a rate-limit header that is not a number
            return TransientError(f"malformed response ({exc})", "retried_malformed")
        return exc

    def _rate_limit_wait(self, headers: Mapping[str, str], tries: int) -> float:
        """Until the window resets (header ``x-rate-limit-reset``), else Retry-After, else a growing backoff."""
        reset = number(headers.get("x-rate-limit-reset"))
        if reset is not None:
            return until(reset, self.context.clock())
        wait = parse_retry_after(headers.get("retry-after"))
        return wait if wait is not None else self.rate_limit_backoff.delay(tries)

    def _note_rate_limit(self, endpoint: str) -> None:
        """Remember when an endpoint's limit resets if this response used it up."""
        headers = self.session.last_headers
        remaining, reset = (
            number(headers.get("x-rate-limit-remaining")),
            number(headers.get("x-rate-limit-reset")),
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
        wait = until(reset, self.context.clock())
        if wait - 1.0 > self.max_wait:  # the second of slack is not the server's wish
            raise ConnectorError(
                f"X rate limit used up until {_clock_time(reset)}, later than max_rate_limit_wait "
                f"({self.max_wait:.0f}s); the next pass resumes from the cursor"
            )
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


def _clock_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%SZ")
