"""A stand-in for the X API v2 recent search and post lookup, serving recorded posts to the real tweepy client.

It answers ``/2/tweets/search/recent`` the way X does: the ``url:"..."`` terms of the query match any URL
entity containing the text (so look-alike hosts match too, as on X), ``-is:retweet`` and ``-from:`` filter
(a query without ``-is:retweet`` gets the retweets too, as the recorded pages did),
``since_id``/``until_id`` or ``start_time``/``end_time`` bound the results (never both kinds), newest first,
in pages of ``max_results`` with ``next_token``s bound to the query and bounds they were issued for. Posts
and users carry only the fields requested (plus X's defaults). Every request is checked for the parameters
the connector must send; a failed check is kept in ``problems`` and answered with HTTP 400.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.cassettes import jsonl_objects
from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recordings import recording

SEARCH = "/2/tweets/search/recent"
LOOKUP = "/2/tweets"
TOKEN = "test-bearer-token"
TWEET_FIELDS = {
    "created_at", "author_id", "conversation_id", "lang", "public_metrics", "entities", "referenced_tweets",
    "note_tweet",
}  # fmt: skip
USER_FIELDS = {"username", "name", "public_metrics", "verified"}
DEFAULT_TWEET_FIELDS = {"id", "text", "edit_history_tweet_ids"}
DEFAULT_USER_FIELDS = {"id", "name", "username"}
SNOWFLAKE_EPOCH_MS = 1288834974657
_URL_TERM = re.compile(r'url:"([^"]+)"')
_FROM_TERM = re.compile(r"-from:(\w+)")


def recorded_page(name: str, index: int = 0) -> dict[str, Any]:
    """Page ``index`` of a twarc2 capture in the recordings (``twitter/<name>``, one X API v2 response per
    line; see tests/data/README.md)."""
    page: dict[str, Any] = jsonl_objects(recording("twitter", name))[index]
    return page


def id_at(moment: datetime) -> int:
    return (int(moment.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22


def time_of(post_id: str | int) -> datetime:
    return datetime.fromtimestamp(((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _x_error(status: int, title: str, detail: str, **extra: Any) -> Reply:
    body: dict[str, Any] = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    body.update(extra)
    return Reply(status, body)


def _invalid(parameter: str, value: str, message: str) -> Reply:
    """X's answer to an invalid parameter (HTTP 400)."""
    return Reply(
        400,
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )


class FakeXApi:
    """Serves a pool of posts and users (from recorded pages, plus any a test adds).

    ``clock`` gives the server's time: rate-limit reset headers are relative to it, and with
    ``enforce_window`` the 7-day window and the 10-second ``end_time`` rule are checked as X does (and posts
    made later than the clock are not served yet). ``retweets_leak`` serves retweets even to a query that
    excludes them (X's operators are not a contract the connector may rely on alone). ``script``
    holds replies served (once each, in order) instead of real answers; ``fault`` breaks every request until
    cleared.
    """

    def __init__(
        self,
        server: RecordingServer,
        pages: Iterable[dict[str, Any]] = (),
        *,
        clock: Callable[[], datetime] | None = None,
        enforce_window: bool = True,
        prefix: str = "",
    ) -> None:
        self.server = server
        self.prefix = prefix
        self.clock = clock
        self.enforce_window = enforce_window and clock is not None
        self.tweets: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        for page in pages:
            self.add(page.get("data") or [], page.get("includes", {}).get("users") or [])
        self.deleted: set[str] = set()
        self.script: list[Reply] = []
        self.fault: str | None = None
        self.extra_fields = False
        self.retweets_leak = False
        self.rate_limit_remaining = 449
        self.problems: list[str] = []
        self.served: list[list[str]] = []  # post ids of each search page served
        self.tokens: dict[str, tuple[tuple[Any, ...], int]] = {}
        self._token_number = 0
        server.route("GET", prefix + SEARCH, self.search)
        server.route("GET", prefix + LOOKUP, self.lookup)

    @property
    def base_url(self) -> str:
        return self.server.url + self.prefix

    def add(self, tweets: Iterable[dict[str, Any]], users: Iterable[dict[str, Any]] = ()) -> None:
        for tweet in tweets:
            self.tweets[str(tweet["id"])] = tweet
        for user in users:
            self.users.setdefault(str(user["id"]), user)

    def searches(self) -> list[Request]:
        return self.server.requests_to(self.prefix + SEARCH)

    def lookups(self) -> list[Request]:
        return self.server.requests_to(self.prefix + LOOKUP)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # Answers

    def search(self, request: Request) -> Reply:
        early = self._early_reply(request)
        if early is not None:
            return early
        params = {name: values[0] for name, values in request.query.items()}
        problem = self._check_fields(params)
        query = params.get("query", "")
        domains = _URL_TERM.findall(query)
        if not domains:
            problem = problem or f"the query must have url: terms: {query!r}"
        if params.get("max_results") != "100" or params.get("sort_order") != "recency":
            problem = problem or f"max_results=100 and sort_order=recency expected: {params}"
        if problem:
            self.problems.append(problem)
            return _invalid("query", query, problem)
        if len(query) > 512:
            return _invalid(
                "query",
                query,
                f"There were errors processing your request: Query length ({len(query)}) exceeds 512",
            )
        invalid = self._check_bounds(params)
        if invalid is not None:
            return invalid
        signature = tuple(
            params.get(name) for name in ("query", "since_id", "until_id", "start_time", "end_time")
        )
        offset = 0
        if "next_token" in params:
            issued = self.tokens.get(params["next_token"])
            if issued is None or issued[0] != signature:
                return _invalid(
                    "next_token", params["next_token"], f"Invalid 'next_token':'{params['next_token']}'"
                )
            offset = issued[1]
        excluded = {handle.lower() for handle in _FROM_TERM.findall(query)}
        retweets = "-is:retweet" not in query.split() or self.retweets_leak
        found = sorted(
            (t for t in self.tweets.values() if self._matches(t, domains, excluded, params, retweets)),
            key=lambda t: int(t["id"]),
            reverse=True,
        )
        page = found[offset : offset + 100]
        self.served.append([t["id"] for t in page])
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if offset + 100 < len(found):
            self._token_number += 1
            token = f"b26v89c19zqg8o3fo{self._token_number:028d}"
            self.tokens[token] = (signature, offset + 100)
            meta["next_token"] = token
        return self._reply(page, meta, params)

    def lookup(self, request: Request) -> Reply:
        early = self._early_reply(request)
        if early is not None:
            return early
        params = {name: values[0] for name, values in request.query.items()}
        problem = self._check_fields(params)
        ids = (params.get("ids") or "").split(",")
        if not all(i.isdigit() for i in ids) or len(ids) > 100:
            problem = problem or f"ids must be 1 to 100 numbers: {params.get('ids')!r}"
        if problem:
            self.problems.append(problem)
            return _invalid("ids", params.get("ids", ""), problem)
        found = [self.tweets[i] for i in ids if i in self.tweets and i not in self.deleted]
        errors = [
            {
                "value": i, "detail": f"Could not find tweet with ids: [{i}].", "title": "Not Found Error",
                "resource_type": "tweet", "parameter": "ids", "resource_id": i,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
            for i in ids
            if i not in self.tweets or i in self.deleted
        ]  # fmt: skip
        return self._reply(found, None, params, errors)

    # Checks

    def _early_reply(self, request: Request) -> Reply | None:
        """A scripted reply, a fault, or X's answer to a wrong token."""
        if self.script:
            return self.script.pop(0)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _x_error(401, "Unauthorized", "Unauthorized")
        if self.fault == "server_error":
            return Reply(503, "<html><body>Service Unavailable</body></html>", {"Content-Type": "text/html"})
        if self.fault == "rate_limit":
            return self.rate_limited()
        if self.fault == "malformed":
            return Reply(200, b'{"data": [{"id": "1", "text": "cut sh', self._limit_headers())
        return None

    def rate_limited(self, *, reset_in: float | None = 60.0) -> Reply:
        """X's 429, with ``x-rate-limit-reset`` ``reset_in`` seconds ahead (or without it)."""
        headers = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0"}
        if reset_in is not None:
            headers["x-rate-limit-reset"] = str(int(self._now().timestamp() + reset_in))
        return Reply(
            429,
            {
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
            headers,
        )

    def _check_fields(self, params: dict[str, str]) -> str | None:
        tweet_fields = set((params.get("tweet.fields") or "").split(","))
        user_fields = set((params.get("user.fields") or "").split(","))
        if (
            tweet_fields != TWEET_FIELDS
            or user_fields != USER_FIELDS
            or params.get("expansions") != "author_id"
        ):
            return f"unexpected fields or expansions: {params}"
        return None

    def _check_bounds(self, params: dict[str, str]) -> Reply | None:
        by_id = {"since_id", "until_id"} & params.keys()
        by_time = {"start_time", "end_time"} & params.keys()
        if by_id and by_time:
            self.problems.append(f"id and time bounds mixed: {params}")
            return _invalid(
                sorted(by_id)[0], params[sorted(by_id)[0]],
                "Invalid use of 'since_id' or 'until_id' in conjunction with 'start_time' or 'end_time'.",
            )  # fmt: skip
        if not self.enforce_window:
            return None
        now = self._now()
        oldest = now - timedelta(days=7)
        if "since_id" in params and time_of(params["since_id"]) < oldest:
            return _invalid(
                "since_id", params["since_id"],
                f"Invalid 'since_id':'{params['since_id']}'. 'since_id' must be a tweet id created after "
                f"{oldest:%Y-%m-%dT%H:%MZ}. Please use the 'start_time' parameter instead.",
            )  # fmt: skip
        if "start_time" in params and _iso(params["start_time"]) < oldest:
            return _invalid(
                "start_time", params["start_time"],
                f"Invalid 'start_time':'{params['start_time']}'. 'start_time' must be on or after {oldest:%Y-%m-%dT%H:%MZ}",
            )  # fmt: skip
        if "end_time" in params and _iso(params["end_time"]) > now - timedelta(seconds=10):
            return _invalid(
                "end_time", params["end_time"],
                f"Invalid 'end_time':'{params['end_time']}'. 'end_time' must be a minimum of 10 seconds prior to the request time.",
            )  # fmt: skip
        return None

    def _matches(
        self,
        tweet: dict[str, Any],
        domains: list[str],
        excluded: set[str],
        params: dict[str, str],
        retweets: bool,
    ) -> bool:
        if not retweets and any(
            ref.get("type") == "retweeted" for ref in tweet.get("referenced_tweets") or []
        ):
            return False
        author = self.users.get(str(tweet.get("author_id")), {})
        if str(author.get("username", "")).lower() in excluded or str(tweet.get("author_id")) in excluded:
            return False
        post_id = int(tweet["id"])
        created = time_of(post_id)  # as X does: a post's time is in its id
        if "since_id" in params and post_id <= int(params["since_id"]):
            return False
        if "until_id" in params and post_id >= int(params["until_id"]):
            return False
        if "start_time" in params and created < _iso(params["start_time"]):
            return False
        if "end_time" in params and created >= _iso(params["end_time"]):
            return False
        if self.enforce_window and created > self._now():
            return False
        entities = [
            *(tweet.get("entities") or {}).get("urls", []),
            *((tweet.get("note_tweet") or {}).get("entities") or {}).get("urls", []),
        ]
        urls = " ".join(f"{e.get('expanded_url', '')} {e.get('unwound_url', '')}".lower() for e in entities)
        return any(domain.lower() in urls for domain in domains)

    # Replies

    def _now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    def _limit_headers(self) -> dict[str, str]:
        reset = int(self._now().timestamp()) + 900
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(self.rate_limit_remaining),
            "x-rate-limit-reset": str(reset),
        }

    def _reply(
        self,
        tweets: list[dict[str, Any]],
        meta: dict[str, Any] | None,
        params: dict[str, str],
        errors: list[dict[str, Any]] | None = None,
    ) -> Reply:
        body: dict[str, Any] = {}
        if tweets:
            body["data"] = [self._project(t, TWEET_FIELDS | DEFAULT_TWEET_FIELDS) for t in tweets]
            authors = dict.fromkeys(str(t.get("author_id")) for t in tweets)
            users = [
                self._project(self.users[a], USER_FIELDS | DEFAULT_USER_FIELDS)
                for a in authors
                if a in self.users
            ]
            if users:
                body["includes"] = {"users": users}
        if errors:
            body["errors"] = errors
        if meta is not None:
            body["meta"] = meta
        return Reply(200, body, self._limit_headers())

    def _project(self, item: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        projected = {key: copy.deepcopy(value) for key, value in item.items() if key in fields}
        if self.extra_fields:
            projected.update(community_note={"nested": [{"deep": True}]}, bookmark_count=3, xai_summary=None)
        return projected


class XRig:
    """A fake X API, a config whose ``[connectors.x]`` points at it, a store and a frozen clock."""

    def __init__(
        self,
        server: RecordingServer,
        tmp_path: Path,
        *,
        pages: Iterable[dict[str, Any]] = (),
        now: datetime,
        domains: Iterable[str] = ("telodogratis.it",),
        extra: str = "",
        domain_extra: str = "",
        token: str = TOKEN,
        prefix: str = "",
    ) -> None:
        from tests.conftest import Clock, Sleeps, make_config
        from tracker.store import Store

        self.clock = Clock(now)
        self.sleeps = Sleeps()
        self.api = FakeXApi(server, pages, clock=self.clock, prefix=prefix)
        self.tmp_path = tmp_path
        tables = "".join(f'[[domains]]\nname = "{d}"\n{domain_extra}\n' for d in domains)
        self.config = make_config(
            tmp_path,
            f'{tables}[connectors.x]\nbearer_token = "${{X_BEARER_TOKEN}}"\napi_base_url = "{self.api.base_url}"\n'
            + extra,
            env={"X_BEARER_TOKEN": token},
        )
        self.store = Store.open(self.config.database_url)

    def poller(self, **options: Any) -> Any:
        from tracker.poller import Poller

        return Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps, **options)

    def poll(self, **options: Any) -> Any:
        """One pass with a fresh poller (and so a fresh connector, as after a restart)."""
        poller = self.poller()
        try:
            return poller.poll("x", **options)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions()}

    def cursors(self) -> dict[str, Any]:
        return {key: cursor.state for key, cursor in self.store.cursors("x").items()}


SYNTHETIC_AUTHOR: dict[str, Any] = {
    "id": "1000000000000000001", "name": "Example Poster", "username": "example_poster", "verified": False,
    "public_metrics": {"followers_count": 42, "following_count": 7, "tweet_count": 1000, "listed_count": 0},
}  # fmt: skip


def synthetic_template() -> dict[str, Any]:
    """A made-up post by ``SYNTHETIC_AUTHOR`` in the shape of the recorded ones, for volume where no recorded
    value matters (it needs no recordings)."""
    return {
        "id": str(id_at(datetime(2026, 11, 9, tzinfo=UTC))), "author_id": SYNTHETIC_AUTHOR["id"],
        "conversation_id": "1", "created_at": "2026-11-09T00:00:00.000Z", "lang": "en",
        "text": "worth a read https://t.co/x00000000", "edit_history_tweet_ids": ["1"],
        "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0},
        "entities": {"urls": []},
    }  # fmt: skip


def synthetic_posts(
    template: dict[str, Any], count: int, *, start: datetime, url: str = "https://example.com/post/{n}"
) -> list[dict[str, Any]]:
    """``count`` posts made one minute apart from ``start``, copies of ``template`` (a recorded post, or
    :func:`synthetic_template`) linking to ``url`` (volume for paging tests)."""
    posts = []
    for n in range(count):
        moment = start + timedelta(minutes=n)
        post = copy.deepcopy(template)
        post.pop("referenced_tweets", None)
        post["id"] = str(id_at(moment) + n % 4096)
        post["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        target = url.format(n=n)
        post["entities"] = {
            "urls": [
                {
                    "start": 0, "end": 23, "url": f"https://t.co/x{n:08d}", "expanded_url": target,
                    "display_url": target.removeprefix("https://")[:26] + "…",
                }
            ]
        }  # fmt: skip
        posts.append(post)
    return posts
