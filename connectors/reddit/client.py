"""Reddit's OAuth API through praw (read-only, client credentials), made safe to run unattended.

praw is given a requestor of ours (its documented ``requestor_class`` hook) and a guarded session (total
deadline, size cap, no redirect to another host: :mod:`tracker.http_requests`). The :class:`Transport` behind
it spends the connector's one :class:`RequestBudget`, classifies 429, 5xx, timeouts and malformed answers as
transient for :class:`tracker.retry.Retrier` (every wait through ``context.sleep``), and turns rejected
credentials into :class:`~tracker.errors.AuthError`. It keeps the ``x-ratelimit-*`` headers to itself,
so prawcore's limiter (which would ``time.sleep`` through a shutdown) never waits, and it keeps each listed
thing's JSON so records are made from the payload exactly as Reddit sent it.

Only import this module lazily: it imports praw, prawcore and requests.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import praw
import prawcore
import requests
from prawcore import Requestor

from connectors.reddit.budget import RATE_HEADERS, RequestBudget
from connectors.reddit.sources import Item, SourceRefusedError
from connectors.reddit.things import created_of, fullname_of
from tracker.connector import ConnectorContext
from tracker.errors import (
    AuthError,
    ConnectorError,
    RedirectRefusedError,
    ResponseLimitError,
    connection_problem,
)
from tracker.http_requests import GuardedSession
from tracker.retry import Retrier, RetryPolicy, TransientError, parse_retry_after
from tracker.transport import check_redirect

log = logging.getLogger("tracker.connectors.reddit")

T = TypeVar("T")
TOKEN_PATH = "/api/v1/access_token"  # noqa: S105 - a URL path, not a password
CONNECT_TIMEOUT = 10.0
KEPT_PAYLOADS = 2000


class TokenRejectedError(ConnectorError):
    """The API answered 401 to the access token: a new one is needed."""


class Transport:
    """Sends praw's requests through a guarded session: budget, Reddit's faults classified for the one retry
    policy, rate-limit headers and payloads kept."""

    def __init__(
        self,
        *,
        auth_base_url: str,
        context: ConnectorContext,
        budget: RequestBudget,
        timeout: float,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.token_url = auth_base_url.rstrip("/") + TOKEN_PATH
        self.context = context
        self.budget = budget
        self.timeout = (CONNECT_TIMEOUT, timeout)
        self.retrier = Retrier(
            context,
            retry or RetryPolicy(max_wait=budget.max_wait),
            log=log,
            max_wait_name="max_rate_limit_wait",
        )
        self.payloads: OrderedDict[str, Any] = OrderedDict()

    def payload(self, fullname: str) -> Any:
        """The ``{"kind", "data"}`` JSON of a thing in a recent listing, or None."""
        return self.payloads.get(fullname)

    def send(self, session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request as prawcore asked for it, retried within bounds; the answer prawcore may handle."""
        is_token = url.startswith(self.token_url)
        what = "access token request" if is_token else f"{method.upper()} {urlsplit(url).path}"
        kwargs["timeout"] = self.timeout

        def attempt() -> requests.Response:
            self.budget.acquire()
            try:
                response = session.request(method, url, **kwargs)
            except ResponseLimitError as exc:
                raise TransientError(str(exc), exc.counter) from None
            except requests.Timeout:
                raise TransientError(f"no answer within {self.timeout[1]:.0f}s", "retried_timeout") from None
            except requests.RequestException as exc:
                raise TransientError(connection_problem(exc, url), "retried_connection") from None
            self.budget.note(response.headers)
            for header in RATE_HEADERS:
                response.headers.pop(header, None)
            self._judge(response, is_token, what)
            return response

        return self.retrier.call(f"Reddit {what}", attempt)

    def _judge(self, response: requests.Response, is_token: bool, what: str) -> None:
        """Return when prawcore may have the answer; raise TransientError for what a retry may fix."""
        status = response.status_code
        if status == 403 and "html" in response.headers.get("Content-Type", ""):
            raise ConnectorError(
                f"Reddit {what}: refused with an HTML page (HTTP 403), Reddit's anti-bot wall; it blocks this "
                "address or user agent for a while; set a descriptive user_agent and try again later"
            )
        if is_token and status in (400, 401, 403):
            raise AuthError(
                f"Reddit rejected client_id/client_secret (HTTP {status} from {self.token_url}); check both, and "
                'that the app is a "script" or "web" app (an "installed app" has no secret)'
            )
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError("rate limited (HTTP 429)", "retried_429", wait)
        location = response.headers.get("Location")
        if 300 <= status < 400 and location:  # prawcore never follows; a foreign target is said as such
            try:
                check_redirect(str(response.url), urljoin(str(response.url), location))
            except RedirectRefusedError as exc:
                if is_token:
                    raise
                raise SourceRefusedError(f"Reddit {what}: {exc}") from None
        if status >= 500 or status == 408:
            raise TransientError(f"HTTP {status} from Reddit", "retried_5xx")
        if status == 401:
            raise TokenRejectedError(f"Reddit {what}: the access token was rejected (HTTP 401)")
        if status != 200:
            return  # prawcore raises what it means (404 NotFound, 403 Forbidden, 302 Redirect, ...)
        try:
            body = response.json()
        except ValueError:
            raise TransientError("the response was not valid JSON", "retried_bad_json") from None
        if is_token:
            _check_token(body)
        else:
            self._keep_payloads(body)

    def _keep_payloads(self, body: Any) -> None:
        """Keep each thing of a listing by fullname; TransientError when ``body`` is no listing."""
        children = _children(body)
        if children is None:
            raise TransientError("the response was not a Reddit listing", "retried_malformed")
        for child in children:
            name = fullname_of(child.get("kind"), child.get("data"))
            if name is not None:
                self.payloads[name] = child
                self.payloads.move_to_end(name)
        while len(self.payloads) > KEPT_PAYLOADS:
            self.payloads.popitem(last=False)


class RoutedRequestor(Requestor):
    """prawcore's requestor, sending through a :class:`Transport`."""

    def __init__(self, *, transport: Transport, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transport = transport

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        method, url, *rest = args
        if rest:
            raise TypeError("RoutedRequestor.request takes the method and URL only as positional arguments")
        return self.transport.send(self._http, str(method), str(url), **kwargs)


class RedditApi:
    """praw's listings in read-only mode; each call gets a fresh praw client if the token was rejected."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        user_agent: str,
        api_base_url: str,
        auth_base_url: str,
        transport: Transport,
    ) -> None:
        self._options = {
            "client_id": client_id,
            "client_secret": client_secret,
            "user_agent": user_agent,
            # praw joins API paths onto oauth_url: the slash keeps a path prefix of api_base_url.
            "oauth_url": api_base_url.rstrip("/") + "/",
            "reddit_url": auth_base_url.rstrip("/"),
        }
        self.transport = transport
        self._reddit: praw.Reddit | None = None
        self._session: requests.Session | None = None

    def close(self) -> None:
        """Forget the praw client (and its access token) and close its connections."""
        if self._session is not None:
            self._session.close()
        self._reddit = self._session = None

    def listing(
        self, what: str, make: Callable[[praw.Reddit], Iterable[Any]], stop: Callable[[Item], bool]
    ) -> list[Item]:
        """The items of one listing page, newest first, up to (and including) the first ``stop`` marks."""

        def read(reddit: praw.Reddit) -> list[Item]:
            items = []
            for thing in make(reddit):
                item = self.item(thing)
                items.append(item)
                if stop(item):
                    break
            return items

        return self.call(what, read)

    def item(self, thing: Any) -> Item:
        """A praw object of a listing as an :class:`Item` with the JSON it was made from."""
        fullname = str(thing.fullname)
        payload = self.transport.payload(fullname)
        return Item(fullname, created_of(payload.get("data")) if isinstance(payload, dict) else None, payload)

    def call(self, what: str, run: Callable[[praw.Reddit], T]) -> T:
        """Run ``run`` with the praw client; Reddit's refusals become connector errors."""
        for attempt in (1, 2):
            if self._reddit is None:
                self._reddit = self._build()
            try:
                return run(self._reddit)
            except TokenRejectedError:
                self.close()  # the next attempt fetches a new token
                if attempt == 2:
                    raise AuthError(
                        f"Reddit {what}: a fresh access token was rejected too (HTTP 401); check client_id, "
                        "client_secret and that the app is not suspended"
                    ) from None
            except prawcore.exceptions.Redirect as exc:
                raise SourceRefusedError(
                    f"Reddit {what}: redirected to {exc.path} (a subreddit that does not exist?)"
                ) from None
            except prawcore.exceptions.Forbidden:
                raise SourceRefusedError(
                    f"Reddit {what}: refused (HTTP 403; a private, quarantined or banned subreddit?)"
                ) from None
            except prawcore.exceptions.NotFound:
                raise SourceRefusedError(
                    f"Reddit {what}: not found (HTTP 404; a banned subreddit, or a wrong api_base_url?)"
                ) from None
            except prawcore.exceptions.ResponseException as exc:
                raise SourceRefusedError(
                    f"Reddit {what}: HTTP {exc.response.status_code}: {_snippet(exc.response)}"
                ) from None
            except (praw.exceptions.PRAWException, prawcore.exceptions.PrawcoreException) as exc:
                raise ConnectorError(f"Reddit {what}: {type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    def _build(self) -> praw.Reddit:
        self._session = GuardedSession(self.transport.context, self.transport.timeout[1])
        reddit = praw.Reddit(
            "DEFAULT",  # not $praw_site: everything comes from the tracker's config
            **self._options,
            username=None,
            password=None,
            refresh_token=None,
            check_for_updates=False,
            check_for_async=False,
            requestor_class=RoutedRequestor,
            requestor_kwargs={"transport": self.transport, "session": self._session},
        )
        reddit.read_only = True
        return reddit


def _check_token(body: Any) -> None:
    """Return for an access token; TransientError for a malformed answer; AuthError for a refusal."""
    if not isinstance(body, dict):
        raise TransientError("the token response was not a JSON object", "retried_malformed")
    if body.get("error") or not body.get("access_token"):
        raise AuthError(
            f"Reddit refused an access token ({body.get('error') or 'none given'}); check client_id and "
            'client_secret, and that the app is a "script" or "web" app'
        )


def _children(body: Any) -> list[Mapping[str, Any]] | None:
    """The children of a Listing, or None when ``body`` is not one."""
    if not isinstance(body, dict) or body.get("kind") != "Listing" or not isinstance(body.get("data"), dict):
        return None
    children = body["data"].get("children")
    if not isinstance(children, list):
        return None
    if not all(isinstance(child, dict) and isinstance(child.get("data"), dict) for child in children):
        return None
    return children


def _snippet(response: requests.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200] if text else str(response.reason)
