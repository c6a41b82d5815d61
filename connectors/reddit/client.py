"""Reddit's OAuth API through praw (read-only, client credentials), made safe to run unattended.

praw is given a requestor of ours (its documented ``requestor_class`` hook). The :class:`Transport` behind it
puts a timeout on every request, spends the connector's one :class:`RequestBudget`, retries 429, 5xx,
timeouts and malformed answers a bounded number of times with every wait through ``context.sleep``, and turns
rejected credentials into :class:`~tracker.errors.AuthError`. It keeps the ``x-ratelimit-*`` headers to itself,
so prawcore's limiter (which would ``time.sleep`` through a shutdown) never waits, and it keeps each listed
thing's JSON so records are made from the payload exactly as Reddit sent it.

Only import this module lazily: it imports praw, prawcore and requests.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import praw
import prawcore
import requests
from prawcore import Requestor

from connectors.reddit.budget import RATE_HEADERS, RequestBudget
from connectors.reddit.sources import Item, SourceRefusedError
from connectors.reddit.things import created_of, fullname_of
from tracker.connector import ConnectorContext
from tracker.errors import AuthError, ConnectorError, connection_problem
from tracker.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("tracker.connectors.reddit")

T = TypeVar("T")
TOKEN_PATH = "/api/v1/access_token"  # noqa: S105 - a URL path, not a password
CONNECT_TIMEOUT = 10.0
KEPT_PAYLOADS = 2000


class TokenRejectedError(ConnectorError):
    """The API answered 401 to the access token: a new one is needed."""


class Transport:
    """Sends praw's requests: budget, timeout, bounded retries, rate-limit headers and payloads kept."""

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
        self.retry = retry or RetryPolicy()
        self.sent = 0
        self._reported = 0
        self.payloads: OrderedDict[str, Any] = OrderedDict()

    def take_requests(self) -> int:
        """Requests sent since the last call."""
        count, self._reported = self.sent - self._reported, self.sent
        return count

    def payload(self, fullname: str) -> Any:
        """The ``{"kind", "data"}`` JSON of a thing in a recent listing, or None."""
        return self.payloads.get(fullname)

    def send(self, session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request as prawcore asked for it, retried within bounds; the answer prawcore may handle."""
        is_token = url.startswith(self.token_url)
        what = "access token request" if is_token else f"{method.upper()} {urlsplit(url).path}"
        kwargs["timeout"] = self.timeout
        reason = ""
        for attempt in range(1, self.retry.attempts + 1):
            self.budget.acquire()
            self.sent += 1
            try:
                response = session.request(method, url, **kwargs)
            except requests.Timeout:
                reason, wait = f"no answer within {self.timeout[1]:.0f}s", None
            except requests.RequestException as exc:
                reason, wait = connection_problem(exc, url), None
            else:
                self.budget.note(response.headers)
                for header in RATE_HEADERS:
                    response.headers.pop(header, None)
                verdict = self._judge(response, is_token, what)
                if verdict is None:
                    return response
                reason, wait = verdict
            if attempt == self.retry.attempts:
                break
            delay = wait if wait is not None else self.retry.delay(attempt)
            log.warning(
                "Reddit %s: %s; retry %d/%d in %.0fs", what, reason, attempt, self.retry.attempts - 1, delay
            )
            self.budget.block_for(delay)
        raise ConnectorError(f"Reddit {what}: {reason}; gave up after {self.retry.attempts} attempts")

    def _judge(
        self, response: requests.Response, is_token: bool, what: str
    ) -> tuple[str, float | None] | None:
        """None when prawcore may have the answer; else why to retry and how long to wait first."""
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
            return "rate limited (HTTP 429)", wait
        if status >= 500 or status == 408:
            return f"HTTP {status} from Reddit", None
        if status == 401:
            raise TokenRejectedError(f"Reddit {what}: the access token was rejected (HTTP 401)")
        if status != 200:
            return None  # prawcore raises what it means (404 NotFound, 403 Forbidden, 302 Redirect, ...)
        try:
            body = response.json()
        except ValueError:
            return "the response was not valid JSON", None
        if is_token:
            return _token_problem(body)
        return self._keep_payloads(body)

    def _keep_payloads(self, body: Any) -> tuple[str, None] | None:
        """Keep each thing of a listing by fullname; a problem when ``body`` is no listing."""
        children = _children(body)
        if children is None:
            return "the response was not a Reddit listing", None
        for child in children:
            name = fullname_of(child.get("kind"), child.get("data"))
            if name is not None:
                self.payloads[name] = child
                self.payloads.move_to_end(name)
        while len(self.payloads) > KEPT_PAYLOADS:
            self.payloads.popitem(last=False)
        return None


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
        self._session = requests.Session()
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


def _token_problem(body: Any) -> tuple[str, None] | None:
    """None for an access token; a problem to retry for a malformed answer; AuthError for a refusal."""
    if not isinstance(body, dict):
        return "the token response was not a JSON object", None
    if body.get("error") or not body.get("access_token"):
        raise AuthError(
            f"Reddit refused an access token ({body.get('error') or 'none given'}); check client_id and "
            'client_secret, and that the app is a "script" or "web" app'
        )
    return None


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
